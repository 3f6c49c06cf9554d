import FusionCore
import FusionNN
import FusionTensor

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

extension LowRankFusion {
    /// Rank-`rank` factors to width `dim`.
    public static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                            rng: inout SeededGenerator) throws -> LowRankFusion {
        LowRankFusion(inputDims: inputDims, dim: config.dim, rank: config.rank, rng: &rng)
    }

    /// `Σ_i λ_i ⊙_m ([p·e_m; 1] · W_m^(i)) + b`.
    public func onnx(_ f: FusionGraph) throws -> String {
        var product: String?
        for m in try f.modalities() {
            let extended = f.op("Concat", [f.op("Mul", [f.e(m), f.p(m)]), f.ones(m)], [.int("axis", 1)])
            let z = f.op("Reshape", [f.op("MatMul", [extended, try f.g.parameter("fusion.factors.\(m.rawValue)")]), f.g.ints([0, rank, outputDim])])
            product = product.map { f.op("Mul", [$0, z]) } ?? z
        }
        let weighted = f.op("Mul", [product ?? "", f.op("Reshape", [try f.g.parameter("fusion.rankWeights"), f.g.ints([1, rank, 1])])])
        return f.op("Add", [f.op("ReduceSum", [weighted, f.g.ints([1])], [.int("keepdims", 0)]), try f.g.parameter("fusion.bias")])
    }
}
