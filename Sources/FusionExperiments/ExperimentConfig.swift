import FusionData
import FusionModels
import FusionNN

// The typed experiment file. Every field has a default, so a file names only what it changes;
// JSON keys are the snake_case forms of the property names (`batch_size`, `init_from`).

/// Where the data comes from.
public struct DatasetConfig: Codable, Equatable, Sendable {
    /// Dataset folder (dataset.json + samples.jsonl), relative to the working directory.
    public var path = "Datasets/default"
    /// Generate the default dataset into `path` when it is missing (see `generator`).
    public var generate = false
    /// Settings of the default-dataset generator.
    public var generator = GeneratorConfig()
    /// "fail" stops at the first bad sample line or file; "skip" skips it with a counted warning.
    public var badSamples = "fail"
    /// Fractions split off (seeded) for validation and test when the dataset has no such split.
    public var valFraction = 0.15, testFraction = 0.15
    /// The seed of that split — never the run seed, so every seed of a comparison is tested on
    /// the same samples.
    public var splitSeed: UInt64 = 0
    /// Use at most this many training samples (0: all) — the "few labels" of a transfer run.
    public var trainLimit = 0
    /// Where preprocessed features are cached. Empty: `$FUSIONLAB_CACHE_DIR/<dataset>-<hash>` when
    /// that variable is set, else `<dataset>/.cache`, or `~/.cache/fusionlab/<dataset>-<hash>` when
    /// the dataset folder is not writable.
    public var cacheDir = ""
    /// A configuration with every default.
    public init() {}
}

/// The deterministic generator of the default tri-modal dataset.
public struct GeneratorConfig: Codable, Equatable, Sendable {
    /// Number of samples (split 70/15/15).
    public var samples = 600
    /// The generator's seed.
    public var seed: UInt64 = 1
    /// 0 is the source domain; larger values shift colours, tone frequencies, noise and vocabulary.
    public var domainShift = 0.0
    /// Image side in pixels and audio length in seconds at 8 kHz.
    public var imageSize = 32
    /// Clip length in seconds.
    public var audioSeconds = 0.5
    /// A configuration with every default.
    public init() {}
}

/// Text preprocessing.
public struct TextPreprocessingConfig: Codable, Equatable, Sendable {
    /// "word" (a vocabulary built from the training split) or "wordpiece" (from `vocab`).
    public var tokenizer = "word"
    /// vocab.txt for WordPiece (a pretrained model's folder holds one).
    public var vocab = ""
    /// Tokens per text, after truncation and padding.
    public var maxLength = 16
    /// Word vocabulary: minimum count and maximum size.
    public var minFrequency = 1, maxVocabulary = 5000
    /// A configuration with every default.
    public init() {}
}

/// Image preprocessing and augmentation.
public struct ImagePreprocessingConfig: Codable, Equatable, Sendable {
    /// Size images are resized to.
    public var height = 32, width = 32
    /// "grey" or "rgb".
    public var color = "grey"
    /// Per-channel normalisation (one value for grey, three for RGB; empty: none).
    public var mean: [Float] = [0.5], std: [Float] = [0.25]
    /// Seeded augmentation applied on the fly to training batches.
    public var augment = ImageAugmentConfig()
    /// A configuration with every default.
    public init() {}
}

/// Image augmentation (all off by default).
public struct ImageAugmentConfig: Codable, Equatable, Sendable {
    /// Random crop after zero padding of this many pixels.
    public var cropPadding = 0
    /// Probability of a horizontal flip.
    public var flip: Float = 0
    /// Maximum rotation in degrees.
    public var rotation: Float = 0
    /// Brightness and contrast jitter.
    public var brightness: Float = 0, contrast: Float = 0
    /// Standard deviation of added Gaussian noise.
    public var noise: Float = 0
    /// A configuration with every default.
    public init() {}
}

/// Audio preprocessing (MFCC) and augmentation.
public struct AudioPreprocessingConfig: Codable, Equatable, Sendable {
    /// Rate audio is resampled to, and clip length after padding or trimming.
    public var sampleRate = 8000, duration = 0.5
    /// STFT and mel settings.
    public var nFft = 256, hopLength = 128, nMels = 32, nMfcc = 13
    /// Delta order (0: none) and per-coefficient standardisation.
    public var deltas = 0
    /// Per-coefficient standardisation of each clip.
    public var standardize = true
    /// SpecAugment-style masking of training batches.
    public var timeMasks = 0, maxTimeWidth = 0, frequencyMasks = 0, maxFrequencyWidth = 0
    /// A configuration with every default.
    public init() {}
}

