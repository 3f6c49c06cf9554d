import Foundation
import FusionNN
import FusionTensor

/// A value inside a layer stack: the batch tensor `[B, ...dims]`, what its axes mean, and the
/// valid steps per sample on its time axis (nil: every step is valid).
package struct StackValue {
    package var x: Tensor
    package var shape: StackShape
    package var lengths: [Int]?
    package var tokens: IndexTensor?
}

/// The modules of a `LayerPlan`, run in order. Parameter keys are `layers.<position or name>.…`
/// with PyTorch's names inside each layer (`layers.0.weight`, `layers.3.weight_ih_l0`,
/// `layers.5.layers.0.self_attn.in_proj_weight`), so a PyTorch twin built from the same
/// experiment file loads the checkpoint with `load_state_dict`.
public final class LayerStack: Module {
    /// The layers that hold parameters or state, by key.
    public let layers: [String: Module]
    /// The resolved plan.
    public let plan: LayerPlan
    /// One closure per step; `compileInt8` replaces runs of int8 layers with one closure each.
    package var run: [(StackValue) -> StackValue]

    /// Builds the modules of `plan` (vocabulary: token ids of a text stack), initialised from `rng`.
    public init<G: RandomNumberGenerator>(_ plan: LayerPlan, vocabulary: Int, seed: UInt64, rng: inout G) {
        var modules: [String: Module] = [:]
        var run: [(StackValue) -> StackValue] = []
        var skip = 0
        for (i, step) in plan.steps.enumerated() {
            if skip > 0 { skip -= 1; run.append { $0 }; continue }
            // conv2d → relu runs as one op, and conv2d → relu → 2×2 max pool too; the steps they
            // cover keep an identity closure, so step indices still name the same steps.
            let fuseReLU = i + 1 < plan.steps.count && plan.steps[i + 1].spec.type == .relu && step.spec.type == .conv2d
            let pool = fuseReLU && i + 2 < plan.steps.count && LayerStack.isMaxPool2x2(plan.steps[i + 2]) ? plan.steps[i + 2] : nil
            let (module, body) = LayerStack.build(step, vocabulary: vocabulary, fuseReLU: fuseReLU, fusePool: pool,
                                                  seed: seed ^ Hash64.fnv1a(step.path.utf8), rng: &rng)
            if let module { modules[step.key] = module }
            if fuseReLU { skip = pool == nil ? 1 : 2 }
            let target = step.input
            run.append { value in body(LayerStack.adapt(value, to: target)) }
        }
        layers = modules
        self.plan = plan
        self.run = run
    }

    func forward(_ value: StackValue) -> StackValue { run.reduce(value) { $1($0) } }

    /// Runs only `steps` (a value laid out as the output of the step before them).
    func forward(_ value: StackValue, steps: Range<Int>) -> StackValue { run[steps].reduce(value) { $1($0) } }

    /// Changes a value's layout to `target` (the automatic conversions of `LayerPlan`).
    package static func adapt(_ v: StackValue, to target: StackShape) -> StackValue {
        guard v.shape.kind != target.kind else { return v }
        var out = v
        out.shape = target
        switch (v.shape.kind, target.kind) {
        case (.channels, .image): out.x = v.x.unsqueezed(1)
        case (.sequence, .channels), (.channels, .sequence): out.x = v.x.transposed(1, 2)
        case (.image, .sequence):
            let (b, c, h, w) = (v.x.shape[0], v.x.shape[1], v.x.shape[2], v.x.shape[3])
            out.x = v.x.permuted([0, 3, 1, 2]).reshaped([b, w, c * h])
        default: preconditionFailure("LayerStack: no layout change from \(v.shape) to \(target)")
        }
        return out
    }

    /// `[B, P]` 1/0 mask of the positions of a value with lengths on its time axis.
    static func positionMask(_ v: StackValue) -> Tensor? {
        guard let lengths = v.lengths else { return nil }
        let b = v.x.shape[0]
        switch v.shape.kind {
        case .image:
            let (h, w) = (v.shape.dims[1], v.shape.dims[2])
            return Tensor((0..<(b * h * w)).map { i in (i % w) < lengths[i / (h * w)] ? 1 : 0 }, shape: [b, h * w])
        case .channels, .sequence:
            let l = v.shape.kind == .channels ? v.shape.dims[1] : v.shape.dims[0]
            return Tensor((0..<(b * l)).map { i in (i % l) < lengths[i / l] ? 1 : 0 }, shape: [b, l])
        default: return nil
        }
    }

