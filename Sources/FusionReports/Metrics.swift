import FusionCore
import Foundation

/// Precision, recall, F1 and support of one class, one-vs-rest.
public struct ClassMetrics: Codable, Sendable, Equatable {
    /// The class name, as in the dataset's label list.
    public var name: String
    /// TP / (TP + FP); 0 when the class was never predicted.
    public var precision: Double
    /// TP / (TP + FN); 0 when the class never occurs.
    public var recall: Double
    /// 2·TP / (2·TP + FP + FN); 0 when that denominator is 0.
    public var f1: Double
    /// How many samples truly belong to the class.
    public var support: Int
    /// One-vs-rest ROC-AUC of the class's probability column; nil without probabilities, or
    /// when the class has no positive or no negative sample.
    public var rocAuc: Double?

    enum CodingKeys: String, CodingKey {
        case name, precision, recall, f1, support
        case rocAuc = "roc_auc"
    }

    /// Encodes every key, an absent ROC-AUC as `null`, so each class has the same columns.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(precision, forKey: .precision)
        try container.encode(recall, forKey: .recall)
        try container.encode(f1, forKey: .f1)
        try container.encode(support, forKey: .support)
        try container.encode(rocAuc, forKey: .rocAuc)
    }
}

/// Classification metrics of one evaluation, with scikit-learn's definitions and its
/// `zero_division=0` convention: a ratio whose denominator is 0 counts as 0.
///
/// Averages run over every class in `classNames`, present in the data or not (sklearn with
/// `labels=range(K)`): macro is the unweighted mean over classes, weighted is the mean
/// weighted by support, micro pools the counts (for single-label data, micro precision =
/// micro recall = micro F1 = accuracy). ROC-AUC is one-vs-rest, rank-based with ties at
/// their mid-rank, which equals `roc_auc_score(average="macro", multi_class="ovr")`; a class
/// without positives or without negatives gets `nil` and is left out of the macro mean.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    /// Number of evaluated samples.
    public var samples: Int
    /// Fraction of samples predicted correctly.
    public var accuracy: Double
    /// Unweighted mean of per-class precision.
    public var precisionMacro: Double
    /// Unweighted mean of per-class recall.
    public var recallMacro: Double
    /// Unweighted mean of per-class F1.
    public var f1Macro: Double
    /// Pooled precision ΣTP / Σ(TP + FP).
    public var precisionMicro: Double
    /// Pooled recall ΣTP / Σ(TP + FN).
    public var recallMicro: Double
    /// Pooled F1.
    public var f1Micro: Double
    /// Support-weighted mean of per-class precision.
    public var precisionWeighted: Double
    /// Support-weighted mean of per-class recall.
    public var recallWeighted: Double
    /// Support-weighted mean of per-class F1.
    public var f1Weighted: Double
    /// Per-class metrics, in the order of the class names.
    public var perClass: [ClassMetrics]
    /// Counts with rows = true class and columns = predicted class.
    public var confusionMatrix: [[Int]]
    /// Mean of the defined per-class ROC-AUCs; nil without probabilities or when none is defined.
    public var rocAucMacro: Double?
    /// Mean negative log-probability of the true class (probabilities clipped to
    /// [ε, 1 − ε] with ε = Float.ulpOfOne, as sklearn does for float32); nil without probabilities.
    public var logLoss: Double?

    enum CodingKeys: String, CodingKey {
        case samples, accuracy
        case precisionMacro = "precision_macro", recallMacro = "recall_macro", f1Macro = "f1_macro"
        case precisionMicro = "precision_micro", recallMicro = "recall_micro", f1Micro = "f1_micro"
        case precisionWeighted = "precision_weighted", recallWeighted = "recall_weighted", f1Weighted = "f1_weighted"
        case perClass = "per_class", confusionMatrix = "confusion_matrix"
        case rocAucMacro = "roc_auc_macro", logLoss = "log_loss"
    }

    /// Encodes every key, absent optionals as `null`, so every metrics.json has the same keys.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(samples, forKey: .samples)
        try c.encode(accuracy, forKey: .accuracy)
        try c.encode(precisionMacro, forKey: .precisionMacro)
        try c.encode(recallMacro, forKey: .recallMacro)
        try c.encode(f1Macro, forKey: .f1Macro)
        try c.encode(precisionMicro, forKey: .precisionMicro)
        try c.encode(recallMicro, forKey: .recallMicro)
        try c.encode(f1Micro, forKey: .f1Micro)
        try c.encode(precisionWeighted, forKey: .precisionWeighted)
        try c.encode(recallWeighted, forKey: .recallWeighted)
        try c.encode(f1Weighted, forKey: .f1Weighted)
        try c.encode(perClass, forKey: .perClass)
        try c.encode(confusionMatrix, forKey: .confusionMatrix)
        try c.encode(rocAucMacro, forKey: .rocAucMacro)
        try c.encode(logLoss, forKey: .logLoss)
    }

    /// The class names, in label order.
    public var classNames: [String] { perClass.map(\.name) }

    /// Computes every metric from true labels, predicted labels and (optionally) predicted
    /// class probabilities, one row of `classNames.count` values per sample.
    ///
    /// Labels and predictions must be class indices in `0..<classNames.count` and all inputs
    /// must have one entry per sample; a violation is a programming error (precondition).
    public static func compute(labels: [Int], predictions: [Int], probabilities: [[Float]]?,
                               classNames: [String]) -> ClassificationMetrics {
        let k = classNames.count
        precondition(labels.count == predictions.count,
                     "metrics: \(labels.count) labels but \(predictions.count) predictions")
        precondition(labels.allSatisfy { (0..<k).contains($0) } && predictions.allSatisfy { (0..<k).contains($0) },
                     "metrics: labels and predictions must lie in 0..<\(k) (the number of class names)")
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (truth, guess) in zip(labels, predictions) { confusion[truth][guess] += 1 }

        let n = labels.count
        let truePositives = (0..<k).map { confusion[$0][$0] }
        let support = confusion.map { $0.reduce(0, +) }
        let predicted = (0..<k).map { column in confusion.reduce(0) { $0 + $1[column] } }

        var aucs = [Double?](repeating: nil, count: k)
        var logLoss: Double?
        if let probabilities {
            precondition(probabilities.count == n && probabilities.allSatisfy { $0.count == k },
                         "metrics: probabilities must be \(n) rows of \(k) values")
            aucs = (0..<k).map { c in
                rocAuc(scores: probabilities.map { $0[c] }, positives: labels.map { $0 == c })
            }
            logLoss = meanLogLoss(labels: labels, probabilities: probabilities)
        }

        let perClass = (0..<k).map { c in
            let tp = truePositives[c]
            return ClassMetrics(name: classNames[c],
                                precision: ratio(tp, predicted[c]),
                                recall: ratio(tp, support[c]),
                                f1: ratio(2 * tp, predicted[c] + support[c]),
                                support: support[c],
                                rocAuc: aucs[c])
        }
        let correct = truePositives.reduce(0, +)
        let definedAucs = aucs.compactMap { $0 }
        return ClassificationMetrics(
            samples: n,
            accuracy: ratio(correct, n),
            precisionMacro: mean(perClass.map(\.precision)),
            recallMacro: mean(perClass.map(\.recall)),
            f1Macro: mean(perClass.map(\.f1)),
            precisionMicro: ratio(correct, predicted.reduce(0, +)),
            recallMicro: ratio(correct, support.reduce(0, +)),
            f1Micro: ratio(2 * correct, predicted.reduce(0, +) + support.reduce(0, +)),
            precisionWeighted: weightedMean(perClass.map(\.precision), weights: support),
            recallWeighted: weightedMean(perClass.map(\.recall), weights: support),
            f1Weighted: weightedMean(perClass.map(\.f1), weights: support),
            perClass: perClass,
            confusionMatrix: confusion,
            rocAucMacro: definedAucs.isEmpty ? nil : mean(definedAucs),
            logLoss: logLoss)
    }

    /// The names `value(named:)` understands.
    public static let valueNames = [
        "accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_micro", "recall_micro", "f1_micro",
        "precision_weighted", "recall_weighted", "f1_weighted", "roc_auc_macro", "log_loss", "loss",
    ]

    /// A summary metric by its metrics.json key (see `valueNames`; "loss" is the log loss),
    /// for early stopping and comparisons. Nil for an unknown name or an undefined value.
    public func value(named name: String) -> Double? {
        switch name {
        case "accuracy": return accuracy
        case "precision_macro": return precisionMacro
        case "recall_macro": return recallMacro
        case "f1_macro": return f1Macro
        case "precision_micro": return precisionMicro
        case "recall_micro": return recallMicro
        case "f1_micro": return f1Micro
        case "precision_weighted": return precisionWeighted
        case "recall_weighted": return recallWeighted
        case "f1_weighted": return f1Weighted
        case "roc_auc_macro": return rocAucMacro
        case "log_loss", "loss": return logLoss
        default: return nil
        }
    }

    /// Pretty-printed JSON with sorted snake_case keys, as written to metrics.json.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try encoder.encode(self)
        } catch {
            throw ExperimentError("metrics.json: cannot encode the metrics (\(error))")
        }
    }

    /// Reads metrics back from metrics.json data; `path` only names the file in errors.
    public static func decode(_ data: Data, path: String = "metrics.json") throws -> ClassificationMetrics {
        do {
            return try JSONDecoder().decode(ClassificationMetrics.self, from: data)
        } catch {
            throw ExperimentError("\(path): expected classification metrics JSON (\(error))")
        }
    }
}

