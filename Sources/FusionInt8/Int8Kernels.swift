import CDNNL
import Foundation
import FusionTensor

/// Activations held as unsigned 8-bit codes (see `ActivationQuantization`) between int8 layers:
/// images channels-last (`[B, H, W, C]` in memory, `shape` still `[B, C, H, W]`), vectors `[B, F]`.
public final class QuantizedTensor {
    /// The logical shape, `[B, C, H, W]` or `[B, F]`.
    public let shape: [Int]
    /// What the codes mean.
    public let quantization: ActivationQuantization
    let buffer: AlignedBuffer
    let descriptor: dnnl_memory_desc_t

    init(shape: [Int], quantization: ActivationQuantization, buffer: AlignedBuffer? = nil) throws {
        self.shape = shape
        self.quantization = quantization
        descriptor = try memoryDescriptor(shape, dnnl_u8, shape.count == 4 ? dnnl_acdb : dnnl_ab)
        self.buffer = buffer ?? AlignedBuffer(bytes: shapeCount(shape))
    }

    /// The codes of an image flattened channels-last: `[B, H·W·C]`, sharing the memory (a
    /// linear layer reading it has its weight columns permuted to match, see `Int8Linear.channelsLast`).
    public func flattened() throws -> QuantizedTensor {
        let b = shape.first ?? 0
        return try QuantizedTensor(shape: [b, shapeCount(shape) / Swift.max(b, 1)], quantization: quantization, buffer: buffer)
    }
}

/// What an int8 layer hands on: float values, or codes for the next int8 layer.
public enum Int8Value {
    /// Float32 values, row-major.
    case float(Tensor)
    /// int8 codes.
    case codes(QuantizedTensor)
}

/// Where an int8 layer's output goes: float32 (with an optional ReLU), or codes quantized for
/// the next int8 layer (ReLU applied and capped at code 127; the next input has zero point 0).
public enum Int8Destination: Hashable {
    /// Float32 output.
    case float(relu: Bool)
    /// ReLU, then codes of the given scale.
    case codes(scale: Float)
}

/// Primitives by key, made on first use; calls are serialised by the owner's lock. At most
/// `limit` are kept (a new shape past that evicts one), so a stream of varying batch sizes or
/// sequence lengths cannot grow memory without bound.
final class PrimitiveCache<Key: Hashable, Value> {
    private var values: [Key: Value] = [:]
    private let limit = 32
    func get(_ key: Key, make: () throws -> Value) rethrows -> Value {
        if let v = values[key] { return v }
        let v = try make()
        if values.count >= limit, let victim = values.keys.first { values[victim] = nil }
        values[key] = v
        return v
    }
}

/// f32 values → int8 codes of one quantization (one oneDNN reorder, then the cap at 127).
public final class Int8Quantizer: @unchecked Sendable {
    /// The codes' quantization.
    public let quantization: ActivationQuantization
    private let runtime: OneDNNRuntime
    private let cache = PrimitiveCache<[Int], Primitive>()
    private let lock = NSLock()

    /// A quantizer to `quantization`.
    public init(_ quantization: ActivationQuantization) throws {
        self.quantization = quantization
        runtime = try OneDNNRuntime.shared()
    }

    /// Quantizes `x` (`[B, C, H, W]` or `[B, F]`, row-major).
    public func callAsFunction(_ x: Tensor) throws -> QuantizedTensor {
        lock.lock(); defer { lock.unlock() }
        runtime.matchThreads()
        let out = try QuantizedTensor(shape: x.shape, quantization: quantization)
        guard x.count > 0 else { return out }
        let source = try memoryDescriptor(x.shape, dnnl_f32, x.shape.count == 4 ? dnnl_abcd : dnnl_ab)
        let reorder = try cache.get(x.shape) {
            try Primitive(reorder: source, to: out.descriptor, scale: 1 / quantization.scale, zeroPoint: quantization.zeroPoint, runtime: runtime)
        }
        try reorder.execute([(Argument.source, source, UnsafeMutableRawPointer(x.data)), (Argument.destination, out.descriptor, out.buffer.pointer)],
                            runtime: runtime)
        clampTo127(out.buffer.pointer.assumingMemoryBound(to: UInt8.self), count: out.buffer.bytes)
        return out
    }
}

