import Foundation
import FusionExperiments

/// Why a request got no prediction from the batcher.
enum BatcherError: Error {
    /// The request waited longer than the request timeout.
    case timedOut(milliseconds: Int)
    /// The server is stopping and takes no new work.
    case stopping
}

/// Gathers concurrent requests into batches for one model. When the model is free it takes
/// every waiting request (up to `maxBatch`) at once; while requests that have arrived are still
/// being received or decoded (`announce`d but not yet submitted), it waits up to `maxWait`
/// after the oldest waiting request for them to join. A lone client therefore never waits, and
/// under load batches fill from the queue that builds up during each forward pass. One worker
/// thread runs the model (the forward pass is not reentrant, and keeping it off Swift's
/// cooperative pool leaves that pool to the HTTP side).
final class MicroBatcher: @unchecked Sendable {
    private struct Entry {
        let id: UInt64
        let sample: PreparedSample
        let arrival: Date
        let continuation: CheckedContinuation<[Float], any Error>
    }

    private let model: InferenceModel
    private let maxBatch: Int
    private let maxWait: TimeInterval
    private let condition = NSCondition()
    private var queue: [Entry] = []
    private var nextID: UInt64 = 0
    private var arriving = 0
    private var stopping = false
    private var finished = false
    private let onBatch: @Sendable (Int, Duration) -> Void
    private var worker: Thread?

    /// A batcher over `model`; `onBatch` receives each batch's size and forward time.
    init(model: InferenceModel, maxBatch: Int, maxWaitMilliseconds: Double, onBatch: @escaping @Sendable (Int, Duration) -> Void) {
        self.model = model
        self.maxBatch = max(1, maxBatch)
        self.maxWait = max(0, maxWaitMilliseconds) / 1000
        self.onBatch = onBatch
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "fusionlab-serve-model"
        thread.stackSize = 8 << 20
        worker = thread
        thread.start()
    }

    /// A request has arrived and will be submitted (or `withdraw`n): batches may wait for it.
    func announce() {
        condition.lock()
        arriving += 1
        condition.unlock()
    }

    /// An announced request will not be submitted (bad input).
    func withdraw() {
        condition.lock()
        arriving -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// The announced sample's class probabilities, after at most `timeoutMilliseconds` of waiting for a
    /// place in a batch (a sample whose batch has started always gets its answer).
    func predict(_ sample: PreparedSample, timeoutMilliseconds: Int) async throws -> [Float] {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            arriving -= 1
            guard !stopping else {
                condition.unlock()
                continuation.resume(throwing: BatcherError.stopping)
                return
            }
            nextID += 1
            let id = nextID
            queue.append(Entry(id: id, sample: sample, arrival: Date(), continuation: continuation))
            condition.broadcast()
            condition.unlock()
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMilliseconds)) { [weak self] in
                self?.expire(id, after: timeoutMilliseconds)
            }
        }
    }

    /// Takes `id` out of the queue with a timeout when it is still waiting.
    private func expire(_ id: UInt64, after milliseconds: Int) {
        condition.lock()
        let index = queue.firstIndex { $0.id == id }
        let entry = index.map { queue.remove(at: $0) }
        condition.unlock()
        entry?.continuation.resume(throwing: BatcherError.timedOut(milliseconds: milliseconds))
    }

    /// Refuses new work, answers every waiting request, and returns when the worker is done.
    func drain() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            // Requests still being received join, for at most maxWait after the oldest waiting one
            // arrived (re-checked every millisecond: a withdrawn request need not wake anyone).
            let deadline = queue[0].arrival.addingTimeInterval(maxWait)
            while queue.count < maxBatch && arriving > 0 && !stopping && !queue.isEmpty {
                let now = Date()
                if now >= deadline { break }
                _ = condition.wait(until: min(deadline, now.addingTimeInterval(0.001)))
            }
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            condition.unlock()
            guard !batch.isEmpty else { continue }
            let start = ContinuousClock.now
            let probabilities = model.predict(batch.map(\.sample))
            onBatch(batch.count, ContinuousClock.now - start)
            for (entry, p) in zip(batch, probabilities) { entry.continuation.resume(returning: p) }
        }
    }
}

/// Counts requests in flight against a limit.
final class ConcurrencyLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private var active = 0
    /// The most requests handled at once.
    let limit: Int

    init(limit: Int) { self.limit = max(1, limit) }

    /// Takes a place, or returns false when all `limit` are taken.
    func enter() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard active < limit else { return false }
        active += 1
        return true
    }

    /// Gives a place back.
    func leave() {
        lock.lock()
        active -= 1
        lock.unlock()
    }

    /// Requests in flight now.
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return active
    }
}
