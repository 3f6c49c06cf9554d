import FusionModels
import FusionNN
import FusionTensor

extension LayerStack {
    /// After `Int8Quantization.quantize` or `load`: runs each maximal run of int8 layers —
    /// convolution or linear, each followed by ReLU, with pooling, dropout and flatten between —
    /// on int8 codes from end to end. The input is quantized once; each layer writes the next
    /// one's codes directly (its output scale folds in the next layer's input scale, ReLU and
    /// the 7-bit cap are one post-op); pooling works on the codes; flatten keeps images
    /// channels-last and the following linear layer reads its weight columns in that order; the
    /// last layer writes float. Without this, every int8 layer converts from and to float.
    /// Returns the number of runs compiled (nested stacks are compiled on their own).
    @discardableResult
    public func compileInt8() throws -> Int {
        var compiled = 0
        let steps = plan.steps
        // Every int8 convolution must have a oneDNN kernel for its input here, not at the first forward.
        for step in steps where step.spec.type == .conv2d {
            guard let conv = layers[step.key] as? Conv2d, let kernels = conv.swapped as? QuantizedConv2d, step.input.kind == .image else { continue }
            for k in [kernels.plain, kernels.relu] {
                do { _ = try k.implementation(shape: [1] + step.input.dims) } catch {
                    throw Int8Error("\(step.path): \(error)")
                }
            }
        }
        var i = 0
        while i < steps.count {
            guard let (segment, end) = try segment(from: i) else { i += 1; continue }
            let first = steps[i], last = steps[end]
            let entry = try Int8Quantizer(segment.input)
            let dequantize = try Int8Dequantizer()
            let covered = Array(steps[i...end])
            run[i] = { value in
                let v = LayerStack.adapt(value, to: first.input)
                var out = v
                out.shape = last.output
                out.lengths = covered.reduce(v.lengths) { LayerStack.lengths(after: $1, $0) }
                do {
                    var current = Int8Value.codes(try entry(v.x))
                    for op in segment.ops { current = try op(current) }
                    switch current {
                    case .float(let t): out.x = t
                    case .codes(let q): out.x = try dequantize(q)
                    }
                } catch {
                    fatalError("int8 stack \(first.path)…\(last.path): \(error)")
                }
                return out
            }
            for k in (i + 1)...max(end, i + 1) where k <= end { run[k] = { $0 } }
            compiled += 1
            i = end + 1
        }
        return compiled
    }

    /// An int8 run starting at step `start`: its input quantization, its ops, and its last step.
    private func segment(from start: Int) throws -> (Segment, Int)? {
        let steps = plan.steps
        guard let firstKernel = kernel(at: start, channelsLast: nil) else { return nil }
        var ops: [(Int8Value) throws -> Int8Value] = []
        var k = start
        var kernelHere: Int8Kernel = firstKernel
        var end = start
        while true {
            // After this layer: ReLU, then pooling, dropout and flatten, then the next int8 layer?
            var j = k + 1
            let relu = j < steps.count && steps[j].spec.type == .relu
            if relu { j += 1 }
            var between: [Int] = []
            var image: [Int]? = steps[k].output.kind == .image ? steps[k].output.dims : nil
            var nextFlatten: [Int]?
            while relu && j < steps.count {
                let t = steps[j].spec.type
                if t == .maxPool2d || t == .avgPool2d || t == .dropout {
                    between.append(j); if t != .dropout { image = steps[j].output.dims }
                } else if t == .flatten, let shape = image {
                    between.append(j); nextFlatten = shape
                } else { break }
                j += 1
            }
            let next = relu && j < steps.count ? kernel(at: j, channelsLast: nextFlatten) : nil
            guard let next, next.input.zeroPoint == 0 else {
                // The run ends here, in float (ReLU applied by the primitive).
                let layer = kernelHere
                ops.append { v in
                    guard case .codes(let q) = v else { throw Int8Error("int8 run: expected codes") }
                    return try layer(q, to: .float(relu: relu))
                }
                end = relu ? k + 1 : k
                break
            }
            let layer = kernelHere, scale = next.input.scale
            ops.append { v in
                guard case .codes(let q) = v else { throw Int8Error("int8 run: expected codes") }
                return try layer(q, to: .codes(scale: scale))
            }
            for b in between {
                let spec = steps[b].spec
                switch spec.type {
                case .maxPool2d, .avgPool2d:
                    let kk = LayerStack.pair(spec.kernel, 1), ss = LayerStack.pair(spec.stride ?? spec.kernel, 1), pp = LayerStack.pair(spec.padding, 0)
                    let pool = try Int8Pool(max: spec.type == .maxPool2d, kernel: kk, stride: ss, padding: pp)
                    ops.append { v in
                        guard case .codes(let q) = v else { throw Int8Error("int8 run: expected codes") }
                        return .codes(try pool(q))
                    }
                case .flatten:
                    ops.append { v in
                        guard case .codes(let q) = v else { throw Int8Error("int8 run: expected codes") }
                        return .codes(try q.flattened())
                    }
                case .conv1d, .conv2d, .maxPool1d, .avgPool1d, .globalPool, .linear, .dropout, .batchNorm, .layerNorm, .relu,
                     .relu6, .leakyRelu, .clamp, .gelu, .tanh, .sigmoid, .residual, .gru, .lstm, .transformer, .positional,
                     .embedding, .bagOfWords: break  // dropout: identity in evaluation
                }
            }
            kernelHere = next
            k = j
        }
        guard end > start || ops.count > 1 else { return nil }
        return (Segment(input: firstKernel.input, ops: ops), end)
    }

