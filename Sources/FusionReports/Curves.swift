import Foundation

/// ROC and precision–recall curves of one-vs-rest scores, as scikit-learn's `roc_curve` and
/// `precision_recall_curve` draw them: one point per distinct score threshold, highest first.
public enum Curves {
    /// (false-positive rate, true-positive rate) from (0, 0) to (1, 1).
    public static func roc(scores: [Double], positives: [Bool]) -> [(x: Double, y: Double)] {
        let (p, n) = (Double(positives.filter { $0 }.count), Double(positives.filter { !$0 }.count))
        guard p > 0, n > 0 else { return [] }
        var points: [(x: Double, y: Double)] = [(0, 0)]
        var (tp, fp) = (0.0, 0.0)
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        for (k, i) in order.enumerated() {
            if positives[i] { tp += 1 } else { fp += 1 }
            // One point per threshold: after the last sample of a run of equal scores.
            if k + 1 == order.count || scores[order[k + 1]] != scores[i] { points.append((fp / n, tp / p)) }
        }
        return points
    }

    /// The area under `roc` (trapezoids): the ROC AUC.
    public static func area(_ points: [(x: Double, y: Double)]) -> Double {
        zip(points, points.dropFirst()).reduce(0) { $0 + ($1.1.x - $1.0.x) * ($1.1.y + $1.0.y) / 2 }
    }

    /// (recall, precision) at each threshold, from the highest score down.
    public static func precisionRecall(scores: [Double], positives: [Bool]) -> [(x: Double, y: Double)] {
        let p = Double(positives.filter { $0 }.count)
        guard p > 0 else { return [] }
        var points: [(x: Double, y: Double)] = []
        var (tp, predicted) = (0.0, 0.0)
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        for (k, i) in order.enumerated() {
            predicted += 1
            if positives[i] { tp += 1 }
            if k + 1 == order.count || scores[order[k + 1]] != scores[i] { points.append((tp / p, tp / predicted)) }
        }
        return points
    }

    /// Per-class one-vs-rest curves as chart series (at most `maxClasses` classes; more: the
    /// micro-average over every class's scores only), for ROC or precision–recall.
    public static func series(probabilities: [[Double]], labels: [Int], classNames: [String], precisionRecall pr: Bool,
                              maxClasses: Int = 10) -> [SVGCharts.Series] {
        func curve(_ s: [Double], _ y: [Bool]) -> [(x: Double, y: Double)] { pr ? precisionRecall(scores: s, positives: y) : roc(scores: s, positives: y) }
        if classNames.count <= maxClasses {
            return classNames.indices.compactMap { c in
                let points = curve(probabilities.map { $0[c] }, labels.map { $0 == c })
                return points.isEmpty ? nil : SVGCharts.Series(name: classNames[c], points: points)
            }
        }
        let scores = probabilities.flatMap { $0 }
        let positives = labels.flatMap { y in classNames.indices.map { $0 == y } }
        return [SVGCharts.Series(name: "micro-average", points: curve(scores, positives))]
    }
}
