import Foundation
import Logging

/// Progress of a run: a bar per epoch on a terminal (batches, ETA, loss, throughput), plain log
/// lines otherwise, nothing but errors with `quiet`. Messages go through swift-log.
public final class Progress {
    let quiet: Bool
    let isTerminal: Bool
    let logger: Logger
    var epoch = 0, epochs = 0, batches = 0

    /// A reporter; `quiet` silences everything but errors.
    public init(quiet: Bool, label: String = "fusionlab") {
        self.quiet = quiet
        isTerminal = isatty(STDERR_FILENO) == 1
        var logger = Logger(label: label)
        logger.logLevel = quiet ? .error : .info
        self.logger = logger
    }

    /// A message.
    public func log(_ message: String) {
        if isTerminal && !quiet { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        logger.info("\(message)")
    }

    func startEpoch(_ epoch: Int, of epochs: Int, batches: Int) {
        (self.epoch, self.epochs, self.batches) = (epoch, epochs, batches)
    }

    func batch(_ index: Int, loss: Double, samples: Int, since start: Date) {
        guard isTerminal && !quiet else { return }
        let elapsed = Date().timeIntervalSince(start)
        let eta = index > 0 ? elapsed / Double(index) * Double(batches - index) : 0
        let width = 24, filled = batches > 0 ? width * index / batches : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "\r\u{1B}[Kepoch %d/%d %@ %d/%d  loss %.4f  %.0f samples/s  ETA %.0fs",
                          epoch, epochs, bar, index, batches, loss, Double(samples) / max(elapsed, 1e-9), eta)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func endEpoch(_ r: EpochRecord, metricName: String, best: Bool) {
        log(String(format: "epoch %d/%d  train loss %.4f acc %.3f  val loss %.4f acc %.3f f1 %.3f  %.1fs%@",
                   r.epoch, epochs, r.trainLoss, r.trainAccuracy, r.valLoss, r.valAccuracy, r.valF1Macro, r.seconds, best ? "  ★ best" : ""))
    }
}
