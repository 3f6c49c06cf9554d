import Foundation
import FusionData
import FusionModels

/// Range and consistency checks of a decoded configuration, each naming its JSON path.
public enum ConfigValidation {
    /// One problem.
    public struct Issue: Equatable {
        /// Dotted JSON path.
        public let path: String
        /// What was expected.
        public let message: String
    }

    /// Validation metric names (for early stopping, sweeps and comparisons).
    public static var metricNames: [String] { MetricName.spellings }

    /// Every problem found in `c`.
    public static func check(_ c: ExperimentConfig) -> [Issue] {
        var issues: [Issue] = []
        func require(_ ok: Bool, _ path: String, _ message: String) { if !ok { issues.append(Issue(path: path, message: message)) } }
        require(!c.name.isEmpty && safeFileName(c.name) == c.name, "name",
                "expected a name of letters, digits, \"-\", \"_\" and \".\" that does not start with a dot (it names the runs folder), got \"\(c.name)\"")
        let d = c.dataset
        require((0...0.5).contains(d.valFraction), "dataset.val_fraction", "expected a fraction in [0, 0.5], got \(d.valFraction)")
        require((0...0.5).contains(d.testFraction), "dataset.test_fraction", "expected a fraction in [0, 0.5], got \(d.testFraction)")
        require(d.trainLimit >= 0, "dataset.train_limit", "expected 0 (all) or a positive count, got \(d.trainLimit)")
        require(d.generator.samples >= 20, "dataset.generator.samples", "expected at least 20 samples, got \(d.generator.samples)")
        require((8...256).contains(d.generator.imageSize), "dataset.generator.image_size", "expected 8...256 pixels, got \(d.generator.imageSize)")
        require(d.generator.audioSeconds > 0 && d.generator.audioSeconds <= 10, "dataset.generator.audio_seconds",
                "expected a length in (0, 10] seconds, got \(d.generator.audioSeconds)")
        let p = c.preprocessing
        require(p.text.tokenizer != .wordpiece || !p.text.vocab.isEmpty || !c.model.text.pretrained.isEmpty, "preprocessing.text.vocab",
                "WordPiece needs a vocab.txt (or model.text.pretrained, whose folder holds one)")
        require((2...512).contains(p.text.maxLength), "preprocessing.text.max_length", "expected 2...512 tokens, got \(p.text.maxLength)")
        require(p.text.minFrequency >= 1, "preprocessing.text.min_frequency", "expected at least 1, got \(p.text.minFrequency)")
        require(p.text.maxVocabulary >= 4, "preprocessing.text.max_vocabulary", "expected at least 4, got \(p.text.maxVocabulary)")
        require((4...1024).contains(p.image.height), "preprocessing.image.height", "expected 4...1024 pixels, got \(p.image.height)")
        require((4...1024).contains(p.image.width), "preprocessing.image.width", "expected 4...1024 pixels, got \(p.image.width)")
        let channels = ImageDecodeOptions(colorMode: p.image.color).channelCount
        require(p.image.mean.isEmpty || p.image.mean.count == channels, "preprocessing.image.mean", "expected \(channels) value(s) or none")
        require(p.image.std.isEmpty || (p.image.std.count == channels && p.image.std.allSatisfy { $0 > 0 }), "preprocessing.image.std",
                "expected \(channels) positive value(s) or none")
        require(p.image.augment.flip >= 0 && p.image.augment.flip <= 1, "preprocessing.image.augment.flip", "expected a probability in [0, 1]")
        require(p.image.augment.cropPadding >= 0, "preprocessing.image.augment.crop_padding", "expected 0 or more pixels")
        require((1000...192_000).contains(p.audio.sampleRate), "preprocessing.audio.sample_rate", "expected 1000...192000 Hz, got \(p.audio.sampleRate)")
        require(p.audio.duration > 0 && p.audio.duration <= 60, "preprocessing.audio.duration", "expected (0, 60] seconds, got \(p.audio.duration)")
        require(p.audio.nFft >= 16 && p.audio.nFft <= 65536 && p.audio.nFft % 2 == 0, "preprocessing.audio.n_fft",
                "expected an even number in 16...65536, got \(p.audio.nFft)")
        require(p.audio.hopLength >= 1, "preprocessing.audio.hop_length", "expected at least 1, got \(p.audio.hopLength)")
        require(p.audio.nMels >= 1 && p.audio.nMels <= p.audio.nFft / 2 + 1, "preprocessing.audio.n_mels",
                "expected 1...n_fft/2+1 (\(p.audio.nFft / 2 + 1): more mel filters than FFT bins leaves some empty), got \(p.audio.nMels)")
        require(p.audio.nMfcc >= 1 && p.audio.nMfcc <= p.audio.nMels, "preprocessing.audio.n_mfcc",
                "expected 1...n_mels (\(p.audio.nMels)), got \(p.audio.nMfcc)")
        require((0...2).contains(p.audio.deltas), "preprocessing.audio.deltas", "expected 0, 1 or 2, got \(p.audio.deltas)")
        require(p.audio.winLength >= 0 && p.audio.winLength <= p.audio.nFft, "preprocessing.audio.win_length",
                "expected 0 (n_fft) or 1...n_fft (\(p.audio.nFft)), got \(p.audio.winLength)")
        let nyquist = Double(p.audio.sampleRate) / 2
        require(p.audio.fmax >= 0 && p.audio.fmax <= nyquist, "preprocessing.audio.fmax", "expected 0 (sample_rate / 2) or up to \(nyquist) Hz, got \(p.audio.fmax)")
        require(p.audio.fmin >= 0 && p.audio.fmin < (p.audio.fmax > 0 ? p.audio.fmax : nyquist), "preprocessing.audio.fmin",
                "expected 0 up to below fmax, got \(p.audio.fmin)")
        require(p.audio.topDb >= 0 && p.audio.topDb.isFinite, "preprocessing.audio.top_db", "expected 0 (no floor) or a positive number of dB, got \(p.audio.topDb)")
        require(p.audio.inputScale > 0 && p.audio.inputScale.isFinite, "preprocessing.audio.input_scale", "expected a positive number, got \(p.audio.inputScale)")
        require(p.audio.logGain > 0 && p.audio.logGain.isFinite, "preprocessing.audio.log_gain", "expected a positive number, got \(p.audio.logGain)")
        require(p.audio.logScale != 0 && p.audio.logScale.isFinite && p.audio.logOffset.isFinite, "preprocessing.audio.log_scale",
                "expected a finite non-zero scale and a finite offset, got \(p.audio.logScale) and \(p.audio.logOffset)")
        require(p.audio.center || p.audio.duration * Double(p.audio.sampleRate) >= Double(p.audio.nFft), "preprocessing.audio.center",
                "without centring a clip of duration \(p.audio.duration) s gives no frame of n_fft \(p.audio.nFft) samples")
        let m = c.model
        require(!m.modalities.isEmpty, "model.modalities", "expected at least one of \"text\", \"image\", \"audio\"")
        require(m.text.dim >= 1 && m.image.dim >= 1 && m.audio.dim >= 1, "model", "encoder dims must be positive")
        require(!m.image.channels.isEmpty && m.image.channels.allSatisfy { $0 >= 1 }, "model.image.channels", "expected positive channel counts")
        require(!m.audio.channels.isEmpty && m.audio.channels.allSatisfy { $0 >= 1 }, "model.audio.channels", "expected positive channel counts")
        require(m.text.numLayers >= 1, "model.text.num_layers", "expected at least 1, got \(m.text.numLayers)")
        require(m.text.preset != .transformer || (m.text.heads >= 1 && m.text.dim % m.text.heads == 0), "model.text.heads",
                "expected a divisor of model.text.dim (\(m.text.dim)), got \(m.text.heads)")
        // Every encoder's layer stack against the input shapes preprocessing gives, before any data is read.
        // The encoders' shapes come from the preprocessing: only sound settings give them (a hop of 0 would divide by zero).
        if !issues.contains(where: { $0.path.hasPrefix("preprocessing.") }) {
            let inputs = c.modelInputs()
            var parameters = 0.0, activations = 0.0
            for modality in Set(m.modalities).sorted() {
                do {
                    if let plan = try m.plan(for: modality, inputs: inputs) {
                        parameters += plan.parameterEstimate
                        activations += plan.activationEstimate
                    }
                } catch let error as LayerStackError {
                    issues.append(Issue(path: error.path, message: error.message))
                } catch {
                    issues.append(Issue(path: "model.\(modality.rawValue)", message: "\(error)"))
                }
            }
            // Weights, gradients and two Adam moments; activations and their gradients for one batch.
            let gib = (parameters * 16 + activations * Double(c.training.batchSize) * 8) / 1_073_741_824
            require(gib <= c.training.maxMemoryGb, "model",
                    String(format: "training would need about %.1f GiB (%.3g parameters, %.3g activation values per sample × batch %d), "
                           + "over training.max_memory_gb (%.0f); shrink the model or raise the limit", gib, parameters, activations,
                           c.training.batchSize, c.training.maxMemoryGb))
        }
        require(c.training.maxMemoryGb > 0, "training.max_memory_gb", "expected a positive number of GiB")
        require(m.text.preset != .pretrained || !m.text.pretrained.isEmpty || !m.modalities.contains(.text), "model.text.pretrained",
                "the pretrained preset needs the model folder")
        require(m.fusion.rank >= 1, "model.fusion.rank", "expected at least 1, got \(m.fusion.rank)")
        require(m.fusion.projection >= 1, "model.fusion.projection", "expected at least 1, got \(m.fusion.projection)")
        require(m.fusion.heads >= 1 && m.fusion.dim % m.fusion.heads == 0, "model.fusion.heads",
                "expected a divisor of model.fusion.dim (\(m.fusion.dim)), got \(m.fusion.heads)")
        require(m.fusion.modalityDropout >= 0 && m.fusion.modalityDropout < 1, "model.fusion.modality_dropout", "expected a probability in [0, 1)")
        require(m.head.dropout >= 0 && m.head.dropout < 1, "model.head.dropout", "expected a probability in [0, 1)")
        let t = c.training
        require(t.lr > 0, "training.lr", "expected a positive learning rate, got \(t.lr)")
        require(t.weightDecay >= 0, "training.weight_decay", "expected 0 or more, got \(t.weightDecay)")
        require(t.epochs >= 1, "training.epochs", "expected at least 1, got \(t.epochs)")
        require(t.batchSize >= 1, "training.batch_size", "expected at least 1, got \(t.batchSize)")
        require(t.gradAccumulation >= 1, "training.grad_accumulation", "expected at least 1, got \(t.gradAccumulation)")
        require(t.gradClip >= 0, "training.grad_clip", "expected 0 (off) or a positive norm, got \(t.gradClip)")
        require((1...256).contains(t.threads), "training.threads", "expected 1...256, got \(t.threads)")
        require(t.labelSmoothing >= 0 && t.labelSmoothing < 1, "training.label_smoothing", "expected [0, 1), got \(t.labelSmoothing)")
        let alpha = c.evaluation.conformalAlpha
        require(alpha.isFinite && alpha >= 0 && alpha < 1, "evaluation.conformal_alpha", "expected a level in [0, 1) (0: off), got \(alpha)")
        for (key, value) in [("image", t.noise.image), ("audio", t.noise.audio), ("text", t.noise.text), ("probability", t.noise.probability)] {
            require(value >= 0 && value <= 1, "training.noise.\(key)", "expected [0, 1], got \(value)")
        }
        require(t.schedule.stepSize >= 1, "training.schedule.step_size", "expected at least 1")
        require(t.schedule.warmupEpochs >= 0, "training.schedule.warmup_epochs", "expected 0 or more")
        require(t.earlyStopping.patience >= 0, "training.early_stopping.patience", "expected 0 (off) or more")
        for (i, lm) in c.transfer.lrMultipliers.enumerated() {
            require(!lm.pattern.isEmpty, "transfer.lr_multipliers.\(i).pattern", "expected a key pattern")
            require(lm.factor >= 0, "transfer.lr_multipliers.\(i).factor", "expected 0 or more")
        }
        require(c.distill.temperature > 0 && c.distill.temperature.isFinite, "distill.temperature", "expected a positive temperature, got \(c.distill.temperature)")
        require((0...1).contains(c.distill.alpha), "distill.alpha", "expected a weight in [0, 1], got \(c.distill.alpha)")
        for (i, r) in c.transfer.remap.enumerated() {
            require(!r.from.contains("*") && !r.to.contains("*"), "transfer.remap.\(i)", "expected dotted prefixes without *, got \"\(r.from)\" → \"\(r.to)\"")
        }
        for (i, u) in c.transfer.unfreeze.enumerated() {
            require(u.epoch >= 1, "transfer.unfreeze.\(i).epoch", "expected an epoch ≥ 1")
        }
        require(!c.compare.seeds.isEmpty, "compare.seeds", "expected at least one seed")
        let known = ConfigLoader.defaultTree()
        for (section, axes) in [("compare", c.compare.axes), ("sweep", c.sweep.axes)] {
            for (i, axis) in axes.enumerated() {
                require(pathExists(axis.key, in: known), "\(section).axes.\(i).key", "\"\(axis.key)\" is not a key of the experiment format")
                require(!axis.values.isEmpty, "\(section).axes.\(i).values", "expected at least one value")
            }
        }
        for (i, spec) in c.compare.compress.enumerated() {
            require(spec.sparsity >= 0 && spec.sparsity < 1, "compare.compress.\(i).sparsity", "expected a sparsity in [0, 1), got \(spec.sparsity)")
            require(spec.finetuneEpochs >= 0, "compare.compress.\(i).finetune_epochs", "expected 0 or more, got \(spec.finetuneEpochs)")
            require(spec.calibrationBatches >= 1, "compare.compress.\(i).calibration_batches", "expected at least 1, got \(spec.calibrationBatches)")
        }
        require(c.sweep.trials >= 1, "sweep.trials", "expected at least 1")
        // The declared ranges (ConfigRanges, also in the JSON Schema), for keys the checks above did not report.
        if let data = ConfigLoader.resolvedJSON(c).data(using: .utf8), let tree = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            for v in ConfigRanges.violations(in: tree) where !issues.contains(where: { $0.path == v.path }) {
                issues.append(Issue(path: v.path, message: v.message))
            }
        }
        return issues
    }

    /// The files and folders a configuration names that do not exist (or are not what the key
    /// needs): the dataset (unless it is to be generated), the checkpoint or run to start from,
    /// the WordPiece vocabulary and the pretrained model, each only when it is used.
    public static func checkFiles(_ c: ExperimentConfig) -> [Issue] {
        var issues: [Issue] = []
        let fm = FileManager.default
        func isFolder(_ path: String) -> Bool {
            var isDirectory: ObjCBool = false
            return fm.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        if !c.dataset.generate && !fm.fileExists(atPath: c.dataset.path + "/dataset.json") {
            issues.append(Issue(path: "dataset.path", message: isFolder(c.dataset.path)
                ? "\(c.dataset.path) has no dataset.json (see docs/dataset-format.md, or build one with fusionlab import)"
                : "no dataset folder at \(c.dataset.path)"))
        }
        if !c.transfer.initFrom.isEmpty && !fm.fileExists(atPath: c.transfer.initFrom) {
            issues.append(Issue(path: "transfer.init_from", message: "no checkpoint, run folder or experiment file at \(c.transfer.initFrom)"))
        }
        for (i, teacher) in c.distill.teacher.enumerated() where !fm.fileExists(atPath: teacher) {
            issues.append(Issue(path: "distill.teacher" + (c.distill.teacher.count > 1 ? ".\(i)" : ""), message: "no run folder or experiment file at \(teacher)"))
        }
        let readsText = c.model.modalities.contains(.text)
        if readsText && c.preprocessing.text.tokenizer == .wordpiece && c.model.text.preset != .pretrained {
            if c.preprocessing.text.vocab.isEmpty || !fm.fileExists(atPath: c.preprocessing.text.vocab) {
                issues.append(Issue(path: "preprocessing.text.vocab", message: c.preprocessing.text.vocab.isEmpty
                    ? "the wordpiece tokenizer needs a vocab.txt" : "no vocabulary file at \(c.preprocessing.text.vocab)"))
            }
        }
        if c.model.modalities.contains(.image), let weights = c.model.image.weightsFile, !fm.fileExists(atPath: weights) {
            issues.append(Issue(path: "model.image.pretrained", message: "the weights file \(weights) does not exist; \(PretrainedWeights.fetchHint)"))
        }
        if c.model.modalities.contains(.audio), let weights = c.model.audio.weightsFile, !fm.fileExists(atPath: weights) {
            issues.append(Issue(path: "model.audio.pretrained", message: "the weights file \(weights) does not exist; \(PretrainedWeights.fetchHint)"))
        }
        if readsText && c.model.text.preset == .pretrained && !c.model.text.pretrained.isEmpty {
            for file in ["config.json", "model.safetensors", "vocab.txt"] where !fm.fileExists(atPath: c.model.text.pretrained + "/" + file) {
                issues.append(Issue(path: "model.text.pretrained", message: "\(c.model.text.pretrained) has no \(file) (expected a BERT-style model folder)"))
            }
        }
        return issues
    }

    /// Whether a dotted path names a key of `tree`.
    public static func pathExists(_ path: String, in tree: [String: Any]) -> Bool {
        var node: Any = tree
        for key in path.split(separator: ".") {
            guard let object = node as? [String: Any], let next = object[String(key)] else { return false }
            node = next
        }
        return true
    }
}
