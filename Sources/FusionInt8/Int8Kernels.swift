import CDNNL
import Foundation
import FusionTensor

/// One layer's int8 compute on oneDNN, for inference: the float input is quantized (one
/// reorder), multiplied with the int8 weights accumulating in int32 (oneDNN's int8 GEMM or
/// convolution), and rescaled to float with the bias added, all inside the primitive.
///
/// Primitives depend on the batch size, so each kernel keeps one plan per batch size it has seen.
/// Calls are serialised by a lock (oneDNN itself runs the primitive on `Threading.threads` threads).
public class Int8Kernel: @unchecked Sendable {
    /// The quantized weights.
    public let weights: Int8Weights
    /// The quantization of the input.
    public let input: ActivationQuantization
    /// The float bias, one per output channel.
    public let bias: [Float]?
    let runtime: OneDNNRuntime
    private var plans: [[Int]: Plan] = [:]
    private let lock = NSLock()

    /// What a batch size needs: the quantizing reorder, the compute primitive with its
    /// reordered weights, and an optional reorder of the output into row-major order.
    final class Plan {
        let quantize: Primitive
        let floatInput: dnnl_memory_desc_t, quantizedInput: dnnl_memory_desc_t
        let compute: Primitive
        let weights: AlignedBuffer, weightsDescriptor: dnnl_memory_desc_t
        let bias: AlignedBuffer?, biasDescriptor: dnnl_memory_desc_t
        let output: dnnl_memory_desc_t
        let unreorder: (Primitive, dnnl_memory_desc_t)?
        let staging: AlignedBuffer, outputStaging: AlignedBuffer?

        init(quantize: Primitive, floatInput: dnnl_memory_desc_t, quantizedInput: dnnl_memory_desc_t, compute: Primitive,
             weights: AlignedBuffer, weightsDescriptor: dnnl_memory_desc_t, bias: AlignedBuffer?, biasDescriptor: dnnl_memory_desc_t,
             output: dnnl_memory_desc_t, unreorder: (Primitive, dnnl_memory_desc_t)?) {
            self.quantize = quantize; self.floatInput = floatInput; self.quantizedInput = quantizedInput
            self.compute = compute; self.weights = weights; self.weightsDescriptor = weightsDescriptor
            self.bias = bias; self.biasDescriptor = biasDescriptor; self.output = output; self.unreorder = unreorder
            staging = AlignedBuffer(bytes: byteSize(quantizedInput))
            outputStaging = unreorder.map { _ in AlignedBuffer(bytes: byteSize(output)) }
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
    }

    /// The per-output-channel factors from int32 accumulators to float outputs.
    var outputScales: [Float] { weights.scales.map { $0 * input.scale } }

    /// Builds the plan for inputs of `shape` (subclasses).
    func makePlan(shape: [Int]) throws -> Plan { throw Int8Error("Int8Kernel: no plan for the base class") }

    /// The plan for inputs of `shape`, made on first use.
    func plan(shape: [Int]) throws -> Plan {
        if let p = plans[shape] { return p }
        let p = try makePlan(shape: shape)
        plans[shape] = p
        return p
    }

    /// oneDNN's implementation name for inputs of `shape` (for reports and tests).
    public func implementation(shape: [Int]) throws -> String {
        lock.lock(); defer { lock.unlock() }
        return try plan(shape: shape).compute.implementation
    }

    /// The weights reordered into the layout `compute` chose, and the bias buffer.
    func preparedWeights(for compute: Primitive, plainWeights: dnnl_memory_desc_t)
        throws -> (AlignedBuffer, dnnl_memory_desc_t, AlignedBuffer?) {
        let chosen = try compute.memory(dnnl_query_weights_md)
        let reordered = AlignedBuffer(bytes: byteSize(chosen))
        let reorder = try Primitive(reorder: plainWeights, to: chosen, runtime: runtime)
        var values = weights.values
        try values.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { throw Int8Error("int8 layer: no weights") }
            try reorder.execute([(Argument.source, plainWeights, base), (Argument.destination, chosen, reordered.pointer)], runtime: runtime)
        }
        var biasBuffer: AlignedBuffer?
        if let bias {
            // oneDNN 2.x adds the bias before the output scale, so it is stored divided by it.
            let buffer = AlignedBuffer(bytes: 4 * bias.count)
            let p = buffer.pointer.bindMemory(to: Float.self, capacity: bias.count)
            let scales = outputScales
            for i in bias.indices { p[i] = bias[i] / scales[i] }
            biasBuffer = buffer
        }
        return (reordered, chosen, biasBuffer)
    }

