import FusionCore
import FusionNN
import FusionTensor

/// Attention fusion: each modality's embedding projected to a common width, scored by a small
/// additive attention network (`v_h · tanh(W u_m + b)`, Bahdanau et al. 2015, applied over
/// modalities), and pooled with softmax weights over the present modalities, per head:
/// `h = concat_h Σ_m α_{m,h} u_{m,h}` where head h owns a slice of the width. Several heads let
/// different slices listen to different modalities; the pooled vector is scaled by the number of
/// modalities present, so uniform weights start the model where sum fusion does.
public final class AttentionFusion: Module, FusionStrategy {
    /// Projections to the common width, by modality name.
    public let proj: [String: Linear]
    /// The scoring network: hidden layer and one score per head.
    public let score: Linear, scoreOut: Linear
    let dims: [Modality: Int]
    let heads: Int
    public let outputDim: Int

    /// Attention fusion to width `dim` with `heads` heads (dim divisible by heads).
    public init<G: RandomNumberGenerator>(inputDims: [Modality: Int], dim: Int, heads: Int = 4, rng: inout G) {
        let heads = dim % heads == 0 ? heads : 1
        dims = inputDims
        proj = projections(inputDims, to: dim, rng: &rng)
        score = Linear(dim, dim, rng: &rng)
        scoreOut = Linear(dim, heads, rng: &rng)
        // Start from uniform weights: with random scores the softmax can settle on one modality
        // before the projections have learned anything, and the others then get no gradient.
        scoreOut.weight.fill(0)
        scoreOut.bias?.fill(0)
        self.heads = heads
        outputDim = dim
    }

    /// The attention weights `[B, M, heads]` over the modalities in fixed order (0 where absent).
    public func weights(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        let (tokens, present) = projectedTokens(proj, dims, embeddings, presence)
        return attentionWeights(tokens, present)
    }

    func attentionWeights(_ tokens: Tensor, _ present: Tensor) -> Tensor {
        let logits = scoreOut(score(tokens).tanh())  // [B, M, heads]
        let mask = present.unsqueezed(2)
        return (logits + (mask - 1) * 1e9).softmax(axis: 1) * mask
    }

    /// `[B, dim]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        let (tokens, present) = projectedTokens(proj, dims, embeddings, presence)
        let (b, m, d) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        let alpha = attentionWeights(tokens, present).unsqueezed(3)  // [B, M, heads, 1]
        let pooled = (tokens.reshaped([b, m, heads, d / heads]) * alpha).sum(axes: [1]).reshaped([b, d])
        return pooled * present.sum(axes: [1], keepDims: true)
    }
}

extension AttentionFusion {
    /// Width `dim`, `heads` heads (a divisor of `dim`).
    public static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                            rng: inout SeededGenerator) throws -> AttentionFusion {
        guard config.heads >= 1, config.dim % config.heads == 0 else {
            throw ModelBuildError(description: "model.fusion.dim \(config.dim) must be divisible by model.fusion.heads \(config.heads)")
        }
        return AttentionFusion(inputDims: inputDims, dim: config.dim, heads: config.heads, rng: &rng)
    }

    /// Additive attention over the projected modalities, per head, scaled by the count present.
    public func onnx(_ f: FusionGraph) throws -> String {
        let order = try f.modalities(), d = outputDim
        let tokens = f.concat(try order.map { m in f.op("Unsqueeze", [try f.g.linear(f.e(m), "fusion.proj.\(m.rawValue)"), f.g.ints([1])]) }, axis: 1)
        let present = f.concat(order.map(f.p), axis: 1)
        let logits = try f.g.linear(f.op("Tanh", [try f.g.linear(tokens, "fusion.score")]), "fusion.scoreOut")  // [B, M, heads]
        let mask = f.op("Unsqueeze", [present, f.g.ints([2])])
        let penalty = f.op("Mul", [f.op("Sub", [mask, f.g.scalar(1)]), f.g.scalar(1e9)])
        let alpha = f.op("Mul", [f.op("Softmax", [f.op("Add", [logits, penalty])], [.int("axis", 1)]), mask])
        let split = f.op("Reshape", [tokens, f.g.ints([0, order.count, heads, d / heads])])
        let pooled = f.op("ReduceSum", [f.op("Mul", [split, f.op("Unsqueeze", [alpha, f.g.ints([3])])]), f.g.ints([1])], [.int("keepdims", 0)])
        let flat = f.op("Reshape", [pooled, f.g.ints([0, d])])
        return f.op("Mul", [flat, f.op("ReduceSum", [present, f.g.ints([1])], [.int("keepdims", 1)])])
    }
}
