import FusionCore
import Foundation

/// Everything a notebook about one run needs.
public struct RunSummary {
    /// The run's display name (experiment name, variant, seed…).
    public var name: String
    /// The run directory, holding history.csv and predictions.csv.
    public var runDirectory: String
    /// The resolved configuration, pretty-printed JSON.
    public var configJSON: String
    /// Key/value lines describing the dataset (name, samples per split, classes, modalities).
    public var datasetSummary: [(String, String)]
    /// One dictionary per epoch: "epoch", "train_loss", "val_loss", "val_accuracy", "val_f1_macro", …
    public var history: [[String: Double]]
    /// Final test metrics.
    public var metrics: ClassificationMetrics
    /// Where the notebook's code cells read the run's files (copies beside the notebook when
    /// exported, so it runs anywhere); the run directory itself by default.
    public var filesDirectory: String?
    /// For a run made by `fusionlab update`: one row per run from the first ancestor to this
    /// one (step, run folder, data, test accuracy, accuracy on its parent's test split, forgetting).
    public var lineage: [[String]] = []
    /// metrics.json's calibration block, when the run has one.
    public var calibration: Calibration?
    /// metrics.json's conformal block, when the run has one.
    public var conformal: ConformalSets?
    /// `fusionlab explain`'s figure and summary line, when the run was explained.
    public var attribution: (svg: String, summary: String)?
    /// The tested split's labels and class probabilities (predictions.csv), for ROC and PR curves.
    public var predictions: (labels: [Int], probabilities: [[Double]])?
    /// Test samples the model gets wrong, as HTML table rows (thumbnail, caption, audio player).
    public var gallery: [String] = []

    /// A run summary.
    public init(name: String, runDirectory: String, configJSON: String, datasetSummary: [(String, String)],
                history: [[String: Double]], metrics: ClassificationMetrics) {
        self.name = name
        self.runDirectory = runDirectory
        self.configJSON = configJSON
        self.datasetSummary = datasetSummary
        self.history = history
        self.metrics = metrics
    }
}

/// One line of a comparison: a variant's metrics over its runs (seeds).
public struct ComparisonRow {
    /// Variant label (e.g. "fusion=concat", "text only").
    public var variant: String
    /// Mean and standard deviation over the runs, by metric name ("f1_macro", …).
    public var values: [String: (mean: Double, std: Double)]
    /// Trainable parameter count.
    public var parameters: Int
    /// Mean training time per run, in seconds.
    public var trainSeconds: Double
    /// Number of runs (seeds) aggregated.
    public var runs: Int
    /// Whether this variant is the best on the comparison's primary metric.
    public var isBest: Bool
    /// What deploying it costs (mean over its runs), when the comparison measured it.
    public var deployment: DeploymentCost?
    /// 95 % intervals by metric, the verdict (`best`, `tied_for_best`, `worse`) and the
    /// Holm-adjusted p-values against the best variant and the best unimodal baseline, when the
    /// comparison has statistics.
    public var interval: [String: (low: Double, high: Double)] = [:]
    /// See `interval`.
    public var verdict: String?, pVersusBest: Double?, pVersusBaseline: Double?

    /// A comparison row.
    public init(variant: String, values: [String: (mean: Double, std: Double)], parameters: Int, trainSeconds: Double,
                runs: Int, isBest: Bool, deployment: DeploymentCost? = nil) {
        self.variant = variant
        self.values = values
        self.parameters = parameters
        self.trainSeconds = trainSeconds
        self.runs = runs
        self.isBest = isBest
        self.deployment = deployment
    }
}

/// What deploying a model costs: the parameters that are not zero, its checkpoint's bytes and
/// its inference speed (forward passes over batches of 256 test samples), with the sparsity it
/// was pruned to, if any.
public struct DeploymentCost: Sendable, Equatable {
    /// Parameter values that are not zero.
    public var nonzeroParameters: Int
    /// Checkpoint size in bytes.
    public var fileBytes: Int
    /// Inference samples per second.
    public var samplesPerSecond: Double
    /// The pruning sparsity, for pruned models.
    public var sparsity: Double?

