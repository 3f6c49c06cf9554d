import Foundation
import FusionTensor
import FusionTestSupport
import XCTest

/// Forward values of the kernels against direct definitions, and autograd bookkeeping.
final class KernelTests: XCTestCase {
    func testCreation() {
        XCTAssertEqual(Tensor.arange(0, 5).scalars, [0, 1, 2, 3, 4])
        XCTAssertEqual(Tensor.arange(1, 2, step: 0.25).scalars, [1, 1.25, 1.5, 1.75])
        XCTAssertEqual(Tensor.full([2, 2], 3).scalars, [3, 3, 3, 3])
        XCTAssertEqual(Tensor.zeros([0, 3]).count, 0)
        var r1 = SeededGenerator(seed: 7), r2 = SeededGenerator(seed: 7)
        XCTAssertEqual(Tensor.randn([10], using: &r1).scalars, Tensor.randn([10], using: &r2).scalars, "same seed, same values")
        var r3 = SeededGenerator(seed: 8)
        let big = Tensor.randn([20000], mean: 2, std: 3, using: &r3)
        XCTAssertEqual(big.mean().item, 2, accuracy: 0.1)
        XCTAssertEqual(big.variance().item.squareRoot(), 3, accuracy: 0.1)
        let u = Tensor.uniform([20000], low: -1, high: 3, using: &r3)
        XCTAssertGreaterThanOrEqual(u.scalars.min() ?? -9, -1)
        XCTAssertLessThan(u.scalars.max() ?? 9, 3)
        XCTAssertEqual(u.mean().item, 1, accuracy: 0.05)
    }

