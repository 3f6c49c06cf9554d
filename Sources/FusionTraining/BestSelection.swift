import FusionConfig

/// Which epoch's weights a run keeps: the best validation score of `training.early_stopping.metric`
/// (the training loss without a validation split), ties to the lower validation loss, then the
/// later epoch; and when patience runs out.
package struct BestSelection {
    let metric: MetricName
    /// Whether lower scores are better.
    let lowerIsBetter: Bool
    let minDelta: Double
    let hasValidation: Bool
    /// The best score, its epoch (0: none yet) and the epochs since.
    package var best: Double, bestEpoch: Int, sinceBest: Int

    package init(_ config: EarlyStoppingConfig, hasValidation: Bool, resumed: ResumeState?) {
        metric = config.metric
        lowerIsBetter = config.metric.lowerIsBetter || !hasValidation
        minDelta = config.minDelta
        self.hasValidation = hasValidation
        best = resumed?.bestValue ?? (lowerIsBetter ? Double.infinity : -Double.infinity)
        bestEpoch = resumed?.bestEpoch ?? 0
        sinceBest = resumed?.epochsSinceBest ?? 0
    }

    /// The selection score of an epoch.
    func score(_ val: Evaluation?, record: EpochRecord) -> Double {
        val.map { metric == .loss ? $0.loss : ($0.metrics.value(named: metric.rawValue) ?? $0.metrics.accuracy) } ?? record.trainLoss
    }

    /// Whether `epoch` (its `score`, and `history` with its record last) becomes the best;
    /// `eligible` is false while pruning has not reached its final sparsity.
    package mutating func consider(epoch: Int, score: Double, history: [EpochRecord], eligible: Bool) -> Bool {
        let record = history[history.count - 1]
        let bestLoss = bestEpoch >= 1 && bestEpoch <= history.count ? history[bestEpoch - 1].valLoss : .infinity
        let (replaces, improved) = EpochSelection(lowerIsBetter: lowerIsBetter, minDelta: minDelta)
            .compare(score: score, valLoss: record.valLoss, best: best, bestLoss: bestLoss)
        guard eligible, replaces || bestEpoch == 0 else {
            sinceBest += 1
            return false
        }
        if improved || bestEpoch == 0 { best = score }
        bestEpoch = epoch
        sinceBest = 0
        return true
    }
}