    /// A cost.
    public init(nonzeroParameters: Int, fileBytes: Int, samplesPerSecond: Double, sparsity: Double? = nil) {
        self.nonzeroParameters = nonzeroParameters
        self.fileBytes = fileBytes
        self.samplesPerSecond = samplesPerSecond
        self.sparsity = sparsity
    }

    /// The mean of several runs' costs (nil when there are none).
    public static func mean(_ costs: [DeploymentCost]) -> DeploymentCost? {
        guard let first = costs.first else { return nil }
        let n = Double(costs.count)
        return DeploymentCost(nonzeroParameters: Int((Double(costs.map(\.nonzeroParameters).reduce(0, +)) / n).rounded()),
                              fileBytes: Int((Double(costs.map(\.fileBytes).reduce(0, +)) / n).rounded()),
                              samplesPerSecond: costs.map(\.samplesPerSecond).reduce(0, +) / n, sparsity: first.sparsity)
    }

    /// The JSON form (comparison.json).
    public var json: [String: Any] {
        var out: [String: Any] = ["nonzero_parameters": nonzeroParameters, "file_bytes": fileBytes, "samples_per_second": samplesPerSecond]
        if let sparsity { out["sparsity"] = sparsity }
        return out
    }

    /// Reads the JSON form back.
    public init?(json: [String: Any]?) {
        guard let json, let n = json["nonzero_parameters"] as? Int, let b = json["file_bytes"] as? Int,
              let s = json["samples_per_second"] as? Double else { return nil }
        self.init(nonzeroParameters: n, fileBytes: b, samplesPerSecond: s, sparsity: json["sparsity"] as? Double)
    }
}

/// Builds Jupyter notebooks (nbformat 4.5) about runs and comparisons: Markdown summaries and
/// metric tables, figures embedded as SVG `display_data` outputs (shown without a kernel), and
/// pandas cells that reload the run's CSV files.
///
/// Paths in the pandas cells are written relative to `notebookDirectory` when it is given (the
/// folder the notebook will be saved in, so the notebook runs from there), else as given.
public enum NotebookExporter {
    /// A notebook about one run.
    public static func runNotebook(_ run: RunSummary, notebookDirectory: String? = nil, robustness: RobustnessFigures? = nil) -> [String: Any] {
        var cells = NotebookBuilder()
        cells.markdown("# Run: \(markdownEscape(run.name))\n\nRun directory: `\(run.runDirectory)`\n\n"
            + headline(run.metrics) + "\n\n" + requirements(run.filesDirectory, notebookDirectory)
            + "\n\n## Dataset\n\n" + datasetList(run.datasetSummary))
        cells.markdown(configSection(run.configJSON))
        addRunBody(run, to: &cells, headingLevel: "##")
        if !run.lineage.isEmpty {
            cells.markdown("## Lineage (`fusionlab update`)\n\nEach run continued the one above it on new data; forgetting is the "
                + "parent's accuracy on its own test split minus the updated model's.\n\n"
                + markdownTable(header: ["step", "run", "trained on", "test accuracy", "on the parent's test split", "forgetting"],
                                rows: run.lineage.map { $0.map(markdownEscape) }))
        }
        if let robustness { addRobustness(robustness, to: &cells) }
        cells.markdown("## Further analysis\n\nThe cells below reload this run's files with pandas; "
            + "run them in this notebook's folder.")
        cells.code(NotebookPython.runSetup(runDirectory: relativePath(to: run.filesDirectory ?? run.runDirectory, from: notebookDirectory)))
        cells.code(NotebookPython.loadHistory)
        cells.code(NotebookPython.plotHistory)
        cells.code(NotebookPython.loadPredictions)
        return cells.notebook(fusionlab: ["kind": "run", "name": run.name, "run_directory": run.runDirectory])
    }