    func testBroadcastValues() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), b = Tensor([10, 20, 30], shape: [3]), c = Tensor([100, 200], shape: [2, 1])
        XCTAssertEqual((a + b).scalars, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((a * c).scalars, [100, 200, 300, 800, 1000, 1200])
        XCTAssertEqual((c - b).shape, [2, 3])
        XCTAssertEqual((c - b).scalars, [90, 80, 70, 190, 180, 170])
        XCTAssertEqual((a / 2).scalars, [0.5, 1, 1.5, 2, 2.5, 3])
        XCTAssertEqual(broadcastShape([4, 1, 3], [5, 1]), [4, 5, 3])
    }

    func testReductionValues() {
        let x = Tensor([1, 5, 3, 4, 2, 6], shape: [2, 3])
        XCTAssertEqual(x.sum().item, 21)
        XCTAssertEqual(x.sum(axes: [0]).scalars, [5, 7, 9])
        XCTAssertEqual(x.mean(axes: [1]).scalars, [3, 4])
        XCTAssertEqual(x.max(axis: 1).scalars, [5, 6])
        XCTAssertEqual(x.min(axis: 0).scalars, [1, 2, 3])
        XCTAssertEqual(x.argmax(axis: 1), [1, 2])
        XCTAssertEqual(x.argmax(axis: 0), [1, 0, 1])
        XCTAssertEqual(x.variance(axes: [1]).scalars, [4, 4])
        XCTAssertEqual(x.variance(axes: [1], unbiased: false).scalars[0], 8.0 / 3, accuracy: 1e-6)
    }

    func testShapeValues() {
        let x = Tensor.arange(0, 6).reshaped([2, 3])
        XCTAssertEqual(x.transposed().scalars, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(Tensor.arange(0, 24).reshaped([2, 3, 4]).permuted([2, 0, 1]).scalars.prefix(6), [0, 4, 8, 12, 16, 20])
        XCTAssertEqual(x.slice(axis: 1, 1..<3).scalars, [1, 2, 4, 5])
        XCTAssertEqual(Tensor.concat([x, x * 10], axis: 0).scalars, [0, 1, 2, 3, 4, 5, 0, 10, 20, 30, 40, 50])
        XCTAssertEqual(Tensor.concat([x, x * 10], axis: 1).scalars, [0, 1, 2, 0, 10, 20, 3, 4, 5, 30, 40, 50])
        XCTAssertEqual(Tensor.stack([x, x], axis: 2).shape, [2, 3, 2])
        XCTAssertEqual(x.split([2, 1], axis: 1).map { $0.scalars }, [[0, 1, 3, 4], [2, 5]])
        XCTAssertEqual(x.reshaped([-1]).shape, [6])
        XCTAssertTrue(x.reshaped([3, 2]).storage === x.storage, "reshape shares storage")
    }

    func testMatmulAgainstDefinition() {
        let a = randomTensor([2, 5, 7], seed: 1), b = randomTensor([2, 7, 3], seed: 2)
        let c = a.matmul(b)
        for bi in 0..<2 {
            for i in 0..<5 {
                for j in 0..<3 {
                    var acc: Float = 0
                    for k in 0..<7 { acc += a.data[bi * 35 + i * 7 + k] * b.data[bi * 21 + k * 3 + j] }
                    XCTAssertEqual(c.data[bi * 15 + i * 3 + j], acc, accuracy: 1e-5)
                }
            }
        }
        assertClose(a.matmul(b.transposed(), transposeB: true), c)
        assertClose(a.transposed().matmul(b, transposeA: true), c)
        let w = randomTensor([4, 7], seed: 3), bias = randomTensor([4], seed: 4)
        assertClose(a.linear(weight: w, bias: bias), a.matmul(w.transposed()) + bias)
    }

    /// Direct evaluation of conv2d's definition.
    func naiveConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int) -> Tensor {
        let (bn, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let ho = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
        let wo = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
        let og = o / groups
        var out = [Float](repeating: 0, count: bn * o * ho * wo)
        for n in 0..<bn { for oc in 0..<o { for i in 0..<ho { for j in 0..<wo {
            var acc = b?.data[oc] ?? 0
            let g = oc / og
            for ic in 0..<cg { for p in 0..<kh { for q in 0..<kw {
                let ih = i * stride.0 - padding.0 + p * dilation.0, iw = j * stride.1 - padding.1 + q * dilation.1
                guard ih >= 0 && ih < h && iw >= 0 && iw < wd else { continue }
                acc += x.data[((n * c + g * cg + ic) * h + ih) * wd + iw] * w.data[((oc * cg + ic) * kh + p) * kw + q]
            } } }
            out[((n * o + oc) * ho + i) * wo + j] = acc
        } } } }
        return Tensor(out, shape: [bn, o, ho, wo])
    }

    func testConv2dAgainstDefinition() {
        let configs: [((Int, Int), (Int, Int), (Int, Int), Int)] = [
            ((1, 1), (0, 0), (1, 1), 1), ((1, 1), (1, 1), (1, 1), 1), ((2, 3), (2, 1), (1, 1), 1),
            ((2, 2), (1, 2), (2, 1), 2), ((1, 2), (3, 0), (2, 2), 4),
        ]
        for (k, (stride, padding, dilation, groups)) in configs.enumerated() {
            let x = randomTensor([2, 4, 9, 8], seed: UInt64(10 + k)), w = randomTensor([8, 4 / groups, 3, 2], seed: UInt64(20 + k))
            let b = randomTensor([8], seed: UInt64(30 + k))
            let got = x.conv2d(weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
            assertClose(got, naiveConv2d(x, w, b, stride: stride, padding: padding, dilation: dilation, groups: groups),
                        "config \(k)")
        }
    }

    func testFusedReLUConvolutionEqualsConvolutionThenReLU() {
        let x = randomTensor([2, 3, 6, 6], seed: 50), w = randomTensor([4, 3, 3, 3], seed: 51), b = randomTensor([4], seed: 52)
        let gy = randomTensor([2, 4, 6, 6], seed: 53)
        var results: [[Float]] = []
        for fused in [false, true] {
            for t in [x, w, b] { t.grad = nil; t.requiresGrad = true }
            let y = fused ? x.conv2d(weight: w, bias: b, padding: (1, 1), fusedReLU: true)
                          : x.conv2d(weight: w, bias: b, padding: (1, 1)).relu()
            (y * gy).sum().backward()
            results.append(y.scalars + (x.grad?.scalars ?? []) + (w.grad?.scalars ?? []) + (b.grad?.scalars ?? []))
        }
        assertClose(results[1], results[0])
    }

    func testPoolingValues() {
        let x = Tensor.arange(0, 16).reshaped([1, 1, 4, 4])
        XCTAssertEqual(x.maxPool2d(kernel: (2, 2)).scalars, [5, 7, 13, 15])
        XCTAssertEqual(x.avgPool2d(kernel: (2, 2)).scalars, [2.5, 4.5, 10.5, 12.5])
        XCTAssertEqual(x.globalAvgPool().scalars, [7.5])
        // Padded average counts the zeros by default: the corner window holds 0,1,4,5 and 5 zeros.
        XCTAssertEqual(x.avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)).scalars[0], 10.0 / 9, accuracy: 1e-6)
        XCTAssertEqual(x.avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false).scalars[0], 2.5, accuracy: 1e-6)
    }

    func testSoftmaxIsStable() {
        let x = Tensor([1000, 1001, 1002, -1000, 0, 1000], shape: [2, 3])
        let s = x.softmax()
        XCTAssertFalse(s.scalars.contains { $0.isNaN })
        XCTAssertEqual(s.sum(axes: [1]).scalars[0], 1, accuracy: 1e-6)
        XCTAssertEqual(x.logSoftmax().scalars[2], -Float(log(1 + exp(-1.0) + exp(-2.0))), accuracy: 1e-5)
    }

    func testGradientsAccumulateAndNoGradStopsRecording() {
        let w = Tensor([2, 3], shape: [2], requiresGrad: true)
        (w * w).sum().backward()
        (w * 3).sum().backward()
        XCTAssertEqual(w.grad?.scalars, [7, 9], "2w + 3 after two backward passes")
        let y = withNoGrad { w * 2 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertFalse(w.detached().requiresGrad)
        w.zeroGrad()
        XCTAssertNil(w.grad)
        let z = (w.detached() * w).sum()
        z.backward()
        XCTAssertEqual(w.grad?.scalars, [2, 3], "no gradient flows through the detached operand")
    }

    func testThreadedKernelsMatchSingleThreaded() {
        let x = randomTensor([8, 3, 20, 20], seed: 40), w = randomTensor([16, 3, 3, 3], seed: 41)
        Threading.setThreads(1)
        let one = x.conv2d(weight: w, bias: nil, padding: (1, 1)).maxPool2d(kernel: (2, 2))
        Threading.setThreads(2)
        let two = x.conv2d(weight: w, bias: nil, padding: (1, 1)).maxPool2d(kernel: (2, 2))
        Threading.setThreads(1)
        assertClose(two, one)
    }
}

