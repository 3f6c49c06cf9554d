import FusionTensor

/// A multi-layer, optionally bidirectional GRU or LSTM over `[B, T, input]` (batch first), as
/// `torch.nn.GRU` / `torch.nn.LSTM` with `batch_first=True`.
///
/// Parameter keys and layouts are PyTorch's (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`,
/// `bias_hh_l0`, `…_reverse` for the backward direction; gates r, z, n or i, f, g, o), so a
/// checkpoint loads in PyTorch unchanged. Initialisation as PyTorch: every weight and bias
/// uniform in ±1/√hidden. Padding (steps past each sample's length) never enters the state.
public final class RecurrentLayer: Module {
    /// GRU or LSTM.
    public let cell: RecurrentCell
    /// Input width, hidden width, stacked layers, and whether each layer runs both ways.
    public let inputSize: Int, hiddenSize: Int, numLayers: Int, bidirectional: Bool
    /// Dropout between stacked layers (training only), as PyTorch's `dropout`.
    public let interLayerDropout: Dropout?
    /// The weights, under PyTorch's names.
    public let parameters: [String: Tensor]

    /// A recurrent layer initialised from `rng`.
    public init<G: RandomNumberGenerator>(_ cell: RecurrentCell, inputSize: Int, hiddenSize: Int, numLayers: Int = 1,
                                          bidirectional: Bool = false, dropout: Float = 0, bias: Bool = true, seed: UInt64 = 0,
                                          rng: inout G) {
        precondition(numLayers >= 1 && hiddenSize >= 1, "RecurrentLayer: needs at least one layer and one hidden unit")
        self.cell = cell
        self.inputSize = inputSize; self.hiddenSize = hiddenSize; self.numLayers = numLayers; self.bidirectional = bidirectional
        interLayerDropout = dropout > 0 && numLayers > 1 ? Dropout(dropout, seed: seed) : nil
        let bound = 1 / Float(hiddenSize).squareRoot()
        let gh = cell.gates * hiddenSize
        var params: [String: Tensor] = [:]
        // PyTorch's order: for each layer, for each direction: weight_ih, weight_hh, bias_ih, bias_hh.
        for layer in 0..<numLayers {
            let inF = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            for suffix in bidirectional ? ["", "_reverse"] : [""] {
                params["weight_ih_l\(layer)\(suffix)"] = Tensor.uniform([gh, inF], low: -bound, high: bound, using: &rng, requiresGrad: true)
                params["weight_hh_l\(layer)\(suffix)"] = Tensor.uniform([gh, hiddenSize], low: -bound, high: bound, using: &rng, requiresGrad: true)
                if bias {
                    params["bias_ih_l\(layer)\(suffix)"] = Tensor.uniform([gh], low: -bound, high: bound, using: &rng, requiresGrad: true)
                    params["bias_hh_l\(layer)\(suffix)"] = Tensor.uniform([gh], low: -bound, high: bound, using: &rng, requiresGrad: true)
                }
            }
        }
        parameters = params
    }

    override public var keyOverrides: [String: String] { ["parameters": ""] }

    /// Width of each step's output (hidden size, doubled when bidirectional).
    public var outputSize: Int { hiddenSize * (bidirectional ? 2 : 1) }

    /// Runs the layers over `x [B, T, input]`; `lengths` are the valid steps per sample.
    ///
    /// Returns every step's output of the last layer `[B, T, outputSize]` (zeros past each
    /// length) and the final state `[B, outputSize]`: the forward direction's state at the last
    /// valid step, beside the backward direction's state after step 0 (PyTorch's `h_n`).
    public func callAsFunction(_ x: Tensor, lengths: [Int]? = nil) -> (sequence: Tensor, last: Tensor) {
        precondition(x.rank == 3 && x.shape[2] == inputSize, "RecurrentLayer: expected [B, T, \(inputSize)], got \(x.shape)")
        let (b, t) = (x.shape[0], x.shape[1])
        let lens = (lengths ?? [Int](repeating: t, count: b)).map { Swift.min(Swift.max($0, 1), t) }
        var h = x
        var last = x
        for layer in 0..<numLayers {
            if layer > 0, let interLayerDropout { h = interLayerDropout(h) }
            var outs: [Tensor] = [], finals: [Tensor] = []
            for (suffix, reverse) in bidirectional ? [("", false), ("_reverse", true)] : [("", false)] {
                let out = h.recurrent(cell, weightIH: weight("weight_ih_l\(layer)\(suffix)"), weightHH: weight("weight_hh_l\(layer)\(suffix)"),
                                      biasIH: parameters["bias_ih_l\(layer)\(suffix)"], biasHH: parameters["bias_hh_l\(layer)\(suffix)"],
                                      lengths: lens, reverse: reverse)
                outs.append(out)
                finals.append(out.selectSteps(reverse ? [Int](repeating: 0, count: b) : lens.map { $0 - 1 }))
            }
            h = outs.count == 1 ? outs[0] : Tensor.concat(outs, axis: 2)
            last = finals.count == 1 ? finals[0] : Tensor.concat(finals, axis: 1)
        }
        return (h, last)
    }

    private func weight(_ name: String) -> Tensor {
        guard let w = parameters[name] else { preconditionFailure("RecurrentLayer: no parameter \(name)") }
        return w
    }
}