    /// The value as positions × features `[B, P, F]` for pooling.
    static func positions(_ v: StackValue) -> Tensor {
        let b = v.x.shape[0]
        switch v.shape.kind {
        case .image: return v.x.reshaped([b, v.shape.dims[0], -1]).transposed(1, 2)
        case .channels: return v.x.transposed(1, 2)
        default: return v.x
        }
    }

    /// A 2×2 max pool with stride 2 and no padding over an image: what `Conv2d.withReLUMaxPool2x2` fuses.
    static func isMaxPool2x2(_ step: LayerPlan.Step) -> Bool {
        let spec = step.spec
        guard spec.type == .maxPool2d, step.input.kind == .image else { return false }
        let kernel = spec.kernel ?? [1], stride = spec.stride ?? kernel, padding = spec.padding ?? [0]
        return kernel.allSatisfy { $0 == 2 } && stride.allSatisfy { $0 == 2 } && padding.allSatisfy { $0 == 0 }
    }

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    static func build<G: RandomNumberGenerator>(_ step: LayerPlan.Step, vocabulary: Int, fuseReLU: Bool, fusePool: LayerPlan.Step? = nil,
                                                seed: UInt64, rng: inout G) -> (Module?, (StackValue) -> StackValue) {
        let spec = step.spec, input = step.input, output = step.output
        func two(_ v: [Int]?, _ d: Int) -> (Int, Int) { let a = v ?? [d]; return (a[0], a.count > 1 ? a[1] : a[0]) }
        func withShape(_ v: StackValue, _ x: Tensor, lengths: [Int]?? = .none) -> StackValue {
            var out = v
            out.x = x
            out.shape = output
            if case .some(let l) = lengths { out.lengths = l }
            return out
        }
        switch spec.type {
        case .conv2d:
            let k = two(spec.kernel, 1), s = two(spec.stride, 1), d = two(spec.dilation, 1)
            let sides = (try? LayerPlan.sides(spec)) ?? [0, 0, 0, 0]
            // Equal sides per axis go to the convolution; otherwise the zeros are added first.
            let symmetric = sides[0] == sides[1] && sides[2] == sides[3]
            let p = symmetric ? (sides[0], sides[2]) : (0, 0)
            let conv = Conv2d(input.dims[0], output.dims[0], kernel: k, stride: s, padding: p, dilation: d, groups: spec.groups ?? 1,
                              bias: spec.bias ?? true, rng: &rng)
            return (conv, { v in
                let x = symmetric ? v.x : v.x.padded2d(top: sides[0], bottom: sides[1], left: sides[2], right: sides[3])
                // Valid steps: the left zeros count as frames before the clip (the window-centre rule).
                let lengths = v.lengths.map { $0.map {
                    LayerPlan.validSteps($0 + sides[2] - p.1, outputLength: output.dims[2], kernel: k.1, stride: s.1, padding: p.1, dilation: d.1) } }
                guard let fusePool else { return withShape(v, fuseReLU ? conv.withReLU(x) : conv(x), lengths: lengths) }
                var out = v
                out.x = conv.withReLUMaxPool2x2(x)
                out.shape = fusePool.output
                out.lengths = lengths.map { $0.map {
                    LayerPlan.validSteps($0, outputLength: fusePool.output.dims[2], kernel: 2, stride: 2, padding: 0, dilation: 1) } }
                return out
            })
        case .maxPool2d, .avgPool2d:
            let k = two(spec.kernel, 1), s = two(spec.stride ?? spec.kernel, 1), p = two(spec.padding, 0)
            let isMax = spec.type == .maxPool2d
            return (nil, { v in
                let y = isMax ? v.x.maxPool2d(kernel: k, stride: s, padding: p) : v.x.avgPool2d(kernel: k, stride: s, padding: p)
                return withShape(v, y, lengths: v.lengths.map { $0.map {
                    LayerPlan.validSteps($0, outputLength: output.dims[2], kernel: k.1, stride: s.1, padding: p.1, dilation: 1) } })
            })
        case .conv1d:
            let k = spec.kernel?[0] ?? 1, s = spec.stride?[0] ?? 1, p = spec.padding?[0] ?? 0, d = spec.dilation?[0] ?? 1
            let conv = Conv1d(input.dims[0], output.dims[0], kernel: k, stride: s, padding: p, dilation: d, groups: spec.groups ?? 1,
                              bias: spec.bias ?? true, rng: &rng)
            return (conv, { v in
                withShape(v, conv(v.x), lengths: v.lengths.map { $0.map {
                    LayerPlan.validSteps($0, outputLength: output.dims[1], kernel: k, stride: s, padding: p, dilation: d) } })
            })
        case .maxPool1d, .avgPool1d:
            let k = spec.kernel?[0] ?? 1, s = spec.stride?[0] ?? k, p = spec.padding?[0] ?? 0
            let isMax = spec.type == .maxPool1d
            return (nil, { v in
                let y = isMax ? v.x.maxPool1d(kernel: k, stride: s, padding: p) : v.x.avgPool1d(kernel: k, stride: s, padding: p)
                return withShape(v, y, lengths: v.lengths.map { $0.map {
                    LayerPlan.validSteps($0, outputLength: output.dims[1], kernel: k, stride: s, padding: p, dilation: 1) } })
            })
        case .flatten:
            return (nil, { v in withShape(v, v.x.reshaped([v.x.shape[0], -1]), lengths: .some(nil)) })
        case .globalPool:
            let op = spec.op ?? .avg, masked = spec.masked ?? true
            let attention = op == .attention ? AttentionPool(features: output.dims[0], rng: &rng) : nil
            return (attention, { value in
                var v = value
                if let rows = spec.rows {
                    // Rows first ([B, C, H, W] → [B, C, W]), then the columns as steps.
                    v.x = rows == .max ? v.x.max(axis: 2) : v.x.mean(axes: [2])
                    v.shape = StackShape(.channels, [v.shape.dims[0], v.shape.dims[2]])
                }
                let mask = masked ? positionMask(v) : nil
                let y: Tensor
                if let attention {
                    y = attention(positions(v), mask: mask)
                } else if op == .avg {
                    y = mask == nil && v.shape.kind == .image ? v.x.globalAvgPool() : maskedMean(positions(v), mask: mask)
                } else {
                    y = maskedMax(positions(v), mask: mask)
                }
                return withShape(v, y, lengths: .some(nil))
            })
        case .linear:
            let linear = Linear(input.dims[input.dims.count - 1], spec.units ?? 1, bias: spec.bias ?? true, rng: &rng)
            return (linear, { v in withShape(v, linear(v.x)) })
        case .layerNorm:
            let norm = LayerNorm(input.dims[input.dims.count - 1])
            return (norm, { v in withShape(v, norm(v.x)) })
        case .batchNorm:
            let norm = BatchNorm(input.dims[0], momentum: Float(spec.momentum ?? 0.1), eps: Float(spec.eps ?? 1e-5))
            return (norm, { v in withShape(v, norm(v.x)) })
        case .dropout:
            let dropout = Dropout(Float(spec.p ?? 0.5), seed: seed)
            return (dropout, { v in withShape(v, dropout(v.x)) })
        case .relu: return (nil, { v in withShape(v, v.x.relu()) })
        case .relu6: return (nil, { v in withShape(v, v.x.relu6()) })
        case .clamp:
            let (lower, upper) = (spec.lower.map(Float.init), spec.upper.map(Float.init))
            return (nil, { v in withShape(v, v.x.clamped(lower: lower, upper: upper)) })
        case .gelu: return (nil, { v in withShape(v, v.x.gelu()) })
        case .tanh: return (nil, { v in withShape(v, v.x.tanh()) })
        case .sigmoid: return (nil, { v in withShape(v, v.x.sigmoid()) })
        case .leakyRelu:
            let slope = Float(spec.slope ?? 0.01)
            return (nil, { v in withShape(v, v.x.relu() - (v.x * -1).relu() * slope) })
        case .residual:
            guard let inner = step.inner else { preconditionFailure("LayerStack: a residual step without its block") }
            let block = LayerStack(inner, vocabulary: vocabulary, seed: seed, rng: &rng)
            return (block, { v in
                let y = block.forward(v)
                return withShape(v, v.x + y.x)
            })
        case .gru, .lstm:
            let rnn = RecurrentLayer(spec.type == .gru ? .gru : .lstm, inputSize: input.dims[1], hiddenSize: spec.hidden ?? 1,
                                     numLayers: spec.numLayers ?? 1, bidirectional: spec.bidirectional ?? false,
                                     dropout: Float(spec.p ?? 0), seed: seed, rng: &rng)
            let last = (spec.output ?? .last) == .last
            return (rnn, { v in
                let (sequence, final) = rnn(v.x, lengths: v.lengths)
                return last ? withShape(v, final, lengths: .some(nil)) : withShape(v, sequence)
            })
        case .transformer:
            let width = input.dims[1]
            let block = TransformerStack(dim: width, heads: spec.heads ?? 1, feedForward: spec.feedForward ?? 4 * width,
                                         layers: spec.numLayers ?? 1, dropout: Float(spec.p ?? 0.1),
                                         activation: (spec.activation ?? .relu) == .gelu ? .gelu : .relu, normFirst: spec.normFirst ?? false,
                                         seed: seed, rng: &rng)
            return (block, { v in
                let padding = v.lengths.map { lengths in lengths.map { n in (0..<input.dims[0]).map { $0 >= n } } }
                return withShape(v, block(v.x, keyPaddingMask: padding))
            })
        case .positional:
            let (steps, width) = (input.dims[0], input.dims[1])
            if spec.encoding == .learned {
                let table = LearnedPositions(steps: steps, width: width, rng: &rng)
                return (table, { v in withShape(v, v.x + table.weight) })
            }
            let table = sinusoidalPositions(steps: steps, width: width)
            return (nil, { v in withShape(v, v.x + table) })
        case .embedding:
            let embedding = Embedding(count: vocabulary, dim: spec.units ?? 1, paddingIndex: 0, rng: &rng)
            return (embedding, { v in
                guard let tokens = v.tokens else { preconditionFailure("LayerStack: embedding needs token ids") }
                var out = withShape(v, embedding(tokens))
                out.tokens = nil
                return out
            })
        case .bagOfWords:
            let binary = spec.binary ?? false
            return (nil, { v in
                guard let tokens = v.tokens else { preconditionFailure("LayerStack: bag_of_words needs token ids") }
                let (b, t) = (tokens.shape[0], tokens.shape[1])
                let counts = Tensor.zeros([b, vocabulary])
                for r in 0..<b {
                    for j in 0..<t where j < (v.lengths?[r] ?? t) {
                        let id = Int(tokens.values[r * t + j])
                        guard id > 0 && id < vocabulary else { continue }
                        counts.data[r * vocabulary + id] = binary ? 1 : counts.data[r * vocabulary + id] + 1
                    }
                }
                var out = withShape(v, counts, lengths: .some(nil))
                out.tokens = nil
                return out
            })
        }
    }
}

