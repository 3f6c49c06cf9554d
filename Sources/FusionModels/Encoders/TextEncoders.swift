import FusionNN
import FusionTensor

/// An embedding bag: token embeddings pooled over the attention mask (mean or max), then an
/// optional projection. `tokens [B, T] → [B, dim]`.
public final class EmbeddingBagEncoder: Module, ModalityEncoder {
    /// How token vectors are pooled.
    public enum Pooling: String, Codable, Sendable { case mean, max }
    /// The token table.
    public let embedding: Embedding
    /// Projection to `outputDim` (absent when the embedding width is the output width).
    public let proj: Linear?
    /// Pooling over tokens.
    public let pooling: Pooling
    public let outputDim: Int

    /// An embedding bag over `vocab` ids of width `embeddingDim`, projected to `dim`.
    public init<G: RandomNumberGenerator>(vocab: Int, embeddingDim: Int, dim: Int, pooling: Pooling = .mean,
                                          paddingIndex: Int? = 0, rng: inout G) {
        embedding = Embedding(count: vocab, dim: embeddingDim, paddingIndex: paddingIndex, rng: &rng)
        proj = embeddingDim == dim ? nil : Linear(embeddingDim, dim, rng: &rng)
        self.pooling = pooling
        outputDim = dim
    }

    /// Pools the token embeddings.
    public func encode(_ input: ModalityInput) -> Tensor {
        guard let tokens = input.tokens else { preconditionFailure("EmbeddingBagEncoder: the text input has no tokens") }
        let e = embedding(tokens)
        let pooled = pooling == .mean ? maskedMean(e, mask: input.mask) : maskedMax(e, mask: input.mask)
        return proj.map { $0(pooled).relu() } ?? pooled
    }
}

/// A small Transformer text encoder: token + learned position embeddings, N encoder layers,
/// then the first token's vector (`[CLS]` pooling) or the masked mean. `tokens [B, T] → [B, dim]`.
public final class TransformerTextEncoder: Module, ModalityEncoder {
    /// How the sequence is summarised.
    public enum Pooling: String, Codable, Sendable { case cls, mean }
    /// Token and position tables.
    public let tokenEmbedding: Embedding, positionEmbedding: Embedding
    /// The encoder layers.
    public let layers: [TransformerEncoderLayer]
    /// Final norm (pre-norm layers need one).
    public let norm: LayerNorm
    /// Pooling.
    public let pooling: Pooling
    public let outputDim: Int

    /// An encoder of width `dim`.
    public init<G: RandomNumberGenerator>(vocab: Int, maxLength: Int, dim: Int, layers count: Int, heads: Int,
                                          feedForward: Int? = nil, dropout: Float = 0.1, pooling: Pooling = .mean,
                                          seed: UInt64 = 0, rng: inout G) {
        tokenEmbedding = Embedding(count: vocab, dim: dim, paddingIndex: 0, rng: &rng)
        positionEmbedding = Embedding(count: maxLength, dim: dim, rng: &rng)
        tokenEmbedding.weight.assign(tokenEmbedding.weight * 0.02)  // small initial scale, as BERT
        positionEmbedding.weight.assign(positionEmbedding.weight * 0.02)
        layers = (0..<count).map { i in
            TransformerEncoderLayer(dim: dim, heads: heads, feedForward: feedForward ?? 4 * dim, dropout: dropout,
                                    activation: .gelu, normFirst: true, seed: seed &+ UInt64(10 * i), rng: &rng)
        }
        norm = LayerNorm(dim)
        self.pooling = pooling
        outputDim = dim
    }

    /// Encodes and pools the tokens.
    public func encode(_ input: ModalityInput) -> Tensor {
        guard let tokens = input.tokens else { preconditionFailure("TransformerTextEncoder: the text input has no tokens") }
        let (b, t) = (tokens.shape[0], tokens.shape[1])
        precondition(t <= positionEmbedding.weight.shape[0], "TransformerTextEncoder: \(t) tokens exceed the \(positionEmbedding.weight.shape[0]) positions")
        let positions = IndexTensor((0..<(b * t)).map { Int32($0 % t) }, shape: [b, t])
        var h = tokenEmbedding(tokens) + positionEmbedding(positions)
        let padding = input.mask.map { m in (0..<b).map { i in (0..<t).map { m.data[i * t + $0] < 0.5 } } }
        for layer in layers { h = layer(h, keyPaddingMask: padding) }
        h = norm(h)
        return pooling == .cls ? h.slice(axis: 1, 0..<1).squeezed(1) : maskedMean(h, mask: input.mask)
    }
}