/// The depthwise kernels give the same numbers under every instruction set this CPU has
/// (AVX-512, AVX2 with FMA, baseline), within rounding, on every path: small "same" planes as
/// flat runs, wide planes by rows (stride 1, 2 and 3), and many channels channels-last.
final class KernelISATests: XCTestCase {
    func testDepthwiseKernelsAgreeAcrossInstructionSets() throws {
        let original = KernelISA.current
        defer { KernelISA.use(original) }
        typealias Case = (channels: Int, h: Int, w: Int, k: Int, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int))
        let cases: [Case] = [
            (37, 7, 6, 3, (2, 1), (1, 2), (1, 2)),   // channels-last, tails of 37 channels
            (70, 5, 6, 3, (1, 1), (1, 1), (1, 1)),   // flat (AVX-512), channels-last otherwise
            (8, 9, 9, 5, (1, 1), (2, 2), (1, 1)),    // flat, 81 pixels: a partial vector
            (6, 11, 40, 3, (2, 2), (1, 1), (1, 1)),  // rows, stride 2 (even and odd columns)
            (5, 10, 37, 3, (1, 3), (1, 1), (1, 1)),  // rows, stride 3
            (4, 6, 35, 3, (1, 1), (0, 2), (1, 2)),   // rows, stride 1, dilated
        ]
        func run(_ isa: String, _ c: Case) -> [[Float]]? {
            guard KernelISA.use(isa) else { return nil }
            var rng = SeededGenerator(seed: UInt64(c.channels * 100 + c.w))
            let x = Tensor.randn([2, c.channels, c.h, c.w], using: &rng), w = Tensor.randn([c.channels, 1, c.k, c.k], using: &rng)
            let b = Tensor.randn([c.channels], using: &rng)
            for t in [x, w, b] { t.requiresGrad = true }
            let y = x.conv2d(weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.channels)
            (y * y).sum().backward()
            return [y.scalars] + [x, w, b].map { $0.grad?.scalars ?? [] }
        }
        for c in cases {
            let reference = try XCTUnwrap(run("baseline", c))
            for isa in ["avx2", "avx512"] {
                guard let result = run(isa, c) else { print("\(isa): not on this CPU"); continue }
                for (name, (ours, base)) in zip(["y", "∂x", "∂w", "∂b"], zip(result, reference)) {
                    XCTAssertEqual(ours.count, base.count)
                    let scale = base.map(abs).max() ?? 1
                    let worst = zip(ours, base).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThan(worst, 1e-5 * max(scale, 1), "\(isa) \(name), \(c)")
                }
            }
        }
    }
}

