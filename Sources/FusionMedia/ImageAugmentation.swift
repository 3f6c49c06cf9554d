import Foundation
import FusionTensor

/// Seeded random image augmentation, applied on the fly to `[C, H, W]` tensors in [0, 1].
/// Every random draw comes from the generator passed in, so the same seed gives the same images.
public struct ImageAugmentation: Codable, Equatable, Sendable {
    /// Zero padding added on every side before a random crop back to the original size (0: off).
    public var cropPadding = 0
    /// Probability of a horizontal flip.
    public var horizontalFlipProbability: Float = 0
    /// Largest rotation in degrees, drawn uniformly from ±this (0: off).
    public var maxRotationDegrees: Float = 0
    /// Brightness factor drawn from [1 − b, 1 + b] (0: off).
    public var brightness: Float = 0
    /// Contrast factor drawn from [1 − c, 1 + c], blending towards the image mean (0: off).
    public var contrast: Float = 0
    /// Standard deviation of added Gaussian noise (0: off).
    public var noiseStd: Float = 0

    /// No augmentation; set the fields you want.
    public init() {}

    /// The augmented image. Jitter and noise results are clamped to [0, 1].
    public func apply(_ image: Tensor, using rng: inout SeededGenerator) -> Tensor {
        var x = image
        let (h, w) = (image.shape[1], image.shape[2])
        if cropPadding > 0 {
            let top = Int(rng.next() % UInt64(2 * cropPadding + 1)) - cropPadding
            let left = Int(rng.next() % UInt64(2 * cropPadding + 1)) - cropPadding
            x = ImageTransforms.crop(x, top: top, left: left, height: h, width: w)
        }
        if horizontalFlipProbability > 0 && rng.nextUnitFloat() < horizontalFlipProbability {
            x = ImageTransforms.horizontalFlip(x)
        }
        if maxRotationDegrees > 0 {
            x = ImageTransforms.rotate(x, degrees: (rng.nextUnitFloat() * 2 - 1) * maxRotationDegrees)
        }
        if brightness > 0 || contrast > 0 || noiseStd > 0 {
            if x === image { x = image.copy() }
            let b = brightness > 0 ? 1 + (rng.nextUnitFloat() * 2 - 1) * brightness : 1
            let c = contrast > 0 ? 1 + (rng.nextUnitFloat() * 2 - 1) * contrast : 1
            var mean: Float = 0
            for i in 0..<x.count { mean += x.data[i] }
            mean = mean / Float(max(x.count, 1)) * b
            for i in 0..<x.count {
                var v = x.data[i] * b
                v = (v - mean) * c + mean
                if noiseStd > 0 { v += rng.nextNormal() * noiseStd }
                x.data[i] = min(max(v, 0), 1)
            }
        }
        return x
    }
}
