import FusionData
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
/// additive attention network (`v · tanh(W u_m + b)`, as Bahdanau et al. 2015 applied over
/// modalities), and averaged with softmax weights over the present modalities:
/// `h = Σ_m α_m u_m`.
public final class AttentionFusion: Module, FusionStrategy {
    /// Projections to the common width, by modality name.
    public let proj: [String: Linear]
    /// The scoring network.
    public let score: Linear, scoreOut: Linear
    let dims: [Modality: Int]
    public let outputDim: Int

    /// Attention fusion to width `dim`.
    public init<G: RandomNumberGenerator>(inputDims: [Modality: Int], dim: Int, rng: inout G) {
        dims = inputDims
        proj = projections(inputDims, to: dim, rng: &rng)
        score = Linear(dim, dim, rng: &rng)
        scoreOut = Linear(dim, 1, rng: &rng)
        outputDim = dim
    }

    /// The attention weights `[B, M]` over the modalities in fixed order (0 where absent).
    public func weights(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        let (tokens, present) = projectedTokens(proj, dims, embeddings, presence)
        return attentionWeights(tokens, present)
    }

    func attentionWeights(_ tokens: Tensor, _ present: Tensor) -> Tensor {
        let logits = scoreOut(score(tokens).tanh()).squeezed(2)  // [B, M]
        return (logits + (present - 1) * 1e9).softmax(axis: 1) * present
    }

    /// `[B, dim]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        let (tokens, present) = projectedTokens(proj, dims, embeddings, presence)
        return (tokens * attentionWeights(tokens, present).unsqueezed(2)).sum(axes: [1])
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
