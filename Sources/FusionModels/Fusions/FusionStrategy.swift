import FusionCore
import FusionNN
import FusionTensor

/// Combines per-modality embeddings into one vector (or, for decision-level fusion, into logits).
///
/// Every strategy has one signature: embeddings `[Modality: [B, d_m]]`, iterated in the fixed
/// modality order, plus a presence mask `[Modality: [B]]` (1 = the sample carries it), to
/// `[B, outputDim]`. Every strategy handles a missing modality (zeroed or learned embeddings,
/// renormalised weights, the constant term of tensor fusion) so a sample with a modality absent
/// still gets a sound prediction.
public protocol FusionStrategy: Module {
    /// Width of the result: the fused vector, or the number of classes when `producesLogits`.
    var outputDim: Int { get }
    /// Whether the result is already class logits (late fusion), so no head follows.
    var producesLogits: Bool { get }
    /// Fuses a batch.
    func fuse(_ embeddings: [Modality: Tensor], presence: [Modality: Tensor]) -> Tensor
}

extension FusionStrategy {
    /// Not logits, by default.
    public var producesLogits: Bool { false }
}

/// The fusion strategies FusionLab implements.
public enum FusionKind: String, ConfigChoice {
    case concat, late, gated, tensor, lowRank = "low_rank", attention, transformer, sum, product
}

/// `p [B]` as a `[B, 1]` column for broadcasting over embedding widths.
func column(_ p: Tensor) -> Tensor { p.reshaped([p.count, 1]) }

/// The modalities of `dims` in the fixed order.
func ordered(_ dims: [Modality: Int]) -> [Modality] { dims.keys.sorted() }

/// Embedding of `m`, checked against the width the strategy was built for.
func embedding(_ embeddings: [Modality: Tensor], _ m: Modality, width: Int) -> Tensor {
    guard let e = embeddings[m] else { preconditionFailure("fusion: no embedding for modality \(m.rawValue)") }
    precondition(e.rank == 2 && e.shape[1] == width, "fusion: expected \(m.rawValue) embedding [B, \(width)], got \(e.shape)")
    return e
}

/// Presence of `m` (all present when the mask is absent).
func presenceOf(_ presence: [Modality: Tensor], _ m: Modality, batch: Int) -> Tensor {
    presence[m] ?? Tensor.ones([batch])
}

/// Per-modality projections to a common width, keyed by modality name.
func projections<G: RandomNumberGenerator>(_ dims: [Modality: Int], to width: Int, rng: inout G) -> [String: Linear] {
    var out: [String: Linear] = [:]
    for m in ordered(dims) { out[m.rawValue] = Linear(dims[m] ?? 0, width, rng: &rng) }
    return out
}
