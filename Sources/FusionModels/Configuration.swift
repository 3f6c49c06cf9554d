import FusionData
import FusionNN
import FusionTensor

/// The text encoder of a model: a named preset, or layers written out (`layers`, which wins).
public struct TextEncoderConfig: Codable, Equatable, Sendable {
    /// `embedding_bag` (default), `bag_of_words`, `gru`, `transformer`, or `pretrained` (a BERT-style folder).
    public var preset = "embedding_bag"
    /// The encoder as a layer stack over token ids; when given, `preset` and its settings are not used.
    public var layers: [LayerSpec] = []
    /// Output width of the presets (ignored for `pretrained`, which keeps its hidden size).
    public var dim = 64
    /// Embedding width of `embedding_bag` and `gru`.
    public var embeddingDim = 64
    /// `mean` or `max` pooling over tokens (`embedding_bag`, `transformer`).
    public var pooling = "mean"
    /// Transformer layers and heads.
    public var numLayers = 2, heads = 4
    /// Folder of a pretrained BERT-style model (config.json, model.safetensors, vocab.txt); empty: none.
    public var pretrained = ""
    /// L2-normalise pretrained sentence embeddings.
    public var normalize = true
    /// A configuration with every default.
    public init() {}
}

/// The image encoder of a model: a named preset, or layers written out (`layers`, which wins).
public struct ImageEncoderConfig: Codable, Equatable, Sendable {
    /// `cnn` (default: conv stages, flatten, linear), `cnn_gap` (global average pooling instead of
    /// flatten), or `lenet` (LeNet-5: conv 6@5×5, pool, conv 16@5×5, pool, flatten, 120, `dim`).
    public var preset = "cnn"
    /// The encoder as a layer stack over `[C, H, W]`; when given, `preset` and its settings are not used.
    public var layers: [LayerSpec] = []
    /// Channels of each stage (`cnn`, `cnn_gap`).
    public var channels = [16, 32]
    /// Kernel size and stride per stage (default 3 and 1).
    public var kernels: [Int] = [], strides: [Int] = []
    /// Pooling after each stage: `max`, `avg` or `none`.
    public var pooling = "max"
    /// Batch norm after each convolution, and a residual block after each stage.
    public var batchNorm = false, residual = false
    /// Output width.
    public var dim = 64
    /// A configuration with every default.
    public init() {}
}

/// The audio encoder of a model: a named preset, or layers written out (`layers`, which wins).
public struct AudioEncoderConfig: Codable, Equatable, Sendable {
    /// `cnn2d` (default: 2-D conv stages over coefficients × frames, flatten, linear), `cnn2d_mean`
    /// (mean over the valid frames instead of flatten), `cnn1d_mean` (1-D convs over time), `bigru`
    /// or `bilstm` (a bidirectional recurrent layer of `dim` units per direction, its last states).
    public var preset = "cnn2d"
    /// The encoder as a layer stack over `[coefficients, frames]`; when given, `preset` and its settings are not used.
    public var layers: [LayerSpec] = []
    /// Channels of each stage (convolutional presets).
    public var channels = [16, 32]
    /// Output width.
    public var dim = 64
    /// A configuration with every default.
    public init() {}
}

/// The fusion strategy of a model.
public struct FusionConfig: Codable, Equatable, Sendable {
    /// Strategy (default: concatenation).
    public var kind: FusionKind = .concat
    /// Common width for projecting strategies.
    public var dim = 64
    /// Rank of low-rank fusion.
    public var rank = 4
    /// Per-modality width before tensor fusion's outer product.
    public var projection = 8
    /// Transformer fusion layers; heads of attention and Transformer fusion.
    public var layers = 1, heads = 2
    /// Late fusion: learn modality weights (else a plain mean).
    public var learnedWeights = true
    /// Probability of hiding each modality of a training sample.
    public var modalityDropout: Float = 0
    /// A configuration with every default.
    public init() {}
}

