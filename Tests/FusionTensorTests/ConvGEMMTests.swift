import CFusionKernels
import FusionTensor
import FusionTestSupport
import XCTest

/// The convolution GEMMs of CFusionKernels (`fl_conv_gemm`, `fl_conv_gemm_dots`) against sums
/// in Double, on shapes that leave partial tiles on every side, and bit for bit across
/// instruction sets.
final class ConvGEMMTests: XCTestCase {
    /// The instruction sets this CPU runs, baseline first; restores the current one afterwards.
    private func eachISA(_ body: (String) throws -> Void) rethrows {
        let original = KernelISA.current
        defer { KernelISA.use(original) }
        for isa in ["baseline", "avx2", "avx512"] where KernelISA.use(isa) { try body(isa) }
    }

    private func values(_ count: Int, _ rng: inout SeededGenerator) -> [Float] {
        (0..<count).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
    }

    func testGEMMMatchesTheDefinitionAndEveryISAGivesTheSameBits() {
        var rng = SeededGenerator(seed: 11)
        // (m, n, k, A transposed): rows that fill no tile, one tile plus one, tails of 1 to 31
        // columns, an inner dimension of 1, and the reference network's shapes.
        let shapes: [(Int, Int, Int, Bool)] = [(1, 1, 1, false), (5, 37, 3, false), (7, 300, 9, true), (13, 17, 40, false),
                                                (16, 1024, 9, false), (32, 272, 144, false), (144, 96, 32, true), (9, 33, 1, true)]
        for (m, n, k, transposed) in shapes {
            let a = values(m * k, &rng), b = values(k * n + 3, &rng)
            let (ars, acs) = transposed ? (1, m) : (k, 1)
            var results: [String: [Float]] = [:]
            eachISA { isa in
                var c = [Float](repeating: .nan, count: m * n)
                var pack = [Float](repeating: .nan, count: fl_conv_gemm_pack_size(Int32(m), Int32(k)))
                fl_conv_gemm(Int32(m), n, Int32(k), a, ars, acs, b, n, &c, n, &pack)
                results[isa] = c
            }
            guard let reference = results["baseline"] else { return XCTFail("no baseline result") }
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for kk in 0..<k { sum += Double(a[i * ars + kk * acs]) * Double(b[kk * n + j]) }
                    XCTAssertEqual(Double(reference[i * n + j]), sum, accuracy: 1e-5 * Double(k), "m \(m) n \(n) k \(k) at [\(i), \(j)]")
                }
            }
            for (isa, c) in results {
                XCTAssertEqual(c.map(\.bitPattern), reference.map(\.bitPattern), "\(isa) differs from baseline, m \(m) n \(n) k \(k)")
            }
        }
    }

    func testDotsAddTheDefinitionAndEveryISAGivesTheSameBits() {
        var rng = SeededGenerator(seed: 12)
        // (m1, m2, k): tails of the 4×4 and 2×3 tiles, sums shorter than a lane, a masked last
        // vector, more than one block of 1,024 (partials kept between blocks), and an empty sum.
        let shapes: [(Int, Int, Int)] = [(1, 1, 1), (5, 7, 15), (4, 4, 16), (6, 9, 1_000), (3, 5, 2_500), (16, 9, 1_024), (2, 3, 0)]
        for (m1, m2, k) in shapes {
            let a = values(m1 * k, &rng), b = values(m2 * k, &rng), start = values(m1 * m2, &rng)
            var results: [String: [Float]] = [:]
            eachISA { isa in
                var c = start
                var partial = [Float](repeating: .nan, count: fl_conv_gemm_dots_scratch(Int32(m1), Int32(m2)))
                fl_conv_gemm_dots(Int32(m1), Int32(m2), k, a, k, b, k, &c, m2, &partial)
                results[isa] = c
            }
            guard let reference = results["baseline"] else { return XCTFail("no baseline result") }
            for i in 0..<m1 {
                for j in 0..<m2 {
                    var sum = Double(start[i * m2 + j])
                    for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[j * k + p]) }
                    XCTAssertEqual(Double(reference[i * m2 + j]), sum, accuracy: 1e-5 * Double(k + 1), "m1 \(m1) m2 \(m2) k \(k) at [\(i), \(j)]")
                }
            }
            for (isa, c) in results {
                XCTAssertEqual(c.map(\.bitPattern), reference.map(\.bitPattern), "\(isa) differs from baseline, m1 \(m1) m2 \(m2) k \(k)")
            }
        }
    }

    /// A convolution large enough for OpenBLAS (C·kh·kw = 288 rows, 64 outputs: neither own kernel
    /// takes it) and one the own kernels take agree with the direct definition alike.
    func testConvolutionOnBothSidesOfTheKernelChoiceMatchesTheDefinition() {
        var rng = SeededGenerator(seed: 13)
        for (c, o) in [(32, 64), (4, 8)] {
            let x = Tensor.randn([2, c, 6, 5], using: &rng), w = Tensor.randn([o, c, 3, 3], using: &rng)
            let y = x.conv2d(weight: w, bias: nil, padding: (1, 1))
            let (xs, ws, ys) = (x.scalars, w.scalars, y.scalars)
            var worst: Float = 0
            for bi in 0..<2 {
                for oi in 0..<o {
                    for i in 0..<6 {
                        for j in 0..<5 {
                            var sum = 0.0
                            for ci in 0..<c {
                                for di in 0..<3 {
                                    for dj in 0..<3 {
                                        let (ii, jj) = (i + di - 1, j + dj - 1)
                                        guard ii >= 0 && ii < 6 && jj >= 0 && jj < 5 else { continue }
                                        sum += Double(xs[((bi * c + ci) * 6 + ii) * 5 + jj]) * Double(ws[((oi * c + ci) * 3 + di) * 3 + dj])
                                    }
                                }
                            }
                            worst = max(worst, abs(ys[((bi * o + oi) * 6 + i) * 5 + j] - Float(sum)))
                        }
                    }
                }
            }
            XCTAssertLessThan(worst, 1e-4, "C \(c), O \(o)")
        }
    }
}