/// An encoder written as a layer stack: `encoders.<modality>.layers.<key>.…`.
///
/// Inputs: text `tokens [B, T]` with its padding mask; images `[B, C, H, W]`; audio MFCCs
/// `[B, coefficients, frames]` with the frame mask. The mask's lengths follow the time axis
/// through every layer, so pooling, recurrent and attention layers never read padding.
public final class StackEncoder: Module, ModalityEncoder {
    /// The layers.
    public let stack: LayerStack
    public let outputDim: Int

    /// An encoder for `plan`.
    public init<G: RandomNumberGenerator>(_ plan: LayerPlan, vocabulary: Int = 0, seed: UInt64, rng: inout G) {
        stack = LayerStack(plan, vocabulary: vocabulary, seed: seed, rng: &rng)
        outputDim = plan.outputDim
    }

    override public var keyOverrides: [String: String] { ["stack": ""] }

    /// How many leading steps the features handed to `encode` have already been through: 0
    /// normally; k while a trainer feeds the cached outputs of a frozen prefix (`frozenPrefix`).
    public var startStep = 0

    /// The longest run of leading steps that hold no trainable parameter and behave the same in
    /// training and evaluation (no dropout; batch norms are frozen with their parameters), so
    /// their outputs can be computed once per sample and reused every epoch.
    public var frozenPrefix: Int {
        func stable(_ plan: LayerPlan, _ layers: [String: Module]) -> Int {
            var k = 0
            for step in plan.steps {
                if step.spec.type == .dropout { break }
                if let module = layers[step.key] {
                    if module.namedParameters().contains(where: { $0.tensor.requiresGrad }) { break }
                    if let inner = step.inner, let block = module as? LayerStack, stable(inner, block.layers) < inner.steps.count { break }
                }
                k += 1
            }
            return k
        }
        return stable(stack.plan, stack.layers)
    }

