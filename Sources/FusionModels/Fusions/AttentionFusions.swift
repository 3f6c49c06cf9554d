import FusionCore
import FusionNN
import FusionTensor

/// Stacks each modality's projected embedding into `[B, M, dim]` with its presence `[B, M]`.
func projectedTokens(_ proj: [String: Linear], _ dims: [Modality: Int], _ embeddings: [Modality: Tensor],
                     _ presence: [Modality: Tensor]) -> (tokens: Tensor, present: Tensor) {
    var tokens: [Tensor] = [], present: [Tensor] = []
    for m in ordered(dims) {
        guard let layer = proj[m.rawValue] else { continue }
        let e = embedding(embeddings, m, width: dims[m] ?? 0)
        tokens.append(layer(e).unsqueezed(1))
        present.append(column(presenceOf(presence, m, batch: e.shape[0])))
    }
    return (Tensor.concat(tokens, axis: 1), Tensor.concat(present, axis: 1))
}

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

/// Cross-modal Transformer fusion: the projected modality embeddings, plus a learned embedding
/// per modality, are tokens of a Transformer encoder (Vaswani et al. 2017) whose self-attention
/// lets every modality attend to the others; absent modalities are masked out as keys, and the
/// outputs are averaged over the present modalities.
public final class TransformerFusion: Module, FusionStrategy {
    /// Projections to the model width, by modality name.
    public let proj: [String: Linear]
    /// A learned embedding per modality `[M, dim]` (in the fixed order).
    public let modalityEmbedding: Tensor
    /// The encoder layers.
    public let layers: [TransformerEncoderLayer]
    let dims: [Modality: Int]
    public let outputDim: Int

    /// `layers` Transformer layers of width `dim` with `heads` heads.
    public init<G: RandomNumberGenerator>(inputDims: [Modality: Int], dim: Int, layers count: Int, heads: Int,
                                          dropout: Float = 0.1, seed: UInt64 = 0, rng: inout G) {
        dims = inputDims
        proj = projections(inputDims, to: dim, rng: &rng)
        modalityEmbedding = Tensor.randn([inputDims.count, dim], std: 0.02, using: &rng, requiresGrad: true)
        layers = (0..<count).map { i in
            TransformerEncoderLayer(dim: dim, heads: heads, feedForward: 2 * dim, dropout: dropout, activation: .gelu,
                                    normFirst: true, seed: seed &+ UInt64(10 * i), rng: &rng)
        }
        outputDim = dim
    }

    /// `[B, dim]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        let (tokens, present) = projectedTokens(proj, dims, embeddings, presence)
        let (b, m) = (present.shape[0], present.shape[1])
        var h = tokens + modalityEmbedding.unsqueezed(0)
        let padding = (0..<b).map { i in (0..<m).map { present.data[i * m + $0] < 0.5 } }
        for layer in layers { h = layer(h, keyPaddingMask: padding) }
        return maskedMean(h, mask: present)
    }
}
