import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

/// A two-level model to exercise key discovery.
final class TinyModel: Module {
    let encoder: Sequential
    let norm: BatchNorm
    let head: Linear
    let extras: [Linear]

    init(rng: inout SeededGenerator) {
        encoder = Sequential([Conv2d(1, 2, kernel: (3, 3), rng: &rng), Activation(.relu)])
        norm = BatchNorm(2)
        head = Linear(2, 3, rng: &rng)
        extras = [Linear(3, 3, bias: false, rng: &rng)]
    }
}

final class ModuleTests: XCTestCase {
    func testKeysParametersAndBuffers() {
        var rng = SeededGenerator(seed: 0)
        let m = TinyModel(rng: &rng)
        XCTAssertEqual(m.namedParameters().map { $0.key },
                       ["encoder.0.weight", "encoder.0.bias", "norm.weight", "norm.bias", "head.weight", "head.bias", "extras.0.weight"])
        XCTAssertEqual(m.namedBuffers().map { $0.key }, ["norm.running_mean", "norm.running_var"])
        XCTAssertEqual(m.parameterCount, 18 + 2 + 2 + 2 + 6 + 3 + 9)
    }

    func testFreezeByPatternAndTrainEvalPropagation() {
        var rng = SeededGenerator(seed: 0)
        let m = TinyModel(rng: &rng)
        XCTAssertEqual(m.freeze(["encoder"]), ["encoder.0.weight", "encoder.0.bias"])
        XCTAssertEqual(m.freeze(["*.bias"]), ["encoder.0.bias", "norm.bias", "head.bias"])
        XCTAssertEqual(m.trainableParameters().map { $0.key }, ["norm.weight", "head.weight", "extras.0.weight"])
        m.unfreeze(["*"])
        XCTAssertEqual(m.trainableParameters().count, 7)
        XCTAssertTrue(keyMatches("encoders.text.layer.3.weight", pattern: "encoders.*.layer.3.*"))
        XCTAssertFalse(keyMatches("encoders.textual.weight", pattern: "encoders.text"))
        m.eval()
        XCTAssertFalse(m.norm.training)
        XCTAssertFalse(m.encoder.layers[0].training)
        m.train()
        XCTAssertTrue(m.head.training)
    }

    func testFrozenParametersGetNoGradient() {
        var rng = SeededGenerator(seed: 0)
        let layer = Linear(3, 2, rng: &rng)
        layer.freeze(["weight"])
        let x = Tensor.randn([4, 3], using: &rng)
        layer(x).sum().backward()
        XCTAssertNil(layer.weight.grad)
        XCTAssertNotNil(layer.bias?.grad)
    }

    func testPyTorchDefaultInitialisationBounds() {
        var rng = SeededGenerator(seed: 0)
        let linear = Linear(100, 50, rng: &rng)
        let bound = 1 / Float(100).squareRoot()
        XCTAssertLessThanOrEqual(linear.weight.scalars.map { Swift.abs($0) }.max() ?? 1, bound)
        XCTAssertGreaterThan(linear.weight.scalars.map { Swift.abs($0) }.max() ?? 0, 0.9 * bound)
        let conv = Conv2d(4, 8, kernel: (3, 3), groups: 2, rng: &rng)
        XCTAssertLessThanOrEqual(conv.weight.scalars.map { Swift.abs($0) }.max() ?? 1, 1 / Float(18).squareRoot())
        let embedding = Embedding(count: 50, dim: 40, paddingIndex: 0, rng: &rng)
        XCTAssertEqual(Array(embedding.weight.scalars[0..<40]), [Float](repeating: 0, count: 40))
        let rest = Tensor(Array(embedding.weight.scalars[40...]), shape: [49 * 40])
        XCTAssertEqual(rest.mean().item, 0, accuracy: 0.05)
        XCTAssertEqual(rest.variance().item, 1, accuracy: 0.1)
    }

    func testDropoutScalesInTrainingAndIsIdentityInEval() {
        let dropout = Dropout(0.25, seed: 3)
        let x = Tensor.ones([10000])
        let y = dropout(x)
        let zeros = y.scalars.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / 10000, 0.25, accuracy: 0.02)
        XCTAssertTrue(y.scalars.allSatisfy { $0 == 0 || Swift.abs($0 - 1 / 0.75) < 1e-6 })
        dropout.eval()
        XCTAssertEqual(dropout(x).scalars, x.scalars)
    }

    func testBatchNormEvalUsesRunningStatistics() {
        let norm = BatchNorm(2)
        var rng = SeededGenerator(seed: 4)
        let x = Tensor.randn([64, 2, 3], mean: 3, std: 2, using: &rng)
        for _ in 0..<200 { _ = norm(x) }
        norm.eval()
        let y = norm(x)
        XCTAssertEqual(y.mean().item, 0, accuracy: 0.05)
        XCTAssertEqual(norm.runningMean.scalars[0], x.reshaped([64, 2, 3]).slice(axis: 1, 0..<1).mean().item, accuracy: 1e-3)
    }

    func testFrozenBatchNormKeepsItsStatisticsInTraining() {
        let norm = BatchNorm(2)
        norm.runningMean.data[0] = 1.5
        norm.runningVar.data[1] = 4
        _ = norm.freeze(["*"])
        XCTAssertTrue(norm.isFrozen)
        norm.train()
        var rng = SeededGenerator(seed: 5)
        let x = Tensor.randn([8, 2, 3], mean: 3, std: 2, using: &rng)
        let y = norm(x)
        XCTAssertEqual(norm.runningMean.scalars, [1.5, 0], "a frozen layer's running statistics do not move")
        XCTAssertEqual(norm.runningVar.scalars, [1, 4])
        // It normalises with them: (x − 1.5) / sqrt(1 + eps) on channel 0.
        XCTAssertEqual(y.data[0], (x.data[0] - 1.5) / (1 + 1e-5).squareRoot(), accuracy: 1e-5)
        _ = norm.unfreeze(["*"])
        _ = norm(x)
        XCTAssertNotEqual(norm.runningMean.scalars[0], 1.5, "unfrozen, it trains on batch statistics again")
    }
}
