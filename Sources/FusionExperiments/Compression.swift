import Foundation
import FusionConfig
import FusionCore
import FusionData
import FusionDeploy
import FusionInt8
import FusionMPI
import FusionModels
import FusionNN
import FusionReports
import FusionTensor
import FusionTraining

/// `fusionlab compress`: new runs made from a finished run — int8 quantization and pruning —
/// each with its test metrics, checkpoint size and inference speed beside the source's.
/// A compressed run is a run folder like any other (evaluate, predict and compare read it);
/// the source is never written to.
public enum Compression {
    /// What one compressed run measured.
    public struct Outcome {
        /// The new run folder.
        public var run: String
        /// What was done (`int8`, `magnitude 0.5`, `channels 0.5`).
        public var label: String
        /// Test metrics of the compressed and of the source model.
        public var metrics: ClassificationMetrics, sourceMetrics: ClassificationMetrics
        /// Checkpoint bytes, compressed and source.
        public var fileBytes: Int, sourceFileBytes: Int
        /// Parameters, and those that are not zero.
        public var parameters: Int, nonzeroParameters: Int
        /// Forward passes per second over batches of `throughputBatch` test samples, compressed and source.
        public var samplesPerSecond: Double, sourceSamplesPerSecond: Double
        /// The source's parameters and non-zero parameters, and the pruning sparsity (nil for int8).
        public var sourceParameters = 0, sourceNonzeroParameters = 0, sparsity: Double?
        /// Seconds of fine-tuning (0 without).
        public var trainSeconds = 0.0

        /// The compressed model's deployment cost.
        public var deployment: DeploymentCost {
            DeploymentCost(nonzeroParameters: nonzeroParameters, fileBytes: fileBytes, samplesPerSecond: samplesPerSecond, sparsity: sparsity)
        }

        /// The source model's deployment cost.
        public var sourceDeployment: DeploymentCost {
            DeploymentCost(nonzeroParameters: sourceNonzeroParameters, fileBytes: sourceFileBytes, samplesPerSecond: sourceSamplesPerSecond,
                           sparsity: sparsity == nil ? nil : 0)
        }
    }

    /// Applies one `compare.compress` entry to the finished run at `run`.
    public static func apply(_ spec: CompressionSpec, run: String, progress: FusionTraining.Progress) throws -> Outcome {
        switch spec.kind {
        case .int8: return try quantize(run: run, calibrationBatches: spec.calibrationBatches, progress: progress)
        case .magnitude, .channels:
            let outcomes = try prune(run: run, sparsities: [spec.sparsity], method: spec.kind == .magnitude ? .magnitude : .channels,
                                     finetuneEpochs: spec.finetuneEpochs, progress: progress)
            guard let first = outcomes.first else { throw ExperimentError("\(run): pruning produced no run") }
            return first
        }
    }

    /// Writes a comparison folder `<runs>/<experiment>/compress-<stamp>/` (comparison.csv, .md,
    /// .json: the source and each compressed run with their deployment costs) that
    /// `export-notebook` turns into tables and charts, accuracy against sparsity included.
    public static func writeSummary(_ outcomes: [Outcome], source: String) throws -> String? {
        guard let first = outcomes.first else { return nil }
        let experiment = URL(fileURLWithPath: source).deletingLastPathComponent()
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        // An exclusive create: two compressions started together get two folders.
        let directory = try JobQueue.newFolder(experiment.appendingPathComponent("compress-\(stamp)").path)
        var entries = [ComparisonEntry(variant: "float32 (source)", seed: 0, test: first.sourceMetrics, parameters: first.sourceParameters, trainSeconds: 0,
                                       bestEpoch: 0, directory: source, deployment: first.sourceDeployment)]
        for o in outcomes {
            entries.append(ComparisonEntry(variant: o.label, seed: 0, test: o.metrics, parameters: o.parameters, trainSeconds: 0, bestEpoch: 0,
                                           directory: o.run, deployment: o.deployment))
        }
        try ComparisonReport.write(entries, metrics: ["accuracy", "f1_macro"], to: directory)
        return directory
    }