/// The classifier head.
public struct HeadConfig: Codable, Equatable, Sendable {
    /// Hidden widths.
    public var hidden = [64]
    /// Activation after each hidden layer.
    public var activation: Activation.Kind = .relu
    /// Dropout after each hidden layer.
    public var dropout: Float = 0
    /// A configuration with every default.
    public init() {}
}

extension Activation.Kind: Codable {}

/// Everything needed to build a `MultimodalClassifier`.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// The modalities the model reads.
    public var modalities: [Modality] = Modality.allCases
    /// Per-modality encoders.
    public var text = TextEncoderConfig(), image = ImageEncoderConfig(), audio = AudioEncoderConfig()
    /// Fusion strategy.
    public var fusion = FusionConfig()
    /// Classifier head.
    public var head = HeadConfig()
    /// A configuration with every default.
    public init() {}
}

/// Why a model could not be built.
public struct ModelBuildError: Error, CustomStringConvertible {
    /// What is wrong.
    public let description: String
}

extension MultimodalClassifier {
    /// Builds the classifier for `classes` classes from `config` over inputs of `inputs`'
    /// shapes, initialised from `seed`.
    public static func build(_ config: ModelConfig, inputs: ModelInputs, classes: Int, seed: UInt64) throws -> MultimodalClassifier {
        var rng = SeededGenerator.derived(seed: seed, stream: "init")
        var encoders: [Modality: any ModalityEncoder] = [:]
        guard !config.modalities.isEmpty else { throw ModelBuildError(description: "model.modalities is empty") }
        for m in Set(config.modalities).sorted() {
            let plan: LayerPlan?
            do { plan = try config.plan(for: m, inputs: inputs) } catch { throw ModelBuildError(description: "\(error)") }
            if let plan {
                encoders[m] = StackEncoder(plan, vocabulary: inputs.vocabulary, seed: seed ^ Hash64.fnv1a("encoders.\(m.rawValue)".utf8), rng: &rng)
            } else {
                guard !config.text.pretrained.isEmpty else { throw ModelBuildError(description: "model.text.pretrained must name the model folder") }
                encoders[m] = try BertEncoder.pretrained(folder: config.text.pretrained, normalize: config.text.normalize)
            }
        }
        let dims = encoders.mapValues { $0.outputDim }
        let f = config.fusion
        let fusion: any FusionStrategy
        switch f.kind {
        case .concat: fusion = ConcatFusion(inputDims: dims)
        case .late: fusion = LateFusion(inputDims: dims, classes: classes, learnedWeights: f.learnedWeights, rng: &rng)
        case .gated: fusion = GatedFusion(inputDims: dims, dim: f.dim, rng: &rng)
        case .tensor: fusion = TensorFusion(inputDims: dims, projection: f.projection, rng: &rng)
        case .lowRank: fusion = LowRankFusion(inputDims: dims, dim: f.dim, rank: f.rank, rng: &rng)
        case .attention: fusion = AttentionFusion(inputDims: dims, dim: f.dim, heads: f.heads, rng: &rng)
        case .transformer:
            guard f.dim % f.heads == 0 else { throw ModelBuildError(description: "fusion.dim \(f.dim) must be divisible by fusion.heads \(f.heads)") }
            fusion = TransformerFusion(inputDims: dims, dim: f.dim, layers: f.layers, heads: f.heads, seed: seed, rng: &rng)
        case .sum: fusion = PoolingFusion(inputDims: dims, dim: f.dim, operation: .sum, rng: &rng)
        case .product: fusion = PoolingFusion(inputDims: dims, dim: f.dim, operation: .product, rng: &rng)
        }
        let head = fusion.producesLogits ? nil
            : MLPHead(inputDim: fusion.outputDim, hidden: config.head.hidden, classes: classes, activation: config.head.activation,
                      dropout: config.head.dropout, seed: seed, rng: &rng)
        var dropoutSeed = SeededGenerator.derived(seed: seed, stream: "modality-dropout")
        return MultimodalClassifier(encoders: encoders, fusion: fusion, head: head, modalityDropout: f.modalityDropout,
                                    seed: dropoutSeed.next())
    }
}
