import FusionTensor
import FusionTestSupport
import XCTest

/// The GRU and LSTM ops' backward (through time, with padding and in reverse) against central
/// finite differences.
final class RecurrentGradientTests: XCTestCase {
    func check(_ cell: RecurrentCell, lengths: [Int]?, reverse: Bool, bias: Bool, file: StaticString = #filePath, line: UInt = #line) {
        let (b, t, i, h) = (3, 5, 4, 3)
        let g = cell.gates * h
        let x = randomTensor([b, t, i], seed: 1)
        let wih = randomTensor([g, i], seed: 2, low: -0.6, high: 0.6), whh = randomTensor([g, h], seed: 3, low: -0.6, high: 0.6)
        let bih = randomTensor([g], seed: 4), bhh = randomTensor([g], seed: 5)
        let weights = randomTensor([b, t, h], seed: 6)  // a loss that reads every output
        let inputs = bias ? [x, wih, whh, bih, bhh] : [x, wih, whh]
        gradCheck(inputs, eps: 1e-2, rtol: 3e-2, atol: 3e-3, "\(cell) lengths \(lengths ?? []) reverse \(reverse)", file: file, line: line) { v in
            let out = v[0].recurrent(cell, weightIH: v[1], weightHH: v[2], biasIH: bias ? v[3] : nil, biasHH: bias ? v[4] : nil,
                                     lengths: lengths, reverse: reverse)
            return (out * weights).sum()
        }
    }

    func testGRUGradients() {
        check(.gru, lengths: nil, reverse: false, bias: true)
        check(.gru, lengths: [5, 2, 4], reverse: false, bias: true)
        check(.gru, lengths: [3, 5, 1], reverse: true, bias: false)
    }

    func testLSTMGradients() {
        check(.lstm, lengths: nil, reverse: false, bias: true)
        check(.lstm, lengths: [5, 2, 4], reverse: false, bias: false)
        check(.lstm, lengths: [3, 5, 1], reverse: true, bias: true)
    }

    func testPaddingNeverEntersTheState() {
        // Steps past a length are zeros in the output, and the values there do not matter.
        let (wih, whh) = (randomTensor([9, 2], seed: 7), randomTensor([9, 3], seed: 8))
        let a = randomTensor([1, 6, 2], seed: 9)
        let b = Tensor.concat([a.slice(axis: 1, 0..<4), randomTensor([1, 2, 2], seed: 10, low: -9, high: 9)], axis: 1)
        for reverse in [false, true] {
            let ya = a.recurrent(.gru, weightIH: wih, weightHH: whh, biasIH: nil, biasHH: nil, lengths: [4], reverse: reverse)
            let yb = b.recurrent(.gru, weightIH: wih, weightHH: whh, biasIH: nil, biasHH: nil, lengths: [4], reverse: reverse)
            let alone = a.slice(axis: 1, 0..<4).recurrent(.gru, weightIH: wih, weightHH: whh, biasIH: nil, biasHH: nil, reverse: reverse)
            assertClose(ya, yb)
            assertClose(ya.slice(axis: 1, 0..<4), alone)
            XCTAssertEqual(ya.slice(axis: 1, 4..<6).scalars, [Float](repeating: 0, count: 6))
        }
    }

    func testSelectStepsGradient() {
        let x = randomTensor([3, 4, 2], seed: 11)
        gradCheck([x], "selectSteps") { $0[0].selectSteps([3, 0, 2]) * 2 }
    }
}

