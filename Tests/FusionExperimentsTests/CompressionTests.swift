import Foundation
import FusionInt8
import FusionNN
import FusionTestSupport
import XCTest

/// `fusionlab compress` end to end on a generated dataset: int8 and pruned runs are new run
/// folders that evaluate reads, the source is never touched, and bad requests are clear errors.
final class CompressionTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("compress")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    func layeredExperiment(_ name: String) -> String {
        tinyExperiment(name, epochs: 3, extra: """
        , "model": {"text": {"embedding_dim": 8, "dim": 8},
                    "image": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 3, "padding": 1}, "relu", {"type": "max_pool2d", "kernel": 2},
                                         {"type": "conv2d", "channels": 6, "kernel": 3, "padding": 1}, "relu", {"type": "max_pool2d", "kernel": 2},
                                         "flatten", {"type": "linear", "units": 12}, "relu"]},
                    "audio": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 3, "padding": 1}, "relu", {"type": "max_pool2d", "kernel": 2},
                                         "flatten", {"type": "linear", "units": 8}, "relu"]},
                    "fusion": {"dim": 8}, "head": {"hidden": [8]}}
        """)
    }

    func predictions(_ run: String) throws -> [String] {
        try String(contentsOfFile: run + "/predictions.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[2]) }
    }

    func testCompressQuantizesToInt8WithoutTouchingTheSource() throws {
        XCTAssertEqual(try fusionlab(["run", layeredExperiment("squeeze"), "--quiet"]).status, 0)
        let source = try XCTUnwrap(runDirectories("squeeze").last)
        let before = try Data(contentsOf: URL(fileURLWithPath: source + "/checkpoints/best.safetensors"))
        let result = try fusionlab(["compress", source, "--quantize", "int8", "--calibration-batches", "2"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.err.contains("layers quantized, 2 layer runs on int8 codes end to end"), result.err)
        let run = try XCTUnwrap(runDirectories("squeeze-int8").last)
        XCTAssertTrue(result.out.contains(run), result.out)
        let summary = try json(run + "/compression.json")
        XCTAssertEqual(summary["kind"] as? String, "int8")
        // Biases and the text embedding stay float32: on this tiny model that is half the file.
        XCTAssertLessThan(try XCTUnwrap(summary["file_ratio"] as? Double), 0.6)
        XCTAssertGreaterThan(try XCTUnwrap(summary["samples_per_second"] as? Double), 0)
        let metrics = try json(run + "/metrics.json")
        let sourceMetrics = try json(source + "/metrics.json")
        let accuracy = try XCTUnwrap(metrics["accuracy"] as? Double), sourceAccuracy = try XCTUnwrap(sourceMetrics["accuracy"] as? Double)
        XCTAssertEqual(accuracy, sourceAccuracy, accuracy: 0.13)
        let agree = zip(try predictions(run), try predictions(source)).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(agree), 0.8 * Double(try predictions(source).count))
        XCTAssertEqual(try json(run + "/manifest.json")["status"] as? String, "finished")
        // The checkpoint holds I8 weights with their scales; evaluate loads it like any run.
        let (tensors, metadata) = try Safetensors.read(run + "/checkpoints/best.safetensors")
        XCTAssertEqual(metadata[Int8Quantization.metadataKey], "int8")
        XCTAssertNotNil(tensors["encoders.image.layers.0.weight_scale"])
        let header = try String(decoding: Data(contentsOf: URL(fileURLWithPath: run + "/checkpoints/best.safetensors")).prefix(4096), as: UTF8.self)
        XCTAssertTrue(header.contains("\"encoders.image.layers.0.weight\":{\"data_offsets\"") && header.contains("\"dtype\":\"I8\""), header)
        let evaluated = try fusionlab(["evaluate", run, "--quiet"])
        XCTAssertEqual(evaluated.status, 0, evaluated.err)
        XCTAssertEqual(try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluated.out.utf8)) as? [String: Any])["accuracy"] as? Double, accuracy)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: source + "/checkpoints/best.safetensors")), before)

        // Bad requests.
        // Its ONNX export would compute in float: refused, saying so.
        let onnx = try fusionlab(["export", "onnx", run, "-o", "int8.onnx"])
        XCTAssertTrue(onnx.status != 0 && onnx.err.contains("an int8 run") && onnx.err.contains("export the float run"), onnx.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.workspace.appendingPathComponent("int8.onnx").path))
        let again = try fusionlab(["compress", run, "--quantize", "int8"])
        XCTAssertTrue(again.status != 0 && again.err.contains("int8-quantized already"), again.err)
        let both = try fusionlab(["compress", source, "--quantize", "int8", "--prune", "0.5"])
        XCTAssertTrue(both.status != 0 && both.err.contains("exactly one of --quantize int8 and --prune"), both.err)
        let sparsity = try fusionlab(["compress", source, "--prune", "0.5,1"])
        XCTAssertTrue(sparsity.status != 0 && sparsity.err.contains("--prune: sparsity 1 is outside [0, 1)"), sparsity.err)
        let kind = try fusionlab(["compress", source, "--quantize", "int4"])
        XCTAssertTrue(kind.status != 0 && kind.err.contains("--quantize: expected int8"), kind.err)
        let unfinished = (source as NSString).deletingLastPathComponent + "/99999999-999999-killed"
        try FileManager.default.createDirectory(atPath: unfinished + "/checkpoints", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source + "/config.resolved.json", toPath: unfinished + "/config.resolved.json")
        try Data("{\"status\": \"running\", \"pid\": 999999}".utf8).write(to: URL(fileURLWithPath: unfinished + "/manifest.json"))
        let killed = try fusionlab(["compress", unfinished, "--quantize", "int8"])
        XCTAssertTrue(killed.status != 0 && killed.err.contains("the run is interrupted; only a finished run can be compressed"), killed.err)
        try FileManager.default.removeItem(atPath: unfinished)
        // A fine-tune may not start from an int8 checkpoint.
        let transfer = try fusionlab(["run", layeredExperiment("from-int8"), "--set", "transfer.init_from=\(run)"])
        XCTAssertTrue(transfer.status != 0 && transfer.err.contains("is an int8-quantized checkpoint"), transfer.err)
    }

    func testCompressPrunesByMagnitudeAndByChannels() throws {
        XCTAssertEqual(try fusionlab(["run", layeredExperiment("trim"), "--quiet"]).status, 0)
        let source = try XCTUnwrap(runDirectories("trim").last)
        // Gradual magnitude pruning over two fine-tuning epochs, two sparsities in one command.
        let magnitude = try fusionlab(["compress", source, "--prune", "0.5,0.8", "--finetune-epochs", "2"])
        XCTAssertEqual(magnitude.status, 0, magnitude.err)
        for (sparsity, folder) in [(0.5, "trim-prune-magnitude-0.5"), (0.8, "trim-prune-magnitude-0.8")] {
            let run = try XCTUnwrap(runDirectories(folder).last)
            let tensors = try Safetensors.read(run + "/checkpoints/best.safetensors").tensors
            // Linear and convolution weights: every 2-D+ weight but the text embedding table.
            let weights = tensors.filter { $0.key.hasSuffix(".weight") && $0.value.shape.count >= 2 && $0.key != "encoders.text.layers.0.weight" }
            let total = weights.values.reduce(0) { $0 + $1.count }
            let zeros = weights.values.reduce(0) { sum, t in sum + t.scalars.filter { $0 == 0 }.count }
            XCTAssertEqual(Double(zeros) / Double(total), sparsity, accuracy: 0.02, folder)
            XCTAssertEqual(try json(run + "/compression.json")["method"] as? String, "magnitude")
            XCTAssertEqual(try json(run + "/manifest.json")["status"] as? String, "finished")
            XCTAssertTrue(magnitude.out.contains(run), magnitude.out)
        }
        // Channel pruning shrinks the layers; sparsity 0 in one shot changes nothing.
        let none = try fusionlab(["compress", source, "--prune", "0", "--method", "channels", "--finetune-epochs", "0", "--quiet"])
        XCTAssertEqual(none.status, 0, none.err)
        let same = try XCTUnwrap(runDirectories("trim-prune-channels-0.0").last)
        XCTAssertEqual(try predictions(same), try predictions(source))
        let channels = try fusionlab(["compress", source, "--prune", "0.5", "--method", "channels", "--finetune-epochs", "1"])
        XCTAssertEqual(channels.status, 0, channels.err)
        XCTAssertTrue(channels.err.contains("encoders.image.layers.0 4 → 2"), channels.err)
        let shrunk = try XCTUnwrap(runDirectories("trim-prune-channels-0.5").last)
        let config = try json(shrunk + "/config.resolved.json")
        let image = try XCTUnwrap(((config["model"] as? [String: Any])?["image"] as? [String: Any])?["layers"] as? [[String: Any]])
        XCTAssertEqual(image[0]["channels"] as? Int, 2)
        XCTAssertEqual(image[3]["channels"] as? Int, 3)
        let summary = try json(shrunk + "/compression.json")
        XCTAssertLessThan(try XCTUnwrap(summary["parameters"] as? Int), try XCTUnwrap(try json(same + "/compression.json")["parameters"] as? Int))
        let evaluated = try fusionlab(["evaluate", shrunk, "--quiet"])
        XCTAssertEqual(evaluated.status, 0, evaluated.err)
    }

    func testCompareShowsCompressedVariantsAndTheSparsityCurve() throws {
        let experiment = layeredExperiment("tradeoff")
        let file = Self.workspace.appendingPathComponent(experiment).path
        let text = try String(contentsOfFile: file, encoding: .utf8)
        try text.replacingOccurrences(of: "\"training\":", with: """
        "compare": {"axes": [{"key": "model.fusion.kind", "values": ["concat"]}], "seeds": [0], "unimodal_baselines": false,
                    "compress": [{"kind": "int8", "calibration_batches": 2}, {"kind": "channels", "sparsity": 0.5, "finetune_epochs": 0}]},
        "training":
        """).write(toFile: file, atomically: true, encoding: .utf8)
        let compare = try fusionlab(["compare", experiment, "--quiet"])
        XCTAssertEqual(compare.status, 0, compare.err)
        let folder = try XCTUnwrap(runDirectories("tradeoff").last { $0.contains("compare-") })
        let md = try String(contentsOfFile: folder + "/comparison.md", encoding: .utf8)
        XCTAssertTrue(md.contains("| fusion=concat · int8 |") && md.contains("| fusion=concat · channels 0.5 |") && md.contains("samples/s"), md)
        let rows = try XCTUnwrap(try json(folder + "/comparison.json")["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 3)
        XCTAssertTrue(rows.allSatisfy { ($0["deployment"] as? [String: Any])?["samples_per_second"] is Double }, "\(rows)")
        let notebook = try fusionlab(["export-notebook", folder, "--output", "notebooks"])
        XCTAssertEqual(notebook.status, 0, notebook.err)
        // An invalid entry is caught before anything trains.
        let bad = try fusionlab(["validate", experiment, "--set", "compare.compress=[{\"kind\": \"channels\", \"sparsity\": 1.5}]"])
        XCTAssertTrue(bad.status != 0 && bad.err.contains("compare.compress.0.sparsity: expected a sparsity in [0, 1), got 1.5"), bad.err)
        let kind = try fusionlab(["validate", experiment, "--set", "compare.compress=[{\"kind\": \"int4\"}]"])
        XCTAssertTrue(kind.status != 0 && kind.err.contains("\"int8\", \"magnitude\", \"channels\""), kind.err)

        // compress with several sparsities writes a summary folder whose notebook plots accuracy against sparsity.
        let runs = try XCTUnwrap(FileManager.default.enumerator(atPath: folder + "/runs")?.compactMap { $0 as? String }
            .filter { $0.hasSuffix("config.resolved.json") && !$0.contains("int8") && !$0.contains("prune") }.first)
        let trained = folder + "/runs/" + (runs as NSString).deletingLastPathComponent
        let sweep = try fusionlab(["compress", trained, "--prune", "0.3,0.6", "--method", "channels", "--finetune-epochs", "0"])
        XCTAssertEqual(sweep.status, 0, sweep.err)
        let summary = try XCTUnwrap(sweep.out.split(separator: "\n").first { $0.hasPrefix("summary: ") }.map { String($0.dropFirst(9).split(separator: " ")[0]) })
        let exported = try fusionlab(["export-notebook", summary, "--output", "notebooks"])
        XCTAssertEqual(exported.status, 0, exported.err)
        let path = exported.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").last.map(String.init) ?? ""
        let ipynb = try String(contentsOfFile: path.hasPrefix("/") ? path : Self.workspace.appendingPathComponent(path).path, encoding: .utf8)
        XCTAssertTrue(ipynb.contains("accuracy vs sparsity"), String(ipynb.prefix(400)))
    }
}

/// An exported notebook executed by Jupyter keeps its figures and runs without errors.
extension CompressionTests {
    func testAnExportedNotebookSurvivesRunAll() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let tools = ProcessInfo.processInfo.environment["FUSIONLAB_NOTEBOOK_PYTHONPATH"]
            ?? root.appendingPathComponent(".build/notebook-python").path
        guard FileManager.default.fileExists(atPath: tools + "/nbconvert") else {
            throw XCTSkip("nbconvert not found in \(tools): run scripts/fetch-python-tools.sh notebook nbconvert ipykernel pandas matplotlib (needs PyPI)")
        }
        XCTAssertEqual(try fusionlab(["compare", tinyExperiment("runall"), "--quiet"]).status, 0)
        let folder = try XCTUnwrap(runDirectories("runall").last { $0.contains("compare-") })
        let exported = try fusionlab(["export-notebook", folder, "--output", "nb", "--name", "runall"])
        XCTAssertEqual(exported.status, 0, exported.err)
        let notebook = Self.workspace.appendingPathComponent("nb/runall.ipynb").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "nbconvert", "--to", "notebook", "--execute", notebook, "--output", "executed.ipynb"]
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = tools
        env["MPLBACKEND"] = "Agg"
        process.environment = env
        process.currentDirectoryURL = Self.workspace.appendingPathComponent("nb")
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, errText)
        func figures(_ path: String) throws -> (attachments: Int, errors: Int) {
            let nb = try json(path)
            let cells = try XCTUnwrap(nb["cells"] as? [[String: Any]])
            let attachments = cells.filter { (($0["source"] as? [String])?.joined() ?? "").contains("data:image/svg+xml;base64,") }.count
            let errors = cells.flatMap { ($0["outputs"] as? [[String: Any]]) ?? [] }.filter { $0["output_type"] as? String == "error" }.count
            return (attachments, errors)
        }
        let before = try figures(notebook), after = try figures(Self.workspace.appendingPathComponent("nb/executed.ipynb").path)
        XCTAssertGreaterThan(before.attachments, 0)
        XCTAssertEqual(after.attachments, before.attachments, "Run All kept every figure")
        XCTAssertEqual(after.errors, 0)
    }
}

