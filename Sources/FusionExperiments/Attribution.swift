import Foundation
import FusionConfig
import FusionCore
import FusionReports
import FusionTraining

/// `fusionlab explain`: what each modality contributes to a trained model, as exact Shapley
/// values over modalities.
///
/// The model is evaluated on the test split (validation when there is none) with every subset
/// S of its modalities present and the others marked absent through the presence mask — the way
/// the model handles a missing modality, so no retraining. With M ≤ 4 modalities that is at
/// most 16 evaluations. For a score v(S) (accuracy, mean log-likelihood of the true class, and
/// each class's recall), the Shapley value of modality m is
///
///     φ_m = Σ_{S ⊆ M∖{m}} |S|! (M − |S| − 1)! / M! · (v(S ∪ {m}) − v(S)),
///
/// and Σ_m φ_m = v(M) − v(∅). Each modality alone is v({m}); the interaction is what no single
/// modality explains, v(M) − v(∅) − Σ_m (v({m}) − v(∅)): near zero when fusion adds nothing
/// over the modalities' separate effects.
public enum ModalityAttribution {
    /// One run's attribution.
    public struct Result: Codable, Sendable {
        /// The run folder and the split evaluated.
        public var run: String, split: String
        /// The modalities in order, and the class names.
        public var modalities: [String], classes: [String]
        /// Every subset's scores.
        public var subsets: [Subset]
        /// Shapley values per score, by modality.
        public var shapley: Scores
        /// Each modality alone (accuracy and log-likelihood).
        public var alone: [String: Double], aloneLogLikelihood: [String: Double]
        /// v(M) − v(∅) − Σ_m (v({m}) − v(∅)), for accuracy and log-likelihood.
        public var interaction: Double, interactionLogLikelihood: Double
        /// v(M) and v(∅) for accuracy.
        public var all: Double, none: Double
        /// How the values were computed.
        public var method = "exact Shapley values over modalities; absent modalities marked absent through the presence mask (no retraining)"

        enum CodingKeys: String, CodingKey {
            case run, split, modalities, classes, subsets, shapley, alone, interaction, all, none, method
            case aloneLogLikelihood = "alone_log_likelihood", interactionLogLikelihood = "interaction_log_likelihood"
        }
    }

    /// The scores of one subset of modalities.
    public struct Subset: Codable, Sendable {
        /// The modalities present.
        public var present: [String]
        /// Accuracy, mean log-likelihood of the true class, and recall per class.
        public var accuracy: Double, logLikelihood: Double, recall: [Double]

        enum CodingKeys: String, CodingKey { case present, accuracy, recall, logLikelihood = "log_likelihood" }
    }

    /// Shapley values of each score, by modality (per class: by class, then modality).
    public struct Scores: Codable, Sendable {
        /// For accuracy and for mean log-likelihood.
        public var accuracy: [String: Double], logLikelihood: [String: Double]
        /// For each class's recall.
        public var perClass: [String: [String: Double]]

        enum CodingKeys: String, CodingKey { case accuracy, logLikelihood = "log_likelihood", perClass = "per_class" }
    }

