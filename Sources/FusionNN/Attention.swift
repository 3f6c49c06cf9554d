import FusionTensor

/// Multi-head scaled dot-product attention as `torch.nn.MultiheadAttention(batch_first=True)`.
///
/// `query [B, Lq, E]`, `key`/`value [B, Lk, E]` → `[B, Lq, E]`:
/// `softmax(Q Kᵀ / √(E/H) + mask) V` per head, heads concatenated, then the output projection.
/// Keys match PyTorch's (`in_proj_weight [3E, E]`, `in_proj_bias [3E]`, `out_proj.weight`,
/// `out_proj.bias`) so weights load either way. Initialisation as PyTorch: Xavier-uniform input
/// projection, zero biases, output projection as `Linear`.
public final class MultiHeadAttention: Module {
    /// `[3E, E]`: the query, key and value projections stacked.
    public let inProjWeight: Tensor
    /// `[3E]`.
    public let inProjBias: Tensor
    /// The output projection `E → E`.
    public let outProj: Linear
    /// Embedding size E and number of heads H (E divisible by H).
    public let embedDim: Int, heads: Int

    /// An attention layer initialised from `rng`.
    public init<G: RandomNumberGenerator>(embedDim: Int, heads: Int, rng: inout G) {
        precondition(heads > 0 && embedDim % heads == 0, "MultiHeadAttention: embedDim \(embedDim) must be divisible by heads \(heads)")
        let bound = (6 / Float(embedDim + 3 * embedDim)).squareRoot()
        inProjWeight = Tensor.uniform([3 * embedDim, embedDim], low: -bound, high: bound, using: &rng, requiresGrad: true)
        inProjBias = Tensor.zeros([3 * embedDim], requiresGrad: true)
        outProj = Linear(embedDim, embedDim, rng: &rng)
        outProj.bias?.fill(0)
        self.embedDim = embedDim
        self.heads = heads
    }

    override public var keyOverrides: [String: String] {
        ["inProjWeight": "in_proj_weight", "inProjBias": "in_proj_bias", "outProj": "out_proj"]
    }

    /// Self-attention over `x [B, L, E]`.
    public func callAsFunction(_ x: Tensor, keyPaddingMask: [[Bool]]? = nil) -> Tensor {
        callAsFunction(query: x, key: x, value: x, keyPaddingMask: keyPaddingMask)
    }

    /// Attention of `query` over `key`/`value`. `keyPaddingMask[b][j] == true` hides key j of sample b.
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: [[Bool]]? = nil) -> Tensor {
        precondition(query.rank == 3 && query.shape[2] == embedDim, "MultiHeadAttention: expected query [B, L, \(embedDim)], got \(query.shape)")
        precondition(key.shape == value.shape && key.shape[0] == query.shape[0] && key.shape[2] == embedDim,
                     "MultiHeadAttention: expected key and value [\(query.shape[0]), Lk, \(embedDim)], got \(key.shape) and \(value.shape)")
        let (b, lq, lk, e, h) = (query.shape[0], query.shape[1], key.shape[1], embedDim, heads)
        let dh = e / h
        let q: Tensor, k: Tensor, v: Tensor
        if query === key && key === value {
            let qkv = query.linear(weight: inProjWeight, bias: inProjBias).split([e, e, e], axis: 2)
            (q, k, v) = (qkv[0], qkv[1], qkv[2])
        } else {
            let w = inProjWeight.split([e, e, e], axis: 0), bs = inProjBias.split([e, e, e], axis: 0)
            q = query.linear(weight: w[0], bias: bs[0])
            k = key.linear(weight: w[1], bias: bs[1])
            v = value.linear(weight: w[2], bias: bs[2])
        }
        func splitHeads(_ t: Tensor, _ l: Int) -> Tensor { t.reshaped([b, l, h, dh]).permuted([0, 2, 1, 3]).reshaped([b * h, l, dh]) }
        var scores = splitHeads(q, lq).matmul(splitHeads(k, lk), transposeB: true) * (1 / Float(dh).squareRoot())
        if let keyPaddingMask {
            precondition(keyPaddingMask.count == b && keyPaddingMask.allSatisfy { $0.count == lk },
                         "MultiHeadAttention: expected a key padding mask [\(b)][\(lk)]")
            let additive = Tensor(keyPaddingMask.flatMap { $0.map { $0 ? -Float.infinity : 0 } }, shape: [b, 1, 1, lk])
            scores = (scores.reshaped([b, h, lq, lk]) + additive).reshaped([b * h, lq, lk])
        }
        let context = scores.softmax(axis: -1).matmul(splitHeads(v, lk))
        let merged = context.reshaped([b, h, lq, dh]).permuted([0, 2, 1, 3]).reshaped([b, lq, e])
        return outProj(merged)
    }
}
