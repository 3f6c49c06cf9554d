/// The per-sample shape of a value flowing through a layer stack, and what its axes mean.
///
/// - `tokens [T]`: token ids (the text input);
/// - `image [C, H, W]`: channels × rows × columns (audio as an image: `[1, coefficients, frames]`);
/// - `channels [C, L]`: channels over a sequence (the audio input: `[coefficients, frames]`);
/// - `sequence [L, D]`: a feature vector per step (token embeddings, recurrent outputs);
/// - `vector [D]`: one embedding per sample.
///
/// The time axis, whose padding the frame or token mask marks, is W of an image, L of
/// `channels` and of `sequence`.
public struct StackShape: Equatable, Sendable, CustomStringConvertible {
    /// What the axes mean.
    public enum Kind: String, Sendable { case tokens, image, channels, sequence, vector }
    /// The kind.
    public var kind: Kind
    /// The extents, per sample.
    public var dims: [Int]

    /// A shape.
    public init(_ kind: Kind, _ dims: [Int]) { self.kind = kind; self.dims = dims }

    /// "an image [16, 7, 7]".
    public var description: String {
        let article = kind == .image ? "an" : "a"
        let noun = kind == .channels ? "channels × steps value" : kind.rawValue == "tokens" ? "token sequence" : kind.rawValue
        return "\(article) \(noun) [\(dims.map(String.init).joined(separator: ", "))]"
    }
}

/// Why a stack does not fit its input; `path` is the JSON path of the offending layer.
public struct LayerStackError: Error, CustomStringConvertible {
    /// JSON path (`model.image.layers.3`).
    public let path: String
    /// What is wrong, with the shapes involved.
    public let message: String
    /// "path: message".
    public var description: String { "\(path): \(message)" }
}

/// A stack of `LayerSpec`s resolved against an input shape: each layer's input (after the
/// automatic layout changes below) and output shape. `fusionlab validate` builds it before any
/// data is read; `StackEncoder` builds its modules from it.
///
/// Layout changes are automatic and documented: a 2-D layer reads a `channels` value as a
/// one-channel image; a 1-D layer reads a `sequence` as channels (transposed); a sequence layer
/// (`gru`, `lstm`, `transformer`, `positional`) reads `channels` transposed and an image
/// `[C, H, W]` as W steps of C·H features; `linear` and `layer_norm` work per step on a
/// sequence or on `channels` (transposed), never on an image. Nothing turns
/// a spatial or sequential value into a vector except `flatten`, `global_pool` and a recurrent
/// layer with `output: "last"`.
public struct LayerPlan: Sendable {
    /// One resolved layer.
    public struct Step: Sendable {
        /// The layer as written.
        public var spec: LayerSpec
        /// Its key (position or name).
        public var key: String
        /// Its JSON path.
        public var path: String
        /// Its input after any layout change, and its output.
        public var input: StackShape, output: StackShape
        /// The block of a residual layer.
        public var inner: LayerPlan?
        /// Token ids the stack reads (embedding rows).
        public var vocabulary: Int
    }
    /// The layers in order.
    public var steps: [Step]
    /// The stack's input and output shapes.
    public var input: StackShape, output: StackShape

    /// Resolves `specs` for `input`, or throws the first misfit with its JSON path (`path.i`).
    public init(_ specs: [LayerSpec], input: StackShape, path: String, vocabulary: Int, requireVector: Bool = true) throws {
        guard !specs.isEmpty else { throw LayerStackError(path: path, message: "expected at least one layer") }
        var shape = input
        var steps: [Step] = []
        var keys = Set<String>()
        for (i, spec) in specs.enumerated() {
            let here = "\(path).\(i)"
            let key = spec.name ?? String(i)
            guard !key.isEmpty && !key.contains(".") else { throw LayerStackError(path: here + ".name", message: "expected a name without dots") }
            guard keys.insert(key).inserted else { throw LayerStackError(path: here + ".name", message: "the name \"\(key)\" is used twice in this stack") }
            let spec = spec.samePadding ? try LayerPlan.resolveSamePadding(spec, shape, path: here) : spec
            let (inShape, outShape, inner) = try LayerPlan.resolve(spec, shape, path: here, vocabulary: vocabulary)
            steps.append(Step(spec: spec, key: key, path: here, input: inShape, output: outShape, inner: inner, vocabulary: vocabulary))
            shape = outShape
        }
        if requireVector && shape.kind != .vector {
            throw LayerStackError(path: path, message: "the encoder must end in a vector, but its last layer gives \(shape); "
                + "end it with flatten, global_pool, or a gru/lstm with \"output\": \"last\"")
        }
        self.steps = steps
        self.input = input
        self.output = shape
    }