// MARK: - Helpers

/// `numerator / denominator`, or 0 when the denominator is 0 (sklearn's zero_division=0).
private func ratio(_ numerator: Int, _ denominator: Int) -> Double {
    denominator == 0 ? 0 : Double(numerator) / Double(denominator)
}

private func mean(_ values: [Double]) -> Double {
    values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
}

private func weightedMean(_ values: [Double], weights: [Int]) -> Double {
    let total = weights.reduce(0, +)
    guard total > 0 else { return 0 }
    return zip(values, weights).reduce(0) { $0 + $1.0 * Double($1.1) } / Double(total)
}

/// Mann–Whitney ROC-AUC: (rank sum of positives − P(P+1)/2) / (P·N), tied scores sharing
/// their mid-rank. Nil when there is no positive or no negative sample.
func rocAuc(scores: [Float], positives: [Bool]) -> Double? {
    let p = positives.filter { $0 }.count
    let negatives = positives.count - p
    guard p > 0, negatives > 0 else { return nil }
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var positiveRankSum = 0.0
    var start = 0
    while start < order.count {
        var end = start
        while end + 1 < order.count, scores[order[end + 1]] == scores[order[start]] { end += 1 }
        let midRank = Double(start + end) / 2 + 1  // ranks are 1-based
        for i in start...end where positives[order[i]] { positiveRankSum += midRank }
        start = end + 1
    }
    return (positiveRankSum - Double(p) * Double(p + 1) / 2) / (Double(p) * Double(negatives))
}

/// Mean of −log p(true class), with p clipped to [ε, 1 − ε], ε = Float.ulpOfOne.
private func meanLogLoss(labels: [Int], probabilities: [[Float]]) -> Double? {
    guard !labels.isEmpty else { return nil }
    let eps = Double(Float.ulpOfOne)
    let total = zip(labels, probabilities).reduce(0.0) { sum, pair in
        sum - Foundation.log(min(max(Double(pair.1[pair.0]), eps), 1 - eps))
    }
    return total / Double(labels.count)
}
