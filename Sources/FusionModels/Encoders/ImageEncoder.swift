import FusionNN
import FusionTensor

/// A residual block (He et al., 2016): `relu(x + BN(conv(relu(BN(conv(x))))))`, 3×3, same width.
public final class ResidualBlock: Module, UnaryLayer {
    /// The two convolutions.
    public let conv1: Conv2d, conv2: Conv2d
    /// Their batch norms (absent when built without).
    public let bn1: BatchNorm?, bn2: BatchNorm?

    /// A block of `channels` channels.
    public init<G: RandomNumberGenerator>(channels: Int, batchNorm: Bool, rng: inout G) {
        conv1 = Conv2d(channels, channels, kernel: (3, 3), padding: (1, 1), bias: !batchNorm, rng: &rng)
        conv2 = Conv2d(channels, channels, kernel: (3, 3), padding: (1, 1), bias: !batchNorm, rng: &rng)
        bn1 = batchNorm ? BatchNorm(channels) : nil
        bn2 = batchNorm ? BatchNorm(channels) : nil
    }

    /// Applies the block.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(x)
        if let bn1 { h = bn1(h) }
        h = conv2(h.relu())
        if let bn2 { h = bn2(h) }
        return (x + h).relu()
    }
}

/// One convolution stage of the image encoder: conv (+BN) → ReLU (+ residual block) → pooling.
public final class ConvStage: Module, UnaryLayer {
    /// Pooling after a stage.
    public enum Pooling: String, Codable, Sendable { case max, avg, none }
    /// The stage's convolution.
    public let conv: Conv2d
    /// Its batch norm, if any.
    public let bn: BatchNorm?
    /// A residual block after the convolution, if any.
    public let residual: ResidualBlock?
    /// Pooling (2×2, stride 2).
    public let pooling: Pooling

    /// A stage `inChannels → outChannels` with a square kernel.
    public init<G: RandomNumberGenerator>(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int, pooling: Pooling,
                                          batchNorm: Bool, residual: Bool, rng: inout G) {
        conv = Conv2d(inChannels, outChannels, kernel: (kernel, kernel), stride: (stride, stride),
                      padding: (kernel / 2, kernel / 2), bias: !batchNorm, rng: &rng)
        bn = batchNorm ? BatchNorm(outChannels) : nil
        self.residual = residual ? ResidualBlock(channels: outChannels, batchNorm: batchNorm, rng: &rng) : nil
        self.pooling = pooling
    }

    /// Applies the stage to `[B, C, H, W]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h: Tensor
        if let bn { h = bn(conv(x)).relu() } else { h = conv.withReLU(x) }
        if let residual { h = residual(h) }
        switch pooling {
        case .max where h.shape[2] >= 2 && h.shape[3] >= 2: return h.maxPool2d(kernel: (2, 2))
        case .avg where h.shape[2] >= 2 && h.shape[3] >= 2: return h.avgPool2d(kernel: (2, 2))
        default: return h
        }
    }
}

/// A configurable convolutional image encoder: stages of conv (+BN, +residual) and pooling,
/// global average pooling, projection to `dim`. `[B, C, H, W] → [B, dim]`.
public final class ConvImageEncoder: Module, ModalityEncoder {
    /// The convolution stages.
    public let stages: [ConvStage]
    /// Projection of the pooled channels to `outputDim`.
    public let proj: Linear
    public let outputDim: Int

    /// Stage `i` has `channels[i]` channels, kernel `kernels[i]` (default 3), stride `strides[i]` (default 1).
    public init<G: RandomNumberGenerator>(inChannels: Int, channels: [Int], kernels: [Int] = [], strides: [Int] = [],
                                          pooling: ConvStage.Pooling = .max, batchNorm: Bool = false, residual: Bool = false,
                                          dim: Int, rng: inout G) {
        precondition(!channels.isEmpty, "ConvImageEncoder: at least one stage is needed")
        var stages: [ConvStage] = []
        var c = inChannels
        for (i, out) in channels.enumerated() {
            stages.append(ConvStage(c, out, kernel: i < kernels.count ? kernels[i] : 3, stride: i < strides.count ? strides[i] : 1,
                                    pooling: pooling, batchNorm: batchNorm, residual: residual, rng: &rng))
            c = out
        }
        self.stages = stages
        proj = Linear(c, dim, rng: &rng)
        outputDim = dim
    }

    /// Encodes `input.features [B, C, H, W]`.
    public func encode(_ input: ModalityInput) -> Tensor {
        guard let x = input.features, x.rank == 4 else {
            preconditionFailure("ConvImageEncoder: expected image features [B, C, H, W], got \(input.features?.shape ?? [])")
        }
        var h = x
        for stage in stages { h = stage(h) }
        return proj(h.globalAvgPool()).relu()
    }
}
