import Foundation
import FusionConfig
import FusionTestSupport
import XCTest

/// The experiment format through the command line: hostile values, schema help, located errors.
final class ConfigCommandTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("config")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    /// Every numeric key of the format, set to 0, −1, a huge value, a fraction and NaN: loading
    /// and validating answers with a located error or accepts, and never traps.
    func testEveryNumericKeyWithHostileValuesGivesAnErrorNeverASignal() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let schema = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("Experiments/experiment.schema.json")))
            as? [String: Any])
        var keys: [String] = []
        func walk(_ node: [String: Any], _ path: [String]) {
            if let type = node["type"] as? String, type == "number" || type == "integer" { keys.append(path.joined(separator: ".")) }
            for (key, child) in (node["properties"] as? [String: Any]) ?? [:] {
                if let child = child as? [String: Any] { walk(child, path + [key]) }
            }
        }
        walk(schema, [])
        XCTAssertGreaterThan(keys.count, 50)
        let experiment = Self.workspace.appendingPathComponent(tinyExperiment("hostile")).path
        var refused = 0
        // In process: a trap here ends the test run, so it cannot pass unnoticed; the command's
        // own exit codes are checked by the tests of `validate`.
        for key in keys.sorted() {
            for value in ["0", "-1", "1e12", "0.5", "NaN"] {
                do {
                    let loaded = try ConfigLoader.load(experiment, overrides: ["\(key)=\(value)"])
                    _ = ConfigValidation.checkFiles(loaded.config)
                } catch {
                    refused += 1
                    // A located error: the file or the --set, then the JSON path and what was expected.
                    let text = "\(error)"
                    XCTAssertTrue(text.hasPrefix(experiment + ": ") || text.hasPrefix("--set \(key): "),
                                  "--set \(key)=\(value) refused without saying where: \(text)")
                    XCTAssertFalse(text.contains("not valid JSON"), "--set \(key)=\(value): \(text)")
                }
            }
        }
        print("hostile values: \(keys.count) numeric keys × 5 values, \(refused) refused with a located error, none crashed")
    }

    func testSchemaExplainsALayerKind() throws {
        let conv = try fusionlab(["schema", "--key", "conv2d"])
        XCTAssertEqual(conv.status, 0, conv.err)
        XCTAssertTrue(conv.out.hasPrefix("layer conv2d, its settings:") && conv.out.contains("  groups: Convolutions: channel groups"), conv.out)
        XCTAssertTrue(try fusionlab(["schema", "--key", "relu"]).out.contains("layer relu: no settings"))
    }

    func testConfigErrorsNameTheFileAndPath() throws {
        let bad = write("bad.json", #"{"name": "bad", "trainig": {"epochs": 2}, "model": {"fusion": {"kind": "tensr"}}}"#)
        let result = try fusionlab(["run", bad])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.err.contains("bad.json: trainig: unknown key; did you mean \"training\"?"), result.err)
        let set = try fusionlab(["validate", tinyExperiment("ok"), "--set", "training.epochz=3"])
        XCTAssertTrue((set.out + set.err).contains("did you mean training.epochs?"), set.out + set.err)
        let range = try fusionlab(["run", tinyExperiment("range"), "--set", "training.batch_size=0"])
        XCTAssertEqual(range.status, 1)
        XCTAssertTrue(range.err.contains("--set training.batch_size: training.batch_size: expected at least 1, got 0"), range.err)
        let missing = try fusionlab(["run", "nowhere.json"])
        XCTAssertTrue(missing.err.contains("nowhere.json: no such file"), missing.err)
    }

    func testValidateVerboseAndRunSayWhatPreprocessingDoesToTheData() throws {
        let experiment = tinyExperiment("survey", epochs: 1)
        XCTAssertEqual(try fusionlab(["run", experiment, "--quiet"]).status, 0, "generates the dataset")
        let shown = try fusionlab(["validate", experiment, "-v", "--set", "preprocessing.audio.duration=0.1"])
        XCTAssertEqual(shown.status, 0, shown.err)
        XCTAssertTrue(shown.out.contains("image: 80 files, 16×16"), shown.out)
        XCTAssertTrue(shown.out.contains("audio: 80 clips") && shown.out.contains("trimmed (100 %)"), shown.out)
        XCTAssertTrue(shown.out.contains("warning: preprocessing.audio.duration: 0.10 s trims 100 %"), shown.out)
        let run = try fusionlab(["run", experiment, "--set", "training.epochs=1"])
        XCTAssertTrue((run.out + run.err).contains("audio: 80 clips"), run.err)
    }
}