/// int8 codes → f32 values, row-major (`[B, C, H, W]` or `[B, F]`).
public final class Int8Dequantizer: @unchecked Sendable {
    private let runtime: OneDNNRuntime
    private let cache = PrimitiveCache<[Int], Primitive>()
    private let lock = NSLock()

    /// A dequantizer.
    public init() throws { runtime = try OneDNNRuntime.shared() }

    /// The real values `x`'s codes stand for.
    public func callAsFunction(_ x: QuantizedTensor) throws -> Tensor {
        lock.lock(); defer { lock.unlock() }
        runtime.matchThreads()
        let q = x.quantization
        let target = try memoryDescriptor(x.shape, dnnl_f32, x.shape.count == 4 ? dnnl_abcd : dnnl_ab)
        // (code − zero point) · scale, as one reorder (one per shape and quantization).
        let reorder = try cache.get(x.shape + [Int(q.scale.bitPattern), Int(q.zeroPoint)]) {
            try Primitive(reorder: x.descriptor, to: target, scale: q.scale, sourceZeroPoint: q.zeroPoint, runtime: runtime)
        }
        let out = Tensor(shape: x.shape, storage: TensorStorage(uninitializedCount: shapeCount(x.shape)))
        guard out.count > 0 else { return out }
        try reorder.execute([(Argument.source, x.descriptor, x.buffer.pointer), (Argument.destination, target, UnsafeMutableRawPointer(out.data))],
                            runtime: runtime)
        return out
    }
}

/// 2-D max or average pooling (padded zeros counted, as PyTorch's default) directly on codes.
/// Max pooling commutes with quantization exactly; averages round to the nearest code.
public final class Int8Pool: @unchecked Sendable {
    /// Max (else average) pooling, and the window geometry.
    public let max: Bool, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)
    private let runtime: OneDNNRuntime
    private let cache = PrimitiveCache<[Int], Primitive>()
    private let lock = NSLock()

    /// A pooling layer.
    public init(max: Bool, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) throws {
        self.max = max; self.kernel = kernel; self.stride = stride; self.padding = padding
        runtime = try OneDNNRuntime.shared()
    }

    /// Pools `x` (`[B, C, H, W]`).
    public func callAsFunction(_ x: QuantizedTensor) throws -> QuantizedTensor {
        lock.lock(); defer { lock.unlock() }
        runtime.matchThreads()
        guard x.shape.count == 4 else { throw Int8Error("int8 pooling: input \(x.shape), expected [B, C, H, W]") }
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + 2 * padding.0 - kernel.0) / stride.0 + 1, ow = (w + 2 * padding.1 - kernel.1) / stride.1 + 1
        guard oh > 0 && ow > 0 else { throw Int8Error("int8 pooling: a \(kernel) window does not fit \(x.shape)") }
        let out = try QuantizedTensor(shape: [b, c, oh, ow], quantization: x.quantization)
        guard b > 0 else { return out }
        let primitive = try cache.get(x.shape) {
            var src = x.descriptor, dst = out.descriptor
            let strides: [Int64] = [Int64(stride.0), Int64(stride.1)], k: [Int64] = [Int64(kernel.0), Int64(kernel.1)]
            let left: [Int64] = [Int64(padding.0), Int64(padding.1)]
            let right: [Int64] = [Int64((oh - 1) * stride.0 + kernel.0 - h - padding.0), Int64((ow - 1) * stride.1 + kernel.1 - w - padding.1)]
            var desc = dnnl_pooling_desc_t()
            try check(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference, max ? dnnl_pooling_max : dnnl_pooling_avg_include_padding,
                                                     &src, &dst, strides, k, left, right), "pooling_forward_desc_init")
            var pd: dnnl_primitive_desc_t?
            try check(dnnl_primitive_desc_create(&pd, &desc, nil, runtime.engine, nil), "pooling primitive_desc_create")
            guard let pd else { throw Int8Error("oneDNN pooling primitive_desc_create gave nothing") }
            return try Primitive(pd)
        }
        try primitive.execute([(Argument.source, x.descriptor, x.buffer.pointer), (Argument.destination, out.descriptor, out.buffer.pointer)],
                              runtime: runtime)
        return out
    }
}

