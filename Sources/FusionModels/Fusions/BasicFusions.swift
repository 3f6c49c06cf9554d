import FusionCore
import FusionNN
import FusionTensor

/// Early fusion by concatenation (the default): `[e_text; e_image; e_audio]`.
///
/// A missing modality's slot holds a learned "missing" embedding (initialised to zeros), so the
/// head can tell absence from a zero signal.
public final class ConcatFusion: Module, FusionStrategy {
    /// Learned embeddings used where a modality is absent, by modality name.
    public let missing: [String: Tensor]
    let dims: [Modality: Int]
    public let outputDim: Int

    /// Concatenation of embeddings of the given widths.
    public init(inputDims: [Modality: Int]) {
        dims = inputDims
        var missing: [String: Tensor] = [:]
        for m in ordered(inputDims) { missing[m.rawValue] = Tensor.zeros([inputDims[m] ?? 0], requiresGrad: true) }
        self.missing = missing
        outputDim = inputDims.values.reduce(0, +)
    }

    /// `[B, Σ d_m]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        let parts = ordered(dims).map { m -> Tensor in
            let e = embedding(embeddings, m, width: dims[m] ?? 0)
            let p = column(presenceOf(presence, m, batch: e.shape[0]))
            guard let fill = missing[m.rawValue] else { return e * p }
            return e * p + (1 - p) * fill
        }
        return parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 1)
    }
}

/// Sum or elementwise product of the embeddings after projecting each to a common width.
///
/// Sum: `Σ_m p_m · W_m e_m`, a missing modality adds nothing. Product: `Π_m (p_m · W_m e_m + 1 − p_m)`,
/// a missing modality multiplies by one.
public final class PoolingFusion: Module, FusionStrategy {
    /// How projected embeddings combine.
    public enum Operation: String, Sendable { case sum, product }
    /// Projections to the common width, by modality name.
    public let proj: [String: Linear]
    /// Sum or product.
    public let operation: Operation
    let dims: [Modality: Int]
    public let outputDim: Int

    /// A sum or product fusion to width `dim`.
    public init<G: RandomNumberGenerator>(inputDims: [Modality: Int], dim: Int, operation: Operation, rng: inout G) {
        dims = inputDims
        proj = projections(inputDims, to: dim, rng: &rng)
        self.operation = operation
        outputDim = dim
    }

    /// `[B, dim]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        var result: Tensor?
        for m in ordered(dims) {
            guard let layer = proj[m.rawValue] else { continue }
            let e = embedding(embeddings, m, width: dims[m] ?? 0)
            let p = column(presenceOf(presence, m, batch: e.shape[0]))
            let u = layer(e)
            let term = operation == .sum ? u * p : u * p + (1 - p)
            result = result.map { operation == .sum ? $0 + term : $0 * term } ?? term
        }
        guard let result else { preconditionFailure("PoolingFusion: no modalities") }
        return result
    }
}

/// Late (decision-level) fusion: a classifier per modality, logits averaged over the present
/// modalities — uniformly, or with learned weights (softmax over modalities, renormalised over
/// those present).
public final class LateFusion: Module, FusionStrategy {
    /// Per-modality classifiers, by modality name.
    public let heads: [String: Linear]
    /// Learned modality weights (before softmax), when weighted.
    public let modalityWeights: Tensor?
    let dims: [Modality: Int]
    public let outputDim: Int
    public var producesLogits: Bool { true }

    /// Late fusion into `classes` logits; `learnedWeights` learns how much each modality counts.
    public init<G: RandomNumberGenerator>(inputDims: [Modality: Int], classes: Int, learnedWeights: Bool, rng: inout G) {
        dims = inputDims
        var heads: [String: Linear] = [:]
        for m in ordered(inputDims) { heads[m.rawValue] = Linear(inputDims[m] ?? 0, classes, rng: &rng) }
        self.heads = heads
        modalityWeights = learnedWeights ? Tensor.zeros([inputDims.count], requiresGrad: true) : nil
        outputDim = classes
    }

    /// Weighted mean of the present modalities' logits, `[B, classes]`.
    public func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor {
        let mods = ordered(dims)
        let softWeights = modalityWeights.map { $0.softmax(axis: 0) }
        var total: Tensor?, norm: Tensor?
        for (i, m) in mods.enumerated() {
            guard let head = heads[m.rawValue] else { continue }
            let e = embedding(embeddings, m, width: dims[m] ?? 0)
            var w = column(presenceOf(presence, m, batch: e.shape[0]))
            if let softWeights { w = w * softWeights.slice(axis: 0, i..<(i + 1)) }
            let term = head(e) * w
            total = total.map { $0 + term } ?? term
            norm = norm.map { $0 + w } ?? w
        }
        guard let total, let norm else { preconditionFailure("LateFusion: no modalities") }
        return total / norm.maximum(Tensor(scalar: 1e-6))
    }
}
