import FusionInt8
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

/// The int8 kernels against the float computation on the same quantized values: int32
/// accumulation is exact, so the two differ only by float rounding.
final class Int8Tests: XCTestCase {
    /// `x` rounded to the grid the input quantization uses (what the kernel actually multiplies).
    func onGrid(_ x: Tensor, _ q: ActivationQuantization) -> Tensor {
        Tensor(x.scalars.map(q.roundTrip), shape: x.shape)
    }

    func testInt8LinearEqualsTheFloatProductOfItsQuantizedValues() throws {
        var rng = SeededGenerator(seed: 3)
        for (unsigned, batch) in [(false, 1), (false, 37), (true, 256)] {
            let layer = Linear(50, 7, rng: &rng)
            var x = Tensor.randn([batch, 50], using: &rng)
            if unsigned { x = x.relu() }
            let range = ActivationRange()
            range.observe(x)
            let q = ActivationQuantization(observed: range)
            XCTAssertEqual(q.zeroPoint, unsigned ? 0 : 64)
            let w = Int8Weights(quantizing: layer.weight)
            let expected = onGrid(x, q).linear(weight: w.dequantized(), bias: layer.bias)
            try QuantizedLinear.swap(into: layer, weights: w, input: q)
            let got = layer(x)
            XCTAssertEqual(got.shape, [batch, 7])
            let tolerance = 1e-4 * max(1, expected.scalars.map(abs).max() ?? 1)
            XCTAssertLessThan(maxAbsDiff(got, expected), tolerance, "unsigned \(unsigned), batch \(batch)")
            // And close to the float layer itself: the quantization error of 8 bits.
            layer.swapped = nil
            XCTAssertLessThan(maxAbsDiff(got, layer(x)), 0.1)
        }
    }

    func testInt8ConvolutionWithAndWithoutReLUEqualsTheFloatConvolutionOfItsQuantizedValues() throws {
        var rng = SeededGenerator(seed: 4)
        let cases: [(c: Int, o: Int, k: (Int, Int), s: (Int, Int), p: (Int, Int), d: (Int, Int), hw: (Int, Int), unsigned: Bool)] = [
            (1, 6, (5, 5), (1, 1), (2, 2), (1, 1), (28, 28), false),
            (6, 16, (5, 5), (1, 1), (0, 0), (1, 1), (14, 14), true),
            (3, 8, (3, 3), (2, 2), (1, 1), (1, 1), (9, 11), false),
            (4, 5, (3, 2), (1, 2), (0, 1), (2, 1), (10, 7), true),
        ]
        for t in cases {
            let conv = Conv2d(t.c, t.o, kernel: t.k, stride: t.s, padding: t.p, dilation: t.d, rng: &rng)
            var x = Tensor.randn([3, t.c, t.hw.0, t.hw.1], using: &rng)
            if t.unsigned { x = x.relu() }
            let range = ActivationRange()
            range.observe(x)
            let q = ActivationQuantization(observed: range)
            let w = Int8Weights(quantizing: conv.weight)
            let grid = onGrid(x, q)
            let expected = grid.conv2d(weight: w.dequantized(), bias: conv.bias, stride: t.s, padding: t.p, dilation: t.d, groups: 1)
            try QuantizedConv2d.swap(into: conv, weights: w, input: q)
            let plain = conv(x), fused = conv.withReLU(x)
            XCTAssertEqual(plain.shape, expected.shape)
            let tolerance = 1e-4 * max(1, expected.scalars.map(abs).max() ?? 1)
            XCTAssertLessThan(maxAbsDiff(plain, expected), tolerance, "\(t)")
            XCTAssertLessThan(maxAbsDiff(fused, expected.relu()), tolerance, "\(t) with ReLU")
        }
    }

    func testWeightsQuantizePerChannelAndRejectBadSizes() throws {
        let w = Tensor([0.5, -1, 0.25, 2, 0, -2], shape: [2, 3])
        let q = Int8Weights(quantizing: w)
        XCTAssertEqual(q.values, [64, -127, 32, 127, 0, -127])
        XCTAssertEqual(q.scales, [1 / 127, 2 / 127])
        XCTAssertThrowsError(try Int8Weights(values: [1, 2], scales: [1], shape: [2, 3]))
        XCTAssertThrowsError(try Int8Weights(values: [1, 2, 3], scales: [0], shape: [1, 3]))
        XCTAssertThrowsError(try ActivationQuantization(scale: .nan, zeroPoint: 0))
        XCTAssertThrowsError(try ActivationQuantization(scale: 1, zeroPoint: 200))
    }
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? .infinity
}
