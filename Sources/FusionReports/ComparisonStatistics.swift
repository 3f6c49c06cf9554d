import FusionCore
import Foundation

/// One run's test-set outcomes, per sample: what the statistics of a comparison resample.
public struct TestOutcomes: Sendable, Equatable {
    /// Sample ids, in the order of the other arrays.
    public var ids: [String]
    /// True and predicted class indices.
    public var labels: [Int], predictions: [Int]
    /// The predicted probability of the true class (for log-loss).
    public var trueProbabilities: [Double]
    /// The number of classes.
    public var classCount: Int

    /// Outcomes; the arrays must have one entry per sample.
    public init(ids: [String], labels: [Int], predictions: [Int], trueProbabilities: [Double], classCount: Int) {
        (self.ids, self.labels, self.predictions, self.trueProbabilities, self.classCount) = (ids, labels, predictions, trueProbabilities, classCount)
    }

    /// `metric` over the samples at `indices` (repeats count as often as they occur); nil for a
    /// metric the resampling does not cover (ROC AUC).
    public func value(_ metric: String, at indices: [Int]) -> Double? {
        switch metric {
        case "log_loss", "loss":
            guard !indices.isEmpty else { return nil }
            return indices.reduce(0.0) { $0 - Foundation.log(Swift.max($1 < trueProbabilities.count ? trueProbabilities[$1] : 0, 1e-15)) }
                / Double(indices.count)
        case "accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_micro", "recall_micro", "f1_micro",
             "precision_weighted", "recall_weighted", "f1_weighted":
            return ConfusionCounts(self, indices).value(metric)
        default: return nil
        }
    }

    /// The same outcomes with the predictions of samples where `swap` is true taken from `other`.
    func swapping(_ swap: [Bool], with other: TestOutcomes) -> TestOutcomes {
        var out = self
        for i in swap.indices where swap[i] {
            out.predictions[i] = other.predictions[i]
            out.trueProbabilities[i] = other.trueProbabilities[i]
        }
        return out
    }
}

/// Per-class true positives, predicted and true counts over a multiset of samples.
struct ConfusionCounts {
    var truePositives: [Int], predicted: [Int], actual: [Int], total = 0

    init(_ o: TestOutcomes, _ indices: [Int]) {
        let k = o.classCount
        (truePositives, predicted, actual) = ([Int](repeating: 0, count: k), [Int](repeating: 0, count: k), [Int](repeating: 0, count: k))
        for i in indices {
            let (y, p) = (o.labels[i], o.predictions[i])
            guard y >= 0, y < k, p >= 0, p < k else { continue }
            actual[y] += 1; predicted[p] += 1; total += 1
            if y == p { truePositives[y] += 1 }
        }
    }

    /// scikit-learn's definitions, with 0 for an undefined ratio (`zero_division=0`); macro
    /// averages over the classes that occur as a label or a prediction.
    func value(_ metric: String) -> Double? {
        guard total > 0 else { return nil }
        let correct = Double(truePositives.reduce(0, +))
        if metric == "accuracy" || metric.hasSuffix("_micro") { return correct / Double(total) }
        let classes = truePositives.indices.filter { actual[$0] > 0 || predicted[$0] > 0 }
        func ratio(_ a: Int, _ b: Int) -> Double { b > 0 ? Double(a) / Double(b) : 0 }
        func score(_ c: Int) -> Double {
            let p = ratio(truePositives[c], predicted[c]), r = ratio(truePositives[c], actual[c])
            switch metric.split(separator: "_").first {
            case "precision": return p
            case "recall": return r
            default: return p + r > 0 ? 2 * p * r / (p + r) : 0
            }
        }
        if metric.hasSuffix("_weighted") {
            return classes.reduce(0.0) { $0 + score($1) * Double(actual[$1]) } / Double(total)
        }
        return classes.isEmpty ? 0 : classes.reduce(0.0) { $0 + score($1) } / Double(classes.count)
    }
}

/// A variant's resampled statistics for one metric.
public struct MetricInterval: Sendable, Equatable {
    /// The mean over seeds on the whole test set.
    public var estimate: Double
    /// The 95 % interval (2.5th and 97.5th percentiles of the bootstrap replicates).
    public var low: Double, high: Double
}

/// A paired test of one variant against a reference variant.
public struct PairedTest: Sendable, Equatable {
    /// The reference variant.
    public var against: String
    /// Mean over seeds of (this variant − the reference) on the whole test set.
    public var difference: Double
    /// The permutation p-value, two-sided, and after Holm's correction across the variants
    /// tested against the same reference.
    public var p: Double, adjusted: Double
}

/// What a comparison's statistics say about each variant.
public struct VariantStatistics: Sendable {
    /// The variant.
    public var variant: String
    /// Interval per metric (metrics the resampling covers).
    public var intervals: [String: MetricInterval]
    /// The test against the best variant (absent for the best itself), and against the best
    /// unimodal baseline (absent for baselines and without them), on the first metric.
    public var versusBest: PairedTest?, versusBaseline: PairedTest?
    /// The best variant beats every other significantly; or, for the best and those not
    /// significantly worse, they are tied.
    public var verdict: Verdict

