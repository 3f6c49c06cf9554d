import FusionCore
import FusionReports
import FusionConfig
import Foundation
import FusionData

/// Where a run stands, as manifest.json records it.
public enum RunStatus: String, Codable, Sendable {
    /// Training or evaluating now (manifest.json holds the process id).
    case running
    /// Finished: metrics.json and the checkpoints are complete.
    case finished
    /// Stopped by an error, which manifest.json records.
    case failed
    /// Stopped from outside: SIGINT or SIGTERM (recorded as it happened), or killed without a
    /// word (a `running` manifest whose process is gone).
    case interrupted
}

/// Every file name of a run folder, in one place.
public enum RunFile {
    /// The configuration the run used, resolved (every default written out).
    public static let config = "config.resolved.json"
    /// Seed, code version, command line, dataset hash, machine, status and what made the run.
    public static let manifest = "manifest.json"
    /// The learning curve, one row per epoch.
    public static let history = "history.csv"
    /// Test metrics.
    public static let metrics = "metrics.json"
    /// One row per test sample.
    public static let predictions = "predictions.csv"
    /// A word vocabulary built from the training split.
    public static let vocabulary = "vocab.txt"
    /// Best, last and resume weights. TensorBoard's event files sit in the run folder itself
    /// (`TensorBoardWriter.files(in:)`), so `tensorboard --logdir runs` names a run by its folder.
    public static let checkpoints = "checkpoints"
}

/// manifest.json, typed: every key FusionLab writes. Every field is optional, so manifests of
/// older runs (or of runs that failed before writing one) still read; unknown keys are ignored.
public struct RunManifest: Codable, Equatable, Sendable {
    /// Kernel, architecture, cores and memory of the machine that made the run.
    public struct Machine: Codable, Equatable, Sendable {
        /// `uname` fields.
        public var system: String, release: String, machine: String
        /// Cores the process could use.
        public var cores: Int
        /// Physical memory in GiB.
        public var memoryGib: Double
        enum CodingKeys: String, CodingKey { case system, release, machine, cores, memoryGib = "memory_gib" }
    }

    /// What `fusionlab compress` did to the source run.
    public struct Compression: Codable, Equatable, Sendable {
        /// `int8` or `prune`.
        public var kind: String
        /// The source run.
        public var source: String
        /// prune: `magnitude` or `channels`, the sparsity and the fine-tuning epochs.
        public var method: String?, sparsity: Double?, finetuneEpochs: Int?
        /// prune channels: per layer, "width → kept".
        public var layers: [String: String]?
        /// int8: calibration batches, the quantized layers and the layers kept in float32 with the reason.
        public var calibrationBatches: Int?, quantizedLayers: [String]?, floatLayers: [String: String]?

        /// What a compression did.
        public init(kind: String, source: String, method: String? = nil, sparsity: Double? = nil, finetuneEpochs: Int? = nil,
                    layers: [String: String]? = nil, calibrationBatches: Int? = nil, quantizedLayers: [String]? = nil,
                    floatLayers: [String: String]? = nil) {
            (self.kind, self.source, self.method, self.sparsity, self.finetuneEpochs) = (kind, source, method, sparsity, finetuneEpochs)
            (self.layers, self.calibrationBatches, self.quantizedLayers, self.floatLayers) = (layers, calibrationBatches, quantizedLayers, floatLayers)
        }
        enum CodingKeys: String, CodingKey {
            case kind, source, method, sparsity, finetuneEpochs = "finetune_epochs", layers, calibrationBatches = "calibration_batches"
            case quantizedLayers = "quantized_layers", floatLayers = "float_layers"
        }
    }

    /// What `fusionlab update` trained on.
    public struct Update: Codable, Equatable, Sendable {
        /// The new data, the rehearsal samples, the LwF weight and whether it started from scratch.
        public var data: String, rehearsal: Int, lwf: Double, fromScratch: Bool
        /// Labels the new data added.
        public var addedLabels: [String]

        /// What an update trained on.
        public init(data: String, rehearsal: Int, lwf: Double, fromScratch: Bool, addedLabels: [String]) {
            (self.data, self.rehearsal, self.lwf, self.fromScratch, self.addedLabels) = (data, rehearsal, lwf, fromScratch, addedLabels)
        }
        enum CodingKeys: String, CodingKey { case data, rehearsal, lwf, fromScratch = "from_scratch", addedLabels = "added_labels" }
    }

    /// What `fusionlab update` measured.
    public struct UpdateResults: Codable, Equatable, Sendable {
        /// Test accuracy on the old test split of the parent and of the updated model, on the new test split, and their forgetting.
        public var parentTestAccuracyParent: Double, parentTestAccuracyUpdated: Double, newTestAccuracy: Double, forgetting: Double

        /// What an update measured.
        public init(parentTestAccuracyParent: Double, parentTestAccuracyUpdated: Double, newTestAccuracy: Double, forgetting: Double) {
            (self.parentTestAccuracyParent, self.parentTestAccuracyUpdated) = (parentTestAccuracyParent, parentTestAccuracyUpdated)
            (self.newTestAccuracy, self.forgetting) = (newTestAccuracy, forgetting)
        }
        enum CodingKeys: String, CodingKey {
            case parentTestAccuracyParent = "parent_test_accuracy_parent", parentTestAccuracyUpdated = "parent_test_accuracy_updated"
            case newTestAccuracy = "new_test_accuracy", forgetting
        }
    }

    /// The MLflow run that mirrors this run (`--mlflow`): server, experiment and run ids.
    public struct MLflowLink: Codable, Equatable, Sendable {
        /// The tracking server's URI, the experiment's id and the run's id.
        public var trackingURI: String, experimentID: String, runID: String

