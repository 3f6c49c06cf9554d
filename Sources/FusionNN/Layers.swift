import FusionTensor

/// `y = x · Wᵀ + b` over the last axis.
///
/// Shapes: `x [..., inFeatures] → y [..., outFeatures]`; `weight [out, in]`, `bias [out]`.
/// Initialisation as PyTorch: weight and bias uniform in ±1/√in.
public final class Linear: Module, UnaryLayer {
    /// `[outFeatures, inFeatures]`.
    public let weight: Tensor
    /// `[outFeatures]`, absent when built with `bias: false`.
    public let bias: Tensor?

    /// A linear layer initialised from `rng`.
    public init<G: RandomNumberGenerator>(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout G) {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Tensor.uniform([outFeatures, inFeatures], low: -bound, high: bound, using: &rng, requiresGrad: true)
        self.bias = bias ? Tensor.uniform([outFeatures], low: -bound, high: bound, using: &rng, requiresGrad: true) : nil
    }

    /// Another implementation swapped in for this layer's forward pass after training
    /// (`QuantizedLinear` from FusionInt8 for int8 inference); nil computes in float.
    public var swapped: (any SwappedLayer)?
    /// When set, sees every input before the forward pass (calibration before quantization).
    public var inputObserver: (@Sendable (Tensor) -> Void)?

    /// Applies the map.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        inputObserver?(x)
        if let swapped { return swapped(x) }
        return x.linear(weight: weight, bias: bias)
    }
}

/// A forward pass swapped in for a float `Linear` or `Conv2d` once the model is trained, as mlx
/// swaps `QuantizedLinear` for `Linear`: the float layer keeps its parameters (checkpoints, keys
/// and shapes do not change) and hands its input to the swapped implementation. Inference only:
/// it records nothing for differentiation. FusionInt8's quantized layers are the implementations,
/// so the float layers (and every model built from them) do not link oneDNN.
public protocol SwappedLayer: AnyObject, Sendable {
    /// The layer's output for `x`.
    func callAsFunction(_ x: Tensor) -> Tensor
    /// The layer's output followed by ReLU (fused where the implementation can).
    func withReLU(_ x: Tensor) -> Tensor
}

extension SwappedLayer {
    /// ReLU after the forward pass, unfused.
    public func withReLU(_ x: Tensor) -> Tensor { self(x).relu() }
}

/// 2-D convolution over `[B, C, H, W]` (see `Tensor.conv2d`).
///
/// Initialisation as PyTorch: weight and bias uniform in ±1/√(C/groups · kh · kw).
public final class Conv2d: Module, UnaryLayer {
    /// `[outChannels, inChannels/groups, kh, kw]`.
    public let weight: Tensor
    /// `[outChannels]`.
    public let bias: Tensor?
    /// Window stride, padding and dilation.
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
    /// Number of channel groups.
    public let groups: Int

    /// A convolution initialised from `rng`.
    public init<G: RandomNumberGenerator>(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                                          padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1,
                                          bias: Bool = true, rng: inout G) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels \(inChannels)→\(outChannels) not divisible by groups \(groups)")
        let fanIn = inChannels / groups * kernel.0 * kernel.1
        let bound = 1 / Float(fanIn).squareRoot()
        weight = Tensor.uniform([outChannels, inChannels / groups, kernel.0, kernel.1], low: -bound, high: bound, using: &rng, requiresGrad: true)
        self.bias = bias ? Tensor.uniform([outChannels], low: -bound, high: bound, using: &rng, requiresGrad: true) : nil
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
    }

    /// Another implementation swapped in for this layer's forward pass after training
    /// (`QuantizedConv2d` from FusionInt8 for int8 inference); nil computes in float.
    public var swapped: (any SwappedLayer)?
    /// When set, sees every input before the forward pass (calibration before quantization).
    public var inputObserver: (@Sendable (Tensor) -> Void)?

    /// Applies the convolution.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        inputObserver?(x)
        if let swapped { return swapped(x) }
        return x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// Applies the convolution followed by ReLU, fused into one op.
    public func withReLU(_ x: Tensor) -> Tensor {
        inputObserver?(x)
        if let swapped { return swapped.withReLU(x) }
        return x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups, fusedReLU: true)
    }

    /// Applies the convolution, ReLU and 2×2 max pooling (stride 2), fused into one op: the
    /// full-size output is never written (see `Tensor.conv2d(fusedMaxPool2x2:)`).
    public func withReLUMaxPool2x2(_ x: Tensor) -> Tensor {
        inputObserver?(x)
        if let swapped { return swapped.withReLU(x).maxPool2d(kernel: (2, 2)) }
        return x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
                        fusedReLU: true, fusedMaxPool2x2: true)
    }
}

