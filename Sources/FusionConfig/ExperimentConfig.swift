import FusionData
import FusionModels
import FusionNN

// The typed experiment file. Every field has a default, so a file names only what it changes;
// JSON keys are the snake_case forms of the property names (`batch_size`, `init_from`). Each
// option is documented by its `@Doc` text, the one source of the JSON Schema's descriptions,
// docs/experiment-format.md and `fusionlab schema --key`.

/// How text becomes token ids.
public enum TokenizerKind: String, ConfigChoice {
    /// Lower-cased words, vocabulary from the training split.
    case word
    /// BERT WordPiece with a vocab.txt.
    case wordpiece
}

/// The optimizers.
public enum OptimizerKind: String, ConfigChoice {
    /// Adam (L2 weight decay).
    case adam
    /// AdamW (decoupled weight decay).
    case adamw
    /// SGD with momentum.
    case sgd
}

/// Learning-rate schedules after warm-up.
public enum ScheduleKind: String, ConfigChoice {
    /// The base rate throughout.
    case constant
    /// Times gamma every step_size epochs.
    case step
    /// Cosine annealing to min_factor.
    case cosine
}

/// What a batch with a non-finite loss or gradient does.
public enum NonFinitePolicy: String, ConfigChoice {
    /// Stop with an error naming the epoch and step.
    case stop
    /// Drop that batch's update and count it.
    case skip
}

/// Which checkpoints a run keeps (`training.save`).
public enum CheckpointRetention: String, ConfigChoice {
    /// The best epoch's weights only.
    case best
    /// The best and the last epoch's weights, and the state to resume from.
    case last
    /// Those, and every epoch's weights.
    case all
}

/// The metrics a run reports and selects on.
public enum MetricName: String, ConfigChoice {
    /// Cross-entropy (lower is better).
    case loss
    /// Accuracy.
    case accuracy
    /// F1, macro-averaged over classes.
    case f1Macro = "f1_macro"
    /// F1, micro-averaged.
    case f1Micro = "f1_micro"
    /// F1, weighted by support.
    case f1Weighted = "f1_weighted"
    /// Precision, macro-averaged.
    case precisionMacro = "precision_macro"
    /// Recall, macro-averaged.
    case recallMacro = "recall_macro"
    /// One-vs-rest ROC AUC, macro-averaged.
    case rocAucMacro = "roc_auc_macro"

    /// Whether smaller values are better.
    public var lowerIsBetter: Bool { self == .loss }
}

/// Search strategies of a sweep.
public enum SweepMethod: String, ConfigChoice {
    /// Every combination of the axes.
    case grid
    /// Seeded random draws.
    case random
}

/// Where the data comes from.
public struct DatasetConfig: Codable, Equatable, Sendable {
    @Doc("The dataset folder (dataset.json + samples.jsonl; see docs/dataset-format.md), relative to this experiment file.")
    public var path = "Datasets/default"
    @Doc("Generate the default dataset into `path` when it is missing (see `generator`).")
    public var generate = false
    @Doc("Settings of the built-in synthetic dataset generator (used when generate is true).")
    public var generator = GeneratorConfig()
    @Doc("What a bad sample line or media file does: fail stops with its error (file, line, key); skip leaves it out with a counted warning. Non-finite features count as bad.")
    public var badSamples: BadSamplePolicy = .failFast
    @Doc("Fraction of the samples split off (seeded by split_seed) for validation when no sample of the dataset is marked val.")
    public var valFraction = 0.15
    @Doc("Fraction of the samples split off for testing when no sample of the dataset is marked test.")
    public var testFraction = 0.15
    @Doc("Seed of the val/test split drawn when the dataset has none; never the run seed, so every seed of a comparison is tested on the same samples.")
    public var splitSeed: UInt64 = 0
    @Doc("Use at most this many training samples (0: all) — the \"few labels\" of a transfer run.")
    public var trainLimit = 0
    @Doc("Where preprocessed features are cached. Empty: `$FUSIONLAB_CACHE_DIR/<dataset>-<hash>` when that variable is set, else `<dataset>/.cache`, or `~/.cache/fusionlab/<dataset>-<hash>` when the dataset folder is not writable.")
    public var cacheDir = ""
    /// A configuration with every default.
    public init() {}
}