/// All preprocessing.
public struct PreprocessingConfig: Codable, Equatable, Sendable {
    /// Per modality.
    public var text = TextPreprocessingConfig(), image = ImagePreprocessingConfig(), audio = AudioPreprocessingConfig()
    /// A configuration with every default.
    public init() {}
}

/// Learning-rate schedule.
public struct ScheduleConfig: Codable, Equatable, Sendable {
    /// "constant", "step", "cosine".
    public var kind = "constant"
    /// Linear warm-up epochs before it.
    public var warmupEpochs = 0
    /// Step schedule: epochs between decays and the factor.
    public var stepSize = 10
    /// Step schedule's decay factor.
    public var gamma = 0.1
    /// Cosine: final multiplier.
    public var minFactor = 0.0
    /// A configuration with every default.
    public init() {}
}

/// Early stopping on a validation metric.
public struct EarlyStoppingConfig: Codable, Equatable, Sendable {
    /// Stop after this many epochs without improvement (0: never).
    public var patience = 0
    /// Validation metric watched (and used to pick the best checkpoint): "loss", "accuracy", "f1_macro", ...
    public var metric = "accuracy"
    /// Smallest change that counts as an improvement.
    public var minDelta = 0.0
    /// A configuration with every default.
    public init() {}
}

/// Optimisation.
public struct TrainingConfig: Codable, Equatable, Sendable {
    /// "adam", "adamw" or "sgd".
    public var optimizer = "adam"
    /// Base learning rate, weight decay, and SGD momentum.
    public var lr = 0.003, weightDecay = 0.0, momentum = 0.9
    /// Passes over the training split, and samples per batch.
    public var epochs = 10, batchSize = 32
    /// Batches whose gradients add up before each optimizer step.
    public var gradAccumulation = 1
    /// Clip the global gradient norm to this (0: off).
    public var gradClip = 0.0
    /// Threads for kernels, OpenBLAS and preprocessing.
    public var threads = 2
    /// Drop the last incomplete training batch.
    public var dropLast = false
    /// Learning-rate schedule.
    public var schedule = ScheduleConfig()
    /// Early stopping.
    public var earlyStopping = EarlyStoppingConfig()
    /// Label smoothing of the cross-entropy.
    public var labelSmoothing = 0.0
    /// When a batch's loss or gradients are not finite: "stop" (an error naming the epoch and
    /// step) or "skip" (drop that batch's update and count it in the log).
    public var nonFinite = "stop"
    /// Refuse, at validation, a model whose estimated training memory (weights, gradients, Adam
    /// moments, one batch's activations and their gradients) exceeds this many GiB.
    public var maxMemoryGb = 16.0
    /// A configuration with every default.
    public init() {}
}

/// A learning-rate multiplier for the parameters whose keys match `pattern`.
public struct LRMultiplier: Codable, Equatable, Sendable {
    /// Key pattern (`encoders.text.*`).
    public var pattern = ""
    /// Multiplier of the base rate.
    public var factor = 1.0
    /// A multiplier.
    public init(pattern: String = "", factor: Double = 1) { self.pattern = pattern; self.factor = factor }
}

/// Key prefixes renamed when loading a checkpoint (`from` → `to`).
public struct KeyRemap: Codable, Equatable, Sendable {
    /// Prefix in the checkpoint.
    public var from = ""
    /// Prefix in this model.
    public var to = ""
    /// A remapping.
    public init(from: String = "", to: String = "") { self.from = from; self.to = to }
}

/// Patterns unfrozen at the start of an epoch (gradual unfreezing).
public struct UnfreezeStep: Codable, Equatable, Sendable {
    /// 1-based epoch.
    public var epoch = 1
    /// Key patterns.
    public var patterns: [String] = []
    /// A step.
    public init(epoch: Int = 1, patterns: [String] = []) { self.epoch = epoch; self.patterns = patterns }
}

