import Foundation
import FusionData
import FusionConfig
import FusionModels
import FusionTensor
import XCTest

/// Encoders written as layer stacks in experiment files: decoding, shape inference before any
/// data is read, and errors that name the JSON path and both shapes.
final class LayerStackConfigTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("stack-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func load(_ model: String) throws -> ExperimentConfig {
        let path = dir.appendingPathComponent("e.json").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(#"{"name": "e", "model": \#(model)}"#.utf8))
        return try ConfigLoader.load(path).config
    }

    func expectError(_ model: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(model), file: file, line: line) { error in
            let message = "\(error)"
            for f in fragments { XCTAssertTrue(message.contains(f), "\"\(f)\" not in: \(message)", file: file, line: line) }
        }
    }

    func testALeNetAndAnMFCCCNNInferEveryShape() throws {
        let config = try load(#"""
        {"image": {"layers": [{"type": "conv2d", "channels": 6, "kernel": 5, "padding": 2}, "relu", {"type": "max_pool2d", "kernel": 2},
                              {"type": "conv2d", "channels": 16, "kernel": 5}, "relu", {"type": "max_pool2d", "kernel": 2},
                              "flatten", {"type": "linear", "units": 120}, "relu", {"type": "linear", "units": 84, "name": "proj"}]},
         "audio": {"layers": [{"type": "gru", "hidden": 8, "bidirectional": true, "num_layers": 2}]}}
        """#)
        let inputs = ModelInputs(image: [1, 28, 28], audio: [13, 32])
        let image = try XCTUnwrap(try config.model.plan(for: .image, inputs: inputs))
        XCTAssertEqual(image.steps.map { $0.output.dims }, [[6, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 10, 10], [16, 5, 5],
                                                            [400], [120], [120], [84]])
        XCTAssertEqual(image.outputDim, 84)
        let audio = try XCTUnwrap(try config.model.plan(for: .audio, inputs: inputs))
        XCTAssertEqual(audio.steps[0].input, StackShape(.sequence, [32, 13]), "the GRU reads MFCC frames in order")
        XCTAssertEqual(audio.outputDim, 16)
        var rng = SeededGenerator(seed: 0)
        let keys = StackEncoder(image, seed: 0, rng: &rng).namedParameters().map { $0.key }
        XCTAssertEqual(Set(keys), ["layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias", "layers.7.weight", "layers.7.bias",
                                   "layers.proj.weight", "layers.proj.bias"])
        // The resolved file keeps the stack, so a run can be rebuilt from config.resolved.json.
        let again = try ConfigLoader.decode(ConfigLoader.jsonTree(config), defaultSource: "resolved")
        XCTAssertEqual(again.model.image.layers, config.model.image.layers)
    }

    /// The PyTorch twin (Benchmarks/twin/twin_model.py) is the one second place that must know
    /// every layer kind: a kind it does not name fails here.
    func testTheTwinKnowsEveryLayerKind() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let twin = try String(contentsOf: root.appendingPathComponent("Benchmarks/twin/twin_model.py"), encoding: .utf8)
        for kind in LayerKind.allCases {
            XCTAssertTrue(twin.contains("\"\(kind.rawValue)\""), "Benchmarks/twin/twin_model.py does not handle \(kind.rawValue)")
            XCTAssertEqual(LayerSpec.types[kind.rawValue], kind.settings)
        }
    }

    func testGlobalPoolCanPoolRowsFirstAndIncludeThePadding() throws {
        func encode(_ pool: String) throws -> [Float] {
            let config = try load(#"{"audio": {"layers": [{"type": "max_pool2d", "kernel": 1}, \#(pool)]}}"#)
            let plan = try XCTUnwrap(try config.model.plan(for: .audio, inputs: ModelInputs(audio: [2, 4])))
            var rng = SeededGenerator(seed: 0)
            // Two coefficients × four frames, the last frame padding (zeros, as the loader writes it).
            let x = Tensor([1, -3, 2, 0, 3, -1, -8, 0], shape: [1, 2, 4])
            return StackEncoder(plan, seed: 0, rng: &rng).encode(ModalityInput(features: x, mask: Tensor([1, 1, 1, 0], shape: [1, 4]))).scalars
        }
        // Column means 2, −2, −3, 0: the maximum over the valid frames is 2; with the padding too, still 2.
        XCTAssertEqual(try encode(#"{"type": "global_pool", "rows": "avg", "op": "max"}"#), [2])
        // Column maxima 3, −1, 2, 0; their mean over the valid frames is 4/3, over all four 1.
        XCTAssertEqual(try encode(#"{"type": "global_pool", "rows": "max"}"#)[0], 4.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(try encode(#"{"type": "global_pool", "rows": "max", "masked": false}"#)[0], 1, accuracy: 1e-6)
        // Column means 2, −2, −3, 0: the padding's 0 beats the valid minimum −3 only when it is pooled.
        XCTAssertEqual(try encode(#"{"type": "global_pool", "rows": "avg", "op": "max", "masked": false}"#), [2])
        expectError(#"{"audio": {"layers": [{"type": "global_pool", "rows": "avg"}]}}"#, ["model.audio.layers.0", "\"rows\" pools the rows of an image value"])
        expectError(#"{"audio": {"layers": [{"type": "max_pool2d", "kernel": 1}, {"type": "global_pool", "rows": "attention"}]}}"#, ["\"rows\" must be avg or max"])
    }

    func testAShapeThatDoesNotFitNamesThePathAndBothShapes() {
        expectError(#"{"image": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 3}, {"type": "linear", "units": 10}]}}"#,
                    ["model.image.layers.1", "linear", "an image [4, 30, 30]", "flatten"])
        expectError(#"{"image": {"layers": [{"type": "conv2d", "channels": 4, "kernel": 40}, "flatten"]}}"#,
                    ["model.image.layers.0", "kernel of 40", "of 32", "an image [1, 32, 32]"])
        expectError(#"{"audio": {"layers": [{"type": "conv1d", "channels": 4, "kernel": 3}]}}"#,
                    ["model.audio.layers", "must end in a vector", "[4, 30]"])
        expectError(#"{"image": {"layers": [{"type": "residual", "layers": [{"type": "conv2d", "channels": 8, "kernel": 3, "padding": 1}]}, "flatten"]}}"#,
                    ["model.image.layers.0", "maps an image [1, 32, 32] to an image [8, 32, 32]"])
        expectError(#"{"text": {"layers": ["relu"]}}"#, ["model.text.layers.0", "embedding or bag_of_words"])
        expectError(#"{"image": {"channels": [8, 8, 8, 8, 8, 8]}}"#, ["model.image.preset", "\"cnn\" preset does not fit", "max_pool2d"])
    }

    func testLayerSettingsAreChecked() {
        expectError(#"{"image": {"layers": [{"type": "conv2d", "chanels": 4, "kernel": 3}, "flatten"]}}"#,
                    ["model.image.layers.0", "\"chanels\" is not a setting of conv2d", "did you mean \"channels\"?"])
        expectError(#"{"image": {"layers": [{"type": "conv3d", "channels": 4}]}}"#, ["model.image.layers.0", "unknown layer type \"conv3d\"", "conv2d"])
        expectError(#"{"image": {"layers": ["conv2d"]}}"#, ["model.image.layers.0", "needs settings"])
        expectError(#"{"image": {"layers": [{"channels": 4}]}}"#, ["model.image.layers.0", "needs a \"type\""])
        expectError(#"{"image": {"layers": [{"type": "conv2d", "channels": 4, "kernel": [3, 3, 3]}]}}"#, ["model.image.layers.0.kernel"])
        expectError(#"{"audio": {"layers": [{"type": "gru", "hidden": 4, "output": "all"}]}}"#, ["model.audio.layers.0.output", "expected one of \"last\", \"sequence\", got \"all\""])
        expectError(#"{"image": {"preset": "lenett"}}"#, ["model.image.preset", "did you mean \"lenet\"?"])
        expectError(#"{"image": {"layers": ["flatten", {"type": "linear", "units": 3, "name": "a"}, {"type": "linear", "units": 3, "name": "a"}]}}"#,
                    ["name \"a\" is used twice"])
    }

    func testAModelTooLargeToTrainIsRefusedAtValidation() throws {
        expectError(#"{"image": {"channels": [100000, 100000]}}"#, ["model: training would need about", "GiB", "training.max_memory_gb"])
        let path = dir.appendingPathComponent("big.json").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(#"{"name": "big", "model": {"image": {"channels": [512, 512]}}}"#.utf8))
        XCTAssertThrowsError(try ConfigLoader.load(path, overrides: ["training.max_memory_gb=0.01"]))
        XCTAssertNoThrow(try ConfigLoader.load(path), "the limit is a setting")
    }

    func testBatchNormKeepsTheKindItIsGiven() throws {
        let config = try load(#"""
        {"audio": {"layers": [{"type": "conv1d", "channels": 4, "kernel": 3}, "batch_norm", {"type": "conv1d", "channels": 4, "kernel": 3},
                              "flatten", {"type": "linear", "units": 6}, "batch_norm"]}}
        """#)
        let plan = try XCTUnwrap(try config.model.plan(for: .audio, inputs: ModelInputs(audio: [13, 32])))
        XCTAssertEqual(plan.steps[1].output, StackShape(.channels, [4, 30]), "BatchNorm1d over the channels")
        XCTAssertEqual(plan.steps[5].output, StackShape(.vector, [6]))
    }

    func testTransferPatternsReachStackKeys() throws {
        let config = try load(#"{"image": {"preset": "lenet"}}"#)
        let model = try MultimodalClassifier.build(config.model, inputs: ModelInputs(image: [1, 28, 28]), classes: 3, seed: 0)
        let frozen = model.freeze(["encoders.image.layers.0"])
        XCTAssertEqual(Set(frozen), ["encoders.image.layers.0.weight", "encoders.image.layers.0.bias"])
        XCTAssertTrue(model.namedParameters().contains { $0.key == "encoders.audio.layers.0.weight" && $0.tensor.requiresGrad })
        XCTAssertTrue(model.namedParameters().contains { $0.key == "encoders.text.layers.0.weight" }, "the text embedding is layer 0")
    }
}
