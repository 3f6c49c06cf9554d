import FusionTensor
import FusionTestSupport
import XCTest

/// Every differentiable op's backward against central finite differences.
final class GradientCheckTests: XCTestCase {
    func testBroadcastingArithmetic() {
        let a = randomTensor([3, 1, 4], seed: 1), b = randomTensor([2, 1], seed: 2)
        gradCheck([a, b], "add") { $0[0] + $0[1] }
        gradCheck([a, b], "sub") { $0[0] - $0[1] }
        gradCheck([a, b], "mul") { $0[0] * $0[1] }
        let c = randomTensor([2, 4], seed: 3, low: 0.5, high: 2)
        gradCheck([a, c], "div") { $0[0] / $0[1] }
        gradCheck([a], "scalar ops") { (($0[0] * 3 + 1) / 2 - 0.5) * -1 }
        let s = randomTensor([], seed: 4)
        gradCheck([a, s], "scalar tensor") { $0[0] * $0[1] + $0[1] }
    }

    func testMaximum() {
        let a = Tensor([0.1, -0.4, 0.7, 0.3, -0.9, 0.5], shape: [2, 3]), b = Tensor([0.2, 0, -0.1], shape: [3])
        gradCheck([a, b], "maximum") { $0[0].maximum($0[1]) }
    }

    func testUnaryFunctions() {
        let x = randomTensor([2, 5], seed: 5)
        let positive = randomTensor([2, 5], seed: 6, low: 0.3, high: 2)
        gradCheck([positive], "exp") { $0[0].exp() }
        gradCheck([positive], "log") { $0[0].log() }
        gradCheck([positive], "sqrt") { $0[0].sqrt() }
        gradCheck([positive], "pow") { $0[0].pow(2.5) }
        gradCheck([x], "tanh") { $0[0].tanh() }
        gradCheck([x], "sigmoid") { $0[0].sigmoid() }
        gradCheck([x], "gelu") { $0[0].gelu() }
        // Keep kinks (0) away from the perturbation.
        let awayFromZero = Tensor([0.5, -0.7, 0.2, -0.3, 0.9, -0.15, 0.45, -0.8, 0.6, -0.25], shape: [2, 5])
        gradCheck([awayFromZero], "relu") { $0[0].relu() }
        gradCheck([awayFromZero], "abs") { $0[0].abs() }
        gradCheck([x], "square") { $0[0].square() }
    }

    func testReductions() {
        let x = randomTensor([2, 3, 4], seed: 7)
        gradCheck([x], "sum all") { $0[0].sum() }
        gradCheck([x], "sum axes") { $0[0].sum(axes: [0, 2]) }
        gradCheck([x], "sum keepDims") { $0[0].sum(axes: [1], keepDims: true) }
        gradCheck([x], "mean") { $0[0].mean(axes: [-1]) }
        gradCheck([x], "variance") { $0[0].variance(axes: [1, 2]) }
        gradCheck([x], "variance biased") { $0[0].variance(axes: [2], unbiased: false) }
        let distinct = Tensor((0..<24).map { Float(($0 * 7) % 24) * 0.1 }, shape: [2, 3, 4])
        gradCheck([distinct], "max") { $0[0].max(axis: 1) }
        gradCheck([distinct], "min") { $0[0].min(axis: 2, keepDims: true) }
    }