    /// How a variant ranks.
    public enum Verdict: String, Sendable { case best, tiedForBest = "tied_for_best", worse }
}

/// Intervals and paired significance tests for a comparison, from each run's test outcomes.
///
/// - Intervals: a bootstrap over the test samples (one shared resample per replicate, so every
///   variant is resampled on the same samples); with 3 or more seeds, the seeds are resampled
///   too (a two-level bootstrap), so the interval holds both sources of variance; with fewer,
///   it ignores seed variance, and the report says so. The point estimate is the mean over
///   seeds; the interval is the 2.5th–97.5th percentile of the replicates' means.
/// - Tests: a paired permutation test on the first metric: under the null hypothesis two
///   variants are exchangeable on each test sample, so each sample's predictions (in every
///   seed at once) are swapped between them with probability ½; the p-value is the share of
///   swaps whose mean-over-seeds difference is at least as large in magnitude as the observed one
///   (exact over all 2ⁿ swaps when n ≤ 16, else Monte Carlo with the observed one counted).
///   Each variant is tested against the best variant and against the best unimodal baseline,
///   seeds paired by seed value; Holm's step-down correction runs across the variants of each
///   family.
/// - The ★: the best variant wins only when it beats the runner-up at adjusted p < 0.05;
///   otherwise it and every variant not significantly worse are a tied group.
public enum ComparisonStatistics {
    /// The method, as written into comparison.json and comparison.md.
    public static let method = "95 % intervals: percentile bootstrap over test samples (shared resamples, paired across variants), "
        + "seeds resampled too when there are 3 or more; tests: paired permutation test on the first metric "
        + "(per-sample swaps, all seeds at once), two-sided, Holm-corrected across variants against the same reference; "
        + "★ only when the best beats the runner-up at adjusted p < 0.05"

    /// One run's outcomes within the comparison.
    public struct Run: Sendable {
        /// The variant and seed.
        public var variant: String, seed: UInt64
        /// The test outcomes (nil: not available, e.g. a run without predictions.csv).
        public var outcomes: TestOutcomes?
        /// A run.
        public init(variant: String, seed: UInt64, outcomes: TestOutcomes?) { (self.variant, self.seed, self.outcomes) = (variant, seed, outcomes) }
    }

    /// The statistics of every variant (in first-appearance order) whose runs all have outcomes
    /// on the same test samples; `baselines` names the unimodal-baseline variants.
    public static func analyze(_ runs: [Run], metrics: [String], baselines: Set<String>, resamples: Int = 2000,
                               permutations: Int = 10000, seed: UInt64 = 0) -> [VariantStatistics] {
        var order: [String] = []
        var byVariant: [String: [(seed: UInt64, outcomes: TestOutcomes)]] = [:]
        for r in runs {
            guard let o = r.outcomes else { continue }
            if byVariant[r.variant] == nil { order.append(r.variant) }
            byVariant[r.variant, default: []].append((r.seed, o))
        }
        // Only variants on one test set, in one sample order, are paired.
        guard let reference = order.first.flatMap({ byVariant[$0]?.first?.outcomes }) else { return [] }
        order = order.filter { v in (byVariant[v] ?? []).allSatisfy { $0.outcomes.ids == reference.ids && $0.outcomes.labels == reference.labels } }
        guard !order.isEmpty, let first = metrics.first else { return [] }
        let n = reference.ids.count
        let lowerIsBetter = first == "loss" || first == "log_loss"
        func mean(_ v: String, _ metric: String, _ indices: [Int]) -> Double? {
            let values = (byVariant[v] ?? []).compactMap { $0.outcomes.value(metric, at: indices) }
            return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        }
        let all = Array(0..<n)
        // Bootstrap replicates: shared sample indices (and seed positions) per replicate.
        var rng = SeededGenerator(seed: seed ^ 0x5EED_B007)
        let seedCount = order.map { byVariant[$0]?.count ?? 0 }.max() ?? 0
        var replicates: [String: [String: [Double]]] = [:]
        for _ in 0..<resamples {
            let indices = (0..<n).map { _ in Int.random(in: 0..<n, using: &rng) }
            let positions = (0..<seedCount).map { _ in Int.random(in: 0..<seedCount, using: &rng) }
            for v in order {
                let seeds = byVariant[v] ?? []
                let chosen = seedCount >= 3 && seeds.count == seedCount ? positions.map { seeds[$0] } : seeds
                for m in metrics {
                    let values = chosen.compactMap { $0.outcomes.value(m, at: indices) }
                    guard !values.isEmpty else { continue }
                    replicates[v, default: [:]][m, default: []].append(values.reduce(0, +) / Double(values.count))
                }
            }
        }
        var stats = order.map { v -> VariantStatistics in
            var intervals: [String: MetricInterval] = [:]
            for m in metrics {
                guard let estimate = mean(v, m, all), let reps = replicates[v]?[m], !reps.isEmpty else { continue }
                let sorted = reps.sorted()
                intervals[m] = MetricInterval(estimate: estimate, low: percentile(sorted, 2.5), high: percentile(sorted, 97.5))
            }
            return VariantStatistics(variant: v, intervals: intervals, versusBest: nil, versusBaseline: nil, verdict: .worse)
        }
        // The best variant on the first metric, and the best baseline.
        func score(_ v: String) -> Double { stats.first { $0.variant == v }?.intervals[first]?.estimate ?? (lowerIsBetter ? .infinity : -.infinity) }
        func better(_ a: String, _ b: String) -> Bool { lowerIsBetter ? score(a) < score(b) : score(a) > score(b) }
        guard let best = order.min(by: better) else { return stats }
        let bestBaseline = order.filter { baselines.contains($0) }.min(by: better)
        func family(_ reference: String, _ members: [String]) -> [String: PairedTest] {
            var tests: [(String, Double, Double)] = []
            for v in members where v != reference {
                let (difference, p) = pairedPermutationTest(byVariant[v] ?? [], byVariant[reference] ?? [], metric: first,
                                                            permutations: permutations, seed: seed ^ Hash64.fnv1a((v + "|" + reference).utf8))
                tests.append((v, difference, p))
            }
            let adjusted = holm(tests.map(\.2))
            var out: [String: PairedTest] = [:]
            for (i, t) in tests.enumerated() { out[t.0] = PairedTest(against: reference, difference: t.1, p: t.2, adjusted: adjusted[i]) }
            return out
        }
        let versusBest = family(best, order)
        let versusBaseline = bestBaseline.map { family($0, order.filter { !baselines.contains($0) }) } ?? [:]
        for i in stats.indices {
            stats[i].versusBest = versusBest[stats[i].variant]
            stats[i].versusBaseline = versusBaseline[stats[i].variant]
        }
        // The ★ only when the best beats the runner-up significantly; else the tied group.
        let runnerUp = order.filter { $0 != best }.min(by: better)
        let clearWin = runnerUp.map { (versusBest[$0]?.adjusted ?? 1) < 0.05 } ?? true
        for i in stats.indices {
            if stats[i].variant == best {
                stats[i].verdict = clearWin ? .best : .tiedForBest
            } else if let t = stats[i].versusBest, t.adjusted >= 0.05 {
                stats[i].verdict = .tiedForBest
            }
        }
        return stats
    }