        /// A link to an MLflow run.
        public init(trackingURI: String, experimentID: String, runID: String) {
            (self.trackingURI, self.experimentID, self.runID) = (trackingURI, experimentID, runID)
        }
        enum CodingKeys: String, CodingKey { case trackingURI = "tracking_uri", experimentID = "experiment_id", runID = "run_id" }
    }

    /// The all-reduce cost of data-parallel training.
    public struct AllReduce: Codable, Equatable, Sendable {
        /// Seconds spent, optimizer steps, bytes a step and ranks.
        public var seconds: Double, steps: Int, bytesPerStep: Int, worldSize: Int

        /// The all-reduce cost.
        public init(seconds: Double, steps: Int, bytesPerStep: Int, worldSize: Int) {
            (self.seconds, self.steps, self.bytesPerStep, self.worldSize) = (seconds, steps, bytesPerStep, worldSize)
        }
        enum CodingKeys: String, CodingKey { case seconds, steps, bytesPerStep = "bytes_per_step", worldSize = "world_size" }
    }

    /// The experiment's name, seed and threads.
    public var experiment: String?, seed: UInt64?, threads: Int?
    /// FusionLab's version and commit; the command line and its `--set` overrides.
    public var codeVersion: String?, commandLine: [String]?, overrides: [String]?
    /// The dataset folder and its hash (dataset.json and samples.jsonl).
    public var dataset: String?, datasetHash: String?
    /// The machine and when the folder was made.
    public var machine: Machine?, created: String?
    /// Where the run stands, since when, the process and the error that stopped it.
    public var status: RunStatus?, started: String?, ended: String?, pid: Int?, error: String?
    /// Ranks that split the batches (1 without mpirun).
    public var worldSize: Int?
    /// Samples per split, the class names in order, the modalities.
    public var samples: [String: Int]?, classes: [String]?, modalities: [String]?
    /// Distillation: the teacher runs, temperature and weight.
    public var distilledFrom: [String]?, distillTemperature: Double?, distillAlpha: Double?
    /// Compression.
    public var compression: Compression?
    /// Continual updates: the parent run, what the update did, every run from the first, and what it measured.
    public var parent: String?, update: Update?, lineage: [String]?, updateResults: UpdateResults?
    /// Data-parallel training.
    public var allreduce: AllReduce?
    /// The MLflow run logged beside it, if any.
    public var mlflow: MLflowLink?

    /// An empty manifest.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case experiment, seed, threads, codeVersion = "code_version", commandLine = "command_line", overrides, dataset
        case datasetHash = "dataset_hash", machine, created, status, started, ended, pid, error, worldSize = "world_size"
        case samples, classes, modalities, distilledFrom = "distilled_from", distillTemperature = "distill_temperature"
        case distillAlpha = "distill_alpha", compression, parent, update, lineage, updateResults = "update_results", allreduce, mlflow
    }

    /// Reads `path`; nil when there is no such file or it is not a manifest. A status this
    /// version does not know reads as nil.
    public static func read(_ path: String) -> RunManifest? {
        guard let data = try? FileIO.read(path) else { return nil }
        let decoder = JSONDecoder()
        if let manifest = try? decoder.decode(RunManifest.self, from: data) { return manifest }
        // An unknown status string: read the rest.
        guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        object.removeValue(forKey: "status")
        guard let cleaned = try? JSONSerialization.data(withJSONObject: object) else { return nil }
        return try? decoder.decode(RunManifest.self, from: cleaned)
    }

    /// Writes the manifest to `path` atomically, keys sorted, pretty-printed.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeFileAtomically(try encoder.encode(self), to: path)
    }
}

extension RunManifest.Machine {
    /// This machine.
    static var current: RunManifest.Machine {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return RunManifest.Machine(system: field(name.sysname), release: field(name.release), machine: field(name.machine),
                                   cores: ProcessInfo.processInfo.activeProcessorCount,
                                   memoryGib: Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824)
    }
}

/// Held while an epoch's history, checkpoints and resume state are written and its metric
/// points committed, and taken by the interrupt handler before it records anything.
enum EpochSave {
    static let lock = NSLock()
}

/// While a run trains: SIGINT (Ctrl-C) or SIGTERM records `interrupted` in its manifest, says
/// on stderr at which epoch and how to resume, then exits with 128 + the signal, as the default
/// action would. The last finished epoch's checkpoints stay, so `fusionlab run --resume` continues the run.
final class InterruptWatch {
    private var sources: [DispatchSourceSignal] = []

    init(_ run: RunDirectory) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                // Not while an epoch is being saved: it finishes first (the lock is never given
                // back; the process ends here).
                EpochSave.lock.lock()
                try? run.setStatus(.interrupted, error: sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM")
                FileHandle.standardError.write(Data((InterruptWatch.message(run) + "\n").utf8))
                Tracking.end(run, status: .killed)
                // _exit, not exit: the training thread is still running, and exit's handlers
                // would tear down what it uses under it.
                _exit(128 + sig)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// "interrupted at epoch k; resume with …": k is the epoch in progress, one after the last
    /// line of history.csv (the finished epochs, whose checkpoints a resume starts from).
    static func message(_ run: RunDirectory) -> String {
        let history = (try? String(contentsOfFile: run.file(RunFile.history), encoding: .utf8)) ?? ""
        let finished = max(history.split(whereSeparator: \.isNewline).count - 1, 0)
        let saved = finished == 0 ? "no epoch finished, so a resume starts over"
            : "epoch\(finished == 1 ? "" : "s") 1\(finished == 1 ? "" : "–\(finished)") saved"
        return "interrupted at epoch \(finished + 1) (\(saved)); resume with: fusionlab run --resume \(run.path)"
    }

    /// Gives the signals their default action back.
    func stop() {
        for source in sources { source.cancel() }
        sources = []
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
