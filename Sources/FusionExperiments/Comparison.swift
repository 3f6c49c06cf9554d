import Foundation
import FusionData

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
    public static func run(_ loaded: ConfigLoader.Loaded, runsRoot: String = "runs", progress: Progress,
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
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let directory = "\(runsRoot)/\(base.name)/compare-\(stamp)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var finished: [ComparisonRun] = []
        let total = all.count * base.compare.seeds.count, started = Date()
        for variant in all {
            for seed in base.compare.seeds {
                var tree = applying(variant.settings, to: loaded.tree)
                tree["seed"] = seed
                tree["name"] = slug(variant.label) + "-s\(seed)"
                let config = try ConfigLoader.decode(tree, defaultSource: loaded.path)
                progress.log("compare \(finished.count + 1)/\(total): \(variant.label), seed \(seed)")
                let result = try ExperimentRunner.run(config, runsRoot: directory + "/runs", progress: progress)
                let remaining = Date().timeIntervalSince(started) / Double(finished.count + 1) * Double(total - finished.count - 1)
                finished.append(ComparisonRun(variant: variant.label, seed: seed, result: result, index: finished.count + 1,
                                              total: total, remaining: remaining))
                report(finished[finished.count - 1])
                try writeFiles(finished, metrics: base.evaluation.metrics.map(\.rawValue), to: directory)
            }
        }
        let table = try writeFiles(finished, metrics: base.evaluation.metrics.map(\.rawValue), to: directory)
        return (directory, finished, table)
    }

    static func slug(_ label: String) -> String {
        safeFileName(label)
    }

    /// Writes comparison.csv and comparison.md (after every run, so a finished result is never
    /// lost) and returns the Markdown table.
    @discardableResult
    static func writeFiles(_ runs: [ComparisonRun], metrics: [String], to directory: String) throws -> String {
        var csv = "variant,seed," + metrics.joined(separator: ",") + ",parameters,train_seconds,best_epoch,run_dir\n"
        for r in runs {
            let values = metrics.map { String(format: "%.6f", r.result.test.value(named: $0) ?? .nan) }
            csv += "\"\(r.variant)\",\(r.seed)," + values.joined(separator: ",")
                + ",\(r.result.parameters),\(String(format: "%.2f", r.result.trainSeconds)),\(r.result.bestEpoch),\(r.result.directory)\n"
        }
        try writeTextAtomically(csv, to: directory + "/comparison.csv")
        let rows = summarize(runs, metrics: metrics)
        var md = "| variant | " + metrics.map { "test \($0)" }.joined(separator: " | ") + " | parameters | train s | runs |\n"
        md += "|---|" + metrics.map { _ in "---|" }.joined() + "---|---|---|\n"
        for row in rows {
            let cells = metrics.map { m -> String in
                guard let v = row.values[m] else { return "–" }
                let text = String(format: "%.3f ± %.3f", v.mean, v.std)
                return row.isBest && m == metrics.first ? "**\(text)** ★" : text
            }
            md += "| \(row.variant) | " + cells.joined(separator: " | ")
                + " | \(row.parameters) | \(String(format: "%.1f", row.trainSeconds)) | \(row.runs) |\n"
        }
        try writeTextAtomically(md, to: directory + "/comparison.md")
        // The summary the notebook exporter reads back.
        var representative: [String: String] = [:]
        for r in runs where representative[r.variant] == nil { representative[r.variant] = r.result.directory }
        let summary: [String: Any] = [
            "metrics": metrics,
            "rows": rows.map { row -> [String: Any] in
                ["variant": row.variant, "parameters": row.parameters, "train_seconds": row.trainSeconds, "runs": row.runs,
                 "best": row.isBest, "run_dir": representative[row.variant] ?? "",
                 "values": row.values.mapValues { ["mean": $0.mean, "std": $0.std] }]
            },
        ]
        try writeFileAtomically(try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys]),
                                to: directory + "/comparison.json")
        return md
    }

    /// Mean ± std per variant, in first-appearance order, with the best (first metric) marked.
    public static func summarize(_ runs: [ComparisonRun], metrics: [String]) -> [ComparisonRow] {
        var order: [String] = []
        var groups: [String: [ComparisonRun]] = [:]
        for r in runs {
            if groups[r.variant] == nil { order.append(r.variant) }
            groups[r.variant, default: []].append(r)
        }
        var rows = order.map { variant -> ComparisonRow in
            let group = groups[variant] ?? []
            var values: [String: (mean: Double, std: Double)] = [:]
            for m in metrics {
                let xs = group.compactMap { $0.result.test.value(named: m) }
                guard !xs.isEmpty else { continue }
                let mean = xs.reduce(0, +) / Double(xs.count)
                let variance = xs.count > 1 ? xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count - 1) : 0
                values[m] = (mean, variance.squareRoot())
            }
            let seconds = group.map { $0.result.trainSeconds }.reduce(0, +) / Double(max(group.count, 1))
            return ComparisonRow(variant: variant, values: values, parameters: group.first?.result.parameters ?? 0,
                                 trainSeconds: seconds, runs: group.count, isBest: false)
        }
        if let first = metrics.first {
            let lowerIsBetter = first == "loss" || first == "log_loss"
            let scores = rows.map { $0.values[first]?.mean ?? (lowerIsBetter ? .infinity : -.infinity) }
            if let best = (lowerIsBetter ? scores.min() : scores.max()), let i = scores.firstIndex(of: best) { rows[i].isBest = true }
        }
        return rows
    }
}
