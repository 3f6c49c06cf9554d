import FusionCore
import FusionNN
import FusionTensor

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
    /// Attention heads of each layer.
    public let heads: Int

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
        self.heads = heads
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

extension TransformerFusion {
    /// `layers` pre-norm layers of width `dim` with `heads` heads (a divisor of `dim`).
    public static func make(_ config: FusionConfig, inputDims: [Modality: Int], classes: Int, seed: UInt64,
                            rng: inout SeededGenerator) throws -> TransformerFusion {
        guard config.heads >= 1, config.dim % config.heads == 0 else {
            throw ModelBuildError(description: "model.fusion.dim \(config.dim) must be divisible by model.fusion.heads \(config.heads)")
        }
        return TransformerFusion(inputDims: inputDims, dim: config.dim, layers: config.layers, heads: config.heads, seed: seed, rng: &rng)
    }

    /// The encoder layers over the modality tokens, averaged over the present ones.
    public func onnx(_ f: FusionGraph) throws -> String {
        let order = try f.modalities(), d = outputDim
        let tokens = f.concat(try order.map { m in f.op("Unsqueeze", [try f.g.linear(f.e(m), "fusion.proj.\(m.rawValue)"), f.g.ints([1])]) }, axis: 1)
        let present = f.concat(order.map(f.p), axis: 1)
        let valid = f.op("Cast", [f.op("Greater", [present, f.g.scalar(0.5)])], [.int("to", 1)])
        var h = f.op("Add", [tokens, f.op("Unsqueeze", [try f.g.parameter("fusion.modalityEmbedding"), f.g.ints([0])])])
        for i in layers.indices {
            h = try f.g.encoderLayer(h, key: "fusion.layers.\(i)", steps: order.count, width: d, heads: heads, normFirst: true,
                                     activation: "gelu", valid: valid)
        }
        let m3 = f.op("Unsqueeze", [present, f.g.ints([2])])
        let total = f.op("ReduceSum", [f.op("Mul", [h, m3]), f.g.ints([1])], [.int("keepdims", 0)])
        return f.op("Div", [total, f.op("Max", [f.op("ReduceSum", [present, f.g.ints([1])], [.int("keepdims", 1)]), f.g.scalar(1e-9)])])
    }
}