    /// Batch size of the inference-speed measurement.
    public static let throughputBatch = 256

    /// The run at `path`, checked to be a finished run that is not quantized already.
    static func source(_ path: String) throws -> (RunDirectory, RunManifest) {
        // Inside a job-parallel comparison each rank compresses its own runs; a whole `mpirun … compress` would repeat the work.
        guard !Distributed.splitsBatches else {
            throw ExperimentError("compress runs in one process; start it without mpirun (it would write every run once per rank)")
        }
        let run = try RunDirectory.open(path)
        let status = run.status
        guard status == .finished else { throw ExperimentError("\(path): the run is \(status.rawValue); only a finished run can be compressed") }
        let manifest = run.manifest ?? RunManifest()
        if manifest.compression?.kind == "int8" {
            throw ExperimentError("\(path): the run is int8-quantized already; compress its source run instead")
        }
        return (run, manifest)
    }

    /// A model's evaluation on the test split (the validation split without one), its
    /// checkpoint's size and its inference speed.
    typealias Measured = (evaluation: Evaluation, metrics: ClassificationMetrics, fileBytes: Int, samplesPerSecond: Double, split: Split)

    /// A finished source run loaded for compression, with its own measurements.
    struct Source {
        let path: String, run: RunDirectory
        let model: MultimodalClassifier, data: ExperimentData, config: ExperimentConfig
        let reference: Measured
        let parameters: Int, nonzero: Int
        /// Where the compressed runs go: the source's runs root.
        var root: String { URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent().path }
    }

    /// Checks and loads the source run and measures it (at `threads`, when given, instead of the run's).
    static func load(_ path: String, threads: Int?, progress: FusionTraining.Progress) throws -> Source {
        let (run, _) = try source(path)
        let (model, data, config) = try ExperimentRunner.load(run: path, progress: progress)
        if let threads { Threading.setThreads(threads) }
        let reference = try measure(model, data: data, checkpoint: run.bestCheckpoint)
        progress.log(String(format: "source: test accuracy %.4f, %d parameters, %.0f samples/s at batch %d", reference.metrics.accuracy,
                            model.parameterCount, reference.samplesPerSecond, throughputBatch))
        return Source(path: path, run: run, model: model, data: data, config: config, reference: reference,
                      parameters: model.parameterCount, nonzero: nonzero(model))
    }

    /// Quantizes the finished run at `path` to int8 (calibrating on `calibrationBatches` training
    /// batches), into a new run folder beside it.
    /// `threads` overrides the run's `training.threads` for the measurements.
    public static func quantize(run path: String, calibrationBatches: Int, threads: Int? = nil, progress: FusionTraining.Progress) throws -> Outcome {
        guard calibrationBatches >= 1 else { throw ExperimentError("--calibration-batches: expected at least 1, got \(calibrationBatches)") }
        let source = try load(path, threads: threads, progress: progress)
        let (model, data, config) = (source.model, source.data, source.config)
        let calibration = try data.loader(.train, training: false)
        let batches = calibration.batchIndices(epoch: 0).prefix(calibrationBatches)
        let report = try Int8Quantization.quantize(model) {
            withNoGrad { for indices in batches { _ = model(calibration.makeBatch(indices, epoch: 0)) } }
        }
        guard !report.quantized.isEmpty else { throw ExperimentError("\(path): the model has no linear or convolution layer to quantize") }
        let runs = try compileInt8Stacks(model)
        progress.log("int8: \(report.quantized.count) layers quantized, \(runs) layer runs on int8 codes end to end" + (report.float.isEmpty ? "" : "; kept in float32: "
            + report.float.map { "\($0.key) (\($0.reason))" }.joined(separator: ", ")))

        var newConfig = config
        newConfig.name = config.name + "-int8"
        var details = RunManifest.Compression(kind: "int8", source: path)
        (details.calibrationBatches, details.quantizedLayers) = (batches.count, report.quantized)
        details.floatLayers = Dictionary(report.float.map { ($0.key, $0.reason) }) { a, _ in a }
        return try directRun(model, config: newConfig, label: "int8", details: details, source: source, sparsity: nil, progress: progress) {
            try Int8Quantization.save(model, to: $0, metadata: ["experiment": newConfig.name, "source": path])
        }
    }