/// Transfer learning.
public struct TransferConfig: Codable, Equatable, Sendable {
    /// A checkpoint (.safetensors), a run directory, or an experiment file whose latest run's best
    /// checkpoint is used. Empty: train from scratch.
    public var initFrom = ""
    /// Load only keys starting with these prefixes (after remapping); empty: every key that fits.
    public var include: [String] = []
    /// Key prefix renames applied to the checkpoint's keys.
    public var remap: [KeyRemap] = []
    /// Parameters frozen at the start (key patterns).
    public var freeze: [String] = []
    /// Per-pattern learning-rate multipliers (discriminative fine-tuning); first match wins.
    public var lrMultipliers: [LRMultiplier] = []
    /// Gradual unfreezing.
    public var unfreeze: [UnfreezeStep] = []
    /// A configuration with every default.
    public init() {}
}

/// Evaluation.
public struct EvaluationConfig: Codable, Equatable, Sendable {
    /// Metrics reported in comparison tables (first one marks the best).
    public var metrics = ["accuracy", "f1_macro"]
    /// A configuration with every default.
    public init() {}
}

/// One axis of a comparison or grid sweep: a key path and its values.
public struct AxisConfig: Codable, Equatable, Sendable {
    /// Key path in this file (`model.fusion.kind`).
    public var key = ""
    /// Values (JSON: strings or numbers).
    public var values: [ConfigValue] = []
    /// An axis.
    public init(key: String = "", values: [ConfigValue] = []) { self.key = key; self.values = values }
}

/// A comparison: variants × seeds, plus unimodal baselines.
public struct CompareConfig: Codable, Equatable, Sendable {
    /// What varies (default: the fusion strategy over concat and late).
    public var axes: [AxisConfig] = [AxisConfig(key: "model.fusion.kind", values: [.string("concat"), .string("late")])]
    /// Seeds each variant runs with.
    public var seeds: [UInt64] = [0]
    /// Add a unimodal baseline per modality (concat fusion of one encoder).
    public var unimodalBaselines = true
    /// A configuration with every default.
    public init() {}
}

/// A hyper-parameter search.
public struct SweepConfig: Codable, Equatable, Sendable {
    /// "grid" (every combination) or "random" (`trials` seeded draws).
    public var method = "grid"
    /// Axes searched.
    public var axes: [AxisConfig] = []
    /// Random search draws.
    public var trials = 4
    /// Validation metric maximised ("loss" is minimised).
    public var metric = "accuracy"
    /// A configuration with every default.
    public init() {}
}

/// A whole experiment file.
public struct ExperimentConfig: Codable, Equatable, Sendable {
    /// Name (runs go to `runs/<name>/...`).
    public var name = "experiment"
    /// The seed every other seed derives from.
    public var seed: UInt64 = 0
    /// Data.
    public var dataset = DatasetConfig()
    /// Preprocessing per modality.
    public var preprocessing = PreprocessingConfig()
    /// Encoders, fusion and head.
    public var model = ModelConfig()
    /// Optimisation.
    public var training = TrainingConfig()
    /// Transfer learning.
    public var transfer = TransferConfig()
    /// Evaluation.
    public var evaluation = EvaluationConfig()
    /// `fusionlab compare` settings.
    public var compare = CompareConfig()
    /// `fusionlab sweep` settings.
    public var sweep = SweepConfig()
    /// A configuration with every default.
    public init() {}
}

/// A JSON scalar in a configuration (sweep and comparison values).
public enum ConfigValue: Codable, Equatable, Sendable, CustomStringConvertible {
    case string(String), number(Double), bool(Bool)

    /// Decodes a string, number or boolean.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) } else if let d = try? c.decode(Double.self) { self = .number(d) } else {
            self = .string(try c.decode(String.self))
        }
    }

    /// Encodes the scalar.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let d): if d == d.rounded() && Swift.abs(d) < 1e15 { try c.encode(Int(d)) } else { try c.encode(d) }
        case .bool(let b): try c.encode(b)
        }
    }

    /// The value as a JSON object for merging into a configuration tree.
    public var jsonObject: Any {
        switch self {
        case .string(let s): return s
        case .number(let d): return d == d.rounded() && Swift.abs(d) < 1e15 ? Int(d) as Any : d as Any
        case .bool(let b): return b
        }
    }

    /// The value as written in a table.
    public var description: String {
        switch self {
        case .string(let s): return s
        case .number(let d): return d == d.rounded() && Swift.abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .bool(let b): return String(b)
        }
    }
}