/// 1-D convolution over `[B, C, L]` (see `Tensor.conv1d`); PyTorch's initialisation.
public final class Conv1d: Module, UnaryLayer {
    /// `[outChannels, inChannels/groups, k]`.
    public let weight: Tensor
    /// `[outChannels]`.
    public let bias: Tensor?
    /// Window stride, padding, dilation and channel groups.
    public let stride: Int, padding: Int, dilation: Int, groups: Int

    /// A convolution initialised from `rng`.
    public init<G: RandomNumberGenerator>(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                                          dilation: Int = 1, groups: Int = 1, bias: Bool = true, rng: inout G) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv1d: channels \(inChannels)→\(outChannels) not divisible by groups \(groups)")
        let bound = 1 / Float(inChannels / groups * kernel).squareRoot()
        weight = Tensor.uniform([outChannels, inChannels / groups, kernel], low: -bound, high: bound, using: &rng, requiresGrad: true)
        self.bias = bias ? Tensor.uniform([outChannels], low: -bound, high: bound, using: &rng, requiresGrad: true) : nil
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
    }

    /// Applies the convolution.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.conv1d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// 2-D max pooling (stride defaults to the kernel).
public final class MaxPool2d: Module, UnaryLayer {
    /// Window geometry.
    public let kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)
    /// A pooling layer.
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }
    /// Applies the pooling.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.maxPool2d(kernel: kernel, stride: stride, padding: padding) }
}

/// 2-D average pooling (stride defaults to the kernel; padded zeros count, as PyTorch's default).
public final class AvgPool2d: Module, UnaryLayer {
    /// Window geometry.
    public let kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)
    /// A pooling layer.
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }
    /// Applies the pooling.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.avgPool2d(kernel: kernel, stride: stride, padding: padding) }
}

/// A lookup table of `count` vectors of size `dim`: ids `[...]` → `[..., dim]`.
///
/// Initialisation as PyTorch: N(0, 1), with the padding row zero; the padding row gets no gradient.
public final class Embedding: Module {
    /// `[count, dim]`.
    public let weight: Tensor
    /// The id whose row stays zero and untrained, if any.
    public let paddingIndex: Int?

    /// An embedding table initialised from `rng`.
    public init<G: RandomNumberGenerator>(count: Int, dim: Int, paddingIndex: Int? = nil, rng: inout G) {
        weight = Tensor.randn([count, dim], using: &rng, requiresGrad: true)
        if let p = paddingIndex {
            precondition(p >= 0 && p < count, "Embedding: padding index \(p) outside 0..<\(count)")
            (weight.data + p * dim).update(repeating: 0, count: dim)
        }
        self.paddingIndex = paddingIndex
    }

    /// Looks up the rows for `ids`.
    public func callAsFunction(_ ids: IndexTensor) -> Tensor { weight.indexSelect(ids, paddingIndex: paddingIndex) }
}

/// Layer normalisation over the last axis, with learned scale (ones) and shift (zeros).
public final class LayerNorm: Module, UnaryLayer {
    /// `[dim]` scale.
    public let weight: Tensor
    /// `[dim]` shift.
    public let bias: Tensor
    /// Added to the variance.
    public let eps: Float

    /// A layer norm over vectors of size `dim`.
    public init(_ dim: Int, eps: Float = 1e-5) {
        weight = Tensor.ones([dim], requiresGrad: true)
        bias = Tensor.zeros([dim], requiresGrad: true)
        self.eps = eps
    }

