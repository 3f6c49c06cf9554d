import Foundation
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

/// `RecurrentLayer` against torch.nn.GRU / torch.nn.LSTM with the same weights (PyTorch's names
/// and gate order), on packed sequences: outputs, final states and every gradient
/// (scripts/golden/make_recurrent_goldens.py; gradients of Σ y·gy + Σ last·glast).
final class RecurrentGoldenTests: XCTestCase {
    func check(_ name: String) throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "recurrent", withExtension: "safetensors", subdirectory: "Golden"))
        let file = try Safetensors.read(url.path)
        func t(_ key: String) throws -> Tensor { try XCTUnwrap(file.tensors["\(name).\(key)"], "golden tensor \(name).\(key) missing").copy() }
        var settings: [String: String] = [:]
        for part in (file.metadata[name] ?? "").split(separator: ";") {
            let kv = part.split(separator: "=")
            if kv.count == 2 { settings[String(kv[0])] = String(kv[1]) }
        }
        let cell: RecurrentCell = settings["cell"] == "lstm" ? .lstm : .gru
        let layers = Int(settings["layers"] ?? "") ?? 1, hidden = Int(settings["hidden"] ?? "") ?? 1
        let input = Int(settings["input"] ?? "") ?? 1, bidirectional = settings["bidirectional"] == "1"
        var rng = SeededGenerator(seed: 0)
        let rnn = RecurrentLayer(cell, inputSize: input, hiddenSize: hidden, numLayers: layers, bidirectional: bidirectional, rng: &rng)
        var state: [String: Tensor] = [:]
        for (key, _) in rnn.namedParameters() { state[key] = try t(key) }
        try rnn.load(state)
        let x = try t("x")
        x.requiresGrad = true
        let lengths = try t("lengths").scalars.map { Int($0) }
        let (y, last) = rnn(x, lengths: lengths)
        assertClose(y, try t("y"), rtol: 1e-4, atol: 1e-5, "\(name) y")
        assertClose(last, try t("last"), rtol: 1e-4, atol: 1e-5, "\(name) last")
        ((y * (try t("gy"))).sum() + (last * (try t("glast"))).sum()).backward()
        assertClose(try XCTUnwrap(x.grad), try t("gx"), rtol: 1e-4, atol: 1e-5, "\(name) gx")
        for (key, p) in rnn.namedParameters() {
            assertClose(try XCTUnwrap(p.grad, key), try t("g" + key), rtol: 1e-4, atol: 1e-5, "\(name) g\(key)")
        }
    }

    func testGRU() throws { try check("gru_1") }
    func testBidirectionalTwoLayerGRUOnPackedSequences() throws { try check("gru_bi") }
    func testLSTM() throws { try check("lstm_1") }
    func testBidirectionalTwoLayerLSTMOnPackedSequences() throws { try check("lstm_bi") }

    func testKeysArePyTorchs() {
        var rng = SeededGenerator(seed: 0)
        let keys = RecurrentLayer(.lstm, inputSize: 3, hiddenSize: 2, numLayers: 2, bidirectional: true, rng: &rng).namedParameters().map { $0.key }
        XCTAssertEqual(Set(keys), Set(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse",
                                       "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
                                       "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"]))
    }
}
