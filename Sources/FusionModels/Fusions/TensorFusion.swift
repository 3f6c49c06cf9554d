import FusionCore
import FusionNN
import FusionTensor

/// Tensor fusion (Zadeh, Chen, Poria, Cambria & Morency, "Tensor Fusion Network for Multimodal
/// Sentiment Analysis", EMNLP 2017): the outer product of the embeddings, each extended by a
/// constant 1, flattened — `⊗_m [e_m; 1]`, of width `Π_m (d_m + 1)` — so it holds every unimodal,
/// bimodal and trimodal interaction. Each embedding is first projected to `projection` values
/// (with ReLU) to keep the product small. An absent modality contributes `[0; 1]`: only the
/// constant term survives, leaving the other modalities' interactions intact.
public final class TensorFusion: Module, FusionStrategy {
    /// Per-modality projections, by modality name (absent when `projection` is nil).
    public let proj: [String: Linear]
    let dims: [Modality: Int]
    let widths: [Int]
    public let outputDim: Int

    /// Tensor fusion with each embedding projected to `projection` values first (nil: used as is).
    public init<G: RandomNumberGenerator>(inputDims: [Modality: Int], projection: Int?, rng: inout G) {
        dims = inputDims
        proj = projection.map { projections(inputDims, to: $0, rng: &rng) } ?? [:]
        widths = ordered(inputDims).map { projection ?? (inputDims[$0] ?? 0) }
        outputDim = widths.reduce(1) { $0 * ($1 + 1) }
    }

    /// `[B, Π (d_m + 1)]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        var z: Tensor?
        for m in ordered(dims) {
            var e = embedding(embeddings, m, width: dims[m] ?? 0)
            let b = e.shape[0]
            if let layer = proj[m.rawValue] { e = layer(e).relu() }
            let extended = Tensor.concat([e * column(presenceOf(presence, m, batch: b)), Tensor.ones([b, 1])], axis: 1)
            z = z.map { ($0.unsqueezed(2) * extended.unsqueezed(1)).reshaped([b, -1]) } ?? extended
        }
        guard let z else { preconditionFailure("TensorFusion: no modalities") }
        return z
    }
}

extension TensorFusion {
    /// The outer product after projecting each modality to `projection` values.
    public static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                            rng: inout SeededGenerator) throws -> TensorFusion {
        TensorFusion(inputDims: inputDims, projection: config.projection, rng: &rng)
    }

    /// `⊗_m [relu(W_m e_m) · p_m; 1]`, flattened.
    public func onnx(_ f: FusionGraph) throws -> String {
        var z: String?
        for m in try f.modalities() {
            let x = f.op("Relu", [try f.g.linear(f.e(m), "fusion.proj.\(m.rawValue)")])
            let extended = f.op("Concat", [f.op("Mul", [x, f.p(m)]), f.ones(m)], [.int("axis", 1)])
            if let previous = z {
                let outer = f.op("Mul", [f.op("Unsqueeze", [previous, f.g.ints([2])]), f.op("Unsqueeze", [extended, f.g.ints([1])])])
                z = f.op("Reshape", [outer, f.g.ints([0, -1])])
            } else {
                z = extended
            }
        }
        return z ?? ""
    }
}
