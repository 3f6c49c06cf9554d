import Foundation

/// How far predicted probabilities are from observed frequencies, and the temperature that
/// brings them closer (Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural
/// Networks", ICML 2017).
///
/// - ECE: the top-label expected calibration error over 15 equal-width confidence bins (edges as
///   scikit-learn's `calibration_curve(strategy="uniform")`: a confidence on an edge belongs to
///   the lower bin), `Σ_b (n_b / n) · |accuracy_b − confidence_b|`; MCE is the largest bin gap.
/// - Brier: the multiclass Brier score, `mean_i Σ_k (p_ik − 1[y_i = k])²` (0 is perfect, 2 the worst).
/// - Temperature: the `T` that minimises the validation negative log-likelihood of
///   `softmax(log p / T)` (the same as scaling the logits), searched over T in [0.05, 20]; the
///   ECE and Brier after scaling are measured on the evaluated split. When the model makes no
///   error on validation the likelihood keeps rising as T → 0, so T stays 1 and says why.
public struct Calibration: Codable, Sendable, Equatable {
    /// One confidence bin of the reliability diagram.
    public struct Bin: Codable, Sendable, Equatable {
        /// The bin's confidence range.
        public var lower: Double, upper: Double
        /// Samples in the bin, their mean confidence and their accuracy.
        public var count: Int, confidence: Double, accuracy: Double
    }

    /// Number of equal-width bins.
    public var bins: Int
    /// Expected and maximum calibration error.
    public var ece: Double, mce: Double
    /// The multiclass Brier score.
    public var brier: Double
    /// The fitted temperature (1 when there was no validation split), and where it was fitted.
    public var temperature: Double
    /// `val`, or `none`.
    public var temperatureFittedOn: String
    /// ECE and Brier with the temperature applied.
    public var eceAfterScaling: Double, brierAfterScaling: Double
    /// The reliability diagram before scaling (non-empty bins).
    public var reliability: [Bin]

    enum CodingKeys: String, CodingKey {
        case bins, ece, mce, brier, temperature, reliability
        case temperatureFittedOn = "temperature_fitted_on", eceAfterScaling = "ece_after_scaling", brierAfterScaling = "brier_after_scaling"
    }

    /// Measures `probabilities` (one row per sample) against `labels`; the temperature is fitted
    /// on `validation` when given.
    public static func measure(probabilities: [[Double]], labels: [Int], validation: (probabilities: [[Double]], labels: [Int])?,
                               bins: Int = 15) -> Calibration {
        let (ece, mce, reliability) = expectedCalibrationError(probabilities, labels: labels, bins: bins)
        // With no error on validation, the NLL keeps falling as T → 0: nothing to fit there.
        let errorless = validation.map { v in zip(v.probabilities, v.labels).allSatisfy { p, y in p.indices.allSatisfy { p[$0] <= p[y] } } } ?? false
        let temperature = errorless ? 1 : validation.map { fitTemperature($0.probabilities, labels: $0.labels) } ?? 1
        let scaled = probabilities.map { scale($0, temperature: temperature) }
        return Calibration(bins: bins, ece: ece, mce: mce, brier: brierScore(probabilities, labels: labels), temperature: temperature,
                           temperatureFittedOn: validation == nil ? "none" : (errorless ? "none (no validation errors to fit on)" : "val"),
                           eceAfterScaling: expectedCalibrationError(scaled, labels: labels, bins: bins).ece,
                           brierAfterScaling: brierScore(scaled, labels: labels), reliability: reliability)
    }

    /// ECE, MCE and the non-empty bins of the top-label reliability diagram.
    public static func expectedCalibrationError(_ probabilities: [[Double]], labels: [Int], bins: Int = 15)
        -> (ece: Double, mce: Double, bins: [Bin]) {
        let edges = (0...bins).map { Double($0) * (1 + 1e-8) / Double(bins) }
        var count = [Int](repeating: 0, count: bins), confidence = [Double](repeating: 0, count: bins), correct = [Double](repeating: 0, count: bins)
        for (p, y) in zip(probabilities, labels) {
            guard let (top, c) = p.enumerated().max(by: { $0.element < $1.element }).map({ ($0.offset, $0.element) }) else { continue }
            // searchsorted(inner edges, c, side="left"): the number of inner edges below c.
            var b = 0
            while b < bins - 1 && edges[b + 1] < c { b += 1 }
            count[b] += 1; confidence[b] += c; correct[b] += top == y ? 1 : 0
        }
        let n = Double(max(count.reduce(0, +), 1))
        var ece = 0.0, mce = 0.0, out: [Bin] = []
        for b in 0..<bins where count[b] > 0 {
            let conf = confidence[b] / Double(count[b]), acc = correct[b] / Double(count[b])
            ece += Double(count[b]) / n * abs(acc - conf)
            mce = max(mce, abs(acc - conf))
            out.append(Bin(lower: edges[b], upper: min(edges[b + 1], 1), count: count[b], confidence: conf, accuracy: acc))
        }
        return (ece, mce, out)
    }