/// The deterministic generator of the default tri-modal dataset.
public struct GeneratorConfig: Codable, Equatable, Sendable {
    @Doc("Samples generated (split 70/15/15 into train, val and test).")
    public var samples = 600
    @Doc("Seed of the synthetic dataset generator.")
    public var seed: UInt64 = 1
    @Doc("Domain shift of the generated data: 0 is the source domain; larger values shift colours, tone frequencies, noise and vocabulary (for transfer experiments).")
    public var domainShift = 0.0
    @Doc("Side of each generated image in pixels.")
    public var imageSize = 32
    @Doc("Length of each generated clip in seconds.")
    public var audioSeconds = 0.5
    /// A configuration with every default.
    public init() {}
}

/// Learning-rate schedule.
public struct ScheduleConfig: Codable, Equatable, Sendable {
    @Doc("Schedule after warm-up: constant, step (times gamma every step_size epochs) or cosine (annealing to min_factor).")
    public var kind: ScheduleKind = .constant
    @Doc("Epochs of linear warm-up from 0 to lr before the schedule starts.")
    public var warmupEpochs = 0
    @Doc("step: epochs between decays.")
    public var stepSize = 10
    @Doc("step: factor the rate is multiplied by every step_size epochs.")
    public var gamma = 0.1
    @Doc("cosine: the multiplier of the rate at the last epoch.")
    public var minFactor = 0.0
    /// A configuration with every default.
    public init() {}
}

/// Early stopping on a validation metric.
public struct EarlyStoppingConfig: Codable, Equatable, Sendable {
    @Doc("Stop after this many epochs without improvement (0: never).")
    public var patience = 0
    @Doc("Validation metric watched, and used to pick the best checkpoint (loss is minimised, the others maximised).")
    public var metric: MetricName = .accuracy
    @Doc("Smallest change of the metric that counts as an improvement.")
    public var minDelta = 0.0
    /// A configuration with every default.
    public init() {}
}

/// Training samples corrupted with the robustness protocol's noise (`fusionlab robustness`,
/// `Corruption`): a sample's modality is corrupted with `probability`, at a level drawn
/// uniformly from 0 to that modality's maximum.
public struct NoiseAugmentationConfig: Codable, Equatable, Sendable {
    @Doc("Highest image noise level in [0, 1] (0: off): Gaussian pixel noise of σ 0.5·level and an occluding square of level/2 of the image.")
    public var image = 0.0
    @Doc("Highest audio noise level in [0, 1] (0: off): white noise at SNR 30 − 35·level dB on the waveform, before MFCCs (the training clips are read once more).")
    public var audio = 0.0
    @Doc("Highest text noise level in [0, 1] (0: off): tokens dropped, then neighbours swapped, each with probability level/2.")
    public var text = 0.0
    @Doc("Chance that a training sample's modality is corrupted (for each modality with a level above 0).")
    public var probability = 0.5
    /// Off.
    public init() {}
    /// Whether any modality is corrupted.
    public var isActive: Bool { image > 0 || audio > 0 || text > 0 }
}