/// The training kernels (2×2 max pooling forward and backward, Adam) give the same bits under
/// every instruction set this CPU has, behind convolutions of several geometries: pooling only
/// compares and copies, Adam fuses no multiply-add.
final class TrainingKernelISATests: XCTestCase {
    func testConvolutionPoolingEpilogueAndAdamAreBitIdenticalAcrossInstructionSets() throws {
        let original = KernelISA.current
        defer { KernelISA.use(original) }
        typealias Case = (c: Int, o: Int, h: Int, w: Int, k: Int, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int))
        let cases: [Case] = [
            (1, 4, 32, 32, 3, (1, 1), (1, 1), (1, 1)),    // the reference network's first layer
            (3, 5, 13, 6, 3, (1, 1), (1, 1), (1, 1)),     // rows of 6: one partial vector each
            (2, 3, 9, 37, 5, (1, 1), (2, 2), (1, 2)),     // dilated, rows of 37: 16 + 16 + 5
            (2, 3, 11, 19, 3, (2, 2), (1, 1), (1, 1)),    // stride 2: the strided path
            (2, 2, 7, 7, 3, (1, 1), (0, 3), (1, 1)),      // padding wider than some rows reach
        ]
        func run(_ isa: String, _ c: Case) -> [[Float]]? {
            guard KernelISA.use(isa) else { return nil }
            var rng = SeededGenerator(seed: UInt64(c.h * 100 + c.w))
            let x = Tensor.randn([3, c.c, c.h, c.w], using: &rng), w = Tensor.randn([c.o, c.c, c.k, c.k], using: &rng)
            let b = Tensor.randn([c.o], using: &rng)
            for t in [x, w, b] { t.requiresGrad = true }
            let y = x.conv2d(weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation).maxPool2d(kernel: (2, 2))
            (y * y.detached()).sum().backward()
            // Adam over the gradients just computed, twice, from the same start.
            let p = Tensor((0..<1037).map { Float($0 % 17) / 7 - 1 }, shape: [1037]), m = Tensor.zeros([1037]), v = Tensor.zeros([1037])
            let g = Tensor((0..<1037).map { Float(sin(Double($0))) }, shape: [1037])
            for t in 1...2 {
                AdamStep(beta1: 0.9, beta2: 0.999, eps: 1e-8, l2: 0.01, decay: 1, stepSize: 1e-3 / (1 - powf(0.9, Float(t))),
                         biasCorrection2Sqrt: (1 - powf(0.999, Float(t))).squareRoot()).apply(p.data, g.data, m.data, v.data, 0..<1037)
            }
            // The same convolution with ReLU and pooling fused into its epilogue.
            let (x2, w2, b2) = (Tensor(x.scalars, shape: x.shape), Tensor(w.scalars, shape: w.shape), Tensor(b.scalars, shape: b.shape))
            for t in [x2, w2, b2] { t.requiresGrad = true }
            let fused = x2.conv2d(weight: w2, bias: b2, stride: c.stride, padding: c.padding, dilation: c.dilation,
                                  fusedReLU: c.k != 5, fusedMaxPool2x2: true)  // the dilated case: bias without ReLU
            (fused * fused.detached()).sum().backward()
            return [y.scalars] + [x, w, b].map { $0.grad?.scalars ?? [] } + [p.scalars, m.scalars, v.scalars]
                + [fused.scalars] + [x2, w2, b2].map { $0.grad?.scalars ?? [] }
        }
        for c in cases {
            let reference = try XCTUnwrap(run("baseline", c))
            XCTAssertTrue(reference.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isFinite) })
            for isa in ["avx2", "avx512"] {
                guard let result = run(isa, c) else { print("\(isa): not on this CPU"); continue }
                for (name, (ours, base)) in zip(["y", "∂x", "∂w", "∂b", "adam p", "adam m", "adam v", "fused y", "fused ∂x", "fused ∂w", "fused ∂b"], zip(result, reference)) {
                    XCTAssertEqual(ours.map(\.bitPattern), base.map(\.bitPattern), "\(isa) \(name), \(c)")
                }
            }
        }
    }

    /// 2×2 max pooling's backward writes every input gradient itself: on odd sizes the last row
    /// and column (in no window) are zero, the rest as the scatter into zeros gave.
    func testMaxPoolBackwardOnOddSizesZeroesWhatNoWindowCovers() {
        var rng = SeededGenerator(seed: 5)
        let x = Tensor.randn([2, 3, 7, 9], using: &rng)
        x.requiresGrad = true
        let y = x.maxPool2d(kernel: (2, 2))
        XCTAssertEqual(y.shape, [2, 3, 3, 4])
        y.sum().backward()
        let g = x.grad?.scalars ?? []
        for p in 0..<6 {
            for i in 0..<7 {
                for j in 0..<9 where i == 6 || j == 8 { XCTAssertEqual(g[p * 63 + i * 9 + j], 0) }
            }
            // One 1 per window.
            XCTAssertEqual(g[(p * 63)..<((p + 1) * 63)].reduce(0, +), 12)
        }
    }
}

