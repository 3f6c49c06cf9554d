import FusionNN
import FusionTensor

/// `Linear` computed in int8 on oneDNN: swapped in for the float layer's forward pass (see
/// `SwappedLayer`) by `Int8Quantization.quantize` or `load`. Inference only.
public final class QuantizedLinear: SwappedLayer, @unchecked Sendable {
    /// The kernel: per-channel int8 weights, the calibrated input quantization, the float bias.
    public let kernel: Int8Linear

    /// Makes the oneDNN kernel for `layer`'s shape and bias (checked here, not at the first call).
    public init(_ layer: Linear, weights: Int8Weights, input: ActivationQuantization) throws {
        kernel = try Int8Linear(weights: weights, bias: layer.bias?.scalars, input: input)
    }

    /// The layer's output for `x`, in int8.
    public func callAsFunction(_ x: Tensor) -> Tensor { runInt8 { try kernel(x) } }

    /// Swaps a quantized forward pass into `layer`: its weight becomes the dequantized int8
    /// weight, so the float and int8 paths describe the same model.
    public static func swap(into layer: Linear, weights: Int8Weights, input: ActivationQuantization) throws {
        layer.swapped = try QuantizedLinear(layer, weights: weights, input: input)
        layer.weight.assign(weights.dequantized())
    }
}

/// `Conv2d` (without channel groups) computed in int8 on oneDNN, with and without a fused ReLU;
/// swapped in for the float layer's forward pass like `QuantizedLinear`. Inference only.
public final class QuantizedConv2d: SwappedLayer, @unchecked Sendable {
    /// The kernels: plain, and with ReLU as a post-op.
    public let plain: Int8Conv2d, relu: Int8Conv2d

    /// Makes the oneDNN kernels for `layer`'s geometry and bias; grouped convolutions are refused.
    public init(_ layer: Conv2d, weights: Int8Weights, input: ActivationQuantization) throws {
        guard layer.groups == 1 else { throw Int8Error("int8 conv2d: grouped convolutions are not quantized") }
        let b = layer.bias?.scalars
        plain = try Int8Conv2d(weights: weights, bias: b, input: input, stride: layer.stride, padding: layer.padding,
                               dilation: layer.dilation, relu: false)
        relu = try Int8Conv2d(weights: weights, bias: b, input: input, stride: layer.stride, padding: layer.padding,
                              dilation: layer.dilation, relu: true)
    }

    /// The convolution of `x`, in int8.
    public func callAsFunction(_ x: Tensor) -> Tensor { runInt8 { try plain(x) } }

    /// The convolution followed by ReLU, one oneDNN primitive.
    public func withReLU(_ x: Tensor) -> Tensor { runInt8 { try relu(x) } }

    /// Swaps a quantized forward pass into `layer` (its weight becomes the dequantized int8 weight).
    public static func swap(into layer: Conv2d, weights: Int8Weights, input: ActivationQuantization) throws {
        layer.swapped = try QuantizedConv2d(layer, weights: weights, input: input)
        layer.weight.assign(weights.dequantized())
    }
}

/// The result of an int8 kernel. Kernels are checked when they are made; oneDNN failing on a
/// later call is a broken invariant, reported with its message.
@inline(__always)
func runInt8(_ body: () throws -> Tensor) -> Tensor {
    do { return try body() } catch { fatalError("int8 kernel: \(error)") }
}