    /// A notebook comparing variants: the table of mean ± std per metric (best marked), bar
    /// charts of each metric in `metricNames` (the first is the primary one), then a section
    /// per run in `runs` (typically one representative run per variant).
    public static func comparisonNotebook(title: String, directory: String, rows: [ComparisonRow], metricNames: [String],
                                          runs: [RunSummary], notebookDirectory: String? = nil, filesDirectory: String? = nil,
                                          robustness: RobustnessFigures? = nil, statisticsNote: String? = nil,
                                          tables: [(title: String, header: [String], rows: [[String]])] = []) -> [String: Any] {
        var cells = NotebookBuilder()
        var intro = "# Comparison: \(markdownEscape(title))\n\nComparison directory: `\(directory)`\n\n"
            + requirements(filesDirectory, notebookDirectory) + "\n\n"
        intro += "\(rows.count) variants, \(rows.map(\.runs).reduce(0, +)) runs."
        if let best = rows.first(where: \.isBest), let primary = metricNames.first {
            intro += " Best on \(markdownEscape(primary)): **\(markdownEscape(best.variant))**"
            if let value = best.values[primary] { intro += " (\(metricText(value.mean)) ± \(metricText(value.std)))" }
            intro += "."
        }
        cells.markdown(intro)
        let tested = rows.contains { $0.verdict != nil }
        cells.markdown("## Results (mean ± std over runs)\n\n" + comparisonTable(rows, metricNames: metricNames)
            + (tested ? "\n\n★ marks a best variant that beats every other at Holm-adjusted p < 0.05; ≈ marks the variants tied with the best. "
                + (statisticsNote ?? "") : "\n\n★ marks the best variant (no statistics: compare again to add intervals and tests)."))
        for table in tables {
            cells.markdown("## \(table.title)\n\n" + markdownTable(header: table.header.map(markdownEscape), rows: table.rows.map { $0.map(markdownEscape) }))
        }
        let charts = metricNames.map { metric in
            (title: "\(metric) per variant", svg: SVGCharts.barChart(
                title: "\(metric) (mean; \(tested ? "95 % bootstrap interval" : "± std"))", yLabel: metric,
                bars: rows.map { row in
                    let value = row.values[metric]
                    return SVGCharts.Bar(label: row.variant, value: value?.mean ?? .nan, error: value?.std ?? 0,
                                         highlighted: tested ? row.verdict == "best" : row.isBest, interval: row.interval[metric])
                }))
        }
        var deploymentCharts: [(title: String, svg: String)] = []
        let costed = rows.filter { $0.deployment != nil }
        if !costed.isEmpty {
            deploymentCharts.append((title: "inference speed per variant", svg: SVGCharts.barChart(
                title: "inference samples/s (batch 256)", yLabel: "samples/s",
                bars: costed.map { SVGCharts.Bar(label: $0.variant, value: $0.deployment?.samplesPerSecond ?? .nan, error: 0, highlighted: $0.isBest) })))
            deploymentCharts.append((title: "checkpoint size per variant", svg: SVGCharts.barChart(
                title: "checkpoint size (KiB)", yLabel: "KiB",
                bars: costed.map { SVGCharts.Bar(label: $0.variant, value: Double($0.deployment?.fileBytes ?? 0) / 1024, error: 0, highlighted: $0.isBest) })))
        }
        // Pruned rows: the accuracy-vs-sparsity curve of each pruning method.
        if let primary = metricNames.first {
            var curves: [String: [(Double, Double)]] = [:]
            var unpruned: [(Double, Double)] = []
            for row in rows {
                guard let sparsity = row.deployment?.sparsity, let value = row.values[primary] else { continue }
                if sparsity == 0 && !row.variant.contains("magnitude") && !row.variant.contains("channels") { unpruned.append((0, value.mean)); continue }
                let method = row.variant.contains("channels") ? "channels" : "magnitude"
                curves[method, default: []].append((sparsity, value.mean))
            }
            for key in curves.keys { curves[key]?.append(contentsOf: unpruned) }
            if curves.values.contains(where: { $0.count >= 2 }) {
                let series = curves.keys.sorted().compactMap { key -> SVGCharts.Series? in
                    guard let points = curves[key]?.sorted(by: { $0.0 < $1.0 }) else { return nil }
                    return SVGCharts.Series(name: key, points: points.map { (x: $0.0, y: $0.1) })
                }
                deploymentCharts.append((title: "\(primary) vs sparsity", svg: SVGCharts.lineChart(
                    title: "test \(primary) vs sparsity", xLabel: "sparsity", yLabel: primary, series: series)))
            }
        }
        if !charts.isEmpty || !deploymentCharts.isEmpty {
            cells.figures(note: "embedded; the code cells at the end redraw it from comparison.csv", charts + deploymentCharts)
        }
        if let robustness { addRobustness(robustness, to: &cells) }
        for run in runs {
            cells.markdown("## Run: \(markdownEscape(run.name))\n\nRun directory: `\(run.runDirectory)`. One seed of this variant "
                + "(the tables above hold every seed).\n\n" + headline(run.metrics))
            addRunBody(run, to: &cells, headingLevel: "###")
        }
        cells.markdown("## Further analysis\n\nThe cells below reload the comparison with pandas; "
            + "run them in this notebook's folder.")
        cells.code(NotebookPython.comparisonSetup(
            directory: relativePath(to: filesDirectory ?? directory, from: notebookDirectory),
            runDirectories: runs.map { ($0.name, relativePath(to: $0.filesDirectory ?? $0.runDirectory, from: notebookDirectory)) },
            metric: metricNames.first ?? "accuracy"))
        cells.code(NotebookPython.plotComparison)
        if !runs.isEmpty { cells.code(NotebookPython.plotRunHistories) }
        return cells.notebook(fusionlab: ["kind": "comparison", "name": title, "directory": directory,
                                          "metrics": metricNames])
    }