    /// The output of the first `steps` steps for a batch, with the valid length of each sample's
    /// time axis after them when the input has a mask (no gradient is recorded).
    public func prefix(_ input: ModalityInput, steps: Int) -> (output: Tensor, lengths: [Int]?) {
        guard let features = input.features else { preconditionFailure("StackEncoder.prefix: the input has no features") }
        let value = StackValue(x: features, shape: stack.plan.input, lengths: Self.lengths(input.mask))
        let out = withNoGrad { stack.forward(value, steps: 0..<steps) }
        return (out.x, out.lengths)
    }

    /// The number of 1s in each row of a `[B, T]` mask.
    static func lengths(_ mask: Tensor?) -> [Int]? {
        mask.map { m -> [Int] in
            let (b, t) = (m.shape[0], m.count / Swift.max(m.shape[0], 1))
            return (0..<b).map { r in (0..<t).reduce(0) { $0 + (m.data[r * t + $1] > 0.5 ? 1 : 0) } }
        }
    }

    /// Encodes one modality's batch to `[B, outputDim]`.
    public func encode(_ input: ModalityInput) -> Tensor {
        if startStep > 0, let features = input.features {
            // The cached outputs of the frozen prefix, with their valid lengths as the mask.
            let shape = stack.plan.steps[startStep - 1].output
            precondition(Array(features.shape.dropFirst()) == shape.dims,
                         "StackEncoder: expected the cached prefix output [B, \(shape.dims.map(String.init).joined(separator: ", "))], got \(features.shape)")
            let value = StackValue(x: features, shape: shape, lengths: Self.lengths(input.mask))
            return stack.forward(value, steps: startStep..<stack.plan.steps.count).x
        }
        let lengths = Self.lengths(input.mask)
        let value: StackValue
        let inputShape = stack.plan.input
        if let tokens = input.tokens {
            value = StackValue(x: Tensor.zeros([tokens.shape[0]]), shape: inputShape, lengths: lengths, tokens: tokens)
        } else if let features = input.features {
            precondition(Array(features.shape.dropFirst()) == inputShape.dims,
                         "StackEncoder: expected input [B, \(inputShape.dims.map(String.init).joined(separator: ", "))], got \(features.shape)")
            value = StackValue(x: features, shape: inputShape, lengths: lengths)
        } else {
            preconditionFailure("StackEncoder: the input has neither features nor tokens")
        }
        let out = stack.forward(value)
        return out.x
    }
}

