import FusionTensor

/// Softmax cross-entropy as `torch.nn.functional.cross_entropy` (mean reduction).
///
/// With class weights `w` and label smoothing ε over C classes, sample i contributes
/// `(1−ε)·w[yᵢ]·(−log pᵢ[yᵢ]) + (ε/C)·Σ_c w[c]·(−log pᵢ[c])`, and the sum is divided by
/// `Σᵢ w[yᵢ]` (by N without weights), exactly as PyTorch does.
public func crossEntropy(_ logits: Tensor, targets: [Int], classWeights: [Float]? = nil, labelSmoothing: Float = 0) -> Tensor {
    precondition(logits.rank == 2, "crossEntropy: expected logits [N, C], got \(logits.shape)")
    let (n, c) = (logits.shape[0], logits.shape[1])
    precondition(targets.count == n, "crossEntropy: \(n) rows of logits but \(targets.count) targets")
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "crossEntropy: label smoothing must be in [0, 1], got \(labelSmoothing)")
    if let classWeights { precondition(classWeights.count == c, "crossEntropy: expected \(c) class weights, got \(classWeights.count)") }
    var q = [Float](repeating: 0, count: n * c)
    var denominator: Float = 0
    for (i, y) in targets.enumerated() {
        precondition(y >= 0 && y < c, "crossEntropy: target \(y) of row \(i) is outside 0..<\(c)")
        let wy = classWeights?[y] ?? 1
        denominator += wy
        q[i * c + y] += (1 - labelSmoothing) * wy
        if labelSmoothing > 0 {
            for k in 0..<c { q[i * c + k] += labelSmoothing / Float(c) * (classWeights?[k] ?? 1) }
        }
    }
    let weights = Tensor(q, shape: [n, c])
    return -(logits.logSoftmax(axis: 1) * weights).sum() / Swift.max(denominator, Float.leastNormalMagnitude)
}

/// Binary cross-entropy on logits as `torch.nn.functional.binary_cross_entropy_with_logits`
/// (mean reduction), computed stably: `max(x,0) − x·y + log(1 + e^−|x|)`, with the positive
/// term scaled by `posWeight` when given.
public func binaryCrossEntropyWithLogits(_ logits: Tensor, targets: Tensor, posWeight: Float? = nil) -> Tensor {
    precondition(logits.shape == targets.shape, "binaryCrossEntropyWithLogits: logits \(logits.shape) and targets \(targets.shape) differ")
    // log(1 + e^−x), computed as max(−x, 0) + log(1 + e^−|x|)
    let softplusNeg = (-logits).relu() + ((-logits.abs()).exp() + 1).log()
    // (1 − y)·x + (1 + (pw − 1)·y)·log(1 + e^−x)
    let coefficient = targets * ((posWeight ?? 1) - 1) + 1
    return ((1 - targets) * logits + coefficient * softplusNeg).mean()
}

/// Mean squared error.
public func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> Tensor {
    precondition(prediction.shape == target.shape, "meanSquaredError: shapes \(prediction.shape) and \(target.shape) differ")
    let d = prediction - target
    return (d * d).mean()
}

/// Distillation loss `T² · KL(softmax(teacher/T) ‖ softmax(student/T))`, averaged over the batch
/// (PyTorch's `kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T²`).
public func klDivergence(studentLogits: Tensor, teacherLogits: Tensor, temperature: Float = 1) -> Tensor {
    precondition(studentLogits.shape == teacherLogits.shape, "klDivergence: shapes \(studentLogits.shape) and \(teacherLogits.shape) differ")
    precondition(temperature > 0, "klDivergence: temperature must be positive, got \(temperature)")
    let logP = (studentLogits / temperature).logSoftmax(axis: -1)
    let logQ = (teacherLogits / temperature).logSoftmax(axis: -1)
    let kl = (logQ.exp() * (logQ - logP)).sum()
    return kl * (temperature * temperature / Float(studentLogits.shape[0]))
}
