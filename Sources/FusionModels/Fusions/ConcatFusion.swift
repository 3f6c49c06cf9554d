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

extension ConcatFusion {
    /// Concatenation has no settings.
    public static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                            rng: inout SeededGenerator) throws -> ConcatFusion {
        ConcatFusion(inputDims: inputDims)
    }

    /// `concat_m (e_m · p_m + missing_m · (1 − p_m))`.
    public func onnx(_ f: FusionGraph) throws -> String {
        f.concat(try f.modalities().map { m in
            f.op("Add", [f.op("Mul", [f.e(m), f.p(m)]), f.op("Mul", [f.absent(m), try f.g.parameter("fusion.missing.\(m.rawValue)")])])
        }, axis: 1)
    }
}