/// One layer's int8 compute on oneDNN, for inference: codes multiplied with the int8 weights,
/// accumulating in int32 (oneDNN's int8 GEMM or convolution), rescaled inside the primitive to
/// float (bias added, optional ReLU) or to the next int8 layer's codes.
///
/// From float inputs (`callAsFunction`), the input is quantized first (one reorder). Primitives
/// depend on the input shape and destination, so each kernel keeps one per pair it has seen.
/// Calls are serialised by a lock; oneDNN runs each primitive on `Threading.threads` threads.
public class Int8Kernel: @unchecked Sendable {
    /// The quantized weights.
    public let weights: Int8Weights
    /// The quantization of the input.
    public let input: ActivationQuantization
    /// The float bias, one per output channel.
    public let bias: [Float]?
    let runtime: OneDNNRuntime
    let quantizer: Int8Quantizer
    let lock = NSLock()
    private let computes = PrimitiveCache<ComputeKey, Compute>()

    struct ComputeKey: Hashable { let shape: [Int], destination: Int8Destination }

    /// A compute primitive with its weights reordered into the layout it chose, and the reorder
    /// of a channels-last float output into row-major order when the kernel needs one.
    final class Compute {
        let primitive: Primitive
        let weights: AlignedBuffer, weightsDescriptor: dnnl_memory_desc_t
        let bias: AlignedBuffer?, biasDescriptor: dnnl_memory_desc_t
        let output: dnnl_memory_desc_t
        let unreorder: (Primitive, dnnl_memory_desc_t)?
        init(primitive: Primitive, weights: AlignedBuffer, weightsDescriptor: dnnl_memory_desc_t, bias: AlignedBuffer?,
             biasDescriptor: dnnl_memory_desc_t, output: dnnl_memory_desc_t, unreorder: (Primitive, dnnl_memory_desc_t)?) {
            self.primitive = primitive; self.weights = weights; self.weightsDescriptor = weightsDescriptor
            self.bias = bias; self.biasDescriptor = biasDescriptor; self.output = output; self.unreorder = unreorder
        }
    }

    init(weights: Int8Weights, bias: [Float]?, input: ActivationQuantization) throws {
        if let bias, bias.count != weights.scales.count {
            throw Int8Error("int8 layer: \(bias.count) biases for \(weights.scales.count) output channels")
        }
        self.weights = weights
        self.bias = bias
        self.input = input
        runtime = try OneDNNRuntime.shared()
        quantizer = try Int8Quantizer(input)
    }

    /// The per-output-channel factors from int32 accumulators to float outputs.
    var outputScales: [Float] { weights.scales.map { $0 * input.scale } }

    /// The output shape for an input shape (subclasses; nil: the input does not fit).
    func outputShape(for shape: [Int]) -> [Int]? { nil }

    /// Builds the compute primitive for inputs of `shape` and `destination` (subclasses).
    func makeCompute(shape: [Int], destination: Int8Destination) throws -> Compute {
        throw Int8Error("Int8Kernel: no compute for the base class")
    }

