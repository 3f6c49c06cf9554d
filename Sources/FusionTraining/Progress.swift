import FusionReports
import FusionConfig
import Foundation
import Logging

/// How much a command says on stderr (its results on stdout are never silenced).
public enum Verbosity: Int, Comparable, Sendable {
    /// Errors only.
    case quiet
    /// Progress and messages.
    case normal
    /// Also details: files read and written, caches, shapes, timings.
    case verbose

    /// Orders by how much is said.
    public static func < (a: Verbosity, b: Verbosity) -> Bool { a.rawValue < b.rawValue }
}

/// Progress of a run: a bar per epoch on a terminal (batches, ETA, loss, throughput), plain log
/// lines otherwise, nothing but errors when quiet, details when verbose. Messages go through
/// swift-log.
public final class Progress {
    let quiet: Bool
    let isTerminal: Bool
    let logger: Logger
    /// How much this reporter says.
    public let verbosity: Verbosity
    var epoch = 0, epochs = 0, batches = 0

    /// A reporter saying as much as `verbosity`.
    public init(verbosity: Verbosity, label: String = "fusionlab") {
        self.verbosity = verbosity
        quiet = verbosity == .quiet
        isTerminal = isatty(STDERR_FILENO) == 1
        var logger = Logger(label: label)
        logger.logLevel = verbosity == .quiet ? .error : (verbosity == .verbose ? .debug : .info)
        self.logger = logger
    }

    /// A reporter; `quiet` silences everything but errors.
    public convenience init(quiet: Bool, label: String = "fusionlab") {
        self.init(verbosity: quiet ? .quiet : .normal, label: label)
    }

    /// A message.
    public func log(_ message: String) {
        if isTerminal && !quiet { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        logger.info("\(message)")
    }

    /// A detail, shown only when verbose.
    public func detail(_ message: @autoclosure () -> String) {
        guard verbosity == .verbose else { return }
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        logger.debug("\(message())")
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

/// A duration as people read it: 45s, 3m05s, 2h10m.
public func durationText(_ seconds: TimeInterval) -> String {
    let s = Int(max(0, seconds).rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
}

/// The command line's swift-log handler. On a terminal a line is the message alone (warnings,
/// errors and details say so first); written to a file or a pipe it starts with a UTC time and
/// the level, for logs read later. Nothing else (no label, no source module).
public struct ConsoleLogHandler: LogHandler {
    /// The lowest level written.
    public var logLevel: Logger.Level = .info
    /// Metadata (not printed).
    public var metadata: Logger.Metadata = [:]
    private let terminal: Bool

    /// A handler for `label` (unused: every FusionLab logger writes to stderr alike).
    public init(label: String) { terminal = isatty(STDERR_FILENO) == 1 }

    /// Metadata by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line to stderr.
    public func log(event: LogEvent) { write(level: event.level, message: event.message) }

    private func write(level: Logger.Level, message: Logger.Message) {
        let text: String
        if terminal {
            let prefix = level >= .warning ? "\(level == .warning ? "warning" : "error"): " : (level <= .debug ? "  " : "")
            text = prefix + message.description
        } else {
            var now = time(nil)
            var parts = tm()
            gmtime_r(&now, &parts)
            text = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ %@ %@", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                          Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), level.rawValue, message.description)
        }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
