import Foundation

/// How `global_pool` pools over the valid steps or pixels.
public enum PoolOp: String, ConfigChoice {
    /// The mean.
    case avg
    /// The maximum.
    case max
    /// A learned query's attention weights.
    case attention
}

/// What a recurrent layer hands on.
public enum RecurrentOutput: String, ConfigChoice {
    /// The final valid state of each direction (a vector).
    case last
    /// Every step (a sequence).
    case sequence
}

/// The activation of a Transformer layer's feed-forward block.
public enum FeedForwardActivation: String, ConfigChoice {
    /// ReLU.
    case relu
    /// GELU.
    case gelu
}

/// Position encodings added by `positional`.
public enum PositionEncoding: String, ConfigChoice {
    /// Fixed sines and cosines.
    case sinusoidal
    /// A learned table.
    case learned
}

/// A layer kind of a stack, as spelled in JSON: every kind's settings and rules are found from
/// here, and every switch over kinds is exhaustive, so a new kind makes the compiler point at
/// each place that must learn it (shapes, parameters, builder, ONNX, int8, pruning).
public enum LayerKind: String, ConfigChoice {
    /// 1-D convolution over a channels × steps value.
    case conv1d
    /// 2-D convolution over an image.
    case conv2d
    /// 1-D max pooling.
    case maxPool1d = "max_pool1d"
    /// 2-D max pooling.
    case maxPool2d = "max_pool2d"
    /// 1-D average pooling.
    case avgPool1d = "avg_pool1d"
    /// 2-D average pooling.
    case avgPool2d = "avg_pool2d"
    /// Everything of a sample as one vector.
    case flatten
    /// Pooling over the valid steps or pixels into one vector.
    case globalPool = "global_pool"
    /// A fully connected layer (per step on a sequence).
    case linear
    /// Dropout while training.
    case dropout
    /// Batch normalisation over channels.
    case batchNorm = "batch_norm"
    /// Layer normalisation over features.
    case layerNorm = "layer_norm"
    /// ReLU.
    case relu
    /// ReLU clipped at 6.
    case relu6
    /// Leaky ReLU.
    case leakyRelu = "leaky_relu"
    /// Values clipped to [lower, upper].
    case clamp
    /// GELU.
    case gelu
    /// tanh.
    case tanh
    /// The logistic sigmoid.
    case sigmoid
    /// A block whose output is added to its input.
    case residual
    /// A GRU over the steps.
    case gru
    /// An LSTM over the steps.
    case lstm
    /// Transformer encoder layers.
    case transformer
    /// Position encodings added to a sequence.
    case positional
    /// Token embeddings.
    case embedding
    /// Token counts over the vocabulary.
    case bagOfWords = "bag_of_words"

    /// The JSON keys this kind accepts besides `type` and `name`.
    public var settings: [String] {
        switch self {
        case .conv1d, .conv2d: return ["channels", "kernel", "stride", "padding", "dilation", "groups", "bias"]
        case .maxPool1d, .maxPool2d, .avgPool1d, .avgPool2d: return ["kernel", "stride", "padding"]
        case .flatten, .layerNorm, .relu, .relu6, .gelu, .tanh, .sigmoid: return []
        case .globalPool: return ["op", "rows", "masked"]
        case .linear: return ["units", "bias"]
        case .dropout: return ["p"]
        case .batchNorm: return ["eps", "momentum"]
        case .leakyRelu: return ["slope"]
        case .clamp: return ["lower", "upper"]
        case .residual: return ["layers"]
        case .gru, .lstm: return ["hidden", "num_layers", "bidirectional", "output", "p"]
        case .transformer: return ["heads", "feed_forward", "num_layers", "p", "norm_first", "activation"]
        case .positional: return ["encoding"]
        case .embedding: return ["units"]
        case .bagOfWords: return ["binary"]
        }
    }

    /// Kinds whose every setting has a default, so the bare string form is allowed.
    public var optionalOnly: Bool {
        switch self {
        case .leakyRelu, .globalPool, .positional, .bagOfWords, .dropout, .batchNorm: return true
        case .conv1d, .conv2d, .maxPool1d, .maxPool2d, .avgPool1d, .avgPool2d, .flatten, .linear, .layerNorm, .relu, .relu6, .clamp,
             .gelu, .tanh, .sigmoid, .residual, .gru, .lstm, .transformer, .embedding: return settings.isEmpty
        }
    }

    /// The settings a kind cannot do without, as a JSON hint.
    var required: String? {
        switch self {
        case .conv1d, .conv2d: return "\"channels\": …, \"kernel\": …"
        case .maxPool1d, .avgPool1d, .maxPool2d, .avgPool2d: return "\"kernel\": …"
        case .linear, .embedding: return "\"units\": …"
        case .gru, .lstm: return "\"hidden\": …"
        case .transformer: return "\"heads\": …"
        case .residual: return "\"layers\": […]"
        case .flatten, .globalPool, .dropout, .batchNorm, .layerNorm, .relu, .relu6, .leakyRelu, .clamp, .gelu, .tanh, .sigmoid,
             .positional, .bagOfWords: return nil
        }
    }