    /// The robustness section: the summary table and one accuracy-vs-noise chart per modality.
    static func addRobustness(_ r: RobustnessFigures, to cells: inout NotebookBuilder) {
        cells.markdown("## Robustness (`fusionlab robustness`, MultiBench's protocol)\n\nRelative robustness: the area under "
            + "accuracy vs noise level (0–1). Effective robustness: the mean gap to late fusion's curve once it is shifted to "
            + "the variant's clean accuracy (robustness.json names each corruption).\n\n"
            + markdownTable(header: r.header.map(markdownEscape), rows: r.rows.map { $0.map(markdownEscape) }))
        let charts = r.curves.map { curve in
            (title: "accuracy vs \(curve.modality) noise", svg: SVGCharts.lineChart(
                title: "test accuracy vs \(curve.modality) noise", xLabel: "\(curve.modality) noise level", yLabel: "accuracy",
                series: curve.series, integerX: false))
        }
        if !charts.isEmpty { cells.figures(note: "embedded from robustness.json", charts) }
    }

    /// Writes a notebook atomically as Jupyter does (sorted keys, 1-space indent, UTF-8).
    public static func write(_ notebook: [String: Any], to path: String) throws {
        try writeTextAtomically(try NotebookJSON.serialize(notebook, file: path), to: path)
    }

    // MARK: - Sections