    /// Measures a model: test evaluation, checkpoint size, inference speed.
    static func measure(_ model: MultimodalClassifier, data: ExperimentData, checkpoint: String) throws -> Measured {
        let split: Split = data.caches[.test] != nil ? .test : .val
        let evaluation = try Trainer.evaluate(model, data: data, split: split)
        let bytes = ((try? FileManager.default.attributesOfItem(atPath: checkpoint))?[.size] as? NSNumber)?.intValue ?? 0
        return (evaluation, evaluation.metrics, bytes, try throughput(model, data: data, split: split), split)
    }

    /// Samples per second of forward passes over batches of `throughputBatch` samples of `split`
    /// (samples repeat when the split is smaller), built before the clock starts, repeated for
    /// at least a second after one warm-up pass.
    public static func throughput(_ model: MultimodalClassifier, data: ExperimentData, split: Split) throws -> Double {
        guard let cache = data.caches[split], cache.count > 0 else {
            throw ExperimentError("\(data.dataset.root): no \(split.rawValue) samples to time inference on")
        }
        let loader = BatchLoader(cache: cache, batchSize: throughputBatch, shuffle: false, imageMean: data.settings.image?.mean,
                                 imageStd: data.settings.image?.std)
        let indices = (0..<throughputBatch).map { $0 % cache.count }
        let batch = loader.makeBatch(indices, epoch: 0)
        model.eval()
        _ = withNoGrad { model(batch) }
        var passes = 0
        let start = Date()
        repeat {
            _ = withNoGrad { model(batch) }
            passes += 1
        } while Date().timeIntervalSince(start) < 1 || passes < 5
        return Double(passes * throughputBatch) / Date().timeIntervalSince(start)
    }

    /// Parameter values that are not zero.
    static func nonzero(_ model: Module) -> Int {
        model.namedParameters().reduce(0) { sum, p in sum + (0..<p.tensor.count).reduce(0) { $0 + (p.tensor.data[$1] != 0 ? 1 : 0) } }
    }

    /// metrics.json (the test metrics with a `compression` entry), predictions.csv and
    /// compression.json.
    static func write(_ o: Outcome, evaluation: Evaluation, details: RunManifest.Compression, run: RunDirectory, classNames: [String],
                      split: Split = .test) throws {
        var summary = (try JSONSerialization.jsonObject(with: JSONEncoder().encode(details)) as? [String: Any]) ?? [:]
        summary["evaluated_split"] = split.rawValue
        summary["test_accuracy"] = o.metrics.accuracy
        summary["source_test_accuracy"] = o.sourceMetrics.accuracy
        summary["file_bytes"] = o.fileBytes
        summary["source_file_bytes"] = o.sourceFileBytes
        summary["file_ratio"] = Double(o.fileBytes) / Double(max(o.sourceFileBytes, 1))
        summary["parameters"] = o.parameters
        summary["nonzero_parameters"] = o.nonzeroParameters
        summary["samples_per_second"] = o.samplesPerSecond
        summary["source_samples_per_second"] = o.sourceSamplesPerSecond
        summary["speedup"] = o.samplesPerSecond / max(o.sourceSamplesPerSecond, 1e-9)
        summary["throughput_batch"] = throughputBatch
        summary["threads"] = Threading.threads
        let options: JSONSerialization.WritingOptions = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeFileAtomically(try JSONSerialization.data(withJSONObject: summary, options: options), to: run.path + "/compression.json")
        var report = (try JSONSerialization.jsonObject(with: try o.metrics.jsonData()) as? [String: Any]) ?? [:]
        report["evaluated_split"] = split.rawValue
        report["compression"] = summary
        try writeFileAtomically(try JSONSerialization.data(withJSONObject: report, options: options), to: run.path + "/metrics.json")
        try writePredictions(evaluation, to: run.path + "/predictions.csv", classNames: classNames)
    }
}
