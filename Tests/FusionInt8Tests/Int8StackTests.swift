import FusionCore
import FusionInt8
import FusionModels
import FusionNN
import FusionTensor
import XCTest

/// int8 layer stacks: runs compiled onto codes end to end agree with the layer-by-layer int8
/// path and with float32, and an int8 checkpoint loads back to the same outputs.
final class Int8StackTests: XCTestCase {
    func specs(_ json: String) throws -> [LayerSpec] { try JSONDecoder().decode([LayerSpec].self, from: Data(json.utf8)) }

    func encoder(seed: UInt64) throws -> StackEncoder {
        let layers = try specs("""
        [{"type": "conv2d", "channels": 6, "kernel": 3, "padding": 1}, "relu", {"type": "max_pool2d", "kernel": 2},
         {"type": "conv2d", "channels": 8, "kernel": 3}, "relu", {"type": "avg_pool2d", "kernel": 2}, "dropout",
         "flatten", {"type": "linear", "units": 24}, "relu", {"type": "linear", "units": 10}, "relu"]
        """)
        let plan = try LayerPlan(layers, input: StackShape(.image, [2, 14, 14]), path: "model.image.layers", vocabulary: 0)
        var rng = SeededGenerator(seed: seed)
        let e = StackEncoder(plan, seed: seed, rng: &rng)
        e.eval()
        return e
    }

    func testCompiledInt8RunsMatchLayerByLayerInt8AndFloat() throws {
        var rng = SeededGenerator(seed: 11)
        let calibration = Tensor.randn([64, 2, 14, 14], using: &rng)
        let x = Tensor.randn([37, 2, 14, 14], using: &rng)
        let e = try encoder(seed: 5)
        let float = withNoGrad { e.encode(ModalityInput(features: x)) }
        let report = try Int8Quantization.quantize(e) { _ = withNoGrad { e.encode(ModalityInput(features: calibration)) } }
        XCTAssertEqual(report.quantized.count, 4)
        let layerByLayer = withNoGrad { e.encode(ModalityInput(features: x)) }
        XCTAssertEqual(try compileInt8Stacks(e), 1)
        let compiled = withNoGrad { e.encode(ModalityInput(features: x)) }
        XCTAssertEqual(compiled.shape, [37, 10])
        let scale = float.scalars.map(abs).max() ?? 1
        XCTAssertLessThan(maxAbsDiff(compiled, layerByLayer) / scale, 0.02)
        XCTAssertLessThan(maxAbsDiff(compiled, float) / scale, 0.08)
        XCTAssertTrue(compiled.scalars.allSatisfy { $0.isFinite && $0 >= 0 })

        // Saved as I8 with scales, loaded into a fresh float model of the same plan: the same outputs.
        let path = NSTemporaryDirectory() + "int8-stack-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Int8Quantization.save(e, to: path)
        let fresh = try encoder(seed: 99)
        let keys = try Int8Quantization.load(fresh, from: path)
        XCTAssertEqual(keys.count, 4)
        try compileInt8Stacks(fresh)
        XCTAssertEqual(withNoGrad { fresh.encode(ModalityInput(features: x)) }.scalars, compiled.scalars)
        // A float model refuses nothing, but an int8 file with a broken scale is an error naming the tensor.
        var (tensors, metadata) = try Safetensors.read(path)
        tensors["layers.0.weight_scale"] = Tensor([0, 1, 1, 1, 1, 1], shape: [6])
        XCTAssertThrowsError(try Int8Quantization.load(try encoder(seed: 1), tensors: tensors, metadata: metadata, source: path)) { error in
            XCTAssertTrue("\(error)".contains("layers.0"), "\(error)")
        }
        metadata[Int8Quantization.metadataKey] = nil
        XCTAssertThrowsError(try Int8Quantization.load(try encoder(seed: 1), tensors: tensors, metadata: metadata, source: path)) { error in
            XCTAssertTrue("\(error)".contains("not an int8 checkpoint"), "\(error)")
        }
    }

    func testMagnitudePrunerFollowsTheZhuGuptaScheduleAndKeepsPrunedWeightsAtZero() throws {
        XCTAssertEqual(MagnitudePruner.sparsity(at: 0, initial: 0, final: 0.8, steps: 10), 0)
        XCTAssertEqual(MagnitudePruner.sparsity(at: 5, initial: 0, final: 0.8, steps: 10), 0.8 * (1 - 0.125), accuracy: 1e-12)
        XCTAssertEqual(MagnitudePruner.sparsity(at: 10, initial: 0, final: 0.8, steps: 10), 0.8)
        XCTAssertEqual(MagnitudePruner.sparsity(at: 20, initial: 0, final: 0.8, steps: 10), 0.8)
        let e = try encoder(seed: 2)
        let pruner = MagnitudePruner(model: e, finalSparsity: 0.7, rampSteps: 4)
        XCTAssertEqual(Set(pruner.targets.map { $0.key }), ["layers.0.weight", "layers.3.weight", "layers.8.weight", "layers.10.weight"])
        pruner.start()
        var previous = pruner.sparsity
        var pruned: Set<String> = []
        for _ in 0..<4 {
            // An "optimizer step" that moves every weight: pruned ones must return to zero.
            for (_, t) in pruner.targets { for i in 0..<t.count { t.data[i] += 0.001 } }
            pruner.advance()
            XCTAssertGreaterThanOrEqual(pruner.sparsity, previous)
            previous = pruner.sparsity
            let zeros = Set(pruner.targets.flatMap { target in
                (0..<target.tensor.count).filter { target.tensor.data[$0] == 0 }.map { "\(target.key)[\($0)]" }
            })
            XCTAssertTrue(pruned.isSubset(of: zeros))
            pruned = zeros
        }
        XCTAssertTrue(pruner.reachedFinal)
        XCTAssertEqual(pruner.sparsity, 0.7, accuracy: 0.001)
        // Global: the smallest magnitudes anywhere went first, so a kept weight is at least as large as any pruned one was.
        let kept = pruner.targets.flatMap { t in (0..<t.tensor.count).map { abs(t.tensor.data[$0]) } }.filter { $0 > 0 }
        XCTAssertGreaterThan(kept.min() ?? 0, 0)
    }
}