    /// The paired permutation test of `a` against `b` on `metric` (seeds paired by seed value;
    /// seeds only one side has are left out): the observed mean-over-seeds difference and its
    /// two-sided p-value.
    public static func pairedPermutationTest(_ a: [(seed: UInt64, outcomes: TestOutcomes)], _ b: [(seed: UInt64, outcomes: TestOutcomes)],
                                             metric: String, permutations: Int, seed: UInt64) -> (difference: Double, p: Double) {
        let pairs = a.compactMap { x in b.first { $0.seed == x.seed }.map { (x.outcomes, $0.outcomes) } }
        guard let n = pairs.first?.0.ids.count, n > 0 else { return (.nan, 1) }
        let all = Array(0..<n)
        func statistic(_ swap: [Bool]) -> Double {
            var total = 0.0
            for (x, y) in pairs {
                let xs = x.swapping(swap, with: y), ys = y.swapping(swap, with: x)
                total += (xs.value(metric, at: all) ?? 0) - (ys.value(metric, at: all) ?? 0)
            }
            return total / Double(pairs.count)
        }
        let observed = statistic([Bool](repeating: false, count: n))
        let tolerance = 1e-12 * Swift.max(1, Swift.abs(observed))
        var extreme = 0, count = 0
        if n <= 16 {
            for mask in 0..<(1 << n) {
                let swap = (0..<n).map { mask & (1 << $0) != 0 }
                if Swift.abs(statistic(swap)) >= Swift.abs(observed) - tolerance { extreme += 1 }
                count += 1
            }
            return (observed, Double(extreme) / Double(count))
        }
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<permutations {
            let swap = (0..<n).map { _ in Bool.random(using: &rng) }
            if Swift.abs(statistic(swap)) >= Swift.abs(observed) - tolerance { extreme += 1 }
        }
        return (observed, Double(extreme + 1) / Double(permutations + 1))
    }

    /// Holm's step-down adjusted p-values, in the order given.
    public static func holm(_ p: [Double]) -> [Double] {
        let m = p.count
        let order = p.indices.sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 1, count: m)
        var running = 0.0
        for (rank, i) in order.enumerated() {
            running = Swift.max(running, Swift.min(1, Double(m - rank) * p[i]))
            adjusted[i] = running
        }
        return adjusted
    }

    /// The `q`-th percentile (0–100) of sorted values, linearly interpolated (NumPy's default).
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard let last = sorted.indices.last else { return .nan }
        let position = q / 100 * Double(last)
        let lower = Int(position.rounded(.down)), upper = Swift.min(lower + 1, last)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }
}