/// Optimisation.
public struct TrainingConfig: Codable, Equatable, Sendable {
    @Doc("The optimizer (as torch.optim: Adam, AdamW, SGD).")
    public var optimizer: OptimizerKind = .adam
    @Doc("Base learning rate (before the schedule and any transfer lr_multipliers).")
    public var lr = 0.003
    @Doc("Weight decay: L2 added to the gradient for adam and sgd, decoupled for adamw.")
    public var weightDecay = 0.0
    @Doc("Momentum of sgd.")
    public var momentum = 0.9
    @Doc("Passes over the training split.")
    public var epochs = 10
    @Doc("Samples per batch (the last, smaller batch is kept unless drop_last).")
    public var batchSize = 32
    @Doc("Batches whose gradients add up before each optimizer step.")
    public var gradAccumulation = 1
    @Doc("Clip the global gradient norm to this (0: off).")
    public var gradClip = 0.0
    @Doc("Threads for the kernels, OpenBLAS and preprocessing (results are identical for any count).")
    public var threads = 2
    @Doc("Drop the last incomplete training batch of each epoch.")
    public var dropLast = false
    @Doc("How the learning rate changes over epochs.")
    public var schedule = ScheduleConfig()
    @Doc("Stop when a validation metric stops improving; that metric also picks the best checkpoint.")
    public var earlyStopping = EarlyStoppingConfig()
    @Doc("Label smoothing of the cross-entropy (0: none), as torch.nn.CrossEntropyLoss(label_smoothing=).")
    public var labelSmoothing = 0.0
    @Doc("When a batch's loss or gradients are not finite: \"stop\" (an error naming the epoch and step) or \"skip\" (drop that batch's update and count it in the log).")
    public var nonFinite: NonFinitePolicy = .stop
    @Doc("Refuse, at validation, a model whose estimated training memory (weights, gradients, Adam moments, one batch's activations and their gradients) exceeds this many GiB.")
    public var maxMemoryGb = 16.0
    @Doc("Checkpoints a run keeps: \"best\" (best.safetensors only; the resume state is removed when the run finishes), \"last\" (best, last and the resume state) or \"all\" (those and epoch-<n>.safetensors for every epoch).")
    public var save: CheckpointRetention = .last
    @Doc("Whether checkpoints hold frozen parameters (transfer.freeze, pretrained encoders); false leaves them out and loading takes them from where training did (the pretrained model, transfer.init_from).")
    public var saveFrozen = true
    @Doc("Compute the frozen leading layers of the image and audio encoders (transfer.freeze: no trainable parameter, no dropout) once per sample and reuse their outputs (and valid lengths) every epoch; off by itself for a modality whose training inputs change every epoch (image augmentation or noise; SpecAugment or audio noise).")
    public var cacheFrozenPrefix = true
    @Doc("Noise augmentation per modality with the robustness protocol's corruptions (beside model.fusion.modality_dropout).")
    public var noise = NoiseAugmentationConfig()
    /// A configuration with every default.
    public init() {}
}

/// A learning-rate multiplier for the parameters whose keys match `pattern`.
public struct LRMultiplier: Codable, Equatable, Sendable {
    @Doc("Key pattern (encoders.text.*) matched against dotted parameter keys.")
    public var pattern = ""
    @Doc("Multiplier of the base learning rate for the matching parameters.")
    public var factor = 1.0
    /// A multiplier.
    public init(pattern: String = "", factor: Double = 1) { self.pattern = pattern; self.factor = factor }
}

/// Key prefixes renamed when loading a checkpoint (`from` → `to`).
public struct KeyRemap: Codable, Equatable, Sendable {
    @Doc("Key prefix in the checkpoint.")
    public var from = ""
    @Doc("Key prefix in this model it becomes.")
    public var to = ""
    /// A remapping.
    public init(from: String = "", to: String = "") { self.from = from; self.to = to }
}

/// Patterns unfrozen at the start of an epoch (gradual unfreezing).
public struct UnfreezeStep: Codable, Equatable, Sendable {
    @Doc("Epoch (1-based) at whose start the patterns are unfrozen.")
    public var epoch = 1
    @Doc("Key patterns unfrozen at that epoch.")
    public var patterns: [String] = []
    /// A step.
    public init(epoch: Int = 1, patterns: [String] = []) { self.epoch = epoch; self.patterns = patterns }
}

