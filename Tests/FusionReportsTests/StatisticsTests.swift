import Foundation
import FusionReports
import FusionTestSupport
import XCTest

/// The comparison statistics, calibration, conformal sets and Shapley values against scipy,
/// scikit-learn and numpy (`python scripts/golden/statistics_goldens.py`).
final class StatisticsTests: XCTestCase {
    func golden(_ key: String) throws -> [String: Any] {
        try XCTUnwrap(try GoldenFiles.json("statistics.json", in: .module)[key] as? [String: Any], key)
    }

    func outcomes(_ labels: [Int], _ predictions: [Int], classes: Int) -> TestOutcomes {
        TestOutcomes(ids: labels.indices.map { "s\($0)" }, labels: labels, predictions: predictions,
                     trueProbabilities: zip(labels, predictions).map { $0 == $1 ? 0.9 : 0.1 }, classCount: classes)
    }

    func testPermutationTestsMetricsAndHolmMatchScipyAndScikitLearn() throws {
        let g = try golden("permutation")
        let labels = try XCTUnwrap(g["labels"] as? [Int]), classes = try XCTUnwrap(g["classes"] as? Int)
        let variants = try XCTUnwrap(g["variants"] as? [String: [[Int]]])
        let metrics = try XCTUnwrap(g["metrics"] as? [String: [String: [Double]]])
        func seeds(_ v: String) -> [(seed: UInt64, outcomes: TestOutcomes)] {
            (variants[v] ?? []).enumerated().map { (UInt64($0.offset), outcomes(labels, $0.element, classes: classes)) }
        }
        let all = Array(labels.indices)
        for (v, byMetric) in metrics {
            for (metric, expected) in byMetric {
                let got = seeds(v).map { $0.outcomes.value(metric, at: all) ?? .nan }
                for (a, b) in zip(got, expected) { XCTAssertEqual(a, b, accuracy: 1e-12, "\(v) \(metric) (scikit-learn)") }
            }
        }
        for (pair, expected) in try XCTUnwrap(g["tests"] as? [String: [String: Double]]) {
            let names = pair.split(separator: "|").map(String.init)
            for (metric, prefix) in [("accuracy", ""), ("f1_macro", "f1_")] {
                let (difference, p) = ComparisonStatistics.pairedPermutationTest(seeds(names[0]), seeds(names[1]), metric: metric,
                                                                                 permutations: 0, seed: 0)
                XCTAssertEqual(difference, expected[prefix + "difference"] ?? .nan, accuracy: 1e-12, "\(pair) \(metric)")
                XCTAssertEqual(p, expected[prefix + "p"] ?? .nan, accuracy: 1e-12, "\(pair) \(metric): exact p (numpy, = scipy on one seed)")
            }
        }
        let holm = try XCTUnwrap(g["holm"] as? [String: [Double]])
        for (a, b) in zip(ComparisonStatistics.holm(holm["p"] ?? []), holm["adjusted"] ?? []) { XCTAssertEqual(a, b, accuracy: 1e-12) }
    }

    func testBootstrapIntervalAgreesWithScipyAndTheStarNeedsASignificantWin() throws {
        let g = try golden("bootstrap")
        let correct = try XCTUnwrap(g["correct"] as? [Int])
        let run = ComparisonStatistics.Run(variant: "v", seed: 0, outcomes: outcomes(correct.map { _ in 0 }, correct.map { $0 == 1 ? 0 : 1 }, classes: 2))
        let stats = ComparisonStatistics.analyze([run], metrics: ["accuracy"], baselines: [], resamples: 4000)
        let interval = try XCTUnwrap(stats.first?.intervals["accuracy"])
        XCTAssertEqual(interval.estimate, Double(correct.reduce(0, +)) / Double(correct.count), accuracy: 1e-12)
        // Monte Carlo error of the percentiles with 4000 resamples: about 0.005.
        XCTAssertEqual(interval.low, try XCTUnwrap(g["low"] as? Double), accuracy: 0.015)
        XCTAssertEqual(interval.high, try XCTUnwrap(g["high"] as? Double), accuracy: 0.015)

        // 40 samples, 3 seeds: "good" is right on 36, "fair" on 30, "poor" on 10 — good beats
        // poor for sure; good against fair decides the ★.
        let labels = (0..<40).map { $0 % 4 }
        func variant(_ name: String, right: Int) -> [ComparisonStatistics.Run] {
            (0..<3).map { seed in
                let predictions = labels.enumerated().map { i, y in (i + seed) % 40 < right ? y : (y + 1) % 4 }
                return ComparisonStatistics.Run(variant: name, seed: UInt64(seed), outcomes: outcomes(labels, predictions, classes: 4))
            }
        }
        let tied = ComparisonStatistics.analyze(variant("good", right: 36) + variant("fair", right: 34) + variant("poor", right: 10),
                                                metrics: ["accuracy"], baselines: ["poor"], resamples: 500, permutations: 2000)
        XCTAssertEqual(tied.map(\.verdict), [.tiedForBest, .tiedForBest, .worse], "36 against 34 of 40 is no significant win")
        XCTAssertLessThan(try XCTUnwrap(tied[2].versusBest).adjusted, 0.01)
        XCTAssertEqual(tied[0].versusBaseline?.against, "poor")
        let clear = ComparisonStatistics.analyze(variant("good", right: 38) + variant("poor", right: 10), metrics: ["accuracy"], baselines: [],
                                                 resamples: 500, permutations: 2000)
        XCTAssertEqual(clear.map(\.verdict), [.best, .worse])
        let interval36 = try XCTUnwrap(tied[0].intervals["accuracy"])
        XCTAssertLessThan(interval36.low, 0.9)
        XCTAssertGreaterThan(interval36.high, 0.9)
    }

