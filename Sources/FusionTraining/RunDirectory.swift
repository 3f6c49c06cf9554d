import FusionCore
import FusionReports
import FusionConfig
import Foundation
import FusionData
import FusionTensor

/// One run's folder, `runs/<experiment>/<timestamp>-<hash>/`, never overwritten:
/// config.resolved.json, manifest.json, history.csv, metrics.json, predictions.csv,
/// checkpoints/ and TensorBoard event files. Every file is written atomically.
public struct RunDirectory {
    /// The folder.
    public let path: String

    /// The run folder at `path`, unchecked (`open` checks it is one).
    package init(path: String) { self.path = path }

    /// Creates a new run folder under `root/<name>/`.
    public static func create(root: String, config: ExperimentConfig) throws -> RunDirectory {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let stamp = formatter.string(from: Date())
        let hash = String(format: "%06llx", Hash64.fnv1a(Array(ConfigLoader.resolvedJSON(config).utf8)) & 0xFF_FFFF)
        let base = "\(root)/\(config.name)/\(stamp)-\(hash)"
        // An exclusive create: two runs started in the same second never share a folder.
        let path = try JobQueue.newFolder(base)
        try FileManager.default.createDirectory(atPath: path + "/" + RunFile.checkpoints, withIntermediateDirectories: true)
        return RunDirectory(path: path)
    }

    /// An existing run folder (for `--resume`, evaluate, predict, export).
    public static func open(_ path: String) throws -> RunDirectory {
        guard FileManager.default.fileExists(atPath: path + "/" + RunFile.config) else {
            throw ExperimentError("\(path): not a run directory (no config.resolved.json)")
        }
        return RunDirectory(path: path)
    }

    /// The configuration the run used.
    public func config() throws -> ExperimentConfig {
        let tree = try ConfigLoader.parseJSONFile(file(RunFile.config))
        return try ConfigLoader.decode(tree, defaultSource: file(RunFile.config))
    }

    /// Paths inside the run.
    public var checkpoints: String { file(RunFile.checkpoints) }
    /// Best weights by the validation metric.
    public var bestCheckpoint: String { checkpoints + "/best.safetensors" }
    /// Weights after the last finished epoch.
    public var lastCheckpoint: String { checkpoints + "/last.safetensors" }
    /// Weights, optimizer state and trainer state after the last finished epoch.
    public var resumeState: String { checkpoints + "/resume.safetensors" }
    /// A word vocabulary built from the training split.
    public var vocabulary: String { file(RunFile.vocabulary) }

    /// The path of one of the run's files (`RunFile`).
    public func file(_ name: String) -> String { path + "/" + name }

    /// The run's manifest.json (nil when it has none or it does not read).
    public var manifest: RunManifest? { RunManifest.read(file(RunFile.manifest)) }

    /// A new manifest: seed, code version (FusionLab's and its git commit, built in), the command
    /// line and its `--set` overrides, dataset hash, threads and machine.
    package static func baseManifest(config: ExperimentConfig, datasetRoot: String) -> RunManifest {
        var m = RunManifest()
        (m.experiment, m.seed, m.threads) = (config.name, config.seed, config.training.threads)
        (m.codeVersion, m.commandLine, m.overrides) = (codeVersion(), CommandLine.arguments, commandLineOverrides())
        (m.dataset, m.datasetHash) = (datasetRoot, datasetHash(datasetRoot))
        (m.machine, m.created) = (.current, ISO8601DateFormatter().string(from: Date()))
        return m
    }

    /// Writes manifest.json (atomically).
    package func writeManifest(_ manifest: RunManifest) throws { try manifest.write(to: file(RunFile.manifest)) }

    /// Changes manifest.json (atomically), starting from an empty one when there is none.
    package func updateManifest(_ change: (inout RunManifest) -> Void) throws {
        var m = manifest ?? RunManifest()
        change(&m)
        try writeManifest(m)
    }

    /// Records the run's status in manifest.json, with the time, the process id while running and
    /// the error that stopped it, creating a minimal manifest when the run failed before writing one.
    public func setStatus(_ status: RunStatus, error: String? = nil) throws {
        try updateManifest { m in
            m.status = status
            let now = ISO8601DateFormatter().string(from: Date())
            if status == .running { (m.started, m.pid) = (now, Int(getpid())) } else { m.ended = now }
            m.error = error
        }
    }

    /// The status manifest.json records. A `running` run whose process is gone was killed
    /// (interrupted); runs from before statuses count as finished when they wrote metrics.json,
    /// and as failed otherwise.
    public var status: RunStatus {
        let m = manifest
        if let s = m?.status {
            if s == .running, let pid = m?.pid, kill(pid_t(pid), 0) != 0 && errno == ESRCH { return .interrupted }
            return s
        }
        return FileManager.default.fileExists(atPath: file(RunFile.metrics)) ? .finished : .failed
    }

    /// Writes `history.csv` (the learning curve).
    func writeHistory(_ history: [EpochRecord]) throws {
        var csv = EpochRecord.csvHeader + "\n"
        for h in history { csv += h.csvRow + "\n" }
        try writeTextAtomically(csv, to: file(RunFile.history))
    }

