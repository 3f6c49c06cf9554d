import FusionCore
import FusionNN
import FusionTensor

/// Gated multimodal unit (Arevalo, Solorio, Montes-y-Gómez & González, "Gated Multimodal Units
/// for Information Fusion", ICLR workshop 2017), for any number of modalities:
///
///     h_m = tanh(W_m e_m),   z_m = σ(W_z,m [e_1; …; e_M]),   h = Σ_m z_m ⊙ h_m
///
/// An absent modality's embedding is zeroed in the gate input and its gate is zero.
public final class GatedFusion: Module, FusionStrategy {
    /// Per-modality feature transforms, by modality name.
    public let proj: [String: Linear]
    /// Per-modality gates over the concatenated embeddings, by modality name.
    public let gate: [String: Linear]
    let dims: [Modality: Int]
    public let outputDim: Int

    /// A GMU of width `dim`.
    public init<G: RandomNumberGenerator>(inputDims: [Modality: Int], dim: Int, rng: inout G) {
        dims = inputDims
        proj = projections(inputDims, to: dim, rng: &rng)
        let total = inputDims.values.reduce(0, +)
        var gate: [String: Linear] = [:]
        for m in ordered(inputDims) { gate[m.rawValue] = Linear(total, dim, rng: &rng) }
        self.gate = gate
        outputDim = dim
    }

    /// `[B, dim]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        let mods = ordered(dims)
        let masked = mods.map { m -> (Tensor, Tensor) in
            let e = embedding(embeddings, m, width: dims[m] ?? 0)
            let p = column(presenceOf(presence, m, batch: e.shape[0]))
            return (e * p, p)
        }
        let joint = masked.count == 1 ? masked[0].0 : Tensor.concat(masked.map { $0.0 }, axis: 1)
        var result: Tensor?
        for (m, (e, p)) in zip(mods, masked) {
            guard let transform = proj[m.rawValue], let g = gate[m.rawValue] else { continue }
            let term = g(joint).sigmoid() * transform(e).tanh() * p
            result = result.map { $0 + term } ?? term
        }
        guard let result else { preconditionFailure("GatedFusion: no modalities") }
        return result
    }
}

extension GatedFusion {
    /// Gated units of width `dim`.
    public static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                            rng: inout SeededGenerator) throws -> GatedFusion {
        GatedFusion(inputDims: inputDims, dim: config.dim, rng: &rng)
    }

    /// `Σ_m σ(W_z,m [p·e]) ⊙ tanh(W_m p_m e_m) · p_m`.
    public func onnx(_ f: FusionGraph) throws -> String {
        let order = try f.modalities()
        let masked = order.map { m in f.op("Mul", [f.e(m), f.p(m)]) }
        let joint = f.concat(masked, axis: 1)
        return f.sum(try zip(order, masked).map { m, x in
            let gate = f.op("Sigmoid", [try f.g.linear(joint, "fusion.gate.\(m.rawValue)")])
            let transform = f.op("Tanh", [try f.g.linear(x, "fusion.proj.\(m.rawValue)")])
            return f.op("Mul", [f.op("Mul", [gate, transform]), f.p(m)])
        })
    }
}
