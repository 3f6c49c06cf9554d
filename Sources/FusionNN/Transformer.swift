import FusionTensor

/// A Transformer encoder layer as `torch.nn.TransformerEncoderLayer(batch_first=True)`:
/// post-norm by default, `x ← LN(x + Dropout(SelfAttn(x)))`, `x ← LN(x + Dropout(FFN(x)))`
/// with `FFN = Linear(d, ff) → activation → Dropout → Linear(ff, d)`; with `normFirst`,
/// the pre-norm variant `x ← x + SelfAttn(LN(x))`, `x ← x + FFN(LN(x))`.
///
/// Shapes: `[B, L, d] → [B, L, d]`; `keyPaddingMask[b][j] == true` hides position j of sample b.
public final class TransformerEncoderLayer: Module {
    /// Multi-head self-attention.
    public let selfAttn: MultiHeadAttention
    /// Feed-forward layers.
    public let linear1: Linear, linear2: Linear
    /// Norms after (or before) each sub-layer.
    public let norm1: LayerNorm, norm2: LayerNorm
    /// Dropout inside the block.
    public let dropout: Dropout, dropout1: Dropout, dropout2: Dropout
    /// The feed-forward activation.
    public let activation: Activation
    /// Whether the norms come before the sub-layers.
    public let normFirst: Bool

    /// A layer of width `dim` with `heads` heads and feed-forward width `feedForward`.
    public init<G: RandomNumberGenerator>(dim: Int, heads: Int, feedForward: Int, dropout p: Float = 0.1,
                                          activation: Activation.Kind = .relu, normFirst: Bool = false,
                                          eps: Float = 1e-5, seed: UInt64 = 0, rng: inout G) {
        selfAttn = MultiHeadAttention(embedDim: dim, heads: heads, rng: &rng)
        linear1 = Linear(dim, feedForward, rng: &rng)
        linear2 = Linear(feedForward, dim, rng: &rng)
        norm1 = LayerNorm(dim, eps: eps)
        norm2 = LayerNorm(dim, eps: eps)
        dropout = Dropout(p, seed: seed &+ 1)
        dropout1 = Dropout(p, seed: seed &+ 2)
        dropout2 = Dropout(p, seed: seed &+ 3)
        self.activation = Activation(activation)
        self.normFirst = normFirst
    }

    override public var keyOverrides: [String: String] { ["selfAttn": "self_attn"] }

    /// Applies the layer.
    public func callAsFunction(_ x: Tensor, keyPaddingMask: [[Bool]]? = nil) -> Tensor {
        func feedForward(_ h: Tensor) -> Tensor { linear2(dropout(activation(linear1(h)))) }
        if normFirst {
            let h = norm1(x)
            let a = x + dropout1(selfAttn(query: h, key: h, value: h, keyPaddingMask: keyPaddingMask))
            return a + dropout2(feedForward(norm2(a)))
        }
        let a = norm1(x + dropout1(selfAttn(query: x, key: x, value: x, keyPaddingMask: keyPaddingMask)))
        return norm2(a + dropout2(feedForward(a)))
    }
}

/// Mean of `x [B, L, d]` over the positions where `mask [B, L]` is 1 (all positions when nil).
/// A row with no valid position gives zeros.
public func maskedMean(_ x: Tensor, mask: Tensor?) -> Tensor {
    guard let mask else { return x.mean(axes: [1]) }
    precondition(mask.shape == Array(x.shape.prefix(2)), "maskedMean: mask \(mask.shape) must be [B, L] of \(x.shape)")
    let m = mask.unsqueezed(2)
    let counts = mask.sum(axes: [1], keepDims: true).maximum(Tensor(scalar: 1e-9))
    return (x * m).sum(axes: [1]) / counts
}

/// Maximum of `x [B, L, d]` over the positions where `mask [B, L]` is 1 (all positions when nil).
public func maskedMax(_ x: Tensor, mask: Tensor?) -> Tensor {
    guard let mask else { return x.max(axis: 1) }
    precondition(mask.shape == Array(x.shape.prefix(2)), "maskedMax: mask \(mask.shape) must be [B, L] of \(x.shape)")
    let penalty = (mask.unsqueezed(2) - 1) * 1e9
    return (x + penalty).max(axis: 1)
}