    /// The primitive attributes: per-channel output scales and, optionally, a fused ReLU.
    func attributes(relu: Bool) throws -> dnnl_primitive_attr_t {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        guard let attr else { throw Int8Error("oneDNN primitive_attr_create gave nothing") }
        let scales = outputScales
        try check(dnnl_primitive_attr_set_output_scales(attr, Int64(scales.count), 1 << 1, scales), "attr_set_output_scales")
        if input.zeroPoint != 0 {
            var zp = input.zeroPoint
            try check(dnnl_primitive_attr_set_zero_points(attr, Argument.source, 1, 0, &zp), "attr_set_zero_points")
        }
        if relu {
            var ops: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&ops), "post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            try check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "post_ops_append_eltwise")
            try check(dnnl_primitive_attr_set_post_ops(attr, ops), "attr_set_post_ops")
        }
        return attr
    }

    /// Seconds each stage of one call took (quantize, clamp, compute, output reorder), for benchmarks.
    public private(set) var stageSeconds: [Double] = [0, 0, 0, 0]
    /// Whether `run` records `stageSeconds`.
    public var profiling = false

    /// Runs the plan for `shape` on `x`, writing `out`.
    func run(_ x: Tensor, shape: [Int], into out: Tensor) throws {
        lock.lock(); defer { lock.unlock() }
        runtime.matchThreads()
        let p = try plan(shape: shape)
        var clock = profiling ? Date() : Date.distantPast
        func lap(_ i: Int) {
            guard profiling else { return }
            let t = Date()
            stageSeconds[i] += t.timeIntervalSince(clock)
            clock = t
        }
        try p.quantize.execute([(Argument.source, p.floatInput, UnsafeMutableRawPointer(x.data)),
                                (Argument.destination, p.quantizedInput, p.staging.pointer)], runtime: runtime)
        lap(0)
        clampTo127(p.staging.pointer.assumingMemoryBound(to: UInt8.self), count: p.staging.bytes)
        lap(1)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (Argument.source, p.quantizedInput, p.staging.pointer),
            (Argument.weights, p.weightsDescriptor, p.weights.pointer),
        ]
        if let b = p.bias { args.append((Argument.bias, p.biasDescriptor, b.pointer)) }
        let target = p.outputStaging?.pointer ?? UnsafeMutableRawPointer(out.data)
        args.append((Argument.destination, p.output, target))
        try p.compute.execute(args, runtime: runtime)
        lap(2)
        if let (reorder, plain) = p.unreorder, let staged = p.outputStaging {
            try reorder.execute([(Argument.source, p.output, staged.pointer), (Argument.destination, plain, UnsafeMutableRawPointer(out.data))],
                                runtime: runtime)
        }
        lap(3)
    }
}

/// Caps quantized inputs at 127 (values past the calibrated maximum would otherwise reach 255,
/// where AVX2's pair sums can saturate).
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
        _ = try implementation(shape: [1])
    }

    override func makePlan(shape: [Int]) throws -> Plan {
        let (m, k, n) = (shape[0], inFeatures, outFeatures)
        let floatInput = try memoryDescriptor([m, k], dnnl_f32, dnnl_ab)
        let quantizedInput = try memoryDescriptor([m, k], dnnl_u8, dnnl_ab)
        let quantize = try Primitive(reorder: floatInput, to: quantizedInput, scale: 1 / input.scale, zeroPoint: input.zeroPoint, runtime: runtime)
        var src = quantizedInput
        var w = try memoryDescriptor([k, n], dnnl_s8, dnnl_format_tag_any)
        var b = try memoryDescriptor([1, n], dnnl_f32, dnnl_ab)
        var dst = try memoryDescriptor([m, n], dnnl_f32, dnnl_ab)
        var desc = dnnl_matmul_desc_t()
        if bias == nil {
            try check(dnnl_matmul_desc_init(&desc, &src, &w, nil, &dst), "matmul_desc_init")
        } else {
            try check(dnnl_matmul_desc_init(&desc, &src, &w, &b, &dst), "matmul_desc_init")
        }
        let attr = try attributes(relu: false)
        defer { dnnl_primitive_attr_destroy(attr) }
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, &desc, attr, runtime.engine, nil), "matmul primitive_desc_create [\(m), \(k)] × [\(k), \(n)]")
        guard let pd else { throw Int8Error("oneDNN matmul primitive_desc_create gave nothing") }
        let compute = try Primitive(pd)
        // Our weights are [out, in] row-major: [in, out] in oneDNN's "ba" order.
        let (weights, chosen, biasBuffer) = try preparedWeights(for: compute, plainWeights: try memoryDescriptor([k, n], dnnl_s8, dnnl_ba))
        return Plan(quantize: quantize, floatInput: floatInput, quantizedInput: quantizedInput, compute: compute,
                    weights: weights, weightsDescriptor: chosen, bias: biasBuffer, biasDescriptor: b, output: dst, unreorder: nil)
    }

    /// Applies the layer to `x [..., in]`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.shape.last == inFeatures else { throw Int8Error("int8 linear: input \(x.shape), expected last axis \(inFeatures)") }
        let m = x.count / inFeatures
        let out = Tensor(shape: Array(x.shape.dropLast()) + [outFeatures], storage: TensorStorage(uninitializedCount: m * outFeatures))
        if m > 0 { try run(x, shape: [m], into: out) }
        return out
    }
}

/// 2-D convolution in int8 over `[B, C, H, W]`, groups of one, with an optional fused ReLU
/// (oneDNN convolution; the quantized input is laid out channels-last, as its int8 kernels want).
public final class Int8Conv2d: Int8Kernel, @unchecked Sendable {
    /// Window geometry.
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
    /// Whether ReLU is applied to the output inside the primitive.
    public let relu: Bool

