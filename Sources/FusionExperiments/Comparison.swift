import FusionCore
import FusionReports
import FusionConfig
import FusionDeploy
import FusionTraining
import Foundation
import FusionData
import FusionMPI

/// One configuration of a comparison or sweep: a label and the key paths it sets.
public struct Variant {
    /// Shown in tables (`fusion=concat`, `unimodal:image`).
    public var label: String
    /// Key paths and values applied over the experiment file.
    public var settings: [(key: String, value: Any)]
}

/// One finished run of a comparison.
public struct ComparisonRun {
    /// The variant and seed.
    public var variant: String, seed: UInt64
    /// The run's result.
    public var result: RunResult
    /// Its position in the whole job (1-based) and the job's size.
    public var index = 0, total = 0
    /// The estimated time left for the whole job, from the mean run time so far.
    public var remaining: TimeInterval = 0
    /// What deploying the model costs, measured when the comparison compresses its runs.
    public var deployment: DeploymentCost?
}

/// `fusionlab compare`: every variant × seed, unimodal baselines added, summarised as
/// comparison.csv and comparison.md with mean ± std of each metric, parameters and training
/// time, the best marked.
public enum Comparison {
    /// The variants of `axes` (their cartesian product), in order.
    public static func variants(_ axes: [AxisConfig]) -> [Variant] {
        var out: [Variant] = [Variant(label: "", settings: [])]
        for axis in axes {
            let short = axis.key.split(separator: ".").suffix(2).joined(separator: ".")
            out = out.flatMap { v in
                axis.values.map { value in
                    let part = "\(short == "fusion.kind" ? "fusion" : short)=\(value)"
                    return Variant(label: v.label.isEmpty ? part : v.label + ", " + part, settings: v.settings + [(axis.key, value.jsonObject)])
                }
            }
        }
        return out.filter { !$0.settings.isEmpty }
    }

    /// A configuration tree with `settings` applied.
    static func applying(_ settings: [(key: String, value: Any)], to tree: [String: Any]) -> [String: Any] {
        var out = tree
        for (key, value) in settings { out = ConfigLoader.setting(out, key.split(separator: ".").map(String.init)[...], value) }
        return out
    }

    /// Runs the comparison of the experiment at `loaded` into `runs/<name>/compare-<stamp>/`.
    public static func run(_ loaded: ConfigLoader.Loaded, runsRoot: String = "runs", progress: FusionTraining.Progress,
                           finished report: (ComparisonRun) -> Void = { _ in }) throws
        -> (directory: String, runs: [ComparisonRun], table: String) {
        let base = loaded.config
        var all = variants(base.compare.axes)
        if base.compare.unimodalBaselines && base.model.modalities.count > 1 {
            for m in base.model.modalities {
                all.append(Variant(label: "unimodal:\(m.rawValue)",
                                   settings: [("model.modalities", [m.rawValue]), ("model.fusion.kind", "concat")]))
            }
        }
        if all.isEmpty { all = [Variant(label: "base", settings: [])] }
        let jobs = all.flatMap { variant in base.compare.seeds.map { (variant, $0) } }
        let total = jobs.count, started = Date()
        let metrics = base.evaluation.metrics.map(\.rawValue)
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        // mpirun: whole runs go to the ranks through a queue in a folder rank 0 makes.
        let make = { try JobQueue.newFolder("\(runsRoot)/\(base.name)/compare-\(stamp)") }
        let directory = Distributed.isActive ? try JobQueue.sharedFolder(make) : try make()
        // One job: a variant at a seed, trained, then compressed as compare.compress asks.
        func runJob(_ i: Int, done: Int) throws -> [ComparisonRun] {
            let (variant, seed) = jobs[i]
            var tree = applying(variant.settings, to: loaded.tree)
            tree["seed"] = seed
            tree["name"] = slug(variant.label) + "-s\(seed)"
            let config = try ConfigLoader.decode(tree, defaultSource: loaded.path)
            progress.log("compare \(done + 1)/\(total): \(variant.label), seed \(seed)")
            let result = try ExperimentRunner.run(config, runsRoot: directory + "/runs", progress: progress)
            let compressed = try compress(result, variant: variant.label, seed: seed, specs: base.compare.compress, progress: progress)
            let remaining = Date().timeIntervalSince(started) / Double(done + 1) * Double(total - done - 1)
            return [ComparisonRun(variant: variant.label, seed: seed, result: result, index: done + 1, total: total,
                                  remaining: remaining, deployment: compressed.source)] + compressed.runs
        }
        if Distributed.isActive {
            // Rank 0 writes the comparison.
            var done = 0
            let results = try JobQueue.run(count: total, folder: directory, log: progress.log) { i in
                defer { done += 1 }
                return ["runs": try runJob(i, done: done).map { try encode($0) }]
            }
            var finished: [ComparisonRun] = []
            for (i, object) in results.enumerated() {
                for run in object["runs"] as? [[String: Any]] ?? [] {
                    finished.append(try decode(run.merging(["job_file": object["job_file"] ?? ""]) { a, _ in a }, index: i + 1, total: total))
                }
            }
            let table = Distributed.rank == 0 ? try writeFiles(finished, metrics: metrics, to: directory, final: true, progress: progress) : ""
            if Distributed.rank == 0 { try writeHParams(hparamRuns(finished, all), metrics: tensorBoardMetrics, to: directory) }
            return (directory, finished, table)
        }
        var finished: [ComparisonRun] = []
        for i in jobs.indices {
            let runs = try runJob(i, done: i)
            if let first = runs.first { report(first) }
            finished += runs
            try writeFiles(finished, metrics: metrics, to: directory)
        }
        let table = try writeFiles(finished, metrics: metrics, to: directory, final: true, progress: progress)
        try writeHParams(hparamRuns(finished, all), metrics: tensorBoardMetrics, to: directory)
        return (directory, finished, table)
    }

