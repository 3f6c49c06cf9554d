import Foundation
import FusionNN
import FusionOptim
import FusionTensor
import FusionTestSupport
import XCTest

final class OptimizerTests: XCTestCase {
    func golden() throws -> [String: Tensor] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "optimizers", withExtension: "safetensors", subdirectory: "Golden"))
        return try Safetensors.read(url.path).tensors
    }

    /// Three steps from p0 with the stored gradients, compared with PyTorch's parameters after each.
    func replay(_ name: String, _ make: ([ParameterGroup]) -> Optimizer) throws {
        let g = try golden()
        let p = try XCTUnwrap(g["p0"]).copy()
        p.requiresGrad = true
        let optimizer = make([ParameterGroup(parameters: [("p", p)], learningRate: name == "sgd" ? 0.1 : 0.01,
                                             weightDecay: name == "sgd" ? 0.01 : 0.1)])
        for k in 1...3 {
            p.grad = try XCTUnwrap(g["g\(k)"]).copy()
            optimizer.step()
            assertClose(p, try XCTUnwrap(g["\(name).p\(k)"]), rtol: 1e-5, atol: 1e-6, "\(name) step \(k)")
        }
    }

    func testAdamCountsStepsPerParameter() {
        // A parameter that first gets a gradient at step 3 (unfrozen late) takes PyTorch's first
        // Adam step: lr · sign(g) (bias correction from its own step 1).
        let a = Tensor([1], shape: [1], requiresGrad: true), b = Tensor([1], shape: [1], requiresGrad: true)
        let adam = Adam(groups: [ParameterGroup(parameters: [("a", a), ("b", b)], learningRate: 0.1)])
        for step in 1...3 {
            a.grad = Tensor([0.5], shape: [1])
            b.grad = step == 3 ? Tensor([2], shape: [1]) : nil
            adam.step()
        }
        XCTAssertEqual(b.item, 1 - 0.1, accuracy: 1e-5)
        XCTAssertEqual(adam.parameterSteps, ["a": 3, "b": 1])
    }

    func testAdamMatchesPyTorch() throws { try replay("adam") { Adam(groups: $0) } }
    func testAdamWMatchesPyTorch() throws { try replay("adamw") { AdamW(groups: $0) } }
    func testNesterovSGDMatchesPyTorch() throws { try replay("sgd") { SGD(groups: $0, momentum: 0.9, nesterov: true) } }

    func testPlainSGDAndMomentumByHand() {
        let p = Tensor([1, 2], shape: [2], requiresGrad: true)
        let sgd = SGD(groups: [ParameterGroup(parameters: [("p", p)], learningRate: 0.5)], momentum: 0.5)
        p.grad = Tensor([1, -1], shape: [2])
        sgd.step()  // buffer = g
        XCTAssertEqual(p.scalars, [0.5, 2.5])
        p.grad = Tensor([1, -1], shape: [2])
        sgd.step()  // buffer = 0.5·g + g
        XCTAssertEqual(p.scalars, [-0.25, 3.25])
    }

    func testGroupsHaveTheirOwnRatesAndFrozenParametersAreSkipped() {
        let a = Tensor([1], shape: [1], requiresGrad: true), b = Tensor([1], shape: [1], requiresGrad: true)
        let c = Tensor([1], shape: [1], requiresGrad: false)
        let sgd = SGD(groups: [ParameterGroup(name: "body", parameters: [("a", a), ("c", c)], learningRate: 0.1),
                               ParameterGroup(name: "head", parameters: [("b", b)], learningRate: 1)])
        for t in [a, b, c] { t.grad = Tensor([1], shape: [1]) }
        sgd.step()
        XCTAssertEqual(a.item, 0.9, accuracy: 1e-7)
        XCTAssertEqual(b.item, 0, accuracy: 1e-7)
        XCTAssertEqual(c.item, 1, "frozen parameter unchanged")
        sgd.learningRateScale = 0.5
        sgd.step()
        XCTAssertEqual(a.item, 0.85, accuracy: 1e-7)
        sgd.zeroGrad()
        XCTAssertNil(a.grad)
    }

    func testSchedules() {
        let step = StepSchedule(stepSize: 3, gamma: 0.5)
        XCTAssertEqual((0..<7).map { step.multiplier(at: $0) }, [1, 1, 1, 0.5, 0.5, 0.5, 0.25])
        let cosine = CosineSchedule(totalSteps: 10, minFactor: 0.1)
        XCTAssertEqual(cosine.multiplier(at: 0), 1, accuracy: 1e-6)
        XCTAssertEqual(cosine.multiplier(at: 5), 0.55, accuracy: 1e-6)
        XCTAssertEqual(cosine.multiplier(at: 10), 0.1, accuracy: 1e-6)
        XCTAssertEqual(cosine.multiplier(at: 20), 0.1, accuracy: 1e-6)
        let warm = WarmupSchedule(warmupSteps: 4, startFactor: 0, then: cosine)
        XCTAssertEqual((0..<5).map { warm.multiplier(at: $0) }, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(warm.multiplier(at: 9), 0.55, accuracy: 1e-6)
    }

    func testClipGradientNorm() {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true), b = Tensor([0], shape: [1], requiresGrad: true)
        a.grad = Tensor([3, 0], shape: [2])
        b.grad = Tensor([4], shape: [1])
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(a.grad?.scalars[0] ?? 0, 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.grad?.scalars[0] ?? 0, 0.8, accuracy: 1e-5)
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5, "below the limit: unchanged")
    }

    func testAdamTrainsAnMLPOnXor() {
        var rng = SeededGenerator(seed: 5)
        let model = Sequential([Linear(2, 16, rng: &rng), Activation(.tanh), Linear(16, 2, rng: &rng)])
        let x = Tensor([0, 0, 0, 1, 1, 0, 1, 1], shape: [4, 2]), y = [0, 1, 1, 0]
        let adam = Adam(groups: [ParameterGroup(parameters: model.namedParameters(), learningRate: 0.05)])
        for _ in 0..<200 {
            adam.zeroGrad()
            crossEntropy(model(x), targets: y).backward()
            adam.step()
        }
        XCTAssertEqual(withNoGrad { model(x) }.argmax(axis: 1), y)
    }
}
