import FusionCore
import FusionReports
import FusionConfig
import FusionDeploy
import FusionTraining
import Foundation
import FusionMPI
import FusionTensor

/// `fusionlab sweep`: grid or seeded random search over key paths, scored on the validation
/// split; the best configuration is written out as a runnable experiment file.
public enum Sweep {
    /// One trial's outcome.
    public struct Trial {
        /// The settings tried.
        public var variant: Variant
        /// Best validation score of the sweep metric, and the run.
        public var score: Double, result: RunResult
    }

    /// The variants a sweep tries: every combination (grid) or `trials` seeded draws (random).
    public static func variants(_ sweep: SweepConfig, seed: UInt64) -> [Variant] {
        if sweep.method == .grid { return Comparison.variants(sweep.axes) }
        var rng = SeededGenerator.derived(seed: seed, stream: "sweep")
        return (0..<sweep.trials).map { _ in
            var label: [String] = [], settings: [(key: String, value: Any)] = []
            for axis in sweep.axes where !axis.values.isEmpty {
                let value = axis.values[Int(rng.next() % UInt64(axis.values.count))]
                label.append("\(axis.key.split(separator: ".").last ?? "")=\(value)")
                settings.append((axis.key, value.jsonObject))
            }
            return Variant(label: label.joined(separator: ", "), settings: settings)
        }
    }

    /// Runs the sweep of the experiment at `loaded` into `runs/<name>/sweep-<stamp>/`.
    public static func run(_ loaded: ConfigLoader.Loaded, runsRoot: String = "runs", progress: FusionTraining.Progress) throws
        -> (directory: String, trials: [Trial], best: Trial, bestFile: String) {
        let base = loaded.config
        guard !base.sweep.axes.isEmpty else { throw ExperimentError("\(loaded.path): sweep.axes is empty: name the keys to search") }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let make = { try JobQueue.newFolder("\(runsRoot)/\(base.name)/sweep-\(stamp)") }
        // mpirun: whole trials go to the ranks through a queue in a folder rank 0 makes.
        let directory = Distributed.isActive ? try JobQueue.sharedFolder(make) : try make()
        let metric = base.sweep.metric.rawValue, lowerIsBetter = base.sweep.metric.lowerIsBetter
        var trials: [Trial] = []
        let all = variants(base.sweep, seed: base.seed), started = Date()
        func runTrial(_ k: Int, done: Int) throws -> Trial {
            let variant = all[k]
            var tree = Comparison.applying(variant.settings, to: loaded.tree)
            tree = Comparison.applying([("training.early_stopping.metric", metric)], to: tree)
            tree["name"] = "trial\(k)"
            let config = try ConfigLoader.decode(tree, defaultSource: loaded.path)
            let eta = done == 0 ? "" : ", ETA " + durationText(Date().timeIntervalSince(started) / Double(done) * Double(all.count - done))
            progress.log("sweep trial \(k + 1)/\(all.count): \(variant.label)\(eta)")
            let result = try ExperimentRunner.run(config, runsRoot: directory + "/runs", progress: progress)
            return Trial(variant: variant, score: result.bestValidation, result: result)
        }
        if Distributed.isActive {
            var done = 0
            let results = try JobQueue.run(count: all.count, folder: directory, log: progress.log) { k in
                defer { done += 1 }
                let trial = try runTrial(k, done: done)
                return ["score": trial.score.isFinite ? trial.score : NSNull(), "result": try JobQueue.json(trial.result)]
            }
            for (k, object) in results.enumerated() {
                guard let result = object["result"] as? [String: Any] else {
                    throw ExperimentError("\(object["job_file"] as? String ?? "sweep trial \(k)"): no run in the trial's result")
                }
                trials.append(Trial(variant: all[k], score: object["score"] as? Double ?? .nan, result: try JobQueue.result(result)))
            }
            if Distributed.rank == 0 { try writeTable(trials, metric: metric, to: directory) }
        } else {
            for k in all.indices {
                trials.append(try runTrial(k, done: k))
                try writeTable(trials, metric: metric, to: directory)
            }
        }
        if Distributed.rank == 0 {
            try Comparison.writeHParams(trials.map { ($0.variant.settings, base.seed, $0.variant.label, $0.result.directory) },
                                        metrics: ["val/\(metric)", "val/loss"], to: directory)
        }
        guard let best = (lowerIsBetter ? trials.min { $0.score < $1.score } : trials.max { $0.score < $1.score }) else {
            throw ExperimentError("\(loaded.path): the sweep ran no trial")
        }
        var bestTree = Comparison.applying(best.variant.settings, to: loaded.tree)
        bestTree["name"] = base.name + "-best"
        bestTree.removeValue(forKey: "sweep")
        let data = try JSONSerialization.data(withJSONObject: bestTree, options: [.prettyPrinted, .sortedKeys])
        let bestFile = directory + "/best.json"
        if Distributed.rank == 0 { try writeFileAtomically(data, to: bestFile) }
        return (directory, trials, best, bestFile)
    }

    /// sweep.csv: every trial's validation score, never its test score (choosing among trials by
    /// test scores would make the test split a validation split; only the selected one is tested).
    static func writeTable(_ trials: [Trial], metric: String, to directory: String) throws {
        var csv = "trial,settings,val_\(metric),run_dir\n"
        for (k, t) in trials.enumerated() {
            csv += "\(k),\"\(t.variant.label.replacingOccurrences(of: "\"", with: "\"\""))\",\(String(format: "%.6f", t.score)),\(t.result.directory)\n"
        }
        try writeTextAtomically(csv, to: directory + "/sweep.csv")
    }
}