/// Attention pooling: a learned score per position, a softmax over the valid positions, and the
/// weighted sum. `[B, P, F] → [B, F]`; key `score.weight`, `score.bias`.
public final class AttentionPool: Module {
    /// The scoring layer `F → 1`.
    public let score: Linear

    /// A pool over `features`-wide positions.
    public init<G: RandomNumberGenerator>(features: Int, rng: inout G) { score = Linear(features, 1, rng: &rng) }

    /// Pools `x [B, P, F]`; `mask [B, P]` marks valid positions.
    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let (b, p) = (x.shape[0], x.shape[1])
        var s = score(x).reshaped([b, p])
        if let mask { s = s + (mask - 1) * 1e9 }
        let weights = s.softmax(axis: 1).unsqueezed(2)
        return (x * weights).sum(axes: [1])
    }
}

/// `layers` Transformer encoder layers in a row, as `torch.nn.TransformerEncoder` (`layers.0.…`).
public final class TransformerStack: Module {
    /// The layers.
    public let layers: [TransformerEncoderLayer]

    /// A stack of identical-shape layers, each initialised from `rng`.
    public init<G: RandomNumberGenerator>(dim: Int, heads: Int, feedForward: Int, layers count: Int, dropout: Float,
                                          activation: Activation.Kind, normFirst: Bool, seed: UInt64, rng: inout G) {
        layers = (0..<count).map { i in
            TransformerEncoderLayer(dim: dim, heads: heads, feedForward: feedForward, dropout: dropout, activation: activation,
                                    normFirst: normFirst, seed: seed &+ UInt64(10 * i), rng: &rng)
        }
    }

    /// Applies the layers; `keyPaddingMask[b][t]` hides step t of sample b.
    public func callAsFunction(_ x: Tensor, keyPaddingMask: [[Bool]]?) -> Tensor {
        layers.reduce(x) { $1($0, keyPaddingMask: keyPaddingMask) }
    }
}

/// A learned position table `weight [steps, width]` added to a sequence (N(0, 0.02²) at start).
public final class LearnedPositions: Module {
    /// The table.
    public let weight: Tensor

    /// A table for `steps` positions.
    public init<G: RandomNumberGenerator>(steps: Int, width: Int, rng: inout G) {
        weight = Tensor.randn([steps, width], using: &rng, requiresGrad: true)
        weight.assign(weight * 0.02)
    }
}

/// The sinusoidal position encoding of Vaswani et al.: `pe[t, 2i] = sin(t / 10000^(2i/d))`,
/// `pe[t, 2i+1] = cos(t / 10000^(2i/d))`, `[steps, width]`.
public func sinusoidalPositions(steps: Int, width: Int) -> Tensor {
    let pe = Tensor.zeros([steps, width])
    for t in 0..<steps {
        for i in stride(from: 0, to: width, by: 2) {
            let angle = Double(t) / Foundation.pow(10000, Double(i) / Double(width))
            pe.data[t * width + i] = Float(Foundation.sin(angle))
            if i + 1 < width { pe.data[t * width + i + 1] = Float(Foundation.cos(angle)) }
        }
    }
    return pe
}