    /// oneDNN's implementation name for float inputs of `shape` (for reports and tests).
    public func implementation(shape: [Int]) throws -> String {
        guard shapeCount(shape) > 0, outputShape(for: shape) != nil else {
            throw Int8Error("int8 layer: input \(shape) does not fit weights \(weights.shape)")
        }
        lock.lock(); defer { lock.unlock() }
        return try compute(shape: shape, destination: .float(relu: false)).primitive.implementation
    }

    func compute(shape: [Int], destination: Int8Destination) throws -> Compute {
        try computes.get(ComputeKey(shape: shape, destination: destination)) { try makeCompute(shape: shape, destination: destination) }
    }

    /// The weights reordered into the layout `primitive` chose, and the bias as oneDNN 2.x wants
    /// it (added before the output scale, so divided by the accumulator scale).
    func prepare(_ primitive: Primitive, plainWeights: dnnl_memory_desc_t, biasDescriptor: dnnl_memory_desc_t,
                 output: dnnl_memory_desc_t, unreorder: (Primitive, dnnl_memory_desc_t)?) throws -> Compute {
        let chosen = try primitive.memory(dnnl_query_weights_md)
        let reordered = AlignedBuffer(bytes: byteSize(chosen))
        let reorder = try Primitive(reorder: plainWeights, to: chosen, runtime: runtime)
        var values = weights.values
        try values.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { throw Int8Error("int8 layer: no weights") }
            try reorder.execute([(Argument.source, plainWeights, base), (Argument.destination, chosen, reordered.pointer)], runtime: runtime)
        }
        var biasBuffer: AlignedBuffer?
        if let bias {
            let buffer = AlignedBuffer(bytes: 4 * bias.count)
            let p = buffer.pointer.bindMemory(to: Float.self, capacity: bias.count)
            let scales = outputScales
            for i in bias.indices { p[i] = bias[i] / scales[i] }
            biasBuffer = buffer
        }
        return Compute(primitive: primitive, weights: reordered, weightsDescriptor: chosen, bias: biasBuffer, biasDescriptor: biasDescriptor,
                       output: output, unreorder: unreorder)
    }

    /// The primitive attributes of `destination`: per-channel output scales (to float, or to
    /// the next layer's codes), the input zero point, and ReLU (capped at code 127 for codes).
    func attributes(_ destination: Int8Destination) throws -> dnnl_primitive_attr_t {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        guard let attr else { throw Int8Error("oneDNN primitive_attr_create gave nothing") }
        do {
            try configure(attr, destination)
        } catch {
            dnnl_primitive_attr_destroy(attr)
            throw error
        }
        return attr
    }

    private func configure(_ attr: dnnl_primitive_attr_t, _ destination: Int8Destination) throws {
        var scales = outputScales
        var op: (dnnl_alg_kind_t, Float, Float)?
        switch destination {
        case .float(let relu): if relu { op = (dnnl_eltwise_relu, 0, 0) }
        case .codes(let scale):
            scales = scales.map { $0 / scale }
            op = (dnnl_eltwise_clip, 0, 127)
        }
        try check(dnnl_primitive_attr_set_output_scales(attr, Int64(scales.count), 1 << 1, scales), "attr_set_output_scales")
        if input.zeroPoint != 0 {
            var zp = input.zeroPoint
            try check(dnnl_primitive_attr_set_zero_points(attr, Argument.source, 1, 0, &zp), "attr_set_zero_points")
        }
        if let (kind, alpha, beta) = op {
            var ops: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&ops), "post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            try check(dnnl_post_ops_append_eltwise(ops, 1, kind, alpha, beta), "post_ops_append_eltwise")
            try check(dnnl_primitive_attr_set_post_ops(attr, ops), "attr_set_post_ops")
        }
    }

    /// Applies the layer to codes quantized with this layer's `input` quantization.
    public func callAsFunction(_ x: QuantizedTensor, to destination: Int8Destination) throws -> Int8Value {
        guard x.quantization == input else {
            throw Int8Error("int8 layer: the input codes have scale \(x.quantization.scale), zero point \(x.quantization.zeroPoint); "
                            + "the layer expects scale \(input.scale), zero point \(input.zeroPoint)")
        }
        guard let outShape = outputShape(for: x.shape) else { throw Int8Error("int8 layer: input \(x.shape) does not fit weights \(weights.shape)") }
        if shapeCount(x.shape) == 0 {  // an empty batch: nothing for oneDNN to do
            switch destination {
            case .codes(let scale): return .codes(try QuantizedTensor(shape: outShape, quantization: ActivationQuantization(scale: scale, zeroPoint: 0)))
            case .float: return .float(Tensor(shape: outShape, storage: TensorStorage(uninitializedCount: 0)))
            }
        }
        lock.lock(); defer { lock.unlock() }
        runtime.matchThreads()
        let c = try compute(shape: x.shape, destination: destination)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (Argument.source, x.descriptor, x.buffer.pointer), (Argument.weights, c.weightsDescriptor, c.weights.pointer),
        ]
        if let b = c.bias { args.append((Argument.bias, c.biasDescriptor, b.pointer)) }
        switch destination {
        case .codes(let scale):
            let out = try QuantizedTensor(shape: outShape, quantization: ActivationQuantization(scale: scale, zeroPoint: 0))
            args.append((Argument.destination, c.output, out.buffer.pointer))
            try c.primitive.execute(args, runtime: runtime)
            return .codes(out)
        case .float:
            let out = Tensor(shape: outShape, storage: TensorStorage(uninitializedCount: shapeCount(outShape)))
            if let (reorder, plain) = c.unreorder {
                let staged = AlignedBuffer(bytes: byteSize(c.output))
                args.append((Argument.destination, c.output, staged.pointer))
                try c.primitive.execute(args, runtime: runtime)
                try reorder.execute([(Argument.source, c.output, staged.pointer), (Argument.destination, plain, UnsafeMutableRawPointer(out.data))],
                                    runtime: runtime)
            } else {
                args.append((Argument.destination, c.output, UnsafeMutableRawPointer(out.data)))
                try c.primitive.execute(args, runtime: runtime)
            }
            return .float(out)
        }
    }

    /// Applies the layer to float inputs: quantize, then compute to float.
    func floatForward(_ x: Tensor, relu: Bool) throws -> Tensor {
        let codes = try quantizer(x)
        guard case .float(let y) = try self(codes, to: .float(relu: relu)) else { throw Int8Error("int8 layer: no float output") }
        return y
    }
}

