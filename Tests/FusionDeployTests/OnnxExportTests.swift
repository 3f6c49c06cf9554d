import Foundation
import FusionTestSupport
import XCTest

/// `fusionlab export onnx` on every fusion strategy and every layer kind, checked in onnxruntime
/// (scripts/onnx_check.py) against FusionLab's probabilities on reference inputs where clips are
/// shorter than the audio window (masks matter) and every other sample lacks some modalities.
/// onnxruntime comes from scripts/fetch-python-tools.sh (onnx); without it the check is skipped, saying so.
final class OnnxExportTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("onnx")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    /// Three encoder sets that together use every layer type.
    static let onnxLayerSets: [String: String] = [
        "A": """
        "text": {"layers": [{"type": "embedding", "units": 8}, {"type": "positional"}, {"type": "transformer", "heads": 2, "feed_forward": 16},
                            {"type": "global_pool", "op": "attention"}]},
        "image": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 3, "padding": 1}, "batch_norm", {"type": "leaky_relu", "slope": 0.1},
                             {"type": "avg_pool2d", "kernel": 2, "padding": 1},
                             {"type": "residual", "layers": [{"type": "conv2d", "channels": 4, "kernel": 3, "padding": 1}, "gelu"]},
                             {"type": "max_pool2d", "kernel": 2}, "flatten", {"type": "linear", "units": 8}, "tanh", {"type": "dropout", "p": 0.2}, "layer_norm"]},
        "audio": {"layers": [{"type": "conv1d", "channels": 6, "kernel": 3, "stride": 2, "padding": 1}, "sigmoid", {"type": "max_pool1d", "kernel": 2},
                             {"type": "global_pool", "op": "max"}]}
        """,
        "B": """
        "text": {"layers": [{"type": "embedding", "units": 8}, {"type": "positional", "encoding": "learned"},
                            {"type": "gru", "hidden": 6, "bidirectional": true, "num_layers": 2}]},
        "audio": {"layers": [{"type": "lstm", "hidden": 5, "output": "sequence", "bidirectional": true}, {"type": "global_pool", "op": "avg"}]},
        "image": {"layers": [{"type": "conv2d", "channels": 3, "kernel": 3}, "relu",
                             {"type": "transformer", "heads": 1, "norm_first": true, "activation": "gelu"}, {"type": "global_pool"}]}
        """,
        "C": """
        "text": {"layers": [{"type": "bag_of_words", "binary": true}, {"type": "linear", "units": 8}, "relu"]},
        "audio": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 3, "padding": 1}, "relu", {"type": "max_pool2d", "kernel": 2},
                             {"type": "global_pool", "op": "avg"}]},
        "image": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 3, "stride": 2}, {"type": "global_pool", "op": "max"}]}
        """,
    ]

    /// Depthwise convolutions with TensorFlow's SAME padding (asymmetric on even inputs), ReLU6 and
    /// batch norms with their own eps, as the efficientnet_lite0 preset uses, on images and audio.
    static let depthwiseLayers = """
        "text": {"layers": [{"type": "embedding", "units": 8}, "global_pool"]},
        "image": {"layers": [{"type": "conv2d", "channels": 6, "kernel": 3, "stride": 2, "padding": "same", "bias": false},
                             {"type": "batch_norm", "eps": 0.001, "momentum": 0.01}, "relu6",
                             {"type": "residual", "layers": [{"type": "conv2d", "channels": 6, "kernel": 5, "padding": "same", "groups": 6},
                                                             {"type": "batch_norm", "eps": 0.001}, "relu6"]},
                             {"type": "conv2d", "channels": 6, "kernel": 3, "stride": 2, "padding": [0, 1, 0, 1], "groups": 6}, "global_pool"]},
        "audio": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 3, "stride": 2, "padding": "same"}, "relu6",
                             {"type": "conv2d", "channels": 4, "kernel": 3, "padding": "same", "groups": 4}, {"type": "global_pool", "op": "avg"}]}
        """

    func onnxExperiment(_ fusion: String, layers: String, extra: String = "") -> String {
        write("onnx-\(fusion).json", """
        {"name": "onnx-\(fusion)", "seed": 3,
         "dataset": {"path": "data-80", "generate": true, "generator": {"samples": 80, "image_size": 16, "audio_seconds": 0.25}},
         "preprocessing": {"image": {"height": 16, "width": 16}, "audio": {"duration": 0.4, "n_fft": 128, "hop_length": 64, "n_mels": 16, "n_mfcc": 8},
                           "text": {"max_length": 8}},
         "model": {\(layers), "fusion": {"kind": "\(fusion)", "dim": 8, "heads": 2, "projection": 4\(extra)}, "head": {"hidden": [8]}},
         "training": {"epochs": 2, "batch_size": 16, "threads": 1}}
        """)
    }

    /// The Python with onnx and onnxruntime, or a skip.
    func onnxPython() throws -> [String: String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let tools = ProcessInfo.processInfo.environment["FUSIONLAB_ONNX_PYTHONPATH"] ?? root.appendingPathComponent(".build/onnx-python").path
        guard FileManager.default.fileExists(atPath: tools + "/onnxruntime") else {
            throw XCTSkip("onnxruntime not found in \(tools): run scripts/fetch-python-tools.sh (onnx) (needs PyPI)")
        }
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = tools
        env["FUSIONLAB_ROOT"] = root.path
        return env
    }

    /// scripts/onnx_check.py on `model`: its JSON result.
    func onnxCheck(_ model: String, env: [String: String]) throws -> [String: Any] {
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                    ["python3", (env["FUSIONLAB_ROOT"] ?? "") + "/scripts/onnx_check.py", model, "--json"], environment: env)
        let parsed = (try? JSONSerialization.jsonObject(with: Data(result.out.utf8))) as? [String: Any] ?? [:]
        XCTAssertFalse(parsed.isEmpty, "onnx_check gave no result: \(result.out)\n\(result.err)")
        return parsed
    }

    func testEveryFusionAndLayerKindExportsToONNXAndMatchesOnnxruntime() throws {
        let env = try onnxPython()
        let fusions = [("concat", "A"), ("late", "B"), ("gated", "C"), ("tensor", "A"), ("low_rank", "B"), ("attention", "C"),
                       ("transformer", "A"), ("sum", "B"), ("product", "C")]
        for (fusion, set) in fusions {
            let experiment = onnxExperiment(fusion, layers: Self.onnxLayerSets[set] ?? "", extra: fusion == "gated" ? ", \"modality_dropout\": 0.3" : "")
            let run = try fusionlab(["run", experiment, "--quiet"])
            XCTAssertEqual(run.status, 0, run.err)
            let folder = try XCTUnwrap(runDirectories("onnx-\(fusion)").last)
            let exported = try fusionlab(["export", "onnx", folder, "-o", "\(fusion).onnx", "--reference-samples", "24"])
            XCTAssertEqual(exported.status, 0, "\(fusion): \(exported.err)")
            let info = try json(Self.workspace.appendingPathComponent("\(fusion).onnx.json").path)
            XCTAssertEqual(info["opset"] as? Int, 17)
            XCTAssertEqual((info["inputs"] as? [[String: Any]])?.compactMap { $0["name"] as? String },
                           ["text_ids", "text_mask", "text_present", "image", "image_present", "audio", "audio_mask", "audio_present"])
            let result = try onnxCheck("\(fusion).onnx", env: env)
            XCTAssertEqual(result["ok"] as? Bool, true, "\(fusion) (layer set \(set)): \(result)")
            XCTAssertLessThanOrEqual(result["max_abs_diff"] as? Double ?? 1, 1e-5, "\(fusion)")
            XCTAssertEqual(result["agree"] as? Int, result["samples"] as? Int, "\(fusion)")
        }
    }

    /// A client that knows only model.onnx.json builds the inputs from the dataset's raw files
    /// with librosa, Pillow and tokenizers (onnx_check.py --raw) and gets `fusionlab predict`'s
    /// probabilities: clips shorter than the window (padding), images resized, captions tokenised.
    func testAClientBuildingInputsFromRawFilesAgreesWithPredict() throws {
        let env = try onnxPython()
        guard FileManager.default.fileExists(atPath: (env["PYTHONPATH"] ?? "") + "/librosa") else {
            throw XCTSkip("librosa not found in \(env["PYTHONPATH"] ?? ""): run scripts/fetch-python-tools.sh (onnx) (needs PyPI)")
        }
        let experiment = write("onnx-raw.json", """
        {"name": "onnx-raw", "seed": 5,
         "dataset": {"path": "data-raw", "generate": true, "generator": {"samples": 60, "image_size": 20, "audio_seconds": 0.25}},
         "preprocessing": {"image": {"height": 14, "width": 14, "color": "rgb", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
                           "audio": {"sample_rate": 16000, "duration": 0.5, "n_fft": 256, "hop_length": 128, "n_mels": 24, "n_mfcc": 10,
                                     "deltas": 1}, "text": {"max_length": 6}},
         "model": {\(Self.onnxLayerSets["C"] ?? ""), "fusion": {"kind": "concat", "dim": 8}, "head": {"hidden": [8]}},
         "training": {"epochs": 2, "batch_size": 16, "threads": 1}}
        """)
        XCTAssertEqual(try fusionlab(["run", experiment, "--quiet"]).status, 0)
        let folder = try XCTUnwrap(runDirectories("onnx-raw").last)
        let exported = try fusionlab(["export", "onnx", folder, "-o", "raw.onnx", "--reference-samples", "0"])
        XCTAssertEqual(exported.status, 0, exported.err)
        let info = try json(Self.workspace.appendingPathComponent("raw.onnx.json").path)
        let audio = try XCTUnwrap((info["preprocessing"] as? [String: Any])?["audio"] as? [String: Any])
        XCTAssertEqual(audio["mel_scale"] as? String, "slaney")
        XCTAssertEqual(audio["n_fft"] as? Int, 256)
        XCTAssertEqual(audio["pad_mode"] as? String, "constant")
        let predicted = try fusionlab(["predict", folder, "--dataset", "data-raw", "--split", "test"])
        XCTAssertEqual(predicted.status, 0, predicted.err)
        XCTAssertTrue(predicted.out.hasPrefix("id,label,predicted,p_"), predicted.out)
        try predicted.out.write(to: Self.workspace.appendingPathComponent("raw-predictions.csv"), atomically: true, encoding: .utf8)
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                    ["python3", (env["FUSIONLAB_ROOT"] ?? "") + "/scripts/onnx_check.py", "raw.onnx", "--raw", "data-raw",
                                     "--predictions", "raw-predictions.csv", "--json"], environment: env)
        let parsed = (try? JSONSerialization.jsonObject(with: Data(result.out.utf8))) as? [String: Any] ?? [:]
        print("onnx_check --raw: \(result.out)")
        XCTAssertEqual(parsed["ok"] as? Bool, true, "\(result.out)\n\(result.err)")
        XCTAssertGreaterThan(parsed["samples"] as? Int ?? 0, 5)
        XCTAssertLessThan(parsed["max_abs_diff"] as? Double ?? 1, 1e-3)
    }

    func testDepthwiseSamePaddingAndReLU6ExportToONNX() throws {
        let env = try onnxPython()
        let experiment = onnxExperiment("concat", layers: Self.depthwiseLayers)
        let run = try fusionlab(["run", experiment, "--quiet"])
        XCTAssertEqual(run.status, 0, run.err)
        let folder = try XCTUnwrap(runDirectories("onnx-concat").last)
        let exported = try fusionlab(["export", "onnx", folder, "-o", "depthwise.onnx", "--reference-samples", "24"])
        XCTAssertEqual(exported.status, 0, exported.err)
        let result = try onnxCheck("depthwise.onnx", env: env)
        XCTAssertEqual(result["ok"] as? Bool, true, "\(result)")
        XCTAssertLessThanOrEqual(result["max_abs_diff"] as? Double ?? 1, 1e-5)
    }

    func testONNXExportRefusesClearly() throws {
        let experiment = tinyExperiment("onnx-refuse", epochs: 1)
        XCTAssertEqual(try fusionlab(["run", experiment, "--quiet"]).status, 0)
        let folder = try XCTUnwrap(runDirectories("onnx-refuse").last)
        let wrong = try fusionlab(["export", "onnx", folder, "-o", "model.bin"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.err.contains("must end in .onnx"), wrong.err)
        let missing = try fusionlab(["export", "onnx", "runs/nowhere", "-o", "x.onnx"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("runs/nowhere"), missing.err)
    }
}

