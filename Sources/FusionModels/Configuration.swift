import FusionData
import FusionNN
import FusionTensor

/// The text encoder of a model.
public struct TextEncoderConfig: Codable, Equatable, Sendable {
    /// Which encoder.
    public enum Kind: String, Codable, Sendable { case embeddingBag = "embedding_bag", transformer, pretrained }
    /// Encoder kind (default: embedding bag).
    public var kind: Kind = .embeddingBag
    /// Output width (ignored for `pretrained`, which keeps its hidden size).
    public var dim = 64
    /// Vocabulary size (set from the tokenizer by the experiment runner).
    public var vocabSize = 8000
    /// Embedding width of the embedding bag.
    public var embeddingDim = 64
    /// `mean` or `max` for the bag; `mean` or `cls` for the Transformer.
    public var pooling = "mean"
    /// Transformer layers and heads.
    public var layers = 2, heads = 4
    /// Longest token sequence.
    public var maxLength = 64
    /// Folder of a pretrained BERT-style model (config.json, model.safetensors, vocab.txt); empty: none.
    public var pretrained = ""
    /// L2-normalise pretrained sentence embeddings.
    public var normalize = true
    /// A configuration with every default.
    public init() {}
}

/// The image encoder of a model.
public struct ImageEncoderConfig: Codable, Equatable, Sendable {
    /// Input channels (1 grey, 3 RGB).
    public var inChannels = 1
    /// Channels of each stage.
    public var channels = [16, 32]
    /// Kernel size and stride per stage (default 3 and 1).
    public var kernels: [Int] = [], strides: [Int] = []
    /// Pooling after each stage.
    public var pooling: ConvStage.Pooling = .max
    /// Batch norm and residual blocks.
    public var batchNorm = false, residual = false
    /// Output width.
    public var dim = 64
    /// A configuration with every default.
    public init() {}
}

/// The audio encoder of a model.
public struct AudioEncoderConfig: Codable, Equatable, Sendable {
    /// MFCC coefficients per frame (with deltas, if any).
    public var coefficients = 13
    /// Channels of each stage.
    public var channels = [16, 32]
    /// 2-D over time × coefficients or 1-D over time.
    public var layout: ConvAudioEncoder.Layout = .twoD
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
    /// Transformer fusion layers and heads.
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
    /// Builds the classifier for `classes` classes from `config`, initialised from `seed`.
    public static func build(_ config: ModelConfig, classes: Int, seed: UInt64) throws -> MultimodalClassifier {
        var rng = SeededGenerator.derived(seed: seed, stream: "init")
        var encoders: [Modality: any ModalityEncoder] = [:]
        guard !config.modalities.isEmpty else { throw ModelBuildError(description: "model.modalities is empty") }
        for m in Set(config.modalities).sorted() {
            switch m {
            case .text: encoders[m] = try buildText(config.text, seed: seed, rng: &rng)
            case .image:
                let c = config.image
                encoders[m] = ConvImageEncoder(inChannels: c.inChannels, channels: c.channels, kernels: c.kernels, strides: c.strides,
                                               pooling: c.pooling, batchNorm: c.batchNorm, residual: c.residual, dim: c.dim, rng: &rng)
            case .audio:
                let c = config.audio
                encoders[m] = ConvAudioEncoder(coefficients: c.coefficients, channels: c.channels, layout: c.layout, dim: c.dim, rng: &rng)
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
        case .attention: fusion = AttentionFusion(inputDims: dims, dim: f.dim, rng: &rng)
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

    static func buildText<G: RandomNumberGenerator>(_ c: TextEncoderConfig, seed: UInt64, rng: inout G) throws -> any ModalityEncoder {
        switch c.kind {
        case .embeddingBag:
            guard let pooling = EmbeddingBagEncoder.Pooling(rawValue: c.pooling) else {
                throw ModelBuildError(description: "text.pooling must be \"mean\" or \"max\" for the embedding bag, got \"\(c.pooling)\"")
            }
            return EmbeddingBagEncoder(vocab: c.vocabSize, embeddingDim: c.embeddingDim, dim: c.dim, pooling: pooling, rng: &rng)
        case .transformer:
            guard let pooling = TransformerTextEncoder.Pooling(rawValue: c.pooling) else {
                throw ModelBuildError(description: "text.pooling must be \"mean\" or \"cls\" for the Transformer, got \"\(c.pooling)\"")
            }
            guard c.dim % c.heads == 0 else { throw ModelBuildError(description: "text.dim \(c.dim) must be divisible by text.heads \(c.heads)") }
            return TransformerTextEncoder(vocab: c.vocabSize, maxLength: c.maxLength, dim: c.dim, layers: c.layers, heads: c.heads,
                                          pooling: pooling, seed: seed, rng: &rng)
        case .pretrained:
            guard !c.pretrained.isEmpty else { throw ModelBuildError(description: "model.text.pretrained must name the model folder") }
            return try BertEncoder.pretrained(folder: c.pretrained, normalize: c.normalize)
        }
    }
}