    func testShapeOps() {
        let x = randomTensor([2, 3, 4], seed: 8)
        gradCheck([x], "reshape") { $0[0].reshaped([4, -1]) * $0[0].reshaped([4, 6]) }
        gradCheck([x], "permute") { $0[0].permuted([2, 0, 1]) }
        gradCheck([x], "transpose") { $0[0].transposed(0, 2) }
        gradCheck([x], "slice") { $0[0].slice(axis: 1, 1..<3) }
        gradCheck([x], "split") { t in let p = t[0].split([1, 3], axis: 2); return p[0] * p[1].sum(axes: [2], keepDims: true) }
        let y = randomTensor([2, 2, 4], seed: 9)
        gradCheck([x, y], "concat") { Tensor.concat([$0[0], $0[1]], axis: 1) }
        let z = randomTensor([2, 3, 4], seed: 10)
        gradCheck([x, z], "stack") { Tensor.stack([$0[0], $0[1]], axis: 1) }
        gradCheck([x], "flatten") { $0[0].flattened(from: 1) }
        gradCheck([x], "expand") { $0[0].sum(axes: [1], keepDims: true).expand(to: [2, 3, 4]) }
    }

    func testMatmul() {
        let a = randomTensor([3, 4], seed: 11), b = randomTensor([4, 5], seed: 12)
        gradCheck([a, b], "matmul") { $0[0].matmul($0[1]) }
        let at = randomTensor([4, 3], seed: 13), bt = randomTensor([5, 4], seed: 14)
        gradCheck([at, b], "matmul Aᵀ") { $0[0].matmul($0[1], transposeA: true) }
        gradCheck([a, bt], "matmul Bᵀ") { $0[0].matmul($0[1], transposeB: true) }
        gradCheck([at, bt], "matmul AᵀBᵀ") { $0[0].matmul($0[1], transposeA: true, transposeB: true) }
        let ba = randomTensor([2, 3, 4], seed: 15), bb = randomTensor([2, 4, 2], seed: 16)
        gradCheck([ba, bb], "batched matmul") { $0[0].matmul($0[1]) }
        gradCheck([ba, b], "batched × matrix") { $0[0].matmul($0[1]) }
    }

    func testLinear() {
        let x = randomTensor([2, 3, 4], seed: 17), w = randomTensor([5, 4], seed: 18), b = randomTensor([5], seed: 19)
        gradCheck([x, w, b], "linear") { $0[0].linear(weight: $0[1], bias: $0[2]) }
        gradCheck([x, w], "linear without bias") { $0[0].linear(weight: $0[1], bias: nil) }
    }

    func testIndexSelect() {
        let table = randomTensor([6, 3], seed: 20)
        let ids = IndexTensor([1, 4, 1, 0, 5, 2], shape: [2, 3])
        gradCheck([table], "indexSelect") { $0[0].indexSelect(ids) }
        table.grad = nil
        (table.indexSelect(ids, paddingIndex: 1) * 2).sum().backward()
        XCTAssertEqual(Array(table.grad?.scalars[3..<6] ?? []), [0, 0, 0], "padding row gets no gradient")
        XCTAssertEqual(Array(table.grad?.scalars[0..<3] ?? []), [2, 2, 2])
    }

    func testSoftmax() {
        let x = randomTensor([3, 5], seed: 21, low: -2, high: 2)
        gradCheck([x], "softmax") { $0[0].softmax(axis: -1) }
        gradCheck([x], "logSoftmax") { $0[0].logSoftmax(axis: 1) }
        let y = randomTensor([2, 3, 4], seed: 22)
        gradCheck([y], "softmax middle axis") { $0[0].softmax(axis: 1) }
        gradCheck([y], "logSoftmax middle axis") { $0[0].logSoftmax(axis: 1) }
    }

