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

/// Low-rank multimodal fusion (Liu, Shen, Lakshminarasimhan, Liang, Zadeh & Morency, "Efficient
/// Low-rank Multimodal Fusion with Modality-Specific Factors", ACL 2018): tensor fusion's weight
/// decomposed into `rank` modality-specific factors,
///
///     h = Σ_{i=1..r} λ_i · ⊙_m ([e_m; 1] · W_m^(i)) + b,
///
/// linear in the number of modalities. An absent modality contributes `[0; 1] · W_m^(i)`.
public final class LowRankFusion: Module, FusionStrategy {
    /// Factors `[(d_m + 1), rank · dim]`, by modality name.
    public let factors: [String: Tensor]
    /// Rank weights λ `[rank]`.
    public let rankWeights: Tensor
    /// Output bias `[dim]`.
    public let bias: Tensor
    let dims: [Modality: Int]
    let rank: Int
    public let outputDim: Int

    /// Low-rank fusion to width `dim` with `rank` factors.
    public init<G: RandomNumberGenerator>(inputDims: [Modality: Int], dim: Int, rank: Int, rng: inout G) {
        precondition(rank >= 1, "LowRankFusion: rank must be at least 1, got \(rank)")
        dims = inputDims
        var factors: [String: Tensor] = [:]
        for m in ordered(inputDims) {
            let rows = (inputDims[m] ?? 0) + 1
            let bound = (6 / Float(rows + dim)).squareRoot()  // Xavier, as the paper's code
            factors[m.rawValue] = Tensor.uniform([rows, rank * dim], low: -bound, high: bound, using: &rng, requiresGrad: true)
        }
        self.factors = factors
        let wb = (6 / Float(1 + rank)).squareRoot()
        rankWeights = Tensor.uniform([rank], low: -wb, high: wb, using: &rng, requiresGrad: true)
        bias = Tensor.zeros([dim], requiresGrad: true)
        self.rank = rank
        outputDim = dim
    }

    /// `[B, dim]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        var product: Tensor?
        for m in ordered(dims) {
            guard let w = factors[m.rawValue] else { continue }
            let e = embedding(embeddings, m, width: dims[m] ?? 0)
            let b = e.shape[0]
            let extended = Tensor.concat([e * column(presenceOf(presence, m, batch: b)), Tensor.ones([b, 1])], axis: 1)
            let z = extended.matmul(w).reshaped([b, rank, outputDim])
            product = product.map { $0 * z } ?? z
        }
        guard let product else { preconditionFailure("LowRankFusion: no modalities") }
        return (product * rankWeights.reshaped([1, rank, 1])).sum(axes: [1]) + bias
    }
}