    /// A kernel for weights `[out, in, kh, kw]`.
    public init(weights: Int8Weights, bias: [Float]?, input: ActivationQuantization,
                stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), relu: Bool) throws {
        guard weights.shape.count == 4 else { throw Int8Error("int8 conv2d: weights \(weights.shape), expected [out, in, kh, kw]") }
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.relu = relu
        try super.init(weights: weights, bias: bias, input: input)
    }

    /// `[O, OH, OW]` for an input `[B, C, H, W]` (nil: the window does not fit).
    func outputShape(_ shape: [Int]) -> [Int]? {
        guard shape.count == 4, shape[1] == weights.shape[1] else { return nil }
        let (kh, kw) = (weights.shape[2], weights.shape[3])
        let oh = (shape[2] + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
        let ow = (shape[3] + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
        return oh > 0 && ow > 0 ? [weights.shape[0], oh, ow] : nil
    }

    override func makePlan(shape: [Int]) throws -> Plan {
        guard let outputShape = outputShape(shape) else { throw Int8Error("int8 conv2d: no output for input \(shape)") }
        let (batch, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (o, kh, kw) = (weights.shape[0], weights.shape[2], weights.shape[3])
        let (oh, ow) = (outputShape[1], outputShape[2])
        let floatInput = try memoryDescriptor([batch, c, h, w], dnnl_f32, dnnl_abcd)
        let quantizedInput = try memoryDescriptor([batch, c, h, w], dnnl_u8, dnnl_acdb)
        let quantize = try Primitive(reorder: floatInput, to: quantizedInput, scale: 1 / input.scale, zeroPoint: input.zeroPoint, runtime: runtime)
        let strides: [Int64] = [Int64(stride.0), Int64(stride.1)]
        let dilates: [Int64] = [Int64(dilation.0 - 1), Int64(dilation.1 - 1)]
        let left: [Int64] = [Int64(padding.0), Int64(padding.1)]
        // The right padding that gives exactly the output size (floor division may leave rows unread).
        let right: [Int64] = [Int64((oh - 1) * stride.0 + (kh - 1) * dilation.0 + 1 - h - padding.0),
                              Int64((ow - 1) * stride.1 + (kw - 1) * dilation.1 + 1 - w - padding.1)]
        let plainOutput = try memoryDescriptor([batch, o, oh, ow], dnnl_f32, dnnl_abcd)
        var b = try memoryDescriptor([o], dnnl_f32, dnnl_a)
        // Row-major output straight from the primitive when an optimised kernel supports it;
        // otherwise channels-last and one more reorder.
        var lastError: Error?
        for tag in [dnnl_abcd, dnnl_acdb] {
            do {
                var src = quantizedInput
                var wd = try memoryDescriptor([o, c, kh, kw], dnnl_s8, dnnl_format_tag_any)
                var dst = try memoryDescriptor([batch, o, oh, ow], dnnl_f32, tag)
                var desc = dnnl_convolution_desc_t()
                let status = bias == nil
                    ? dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wd,
                                                                 nil, &dst, strides, dilates, left, right)
                    : dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wd,
                                                                 &b, &dst, strides, dilates, left, right)
                try check(status, "convolution_forward_desc_init")
                let attr = try attributes(relu: relu)
                defer { dnnl_primitive_attr_destroy(attr) }
                var pd: dnnl_primitive_desc_t?
                try check(dnnl_primitive_desc_create(&pd, &desc, attr, runtime.engine, nil), "convolution primitive_desc_create")
                guard let pd else { throw Int8Error("oneDNN convolution primitive_desc_create gave nothing") }
                let compute = try Primitive(pd)
                if tag == dnnl_abcd && compute.implementation.hasPrefix("ref") { continue }
                let (weightsBuffer, chosen, biasBuffer) = try preparedWeights(for: compute,
                                                                             plainWeights: try memoryDescriptor([o, c, kh, kw], dnnl_s8, dnnl_abcd))
                let unreorder = tag == dnnl_abcd ? nil : (try Primitive(reorder: dst, to: plainOutput, runtime: runtime), plainOutput)
                return Plan(quantize: quantize, floatInput: floatInput, quantizedInput: quantizedInput, compute: compute,
                            weights: weightsBuffer, weightsDescriptor: chosen, bias: biasBuffer, biasDescriptor: b,
                            output: dst, unreorder: unreorder)
            } catch { lastError = error }
        }
        throw lastError ?? Int8Error("int8 conv2d: oneDNN has no kernel for \(weights.shape) over \(shape)")
    }

    /// Applies the convolution to `x [B, C, H, W]`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard let outputShape = outputShape(x.shape) else {
            throw Int8Error("int8 conv2d: input \(x.shape) does not fit weights \(weights.shape)")
        }
        let b = x.shape[0]
        let out = Tensor(shape: [b] + outputShape, storage: TensorStorage(uninitializedCount: b * shapeCount(outputShape)))
        if b > 0 { try run(x, shape: x.shape, into: out) }
        return out
    }
}
