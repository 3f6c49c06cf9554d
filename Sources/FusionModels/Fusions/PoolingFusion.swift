import FusionCore
import FusionNN
import FusionTensor

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

extension PoolingFusion {
    /// `sum` or `product` (from `kind`) to width `dim`.
    public static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                            rng: inout SeededGenerator) throws -> PoolingFusion {
        PoolingFusion(inputDims: inputDims, dim: config.dim, operation: config.kind == .product ? .product : .sum, rng: &rng)
    }

    /// `Σ_m p_m · W_m e_m`, or `Π_m (p_m · W_m e_m + 1 − p_m)`.
    public func onnx(_ f: FusionGraph) throws -> String {
        let terms = try f.modalities().map { m -> String in
            let masked = f.op("Mul", [try f.g.linear(f.e(m), "fusion.proj.\(m.rawValue)"), f.p(m)])
            return operation == .sum ? masked : f.op("Add", [masked, f.absent(m)])
        }
        return operation == .sum ? f.sum(terms) : terms.dropFirst().reduce(terms[0]) { f.op("Mul", [$0, $1]) }
    }
}
