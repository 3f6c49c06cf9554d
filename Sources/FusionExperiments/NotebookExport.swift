import FusionCore
import FusionReports
import FusionConfig
import FusionDeploy
import FusionTraining
import Foundation
import FusionData

/// Builds notebooks from run and comparison folders on disk.
public enum NotebookExport {
    /// Writes the notebook of a run folder (with config.resolved.json) or a comparison folder
    /// (with comparison.json) into `outputFolder`, returning its path.
    /// `name` replaces the file's default name (`<experiment>-<folder>`); the files its code
    /// cells read go to `<outputFolder>/<name>-data/`.
    public static func export(_ directory: String, outputFolder: String = "notebooks-export", name chosen: String? = nil) throws -> String {
        let fm = FileManager.default
        let folderName = URL(fileURLWithPath: directory).lastPathComponent
        let notebook: [String: Any]
        let name: String
        if fm.fileExists(atPath: directory + "/comparison.json") {
            var (rows, metrics, runs) = try readComparison(directory)
            let (note, tables) = comparisonTables(directory, rows: rows, metrics: metrics)
            let experiment = URL(fileURLWithPath: directory).deletingLastPathComponent().lastPathComponent
            name = safeFileName(chosen ?? "\(experiment)-\(folderName)")
            // The files the code cells read, copied beside the notebook so that it runs anywhere.
            let files = "\(outputFolder)/\(name)-data"
            try copyFiles(["comparison.csv", "comparison.md", "comparison.json", "robustness.csv", "robustness.json"], from: directory, to: files)
            for i in runs.indices {
                let copy = "\(files)/runs/\(i + 1)-\(safeFileName(runs[i].name))"
                try copyFiles(["history.csv", "predictions.csv", "metrics.json"], from: runs[i].runDirectory, to: copy)
                runs[i].filesDirectory = copy
            }
            notebook = NotebookExporter.comparisonNotebook(title: experiment, directory: directory, rows: rows,
                                                           metricNames: metrics, runs: runs, notebookDirectory: outputFolder, filesDirectory: files,
                                                           robustness: Robustness.figures(directory), statisticsNote: note, tables: tables)
        } else if fm.fileExists(atPath: directory + "/config.resolved.json") {
            var summary = try runSummary(directory)
            name = safeFileName(chosen ?? "\(summary.name)-\(folderName)")
            let files = "\(outputFolder)/\(name)-data"
            try copyFiles(["history.csv", "predictions.csv", "metrics.json", "config.resolved.json", "robustness.csv", "robustness.json"],
                          from: directory, to: files)
            summary.filesDirectory = files
            notebook = NotebookExporter.runNotebook(summary, notebookDirectory: outputFolder, robustness: Robustness.figures(directory))
        } else {
            throw ExperimentError("\(directory): neither a run folder (config.resolved.json) nor a comparison folder (comparison.json)")
        }
        let path = "\(outputFolder)/\(name).ipynb"
        try NotebookExporter.write(notebook, to: path)
        return path
    }

    /// Copies the named files that exist in `source` into `target` (created), atomically each.
    static func copyFiles(_ names: [String], from source: String, to target: String) throws {
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in names where FileManager.default.fileExists(atPath: source + "/" + name) {
            try writeFileAtomically(try FileIO.read(source + "/" + name), to: target + "/" + name)
        }
    }

    /// The summary of one finished run.
    public static func runSummary(_ directory: String) throws -> RunSummary {
        let run = try RunDirectory.open(directory)
        let config = try run.config()
        guard let metricsData = (try? FileIO.read(directory + "/metrics.json")) else {
            throw ExperimentError("\(directory): no metrics.json (the run has not finished)")
        }
        let metrics = try ClassificationMetrics.decode(metricsData, path: directory + "/metrics.json")
        var dataset: [(String, String)] = [("dataset", config.dataset.path), ("classes", metrics.classNames.joined(separator: ", ")),
                                           ("modalities", config.model.modalities.map { $0.rawValue }.joined(separator: ", ")),
                                           ("fusion", config.model.fusion.kind.rawValue)]
        if let samples = run.manifest?.samples {
            dataset.append(("samples", ["train", "val", "test"].map { "\($0) \(samples[$0] ?? 0)" }.joined(separator: ", ")))
        }
        let configJSON = (try? String(contentsOfFile: directory + "/config.resolved.json", encoding: .utf8)) ?? "{}"
        var summary = RunSummary(name: config.name, runDirectory: directory, configJSON: configJSON, datasetSummary: dataset,
                                 history: try run.history().map { $0.dictionary }, metrics: metrics)
        summary.lineage = lineageRows(directory)
        let object = (try? JSONSerialization.jsonObject(with: metricsData)) as? [String: Any]
        func decode<T: Decodable>(_ key: String, _ type: T.Type) -> T? {
            (object?[key]).flatMap { try? JSONSerialization.data(withJSONObject: $0) }.flatMap { try? JSONDecoder().decode(T.self, from: $0) }
        }
        summary.calibration = decode("calibration", Calibration.self)
        let (predictions, wrong) = readPredictions(directory + "/predictions.csv", classNames: metrics.classNames)
        summary.predictions = predictions
        summary.gallery = gallery(wrong, datasetPath: config.dataset.path)
        summary.conformal = decode("conformal", ConformalSets.self)
        if let data = try? FileIO.read(directory + "/attribution.json"),
           let a = try? JSONDecoder().decode(ModalityAttribution.Result.self, from: data) {
            let rows = a.modalities.map { m in
                [m, String(format: "%+.4f", a.shapley.accuracy[m] ?? .nan), String(format: "%.4f", a.alone[m] ?? .nan),
                 String(format: "%+.4f", a.shapley.logLikelihood[m] ?? .nan)]
            }
            let text = "Exact Shapley values over modalities (`fusionlab explain`, \(a.split) split): accuracy with every modality "
                + String(format: "%.4f, with none %.4f; the interaction (what no single modality explains) is %+.4f.\n\n", a.all, a.none, a.interaction)
                + markdownTable(header: ["modality", "Shapley (accuracy)", "alone (accuracy)", "Shapley (log-likelihood)"], rows: rows)
            summary.attribution = (ModalityAttribution.figure(a), text)
        }
        return summary
    }