    /// The width of the stack's output vector.
    public var outputDim: Int { output.dims.reduce(1, *) }

    /// Parameters of the stack (before building it), for memory estimates at validation; in
    /// floating point, so absurd sizes give a huge number rather than an overflow.
    public var parameterEstimate: Double {
        var total = 0.0
        for step in steps {
            let spec = step.spec, i = step.input.dims.map(Double.init), o = step.output.dims.map(Double.init)
            let bias = spec.bias ?? true ? 1.0 : 0.0
            let k = Double(spec.kernel?.first ?? 1), k2 = Double(spec.kernel?.last ?? 1)
            let hidden = Double(spec.hidden ?? 1), dirs = spec.bidirectional == true ? 2.0 : 1.0
            switch spec.type {
            case .conv2d: total += o[0] * i[0] / Double(spec.groups ?? 1) * k * k2 + o[0] * bias
            case .conv1d: total += o[0] * i[0] / Double(spec.groups ?? 1) * k + o[0] * bias
            case .linear: total += (i.last ?? 0) * (o.last ?? 0) + (o.last ?? 0) * bias
            case .batchNorm: total += 2 * i[0]
            case .layerNorm: total += 2 * (i.last ?? 0)
            case .embedding: total += Double(step.vocabulary) * (o.last ?? 0)
            case .gru, .lstm:
                let g = (spec.type == .gru ? 3 : 4) * hidden
                for layer in 0..<(spec.numLayers ?? 1) {
                    let inF = layer == 0 ? i[1] : hidden * dirs
                    total += dirs * (g * (inF + hidden) + 2 * g)
                }
            case .transformer:
                let d = i[1], ff = Double(spec.feedForward ?? 4 * step.input.dims[1])
                total += Double(spec.numLayers ?? 1) * (4 * d * d + 4 * d + 2 * d * ff + ff + d + 4 * d)
            case .positional where spec.encoding == .learned: total += i[0] * i[1]
            case .globalPool where spec.op == .attention: total += o[0] + 1
            case .residual: total += step.inner?.parameterEstimate ?? 0
            case .maxPool1d, .maxPool2d, .avgPool1d, .avgPool2d, .flatten, .globalPool, .dropout, .relu, .relu6, .leakyRelu,
                 .clamp, .gelu, .tanh, .sigmoid, .positional, .bagOfWords: break
            }
        }
        return total
    }

    /// Values every layer outputs per sample (what training keeps for backward).
    public var activationEstimate: Double {
        steps.reduce(0.0) { $0 + $1.output.dims.reduce(1.0) { $0 * Double($1) } + ($1.inner?.activationEstimate ?? 0) }
    }

    /// Kinds that layout changes can turn `shape` into for a layer wanting `wanted`.
    static func convert(_ shape: StackShape, to wanted: StackShape.Kind) -> StackShape? {
        let d = shape.dims
        switch (shape.kind, wanted) {
        case (let k, let w) where k == w: return shape
        case (.channels, .image): return StackShape(.image, [1] + d)
        case (.sequence, .channels): return StackShape(.channels, [d[1], d[0]])
        case (.channels, .sequence): return StackShape(.sequence, [d[1], d[0]])
        case (.image, .sequence): return StackShape(.sequence, [d[2], d[0] * d[1]])
        default: return nil
        }
    }