    /// The multiclass Brier score.
    public static func brierScore(_ probabilities: [[Double]], labels: [Int]) -> Double {
        guard !labels.isEmpty else { return .nan }
        var total = 0.0
        for (p, y) in zip(probabilities, labels) {
            for (k, v) in p.enumerated() { let t = k == y ? 1.0 : 0.0; total += (v - t) * (v - t) }
        }
        return total / Double(labels.count)
    }

    /// `softmax(log p / T)`.
    public static func scale(_ p: [Double], temperature: Double) -> [Double] {
        guard temperature != 1 else { return p }
        let logits = p.map { log(max($0, 1e-300)) / temperature }
        let top = logits.max() ?? 0
        let e = logits.map { exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// Mean negative log-likelihood of `labels` under `softmax(log p / T)`.
    public static func negativeLogLikelihood(_ probabilities: [[Double]], labels: [Int], temperature: Double) -> Double {
        var total = 0.0
        for (p, y) in zip(probabilities, labels) {
            let logits = p.map { log(max($0, 1e-300)) / temperature }
            let top = logits.max() ?? 0
            let lse = top + log(logits.reduce(0) { $0 + exp($1 - top) })
            total += lse - logits[y]
        }
        return total / Double(max(labels.count, 1))
    }

    /// The temperature in [0.05, 20] minimising the NLL: golden-section search on log T (the
    /// NLL is unimodal in T for a fixed set of log-probabilities), to a relative 1e-7.
    public static func fitTemperature(_ probabilities: [[Double]], labels: [Int]) -> Double {
        guard !labels.isEmpty else { return 1 }
        func f(_ logT: Double) -> Double { negativeLogLikelihood(probabilities, labels: labels, temperature: exp(logT)) }
        var (a, b) = (log(0.05), log(20.0))
        let ratio = (5.0.squareRoot() - 1) / 2
        var c = b - ratio * (b - a), d = a + ratio * (b - a)
        var fc = f(c), fd = f(d)
        while b - a > 1e-7 {
            if fc < fd { b = d; d = c; fd = fc; c = b - ratio * (b - a); fc = f(c) } else { a = c; c = d; fc = fd; d = a + ratio * (b - a); fd = f(d) }
        }
        return exp((a + b) / 2)
    }
}

/// Split conformal prediction sets (Vovk et al.; the "LAC" score of Sadinle, Lei & Wasserman
/// 2019): on a calibration split, the score of a sample is `1 − p(true class)`; `q̂` is the
/// ⌈(n + 1)(1 − α)⌉-th smallest score (every class when that rank exceeds n); a new sample's set
/// is every class with `1 − p_k ≤ q̂`. Marginal coverage is at least 1 − α when calibration and
/// test samples are exchangeable.
public struct ConformalSets: Codable, Sendable, Equatable {
    /// The miscoverage level α.
    public var alpha: Double
    /// The score threshold `q̂`, and the calibration split it came from with its size.
    public var threshold: Double
    /// `val`.
    public var calibrationSplit: String
    /// Calibration samples.
    public var calibrationSamples: Int
    /// On the evaluated split: the share of samples whose set holds the true class, and the mean
    /// set size.
    public var coverage: Double, meanSetSize: Double
    /// The score, in words.
    public var score = "1 - p(true class) (LAC)"

    enum CodingKeys: String, CodingKey {
        case alpha, threshold, coverage, score
        case calibrationSplit = "calibration_split", calibrationSamples = "calibration_samples", meanSetSize = "mean_set_size"
    }

    /// `q̂` from calibration probabilities and labels.
    public static func threshold(_ probabilities: [[Double]], labels: [Int], alpha: Double) -> Double {
        let scores = zip(probabilities, labels).map { 1 - $0[$1] }.sorted()
        let rank = Int((Double(scores.count + 1) * (1 - alpha)).rounded(.up))
        guard rank >= 1, rank <= scores.count else { return 1 }
        return scores[rank - 1]
    }

    /// The classes in the set of a sample with probabilities `p`.
    public static func set(_ p: [Double], threshold: Double) -> [Int] {
        p.indices.filter { 1 - p[$0] <= threshold + 1e-12 }
    }

    /// Calibrates on (`calibration`) and measures coverage and set size on (`probabilities`, `labels`).
    public static func measure(probabilities: [[Double]], labels: [Int], calibration: (probabilities: [[Double]], labels: [Int]),
                               alpha: Double, split: String = "val") -> ConformalSets {
        let q = threshold(calibration.probabilities, labels: calibration.labels, alpha: alpha)
        var covered = 0, size = 0
        for (p, y) in zip(probabilities, labels) {
            let s = set(p, threshold: q)
            size += s.count
            if s.contains(y) { covered += 1 }
        }
        let n = Double(max(labels.count, 1))
        return ConformalSets(alpha: alpha, threshold: q, calibrationSplit: split, calibrationSamples: calibration.labels.count,
                             coverage: Double(covered) / n, meanSetSize: Double(size) / n)
    }
}
