import Foundation
import FusionConfig
import FusionCore
import FusionData
import FusionInt8
import FusionMPI
import FusionModels
import FusionNN
import FusionReports
import FusionTensor

/// Runs experiments: one run, a resumed run, and the data a run needs.
public enum ExperimentRunner {
    /// Trains, validates and tests `config` in a new run folder under `runsRoot`. `manifest`
    /// fills in what the caller adds to manifest.json; `prepare` sees the trainer before training
    /// (compression loads its starting weights and pruner there).
    public static func run(_ config: ExperimentConfig, runsRoot: String = "runs", progress: Progress,
                           manifest: (inout RunManifest) -> Void = { _ in }, prepare: ((Trainer) throws -> Void)? = nil) throws -> RunResult {
        Threading.setThreads(config.training.threads)
        // Data parallel: rank 0 makes the folder and tells the others where it is.
        let run: RunDirectory
        if Distributed.splitsBatches {
            let path = Distributed.rank == 0 ? try RunDirectory.create(root: runsRoot, config: config).path : ""
            run = RunDirectory(path: Distributed.broadcast(path))
        } else {
            run = try RunDirectory.create(root: runsRoot, config: config)
        }
        if Distributed.isWriter { try writeTextAtomically(ConfigLoader.resolvedJSON(config), to: run.file(RunFile.config)) }
        progress.log("run \(run.path)")
        return try recordingStatus(run) {
            let data = try preparedOnRankZeroFirst {
                // Only the writing rank saves the vocabulary (the others build the same one in memory).
                try ExperimentData.prepare(config, vocabularyPath: Distributed.isWriter ? run.vocabulary : nil, log: progress.log,
                                           detail: { progress.detail($0) })
            }
            if Distributed.isWriter {
                var m = RunDirectory.baseManifest(config: config, datasetRoot: data.dataset.root)
                recordSplits(data, in: &m)
                (m.status, m.pid, m.worldSize) = (.running, Int(getpid()), Distributed.splitsBatches ? Distributed.size : 1)
                manifest(&m)
                try run.writeManifest(m)
            }
            let trainer = try Trainer(config: config, data: data, run: run, progress: progress)
            try prepare?(trainer)
            if let teacher = trainer.teacher, Distributed.isWriter {
                try run.updateManifest { m in
                    (m.distilledFrom, m.distillTemperature, m.distillAlpha) = (teacher.teachers, config.distill.temperature, config.distill.alpha)
                }
            }
            return try trainer.fit()
        }
    }

    /// Runs `body` and records `finished` or `failed` (with the error) in the run's manifest
    /// (on the writing rank); SIGINT or SIGTERM meanwhile records `interrupted` and exits (130 or 143).
    package static func recordingStatus(_ run: RunDirectory, _ body: () throws -> RunResult) throws -> RunResult {
        let watch = Distributed.isWriter ? InterruptWatch(run) : nil
        defer { watch?.stop() }
        do {
            let result = try body()
            if Distributed.isWriter { try run.setStatus(.finished) }
            Tracking.end(run, status: .finished)
            return result
        } catch {
            if Distributed.isWriter { try? run.setStatus(.failed, error: "\(error)") }
            Tracking.end(run, status: .failed)
            throw error
        }
    }

    /// `prepare` on rank 0 first (it builds the feature caches and the vocabulary), then on the
    /// other ranks, which find them built; in one process, simply `prepare`.
    static func preparedOnRankZeroFirst<T>(_ prepare: () throws -> T) throws -> T {
        guard Distributed.splitsBatches else { return try prepare() }
        if Distributed.rank != 0 { Distributed.barrier() }
        let value = try prepare()
        if Distributed.rank == 0 { Distributed.barrier() }
        return value
    }