    /// What channel pruning does with a layer of this kind.
    public enum ChannelPruningRole: Sendable {
        /// Its output channels (units) can be pruned.
        case prunable
        /// Works per channel: the pruned channels pass through it.
        case passesThrough
        /// Mixes or reshapes channels: pruning stops before it.
        case stops
    }

    /// What channel pruning does with a layer of this kind.
    public var channelPruning: ChannelPruningRole {
        switch self {
        case .conv1d, .conv2d, .linear: return .prunable
        case .relu, .relu6, .gelu, .tanh, .sigmoid, .leakyRelu, .dropout, .maxPool1d, .maxPool2d, .avgPool1d, .avgPool2d, .batchNorm, .flatten:
            return .passesThrough
        case .globalPool, .layerNorm, .clamp, .residual, .gru, .lstm, .transformer, .positional, .embedding, .bagOfWords: return .stops
        }
    }

    /// Whether the kind pools or convolves over two spatial axes.
    public var isTwoD: Bool { self == .conv2d || self == .maxPool2d || self == .avgPool2d }
}

/// One layer of an encoder written in an experiment file, as JSON:
/// `{"type": "conv2d", "channels": 16, "kernel": 5, "padding": 2}`, or just `"relu"` for a
/// layer without settings.
///
/// Every size is inferred from the layer before (nobody writes input sizes); `LayerPlan`
/// checks the whole stack against the modality's input shape. Unknown keys and keys that do not
/// belong to the layer's type are errors naming the JSON path. See docs/experiment-format.md
/// for every type and key.
public struct LayerSpec: Codable, Equatable, Sendable {
    @Doc("The layer type: conv1d, conv2d, max_pool1d/2d, avg_pool1d/2d, flatten, global_pool, linear, dropout, batch_norm, layer_norm, relu, relu6, leaky_relu, clamp, gelu, tanh, sigmoid, residual, gru, lstm, transformer, positional, embedding, bag_of_words.")
    public var type: LayerKind = .relu
    @Doc("Key of the layer's parameters instead of its position (encoders.image.layers.<name>.weight).")
    public var name: String? = nil
    @Doc("conv1d / conv2d: output channels.")
    public var channels: Int? = nil
    @Doc("Convolutions and pooling (required): window size, one value or one per spatial axis (2-D).")
    public var kernel: [Int]? = nil
    @Doc("Convolutions and pooling: step between windows, one value or one per axis (default 1; pooling: the kernel).")
    public var stride: [Int]? = nil
    @Doc("Convolutions and pooling: zeros added on each side, one value or one per spatial axis (default 0); conv2d also takes [top, bottom, left, right], and convolutions \"same\": TensorFlow's SAME, an output of ceil(input / stride) with the odd pixel at the bottom and right.")
    public var padding: [Int]? = nil
    /// `"padding": "same"`, resolved from the input size by `LayerPlan` (TensorFlow's rule).
    public var samePadding = false
    @Doc("Convolutions: channel groups (default 1); groups = input channels = channels is a depthwise convolution.")
    public var groups: Int? = nil
    @Doc("batch_norm: the epsilon added to the variance (default 1e-5, as PyTorch; TensorFlow models use 1e-3).")
    public var eps: Double? = nil
    @Doc("batch_norm: the running statistics' momentum, as PyTorch (default 0.1; TensorFlow's decay 0.99 is 0.01).")
    public var momentum: Double? = nil
    @Doc("Convolutions: spacing of the kernel taps, one value or one per axis (default 1).")
    public var dilation: [Int]? = nil
    @Doc("linear and embedding: output width.")
    public var units: Int? = nil
    @Doc("linear and convolutions: whether the layer has a bias (default true).")
    public var bias: Bool? = nil
    @Doc("dropout: drop probability (default 0.5); gru and lstm: dropout between stacked layers (default 0); transformer: dropout inside each layer (default 0.1, as PyTorch).")
    public var p: Double? = nil
    @Doc("global_pool: avg (default), max or attention (a learned query), over the valid steps or pixels.")
    public var op: PoolOp? = nil
    @Doc("global_pool of an image value: first pool each column's rows (H: the mel or coefficient axis of audio) with avg or max, then the columns (W: time) with `op`, as audio CNNs do (default: all pixels at once).")
    public var rows: PoolOp? = nil
    @Doc("global_pool: pool only the valid steps (default true); false pools the zero padding too, as a reference model that zero-pads its input does.")
    public var masked: Bool? = nil
    @Doc("gru and lstm: hidden units per direction.")
    public var hidden: Int? = nil
    @Doc("gru, lstm and transformer: stacked layers (default 1).")
    public var numLayers: Int? = nil
    @Doc("gru and lstm: also run backwards and concatenate both directions (default false).")
    public var bidirectional: Bool? = nil
    @Doc("gru and lstm: last (the final valid state of each direction, a vector; default) or sequence (every step).")
    public var output: RecurrentOutput? = nil
    @Doc("leaky_relu: negative slope (default 0.01).")
    public var slope: Double? = nil
    @Doc("clamp: the smallest value let through (default: none).")
    public var lower: Double? = nil
    @Doc("clamp: the largest value let through (default: none).")
    public var upper: Double? = nil
    @Doc("transformer: attention heads (a divisor of the model width).")
    public var heads: Int? = nil
    @Doc("transformer: feed-forward width (default 4 × the model width).")
    public var feedForward: Int? = nil
    @Doc("transformer: layer norm before attention and feed-forward instead of after (default false).")
    public var normFirst: Bool? = nil
    @Doc("transformer: relu (default) or gelu in the feed-forward block.")
    public var activation: FeedForwardActivation? = nil
    @Doc("positional: sinusoidal (default) or learned position encodings added to the sequence.")
    public var encoding: PositionEncoding? = nil
    @Doc("bag_of_words: 1/0 presence instead of counts (default false).")
    public var binary: Bool? = nil
    @Doc("residual: the block of layers whose output is added to its input (same shape).")
    public var layers: [LayerSpec]? = nil

