import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import FusionExperiments
@testable import FusionReports
import FusionTestSupport
import XCTest

/// Notebooks are written to real files and parsed back. With FUSIONLAB_TEST_OUTPUT=<dir> they are
/// kept, for `python scripts/check_notebook.py <dir>/notebook-*/*.ipynb` (nbformat's validator).
final class NotebookTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = makeTestOutputDirectory("notebook-" + name.filter { $0.isLetter || $0.isNumber })
    }

    override func tearDownWithError() throws {
        removeTestOutput(directory)
    }

    static let metrics = ClassificationMetrics.compute(
        labels: [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 1], predictions: [0, 1, 0, 1, 1, 2, 1, 2, 0, 2, 0, 2],
        probabilities: nil, classNames: ["circle", "square <&> \"tri\"", "star|pipe"])

    static func run(_ name: String, seed: Int = 0) -> RunSummary {
        let history: [[String: Double]] = (1...6).map { epoch in
            let e = Double(epoch)
            return ["epoch": e, "train_loss": 1.2 / e, "val_loss": 1.3 / e + 0.05, "val_accuracy": 0.4 + 0.05 * e,
                    "val_f1_macro": 0.35 + 0.05 * e, "lr": 0.001]
        }
        return RunSummary(
            name: name, runDirectory: "/work/runs/quickstart/20260101-120000-\(seed)abc",
            configJSON: "{\n  \"name\": \"quickstart\",\n  \"fusion\": {\"type\": \"concat\"}\n}",
            datasetSummary: [("name", "shapes-tones"), ("samples", "train 240 · val 60 · test 12"),
                             ("classes", "circle, square, star"), ("modalities", "text, image, audio")],
            history: history, metrics: metrics)
    }

    func writeAndParse(_ notebook: [String: Any], file: String) throws -> (text: String, object: [String: Any]) {
        let path = "\(directory)/\(file)"
        try NotebookExporter.write(notebook, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(path) is not a JSON object")
        return (String(decoding: data, as: UTF8.self), object)
    }

    // MARK: - Structure

    func testRunNotebookHasNbformat45Structure() throws {
        let (text, nb) = try writeAndParse(NotebookExporter.runNotebook(Self.run("quickstart concat"),
                                                                       notebookDirectory: "/work/notebooks-export"),
                                           file: "run.ipynb")
        XCTAssertTrue(text.hasPrefix("{\n \"cells\": [\n  {\n   \"cell_type\": "), "Jupyter's layout: sorted keys, 1-space indent")
        XCTAssertTrue(text.hasSuffix("\"nbformat_minor\": 5\n}\n"))
        try assertNbformat45(nb)
        let cells = try XCTUnwrap(nb["cells"] as? [[String: Any]])
        XCTAssertEqual(cells.first?["cell_type"] as? String, "markdown")
        let title = joined(cells.first?["source"])
        XCTAssertTrue(title.hasPrefix("# Run: quickstart concat"), title)
        XCTAssertTrue(title.contains("- **samples**: train 240 · val 60 · test 12"), title)
        let metadata = try XCTUnwrap(nb["metadata"] as? [String: Any])
        XCTAssertEqual((metadata["fusionlab"] as? [String: Any])?["kind"] as? String, "run")
    }

    func testComparisonNotebookHasNbformat45Structure() throws {
        let (_, nb) = try writeAndParse(comparisonNotebook(), file: "comparison.ipynb")
        try assertNbformat45(nb)
    }

    // MARK: - Tables

    func testRunTablesShowTheMetrics() throws {
        let nb = NotebookExporter.runNotebook(Self.run("r"))
        let markdown = cells(nb, type: "markdown").map { joined($0["source"]) }.joined(separator: "\n")
        let m = Self.metrics
        XCTAssertTrue(markdown.contains("| accuracy | \(String(format: "%.4f", m.accuracy)) |"), markdown)
        XCTAssertTrue(markdown.contains("| macro | \(String(format: "%.4f", m.precisionMacro)) | \(String(format: "%.4f", m.recallMacro)) | \(String(format: "%.4f", m.f1Macro)) |"), markdown)
        XCTAssertTrue(markdown.contains("| weighted | "), markdown)
        XCTAssertTrue(markdown.contains("| circle | 0.7500 | 0.7500 | 0.7500 | 4 | – |"), markdown)
        XCTAssertTrue(markdown.contains("| square &lt;&&gt; \"tri\" |"), "names are escaped: \(markdown)")
        XCTAssertTrue(markdown.contains("star\\|pipe"), "pipes in names are escaped")
        XCTAssertTrue(markdown.contains("| **circle** | 3 | 1 | 0 |"), markdown)
        XCTAssertTrue(markdown.contains("```json\n{\n  \"name\": \"quickstart\""), "config is shown")
    }

    func testComparisonTableMarksTheBestAndShowsMeanAndStd() throws {
        let nb = comparisonNotebook()
        let markdown = cells(nb, type: "markdown").map { joined($0["source"]) }.joined(separator: "\n")
        XCTAssertTrue(markdown.contains("| **concat** ★ | **0.8123 ± 0.0150** | **0.8000 ± 0.0200** | 12,345 | 61.2 | 3 |"), markdown)
        XCTAssertTrue(markdown.contains("| late | 0.7900 ± 0.0100 | 0.7700 ± 0.0300 | 9,876 | 55.0 | 3 |"), markdown)
        XCTAssertTrue(markdown.contains("| text only | – | 0.5000 ± 0.0000 |"), "missing metric is a dash")
        XCTAssertTrue(markdown.contains("Best on f1\\_macro: **concat** (0.8123 ± 0.0150)"), markdown)
        XCTAssertTrue(markdown.contains("## Run: concat seed 0"), markdown)
    }

    // MARK: - Figures

    func testFiguresAreSVGDataURIsInMarkdownCellsSoRunAllKeepsThem() throws {
        for (name, nb) in [("run", NotebookExporter.runNotebook(Self.run("r"))), ("comparison", comparisonNotebook())] {
            let figureCells = cells(nb, type: "markdown").filter { joined($0["source"]).contains("data:image/svg+xml;base64,") }
            XCTAssertFalse(figureCells.isEmpty, name)
            var count = 0
            for cell in figureCells {
                let source = joined(cell["source"])
                let start = try XCTUnwrap(source.range(of: "data:image/svg+xml;base64,")).upperBound
                let end = try XCTUnwrap(source[start...].firstIndex(of: "\""))
                let svg = String(decoding: try XCTUnwrap(Data(base64Encoded: String(source[start..<end]))), as: UTF8.self)
                XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
                try assertWellFormedXML(svg, "\(name) figure \(count)")
                count += 1
            }
            XCTAssertEqual(count, name == "run" ? 4 : 2 + 4 * 2,
                           "\(name): loss, metrics, confusion matrix and its normalised form (+ one bar chart per metric)")
            // No code cell carries an output that "Run All" would erase.
            XCTAssertTrue(cells(nb, type: "code").allSatisfy { ($0["outputs"] as? [Any])?.isEmpty ?? true }, name)
            let first = joined(cells(nb, type: "markdown").first?["source"])
            XCTAssertTrue(first.contains("`pandas` and `matplotlib`"), "requirements in the first cell: \(first)")
        }
    }

    func testLearningCurveHasAxesTicksAndLegend() throws {
        let chart = SVGCharts.lineChart(title: "Loss", xLabel: "epoch", yLabel: "loss", series: [
            .init(name: "train_loss", points: [(1, 1.2), (2, 0.6), (3, 0.4)]),
            .init(name: "val_loss", points: [(1, 1.3), (2, .nan), (3, 0.5)]),
        ])
        try assertWellFormedXML(chart, "line chart")
        XCTAssertTrue(chart.contains("<polyline"))
        XCTAssertTrue(chart.contains(">train_loss</text>") && chart.contains(">val_loss</text>"), "legend")
        XCTAssertTrue(chart.contains(">epoch</text>") && chart.contains(">loss</text>"), "axis labels")
        for tick in ["0.4", "0.6", "1.2"] { XCTAssertTrue(chart.contains(">\(tick)</text>"), "y tick \(tick)") }
        for tick in ["1", "2", "3"] { XCTAssertTrue(chart.contains(">\(tick)</text>"), "integer epoch tick \(tick)") }
        XCTAssertFalse(chart.contains(">1.5</text>"), "no fractional epochs")
    }

    func testSVGTextIsEscapedAndEmptyDataIsHandled() throws {
        let heat = SVGCharts.confusionMatrix([[1, 0], [2, 3]], classNames: ["a<b", "c&d\"'"])
        try assertWellFormedXML(heat, "heat map")
        XCTAssertTrue(heat.contains(">a&lt;b</text>") && heat.contains(">c&amp;d&quot;&apos;</text>"), heat)
        try assertWellFormedXML(SVGCharts.lineChart(title: "x", xLabel: "x", yLabel: "y", series: []), "empty chart")
        try assertWellFormedXML(SVGCharts.barChart(title: "x", yLabel: "y", bars: []), "empty bars")
        try assertWellFormedXML(SVGCharts.barChart(title: "neg", yLabel: "y", bars: [.init(label: "a", value: -1, error: 0.5),
                                                                                     .init(label: "b", value: .nan)]), "bars")
    }

    func testNiceTicks() {
        XCTAssertEqual(niceTicks(low: 0.13, high: 0.87, count: 6), [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        XCTAssertEqual(niceTicks(low: 1, high: 10, count: 6, minimumStep: 1), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(niceTicks(low: 5, high: 5, count: 6).count > 1, true)
    }

    // MARK: - JSON and paths

    func testJSONWriterMatchesPythonsLayoutAndRejectsOtherTypes() throws {
        let text = try NotebookJSON.serialize(["b": [1, 2.5, true, NSNull(), "é\"\n\u{01}"], "a": [String: Any](), "c": [Any]()],
                                              file: "x.ipynb")
        XCTAssertEqual(text, "{\n \"a\": {},\n \"b\": [\n  1,\n  2.5,\n  true,\n  null,\n  \"é\\\"\\n\\u0001\"\n ],\n \"c\": []\n}\n")
        XCTAssertThrowsError(try NotebookJSON.serialize(["cells": [Date()]], file: "/tmp/x.ipynb")) { error in
            XCTAssertTrue("\(error)".contains("/tmp/x.ipynb") && "\(error)".contains("$.cells[0]"), "\(error)")
        }
        XCTAssertThrowsError(try NotebookJSON.serialize(["v": Double.nan], file: "x.ipynb"))
    }

    func testPandasCellsUsePathsRelativeToTheNotebook() {
        XCTAssertEqual(relativePath(to: "/work/runs/q/1", from: "/work/notebooks-export"), "../runs/q/1")
        XCTAssertEqual(relativePath(to: "/work/runs", from: "/work/runs"), ".")
        XCTAssertEqual(relativePath(to: "runs/q/1", from: nil), "runs/q/1")
        let nb = NotebookExporter.runNotebook(Self.run("r"), notebookDirectory: "/work/notebooks-export")
        let code = cells(nb, type: "code").map { joined($0["source"]) }.joined(separator: "\n")
        XCTAssertTrue(code.contains("RUN_DIR = Path(\"../runs/quickstart/20260101-120000-0abc\")"), code)
        XCTAssertTrue(code.contains("pd.read_csv(RUN_DIR / \"history.csv\")"))
        XCTAssertTrue(code.contains("pd.read_csv(RUN_DIR / \"predictions.csv\")"))
        let comparisonCode = cells(comparisonNotebook(), type: "code").map { joined($0["source"]) }.joined(separator: "\n")
        XCTAssertTrue(comparisonCode.contains("pd.read_csv(COMPARISON_DIR / \"comparison.csv\")"))
        XCTAssertTrue(comparisonCode.contains("METRIC = \"f1_macro\""))
    }

    // MARK: - Helpers

    func comparisonNotebook() -> [String: Any] {
        let rows = [
            ComparisonRow(variant: "concat", values: ["f1_macro": (0.81234, 0.015), "accuracy": (0.8, 0.02)],
                          parameters: 12345, trainSeconds: 61.23, runs: 3, isBest: true),
            ComparisonRow(variant: "late", values: ["f1_macro": (0.79, 0.01), "accuracy": (0.77, 0.03)],
                          parameters: 9876, trainSeconds: 55, runs: 3, isBest: false),
            ComparisonRow(variant: "text only", values: ["accuracy": (0.5, 0)], parameters: 1000, trainSeconds: 10,
                          runs: 3, isBest: false),
        ]
        return NotebookExporter.comparisonNotebook(
            title: "quickstart", directory: "/work/runs/quickstart/comparison-1", rows: rows,
            metricNames: ["f1_macro", "accuracy"],
            runs: [Self.run("concat seed 0"), Self.run("late seed 0", seed: 1)],
            notebookDirectory: "/work/notebooks-export")
    }

    func cells(_ nb: [String: Any], type: String) -> [[String: Any]] {
        ((nb["cells"] as? [[String: Any]]) ?? []).filter { $0["cell_type"] as? String == type }
    }

    /// Source or mime data as one string (it may be a string or a list of lines).
    func joined(_ value: Any?) -> String {
        if let lines = value as? [String] { return lines.joined() }
        return value as? String ?? ""
    }

    /// The parts of the nbformat 4.5 schema a reader relies on.
    func assertNbformat45(_ nb: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(nb["nbformat"] as? Int, 4, file: file, line: line)
        XCTAssertEqual(nb["nbformat_minor"] as? Int, 5, file: file, line: line)
        let metadata = try XCTUnwrap(nb["metadata"] as? [String: Any], file: file, line: line)
        let kernelspec = try XCTUnwrap(metadata["kernelspec"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(kernelspec["name"] as? String, "python3", file: file, line: line)
        XCTAssertNotNil(kernelspec["display_name"] as? String, file: file, line: line)
        XCTAssertEqual((metadata["language_info"] as? [String: Any])?["name"] as? String, "python", file: file, line: line)
        let cells = try XCTUnwrap(nb["cells"] as? [[String: Any]], file: file, line: line)
        XCTAssertGreaterThan(cells.count, 5, file: file, line: line)
        var ids = Set<String>()
        for cell in cells {
            let id = try XCTUnwrap(cell["id"] as? String, "every 4.5 cell has an id", file: file, line: line)
            XCTAssertTrue((1...64).contains(id.count) && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") },
                          "id \(id) matches ^[a-zA-Z0-9-_]+$", file: file, line: line)
            XCTAssertTrue(ids.insert(id).inserted, "duplicate cell id \(id)", file: file, line: line)
            XCTAssertNotNil(cell["metadata"] as? [String: Any], file: file, line: line)
            XCTAssertNotNil(cell["source"] as? [String], file: file, line: line)
            switch cell["cell_type"] as? String {
            case "markdown":
                XCTAssertNil(cell["outputs"], file: file, line: line)
            case "code":
                XCTAssertNotNil(cell["outputs"] as? [Any], file: file, line: line)
                XCTAssertTrue(cell["execution_count"] is NSNull, file: file, line: line)
            default:
                XCTFail("unexpected cell type \(cell["cell_type"] ?? "nil")", file: file, line: line)
            }
        }
    }

    func assertWellFormedXML(_ text: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let parser = XMLParser(data: Data(text.utf8))
        let delegate = RootRecorder()
        parser.delegate = delegate
        XCTAssertTrue(parser.parse(), "\(what) is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")",
                      file: file, line: line)
        XCTAssertEqual(delegate.root, "svg", what, file: file, line: line)
    }
}

/// Records the name of the first element.
private final class RootRecorder: NSObject, XMLParserDelegate {
    var root: String?
    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        if root == nil { root = elementName }
    }
}

/// TensorBoard's HParams dashboard shows one row per group, with one session's hyperparameters:
/// every session of a group must carry all the group's seeds.
final class HParamsGroupTests: XCTestCase {
    func testEverySessionOfAGroupCarriesAllItsSeeds() throws {
        let root = makeTestOutputDirectory("hparams-groups")
        var runs: [(settings: [(key: String, value: Any)], seed: UInt64, group: String, directory: String)] = []
        for (group, seed) in [("fusion=concat", 7), ("fusion=concat", 3), ("fusion=late", 5)] as [(String, UInt64)] {
            let directory = "\(root)/\(group)-\(seed)"
            try TensorBoardWriter(directory: directory).close()
            runs.append(([("model.fusion.kind", group.dropFirst("fusion=".count).description)], seed, group, directory))
        }
        try Comparison.writeHParams(runs, metrics: ["test/accuracy"], to: root)
        func text(_ directory: String) throws -> String {
            let bytes = try TensorBoardWriter.files(in: directory).flatMap { try TensorBoardWriter.readRecords(path: $0).joined() }
            return String(decoding: bytes.filter { $0 >= 32 && $0 < 127 }, as: UTF8.self)
        }
        XCTAssertTrue(try text(root).contains("_hparams_/experiment"))
        for run in runs {
            let session = try text(run.directory)
            XCTAssertTrue(session.contains(run.group == "fusion=late" ? "5" : "3, 7"), "\(run.directory): \(session)")
            XCTAssertFalse(run.group == "fusion=concat" && session.contains("fusion=late"))
        }
    }
}