    /// The attribution of `run` (finished runs only), written to `run/attribution.json` and
    /// `run/attribution.svg`.
    public static func explain(run: String, progress: FusionTraining.Progress) throws -> Result {
        let directory = try RunDirectory.open(run)
        guard directory.status == .finished else {
            throw ExperimentError("explain: \(run) is \(directory.status.rawValue), not finished; only a finished run has a model to explain")
        }
        let (model, data, _) = try ExperimentRunner.load(run: run, progress: progress)
        let split: Split = (data.caches[.test]?.count ?? 0) > 0 ? .test : .val
        let modalities = model.modalities
        guard (1...4).contains(modalities.count) else {
            throw ExperimentError("explain: \(run) has \(modalities.count) modalities; exact attribution takes 1 to 4")
        }
        let m = modalities.count, k = data.classNames.count
        var subsets: [Subset] = []
        for mask in 0..<(1 << m) {
            let absent = modalities.enumerated().filter { mask & (1 << $0.offset) == 0 }.map(\.element)
            let e = try Trainer.evaluate(model, data: data, split: split, transform: { b in absent.reduce(b) { $0.removing($1) } })
            guard !e.labels.isEmpty else { throw ExperimentError("explain: \(run): the dataset has no \(split.rawValue) samples") }
            let loglik = zip(e.probabilities, e.labels).reduce(0.0) { $0 + Foundation.log(Swift.max(Double($1.0[$1.1]), 1e-15)) } / Double(e.labels.count)
            guard loglik.isFinite else { throw ExperimentError("explain: \(run): non-finite probabilities with \(absent.map(\.rawValue)) absent") }
            var correct = [Int](repeating: 0, count: k), total = [Int](repeating: 0, count: k)
            for (y, p) in zip(e.labels, e.predictions) { total[y] += 1; if y == p { correct[y] += 1 } }
            subsets.append(Subset(present: modalities.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element.rawValue),
                                  accuracy: e.metrics.accuracy, logLikelihood: loglik,
                                  recall: (0..<k).map { total[$0] > 0 ? Double(correct[$0]) / Double(total[$0]) : 0 }))
            progress.detail("explain: \(subsets.last?.present.joined(separator: "+") ?? "") present: accuracy \(String(format: "%.4f", e.metrics.accuracy))")
        }
        func byModality(_ values: [Double]) -> [String: Double] {
            Dictionary(uniqueKeysWithValues: zip(modalities.map(\.rawValue), Shapley.values(values, players: m)))
        }
        var perClass: [String: [String: Double]] = [:]
        for (c, name) in data.classNames.enumerated() { perClass[name] = byModality(subsets.map { $0.recall[c] }) }
        let full = (1 << m) - 1
        func alone(_ score: (Subset) -> Double) -> [String: Double] {
            Dictionary(uniqueKeysWithValues: modalities.enumerated().map { ($0.element.rawValue, score(subsets[1 << $0.offset])) })
        }
        func interaction(_ score: (Subset) -> Double) -> Double {
            score(subsets[full]) - score(subsets[0]) - (0..<m).reduce(0.0) { $0 + score(subsets[1 << $1]) - score(subsets[0]) }
        }
        let result = Result(run: run, split: split.rawValue, modalities: modalities.map(\.rawValue), classes: data.classNames, subsets: subsets,
                            shapley: Scores(accuracy: byModality(subsets.map(\.accuracy)), logLikelihood: byModality(subsets.map(\.logLikelihood)),
                                            perClass: perClass),
                            alone: alone(\.accuracy), aloneLogLikelihood: alone(\.logLikelihood),
                            interaction: interaction(\.accuracy), interactionLogLikelihood: interaction(\.logLikelihood),
                            all: subsets[full].accuracy, none: subsets[0].accuracy)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically(try encoder.encode(result), to: run + "/attribution.json")
        try writeTextAtomically(figure(result), to: run + "/attribution.svg")
        return result
    }

    /// Bars: each modality's Shapley value and its accuracy alone, and the interaction.
    public static func figure(_ r: Result) -> String {
        var bars: [SVGCharts.Bar] = []
        for m in r.modalities {
            bars.append(SVGCharts.Bar(label: "\(m): Shapley", value: r.shapley.accuracy[m] ?? 0))
            bars.append(SVGCharts.Bar(label: "\(m) alone", value: r.alone[m] ?? 0))
        }
        bars.append(SVGCharts.Bar(label: "interaction", value: r.interaction))
        return SVGCharts.barChart(title: String(format: "What each modality contributes to accuracy (all %.3f, none %.3f)", r.all, r.none),
                                  yLabel: "accuracy", bars: bars)
    }

    /// The runs of `target`: a run folder, or every finished run of a comparison folder.
    public static func runs(_ target: String) throws -> [String] {
        let fm = FileManager.default
        if fm.fileExists(atPath: target + "/comparison.json") {
            let root = target + "/runs"
            var runs: [String] = []
            for variant in ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted() {
                for stamp in ((try? fm.contentsOfDirectory(atPath: "\(root)/\(variant)")) ?? []).sorted() {
                    let run = "\(root)/\(variant)/\(stamp)"
                    if (try? RunDirectory.open(run))?.status == .finished { runs.append(run) }
                }
            }
            guard !runs.isEmpty else { throw ExperimentError("explain: \(target) has no finished runs under runs/") }
            return runs
        }
        guard fm.fileExists(atPath: target + "/config.resolved.json") else {
            throw ExperimentError("explain: \(target) is neither a run folder (config.resolved.json) nor a comparison folder (comparison.json)")
        }
        return [target]
    }
}
