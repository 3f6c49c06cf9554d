import FusionCore
import FusionNN
import FusionTensor

/// Combines per-modality embeddings into one vector (or, for decision-level fusion, into logits).
///
/// A strategy is one file: its class, how it is built from `model.fusion` (`make`), and its ONNX
/// form (`onnx`). Registering it is one case of `FusionKind` and one line of `FusionKind.strategy`;
/// the compiler points at both. Only the PyTorch twin (Benchmarks/twin/twin_model.py) mirrors it
/// elsewhere, and a test checks that the twin names every kind.
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
    /// The strategy `config` describes, over embeddings of widths `inputDims`, for `classes`
    /// classes; `seed` reseeds its dropout. A setting it cannot use is an error naming the key.
    static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                     rng: inout SeededGenerator) throws -> Self
    /// `fuse` written as ONNX nodes over the embeddings `[B, d_m]` and presence columns `[B, 1]`
    /// of `graph`; returns the name of the result.
    func onnx(_ graph: FusionGraph) throws -> String
}

extension FusionStrategy {
    /// Not logits, by default.
    public var producesLogits: Bool { false }
}

/// The fusion strategies FusionLab implements.
public enum FusionKind: String, ConfigChoice {
    case concat, late, gated, tensor, lowRank = "low_rank", attention, transformer, sum, product

    /// The class implementing each strategy: where a new strategy is registered.
    public var strategy: any FusionStrategy.Type {
        switch self {
        case .concat: ConcatFusion.self
        case .late: LateFusion.self
        case .gated: GatedFusion.self
        case .tensor: TensorFusion.self
        case .lowRank: LowRankFusion.self
        case .attention: AttentionFusion.self
        case .transformer: TransformerFusion.self
        case .sum, .product: PoolingFusion.self
        }
    }
}

/// The ONNX operations a fusion strategy's `onnx` writes with, implemented by FusionDeploy's
/// exporter. Values are ONNX value names.
public protocol FusionGraphBuilder {
    /// Adds an ONNX node of type `op` over `inputs`; returns its output's name.
    func op(_ op: String, _ inputs: [String], _ attributes: [OnnxAttribute]) -> String
    /// A float scalar constant.
    func scalar(_ value: Float) -> String
    /// An int64 vector constant (shapes, axes).
    func ints(_ values: [Int]) -> String
    /// The model parameter under dotted `key` as an initializer.
    func parameter(_ key: String) throws -> String
    /// `x · Wᵀ + b` with the `Linear` under `key`.
    func linear(_ x: String, _ key: String) throws -> String
    /// A `TransformerEncoderLayer` under `key` over `[B, steps, width]`; `valid` (`[B, steps]`,
    /// 1 = a real step) masks keys.
    func encoderLayer(_ x: String, key: String, steps: Int, width: Int, heads: Int, normFirst: Bool, activation: String,
                      valid: String?) throws -> String
}

/// An ONNX node attribute.
public enum OnnxAttribute: Sendable {
    /// An int64 attribute.
    case int(String, Int)
    /// A list of int64.
    case ints(String, [Int])
    /// A float attribute.
    case float(String, Float)
    /// A string attribute.
    case string(String, String)
}

/// What a strategy's ONNX form reads: the graph, and each modality's embedding and presence.
public struct FusionGraph {
    /// Where nodes go.
    public let g: any FusionGraphBuilder
    /// Embedding `[B, d_m]` by modality.
    public let embeddings: [Modality: String]
    /// Presence `[B, 1]` (1 = present) by modality.
    public let presence: [Modality: String]
    /// The modalities in the fixed order.
    public let order: [Modality]

    /// The graph over these values.
    public init(_ g: any FusionGraphBuilder, embeddings: [Modality: String], presence: [Modality: String], order: [Modality]) {
        self.g = g; self.embeddings = embeddings; self.presence = presence; self.order = order
    }

    /// `m`'s embedding.
    func e(_ m: Modality) -> String { embeddings[m] ?? "" }
    /// `m`'s presence column.
    func p(_ m: Modality) -> String { presence[m] ?? "" }
    /// `1 − p_m`.
    func absent(_ m: Modality) -> String { op("Sub", [g.scalar(1), p(m)]) }
    /// A column of ones shaped as `p_m`.
    func ones(_ m: Modality) -> String { op("Add", [op("Mul", [p(m), g.scalar(0)]), g.scalar(1)]) }
    /// A node without attributes, or with them.
    func op(_ type: String, _ inputs: [String], _ attributes: [OnnxAttribute] = []) -> String { g.op(type, inputs, attributes) }
    /// Concatenation along `axis` (one value passes through).
    func concat(_ xs: [String], axis: Int) -> String { xs.count == 1 ? xs[0] : op("Concat", xs, [.int("axis", axis)]) }
    /// The sum of `xs`.
    func sum(_ xs: [String]) -> String { xs.dropFirst().reduce(xs[0]) { op("Add", [$0, $1]) } }
    /// The modality order, refusing an empty one.
    func modalities() throws -> [Modality] {
        guard !order.isEmpty else { throw ModelBuildError(description: "model.fusion: no modalities") }
        return order
    }
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