    func testConvolution() {
        let x = randomTensor([2, 4, 6, 5], seed: 23), w = randomTensor([6, 2, 3, 2], seed: 24), b = randomTensor([6], seed: 25)
        gradCheck([x, w, b], "conv2d strided dilated grouped") {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 1), dilation: (1, 2), groups: 2)
        }
        let w2 = randomTensor([3, 4, 3, 3], seed: 26)
        gradCheck([x, w2], "conv2d same padding, no bias") { $0[0].conv2d(weight: $0[1], bias: nil, padding: (1, 1)) }
        let wd = randomTensor([4, 1, 3, 3], seed: 31), bd = randomTensor([4], seed: 32)
        gradCheck([x, wd, bd], "depthwise conv2d") { $0[0].conv2d(weight: $0[1], bias: $0[2], padding: (1, 1), groups: 4) }
        gradCheck([x, wd, bd], "depthwise conv2d strided dilated") {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (2, 2), padding: (0, 1), dilation: (1, 2), groups: 4)
        }
        gradCheck([x], "pad2d asymmetric") { $0[0].padded2d(top: 0, bottom: 2, left: 1, right: 0) }
        // Many channels over small planes take the channels-last kernel.
        let xc = randomTensor([2, 32, 5, 6], seed: 34), wc = randomTensor([32, 1, 3, 3], seed: 35), bc = randomTensor([32], seed: 36)
        gradCheck([xc, wc, bc], "depthwise conv2d channels-last") {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 1), groups: 32)
        }
        gradCheck([xc, wc, bc], "depthwise conv2d channels-last strided dilated") {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (1, 2), padding: (2, 1), dilation: (2, 1), groups: 32)
        }
        let spread = randomTensor([3, 7], seed: 33, low: -3, high: 9)
        gradCheck([spread], "relu6") { $0[0].relu6() }
        let x1 = randomTensor([2, 3, 9], seed: 27), w1 = randomTensor([4, 3, 3], seed: 28), b1 = randomTensor([4], seed: 29)
        gradCheck([x1, w1, b1], "conv1d") { $0[0].conv1d(weight: $0[1], bias: $0[2], stride: 2, padding: 1) }
    }

    func testPooling() {
        // Distinct values so the arg-max is stable under ±eps.
        var values = (0..<(2 * 2 * 6 * 7)).map { Float($0) * 0.05 }
        var rng = SeededGenerator(seed: 30)
        values.shuffle(using: &rng)
        let x = Tensor(values, shape: [2, 2, 6, 7])
        gradCheck([x], "maxPool2d") { $0[0].maxPool2d(kernel: (2, 2)) }
        gradCheck([x], "maxPool2d padded") { $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        gradCheck([x], "avgPool2d") { $0[0].avgPool2d(kernel: (3, 2), stride: (2, 2), padding: (1, 1)) }
        gradCheck([x], "avgPool2d exclude pad") { $0[0].avgPool2d(kernel: (3, 3), stride: (1, 2), padding: (1, 1), countIncludePad: false) }
        gradCheck([x], "globalAvgPool") { $0[0].globalAvgPool() }
        let x1 = Tensor(Array(values[0..<36]), shape: [2, 2, 9])
        gradCheck([x1], "maxPool1d") { $0[0].maxPool1d(kernel: 3, stride: 2) }
        gradCheck([x1], "avgPool1d") { $0[0].avgPool1d(kernel: 2) }
    }

    func testNormalization() {
        let x = randomTensor([3, 6], seed: 31), w = randomTensor([6], seed: 32), b = randomTensor([6], seed: 33)
        gradCheck([x, w, b], atol: 5e-3, "layerNorm") { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
        let xb = randomTensor([4, 3, 2, 2], seed: 34), g = randomTensor([3], seed: 35), bb = randomTensor([3], seed: 36)
        let rm = Tensor.zeros([3]), rv = Tensor.ones([3])
        gradCheck([xb, g, bb], atol: 5e-3, "batchNorm training") {
            $0[0].batchNorm(weight: $0[1], bias: $0[2], runningMean: rm, runningVar: rv, training: true)
        }
        gradCheck([xb, g, bb], "batchNorm eval") {
            $0[0].batchNorm(weight: $0[1], bias: $0[2], runningMean: rm, runningVar: rv, training: false)
        }
    }

    func testComposedGraphReusesTensors() {
        // x is used on three paths; gradients from each must add up.
        let x = randomTensor([4], seed: 37)
        gradCheck([x], "diamond") { t in (t[0] * t[0]).tanh() + t[0].sigmoid() * t[0] }
    }
}
