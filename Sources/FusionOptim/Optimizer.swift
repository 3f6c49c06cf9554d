import FusionTensor

/// Parameters that share a learning rate and weight decay.
public struct ParameterGroup {
    /// Name of the group (for logs and schedules), e.g. `encoders.text`.
    public var name: String
    /// The parameters with their dotted keys.
    public var parameters: [(key: String, tensor: Tensor)]
    /// Base learning rate of this group (before the schedule's multiplier).
    public var learningRate: Float
    /// Weight decay of this group (L2 for SGD and Adam, decoupled for AdamW).
    public var weightDecay: Float

    /// A group of parameters.
    public init(name: String = "default", parameters: [(key: String, tensor: Tensor)], learningRate: Float, weightDecay: Float = 0) {
        self.name = name; self.parameters = parameters; self.learningRate = learningRate; self.weightDecay = weightDecay
    }
}

/// The bookkeeping all optimizers share: parameter groups, a learning-rate multiplier set by a
/// schedule, a step counter and per-parameter state. Subclasses write only their update rule
/// (`update`). Frozen parameters (`requiresGrad == false`) and parameters without a gradient are
/// skipped.
open class Optimizer {
    /// The parameter groups.
    public var groups: [ParameterGroup]
    /// Multiplies every group's learning rate (set by a schedule each step).
    public var learningRateScale: Float = 1
    /// Number of `step()` calls made.
    public private(set) var stepCount = 0
    /// Per-parameter state buffers (moments), by the parameter's key.
    public var state: [String: [Tensor]] = [:]
    /// Updates applied to each parameter, by key (PyTorch's per-parameter `step`): a parameter
    /// that starts training late (unfrozen in a later epoch) starts its bias correction afresh.
    public var parameterSteps: [String: Int] = [:]

    /// An optimizer over `groups`.
    public init(groups: [ParameterGroup]) {
        var seen = Set<String>()
        for g in groups { for (key, _) in g.parameters { precondition(seen.insert(key).inserted, "Optimizer: parameter \(key) is in two groups") } }
        self.groups = groups
    }

    /// An optimizer with a single group.
    public convenience init(parameters: [(key: String, tensor: Tensor)], learningRate: Float, weightDecay: Float = 0) {
        self.init(groups: [ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)])
    }

    /// Applies one update to every trainable parameter that has a gradient.
    public func step() {
        stepCount += 1
        for group in groups {
            let lr = group.learningRate * learningRateScale
            for (key, p) in group.parameters where p.requiresGrad {
                guard let g = p.grad else { continue }
                parameterSteps[key, default: 0] += 1
                update(key: key, parameter: p, gradient: g, learningRate: lr, weightDecay: group.weightDecay)
            }
        }
    }

    /// Clears the gradients of every parameter in every group.
    public func zeroGrad() {
        for group in groups { for (_, p) in group.parameters { p.grad = nil } }
    }

    /// The state buffers of `key`, created as `count` zero tensors shaped like `like` on first use.
    public func buffers(_ key: String, count: Int, like: Tensor) -> [Tensor] {
        if let s = state[key] { return s }
        let s = (0..<count).map { _ in Tensor.zeros(like.shape) }
        state[key] = s
        return s
    }

    /// Restores the step counter (when resuming from a checkpoint).
    public func restoreStepCount(_ n: Int) { stepCount = n }

    /// The update rule for one parameter. `stepCount` is already incremented.
    open func update(key: String, parameter: Tensor, gradient: Tensor, learningRate: Float, weightDecay: Float) {
        preconditionFailure("\(type(of: self)) must override update(key:parameter:gradient:learningRate:weightDecay:)")
    }
}

/// Stochastic gradient descent as `torch.optim.SGD`: L2 weight decay added to the gradient,
/// momentum buffer `b ← μ·b + (1−dampening)·g` (b = g on the first step), Nesterov's variant
/// `g + μ·b`.
public final class SGD: Optimizer {
    /// Momentum μ, dampening and whether to use Nesterov momentum.
    public let momentum: Float, dampening: Float, nesterov: Bool

    /// An SGD optimizer.
    public init(groups: [ParameterGroup], momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum needs momentum > 0 and zero dampening")
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        super.init(groups: groups)
    }

    override public func update(key: String, parameter: Tensor, gradient: Tensor, learningRate: Float, weightDecay: Float) {
        let n = parameter.count, p = parameter.data, g = gradient.data
        if momentum == 0 {
            for i in 0..<n { p[i] -= learningRate * (g[i] + weightDecay * p[i]) }
            return
        }
        let isNew = state[key] == nil
        let b = buffers(key, count: 1, like: parameter)[0].data
        for i in 0..<n {
            let d = g[i] + weightDecay * p[i]
            b[i] = isNew ? d : momentum * b[i] + (1 - dampening) * d
            p[i] -= learningRate * (nesterov ? d + momentum * b[i] : b[i])
        }
    }
}

/// Adam (Kingma & Ba, 2015) as `torch.optim.Adam`, with L2 weight decay added to the gradient;
/// with `decoupled` it is AdamW (Loshchilov & Hutter, 2019): the parameter shrinks by
/// `lr·wd` before the Adam step.
public class Adam: Optimizer {
    /// Moment decay rates and the denominator's epsilon.
    public let beta1: Float, beta2: Float, eps: Float
    /// Whether weight decay is decoupled (AdamW).
    public let decoupled: Bool

    /// An Adam optimizer (or AdamW with `decoupled`).
    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, decoupled: Bool = false) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.decoupled = decoupled
        super.init(groups: groups)
    }

    override public func update(key: String, parameter: Tensor, gradient: Tensor, learningRate: Float, weightDecay: Float) {
        let s = buffers(key, count: 2, like: parameter)
        let m = s[0].data, v = s[1].data, p = parameter.data, g = gradient.data
        let t = Float(parameterSteps[key] ?? stepCount)
        let bc1 = 1 - powf(beta1, t), bc2Sqrt = (1 - powf(beta2, t)).squareRoot()
        let stepSize = learningRate / bc1
        let step = AdamStep(beta1: beta1, beta2: beta2, eps: eps, l2: decoupled ? 0 : weightDecay,
                            decay: decoupled ? 1 - learningRate * weightDecay : 1, stepSize: stepSize, biasCorrection2Sqrt: bc2Sqrt)
        parallelChunks(parameter.count, costPerItem: 8) { range in step.apply(p, g, m, v, range) }
    }
}

/// AdamW: Adam with decoupled weight decay (each group's `weightDecay`; `torch.optim.AdamW`
/// defaults to 0.01, FusionLab's `training.weight_decay` to 0, so set it).
public final class AdamW: Adam {
    /// An AdamW optimizer.
    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        super.init(groups: groups, beta1: beta1, beta2: beta2, eps: eps, decoupled: true)
    }
}

import Foundation
