import FusionCore
import FusionNN
import FusionTensor

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

extension LateFusion {
    /// A head per modality into `classes` logits, weighted when `learned_weights`.
    public static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                            rng: inout SeededGenerator) throws -> LateFusion {
        LateFusion(inputDims: inputDims, classes: classes, learnedWeights: config.learnedWeights, rng: &rng)
    }

    /// `Σ_m w_m p_m head_m(e_m) / max(Σ_m w_m p_m, 1e-6)`.
    public func onnx(_ f: FusionGraph) throws -> String {
        let weights = try modalityWeights.map { _ in f.op("Softmax", [try f.g.parameter("fusion.modalityWeights")], [.int("axis", 0)]) }
        var terms: [String] = [], norms: [String] = []
        for (i, m) in try f.modalities().enumerated() {
            var w = f.p(m)
            if let weights { w = f.op("Mul", [w, f.op("Slice", [weights, f.g.ints([i]), f.g.ints([i + 1]), f.g.ints([0])])]) }
            terms.append(f.op("Mul", [try f.g.linear(f.e(m), "fusion.heads.\(m.rawValue)"), w]))
            norms.append(w)
        }
        return f.op("Div", [f.sum(terms), f.op("Max", [f.sum(norms), f.g.scalar(1e-6)])])
    }
}
