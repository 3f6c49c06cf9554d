import FusionReports
import FusionConfig
import Foundation
import FusionMPI
import FusionTensor

/// The trainer's data-parallel step (one all-reduce of gradients and statistics), the machine
/// measurements of its history, and its checkpoint metadata.
extension Trainer {
    /// A checkpoint's metadata: `entries`, the experiment, and where frozen weights left out come from.
    func weightMetadata(_ entries: [String: String]) -> [String: String] {
        var out = entries
        out["experiment"] = config.name
        if let initialisedFrom, !config.training.saveFrozen { out[RunWeights.sourceKey] = initialisedFrom }
        return out
    }

    /// CPU seconds (user and system) this process has used.
    func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// The process's peak resident memory, in MiB.
    func peakResidentMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// Floats per all-reduce bucket (4 MiB): small models go in one, large ones in several, so no
    /// single message holds the whole gradient.
    static let allReduceBucket = 1 << 20

    /// One optimizer step's local statistics in data-parallel training.
    struct StepStatistics {
        var loss = 0.0, correct = 0, seen = 0, nonFinite = 0
        mutating func add(loss l: Double, correct c: Int, seen n: Int, finite: Bool) {
            loss += l; correct += c; seen += n; nonFinite += finite ? 0 : 1
        }
    }

    /// Sums every gradient and the step's statistics across ranks in all-reduces of buckets of
    /// at most `allReduceBucket` floats over one flat buffer (last layers first, the order backward
    /// finishes them), then writes the sums back. A parameter without a gradient on this rank
    /// contributes zeros, so every rank sends the same layout.
    func allReduceStep(_ local: StepStatistics) -> (loss: Double, correct: Double, seen: Double, nonFinite: Double) {
        let trainable = Array(parameters.filter(\.requiresGrad).reversed())
        // Gradients, then one has-a-gradient flag per parameter, then the statistics.
        let total = trainable.reduce(0) { $0 + $1.count } + trainable.count + 4
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: total)
        defer { buffer.deallocate() }
        var offset = 0
        for p in trainable {
            if let g = p.grad { (buffer + offset).update(from: g.data, count: p.count) } else { (buffer + offset).update(repeating: 0, count: p.count) }
            offset += p.count
        }
        for (i, p) in trainable.enumerated() { buffer[offset + i] = p.grad == nil ? 0 : 1 }
        offset += trainable.count
        buffer[offset] = Float(local.loss); buffer[offset + 1] = Float(local.correct)
        buffer[offset + 2] = Float(local.seen); buffer[offset + 3] = Float(local.nonFinite)
        var start = 0
        while start < total {
            let n = min(Trainer.allReduceBucket, total - start)
            Distributed.sum(buffer + start, count: n)
            start += n
        }
        let flags = trainable.reduce(0) { $0 + $1.count }
        offset = 0
        for (i, p) in trainable.enumerated() {
            // A parameter no rank has a gradient for stays without one (the optimizer skips it, as in one process).
            if buffer[flags + i] == 0 {
                p.grad = nil
            } else {
                if p.grad == nil { p.grad = Tensor.zeros(p.shape) }
                if let g = p.grad { g.data.update(from: buffer + offset, count: p.count) }
            }
            offset += p.count
        }
        offset += trainable.count
        return (Double(buffer[offset]), Double(buffer[offset + 1]), Double(buffer[offset + 2]), Double(buffer[offset + 3]))
    }

}
