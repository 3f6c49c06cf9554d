import FusionCore
import Foundation

/// One finished run of a comparison, as its report reads it.
public struct ComparisonEntry: Sendable {
    /// The variant's label and the run's seed.
    public var variant: String, seed: UInt64
    /// Test metrics.
    public var test: ClassificationMetrics
    /// Parameters, training time in seconds, the selected epoch and the run's folder.
    public var parameters: Int, trainSeconds: Double, bestEpoch: Int, directory: String
    /// What deploying the model costs, when it was measured (comparisons with compression).
    public var deployment: DeploymentCost?

    /// An entry.
    public init(variant: String, seed: UInt64, test: ClassificationMetrics, parameters: Int, trainSeconds: Double, bestEpoch: Int,
                directory: String, deployment: DeploymentCost? = nil) {
        (self.variant, self.seed, self.test, self.parameters) = (variant, seed, test, parameters)
        (self.trainSeconds, self.bestEpoch, self.directory, self.deployment) = (trainSeconds, bestEpoch, directory, deployment)
    }
}

/// A comparison's files: comparison.csv (every run), comparison.md (mean ± std per variant, the
/// best marked) and comparison.json (what the notebook exporter reads back).
public enum ComparisonReport {
    /// Writes comparison.csv, comparison.md and comparison.json (after every run, so a finished
    /// result is never lost) and returns the Markdown table. `statistics` (the last write of a
    /// comparison) adds 95 % intervals, paired tests and the significance-aware ★.
    @discardableResult
    public static func write(_ runs: [ComparisonEntry], metrics: [String], to directory: String,
                             statistics: [VariantStatistics]? = nil) throws -> String {
        let costs = runs.contains { $0.deployment != nil }
        var csv = "variant,seed," + metrics.joined(separator: ",") + ",parameters,train_seconds,best_epoch,run_dir"
            + (costs ? ",nonzero_parameters,file_bytes,samples_per_second,sparsity" : "") + "\n"
        for r in runs {
            let values = metrics.map { String(format: "%.6f", r.test.value(named: $0) ?? .nan) }
            csv += "\"\(r.variant)\",\(r.seed)," + values.joined(separator: ",")
                + ",\(r.parameters),\(String(format: "%.2f", r.trainSeconds)),\(r.bestEpoch),\(r.directory)"
            if costs {
                let d = r.deployment
                csv += "," + [d.map { "\($0.nonzeroParameters)" }, d.map { "\($0.fileBytes)" }, d.map { String(format: "%.1f", $0.samplesPerSecond) },
                              d?.sparsity.map { "\($0)" }].map { $0 ?? "" }.joined(separator: ",")
            }
            csv += "\n"
        }
        try writeTextAtomically(csv, to: directory + "/comparison.csv")
        let rows = summarize(runs, metrics: metrics)
        let stats = Dictionary((statistics ?? []).map { ($0.variant, $0) }, uniquingKeysWith: { a, _ in a })
        let seeds = Set(runs.map(\.seed)).count
        let tested = statistics != nil
        var md = "| variant | " + metrics.map { "test \($0)" + (tested ? " [95 % CI]" : "") }.joined(separator: " | ")
            + (tested ? " | p vs best (Holm) | p vs best unimodal (Holm)" : "") + " | parameters | train s | runs |"
            + (costs ? " non-zero parameters | file KiB | samples/s |" : "") + "\n"
        md += "|---|" + metrics.map { _ in "---|" }.joined() + (tested ? "---|---|" : "") + "---|---|---|" + (costs ? "---|---|---|" : "") + "\n"
        func p(_ t: PairedTest?) -> String {
            guard let t else { return "–" }
            return t.adjusted < 0.001 ? "<0.001" : String(format: "%.3f", t.adjusted)
        }
        for row in rows {
            let s = stats[row.variant]
            let cells = metrics.map { m -> String in
                guard let v = row.values[m] else { return "–" }
                var text = String(format: "%.3f ± %.3f", v.mean, v.std)
                if let i = s?.intervals[m] { text += String(format: " [%.3f, %.3f]", i.low, i.high) }
                guard m == metrics.first, let verdict = s?.verdict else { return text }
                switch verdict {
                case .best: return "**\(text)** ★"
                case .tiedForBest: return "\(text) ≈"
                case .worse: return text
                }
            }
            md += "| \(row.variant) | " + cells.joined(separator: " | ")
            if tested { md += " | \(p(s?.versusBest)) | \(p(s?.versusBaseline))" }
            md += " | \(row.parameters) | \(String(format: "%.1f", row.trainSeconds)) | \(row.runs) |"
            if costs {
                md += row.deployment.map { " \($0.nonzeroParameters) | \(String(format: "%.1f", Double($0.fileBytes) / 1024)) | \(String(format: "%.0f", $0.samplesPerSecond)) |" }
                    ?? " – | – | – |"
            }
            md += "\n"
        }
        if tested {
            let first = metrics.first ?? "accuracy"
            let clear = statistics?.contains { $0.verdict == .best } ?? false
            md += "\n" + (clear ? "★: the best \(first), better than every other variant at Holm-adjusted p < 0.05."
                : "≈: no variant beats the others significantly on \(first); the variants marked ≈ are tied with the best (Holm-adjusted p ≥ 0.05).")
            md += " Mean ± standard deviation over seeds; " + ComparisonStatistics.method + "."
            if seeds < 3 { md += " With \(seeds) seed\(seeds == 1 ? "" : "s") (fewer than 3), the intervals ignore seed variance." }
            md += "\n"
        } else if rows.count > 1 {
            md += "\nIntervals and significance tests are added when the comparison has finished.\n"
        }
        try writeTextAtomically(md, to: directory + "/comparison.md")
        // The summary the notebook exporter reads back.
        var representative: [String: String] = [:]
        for r in runs where representative[r.variant] == nil { representative[r.variant] = r.directory }
        var summary: [String: Any] = [
            "metrics": metrics,
            "rows": rows.map { row -> [String: Any] in
                var out: [String: Any] = ["variant": row.variant, "parameters": row.parameters, "train_seconds": row.trainSeconds, "runs": row.runs,
                                          "best": row.isBest, "run_dir": representative[row.variant] ?? "",
                                          "run_dirs": runs.filter { $0.variant == row.variant }.map(\.directory),
                                          "values": row.values.mapValues { ["mean": $0.mean, "std": $0.std] }]
                if let d = row.deployment { out["deployment"] = d.json }
                if let s = stats[row.variant] {
                    out["interval_95"] = s.intervals.mapValues { ["estimate": $0.estimate, "low": $0.low, "high": $0.high] }
                    out["verdict"] = s.verdict.rawValue
                    func test(_ t: PairedTest?) -> Any {
                        t.map { ["against": $0.against, "difference": $0.difference, "p": $0.p, "p_holm": $0.adjusted] as [String: Any] } ?? NSNull()
                    }
                    out["versus_best"] = test(s.versusBest)
                    out["versus_best_unimodal"] = test(s.versusBaseline)
                }
                return out
            },
        ]
        if tested {
            summary["statistics"] = ["method": ComparisonStatistics.method, "seeds": seeds, "seed_variance_included": seeds >= 3,
                                     "test_metric": metrics.first ?? ""] as [String: Any]
        }
        try writeFileAtomically(try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys]),
                                to: directory + "/comparison.json")
        return md
    }

    /// Mean ± std per variant, in first-appearance order, with the best (first metric) marked.
    public static func summarize(_ runs: [ComparisonEntry], metrics: [String]) -> [ComparisonRow] {
        var order: [String] = []
        var groups: [String: [ComparisonEntry]] = [:]
        for r in runs {
            if groups[r.variant] == nil { order.append(r.variant) }
            groups[r.variant, default: []].append(r)
        }
        var rows = order.map { variant -> ComparisonRow in
            let group = groups[variant] ?? []
            var values: [String: (mean: Double, std: Double)] = [:]
            for m in metrics {
                let xs = group.compactMap { $0.test.value(named: m) }
                guard !xs.isEmpty else { continue }
                let mean = xs.reduce(0, +) / Double(xs.count)
                let variance = xs.count > 1 ? xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count - 1) : 0
                values[m] = (mean, variance.squareRoot())
            }
            let seconds = group.map { $0.trainSeconds }.reduce(0, +) / Double(max(group.count, 1))
            return ComparisonRow(variant: variant, values: values, parameters: group.first?.parameters ?? 0,
                                 trainSeconds: seconds, runs: group.count, isBest: false,
                                 deployment: DeploymentCost.mean(group.compactMap(\.deployment)))
        }
        if let first = metrics.first {
            let lowerIsBetter = first == "loss" || first == "log_loss"
            let scores = rows.map { $0.values[first]?.mean ?? (lowerIsBetter ? .infinity : -.infinity) }
            if let best = (lowerIsBetter ? scores.min() : scores.max()), let i = scores.firstIndex(of: best) { rows[i].isBest = true }
        }
        return rows
    }
}