/// Transfer learning.
public struct TransferConfig: Codable, Equatable, Sendable {
    @Doc("A checkpoint (.safetensors), a run directory, or an experiment file whose latest run's best checkpoint is used. Empty: train from scratch.")
    public var initFrom = ""
    @Doc("Load only the keys matching these patterns, after remapping (every key pattern follows one rule: without * it matches the key and its dotted children, encoders.text; * matches any run of characters, encoders.*.weight); empty: every key that fits.")
    public var include: [String] = []
    @Doc("Renames of the checkpoint's keys before loading: a dotted prefix (no *) and what it becomes; the first that matches applies.")
    public var remap: [KeyRemap] = []
    @Doc("Parameters frozen from the start: key patterns (encoders.text.*), matched against dotted parameter keys.")
    public var freeze: [String] = []
    @Doc("Per-pattern learning-rate multipliers (discriminative fine-tuning); first match wins.")
    public var lrMultipliers: [LRMultiplier] = []
    @Doc("Gradual unfreezing: key patterns unfrozen at the start of given epochs.")
    public var unfreeze: [UnfreezeStep] = []
    /// A configuration with every default.
    public init() {}
}

/// Knowledge distillation from a trained teacher (or an ensemble of them).
public struct DistillConfig: Codable, Equatable, Sendable {
    @Doc("Teacher: a run folder, an experiment file (its latest finished run), or a list of them (an ensemble: the mean of their probabilities at the temperature); relative to this file. Empty: no distillation. The student may read fewer modalities than the teacher.")
    public var teacher: [String] = []
    @Doc("Temperature T of both softmaxes; the distillation term is scaled by T² so its gradients keep their size.")
    public var temperature = 4.0
    @Doc("Weight a of the distillation term: the loss is a·T²·KL(teacher ‖ student at T) + (1 − a)·cross-entropy with the labels.")
    public var alpha = 0.5
    /// A configuration with every default.
    public init() {}
}

/// Evaluation.
public struct EvaluationConfig: Codable, Equatable, Sendable {
    @Doc("Metrics reported in comparison tables; the first one is tested for significance and marks the best variant.")
    public var metrics: [MetricName] = [.accuracy, .f1Macro]
    @Doc("Apply the temperature fitted on the validation split (metrics.json: calibration.temperature) in predict, serve and the ONNX export's description. metrics.json's calibration block is written either way.")
    public var calibrate = false
    @Doc("Miscoverage level α of split conformal prediction sets (0: off). 0.1 gives sets that hold the true class for at least 90 % of exchangeable samples. The validation split is then halved by sample id: one half selects the best epoch, the other calibrates the sets (and the temperature), so calibration samples are exchangeable with test samples. metrics.json reports conformal.coverage and conformal.mean_set_size on test; predict and serve return the set.")
    public var conformalAlpha = 0.0
    /// A configuration with every default.
    public init() {}
}

/// One axis of a comparison or grid sweep: a key path and its values.
public struct AxisConfig: Codable, Equatable, Sendable {
    @Doc("Dotted key path in this file (model.fusion.kind).")
    public var key = ""
    @Doc("Values the key takes (strings, numbers or booleans).")
    public var values: [ConfigValue] = []
    /// An axis.
    public init(key: String = "", values: [ConfigValue] = []) { self.key = key; self.values = values }
}

/// A comparison: variants × seeds, plus unimodal baselines.
public struct CompareConfig: Codable, Equatable, Sendable {
    @Doc("What varies between the compared variants: a key path and its values per axis (several axes: every combination).")
    public var axes: [AxisConfig] = [AxisConfig(key: "model.fusion.kind", values: [.string("concat"), .string("late")])]
    @Doc("Run seeds each variant is trained with (the data split stays fixed by dataset.split_seed).")
    public var seeds: [UInt64] = [0]
    @Doc("Also train a unimodal baseline per modality (its encoder and the head alone).")
    public var unimodalBaselines = true
    @Doc("Compressed versions of every compared run (int8, magnitude or channel pruning), each a row beside its source with parameters, file size and inference speed.")
    public var compress: [CompressionSpec] = []
    /// A configuration with every default.
    public init() {}
}