/// Caps codes at 127 (values past the calibrated maximum would otherwise reach 255, where AVX2's
/// 16-bit pair sums can saturate).
func clampTo127(_ p: UnsafeMutablePointer<UInt8>, count: Int) {
    // A plain loop: LLVM turns it into vpminub over 32 bytes at a time.
    for i in 0..<count { p[i] = Swift.min(p[i], 127) }
}

/// `y = x · Wᵀ + b` in int8: `x [..., in] → y [..., out]` (oneDNN matmul).
public final class Int8Linear: Int8Kernel, @unchecked Sendable {
    /// Input and output widths.
    public let inFeatures: Int, outFeatures: Int

    /// A kernel for weights `[out, in]`; checks that oneDNN accepts it.
    override public init(weights: Int8Weights, bias: [Float]?, input: ActivationQuantization) throws {
        guard weights.shape.count == 2 else { throw Int8Error("int8 linear: weights \(weights.shape), expected [out, in]") }
        outFeatures = weights.shape[0]
        inFeatures = weights.shape[1]
        try super.init(weights: weights, bias: bias, input: input)
        _ = try implementation(shape: [1, inFeatures])
    }

    /// The same layer reading an image of `[channels, height, width]` flattened channels-last
    /// (`QuantizedTensor.flattened`) instead of row-major: the weight columns permuted to match.
    public func channelsLast(channels: Int, height: Int, width: Int) throws -> Int8Linear {
        guard channels * height * width == inFeatures else {
            throw Int8Error("int8 linear: \(inFeatures) inputs are not [\(channels), \(height), \(width)]")
        }
        var values = [Int8](repeating: 0, count: weights.values.count)
        let hw = height * width
        for o in 0..<outFeatures {
            for c in 0..<channels {
                for p in 0..<hw { values[o * inFeatures + p * channels + c] = weights.values[o * inFeatures + c * hw + p] }
            }
        }
        return try Int8Linear(weights: Int8Weights(values: values, scales: weights.scales, shape: weights.shape), bias: bias, input: input)
    }