/// training.save and training.save_frozen: which checkpoints a run keeps, and frozen weights left out.
extension CompressionTests {
    func testCheckpointRetentionAndFrozenWeightsLeftOut() throws {
        XCTAssertEqual(try fusionlab(["run", tinyExperiment("keep-source"), "--quiet"]).status, 0)
        let source = try XCTUnwrap(runDirectories("keep-source").last)
        let experiment = tinyExperiment("keep", extra: """
        , "transfer": {"init_from": "\(source)", "freeze": ["encoders.image"]}
        """)
        let lean = try fusionlab(["run", experiment, "--quiet", "--set", "training.save=best", "--set", "training.save_frozen=false"])
        XCTAssertEqual(lean.status, 0, lean.err)
        let run = try XCTUnwrap(runDirectories("keep").last)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints"), ["best.safetensors"])
        let (tensors, metadata) = try Safetensors.read(run + "/checkpoints/best.safetensors")
        XCTAssertFalse(tensors.keys.contains { $0.hasPrefix("encoders.image.") }, "frozen weights left out")
        XCTAssertTrue(tensors.keys.contains { $0.hasPrefix("encoders.audio.") })
        XCTAssertTrue(metadata["fusionlab.frozen_left_out"]?.contains("encoders.image.") ?? false)
        // Loading takes the frozen weights from init_from again: evaluate reproduces the test metrics.
        let evaluated = try fusionlab(["evaluate", run, "--quiet"])
        XCTAssertEqual(evaluated.status, 0, evaluated.err)
        XCTAssertEqual(try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluated.out.utf8)) as? [String: Any])["accuracy"] as? Double,
                       try json(run + "/metrics.json")["accuracy"] as? Double)
        let before = Set(runDirectories("keep"))
        let all = try fusionlab(["run", experiment, "--quiet", "--set", "training.save=all"])
        XCTAssertEqual(all.status, 0, all.err)
        let every = try XCTUnwrap(runDirectories("keep").first { !before.contains($0) })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: every + "/checkpoints").sorted(),
                       ["best.safetensors", "epoch-1.safetensors", "epoch-2.safetensors", "last.safetensors", "resume.safetensors"])
        let bad = try fusionlab(["validate", experiment, "--set", "training.save=some"])
        XCTAssertTrue(bad.status != 0 && bad.err.contains("\"best\", \"last\", \"all\""), bad.err)
    }
}