    /// The metrics the HParams dashboard shows beside the settings.
    static let tensorBoardMetrics = ["test/accuracy", "test/f1_macro", "val/accuracy", "val/loss"]

    /// Each finished run with the settings of its variant (compressed runs: their variant's, and
    /// the compression).
    static func hparamRuns(_ finished: [ComparisonRun], _ variants: [Variant])
        -> [(settings: [(key: String, value: Any)], seed: UInt64, group: String, directory: String)] {
        finished.map { run in
            let base = run.variant.components(separatedBy: " · ")
            var settings = variants.first { $0.label == base[0] }?.settings ?? []
            // A unimodal baseline has no fusion: it is not a concat run on the dashboard.
            if base[0].hasPrefix("unimodal:") {
                settings = settings.map { $0.key == "model.fusion.kind" ? ($0.key, "none (unimodal)") : $0 }
            }
            let compression: [(key: String, value: Any)] = base.count > 1 ? [("compression", base[1])] : []
            return (settings + compression, run.seed, run.variant, run.result.directory)
        }
    }

    /// TensorBoard's HParams dashboard for a comparison or sweep: the experiment (every key the
    /// variants set, the seeds, and the metrics) in `directory`, and each run's values as a
    /// session in its own run folder, so `tensorboard --logdir <directory>` tabulates them. A
    /// group's row shows the hyperparameters of one of its sessions, so the seeds go in as one
    /// value the whole group shares ("1, 2, 3"), not one seed standing for all.
    static func writeHParams(_ runs: [(settings: [(key: String, value: Any)], seed: UInt64, group: String, directory: String)],
                             metrics: [String], to directory: String) throws {
        func value(_ v: Any) -> HParams.Value {
            if let b = v as? Bool { return .bool(b) }
            if let d = (v as? NSNumber)?.doubleValue, !(v is String) { return .number(d) }
            if let s = v as? String { return .string(s) }
            let data = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed])
            return .string(data.map { String(decoding: $0, as: UTF8.self) } ?? "\(v)")
        }
        var seeds = [String: [UInt64]]()
        for run in runs { seeds[run.group, default: []].append(run.seed) }
        var examples: [(name: String, example: HParams.Value)] = [("seeds", .string(""))]
        for run in runs {
            for (key, v) in run.settings where !examples.contains(where: { $0.name == key }) { examples.append((key, value(v))) }
        }
        let experiment = try TensorBoardWriter(directory: directory)
        try experiment.hparamsExperiment(hparams: examples, metrics: metrics)
        try experiment.close()
        for run in runs where !TensorBoardWriter.files(in: run.directory).isEmpty {
            let groupSeeds = (seeds[run.group] ?? [run.seed]).sorted().map(String.init).joined(separator: ", ")
            var values: [String: HParams.Value] = ["seeds": .string(groupSeeds)]
            for (key, v) in run.settings { values[key] = value(v) }
            let writer = try TensorBoardWriter(directory: run.directory)
            try writer.hparamsSession(values, group: run.group)
            try writer.close()
        }
    }

    /// A finished run of a comparison as JSON, for the job queue.
    static func encode(_ run: ComparisonRun) throws -> [String: Any] {
        var out: [String: Any] = ["variant": run.variant, "seed": run.seed, "result": try JobQueue.json(run.result)]
        if let d = run.deployment { out["deployment"] = d.json }
        return out
    }

    /// `encode` read back.
    static func decode(_ object: [String: Any], index: Int, total: Int) throws -> ComparisonRun {
        guard let variant = object["variant"] as? String, var result = object["result"] as? [String: Any] else {
            throw ExperimentError("\(object["job_file"] as? String ?? "a comparison job"): no variant or run in the job's result")
        }
        result["job_file"] = object["job_file"]
        let seed = (object["seed"] as? NSNumber)?.uint64Value ?? 0
        return ComparisonRun(variant: variant, seed: seed, result: try JobQueue.result(result), index: index, total: total,
                             deployment: DeploymentCost(json: object["deployment"] as? [String: Any]))
    }

    /// The compressed versions of a finished run (`compare.compress`), as rows labelled
    /// `<variant> · <compression>`, and the source's own deployment cost.
    static func compress(_ result: RunResult, variant: String, seed: UInt64, specs: [CompressionSpec], progress: FusionTraining.Progress) throws
        -> (source: DeploymentCost?, runs: [ComparisonRun]) {
        var source: DeploymentCost?
        var runs: [ComparisonRun] = []
        for spec in specs {
            let o = try Compression.apply(spec, run: result.directory, progress: progress)
            source = source ?? o.sourceDeployment
            if o.sparsity != nil { source?.sparsity = 0 }
            let test = RunResult(directory: o.run, test: o.metrics, bestValidation: .nan, bestEpoch: 0, parameters: o.parameters,
                                 trainSeconds: o.trainSeconds, history: [])
            runs.append(ComparisonRun(variant: "\(variant) · \(o.label)", seed: seed, result: test, deployment: o.deployment))
        }
        return (source, runs)
    }

    static func slug(_ label: String) -> String {
        safeFileName(label)
    }

    /// The report rows of finished runs.
    static func entries(_ runs: [ComparisonRun]) -> [ComparisonEntry] {
        runs.map { ComparisonEntry(variant: $0.variant, seed: $0.seed, test: $0.result.test, parameters: $0.result.parameters,
                                   trainSeconds: $0.result.trainSeconds, bestEpoch: $0.result.bestEpoch, directory: $0.result.directory,
                                   deployment: $0.deployment) }
    }

    /// Writes comparison.csv, comparison.md and comparison.json (after every run, so a finished
    /// result is never lost) and returns the Markdown table; the `final` write adds the
    /// statistics (`ComparisonStatistics`) from each run's predictions.csv.
    @discardableResult
    static func writeFiles(_ runs: [ComparisonRun], metrics: [String], to directory: String, final: Bool = false,
                           progress: FusionTraining.Progress? = nil) throws -> String {
        guard final else { return try ComparisonReport.write(entries(runs), metrics: metrics, to: directory) }
        let outcomes = runs.map { run -> ComparisonStatistics.Run in
            let path = run.result.directory + "/" + RunFile.predictions
            var read: TestOutcomes?
            do { read = try TestOutcomes.read(predictionsCSV: path) } catch { progress?.log("compare: no statistics for \(run.variant) seed \(run.seed): \(error)") }
            return ComparisonStatistics.Run(variant: run.variant, seed: run.seed, outcomes: read)
        }
        let baselines = Set(runs.map(\.variant).filter { $0.hasPrefix("unimodal:") })
        let statistics = ComparisonStatistics.analyze(outcomes, metrics: metrics, baselines: baselines)
        return try ComparisonReport.write(entries(runs), metrics: metrics, to: directory, statistics: statistics)
    }

    /// Mean ± std per variant, in first-appearance order, with the best (first metric) marked.
    public static func summarize(_ runs: [ComparisonRun], metrics: [String]) -> [ComparisonRow] {
        ComparisonReport.summarize(entries(runs), metrics: metrics)
    }
}