    override func outputShape(for shape: [Int]) -> [Int]? {
        shape.last == inFeatures ? Array(shape.dropLast()) + [outFeatures] : nil
    }

    override func makeCompute(shape: [Int], destination: Int8Destination) throws -> Compute {
        let (m, k, n) = (shapeCount(shape) / inFeatures, inFeatures, outFeatures)
        var src = try memoryDescriptor([m, k], dnnl_u8, dnnl_ab)
        var w = try memoryDescriptor([k, n], dnnl_s8, dnnl_format_tag_any)
        var b = try memoryDescriptor([1, n], dnnl_f32, dnnl_ab)
        let type = if case .codes = destination { dnnl_u8 } else { dnnl_f32 }
        var dst = try memoryDescriptor([m, n], type, dnnl_ab)
        var desc = dnnl_matmul_desc_t()
        if bias == nil {
            try check(dnnl_matmul_desc_init(&desc, &src, &w, nil, &dst), "matmul_desc_init")
        } else {
            try check(dnnl_matmul_desc_init(&desc, &src, &w, &b, &dst), "matmul_desc_init")
        }
        let attr = try attributes(destination)
        defer { dnnl_primitive_attr_destroy(attr) }
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, &desc, attr, runtime.engine, nil), "matmul primitive_desc_create [\(m), \(k)] × [\(k), \(n)]")
        guard let pd else { throw Int8Error("oneDNN matmul primitive_desc_create gave nothing") }
        // Our weights are [out, in] row-major: [in, out] in oneDNN's "ba" order.
        return try prepare(try Primitive(pd), plainWeights: try memoryDescriptor([k, n], dnnl_s8, dnnl_ba), biasDescriptor: b,
                           output: dst, unreorder: nil)
    }

    /// Applies the layer to float `x [..., in]`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.shape.last == inFeatures else { throw Int8Error("int8 linear: input \(x.shape), expected last axis \(inFeatures)") }
        let m = x.count / inFeatures
        guard m > 0 else { return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures], storage: TensorStorage(uninitializedCount: 0)) }
        let y = try floatForward(x.reshaped([m, inFeatures]), relu: false)
        return y.reshaped(Array(x.shape.dropLast()) + [outFeatures])
    }
}

/// 2-D convolution in int8 over `[B, C, H, W]`, groups of one, with an optional fused ReLU
/// (oneDNN convolution on channels-last codes, as its int8 kernels want).
public final class Int8Conv2d: Int8Kernel, @unchecked Sendable {
    /// Window geometry.
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
    /// Whether ReLU is applied to float outputs inside the primitive.
    public let relu: Bool

