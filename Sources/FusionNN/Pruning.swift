import FusionTensor

/// Global unstructured magnitude pruning with the gradual schedule of Zhu & Gupta (2017),
/// "To prune, or not to prune": sparsity rises from `initial` to `final` over `rampSteps`
/// optimizer steps as `s_t = s_f + (s_i − s_f)(1 − t/n)³`, fast at first and slowly at the end.
///
/// The targets are the weights (not biases) of every trainable linear and convolution layer.
/// At each step the smallest-magnitude weights across all targets together are zeroed until the
/// scheduled fraction is zero, and kept zero (the masks are applied again after every optimizer
/// step). Pruned weights never come back: they are the smallest once zero.
public final class MagnitudePruner {
    /// The pruned weights, by key.
    public let targets: [(key: String, tensor: Tensor)]
    /// Sparsity at the start and at the end of the ramp.
    public let initialSparsity: Double, finalSparsity: Double
    /// Optimizer steps over which sparsity ramps up.
    public let rampSteps: Int
    /// Steps taken so far.
    public private(set) var step = 0
    private var masks: [[Bool]]
    private var pruned = 0

    /// A pruner over `model`'s linear and convolution weights.
    public init(model: Module, finalSparsity: Double, initialSparsity: Double = 0, rampSteps: Int) {
        let layers = Set(model.namedModules().filter { $0.module is Linear || $0.module is Conv2d || $0.module is Conv1d }.map { $0.key + ".weight" })
        targets = model.namedParameters().filter { layers.contains($0.key) && $0.tensor.requiresGrad }
        self.initialSparsity = initialSparsity
        self.finalSparsity = finalSparsity
        self.rampSteps = max(rampSteps, 1)
        masks = targets.map { [Bool](repeating: true, count: $0.tensor.count) }
    }

    /// The scheduled sparsity after `step` of `steps` steps.
    public static func sparsity(at step: Int, initial: Double, final: Double, steps: Int) -> Double {
        let progress = min(max(Double(step) / Double(max(steps, 1)), 0), 1)
        let remaining = 1 - progress
        return final + (initial - final) * remaining * remaining * remaining
    }

    /// Whether the ramp is over (the model is at the final sparsity).
    public var reachedFinal: Bool { step >= rampSteps }

    /// The fraction of target weights that are zero.
    public var sparsity: Double {
        let total = targets.reduce(0) { $0 + $1.tensor.count }
        let zeros = targets.reduce(0) { sum, t in sum + (0..<t.tensor.count).reduce(0) { $0 + (t.tensor.data[$1] == 0 ? 1 : 0) } }
        return Double(zeros) / Double(max(total, 1))
    }

    /// Starts the ramp: prunes to the initial sparsity.
    public func start() { prune(to: initialSparsity) }

    /// After an optimizer step: prunes to the scheduled sparsity and zeroes the pruned weights.
    public func advance() {
        step += 1
        prune(to: MagnitudePruner.sparsity(at: step, initial: initialSparsity, final: finalSparsity, steps: rampSteps))
    }

    /// Ends the ramp early: prunes to the final sparsity now (the last fine-tuning epoch starts there).
    public func finishRamp() {
        guard step < rampSteps else { return }
        step = rampSteps
        prune(to: finalSparsity)
    }

    /// Zeroes the smallest-magnitude `fraction` of all target weights (and those pruned before).
    /// Weights are ranked only when the count changes; otherwise the masks are applied again.
    public func prune(to fraction: Double) {
        let total = targets.reduce(0) { $0 + $1.tensor.count }
        let wanted = Int((fraction * Double(total)).rounded())
        if wanted > pruned {
            pruned = wanted
            // Pruned weights are zero, so they stay among the smallest and stay pruned.
            var magnitudes: [(Float, Int32, Int32)] = []
            magnitudes.reserveCapacity(total)
            for (t, target) in targets.enumerated() {
                let p = target.tensor.data
                for i in 0..<target.tensor.count { magnitudes.append((masks[t][i] ? abs(p[i]) : -1, Int32(t), Int32(i))) }
            }
            magnitudes.sort { $0.0 < $1.0 }
            for (_, t, i) in magnitudes.prefix(wanted) { masks[Int(t)][Int(i)] = false }
        }
        applyMasks()
    }

    /// Sets every pruned weight to zero.
    public func applyMasks() {
        for (t, target) in targets.enumerated() {
            let p = target.tensor.data
            for i in 0..<target.tensor.count where !masks[t][i] { p[i] = 0 }
        }
    }
}