/// Stride-1 convolutions whose output is as wide as the input take im2col's and col2im's block
/// path (one shifted copy per tap); the same convolution of the explicitly zero-padded input
/// takes the row-by-row path. Both give the same output and gradients.
final class ConvolutionBlockPathTests: XCTestCase {
    func testBlockPathMatchesTheRowPathOnExplicitlyPaddedInput() throws {
        typealias Case = (c: Int, h: Int, w: Int, k: (Int, Int), padding: (Int, Int), dilation: (Int, Int))
        let cases: [Case] = [
            (3, 7, 6, (3, 3), (1, 1), (1, 1)),    // "same", rows of 6
            (2, 9, 11, (5, 3), (4, 2), (2, 2)),   // dilated "same"
            (2, 8, 13, (3, 5), (0, 2), (1, 1)),   // same width, shorter output
            (1, 4, 5, (5, 5), (2, 2), (1, 1)),    // kernel wider than some rows reach
        ]
        for c in cases {
            var rng = SeededGenerator(seed: UInt64(c.h * 31 + c.w))
            let x = Tensor.randn([2, c.c, c.h, c.w], using: &rng), w = Tensor.randn([4, c.c, c.k.0, c.k.1], using: &rng)
            let b = Tensor.randn([4], using: &rng)
            let xPadded = Tensor(x.scalars, shape: x.shape)
            for t in [x, w, b, xPadded] { t.requiresGrad = true }
            let block = x.conv2d(weight: w, bias: b, padding: c.padding, dilation: c.dilation, fusedReLU: true)
            XCTAssertEqual(block.shape[3], c.w, "the block path's condition: output as wide as the input")
            let rows = xPadded.padded2d(top: c.padding.0, bottom: c.padding.0, left: c.padding.1, right: c.padding.1)
                .conv2d(weight: w, bias: b, dilation: c.dilation, fusedReLU: true)
            XCTAssertEqual(block.scalars, rows.scalars, "\(c)")
            let probe = Tensor.randn(block.shape, using: &rng)
            (block * probe).sum().backward()
            let gw = try XCTUnwrap(w.grad?.scalars), gb = try XCTUnwrap(b.grad?.scalars)
            w.grad = nil
            b.grad = nil
            (rows * probe).sum().backward()
            assertClose(try XCTUnwrap(x.grad), try XCTUnwrap(xPadded.grad), "\(c)")
            XCTAssertEqual(gw, try XCTUnwrap(w.grad?.scalars), "\(c)")
            XCTAssertEqual(gb, try XCTUnwrap(b.grad?.scalars), "\(c)")
        }
    }
}