    /// What one int8 run needs: the quantization of its float input and its ops in order.
    struct Segment {
        let input: ActivationQuantization
        let ops: [(Int8Value) throws -> Int8Value]
    }

    /// The int8 kernel of step `index` when it is a quantized conv2d over an image or a quantized
    /// linear over vectors (reading a channels-last flattened `[C, H, W]` image when given).
    private func kernel(at index: Int, channelsLast image: [Int]?) -> Int8Kernel? {
        let step = plan.steps[index]
        if step.spec.type == .conv2d, step.input.kind == .image, let conv = layers[step.key] as? Conv2d, let k = (conv.swapped as? QuantizedConv2d)?.plain { return k }
        if step.spec.type == .linear, step.input.kind == .vector, let linear = layers[step.key] as? Linear, let k = (linear.swapped as? QuantizedLinear)?.kernel {
            guard let image else { return k }
            return try? k.channelsLast(channels: image[0], height: image[1], width: image[2])
        }
        return nil
    }

    static func pair(_ v: [Int]?, _ d: Int) -> (Int, Int) { let a = v ?? [d]; return (a[0], a.count > 1 ? a[1] : a[0]) }

    /// The valid steps per sample on the time axis after `step` (the rule of the float closures).
    static func lengths(after step: LayerPlan.Step, _ lengths: [Int]?) -> [Int]? {
        guard let lengths else { return nil }
        let spec = step.spec
        switch spec.type {
        case .conv2d:
            let k = pair(spec.kernel, 1), s = pair(spec.stride, 1), p = pair(spec.padding, 0), d = pair(spec.dilation, 1)
            return lengths.map { LayerPlan.validSteps($0, outputLength: step.output.dims[2], kernel: k.1, stride: s.1, padding: p.1, dilation: d.1) }
        case .maxPool2d, .avgPool2d:
            let k = pair(spec.kernel, 1), s = pair(spec.stride ?? spec.kernel, 1), p = pair(spec.padding, 0)
            return lengths.map { LayerPlan.validSteps($0, outputLength: step.output.dims[2], kernel: k.1, stride: s.1, padding: p.1, dilation: 1) }
        case .flatten: return nil
        case .conv1d, .maxPool1d, .avgPool1d, .globalPool, .linear, .dropout, .batchNorm, .layerNorm, .relu, .relu6, .leakyRelu,
             .clamp, .gelu, .tanh, .sigmoid, .residual, .gru, .lstm, .transformer, .positional, .embedding, .bagOfWords: return lengths
        }
    }
}

/// Compiles the int8 runs of every layer-stack encoder of `model` (see `LayerStack.compileInt8`).
@discardableResult
public func compileInt8Stacks(_ model: Module) throws -> Int {
    var count = 0
    for case let (_, stack as LayerStack) in model.namedModules() { count += try stack.compileInt8() }
    return count
}
