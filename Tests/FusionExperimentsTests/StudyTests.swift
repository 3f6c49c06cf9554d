import Foundation
import FusionExperiments
import FusionTestSupport
import XCTest

/// Studies over runs through the command line: compare, sweep, transfer and ensembles.
final class StudyTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("study")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    func testCompareRunsVariantsAndBaselinesAndExportsANotebook() throws {
        let result = try fusionlab(["compare", tinyExperiment("cmp"), "--notebook"])
        XCTAssertEqual(result.status, 0, result.err)
        // One line per finished run: its place in the job and the time the rest should take.
        XCTAssertTrue(result.out.contains("1/5 fusion=concat") && result.out.contains("ETA"), result.out)
        XCTAssertTrue(result.out.contains("5/5 unimodal:audio"), result.out)
        for variant in ["fusion=concat", "fusion=late", "unimodal:text", "unimodal:image", "unimodal:audio"] {
            XCTAssertTrue(result.out.contains("| \(variant) |"), "\(variant) in: \(result.out)")
        }
        // One seed: intervals and tests are there, the ★ only for a significant win (else ≈ ties),
        // and the table says the intervals ignore seed variance.
        XCTAssertTrue(result.out.contains("★") || result.out.contains("≈"), result.out)
        XCTAssertTrue(result.out.contains("[95 % CI]") && result.out.contains("p vs best (Holm)"), result.out)
        XCTAssertTrue(result.out.contains("the intervals ignore seed variance"), result.out)
        let folder = try XCTUnwrap(runDirectories("cmp").first { $0.contains("compare-") })
        let summary = try json(folder + "/comparison.json")
        XCTAssertEqual((summary["statistics"] as? [String: Any])?["seed_variance_included"] as? Bool, false)
        let rows = try XCTUnwrap(summary["rows"] as? [[String: Any]])
        for row in rows {
            let interval = try XCTUnwrap((row["interval_95"] as? [String: [String: Double]])?["accuracy"], "\(row["variant"] ?? "")")
            let mean = try XCTUnwrap(((row["values"] as? [String: [String: Double]])?["accuracy"])?["mean"])
            XCTAssertLessThanOrEqual(try XCTUnwrap(interval["low"]), mean + 1e-9)
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(interval["high"]), mean - 1e-9)
            XCTAssertNotNil(row["verdict"] as? String)
        }
        XCTAssertEqual(rows.filter { $0["versus_best"] is NSNull }.count, 1, "every variant but the best is tested against it")
        let csv = try String(contentsOfFile: folder + "/comparison.csv", encoding: .utf8).split(separator: "\n")
        // TensorBoard's HParams dashboard: the experiment in the comparison folder, a session per run.
        // Event files sit in the folders themselves, so TensorBoard names a run by its folder.
        func records(_ dir: String) throws -> Data {
            try TensorBoardWriter.files(in: dir).reduce(into: Data()) { data, file in
                for record in try TensorBoardWriter.readRecords(path: file) { data.append(contentsOf: record) }
            }
        }
        XCTAssertNotNil(try records(folder).range(of: Data("_hparams_/experiment".utf8)))
        let sessions = try FileManager.default.contentsOfDirectory(atPath: folder + "/runs").flatMap { variant in
            try FileManager.default.contentsOfDirectory(atPath: "\(folder)/runs/\(variant)").map { "\(folder)/runs/\(variant)/\($0)" }
        }
        XCTAssertFalse(sessions.isEmpty)
        for run in sessions {
            let session = try records(run)
            XCTAssertNotNil(session.range(of: Data("_hparams_/session_start_info".utf8)), run)
            XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/events"), "no events/ folder: TensorBoard would name the run …/events")
            XCTAssertNotNil(session.range(of: Data("seeds".utf8)), run)
        }
        XCTAssertEqual(csv.count, 1 + 5)
        let notebookLine = try XCTUnwrap(result.out.split(separator: "\n").last { $0.hasPrefix("notebook: ") })
        try checkNotebook(Self.workspace.appendingPathComponent(String(notebookLine.dropFirst("notebook: ".count))).path)
    }

    func testSweepWritesTheBestConfigurationAsARunnableFile() throws {
        let file = tinyExperiment("sw", epochs: 1, extra: #", "sweep": {"method": "grid", "axes": [{"key": "training.lr", "values": [0.001, 0.01]}]}"#)
        let result = try fusionlab(["sweep", file, "--quiet"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("trial 0") && result.out.contains("trial 1"), result.out)
        // Trials show validation scores only; the test score is the selected configuration's.
        let trialLines = result.out.split(separator: "\n").filter { $0.hasPrefix("trial ") }
        XCTAssertFalse(trialLines.contains { $0.contains("test") }, result.out)
        XCTAssertEqual(result.out.components(separatedBy: "test accuracy").count - 1, 1, result.out)
        let folder = try XCTUnwrap(runDirectories("sw").first { $0.contains("sweep-") })
        let table = try String(contentsOfFile: folder + "/sweep.csv", encoding: .utf8)
        XCTAssertFalse(table.contains("test"), table)
        let bestFile = try XCTUnwrap(result.out.split(separator: " ").last).trimmingCharacters(in: .whitespacesAndNewlines)
        let validate = try fusionlab(["validate", bestFile])
        XCTAssertEqual(validate.status, 0, validate.err + validate.out)
        XCTAssertTrue(validate.out.contains("valid"), validate.out)
    }

    func testTransferInitialisesFreezesAndUnfreezesAndEnsemblesCombineRuns() throws {
        XCTAssertEqual(try fusionlab(["run", tinyExperiment("source"), "--quiet"]).status, 0)
        let source = try XCTUnwrap(runDirectories("source").last)
        let target = tinyExperiment("target", epochs: 3, extra: """
        , "transfer": {"init_from": "\(source)", "include": ["encoders.image", "encoders.audio", "head"],
                       "freeze": ["encoders.image"], "unfreeze": [{"epoch": 2, "patterns": ["encoders.image"]}],
                       "lr_multipliers": [{"pattern": "encoders.*", "factor": 0.5}]}
        """)
        let result = try fusionlab(["run", target, "--set", "dataset.train_limit=20"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.err.contains("initialised 12 tensors from \(source)/checkpoints/best.safetensors"), result.err)
        XCTAssertTrue(result.err.contains("froze 4 parameter tensors"), result.err)
        XCTAssertTrue(result.err.contains("epoch 2: unfroze 4 parameter tensors"), result.err)
        let finetuned = try XCTUnwrap(runDirectories("target").last)
        let ensemble = try fusionlab(["ensemble", source, finetuned, "--method", "vote", "--output", "ens", "--quiet"])
        XCTAssertEqual(ensemble.status, 0, ensemble.err)
        XCTAssertTrue(ensemble.out.contains("ensemble of 2 runs (vote)"), ensemble.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.workspace.appendingPathComponent("ens/metrics.json").path))
    }

    func testCalibrationConformalSetsAndModalityAttributionOfARun() throws {
        let experiment = tinyExperiment("calib", epochs: 3, extra: ", \"evaluation\": {\"calibrate\": true, \"conformal_alpha\": 0.2}")
        let result = try fusionlab(["run", experiment])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.err.contains("conformal sets (α 0.20") || result.out.contains("conformal sets (α 0.20"), result.err)
        let run = try XCTUnwrap(runDirectories("calib").last)
        let metrics = try json(run + "/metrics.json")
        let calibration = try XCTUnwrap(metrics["calibration"] as? [String: Any])
        XCTAssertEqual(calibration["bins"] as? Int, 15)
        let temperature = try XCTUnwrap(calibration["temperature"] as? Double)
        XCTAssertTrue(temperature > 0.05 && temperature < 20, "\(temperature)")
        for key in ["ece", "mce", "brier", "ece_after_scaling"] { XCTAssertNotNil(calibration[key] as? Double, key) }
        let conformal = try XCTUnwrap(metrics["conformal"] as? [String: Any])
        XCTAssertEqual(conformal["alpha"] as? Double, 0.2)
        let size = try XCTUnwrap(conformal["mean_set_size"] as? Double)
        XCTAssertTrue(size >= 0 && size <= 8, "\(size)")

        // predict applies the temperature and returns the set; the probabilities still sum to one.
        let root = Self.workspace.appendingPathComponent("data-80").path
        let sample = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: root + "/images").sorted().first)
        let predicted = try fusionlab(["predict", run, "--image", root + "/images/" + sample, "--text", "a round shape"])
        XCTAssertEqual(predicted.status, 0, predicted.err)
        XCTAssertTrue(predicted.out.contains("prediction set: {"), predicted.out)
        let probabilities = predicted.out.split(separator: "\n").compactMap { line in line.split(separator: " ").last.flatMap { Double($0) } }
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-3)

        // explain: 2^3 subsets, Shapley values that sum to all − none, a figure.
        let explained = try fusionlab(["explain", run])
        XCTAssertEqual(explained.status, 0, explained.err)
        let attribution = try json(run + "/attribution.json")
        XCTAssertEqual((attribution["subsets"] as? [Any])?.count, 8)
        let shapley = try XCTUnwrap((attribution["shapley"] as? [String: Any])?["accuracy"] as? [String: Double])
        let all = try XCTUnwrap(attribution["all"] as? Double), none = try XCTUnwrap(attribution["none"] as? Double)
        XCTAssertEqual(shapley.values.reduce(0, +), all - none, accuracy: 1e-9)
        XCTAssertEqual(Set(shapley.keys), ["text", "image", "audio"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/attribution.svg"))
        XCTAssertTrue(explained.out.contains("interaction"), explained.out)
    }
}