    func testCalibrationMatchesScikitLearnAndScipy() throws {
        let g = try golden("calibration")
        let p = try XCTUnwrap(g["probabilities"] as? [[Double]]), y = try XCTUnwrap(g["labels"] as? [Int])
        let vp = try XCTUnwrap(g["val_probabilities"] as? [[Double]]), vy = try XCTUnwrap(g["val_labels"] as? [Int])
        let c = Calibration.measure(probabilities: p, labels: y, validation: (vp, vy))
        XCTAssertEqual(c.bins, 15)
        XCTAssertEqual(c.ece, try XCTUnwrap(g["ece"] as? Double), accuracy: 1e-10)
        XCTAssertEqual(c.mce, try XCTUnwrap(g["mce"] as? Double), accuracy: 1e-10)
        XCTAssertEqual(c.reliability.count, try XCTUnwrap(g["nonempty_bins"] as? Int))
        XCTAssertEqual(c.reliability.reduce(0) { $0 + $1.count }, y.count)
        XCTAssertEqual(c.brier, try XCTUnwrap(g["brier"] as? Double), accuracy: 1e-10)
        XCTAssertEqual(c.temperature, try XCTUnwrap(g["temperature"] as? Double), accuracy: 1e-5)
        XCTAssertEqual(c.eceAfterScaling, try XCTUnwrap(g["ece_after"] as? Double), accuracy: 1e-5)
        XCTAssertEqual(c.brierAfterScaling, try XCTUnwrap(g["brier_after"] as? Double), accuracy: 1e-6)
        XCTAssertEqual(c.temperatureFittedOn, "val")
    }

    func testConformalSetsAndShapleyValuesMatchNumpy() throws {
        let cal = try golden("calibration"), g = try golden("conformal")
        let p = try XCTUnwrap(cal["probabilities"] as? [[Double]]), y = try XCTUnwrap(cal["labels"] as? [Int])
        let vp = try XCTUnwrap(cal["val_probabilities"] as? [[Double]]), vy = try XCTUnwrap(cal["val_labels"] as? [Int])
        let sets = ConformalSets.measure(probabilities: p, labels: y, calibration: (vp, vy), alpha: try XCTUnwrap(g["alpha"] as? Double))
        XCTAssertEqual(sets.threshold, try XCTUnwrap(g["threshold"] as? Double), accuracy: 1e-12)
        XCTAssertEqual(sets.coverage, try XCTUnwrap(g["coverage"] as? Double), accuracy: 1e-12)
        XCTAssertEqual(sets.meanSetSize, try XCTUnwrap(g["mean_set_size"] as? Double), accuracy: 1e-12)
        XCTAssertEqual(sets.calibrationSamples, vy.count)

        let s = try golden("shapley")
        let value = try XCTUnwrap(s["value"] as? [Double])
        let phi = Shapley.values(value, players: 3)
        for (a, b) in zip(phi, try XCTUnwrap(s["phi"] as? [Double])) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(phi.reduce(0, +), value[7] - value[0], accuracy: 1e-12, "efficiency: the values sum to v(all) − v(none)")
    }

    func testROCCurvesEncloseScikitLearnsAUCAndPrecisionRecallEndsAtFullRecall() throws {
        let cal = try golden("calibration")
        let p = try XCTUnwrap(cal["probabilities"] as? [[Double]]), y = try XCTUnwrap(cal["labels"] as? [Int])
        let names = (0..<5).map { "c\($0)" }
        // ClassificationMetrics' per-class ROC AUC is checked against scikit-learn in MetricsTests.
        let metrics = ClassificationMetrics.compute(labels: y, predictions: p.map { r in r.indices.max { r[$0] < r[$1] } ?? 0 },
                                                    probabilities: p.map { $0.map(Float.init) }, classNames: names)
        for c in 0..<5 {
            let roc = Curves.roc(scores: p.map { $0[c] }, positives: y.map { $0 == c })
            XCTAssertEqual(roc.first?.x, 0); XCTAssertEqual(roc.last?.x, 1); XCTAssertEqual(roc.last?.y, 1)
            XCTAssertEqual(Curves.area(roc), try XCTUnwrap(metrics.perClass[c].rocAuc), accuracy: 1e-4, "class \(c)")
            let pr = Curves.precisionRecall(scores: p.map { $0[c] }, positives: y.map { $0 == c })
            XCTAssertEqual(pr.last?.x ?? 0, 1, accuracy: 1e-12)
            XCTAssertEqual(pr.last?.y ?? 0, Double(y.filter { $0 == c }.count) / Double(y.count), accuracy: 1e-12, "precision at full recall: the class's share")
        }
    }
}