    /// Metric tables, confusion matrix and the figure cell of one run.
    private static func addRunBody(_ run: RunSummary, to cells: inout NotebookBuilder, headingLevel: String) {
        let m = run.metrics
        cells.markdown("\(headingLevel) Test metrics\n\n" + summaryTable(m) + "\n\n"
            + "\(headingLevel)# Per class\n\n" + perClassTable(m) + "\n\n"
            + "\(headingLevel)# Confusion matrix (rows: true, columns: predicted)\n\n" + confusionTable(m))
        var figures: [(title: String, svg: String)] = []
        let epochs = run.history.map { $0["epoch"] ?? .nan }
        let columns = Set(run.history.flatMap(\.keys)).subtracting(["epoch"]).sorted(by: historyOrder)
        let lossColumns = columns.filter { $0.hasSuffix("loss") }
        let metricColumns = columns.filter { !$0.hasSuffix("loss") && ($0.hasPrefix("train_") || $0.hasPrefix("val_")) }
        func series(_ names: [String]) -> [SVGCharts.Series] {
            names.map { name in
                SVGCharts.Series(name: name, points: zip(epochs, run.history).map { ($0, $1[name] ?? .nan) })
            }
        }
        figures.append(("learning curves: loss", SVGCharts.lineChart(
            title: "Loss per epoch", xLabel: "epoch", yLabel: "loss", series: series(lossColumns))))
        if !metricColumns.isEmpty {
            figures.append(("learning curves: metrics", SVGCharts.lineChart(
                title: "Metrics per epoch", xLabel: "epoch", yLabel: "value", series: series(metricColumns))))
        }
        figures.append(("confusion matrix", SVGCharts.confusionMatrix(m.confusionMatrix, classNames: m.classNames)))
        figures.append(("confusion matrix, normalised", SVGCharts.confusionMatrix(
            m.confusionMatrix.map { row in let n = max(row.reduce(0, +), 1); return row.map { Int((100 * Double($0) / Double(n)).rounded()) } },
            classNames: m.classNames, title: "Confusion matrix (% of each true class)")))
        if let c = run.calibration {
            figures.append(("reliability diagram", SVGCharts.reliabilityDiagram(
                c.reliability.map { ($0.confidence, $0.accuracy, $0.count) },
                title: String(format: "Reliability (ECE %.3f; %.3f at T = %.2f)", c.ece, c.eceAfterScaling, c.temperature))))
        }
        if let a = run.attribution { figures.append(("modality attribution", a.svg)) }
        if let p = run.predictions, !p.labels.isEmpty {
            for pr in [false, true] {
                let series = Curves.series(probabilities: p.probabilities, labels: p.labels, classNames: m.classNames, precisionRecall: pr)
                guard !series.isEmpty else { continue }
                figures.append((pr ? "precision-recall curves" : "ROC curves", SVGCharts.lineChart(
                    title: pr ? "Precision–recall, one class against the rest" : "ROC, one class against the rest",
                    xLabel: pr ? "recall" : "false-positive rate", yLabel: pr ? "precision" : "true-positive rate", series: series, integerX: false)))
            }
        }
        cells.figures(note: "embedded; the code cells at the end redraw it from history.csv and predictions.csv", figures)
        if let c = run.calibration {
            var text = "\(headingLevel)# Calibration\n\n" + markdownTable(header: ["", "ECE (15 bins)", "MCE", "Brier"], rows: [
                ["as trained", metricText(c.ece), metricText(c.mce), metricText(c.brier)],
                ["temperature \(String(format: "%.3f", c.temperature)) (fitted on \(c.temperatureFittedOn))", metricText(c.eceAfterScaling), "–",
                 metricText(c.brierAfterScaling)],
            ])
            if let k = run.conformal {
                text += String(format: "\n\nConformal sets (α %.2f, calibrated on %d %@ samples): coverage %.3f, mean set size %.2f.",
                               k.alpha, k.calibrationSamples, k.calibrationSplit, k.coverage, k.meanSetSize)
            }
            cells.markdown(text)
        }
        if let a = run.attribution { cells.markdown("\(headingLevel)# What each modality contributes\n\n" + a.summary) }
        if !run.gallery.isEmpty {
            cells.markdown("\(headingLevel)# Test samples the model gets wrong\n\n<table><tr><th>sample</th><th>true</th><th>predicted</th>"
                + "<th>image</th><th>caption</th><th>audio</th></tr>" + run.gallery.joined() + "</table>")
        }
    }

    /// What re-running the code cells needs, named in the first cell.
    static func requirements(_ files: String?, _ notebookDirectory: String?) -> String {
        let data = files.map { "`\(relativePath(to: $0, from: notebookDirectory))`" } ?? "the run folders"
        return "**To re-run the code cells** (Run All keeps every figure: they are images in Markdown cells): "
            + "Python 3 with `pandas` and `matplotlib` (`scikit-learn` for the classification report, optional), "
            + "started in this notebook's folder; they read the CSV files in \(data)."
    }

    /// Loss columns first (train before val), then the rest alphabetically.
    private static func historyOrder(_ a: String, _ b: String) -> Bool {
        func rank(_ s: String) -> Int { s == "train_loss" ? 0 : s == "val_loss" ? 1 : s.hasPrefix("train_") ? 2 : 3 }
        return (rank(a), a) < (rank(b), b)
    }

    private static func headline(_ m: ClassificationMetrics) -> String {
        "Test accuracy **\(metricText(m.accuracy))**, macro F1 **\(metricText(m.f1Macro))**, "
            + "weighted F1 **\(metricText(m.f1Weighted))** on \(m.samples) samples."
    }

    private static func datasetList(_ summary: [(String, String)]) -> String {
        guard !summary.isEmpty else { return "_No dataset summary._" }
        return summary.map { "- **\(markdownEscape($0.0))**: \(markdownEscape($0.1))" }.joined(separator: "\n")
    }

