import Foundation
import FusionTestSupport
import XCTest

/// `fusionlab robustness` on a real comparison: curves, the late-fusion baseline, missing
/// subsets, determinism, the notebook, and clear refusals.
final class RobustnessTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("robustness")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    func testRobustnessOfAComparisonAgainstLateFusion() throws {
        let experiment = tinyExperiment("robust", epochs: 4, extra: """
        , "compare": {"axes": [{"key": "model.fusion.kind", "values": ["concat", "late"]}], "seeds": [0], "unimodal_baselines": false}
        """)
        XCTAssertEqual(try fusionlab(["compare", experiment, "--quiet"]).status, 0)
        let folder = try XCTUnwrap(runDirectories("robust").last { $0.contains("compare-") })
        let first = try fusionlab(["robustness", folder, "--levels", "6"])
        XCTAssertEqual(first.status, 0, first.err)
        let csv = try String(contentsOfFile: folder + "/robustness.csv", encoding: .utf8)
        let report = try json(folder + "/robustness.json")
        let runs = try XCTUnwrap(report["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 2)
        for run in runs {
            let curves = try XCTUnwrap(run["curves"] as? [[String: Any]])
            XCTAssertEqual(curves.compactMap { $0["modality"] as? String }, ["text", "image", "audio"])
            let metrics = try json((run["run"] as? String ?? "") + "/metrics.json")
            for curve in curves {
                let points = try XCTUnwrap(curve["points"] as? [[String: Double]])
                XCTAssertEqual(points.compactMap { $0["level"] }, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
                // The clean point is the run's own test accuracy; the area is the trapezoid rule's.
                XCTAssertEqual(points[0]["accuracy"] ?? -1, metrics["accuracy"] as? Double ?? -2, accuracy: 1e-9)
                let area = zip(points, points.dropFirst()).reduce(0.0) { $0 + 0.2 * (($1.0["accuracy"] ?? 0) + ($1.1["accuracy"] ?? 0)) / 2 }
                XCTAssertEqual(curve["relative_robustness"] as? Double ?? -1, area, accuracy: 1e-9)
                let effective = try XCTUnwrap(curve["effective_robustness"] as? Double)
                if run["fusion"] as? String == "late" { XCTAssertEqual(effective, 0, accuracy: 1e-12, "late fusion is its own baseline") }
            }
            XCTAssertEqual((run["missing"] as? [[String: Any]])?.count, 6, "every non-empty proper subset of 3 modalities")
        }
        // Seeded: the same command writes the same numbers.
        XCTAssertEqual(try fusionlab(["robustness", folder, "--levels", "6", "--quiet"]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: folder + "/robustness.csv", encoding: .utf8), csv)
        // The notebook draws the curves.
        let exported = try fusionlab(["export-notebook", folder, "--output", "nb-robust", "--name", "robust"])
        XCTAssertEqual(exported.status, 0, exported.err)
        let notebook = try String(contentsOfFile: Self.workspace.appendingPathComponent("nb-robust/robust.ipynb").path, encoding: .utf8)
        XCTAssertTrue(notebook.contains("Robustness") && notebook.contains("accuracy vs audio noise"), String(notebook.prefix(300)))

        let nowhere = try fusionlab(["robustness", "runs/nowhere"])
        XCTAssertNotEqual(nowhere.status, 0)
        XCTAssertTrue(nowhere.err.contains("runs/nowhere"), nowhere.err)
        let levels = try fusionlab(["robustness", folder, "--levels", "1"])
        XCTAssertNotEqual(levels.status, 0)
        XCTAssertTrue(levels.err.contains("at least 2"), levels.err)
    }

    func testTrainingNoiseIsSeededAndChangesTraining() throws {
        func losses(_ extra: [String]) throws -> [String] {
            let before = Set(runDirectories("noisy"))
            let result = try fusionlab(["run", tinyExperiment("noisy", epochs: 2), "--quiet"] + extra)
            XCTAssertEqual(result.status, 0, result.err)
            // Run folders of the same second do not sort by time: take the new one.
            let run = try XCTUnwrap(runDirectories("noisy").first { !before.contains($0) })
            return try String(contentsOfFile: "\(run)/history.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[1]) }
        }
        let noise = ["--set", "training.noise.image=0.6", "--set", "training.noise.audio=0.6", "--set", "training.noise.text=0.6"]
        let a = try losses(noise), b = try losses(noise), clean = try losses([])
        XCTAssertEqual(a, b, "the same seed corrupts the same samples the same way")
        XCTAssertNotEqual(a, clean, "noise changes what the model trains on")
        let bad = try fusionlab(["validate", tinyExperiment("noisy"), "--set", "training.noise.audio=2"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue((bad.out + bad.err).contains("training.noise.audio"), bad.out + bad.err)
    }
}
