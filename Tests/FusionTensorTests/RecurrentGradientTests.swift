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
