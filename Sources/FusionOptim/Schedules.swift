import Foundation
import FusionTensor

/// A learning-rate schedule: the multiplier of every group's base rate at a given step.
public protocol LearningRateSchedule {
    /// The multiplier for the 0-based `step` (or epoch, as the caller counts).
    func multiplier(at step: Int) -> Float
}

/// Constant rate.
public struct ConstantSchedule: LearningRateSchedule {
    /// A constant schedule.
    public init() {}
    /// Always 1.
    public func multiplier(at step: Int) -> Float { 1 }
}

/// Multiplies the rate by `gamma` every `stepSize` steps (as `torch.optim.lr_scheduler.StepLR`).
public struct StepSchedule: LearningRateSchedule {
    /// Steps between decays and the decay factor.
    public let stepSize: Int, gamma: Float
    /// A step schedule.
    public init(stepSize: Int, gamma: Float = 0.1) {
        precondition(stepSize > 0, "StepSchedule: stepSize must be positive, got \(stepSize)")
        self.stepSize = stepSize; self.gamma = gamma
    }
    /// gamma^⌊step / stepSize⌋.
    public func multiplier(at step: Int) -> Float { powf(gamma, Float(step / stepSize)) }
}

/// Cosine annealing from 1 to `minFactor` over `totalSteps` (as `CosineAnnealingLR` with
/// `eta_min = minFactor · lr`).
public struct CosineSchedule: LearningRateSchedule {
    /// Length of the decay and the final multiplier.
    public let totalSteps: Int, minFactor: Float
    /// A cosine schedule.
    public init(totalSteps: Int, minFactor: Float = 0) {
        precondition(totalSteps > 0, "CosineSchedule: totalSteps must be positive, got \(totalSteps)")
        self.totalSteps = totalSteps; self.minFactor = minFactor
    }
    /// minFactor + (1 − minFactor)·(1 + cos(π·t/T))/2, constant after T.
    public func multiplier(at step: Int) -> Float {
        let t = Float(min(step, totalSteps)) / Float(totalSteps)
        return minFactor + (1 - minFactor) * 0.5 * (1 + cosf(Float.pi * t))
    }
}

/// Linear warm-up from `startFactor` to 1 over `warmupSteps`, then `after` (counted from the end
/// of the warm-up).
public struct WarmupSchedule: LearningRateSchedule {
    /// Warm-up length and starting multiplier.
    public let warmupSteps: Int, startFactor: Float
    /// The schedule that follows the warm-up.
    public let after: LearningRateSchedule

    /// A warm-up followed by `after`.
    public init(warmupSteps: Int, startFactor: Float = 0, then after: LearningRateSchedule = ConstantSchedule()) {
        self.warmupSteps = warmupSteps; self.startFactor = startFactor; self.after = after
    }

    /// The warm-up ramp, then `after`.
    public func multiplier(at step: Int) -> Float {
        if step < warmupSteps { return startFactor + (1 - startFactor) * Float(step) / Float(warmupSteps) }
        return after.multiplier(at: step - warmupSteps)
    }
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm`
/// (as `torch.nn.utils.clip_grad_norm_`). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    for p in parameters {
        guard let g = p.grad else { continue }
        for i in 0..<g.count { total += Double(g.data[i]) * Double(g.data[i]) }
    }
    let norm = Float(total.squareRoot())
    let scale = maxNorm / (norm + 1e-6)
    if scale < 1 {
        for p in parameters {
            guard let g = p.grad else { continue }
            for i in 0..<g.count { g.data[i] *= scale }
        }
    }
    return norm
}
