import Foundation

/// The fixed range of every numeric key of the format that has one: the one declaration that the
/// JSON Schema (`minimum`, `maximum` and their exclusive forms), the reference page and the
/// validator all read. Ranges that depend on other keys (n_mels ≤ n_fft / 2 + 1, heads dividing
/// dim) are checked by `ConfigValidation` beside these.
public enum ConfigRanges {
    /// A numeric range; nil bounds are open.
    public struct Range: Sendable {
        /// Inclusive bounds.
        public var minimum: Double?, maximum: Double?
        /// Exclusive bounds.
        public var exclusiveMinimum: Double?, exclusiveMaximum: Double?

        /// Whether `x` lies in the range (NaN never does).
        public func contains(_ x: Double) -> Bool {
            guard !x.isNaN else { return false }
            if let m = minimum, x < m { return false }
            if let m = maximum, x > m { return false }
            if let m = exclusiveMinimum, x <= m { return false }
            if let m = exclusiveMaximum, x >= m { return false }
            return true
        }

        /// The range in words ("at least 1", "more than 0 and at most 60").
        public var text: String {
            func n(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
            var parts: [String] = []
            if let m = minimum { parts.append("at least \(n(m))") }
            if let m = exclusiveMinimum { parts.append("more than \(n(m))") }
            if let m = maximum { parts.append("at most \(n(m))") }
            if let m = exclusiveMaximum { parts.append("less than \(n(m))") }
            return parts.isEmpty ? "any number" : parts.joined(separator: " and ")
        }
    }

    static func atLeast(_ v: Double) -> Range { Range(minimum: v) }
    static func between(_ a: Double, _ b: Double) -> Range { Range(minimum: a, maximum: b) }
    static let positive = Range(exclusiveMinimum: 0)
    static let probability = Range(minimum: 0, maximum: 1)
    static let halfOpenProbability = Range(minimum: 0, exclusiveMaximum: 1)

    /// Every fixed range, by dotted key path.
    public static let ranges: [String: Range] = [
        "dataset.val_fraction": between(0, 0.5), "dataset.test_fraction": between(0, 0.5), "dataset.train_limit": atLeast(0),
        "dataset.generator.samples": atLeast(20), "dataset.generator.image_size": between(8, 256),
        "dataset.generator.audio_seconds": Range(maximum: 10, exclusiveMinimum: 0),
        "preprocessing.text.max_length": between(2, 512), "preprocessing.text.min_frequency": atLeast(1),
        "preprocessing.text.max_vocabulary": atLeast(4),
        "preprocessing.image.height": between(4, 1024), "preprocessing.image.width": between(4, 1024),
        "preprocessing.image.augment.flip": probability, "preprocessing.image.augment.crop_padding": atLeast(0),
        "preprocessing.audio.sample_rate": between(1000, 192_000), "preprocessing.audio.duration": Range(maximum: 60, exclusiveMinimum: 0),
        "preprocessing.audio.n_fft": between(16, 65536), "preprocessing.audio.hop_length": atLeast(1), "preprocessing.audio.n_mels": atLeast(1),
        "preprocessing.audio.n_mfcc": atLeast(1), "preprocessing.audio.deltas": between(0, 2), "preprocessing.audio.win_length": atLeast(0),
        "preprocessing.audio.fmax": atLeast(0), "preprocessing.audio.fmin": atLeast(0), "preprocessing.audio.top_db": atLeast(0),
        "preprocessing.audio.input_scale": positive, "preprocessing.audio.log_gain": positive,
        "model.text.dim": atLeast(1), "model.image.dim": atLeast(1), "model.audio.dim": atLeast(1), "model.text.num_layers": atLeast(1),
        "model.fusion.dim": atLeast(1), "model.fusion.rank": atLeast(1), "model.fusion.projection": atLeast(1), "model.fusion.heads": atLeast(1),
        "model.fusion.layers": atLeast(1), "model.fusion.modality_dropout": halfOpenProbability, "model.head.dropout": halfOpenProbability,
        "training.max_memory_gb": positive, "training.lr": positive, "training.weight_decay": atLeast(0), "training.epochs": atLeast(1),
        "training.batch_size": atLeast(1), "training.grad_accumulation": atLeast(1), "training.grad_clip": atLeast(0),
        "training.threads": between(1, 256), "training.label_smoothing": halfOpenProbability,
        "training.schedule.step_size": atLeast(1), "training.schedule.warmup_epochs": atLeast(0), "training.early_stopping.patience": atLeast(0),
        "evaluation.conformal_alpha": halfOpenProbability,
        "distill.temperature": positive, "distill.alpha": probability, "sweep.trials": atLeast(1),
    ]

    /// The JSON Schema keywords of `path`'s range.
    static func schemaKeywords(_ path: String) -> [String: Any] {
        guard let r = ranges[path] else { return [:] }
        var out: [String: Any] = [:]
        if let v = r.minimum { out["minimum"] = v }
        if let v = r.maximum { out["maximum"] = v }
        if let v = r.exclusiveMinimum { out["exclusiveMinimum"] = v }
        if let v = r.exclusiveMaximum { out["exclusiveMaximum"] = v }
        return out
    }

    /// The keys of a resolved configuration tree that lie outside their range.
    static func violations(in tree: [String: Any]) -> [(path: String, message: String)] {
        var out: [(path: String, message: String)] = []
        for (path, range) in ranges.sorted(by: { $0.key < $1.key }) {
            var node: Any? = tree
            for part in path.split(separator: ".") { node = (node as? [String: Any])?[String(part)] }
            guard let number = (node as? NSNumber)?.doubleValue, !(node is Bool) else { continue }
            if !range.contains(number) { out.append((path, "expected \(range.text), got \(number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number))")) }
        }
        return out
    }
}
