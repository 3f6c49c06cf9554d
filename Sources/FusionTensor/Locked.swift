import Synchronization

/// A value shared across threads behind a mutex: the process-wide switches and counters
/// (gradient mode, thread count, GEMM counting, MPI rank) are these, so none is unsynchronised
/// global state.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    /// A lock around `value`.
    public init(_ value: Value) { mutex = Mutex(value) }

    /// The value, read or replaced under the lock.
    public var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }

    /// Changes the value under the lock and returns what `body` returns.
    public func update<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
