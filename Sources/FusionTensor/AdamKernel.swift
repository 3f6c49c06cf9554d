import CFusionKernels

/// One Adam (or AdamW) step's constants, applied to a range of parameters in one pass by the C
/// kernel `fl_adam` at the CPU's width (AVX-512, AVX2 or baseline, the same bits on each).
public struct AdamStep: Sendable {
    /// Moment decay rates and the denominator's epsilon.
    public var beta1: Float, beta2: Float, eps: Float
    /// L2 weight decay added to the gradient (Adam), and the factor the parameter shrinks by first (AdamW; else 1).
    public var l2: Float, decay: Float
    /// lr / (1 − β1ᵗ) and √(1 − β2ᵗ).
    public var stepSize: Float, biasCorrection2Sqrt: Float

    /// A step with these constants.
    public init(beta1: Float, beta2: Float, eps: Float, l2: Float, decay: Float, stepSize: Float, biasCorrection2Sqrt: Float) {
        (self.beta1, self.beta2, self.eps, self.l2, self.decay) = (beta1, beta2, eps, l2, decay)
        (self.stepSize, self.biasCorrection2Sqrt) = (stepSize, biasCorrection2Sqrt)
    }

    /// Updates parameters `p`, first moments `m` and second moments `v` at `range` from gradients `g`.
    public func apply(_ p: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                      _ v: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        var step = fl_adam_step(beta1: beta1, beta2: beta2, eps: eps, l2: l2, decay: decay, step_size: stepSize,
                                bias_correction2_sqrt: biasCorrection2Sqrt)
        let i = range.lowerBound
        fl_adam(&step, p + i, g + i, m + i, v + i, range.count)
    }
}