    /// Continues the run in `directory` after its last finished epoch; the result equals an
    /// uninterrupted run's.
    public static func resume(_ directory: String, progress: Progress) throws -> RunResult {
        let run = try RunDirectory.open(directory)
        let config = try run.config()
        Threading.setThreads(config.training.threads)
        let data = try preparedOnRankZeroFirst {
            try ExperimentData.prepare(config, vocabularyPath: run.vocabulary, reuseVocabulary: true, log: progress.log, detail: { progress.detail($0) })
        }
        let hasState = FileManager.default.fileExists(atPath: run.resumeState)
        return try recordingStatus(run) {
            if Distributed.isWriter { try run.setStatus(.running) }
            let trainer = try Trainer(config: config, data: data, run: run, progress: progress, initialize: !hasState)
            guard hasState else {
                progress.log("no finished epoch to resume from: starting the run over")
                return try trainer.fit()
            }
            let state = try ResumeState.load(from: run.resumeState, model: trainer.model, optimizer: trainer.optimizer)
            return try trainer.fit(resumed: state)
        }
    }

    /// The model of a finished run with its best weights, and the data prepared as it was.
    public static func load(run directory: String, datasetPath: String? = nil, caches: Bool = true, progress: Progress) throws
        -> (model: MultimodalClassifier, data: ExperimentData, config: ExperimentConfig) {
        let run = try RunDirectory.open(directory)
        // evaluate, predict, serve and export read a run's final model: a killed or failed run has none.
        guard run.status == .finished else {
            throw ExperimentError("\(directory): the run is \(run.status.rawValue), not finished; its checkpoint is not a final model "
                                  + "(resume it with fusionlab run --resume, or use a finished run)")
        }
        var config = try run.config()
        if let datasetPath {
            config.dataset.path = datasetPath
            config.dataset.generate = false
            config.dataset.trainLimit = 0
        }
        Threading.setThreads(config.training.threads)
        // The run's own dataset, changed since training (tables or media): said, then used as it is now.
        if datasetPath == nil, (try? run.checkDatasetUnchanged(config.dataset.path)) == nil {
            progress.log("warning: \(config.dataset.path): the dataset changed since \(directory) was trained (its tables or media differ from "
                         + "manifest.json's dataset_hash); using it as it is now")
        }
        // The run's own vocabulary, so ids mean what they meant in training.
        let data = try ExperimentData.prepare(config, vocabularyPath: run.vocabulary, reuseVocabulary: true, caches: caches,
                                              log: progress.log, detail: { progress.detail($0) })
        // On another dataset whose labels begin with the run's own (an update's data), the model
        // keeps the run's own head.
        var classes = data.classNames.count
        if datasetPath != nil, let own = recordedClasses(directory), own.count < classes, Array(data.classNames.prefix(own.count)) == own {
            classes = own.count
        }
        let model = try MultimodalClassifier.build(config.model, inputs: data.modelInputs, classes: classes, seed: config.seed)
        // Frozen weights left out of the checkpoint come from exactly the checkpoint training
        // initialised from (the pretrained encoder's own are loaded when the model is built).
        let metadata = try Safetensors.read(run.bestCheckpoint).metadata
        if !RunWeights.leftOut(metadata).isEmpty, let source = metadata[RunWeights.sourceKey] {
            guard FileManager.default.fileExists(atPath: source) else {
                throw ExperimentError("\(run.bestCheckpoint) leaves frozen weights out (training.save_frozen: false); they come from \(source), which is missing")
            }
            var initial = config
            initial.transfer.initFrom = source
            try Transfer.initialize(model, config: initial, log: { _ in })
        }
        if try RunWeights.load(model, from: run.bestCheckpoint) {
            do { try compileInt8Stacks(model) } catch { throw ExperimentError("\(run.bestCheckpoint): \(error)") }
        }
        model.eval()
        return (model, data, config)
    }

    /// The labels a run's manifest records, in order.
    static func recordedClasses(_ run: String) -> [String]? { RunDirectory(path: run).manifest?.classes }

    /// Samples per split, the class names and the modalities of `data`, into `manifest`.
    package static func recordSplits(_ data: ExperimentData, in manifest: inout RunManifest) {
        var counts: [String: Int] = [:]
        for split in Split.allCases { counts[split.rawValue] = data.caches[split]?.count ?? 0 }
        (manifest.samples, manifest.classes, manifest.modalities) = (counts, data.classNames, data.config.model.modalities.map { $0.rawValue })
    }
}