/// The fused recurrent op (eight-lane gate math plus a scalar tail) against the same cells
/// composed from primitive ops, values and gradients, at a width that uses both paths.
final class RecurrentReferenceTests: XCTestCase {
    func reference(_ cell: RecurrentCell, _ x: Tensor, _ wih: Tensor, _ whh: Tensor, _ bih: Tensor, _ bhh: Tensor, reverse: Bool) -> Tensor {
        let (b, t, h) = (x.shape[0], x.shape[1], whh.shape[1])
        var state = Tensor.zeros([b, h]), c = Tensor.zeros([b, h])
        var outputs = [Tensor?](repeating: nil, count: t)
        for s in 0..<t {
            let step = reverse ? t - 1 - s : s
            let xp = x.slice(axis: 1, step..<(step + 1)).squeezed(1).linear(weight: wih, bias: bih)
            let hp = state.linear(weight: whh, bias: bhh)
            func gate(_ p: Tensor, _ k: Int) -> Tensor { p.slice(axis: 1, (k * h)..<((k + 1) * h)) }
            switch cell {
            case .gru:
                let r = (gate(xp, 0) + gate(hp, 0)).sigmoid(), z = (gate(xp, 1) + gate(hp, 1)).sigmoid()
                let n = (gate(xp, 2) + r * gate(hp, 2)).tanh()
                state = (1 - z) * n + z * state
            case .lstm:
                let i = (gate(xp, 0) + gate(hp, 0)).sigmoid(), f = (gate(xp, 1) + gate(hp, 1)).sigmoid()
                let g = (gate(xp, 2) + gate(hp, 2)).tanh(), o = (gate(xp, 3) + gate(hp, 3)).sigmoid()
                c = f * c + i * g
                state = o * c.tanh()
            }
            outputs[step] = state.unsqueezed(1)
        }
        return Tensor.concat(outputs.compactMap { $0 }, axis: 1)
    }

    func testWideCellsMatchTheComposedReference() {
        for cell in [RecurrentCell.gru, .lstm] {
            for reverse in [false, true] {
                let (b, t, i, h) = (3, 4, 5, 19)  // 19 = two eight-lane blocks and a tail of 3
                let g = cell.gates * h
                let x = randomTensor([b, t, i], seed: 21, low: -2, high: 2)
                let params = [randomTensor([g, i], seed: 22), randomTensor([g, h], seed: 23), randomTensor([g], seed: 24), randomTensor([g], seed: 25)]
                let weights = randomTensor([b, t, h], seed: 26)
                for p in params + [x] { p.requiresGrad = true }
                let fused = x.recurrent(cell, weightIH: params[0], weightHH: params[1], biasIH: params[2], biasHH: params[3], reverse: reverse)
                (fused * weights).sum().backward()
                let fusedGrads = ([x] + params).map { $0.grad?.copy() }
                for p in params + [x] { p.grad = nil }
                let composed = reference(cell, x, params[0], params[1], params[2], params[3], reverse: reverse)
                (composed * weights).sum().backward()
                assertClose(fused, composed, rtol: 1e-5, atol: 2e-6, "\(cell) reverse \(reverse)")
                for (k, t0) in ([x] + params).enumerated() {
                    guard let a = fusedGrads[k], let e = t0.grad else { XCTFail("missing gradient \(k)"); continue }
                    assertClose(a, e, rtol: 1e-4, atol: 1e-5, "\(cell) reverse \(reverse) gradient \(k)")
                }
            }
        }
    }
}

/// The recurrent op gives the same bits at any thread count.
final class RecurrentThreadTests: XCTestCase {
    func testOneAndTwoThreadsAgreeBitForBit() {
        var results: [[Float]] = []
        for threads in [1, 2] {
            Threading.setThreads(threads)
            let x = randomTensor([16, 31, 8], seed: 31)
            let wih = randomTensor([24, 8], seed: 32), whh = randomTensor([24, 8], seed: 33)
            for p in [x, wih, whh] { p.requiresGrad = true }
            let y = x.recurrent(.gru, weightIH: wih, weightHH: whh, biasIH: nil, biasHH: nil, lengths: (0..<16).map { 20 + $0 % 11 }, reverse: true)
            (y * y).sum().backward()
            results.append(y.scalars + (x.grad?.scalars ?? []) + (wih.grad?.scalars ?? []) + (whh.grad?.scalars ?? []))
        }
        Threading.setThreads(1)
        XCTAssertEqual(results[0], results[1])
    }
}