/// conv2d with its bias, ReLU and 2×2 max pooling fused into one pass over the GEMM output,
/// against the three ops in a row: the same values and the same gradients, bit for bit.
final class ConvolutionPoolEpilogueTests: XCTestCase {
    func testFusedPoolingMatchesConvReLUPoolInARow() throws {
        typealias Case = (b: Int, c: Int, o: Int, h: Int, w: Int, k: Int, padding: Int, groups: Int, bias: Bool, relu: Bool)
        let cases: [Case] = [
            (5, 1, 16, 32, 32, 3, 1, 1, true, true),   // the reference image block
            (3, 1, 8, 64, 13, 3, 1, 1, true, true),    // odd width: the last column belongs to no window
            (4, 6, 4, 11, 9, 5, 2, 2, true, true),     // odd both ways, grouped
            (2, 3, 5, 8, 10, 3, 0, 1, false, true),    // no bias, "valid"
            (2, 2, 3, 6, 7, 3, 1, 1, true, false),     // pooling without ReLU
            (3, 4, 4, 6, 6, 3, 1, 4, true, true),      // depthwise: its own kernel, then the pool
        ]
        for c in cases {
            var rng = SeededGenerator(seed: UInt64(c.h * 131 + c.w * 7 + c.o))
            let x = Tensor.randn([c.b, c.c, c.h, c.w], using: &rng), w = Tensor.randn([c.o, c.c / c.groups, c.k, c.k], using: &rng)
            // Rounded values make ties inside windows common, as ReLU's zeros do.
            let xr = Tensor(x.scalars.map { ($0 * 2).rounded() / 2 }, shape: x.shape)
            let b = c.bias ? Tensor.randn([c.o], using: &rng) : nil
            let x2 = Tensor(xr.scalars, shape: xr.shape), w2 = Tensor(w.scalars, shape: w.shape), b2 = b.map { Tensor($0.scalars, shape: $0.shape) }
            for t in [xr, w, x2, w2] + [b, b2].compactMap({ $0 }) { t.requiresGrad = true }
            let fused = xr.conv2d(weight: w, bias: b, padding: (c.padding, c.padding), groups: c.groups, fusedReLU: c.relu, fusedMaxPool2x2: true)
            let conv = x2.conv2d(weight: w2, bias: b2, padding: (c.padding, c.padding), groups: c.groups)
            let apart = (c.relu ? conv.relu() : conv).maxPool2d(kernel: (2, 2))
            XCTAssertEqual(fused.shape, apart.shape, "\(c)")
            XCTAssertEqual(fused.scalars, apart.scalars, "\(c)")
            // Without a gradient to come no maxima positions are kept; the values are the same.
            let inference = withNoGrad {
                xr.conv2d(weight: w, bias: b, padding: (c.padding, c.padding), groups: c.groups, fusedReLU: c.relu, fusedMaxPool2x2: true)
            }
            XCTAssertEqual(inference.scalars.map(\.bitPattern), fused.scalars.map(\.bitPattern), "no grad, \(c)")
            let probe = Tensor.randn(fused.shape, using: &rng)
            (fused * probe).sum().backward()
            (apart * probe).sum().backward()
            XCTAssertEqual(try XCTUnwrap(xr.grad?.scalars), try XCTUnwrap(x2.grad?.scalars), "∂x \(c)")
            XCTAssertEqual(try XCTUnwrap(w.grad?.scalars), try XCTUnwrap(w2.grad?.scalars), "∂w \(c)")
            if let b, let b2 { XCTAssertEqual(try XCTUnwrap(b.grad?.scalars), try XCTUnwrap(b2.grad?.scalars), "∂b \(c)") }
        }
    }

    func testAnEmptyBatchConvolvesToAnEmptyBatch() {
        var rng = SeededGenerator(seed: 4)
        let w = Tensor.randn([3, 2, 3, 3], using: &rng)
        let x = Tensor.zeros([0, 2, 6, 6])
        XCTAssertEqual(x.conv2d(weight: w, bias: nil, padding: (1, 1)).shape, [0, 3, 6, 6])
        XCTAssertEqual(x.conv2d(weight: w, bias: nil, padding: (1, 1), fusedReLU: true, fusedMaxPool2x2: true).shape, [0, 3, 3, 3])
    }

    func testFusedPoolingGivesTheSameBitsOnEveryThreadCount() throws {
        var rng = SeededGenerator(seed: 3)
        let x = Tensor.randn([9, 2, 10, 12], using: &rng), w = Tensor.randn([6, 2, 3, 3], using: &rng), b = Tensor.randn([6], using: &rng)
        var results: [[Float]] = []
        defer { Threading.setThreads(1) }
        w.requiresGrad = true
        for threads in [1, 2] {
            Threading.setThreads(threads)
            w.grad = nil
            let y = x.conv2d(weight: w, bias: b, padding: (1, 1), fusedReLU: true, fusedMaxPool2x2: true)
            y.sum().backward()
            results.append(y.scalars + (try XCTUnwrap(w.grad?.scalars)))
        }
        XCTAssertEqual(results[0], results[1])
    }
}
