import FusionConfig
import FusionTraining
import Foundation
import FusionCore
import FusionData
import FusionModels
import FusionNN
import FusionReports
import FusionTensor

/// Exports a finished run's whole fused model (encoders, fusion, head) as ONNX, opset 17: from
/// preprocessed features and presence masks to logits and probabilities.
///
/// Inputs (batch dimension `batch`): `text_ids` int64 `[batch, T]` and `text_mask` `[batch, T]`;
/// `image` `[batch, C, H, W]` (normalised as training normalised it); `audio` `[batch, rows,
/// frames]` (MFCCs) and `audio_mask` `[batch, frames]`; `<modality>_present` `[batch]` (1/0).
/// Outputs: `logits` and `probabilities` `[batch, classes]`. The masks' valid lengths follow the
/// time axis through every convolution and pooling exactly as in FusionLab, so pooling and
/// attention read only valid steps. Weights are initializers under their checkpoint keys.
enum OnnxExporter {
    /// The ONNX operator set written.
    static let opset = 17

    /// The graph of `model` (built from `config`), or an error naming the first part without an export.
    static func export(_ model: MultimodalClassifier, config: ExperimentConfig, classes: Int) throws -> (bytes: [UInt8], ops: [String: Int]) {
        let g = OnnxGraph()
        let state = Dictionary(model.stateDict().map { ($0.key, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let e = Emitter(g: g, state: state)
        var embeddings: [Modality: String] = [:], presence: [Modality: String] = [:], widths: [Modality: Int] = [:]
        for m in model.modalities {
            guard let encoder = model.encoders[m.rawValue] as? StackEncoder else {
                throw OnnxExportError(description: "model.\(m.rawValue): the pretrained BERT text encoder has no ONNX export yet (layer stacks do)")
            }
            let plan = encoder.stack.plan
            var value: Emitter.Value
            switch m {
            case .text:
                let t = plan.input.dims[0]
                g.input("text_ids", .int64, [nil, t])
                g.input("text_mask", .float, [nil, t])
                value = Emitter.Value(x: "", shape: plan.input, lengths: e.lengths("text_mask"), tokens: "text_ids")
            case .image:
                g.input("image", .float, [nil] + plan.input.dims.map { Optional($0) })
                value = Emitter.Value(x: "image", shape: plan.input, lengths: nil, tokens: nil)
            case .audio:
                g.input("audio", .float, [nil] + plan.input.dims.map { Optional($0) })
                g.input("audio_mask", .float, [nil, plan.input.dims[plan.input.dims.count - 1]])
                value = Emitter.Value(x: "audio", shape: plan.input, lengths: e.lengths("audio_mask"), tokens: nil)
            }
            value = try e.stack(plan, value, prefix: "encoders.\(m.rawValue).layers", path: "model.\(m.rawValue).layers")
            embeddings[m] = value.x
            widths[m] = plan.outputDim
            g.input("\(m.rawValue)_present", .float, [nil])
            presence[m] = g.op("Unsqueeze", ["\(m.rawValue)_present", g.ints([1])], hint: "presence")
        }
        var fused = try model.strategy.onnx(FusionGraph(e, embeddings: embeddings, presence: presence, order: model.modalities))
        if model.head != nil {
            let linears = state.keys.compactMap { key -> Int? in
                let parts = key.split(separator: ".")
                guard parts.count == 3, parts[0] == "head", parts[2] == "weight" else { return nil }
                return Int(parts[1])
            }.sorted()
            for (i, index) in linears.enumerated() {
                fused = try e.linear(fused, "head.\(index)")
                if i + 1 < linears.count { fused = e.activation(fused, config.model.head.activation.rawValue) }
            }
        }
        g.output(fused, as: "logits", .float, [nil, classes])
        g.output(g.op("Softmax", [fused], [.int("axis", 1)]), as: "probabilities", .float, [nil, classes])
        let bytes = g.model(opset: opset, producerVersion: BuildInfo.version, metadata: [
            ("fusionlab.modalities", model.modalities.map(\.rawValue).joined(separator: ",")),
            ("fusionlab.fusion", config.model.fusion.kind.rawValue),
        ])
        return (bytes, g.opCounts)
    }

    /// Emits nodes for layer stacks, fusions and the shared blocks.
    final class Emitter {
        /// A value inside a stack: its name, what its axes mean, and its valid lengths `[B]` (float) on the time axis.
        struct Value {
            var x: String
            var shape: StackShape
            var lengths: String?
            var tokens: String?
        }

        let g: OnnxGraph
        let state: [String: Tensor]

        init(g: OnnxGraph, state: [String: Tensor]) {
            self.g = g
            self.state = state
        }

        func tensor(_ key: String) throws -> String {
            guard let t = state[key] else { throw OnnxExportError(description: "the model has no tensor \(key) (a FusionLab bug: please report it)") }
            return g.weight(key, t)
        }

        /// Valid steps per sample from a 1/0 mask `[B, T]`: the count of entries above 0.5.
        func lengths(_ mask: String) -> String {
            let above = g.op("Greater", [mask, g.scalar(0.5)])
            return g.op("ReduceSum", [g.op("Cast", [above], [.int("to", 1)]), g.ints([1])], [.int("keepdims", 0)], hint: "lengths")
        }

        /// `x · Wᵀ + b` over the last axis, with `key.weight` and (when present) `key.bias`.
        func linear(_ x: String, _ key: String) throws -> String {
            let w = g.op("Transpose", [try tensor(key + ".weight")], [.ints("perm", [1, 0])])
            let y = g.op("MatMul", [x, w])
            return state[key + ".bias"] == nil ? y : g.op("Add", [y, try tensor(key + ".bias")])
        }

        func activation(_ x: String, _ kind: String) -> String {
            switch kind {
            case "relu": return g.op("Relu", [x])
            case "relu6": return g.op("Clip", [x, g.scalar(0), g.scalar(6)])
            case "tanh": return g.op("Tanh", [x])
            case "sigmoid": return g.op("Sigmoid", [x])
            case "gelu":
                // 0.5 x (1 + erf(x / √2)), FusionLab's (and PyTorch's default) exact GELU.
                let erf = g.op("Erf", [g.op("Mul", [x, g.scalar(0.70710678118654752)])])
                return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [erf, g.scalar(1)])])
            default: return x
            }
        }

        /// `[B, P]` 1/0 mask of valid positions of `v`, or nil when every position is valid.
        func positionMask(_ v: Value) -> String? {
            guard let lengths = v.lengths else { return nil }
            let column = g.op("Unsqueeze", [lengths, g.ints([1])])
            let index: [Float]
            switch v.shape.kind {
            case .image:
                let (h, w) = (v.shape.dims[1], v.shape.dims[2])
                index = (0..<(h * w)).map { Float($0 % w) }
            case .channels: index = (0..<v.shape.dims[1]).map(Float.init)
            case .sequence: index = (0..<v.shape.dims[0]).map(Float.init)
            default: return nil
            }
            let less = g.op("Less", [g.constant(index, shape: [1, index.count], hint: "positions"), column])
            return g.op("Cast", [less], [.int("to", 1)], hint: "mask")
        }

        /// The value as positions × features `[B, P, F]`.
        func positions(_ v: Value) -> String {
            switch v.shape.kind {
            case .image:
                let flat = g.op("Reshape", [v.x, g.ints([0, v.shape.dims[0], -1])])
                return g.op("Transpose", [flat], [.ints("perm", [0, 2, 1])])
            case .channels: return g.op("Transpose", [v.x], [.ints("perm", [0, 2, 1])])
            default: return v.x
            }
        }

        /// The valid lengths after a window layer on the time axis (LayerPlan.validSteps: the
        /// windows whose centre falls on a valid step, at least 1, at most the output length).
        func windowLengths(_ lengths: String?, output: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> String? {
            guard let lengths else { return nil }
            let numerator = g.op("Add", [g.op("Mul", [lengths, g.scalar(2)]), g.scalar(Float(2 * padding - dilation * (kernel - 1)))])
            let count = g.op("Ceil", [g.op("Div", [numerator, g.scalar(Float(2 * stride))])])
            return g.op("Clip", [count, g.scalar(1), g.scalar(Float(output))], hint: "lengths")
        }

        func adapt(_ v: Value, to target: StackShape) throws -> Value {
            guard v.shape.kind != target.kind else { return v }
            var out = v
            out.shape = target
            switch (v.shape.kind, target.kind) {
            case (.channels, .image): out.x = g.op("Unsqueeze", [v.x, g.ints([1])])
            case (.sequence, .channels), (.channels, .sequence): out.x = g.op("Transpose", [v.x], [.ints("perm", [0, 2, 1])])
            case (.image, .sequence):
                let (c, h, w) = (v.shape.dims[0], v.shape.dims[1], v.shape.dims[2])
                out.x = g.op("Reshape", [g.op("Transpose", [v.x], [.ints("perm", [0, 3, 1, 2])]), g.ints([0, w, c * h])])
            default: throw OnnxExportError(description: "no layout change from \(v.shape) to \(target)")
            }
            return out
        }

        /// Every step of `plan` on `value`; parameters under `prefix.<step key>`.
        func stack(_ plan: LayerPlan, _ value: Value, prefix: String, path: String) throws -> Value {
            var v = value
            for step in plan.steps {
                v = try adapt(v, to: step.input)
                v = try layer(step, v, key: "\(prefix).\(step.key)")
            }
            return v
        }

        // swiftlint:disable:next function_body_length cyclomatic_complexity
        func layer(_ step: LayerPlan.Step, _ v: Value, key: String) throws -> Value {
            let spec = step.spec, output = step.output
            func two(_ a: [Int]?, _ d: Int) -> [Int] { let x = a ?? [d]; return [x[0], x.count > 1 ? x[1] : x[0]] }
            var out = v
            out.shape = output
            switch spec.type {
            case .conv2d, .conv1d:
                let twoD = spec.type == .conv2d
                let k = twoD ? two(spec.kernel, 1) : [spec.kernel?[0] ?? 1]
                let s = twoD ? two(spec.stride, 1) : [spec.stride?[0] ?? 1]
                // ONNX pads: every axis's start, then every axis's end; the valid-length rule reads the start.
                let sides = try LayerPlan.sides(spec)
                let begin = twoD ? [sides[0], sides[2]] : [spec.padding?[0] ?? 0]
                let end = twoD ? [sides[1], sides[3]] : begin
                let d = twoD ? two(spec.dilation, 1) : [spec.dilation?[0] ?? 1]
                var inputs = [v.x, try tensor(key + ".weight")]
                if state[key + ".bias"] != nil { inputs.append(try tensor(key + ".bias")) }
                out.x = g.op("Conv", inputs, [.ints("kernel_shape", k), .ints("strides", s), .ints("pads", begin + end), .ints("dilations", d),
                                              .int("group", spec.groups ?? 1)])
                out.lengths = windowLengths(v.lengths, output: output.dims[output.dims.count - 1], kernel: k[k.count - 1],
                                            stride: s[s.count - 1], padding: begin[begin.count - 1], dilation: d[d.count - 1])
            case .maxPool2d, .avgPool2d, .maxPool1d, .avgPool1d:
                let twoD = spec.type.rawValue.hasSuffix("2d")
                let k = twoD ? two(spec.kernel, 1) : [spec.kernel?[0] ?? 1]
                let s = twoD ? two(spec.stride ?? spec.kernel, 1) : [spec.stride?[0] ?? k[0]]
                let p = twoD ? two(spec.padding, 0) : [spec.padding?[0] ?? 0]
                var attributes: [OnnxGraph.Attribute] = [.ints("kernel_shape", k), .ints("strides", s), .ints("pads", p + p)]
                if spec.type.rawValue.hasPrefix("avg") { attributes.append(.int("count_include_pad", 1)) }
                out.x = g.op(spec.type.rawValue.hasPrefix("max") ? "MaxPool" : "AveragePool", [v.x], attributes)
                out.lengths = windowLengths(v.lengths, output: output.dims[output.dims.count - 1], kernel: k[k.count - 1],
                                            stride: s[s.count - 1], padding: p[p.count - 1], dilation: 1)
            case .flatten:
                out.x = g.op("Flatten", [v.x], [.int("axis", 1)])
                out.lengths = nil
            case .globalPool:
                var v = v
                if let rows = spec.rows {
                    v.x = g.op(rows == .max ? "ReduceMax" : "ReduceMean", [v.x], [.ints("axes", [2]), .int("keepdims", 0)])
                    v.shape = StackShape(.channels, [v.shape.dims[0], v.shape.dims[2]])
                }
                let mask = spec.masked ?? true ? positionMask(v) : nil
                let x = positions(v)
                switch spec.op ?? .avg {
                case .avg:
                    if let mask {
                        let m = g.op("Unsqueeze", [mask, g.ints([2])])
                        let sum = g.op("ReduceSum", [g.op("Mul", [x, m]), g.ints([1])], [.int("keepdims", 0)])
                        let count = g.op("Max", [g.op("ReduceSum", [mask, g.ints([1])], [.int("keepdims", 1)]), g.scalar(1e-9)])
                        out.x = g.op("Div", [sum, count])
                    } else {
                        out.x = g.op("ReduceMean", [x], [.ints("axes", [1]), .int("keepdims", 0)])
                    }
                case .max:
                    var y = x
                    if let mask {
                        let penalty = g.op("Mul", [g.op("Sub", [g.op("Unsqueeze", [mask, g.ints([2])]), g.scalar(1)]), g.scalar(1e9)])
                        y = g.op("Add", [x, penalty])
                    }
                    out.x = g.op("ReduceMax", [y], [.ints("axes", [1]), .int("keepdims", 0)])
                case .attention:
                    var score = g.op("Squeeze", [try linear(x, key + ".score"), g.ints([2])])
                    if let mask { score = g.op("Add", [score, g.op("Mul", [g.op("Sub", [mask, g.scalar(1)]), g.scalar(1e9)])]) }
                    let weights = g.op("Unsqueeze", [g.op("Softmax", [score], [.int("axis", 1)]), g.ints([2])])
                    out.x = g.op("ReduceSum", [g.op("Mul", [x, weights]), g.ints([1])], [.int("keepdims", 0)])
                }
                out.lengths = nil
            case .linear: out.x = try linear(v.x, key)
            case .layerNorm:
                out.x = g.op("LayerNormalization", [v.x, try tensor(key + ".weight"), try tensor(key + ".bias")],
                             [.int("axis", -1), .float("epsilon", 1e-5)])
            case .batchNorm:
                out.x = g.op("BatchNormalization", [v.x, try tensor(key + ".weight"), try tensor(key + ".bias"),
                                                    try tensor(key + ".running_mean"), try tensor(key + ".running_var")],
                             [.float("epsilon", Float(spec.eps ?? 1e-5))])
            case .dropout: break
            case .relu, .relu6, .gelu, .tanh, .sigmoid: out.x = activation(v.x, spec.type.rawValue)
            case .leakyRelu: out.x = g.op("LeakyRelu", [v.x], [.float("alpha", Float(spec.slope ?? 0.01))])
            case .clamp:
                out.x = g.op("Clip", [v.x, g.scalar(Float(spec.lower ?? -Double(Float.greatestFiniteMagnitude))),
                                      g.scalar(Float(spec.upper ?? Double(Float.greatestFiniteMagnitude)))])
            case .residual:
                guard let inner = step.inner else { throw OnnxExportError(description: "\(step.path): a residual layer without its block") }
                let y = try stack(inner, v, prefix: key + ".layers", path: step.path + ".layers")
                out.x = g.op("Add", [v.x, y.x])
            case .positional:
                if spec.encoding == .learned {
                    out.x = g.op("Add", [v.x, try tensor(key + ".weight")])
                } else {
                    let table = sinusoidalPositions(steps: step.input.dims[0], width: step.input.dims[1])
                    out.x = g.op("Add", [v.x, g.constant(table.scalars, shape: table.shape, hint: "positions")])
                }
            case .embedding:
                guard let tokens = v.tokens else { throw OnnxExportError(description: "\(step.path): embedding needs token ids") }
                out.x = g.op("Gather", [try tensor(key + ".weight"), tokens], [.int("axis", 0)])
                out.tokens = nil
            case .bagOfWords:
                guard let tokens = v.tokens else { throw OnnxExportError(description: "\(step.path): bag_of_words needs token ids") }
                let vocabulary = step.vocabulary
                let t = step.input.dims[0]
                let onehot = g.op("OneHot", [tokens, g.ints([vocabulary]), g.constant([0, 1], shape: [2], hint: "onoff")], [.int("axis", -1)])
                var valid = onehot
                if let lengths = v.lengths {
                    let column = g.op("Unsqueeze", [lengths, g.ints([1])])
                    let positions = g.op("Cast", [g.op("Less", [g.constant((0..<t).map(Float.init), shape: [1, t]), column])], [.int("to", 1)])
                    valid = g.op("Mul", [onehot, g.op("Unsqueeze", [positions, g.ints([2])])])
                }
                // Padding (id 0) is never counted.
                let keep = g.constant([0] + [Float](repeating: 1, count: max(0, vocabulary - 1)), shape: [vocabulary], hint: "not_padding")
                var counts = g.op("Mul", [g.op("ReduceSum", [valid, g.ints([1])], [.int("keepdims", 0)]), keep])
                if spec.binary ?? false { counts = g.op("Min", [counts, g.scalar(1)]) }
                out.x = counts
                out.tokens = nil
                out.lengths = nil
            case .transformer:
                let (steps, width) = (step.input.dims[0], step.input.dims[1])
                let valid = positionMask(v)
                var h = v.x
                for i in 0..<(spec.numLayers ?? 1) {
                    h = try encoderLayer(h, key: "\(key).layers.\(i)", steps: steps, width: width, heads: spec.heads ?? 1,
                                         normFirst: spec.normFirst ?? false, activation: (spec.activation ?? .relu).rawValue, valid: valid)
                }
                out.x = h
            case .gru, .lstm:
                let (sequence, last) = try recurrent(v, key: key, gru: spec.type == .gru, hidden: spec.hidden ?? 1,
                                                     layers: spec.numLayers ?? 1, bidirectional: spec.bidirectional ?? false,
                                                     steps: step.input.dims[0])
                if (spec.output ?? .last) == .last {
                    out.x = last
                    out.lengths = nil
                } else {
                    out.x = sequence
                }
            }
            return out
        }

        /// ONNX GRU/LSTM ops, one per layer, over `v.x [B, T, I]` with `sequence_lens` from the valid
        /// lengths (clamped to 1…T as FusionLab does): the sequence `[B, T, dirs·H]` (zeros past each
        /// length) and the final valid state of each direction `[B, dirs·H]`. PyTorch's gate order
        /// (r z n; i f g o) is reordered to ONNX's (z r h; i o f c); GRU uses linear_before_reset = 1.
        func recurrent(_ v: Value, key: String, gru: Bool, hidden h: Int, layers: Int, bidirectional: Bool, steps t: Int) throws
            -> (sequence: String, last: String) {
            let order = gru ? [1, 0, 2] : [0, 3, 1, 2]  // ONNX gate k takes PyTorch gate order[k]
            let gates = gru ? 3 : 4
            func reordered(_ tensor: Tensor) -> [Float] {
                let rowsPerGate = tensor.shape[0] / gates, width = tensor.count / tensor.shape[0]
                let values = tensor.scalars
                return order.flatMap { g in Array(values[(g * rowsPerGate * width)..<((g + 1) * rowsPerGate * width)]) }
            }
            func parameter(_ name: String) throws -> Tensor {
                guard let t = state["\(key).\(name)"] else { throw OnnxExportError(description: "the model has no tensor \(key).\(name) (a FusionLab bug: please report it)") }
                return t
            }
            var lengths: String?
            if let l = v.lengths { lengths = g.op("Cast", [g.op("Clip", [l, g.scalar(1), g.scalar(Float(t))])], [.int("to", 6)], hint: "sequence_lens") }
            var x = g.op("Transpose", [v.x], [.ints("perm", [1, 0, 2])])  // [T, B, I]
            var last = ""
            let suffixes = bidirectional ? ["", "_reverse"] : [""]
            for layer in 0..<layers {
                var w: [Float] = [], r: [Float] = [], b: [Float] = []
                var inputWidth = 0
                for suffix in suffixes {
                    let wih = try parameter("weight_ih_l\(layer)\(suffix)"), whh = try parameter("weight_hh_l\(layer)\(suffix)")
                    inputWidth = wih.shape[1]
                    w += reordered(wih)
                    r += reordered(whh)
                    let bih = state["\(key).bias_ih_l\(layer)\(suffix)"], bhh = state["\(key).bias_hh_l\(layer)\(suffix)"]
                    b += bih.map(reordered) ?? [Float](repeating: 0, count: gates * h)
                    b += bhh.map(reordered) ?? [Float](repeating: 0, count: gates * h)
                }
                let dirs = suffixes.count
                var names = [x, g.constant(w, shape: [dirs, gates * h, inputWidth], hint: "\(key).W_l\(layer)"),
                             g.constant(r, shape: [dirs, gates * h, h], hint: "\(key).R_l\(layer)"),
                             g.constant(b, shape: [dirs, 2 * gates * h], hint: "\(key).B_l\(layer)")]
                if let lengths { names.append(lengths) }
                var attributes: [OnnxGraph.Attribute] = [.int("hidden_size", h), .string("direction", bidirectional ? "bidirectional" : "forward")]
                if gru { attributes.append(.int("linear_before_reset", 1)) }
                let outputs = g.node(gru ? "GRU" : "LSTM", names, attributes, outputs: 2)
                // Y [T, dirs, B, H] → [T, B, dirs·H]; Y_h [dirs, B, H] → [B, dirs·H].
                x = g.op("Reshape", [g.op("Transpose", [outputs[0]], [.ints("perm", [0, 2, 1, 3])]), g.ints([t, -1, dirs * h])])
                last = g.op("Reshape", [g.op("Transpose", [outputs[1]], [.ints("perm", [1, 0, 2])]), g.ints([-1, dirs * h])])
            }
            return (g.op("Transpose", [x], [.ints("perm", [1, 0, 2])]), last)
        }

        /// One `torch.nn.TransformerEncoderLayer` (eval) over `x [B, L, E]`; `valid [B, L]` marks the
        /// keys that may be attended (a query whose keys are all padding gets zeros, as FusionLab's softmax gives).
        func encoderLayer(_ x: String, key: String, steps: Int, width: Int, heads: Int, normFirst: Bool, activation kind: String,
                          valid: String?) throws -> String {
            let dh = width / heads
            func norm(_ y: String, _ k: String) throws -> String {
                g.op("LayerNormalization", [y, try tensor(k + ".weight"), try tensor(k + ".bias")], [.int("axis", -1), .float("epsilon", 1e-5)])
            }
            func attention(_ y: String) throws -> String {
                let w = g.op("Transpose", [try tensor(key + ".self_attn.in_proj_weight")], [.ints("perm", [1, 0])])
                let qkv = g.op("Add", [g.op("MatMul", [y, w]), try tensor(key + ".self_attn.in_proj_bias")])
                let parts = g.node("Split", [qkv, g.ints([width, width, width])], [.int("axis", 2)], outputs: 3)
                func heads4(_ t: String) -> String {
                    g.op("Transpose", [g.op("Reshape", [t, g.ints([0, steps, heads, dh])])], [.ints("perm", [0, 2, 1, 3])])
                }
                let q = heads4(parts[0]), k = heads4(parts[1]), v = heads4(parts[2])
                var scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], [.ints("perm", [0, 1, 3, 2])])]),
                                          g.scalar(1 / Float(dh).squareRoot())])
                var anyValid: String?
                if let valid {
                    let keys = g.op("Reshape", [valid, g.ints([0, 1, 1, steps])])
                    scores = g.op("Add", [scores, g.op("Mul", [g.op("Sub", [keys, g.scalar(1)]), g.scalar(1e30)])])
                    anyValid = g.op("ReduceMax", [keys], [.ints("axes", [3]), .int("keepdims", 1)])
                }
                var weights = g.op("Softmax", [scores], [.int("axis", -1)])
                if let anyValid { weights = g.op("Mul", [weights, anyValid]) }
                let context = g.op("MatMul", [weights, v])
                let merged = g.op("Reshape", [g.op("Transpose", [context], [.ints("perm", [0, 2, 1, 3])]), g.ints([0, steps, width])])
                return try linear(merged, key + ".self_attn.out_proj")
            }
            func feedForward(_ y: String) throws -> String {
                try linear(activation(try linear(y, key + ".linear1"), kind), key + ".linear2")
            }
            if normFirst {
                let a = g.op("Add", [x, try attention(try norm(x, key + ".norm1"))])
                return g.op("Add", [a, try feedForward(try norm(a, key + ".norm2"))])
            }
            let a = try norm(g.op("Add", [x, try attention(x)]), key + ".norm1")
            return try norm(g.op("Add", [a, try feedForward(a)]), key + ".norm2")
        }
    }
}