    /// A kernel for weights `[out, in, kh, kw]`.
    public init(weights: Int8Weights, bias: [Float]?, input: ActivationQuantization,
                stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), relu: Bool) throws {
        guard weights.shape.count == 4 else { throw Int8Error("int8 conv2d: weights \(weights.shape), expected [out, in, kh, kw]") }
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.relu = relu
        try super.init(weights: weights, bias: bias, input: input)
    }

    override func outputShape(for shape: [Int]) -> [Int]? {
        guard shape.count == 4, shape[1] == weights.shape[1] else { return nil }
        let (kh, kw) = (weights.shape[2], weights.shape[3])
        let oh = (shape[2] + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
        let ow = (shape[3] + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
        return oh > 0 && ow > 0 ? [shape[0], weights.shape[0], oh, ow] : nil
    }

    override func makeCompute(shape: [Int], destination: Int8Destination) throws -> Compute {
        guard let outShape = outputShape(for: shape) else { throw Int8Error("int8 conv2d: no output for input \(shape)") }
        let (batch, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (o, kh, kw) = (weights.shape[0], weights.shape[2], weights.shape[3])
        let (oh, ow) = (outShape[2], outShape[3])
        let strides: [Int64] = [Int64(stride.0), Int64(stride.1)]
        let dilates: [Int64] = [Int64(dilation.0 - 1), Int64(dilation.1 - 1)]
        let left: [Int64] = [Int64(padding.0), Int64(padding.1)]
        // The right padding that gives exactly the output size (floor division may leave rows unread).
        let right: [Int64] = [Int64((oh - 1) * stride.0 + (kh - 1) * dilation.0 + 1 - h - padding.0),
                              Int64((ow - 1) * stride.1 + (kw - 1) * dilation.1 + 1 - w - padding.1)]
        let b = try memoryDescriptor([o], dnnl_f32, dnnl_a)
        let codes: Bool = if case .codes = destination { true } else { false }
        // Codes stay channels-last. Float output: row-major straight from the primitive when an
        // optimised kernel supports it, otherwise channels-last and one more reorder.
        var lastError: Error?
        for tag in codes ? [dnnl_acdb] : [dnnl_abcd, dnnl_acdb] {
            do {
                var src = try memoryDescriptor(shape, dnnl_u8, dnnl_acdb)
                var wd = try memoryDescriptor([o, c, kh, kw], dnnl_s8, dnnl_format_tag_any)
                var dst = try memoryDescriptor([batch, o, oh, ow], codes ? dnnl_u8 : dnnl_f32, tag)
                var bd = b
                var desc = dnnl_convolution_desc_t()
                let status = bias == nil
                    ? dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wd,
                                                                 nil, &dst, strides, dilates, left, right)
                    : dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wd,
                                                                 &bd, &dst, strides, dilates, left, right)
                try check(status, "convolution_forward_desc_init")
                let attr = try attributes(destination)
                defer { dnnl_primitive_attr_destroy(attr) }
                var pd: dnnl_primitive_desc_t?
                try check(dnnl_primitive_desc_create(&pd, &desc, attr, runtime.engine, nil), "convolution primitive_desc_create")
                guard let pd else { throw Int8Error("oneDNN convolution primitive_desc_create gave nothing") }
                let primitive = try Primitive(pd)
                if tag == dnnl_abcd && primitive.implementation.hasPrefix("ref") { continue }
                var unreorder: (Primitive, dnnl_memory_desc_t)?
                if !codes && tag == dnnl_acdb {
                    let plain = try memoryDescriptor([batch, o, oh, ow], dnnl_f32, dnnl_abcd)
                    unreorder = (try Primitive(reorder: dst, to: plain, runtime: runtime), plain)
                }
                return try prepare(primitive, plainWeights: try memoryDescriptor([o, c, kh, kw], dnnl_s8, dnnl_abcd), biasDescriptor: b,
                                   output: dst, unreorder: unreorder)
            } catch { lastError = error }
        }
        throw lastError ?? Int8Error("int8 conv2d: oneDNN has no kernel for \(weights.shape) over \(shape)")
    }

    /// Applies the convolution (and ReLU when `relu`) to float `x [B, C, H, W]`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard outputShape(for: x.shape) != nil else { throw Int8Error("int8 conv2d: input \(x.shape) does not fit weights \(weights.shape)") }
        guard x.shape[0] > 0 else { return Tensor(shape: outputShape(for: x.shape) ?? [0], storage: TensorStorage(uninitializedCount: 0)) }
        return try floatForward(x, relu: relu)
    }
}