    private static func configSection(_ json: String) -> String {
        let fence = json.contains("```") ? "~~~~" : "```"
        return "<details>\n<summary>Resolved configuration</summary>\n\n\(fence)json\n\(json)\n\(fence)\n\n</details>"
    }

    static func summaryTable(_ m: ClassificationMetrics) -> String {
        var text = markdownTable(header: ["average", "precision", "recall", "F1"], rows: [
            ["macro", metricText(m.precisionMacro), metricText(m.recallMacro), metricText(m.f1Macro)],
            ["micro", metricText(m.precisionMicro), metricText(m.recallMicro), metricText(m.f1Micro)],
            ["weighted", metricText(m.precisionWeighted), metricText(m.recallWeighted), metricText(m.f1Weighted)],
        ])
        text += "\n\n" + markdownTable(header: ["metric", "value"], rows: [
            ["accuracy", metricText(m.accuracy)],
            ["ROC-AUC (macro, one-vs-rest)", metricText(m.rocAucMacro)],
            ["log loss", metricText(m.logLoss)],
            ["samples", "\(m.samples)"],
        ])
        return text
    }

    static func perClassTable(_ m: ClassificationMetrics) -> String {
        markdownTable(header: ["class", "precision", "recall", "F1", "support", "ROC-AUC"], rows: m.perClass.map {
            [markdownEscape($0.name), metricText($0.precision), metricText($0.recall), metricText($0.f1), "\($0.support)",
             metricText($0.rocAuc)]
        })
    }

    static func confusionTable(_ m: ClassificationMetrics) -> String {
        let names = m.classNames.map(markdownEscape)
        return markdownTable(header: ["true \\\\ predicted"] + names, rows: m.confusionMatrix.enumerated().map { row in
            [names.indices.contains(row.offset) ? "**\(names[row.offset])**" : "\(row.offset)"] + row.element.map { "\($0)" }
        })
    }

    static func comparisonTable(_ rows: [ComparisonRow], metricNames: [String]) -> String {
        let costs = rows.contains { $0.deployment != nil }
        let tested = rows.contains { $0.verdict != nil }
        func p(_ v: Double?) -> String { v.map { $0 < 0.001 ? "<0.001" : String(format: "%.3f", $0) } ?? "–" }
        return markdownTable(
            header: ["variant"] + metricNames.map { markdownEscape($0) + (tested ? " [95 % CI]" : "") }
                + (tested ? ["p vs best (Holm)", "p vs best unimodal (Holm)"] : []) + ["parameters", "train time (s)", "runs"]
                + (costs ? ["non-zero parameters", "file (KiB)", "samples/s"] : []),
            rows: rows.map { row in
                let name = markdownEscape(row.variant)
                let starred = tested ? row.verdict == "best" : row.isBest
                let mark = starred ? "**\(name)** ★" : (row.verdict == "tied_for_best" ? "\(name) ≈" : name)
                return [mark]
                    + metricNames.map { metric in
                        guard let value = row.values[metric] else { return "–" }
                        var text = "\(metricText(value.mean)) ± \(metricText(value.std))"
                        if let i = row.interval[metric] { text += " [\(metricText(i.low)), \(metricText(i.high))]" }
                        return starred ? "**\(text)**" : text
                    }
                    + (tested ? [p(row.pVersusBest), p(row.pVersusBaseline)] : [])
                    + [groupedThousands(row.parameters), String(format: "%.1f", row.trainSeconds), "\(row.runs)"]
                    + (costs ? row.deployment.map { [groupedThousands($0.nonzeroParameters), String(format: "%.1f", Double($0.fileBytes) / 1024),
                                                     String(format: "%.0f", $0.samplesPerSecond)] } ?? ["–", "–", "–"] : [])
            })
    }

    private static func groupedThousands(_ n: Int) -> String {
        let digits = String(abs(n))
        var groups: [Substring] = []
        var end = digits.endIndex
        while end > digits.startIndex {
            let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
            groups.insert(digits[start..<end], at: 0)
            end = start
        }
        return (n < 0 ? "-" : "") + groups.joined(separator: ",")
    }
}