/// How a run is compressed (`fusionlab compress`, `compare.compress`).
public enum CompressionKind: String, ConfigChoice {
    /// Post-training int8 quantization.
    case int8
    /// Global unstructured magnitude pruning on the Zhu–Gupta schedule.
    case magnitude
    /// Structured pruning of channels and units by L1 norm; the layers shrink.
    case channels
}

/// One compression of a comparison's runs.
public struct CompressionSpec: Codable, Equatable, Sendable {
    @Doc("int8 (post-training quantization), magnitude (unstructured pruning, masks) or channels (structured pruning, smaller layers).")
    public var kind: CompressionKind = .int8
    @Doc("Pruning: the share of weights (magnitude) or of each layer's channels (channels) removed, in [0, 1).")
    public var sparsity = 0.5
    @Doc("Pruning: fine-tuning epochs after pruning; the magnitude schedule ramps over all but the last (0: prune in one shot).")
    public var finetuneEpochs = 2
    @Doc("int8: training batches (in order, unaugmented) that calibrate the input ranges.")
    public var calibrationBatches = 16

    /// A compression with every default.
    public init() {}

    /// Decodes the keys given; the others keep their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CompressionSpec()
        kind = try c.decodeIfPresent(CompressionKind.self, forKey: .kind) ?? d.kind
        sparsity = try c.decodeIfPresent(Double.self, forKey: .sparsity) ?? d.sparsity
        finetuneEpochs = try c.decodeIfPresent(Int.self, forKey: .finetuneEpochs) ?? d.finetuneEpochs
        calibrationBatches = try c.decodeIfPresent(Int.self, forKey: .calibrationBatches) ?? d.calibrationBatches
    }

    private enum CodingKeys: String, CodingKey { case kind, sparsity, finetuneEpochs, calibrationBatches }
}

/// A hyper-parameter search.
public struct SweepConfig: Codable, Equatable, Sendable {
    @Doc("grid: every combination of the axes; random: trials seeded draws.")
    public var method: SweepMethod = .grid
    @Doc("Key paths searched and their values.")
    public var axes: [AxisConfig] = []
    @Doc("Draws of the random search.")
    public var trials = 4
    @Doc("Validation metric the sweep optimises (loss is minimised, the others maximised).")
    public var metric: MetricName = .accuracy
    /// A configuration with every default.
    public init() {}
}

/// A whole experiment file.
public struct ExperimentConfig: Codable, Equatable, Sendable {
    @Doc("The experiment's name: runs go to runs/<name>/<timestamp>-<hash>/ (letters, digits, -, _ and .).")
    public var name = "experiment"
    @Doc("The run seed: initialisation, data order, augmentation and dropout derive from it.")
    public var seed: UInt64 = 0
    @Doc("Where the data comes from, how it is split, and what bad samples do.")
    public var dataset = DatasetConfig()
    @Doc("How each modality becomes tensors: once per split, cached; augmentation on the fly.")
    public var preprocessing = PreprocessingConfig()
    @Doc("Encoders per modality, the fusion strategy and the classifier head.")
    public var model = ModelConfig()
    @Doc("Optimizer, schedule, epochs, batches, early stopping, clipping, threads and memory limit.")
    public var training = TrainingConfig()
    @Doc("Start from a trained model: which keys to load, freeze, per-group learning rates and gradual unfreezing.")
    public var transfer = TransferConfig()
    @Doc("Learn from a trained teacher's softened predictions besides the labels.")
    public var distill = DistillConfig()
    @Doc("What is reported.")
    public var evaluation = EvaluationConfig()
    @Doc("fusionlab compare: variants × seeds, with unimodal baselines, in one table.")
    public var compare = CompareConfig()
    @Doc("fusionlab sweep: a grid or seeded random search over key paths.")
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