    static func resolve(_ spec: LayerSpec, _ shape: StackShape, path: String, vocabulary: Int) throws
        -> (StackShape, StackShape, LayerPlan?) {
        func fail(_ message: String) -> LayerStackError { LayerStackError(path: path, message: "\(spec.type.rawValue): \(message)") }
        func want(_ kinds: [StackShape.Kind], hint: String = "", fromImage: Bool = true) throws -> StackShape {
            if kinds.contains(shape.kind) { return shape }
            for k in kinds where fromImage || shape.kind != .image { if let s = convert(shape, to: k) { return s } }
            let names = kinds.map { $0 == .channels ? "channels × steps" : $0.rawValue }.joined(separator: " or ")
            throw fail("expects \(names.hasPrefix("i") ? "an" : "a") \(names) input, got \(shape)\(hint)")
        }
        func positive(_ v: Int?, _ key: String, default d: Int? = nil) throws -> Int {
            guard let v = v ?? d else { throw fail("\"\(key)\" is required") }
            guard v >= 1 else { throw fail("\"\(key)\" must be at least 1, got \(v)") }
            return v
        }
        func pair(_ v: [Int]?, _ key: String, default d: Int, min: Int) throws -> (Int, Int) {
            let values = v ?? [d]
            guard values.allSatisfy({ $0 >= min }) else { throw fail("\"\(key)\" must be at least \(min), got \(values)") }
            return (values[0], values.count > 1 ? values[1] : values[0])
        }
        func one(_ v: [Int]?, _ key: String, default d: Int, min: Int) throws -> Int {
            let values = v ?? [d]
            guard values.count == 1 else { throw fail("\"\(key)\" takes one value for a 1-D layer, got \(values)") }
            guard values[0] >= min else { throw fail("\"\(key)\" must be at least \(min), got \(values[0])") }
            return values[0]
        }
        func outSize(_ n: Int, k: Int, s: Int, p: Int, d: Int, axis: String, input: StackShape) throws -> Int {
            let o = (n + 2 * p - d * (k - 1) - 1) / s + 1
            guard n + 2 * p - d * (k - 1) >= 1 else {
                throw fail("a kernel of \(k) (dilation \(d)) does not fit the \(axis) of \(n) (padding \(p)) of \(input)")
            }
            return o
        }
        func checkGroups(_ groups: Int?, input: Int, output: Int) throws {
            guard let g = groups else { return }
            guard g >= 1, input % g == 0, output % g == 0 else {
                throw fail("\"groups\" must divide the input channels (\(input)) and \"channels\" (\(output)), got \(g)")
            }
        }
        switch spec.type {
        case .conv2d, .maxPool2d, .avgPool2d:
            let x = try want([.image])
            let (kh, kw) = try pair(spec.kernel, "kernel", default: 0, min: 1)
            let isPool = spec.type != .conv2d
            let (strideH, strideW) = try pair(spec.stride ?? (isPool ? [kh, kw] : nil), "stride", default: 1, min: 1)
            let sides = try LayerPlan.sides(spec)
            guard sides.allSatisfy({ $0 >= 0 }) else { throw fail("\"padding\" must be at least 0, got \(spec.padding ?? [])") }
            let (dh, dw) = isPool ? (1, 1) : try pair(spec.dilation, "dilation", default: 1, min: 1)
            if isPool && (sides[0] * 2 > kh || sides[2] * 2 > kw) { throw fail("padding \([sides[0], sides[2]]) must be at most half of the kernel \([kh, kw])") }
            let c = isPool ? x.dims[0] : try positive(spec.channels, "channels")
            if !isPool { try checkGroups(spec.groups, input: x.dims[0], output: c) }
            // Asymmetric padding adds its two sides; outSize takes half of their sum twice.
            let h = try outSize(x.dims[1] + sides[0] + sides[1], k: kh, s: strideH, p: 0, d: dh, axis: "height", input: x)
            let w = try outSize(x.dims[2] + sides[2] + sides[3], k: kw, s: strideW, p: 0, d: dw, axis: "width", input: x)
            return (x, StackShape(.image, [c, h, w]), nil)
        case .conv1d, .maxPool1d, .avgPool1d:
            let x = try want([.channels], hint: shape.kind == .image ? "; use conv2d on images" : "")
            let k = try one(spec.kernel, "kernel", default: 0, min: 1)
            let isPool = spec.type != .conv1d
            let s = try one(spec.stride ?? (isPool ? [k] : nil), "stride", default: 1, min: 1)
            let p = try one(spec.padding, "padding", default: 0, min: 0)
            let d = isPool ? 1 : try one(spec.dilation, "dilation", default: 1, min: 1)
            if isPool && p * 2 > k { throw fail("padding \(p) must be at most half of the kernel \(k)") }
            let c = isPool ? x.dims[0] : try positive(spec.channels, "channels")
            if !isPool { try checkGroups(spec.groups, input: x.dims[0], output: c) }
            let l = try outSize(x.dims[1], k: k, s: s, p: p, d: d, axis: "length", input: x)
            return (x, StackShape(.channels, [c, l]), nil)
        case .flatten:
            guard shape.kind != .tokens else { throw fail("cannot flatten token ids; start a text stack with embedding or bag_of_words") }
            return (shape, StackShape(.vector, [shape.dims.reduce(1, *)]), nil)
        case .globalPool:
            guard shape.kind != .tokens && shape.kind != .vector else { throw fail("expects a value with positions to pool over, got \(shape)") }
            if let rows = spec.rows {
                guard shape.kind == .image else { throw fail("\"rows\" pools the rows of an image value, got \(shape)") }
                guard rows != .attention else { throw fail("\"rows\" must be avg or max") }
            }
            let features = shape.kind == .sequence ? shape.dims[1] : shape.dims[0]
            return (shape, StackShape(.vector, [features]), nil)
        case .linear:
            let x = try want([.vector, .sequence], hint: shape.kind == .image ? "; add flatten or global_pool before it" : "", fromImage: false)
            let units = try positive(spec.units, "units")
            return (x, StackShape(x.kind, Array(x.dims.dropLast()) + [units]), nil)
        case .layerNorm:
            let x = try want([.vector, .sequence], hint: shape.kind == .image ? "; use batch_norm on images" : "", fromImage: false)
            return (x, x, nil)
        case .batchNorm:
            let x = try want([.image, .channels, .vector])
            if let eps = spec.eps, !(eps > 0 && eps < 1) { throw fail("\"eps\" must be in (0, 1), got \(eps)") }
            if let m = spec.momentum, !(m >= 0 && m <= 1) { throw fail("\"momentum\" must be in [0, 1], got \(m)") }
            return (x, x, nil)
        case .dropout:
            let p = spec.p ?? 0.5
            guard p >= 0 && p < 1 else { throw fail("\"p\" must be in [0, 1), got \(p)") }
            guard shape.kind != .tokens else { throw fail("expects features, got \(shape)") }
            return (shape, shape, nil)
        case .relu, .relu6, .gelu, .tanh, .sigmoid, .leakyRelu, .clamp:
            guard shape.kind != .tokens else { throw fail("expects features, got \(shape); start a text stack with embedding or bag_of_words") }
            if let slope = spec.slope, !(slope >= 0 && slope < 1) { throw fail("\"slope\" must be in [0, 1), got \(slope)") }
            if spec.type == .clamp {
                guard spec.lower != nil || spec.upper != nil else { throw fail("give \"lower\", \"upper\" or both") }
                guard [spec.lower, spec.upper].allSatisfy({ $0.map { $0.isFinite } ?? true }), (spec.lower ?? -.infinity) < (spec.upper ?? .infinity) else {
                    throw fail("expected finite bounds with lower < upper, got \(spec.lower.map { "\($0)" } ?? "none") and \(spec.upper.map { "\($0)" } ?? "none")")
                }
            }
            return (shape, shape, nil)
        case .residual:
            guard let layers = spec.layers, !layers.isEmpty else { throw fail("\"layers\" must list the block's layers") }
            guard shape.kind != .tokens else { throw fail("expects features, got \(shape)") }
            let inner = try LayerPlan(layers, input: shape, path: path + ".layers", vocabulary: vocabulary, requireVector: false)
            guard inner.output == shape else {
                throw fail("the block maps \(shape) to \(inner.output); a residual block must keep its input's shape")
            }
            return (shape, shape, inner)
        case .gru, .lstm:
            let x = try want([.sequence], hint: shape.kind == .vector ? "; a recurrent layer needs steps, so put it before flatten/global_pool" : "")
            let hidden = try positive(spec.hidden, "hidden")
            _ = try positive(spec.numLayers, "num_layers", default: 1)
            if let p = spec.p, !(p >= 0 && p < 1) { throw fail("\"p\" must be in [0, 1), got \(p)") }
            let width = hidden * (spec.bidirectional == true ? 2 : 1)
            switch spec.output ?? .last {
            case .last: return (x, StackShape(.vector, [width]), nil)
            case .sequence: return (x, StackShape(.sequence, [x.dims[0], width]), nil)
            }
        case .transformer:
            let x = try want([.sequence])
            let heads = try positive(spec.heads, "heads")
            guard x.dims[1] % heads == 0 else { throw fail("the width \(x.dims[1]) of \(x) is not divisible by \(heads) heads") }
            _ = try positive(spec.feedForward, "feed_forward", default: 4 * x.dims[1])
            _ = try positive(spec.numLayers, "num_layers", default: 1)
            if let p = spec.p, !(p >= 0 && p < 1) { throw fail("\"p\" must be in [0, 1), got \(p)") }
            return (x, x, nil)
        case .positional:
            let x = try want([.sequence])
            return (x, x, nil)
        case .embedding:
            guard shape.kind == .tokens else { throw fail("expects token ids (the first layer of a text stack), got \(shape)") }
            let units = try positive(spec.units, "units")
            return (shape, StackShape(.sequence, [shape.dims[0], units]), nil)
        case .bagOfWords:
            guard shape.kind == .tokens else { throw fail("expects token ids (the first layer of a text stack), got \(shape)") }
            return (shape, StackShape(.vector, [vocabulary]), nil)
        }
    }