    /// The lineage table of a run made by `fusionlab update` (empty for other runs).
    static func lineageRows(_ directory: String) -> [[String]] {
        guard let lineage = RunDirectory(path: directory).manifest?.lineage, lineage.count > 1 else { return [] }
        return lineage.enumerated().map { step, run in
            let m = RunDirectory(path: run).manifest ?? RunManifest()
            let metrics = (try? FileIO.read(run + "/metrics.json")).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            let results = m.updateResults
            let data = m.update?.data ?? m.dataset ?? ""
            func f(_ v: Any?) -> String { (v as? Double).map { String(format: "%.4f", $0) } ?? "–" }
            return ["\(step)", URL(fileURLWithPath: run).lastPathComponent, step == 0 ? "(first run)" : data, f(metrics?["accuracy"]),
                    f(results?.parentTestAccuracyUpdated), results.map { String(format: "%+.4f", $0.forgetting) } ?? "–"]
        }
    }

    static func readComparison(_ directory: String) throws -> ([ComparisonRow], [String], [RunSummary]) {
        let path = directory + "/comparison.json"
        guard let data = (try? FileIO.read(path)),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let metrics = object["metrics"] as? [String], let rawRows = object["rows"] as? [[String: Any]] else {
            throw ExperimentError("\(path): not a FusionLab comparison summary")
        }
        var rows: [ComparisonRow] = [], runs: [RunSummary] = []
        for r in rawRows {
            var values: [String: (mean: Double, std: Double)] = [:]
            for (k, v) in r["values"] as? [String: [String: Double]] ?? [:] { values[k] = (v["mean"] ?? .nan, v["std"] ?? 0) }
            var row = ComparisonRow(variant: r["variant"] as? String ?? "?", values: values, parameters: r["parameters"] as? Int ?? 0,
                                    trainSeconds: r["train_seconds"] as? Double ?? 0, runs: r["runs"] as? Int ?? 0,
                                    isBest: r["best"] as? Bool ?? false, deployment: DeploymentCost(json: r["deployment"] as? [String: Any]))
            for (k, v) in r["interval_95"] as? [String: [String: Double]] ?? [:] { row.interval[k] = (v["low"] ?? .nan, v["high"] ?? .nan) }
            row.verdict = r["verdict"] as? String
            row.pVersusBest = (r["versus_best"] as? [String: Any])?["p_holm"] as? Double
            row.pVersusBaseline = (r["versus_best_unimodal"] as? [String: Any])?["p_holm"] as? Double
            rows.append(row)
            if let dir = r["run_dir"] as? String, !dir.isEmpty, var summary = try? runSummary(dir) {
                summary.name = r["variant"] as? String ?? summary.name
                runs.append(summary)
            }
        }
        return (rows, metrics, runs)
    }