    /// Normalises `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}

/// Batch normalisation over the channel axis of `[B, C, ...]` (BatchNorm1d and BatchNorm2d alike),
/// with running statistics used in evaluation mode. Keys match PyTorch's (`running_mean`, ...).
public final class BatchNorm: Module, UnaryLayer {
    /// `[C]` scale (ones).
    public let weight: Tensor
    /// `[C]` shift (zeros).
    public let bias: Tensor
    /// `[C]` running mean (zeros).
    public let runningMean: Tensor
    /// `[C]` running variance (ones).
    public let runningVar: Tensor
    /// Running-statistics momentum and variance epsilon.
    public let momentum: Float, eps: Float

    /// A batch norm over `channels` channels.
    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        weight = Tensor.ones([channels], requiresGrad: true)
        bias = Tensor.zeros([channels], requiresGrad: true)
        runningMean = Tensor.zeros([channels])
        runningVar = Tensor.ones([channels])
        self.momentum = momentum; self.eps = eps
    }

    override public var bufferNames: Set<String> { ["runningMean", "runningVar"] }
    override public var keyOverrides: [String: String] { ["runningMean": "running_mean", "runningVar": "running_var"] }

    /// Whether the layer is frozen (neither scale nor shift trains): then, as in evaluation
    /// mode, it normalises with its running statistics and leaves them as they are, so a frozen
    /// pretrained backbone keeps the statistics it was trained with.
    public var isFrozen: Bool { !weight.requiresGrad && !bias.requiresGrad }

    /// Normalises `x`: on batch statistics in training mode (updating the running ones), on the
    /// running ones in evaluation mode or while frozen.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.batchNorm(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                    training: training && !isFrozen, momentum: momentum, eps: eps)
    }
}

/// Zeroes each value with probability `p` in training mode and scales the rest by 1/(1−p).
public final class Dropout: Module, UnaryLayer {
    /// Drop probability.
    public let p: Float
    private var rng: SeededGenerator

    /// A dropout layer with its own seeded generator.
    public init(_ p: Float, seed: UInt64 = 0) {
        precondition(p >= 0 && p < 1, "Dropout: probability must be in [0, 1), got \(p)")
        self.p = p
        rng = SeededGenerator(seed: seed)
    }

    override public func reseed(_ seed: UInt64) { rng = SeededGenerator(seed: seed) }

    /// Applies dropout (the identity in evaluation mode).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard training && p > 0 else { return x }
        let mask = Tensor(uninitializedShape: x.shape)
        let keep = 1 / (1 - p)
        for i in 0..<mask.count { mask.data[i] = rng.nextUnitFloat() < p ? 0 : keep }
        return x * mask
    }
}

/// An activation function as a layer.
public final class Activation: Module, UnaryLayer {
    /// The supported functions.
    public enum Kind: String, CaseIterable, Sendable { case relu, gelu, tanh, sigmoid, identity }
    /// Which function.
    public let kind: Kind

    /// An activation layer.
    public init(_ kind: Kind) { self.kind = kind }

    /// Applies the function.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch kind {
        case .relu: return x.relu()
        case .gelu: return x.gelu()
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        case .identity: return x
        }
    }
}

/// Collapses every axis after the first: `[B, ...] → [B, -1]`.
public final class Flatten: Module, UnaryLayer {
    /// A flatten layer.
    override public init() {}
    /// Flattens `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(from: 1) }
}

/// Layers applied in order; keys are the positions (`0.weight`, `2.bias`), as PyTorch's.
public final class Sequential: Module, UnaryLayer {
    /// The layers.
    public let layers: [Module]
    private let calls: [(Tensor) -> Tensor]

    /// A sequence of single-input layers.
    public init(_ layers: [Module & UnaryLayer]) {
        self.layers = layers
        self.calls = layers.map { layer in { layer($0) } }
    }

    override public var keyOverrides: [String: String] { ["layers": ""] }

    /// Applies each layer in turn.
    public func callAsFunction(_ x: Tensor) -> Tensor { calls.reduce(x) { $1($0) } }
}