    /// A conv2d's or pooling layer's zeros per side, [top, bottom, left, right], from one value,
    /// one per axis or four.
    public static func sides(_ spec: LayerSpec) throws -> [Int] {
        let p = spec.padding ?? [0]
        switch p.count {
        case 1: return [p[0], p[0], p[0], p[0]]
        case 2: return [p[0], p[0], p[1], p[1]]
        default: return p
        }
    }

    /// `spec` with `"padding": "same"` replaced by the zeros TensorFlow's SAME adds for `shape`:
    /// an output of ceil(n / stride) per axis, the odd zero after (bottom, right).
    static func resolveSamePadding(_ spec: LayerSpec, _ shape: StackShape, path: String) throws -> LayerSpec {
        func pads(_ n: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
            let out = (n + s - 1) / s
            let total = Swift.max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            return (total / 2, total - total / 2)
        }
        func at(_ v: [Int]?, _ i: Int) -> Int { Swift.max(1, v.map { $0.count > i ? $0[i] : ($0.first ?? 1) } ?? 1) }
        var out = spec
        out.samePadding = false
        if spec.type == .conv2d {
            guard let x = shape.kind == .image ? shape : convert(shape, to: .image) else { return spec }
            let (t, b) = pads(x.dims[1], at(spec.kernel, 0), at(spec.stride, 0), at(spec.dilation, 0))
            let (l, r) = pads(x.dims[2], at(spec.kernel, 1), at(spec.stride, 1), at(spec.dilation, 1))
            out.padding = [t, b, l, r]
        } else {
            guard let x = shape.kind == .channels ? shape : convert(shape, to: .channels) else { return spec }
            let (a, b) = pads(x.dims[1], at(spec.kernel, 0), at(spec.stride, 0), at(spec.dilation, 0))
            guard a == b else {
                throw LayerStackError(path: path + ".padding", message: "conv1d: \"same\" would pad \(a) before and \(b) after; conv1d pads both ends alike (use an odd kernel and stride 1, or give the padding)")
            }
            out.padding = [a]
        }
        return out
    }

    /// The number of valid steps after a window op on the time axis: a step is valid when its
    /// window's centre lies on a valid frame (at least one step stays valid).
    public static func validSteps(_ length: Int, outputLength: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int {
        let numerator = 2 * length + 2 * padding - dilation * (kernel - 1)
        let count = numerator <= 0 ? 0 : (numerator + 2 * stride - 1) / (2 * stride)
        return Swift.min(Swift.max(count, 1), outputLength)
    }
}