    /// The statistics' note and the tables beyond the summary: every seed of every variant
    /// (comparison.csv), and each class's F1 per variant (mean over its runs' metrics.json).
    static func comparisonTables(_ directory: String, rows: [ComparisonRow], metrics: [String])
        -> (note: String?, tables: [(title: String, header: [String], rows: [[String]])]) {
        let object = (try? FileIO.read(directory + "/comparison.json")).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        var note: String?
        if let stats = object?["statistics"] as? [String: Any], let method = stats["method"] as? String {
            note = method + "." + ((stats["seed_variance_included"] as? Bool) == false ? " With fewer than 3 seeds, the intervals ignore seed variance." : "")
        }
        var tables: [(title: String, header: [String], rows: [[String]])] = []
        if let text = try? String(contentsOfFile: directory + "/comparison.csv", encoding: .utf8),
           let csv = try? CSV.rows(text, delimiter: ",", file: directory + "/comparison.csv"), let header = csv.first?.values {
            let wanted = ["variant", "seed"] + metrics
            let columns = wanted.compactMap { header.firstIndex(of: $0) }
            if columns.count == wanted.count {
                tables.append(("Every run (variant × seed, test split)", wanted, csv.dropFirst().map { row in
                    columns.map { $0 < row.values.count ? row.values[$0] : "" }.enumerated().map { i, v in i >= 2 ? (Double(v).map { String(format: "%.4f", $0) } ?? v) : v }
                }))
            }
        }
        var classNames: [String] = []
        var perVariant: [(String, [String: Double])] = []
        for r in object?["rows"] as? [[String: Any]] ?? [] {
            let dirs = r["run_dirs"] as? [String] ?? []
            var sums: [String: Double] = [:], counts: [String: Int] = [:]
            for dir in dirs {
                guard let data = try? FileIO.read(dir + "/metrics.json"),
                      let m = try? ClassificationMetrics.decode(data, path: dir + "/metrics.json") else { continue }
                for c in m.perClass {
                    if !classNames.contains(c.name) { classNames.append(c.name) }
                    sums[c.name, default: 0] += c.f1; counts[c.name, default: 0] += 1
                }
            }
            perVariant.append((r["variant"] as? String ?? "?",
                               Dictionary(uniqueKeysWithValues: sums.map { ($0.key, $0.value / Double(max(counts[$0.key] ?? 1, 1))) })))
        }
        if !classNames.isEmpty && classNames.count <= 40 {
            tables.append(("F1 per class and variant (mean over seeds)", ["variant"] + classNames, perVariant.map { variant, f1 in
                [variant] + classNames.map { f1[$0].map { String(format: "%.3f", $0) } ?? "–" }
            }))
        }
        return (note, tables)
    }

    /// predictions.csv's labels and probabilities (class order as `classNames`), and the samples
    /// predicted wrongly: (id, true, predicted).
    static func readPredictions(_ path: String, classNames: [String]) -> ((labels: [Int], probabilities: [[Double]])?, [(String, String, String)]) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let rows = try? CSV.rows(text, delimiter: ",", file: path),
              let header = rows.first?.values, let idColumn = header.firstIndex(of: "id"), let labelColumn = header.firstIndex(of: "label"),
              let predictedColumn = header.firstIndex(of: "predicted") else { return (nil, []) }
        let columns = classNames.map { header.firstIndex(of: "p_" + $0) }
        guard columns.allSatisfy({ $0 != nil }) else { return (nil, []) }
        var labels: [Int] = [], probabilities: [[Double]] = [], wrong: [(String, String, String)] = []
        for row in rows.dropFirst() where row.values.count == header.count {
            guard let y = classNames.firstIndex(of: row.values[labelColumn]) else { continue }
            labels.append(y)
            probabilities.append(columns.map { $0.flatMap { Double(row.values[$0]) } ?? 0 })
            if row.values[labelColumn] != row.values[predictedColumn] { wrong.append((row.values[idColumn], row.values[labelColumn], row.values[predictedColumn])) }
        }
        return ((labels, probabilities), wrong)
    }

    /// HTML rows for up to 12 misclassified samples: the image as a thumbnail, the caption and
    /// an audio player (media embedded as data URIs, files over 256 KiB left out).
    static func gallery(_ wrong: [(String, String, String)], datasetPath: String) -> [String] {
        guard !wrong.isEmpty, let dataset = try? Dataset.load(path: datasetPath, policy: .skip, log: { _ in }) else { return [] }
        let byID = Dictionary(dataset.samples.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "|", with: "&#124;")
        }
        func dataURI(_ path: String?, _ kinds: [String: String]) -> String? {
            guard let path, let type = kinds[URL(fileURLWithPath: path).pathExtension.lowercased()],
                  let data = try? FileIO.read(path, limit: 256 << 10) else { return nil }
            return "data:\(type);base64,\(data.base64EncodedString())"
        }
        return wrong.prefix(12).map { id, truth, predicted in
            let sample = byID[id]
            let image = dataURI(sample?.imagePath, ["png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"])
                .map { "<img src=\"\($0)\" width=\"96\"/>" } ?? "–"
            let audio = dataURI(sample?.audioPath, ["wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"])
                .map { "<audio controls src=\"\($0)\"></audio>" } ?? "–"
            return "<tr><td>\(escape(id))</td><td>\(escape(truth))</td><td>\(escape(predicted))</td><td>\(image)</td>"
                + "<td>\(escape(sample?.text ?? "–"))</td><td>\(audio)</td></tr>"
        }
    }
}
