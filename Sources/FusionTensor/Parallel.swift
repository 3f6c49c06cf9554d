import Synchronization
import CBLAS
import Dispatch
import Foundation

/// The number of threads FusionLab's kernels and OpenBLAS use.
///
/// Small GEMMs slow down with more threads, so this is a setting that every run records,
/// not something left to the library's default.
public enum Threading {
    /// Threads used by FusionLab's own kernels (im2col, pooling, elementwise) and by OpenBLAS.
    // Read by every parallel region: an atomic, not a lock.
    private static let count = Atomic<Int>(1)
    /// Threads used by FusionLab's own kernels (im2col, pooling, elementwise) and by OpenBLAS.
    public static var threads: Int { count.load(ordering: .relaxed) }

    /// Sets the thread count of FusionLab's kernels. OpenBLAS itself stays single-threaded: its
    /// idle pool threads spin-yield and would compete with FusionLab's workers for the cores.
    public static func setThreads(_ n: Int) {
        precondition(n >= 1, "Threading.setThreads: expected at least one thread, got \(n)")
        count.store(n, ordering: .relaxed)
        openblas_set_num_threads(1)
    }

    /// Whether the current thread is one of `asWorkers`' workers (nested regions run serially).
    public static var isInsideWorker: Bool { Thread.current.threadDictionary["fusionlab.worker"] != nil }

    /// Runs `body(worker)` for `0..<count` concurrently, marking the threads as workers.
    public static func asWorkers(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || isInsideWorker {
            for w in 0..<Swift.max(count, 1) { body(w) }
            return
        }
        // concurrentPerform returns only when every worker is done, so `body` never escapes.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: count) { w in
            let dictionary = Thread.current.threadDictionary
            dictionary["fusionlab.worker"] = true
            defer { dictionary.removeObject(forKey: "fusionlab.worker") }
            body(w)
        }
    }
}

/// Splits `0..<count` into at most `Threading.threads` contiguous chunks and runs `body` on each,
/// concurrently when there is enough work (`count * costPerItem` above a threshold).
@inlinable
public func parallelChunks(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
    let threads = Threading.threads
    if threads <= 1 || count < 2 || count * costPerItem < 32_768 || Threading.isInsideWorker {
        body(0..<count)
        return
    }
    let chunks = Swift.min(threads, count)
    // concurrentPerform returns only when every chunk is done, so `body` never escapes.
    nonisolated(unsafe) let body = body
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = count * c / chunks, hi = count * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}
