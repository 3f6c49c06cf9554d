import FusionCore
import FusionReports
import FusionConfig
import Foundation
import FusionData
import FusionModels
import FusionTensor

/// The data side of a run: the dataset (generated when asked), its splits, the text encoder,
/// the preprocessing settings and one memory-mapped feature cache per split.
public final class ExperimentData {
    /// The dataset after any seeded split or training limit.
    public let dataset: Dataset
    /// Class names, index = class id.
    public let classNames: [String]
    /// The tokenizer, when the model reads text.
    public let textEncoder: TextEncoder?
    /// What the caches hold.
    public let settings: PreprocessingSettings
    /// One cache per split.
    public let caches: [Split: FeatureCache]
    /// The configuration the data was prepared for.
    public let config: ExperimentConfig

    init(dataset: Dataset, textEncoder: TextEncoder?, settings: PreprocessingSettings, caches: [Split: FeatureCache], config: ExperimentConfig) {
        self.dataset = dataset
        classNames = dataset.info.labels
        self.textEncoder = textEncoder
        self.settings = settings
        self.caches = caches
        self.config = config
    }

    /// Prepares the data for `config`: generates the default dataset if asked and missing, reads
    /// and validates the folder, splits it when it has no validation or test samples, builds or
    /// loads the tokenizer (saving a word vocabulary to `vocabularyPath`), and opens or builds the
    /// feature caches.
    /// With `caches` false (predicting single files) no split is preprocessed. `detail` receives
    /// what a verbose run shows: the dataset's splits, the tokenizer and each cache file.
    public static func prepare(_ config: ExperimentConfig, vocabularyPath: String?, reuseVocabulary: Bool = false, caches wanted: Bool = true,
                               log: @escaping (String) -> Void, detail: (String) -> Void = { _ in }) throws -> ExperimentData {
        let d = config.dataset
        if d.generate { try DefaultDataset.ensure(d.generator, at: d.path, log: log) }
        guard FileManager.default.fileExists(atPath: d.path + "/dataset.json") else {
            let resolved = URL(fileURLWithPath: d.path).standardizedFileURL.path
            let folderExists = FileManager.default.fileExists(atPath: resolved)
            throw ExperimentError("dataset.path: \(resolved)/dataset.json does not exist"
                + (folderExists ? " (the folder is there but holds no dataset; see docs/dataset-format.md)"
                                : " (no such folder; dataset.path is relative to the experiment file that names it, a --set path to the current folder)"))
        }
        let policy = d.badSamples
        var dataset = try Dataset.load(path: d.path, policy: policy, log: log)
        if !dataset.warnings.isEmpty { log("dataset: skipped \(dataset.warnings.count) bad sample line(s)") }
        dataset = seededSplit(dataset, config: config)
        if d.trainLimit > 0 { dataset = limitTraining(dataset, to: d.trainLimit, seed: config.seed) }
        guard !dataset.samples(in: .train).isEmpty else { throw ExperimentError("\(d.path): no training samples") }

        let modalities = Set(config.model.modalities)
        var textEncoder: TextEncoder?
        if modalities.contains(.text) {
            if reuseVocabulary, config.preprocessing.text.tokenizer == .word, let vocabularyPath {
                textEncoder = try WordVocabulary.load(path: vocabularyPath)
            } else {
                textEncoder = try makeTextEncoder(config, dataset: dataset, savingTo: vocabularyPath)
            }
        }
        let settings = preprocessingSettings(config)
        // What preprocessing will do to the media, before any of it is done.
        let survey = DataSurvey.survey(dataset, settings: settings)
        survey.lines.forEach(log)
        survey.warnings.forEach { log("warning: " + $0) }
        let cacheDirectory = featureCacheDirectory(config, datasetRoot: dataset.root, datasetName: dataset.info.name)
        var caches: [Split: FeatureCache] = [:]
        for split in Split.allCases where wanted && !dataset.samples(in: split).isEmpty {
            caches[split] = try FeatureCache.load(dataset: dataset, split: split, settings: settings, textEncoder: textEncoder,
                                                  directory: cacheDirectory + (d.trainLimit > 0 ? "/limit\(d.trainLimit)-\(config.seed)" : ""),
                                                  policy: policy, threads: config.training.threads, log: log)
        }
        detail("dataset \(dataset.root): " + Split.allCases.map { "\($0.rawValue) \(dataset.samples(in: $0).count)" }.joined(separator: ", ")
               + ", labels \(dataset.info.labels.count)")
        if let textEncoder { detail("text: \(type(of: textEncoder)) with \(textEncoder.vocabularySize) tokens") }
        for (split, cache) in caches.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            detail("feature cache \(split.rawValue): \(cache.path) (\(cache.count) samples)")
        }
        return ExperimentData(dataset: dataset, textEncoder: textEncoder, settings: settings, caches: caches, config: config)
    }

    /// The feature cache folder (see `DatasetConfig.cacheDir`).
    static func featureCacheDirectory(_ config: ExperimentConfig, datasetRoot: String, datasetName: String) -> String {
        if !config.dataset.cacheDir.isEmpty { return config.dataset.cacheDir }
        let perDataset = safeFileName(datasetName) + String(format: "-%08llx", Hash64.fnv1a(Array(datasetRoot.utf8)) & 0xFFFF_FFFF)
        if let shared = ProcessInfo.processInfo.environment["FUSIONLAB_CACHE_DIR"], !shared.isEmpty { return shared + "/" + perDataset }
        if FileManager.default.isWritableFile(atPath: datasetRoot) { return datasetRoot + "/.cache" }
        let home = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.cache")
        return home + "/fusionlab/" + perDataset
    }

    /// Datasets whose samples are all in one split get seeded validation and test splits.
    package static func seededSplit(_ dataset: Dataset, config: ExperimentConfig) -> Dataset {
        guard dataset.samples(in: .val).isEmpty || dataset.samples(in: .test).isEmpty else { return dataset }
        var rng = SeededGenerator.derived(seed: config.dataset.splitSeed, stream: "split")
        let ids = dataset.samples.map { $0.id }.shuffled(using: &rng)
        let n = ids.count
        let nVal = dataset.samples(in: .val).isEmpty ? Int(Double(n) * config.dataset.valFraction) : 0
        let nTest = dataset.samples(in: .test).isEmpty ? Int(Double(n) * config.dataset.testFraction) : 0
        var assigned: [String: Split] = [:]
        for (rank, id) in ids.enumerated() where rank < nVal + nTest { assigned[id] = rank < nVal ? .val : .test }
        return dataset.resplit { assigned[$0.id] ?? $0.split }
    }

    /// Keeps `limit` training samples (seeded), dropping the rest of the training split.
    static func limitTraining(_ dataset: Dataset, to limit: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator.derived(seed: seed, stream: "train-limit")
        let kept = Set(dataset.samples(in: .train).map { $0.id }.shuffled(using: &rng).prefix(limit))
        return dataset.resplit { $0.split != .train || kept.contains($0.id) ? $0.split : nil }
    }

    static func makeTextEncoder(_ config: ExperimentConfig, dataset: Dataset, savingTo path: String?) throws -> TextEncoder {
        let t = config.preprocessing.text
        switch t.tokenizer {
        case .wordpiece:
            let vocab = t.vocab.isEmpty ? config.model.text.pretrained + "/vocab.txt" : t.vocab
            return try WordPieceTokenizer(vocabPath: vocab)
        case .word:
            // A fixed vocabulary (an update keeps its parent's ids).
            if !t.vocab.isEmpty {
                let vocabulary = try WordVocabulary.load(path: t.vocab)
                if let path, path != t.vocab { try vocabulary.save(to: path) }
                return vocabulary
            }
        }
        let texts = dataset.samples(in: .train).compactMap { $0.text }
        let vocabulary = try WordVocabulary.build(from: texts, minFrequency: t.minFrequency, maxSize: t.maxVocabulary)
        if let path { try vocabulary.save(to: path) }
        return vocabulary
    }

    /// The preprocessing `config` describes (`ExperimentConfig.preprocessingSettings`).
    public static func preprocessingSettings(_ config: ExperimentConfig) -> PreprocessingSettings { config.preprocessingSettings }

    /// The encoders' input shapes before any data is read (`ExperimentConfig.modelInputs`).
    public static func modelInputs(_ config: ExperimentConfig, vocabulary: Int? = nil) -> ModelInputs { config.modelInputs(vocabulary: vocabulary) }

    /// The encoders' input shapes, with the tokenizer's vocabulary.
    public var modelInputs: ModelInputs { ExperimentData.modelInputs(config, vocabulary: textEncoder?.vocabularySize) }

    /// A loader over `split`: training batches are shuffled and augmented per epoch (unless
    /// `training` says otherwise: `false` reads the training split in order, as evaluation does).
    public func loader(_ split: Split, training: Bool? = nil) throws -> BatchLoader {
        guard let cache = caches[split] else { throw ExperimentError("\(dataset.root): the dataset has no \(split.rawValue) samples") }
        let p = config.preprocessing
        let training = training ?? (split == .train)
        var augmentation = OnTheFlyAugmentation()
        if training {
            let a = p.image.augment
            if a.cropPadding > 0 || a.flip > 0 || a.rotation > 0 || a.brightness > 0 || a.contrast > 0 || a.noise > 0 {
                var image = ImageAugmentation()
                image.cropPadding = a.cropPadding
                image.horizontalFlipProbability = a.flip
                image.maxRotationDegrees = a.rotation
                image.brightness = a.brightness
                image.contrast = a.contrast
                image.noiseStd = a.noise
                augmentation.image = image
            }
            if p.audio.timeMasks > 0 || p.audio.frequencyMasks > 0 {
                var spec = SpecAugment()
                spec.timeMasks = p.audio.timeMasks
                spec.maxTimeWidth = p.audio.maxTimeWidth
                spec.frequencyMasks = p.audio.frequencyMasks
                spec.maxFrequencyWidth = p.audio.maxFrequencyWidth
                augmentation.audio = spec
            }
        }
        var seeds = SeededGenerator.derived(seed: config.seed, stream: "data")
        return BatchLoader(cache: cache, batchSize: training ? config.training.batchSize : max(config.training.batchSize, 128),
                           shuffle: training, dropLast: training && config.training.dropLast,
                           seed: seeds.next(),
                           augmentation: augmentation, imageMean: settings.image?.mean, imageStd: settings.image?.std)
    }
}