    /// The history written so far.
    public func history() throws -> [EpochRecord] {
        guard let text = try? String(contentsOfFile: file(RunFile.history), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { EpochRecord(csvRow: String($0)) }
    }
}

/// One row of history.csv.
public struct EpochRecord: Equatable {
    /// 1-based epoch.
    public var epoch: Int
    /// Mean training loss and accuracy over the epoch.
    public var trainLoss: Double, trainAccuracy: Double
    /// Validation loss, accuracy and macro F1.
    public var valLoss: Double, valAccuracy: Double, valF1Macro: Double
    /// Learning-rate multiplier of the epoch and its wall time.
    public var lrScale: Double, seconds: Double
    /// The machine during training: training samples per second, the process's CPU use over the
    /// epoch (100 = one core busy), its peak resident memory so far (MiB), and the epoch's
    /// training time split into waiting for batches and computing (validation excluded).
    public var samplesPerSecond = Double.nan, cpuPercent = Double.nan, peakRSSMiB = Double.nan
    /// Seconds of the epoch's training spent waiting for batches, and computing.
    public var dataSeconds = Double.nan, computeSeconds = Double.nan

    static let csvHeader = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_f1_macro,lr_scale,seconds,"
        + "samples_per_second,cpu_percent,peak_rss_mib,data_seconds,compute_seconds"
    var csvRow: String {
        ([String(epoch)] + [trainLoss, trainAccuracy, valLoss, valAccuracy, valF1Macro, lrScale, seconds,
                            samplesPerSecond, cpuPercent, peakRSSMiB, dataSeconds, computeSeconds].map { String(format: "%.6f", $0) })
            .joined(separator: ",")
    }

    package init(epoch: Int, trainLoss: Double, trainAccuracy: Double, valLoss: Double, valAccuracy: Double, valF1Macro: Double,
         lrScale: Double, seconds: Double) {
        (self.epoch, self.trainLoss, self.trainAccuracy, self.valLoss, self.valAccuracy) = (epoch, trainLoss, trainAccuracy, valLoss, valAccuracy)
        (self.valF1Macro, self.lrScale, self.seconds) = (valF1Macro, lrScale, seconds)
    }

    /// A row of history.csv (8 columns from before the machine columns, or 13).
    init?(csvRow: String) {
        let f = csvRow.split(separator: ",").map(String.init)
        guard f.count == 8 || f.count == 13, let e = Int(f[0]) else { return nil }
        let v = f.dropFirst().compactMap(Double.init)
        guard v.count == f.count - 1 else { return nil }
        self.init(epoch: e, trainLoss: v[0], trainAccuracy: v[1], valLoss: v[2], valAccuracy: v[3], valF1Macro: v[4], lrScale: v[5], seconds: v[6])
        if v.count == 12 { (samplesPerSecond, cpuPercent, peakRSSMiB, dataSeconds, computeSeconds) = (v[7], v[8], v[9], v[10], v[11]) }
    }

    /// As a dictionary for notebooks.
    public var dictionary: [String: Double] {
        ["epoch": Double(epoch), "train_loss": trainLoss, "train_accuracy": trainAccuracy, "val_loss": valLoss,
         "val_accuracy": valAccuracy, "val_f1_macro": valF1Macro, "lr_scale": lrScale, "seconds": seconds]
            .merging(["samples_per_second": samplesPerSecond, "cpu_percent": cpuPercent, "peak_rss_mib": peakRSSMiB,
                      "data_seconds": dataSeconds, "compute_seconds": computeSeconds].filter { !$0.value.isNaN }) { a, _ in a }
    }
}

/// The version and commit this binary was built from (not the working directory's state).
func codeVersion() -> String { "\(BuildInfo.version) (\(BuildInfo.commit))" }

/// The `--set` overrides on this process's command line, as given.
func commandLineOverrides(_ arguments: [String] = CommandLine.arguments) -> [String] {
    var out = [String]()
    var k = 0
    while k < arguments.count {
        if arguments[k] == "--set", k + 1 < arguments.count { out.append(arguments[k + 1]); k += 2; continue }
        if arguments[k].hasPrefix("--set=") { out.append(String(arguments[k].dropFirst(6))) }
        k += 1
    }
    return out
}

extension RunDirectory {
    /// Throws when the dataset at `root` is not the one the run was trained on (its hash in
    /// manifest.json differs), so features or evaluations never silently mix datasets.
    public func checkDatasetUnchanged(_ root: String) throws {
        guard let recorded = manifest?.datasetHash else { return }
        // Runs from before media were hashed recorded the tables' hash alone.
        let now = recorded.hasPrefix("media:") ? datasetHash(root) : tablesHash(root)
        guard now == recorded else {
            throw ExperimentError("\(root): the dataset changed since the run \(path) was trained (hash \(now), manifest.json says \(recorded)); "
                                  + "regenerate it with the run's settings or train a new run")
        }
    }
}

/// A hash of dataset.json, samples.jsonl and the content of every media file the samples name
/// (`media:` marks it from the tables-only hash of older runs).
func datasetHash(_ root: String) -> String {
    var h = Hash64.fnv1a(Array(tablesHash(root).utf8))
    if let dataset = try? Dataset.load(path: root, policy: .skip, log: { _ in }) {
        for sample in dataset.samples {
            for path in [sample.imagePath, sample.audioPath].compactMap({ $0 }) {
                h = Hash64.fnv1a(Array(path.dropFirst(root.count).utf8), seed: h)
                if let data = try? FileIO.read(path) { h = (h ^ data.withUnsafeBytes { Hash64.checksum($0) }) &* 0x100000001b3 }
            }
        }
    }
    return "media:" + String(format: "%016llx", h)
}

/// A hash of dataset.json and samples.jsonl.
func tablesHash(_ root: String) -> String {
    var h = Hash64.fnv1a(Array("dataset".utf8))
    for name in ["dataset.json", "samples.jsonl"] {
        if let data = (try? FileIO.read(root + "/" + name)) { h = Hash64.fnv1a(data, seed: h) }
    }
    return String(format: "%016llx", h)
}