    /// What each setting does, by JSON key (from the `@Doc` texts above).
    public static let settingDocumentation: [String: String] = {
        var docs = [String: String]()
        for child in Mirror(reflecting: LayerSpec(.relu)).children {
            guard let label = child.label, let option = child.value as? any DocumentedOption else { continue }
            docs[snakeCase(String(label.drop(while: { $0 == "_" })))] = option.documentation
        }
        return docs
    }()

    /// A layer of `type` with no settings.
    public init(_ type: LayerKind) { self.type = type }

    /// Layer types and the keys each accepts (beside `type` and `name`), in JSON spelling.
    public static let types: [String: [String]] = Dictionary(uniqueKeysWithValues: LayerKind.allCases.map { ($0.rawValue, $0.settings) })

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, name, channels, kernel, stride, padding, dilation, groups, eps, momentum, units, bias, p, op, rows, masked, hidden, numLayers
        case bidirectional, output, slope, lower, upper, heads, feedForward, normFirst, activation, encoding, binary, layers
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes `"relu"` or an object whose keys belong to its type.
    public init(from decoder: Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
            guard let type = LayerKind(rawValue: name) else { throw LayerSpec.unknownType(name, decoder.codingPath) }
            guard type.optionalOnly else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                    debugDescription: "\"\(name)\" needs settings; write {\"type\": \"\(name)\", \(type.required ?? "…")}"))
            }
            self.init(type)
            return
        }
        let raw = try decoder.container(keyedBy: AnyKey.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.contains(.type) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "a layer needs a \"type\": one of \(LayerSpec.types.keys.sorted().joined(separator: ", "))"))
        }
        let typeName = try c.decode(String.self, forKey: .type)
        guard let type = LayerKind(rawValue: typeName) else { throw LayerSpec.unknownType(typeName, decoder.codingPath + [CodingKeys.type]) }
        self.init(type)
        let allowed = type.settings
        // The decoder converts snake_case to camelCase; compare in JSON spelling.
        for key in raw.allKeys {
            let json = snakeCase(key.stringValue)
            guard json != "type" && json != "name" && !allowed.contains(json) else { continue }
            let hint = nearestName(json, among: allowed + ["name"]).map { "; did you mean \"\($0)\"?" } ?? ""
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "\"\(json)\" is not a setting of \(type.rawValue) (its settings: \(allowed.isEmpty ? "none" : allowed.joined(separator: ", ")))\(hint)"))
        }
        name = try c.decodeIfPresent(String.self, forKey: .name)
        channels = try c.decodeIfPresent(Int.self, forKey: .channels)
        kernel = try LayerSpec.intList(c, .kernel)
        stride = try LayerSpec.intList(c, .stride)
        if (try? c.decode(String.self, forKey: .padding)) == "same" {
            guard type == .conv2d || type == .conv1d else {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [CodingKeys.padding],
                    debugDescription: "\"same\" padding is for conv1d and conv2d; \(type.rawValue) takes zeros per side"))
            }
            samePadding = true
        } else {
            padding = try LayerSpec.intList(c, .padding, allowFour: type == .conv2d)
        }
        dilation = try LayerSpec.intList(c, .dilation)
        groups = try c.decodeIfPresent(Int.self, forKey: .groups)
        eps = try c.decodeIfPresent(Double.self, forKey: .eps)
        momentum = try c.decodeIfPresent(Double.self, forKey: .momentum)
        units = try c.decodeIfPresent(Int.self, forKey: .units)
        bias = try c.decodeIfPresent(Bool.self, forKey: .bias)
        p = try c.decodeIfPresent(Double.self, forKey: .p)
        op = try c.decodeIfPresent(PoolOp.self, forKey: .op)
        rows = try c.decodeIfPresent(PoolOp.self, forKey: .rows)
        masked = try c.decodeIfPresent(Bool.self, forKey: .masked)
        hidden = try c.decodeIfPresent(Int.self, forKey: .hidden)
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers)
        bidirectional = try c.decodeIfPresent(Bool.self, forKey: .bidirectional)
        output = try c.decodeIfPresent(RecurrentOutput.self, forKey: .output)
        slope = try c.decodeIfPresent(Double.self, forKey: .slope)
        lower = try c.decodeIfPresent(Double.self, forKey: .lower)
        upper = try c.decodeIfPresent(Double.self, forKey: .upper)
        heads = try c.decodeIfPresent(Int.self, forKey: .heads)
        feedForward = try c.decodeIfPresent(Int.self, forKey: .feedForward)
        normFirst = try c.decodeIfPresent(Bool.self, forKey: .normFirst)
        activation = try c.decodeIfPresent(FeedForwardActivation.self, forKey: .activation)
        encoding = try c.decodeIfPresent(PositionEncoding.self, forKey: .encoding)
        binary = try c.decodeIfPresent(Bool.self, forKey: .binary)
        layers = try c.decodeIfPresent([LayerSpec].self, forKey: .layers)
    }

    /// Encodes the layer as an object with only the settings it has.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encodeIfPresent(channels, forKey: .channels)
        try c.encodeIfPresent(kernel, forKey: .kernel)
        try c.encodeIfPresent(stride, forKey: .stride)
        if samePadding { try c.encode("same", forKey: .padding) } else { try c.encodeIfPresent(padding, forKey: .padding) }
        try c.encodeIfPresent(dilation, forKey: .dilation)
        try c.encodeIfPresent(groups, forKey: .groups)
        try c.encodeIfPresent(eps, forKey: .eps)
        try c.encodeIfPresent(momentum, forKey: .momentum)
        try c.encodeIfPresent(units, forKey: .units)
        try c.encodeIfPresent(bias, forKey: .bias)
        try c.encodeIfPresent(p, forKey: .p)
        try c.encodeIfPresent(op, forKey: .op)
        try c.encodeIfPresent(rows, forKey: .rows)
        try c.encodeIfPresent(masked, forKey: .masked)
        try c.encodeIfPresent(hidden, forKey: .hidden)
        try c.encodeIfPresent(numLayers, forKey: .numLayers)
        try c.encodeIfPresent(bidirectional, forKey: .bidirectional)
        try c.encodeIfPresent(output, forKey: .output)
        try c.encodeIfPresent(slope, forKey: .slope)
        try c.encodeIfPresent(lower, forKey: .lower)
        try c.encodeIfPresent(upper, forKey: .upper)
        try c.encodeIfPresent(heads, forKey: .heads)
        try c.encodeIfPresent(feedForward, forKey: .feedForward)
        try c.encodeIfPresent(normFirst, forKey: .normFirst)
        try c.encodeIfPresent(activation, forKey: .activation)
        try c.encodeIfPresent(encoding, forKey: .encoding)
        try c.encodeIfPresent(binary, forKey: .binary)
        try c.encodeIfPresent(layers, forKey: .layers)
    }


    static func unknownType(_ type: String, _ path: [CodingKey]) -> DecodingError {
        let hint = nearestName(type, among: Array(types.keys)).map { "; did you mean \"\($0)\"?" } ?? ""
        return DecodingError.dataCorrupted(.init(codingPath: path,
            debugDescription: "unknown layer type \"\(type)\"\(hint) (layer types: \(types.keys.sorted().joined(separator: ", ")))"))
    }

    /// An integer or a list of integers (two; or four with `allowFour`: conv2d's padding).
    static func intList(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, allowFour: Bool = false) throws -> [Int]? {
        guard c.contains(key) else { return nil }
        if let one = try? c.decode(Int.self, forKey: key) { return [one] }
        guard let many = try? c.decode([Int].self, forKey: key), (1...2).contains(many.count) || (allowFour && many.count == 4) else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [key],
                debugDescription: allowFour ? "expected an integer, a list of two integers (per axis), four ([top, bottom, left, right]) or \"same\""
                                            : "expected an integer or a list of two integers"))
        }
        return many
    }
}
