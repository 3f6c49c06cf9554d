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
        XCTAssertTrue(result.out.contains("★"), "the best is marked")
        let folder = try XCTUnwrap(runDirectories("cmp").first { $0.contains("compare-") })
        let csv = try String(contentsOfFile: folder + "/comparison.csv", encoding: .utf8).split(separator: "\n")
        // TensorBoard's HParams dashboard: the experiment in the comparison folder, a session per run.
        func records(_ dir: String) throws -> Data {
            try FileManager.default.contentsOfDirectory(atPath: dir).reduce(into: Data()) { data, file in
                for record in try TensorBoardWriter.readRecords(path: dir + "/" + file) { data.append(contentsOf: record) }
            }
        }
        XCTAssertNotNil(try records(folder + "/events").range(of: Data("_hparams_/experiment".utf8)))
        let sessions = try FileManager.default.contentsOfDirectory(atPath: folder + "/runs").flatMap { variant in
            try FileManager.default.contentsOfDirectory(atPath: "\(folder)/runs/\(variant)").map { "\(folder)/runs/\(variant)/\($0)/events" }
        }
        XCTAssertFalse(sessions.isEmpty)
        for events in sessions { XCTAssertNotNil(try records(events).range(of: Data("_hparams_/session_start_info".utf8)), events) }
        XCTAssertEqual(csv.count, 1 + 5)
        let notebookLine = try XCTUnwrap(result.out.split(separator: "\n").last { $0.hasPrefix("notebook: ") })
        try checkNotebook(Self.workspace.appendingPathComponent(String(notebookLine.dropFirst("notebook: ".count))).path)
    }

    func testSweepWritesTheBestConfigurationAsARunnableFile() throws {
        let file = tinyExperiment("sw", epochs: 1, extra: #", "sweep": {"method": "grid", "axes": [{"key": "training.lr", "values": [0.001, 0.01]}]}"#)
        let result = try fusionlab(["sweep", file, "--quiet"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("trial 0") && result.out.contains("trial 1"), result.out)
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
}
