import Foundation
import FusionTensor

/// Seeded waveform augmentation: gain, time shift and additive white noise at a signal-to-noise
/// ratio. Every draw comes from the generator passed in.
public struct AudioAugmentation: Codable, Equatable, Sendable {
    /// Gain in dB drawn uniformly from ±this (0: off).
    public var maxGainDB: Float = 0
    /// Shift by up to ±this many samples, filling with zeros (0: off).
    public var maxShiftSamples = 0
    /// Add Gaussian noise so that the signal-to-noise ratio is this many dB (nil: off).
    public var snrDB: Float? = nil

    /// No augmentation; set the fields you want.
    public init() {}

    /// The augmented samples (same length as `samples`). Pass the real clip, before any
    /// padding: the noise's SNR is measured over every sample given.
    public func apply(_ samples: [Float], using rng: inout SeededGenerator) -> [Float] {
        var x = samples
        if maxGainDB > 0 {
            let gain = pow(10, (rng.nextUnitFloat() * 2 - 1) * maxGainDB / 20)
            for i in x.indices { x[i] *= gain }
        }
        if maxShiftSamples > 0 && !x.isEmpty {
            let shift = Int(rng.next() % UInt64(2 * maxShiftSamples + 1)) - maxShiftSamples
            var shifted = [Float](repeating: 0, count: x.count)
            for i in x.indices where i + shift >= 0 && i + shift < x.count { shifted[i + shift] = x[i] }
            x = shifted
        }
        if let snrDB, !x.isEmpty {
            var noise = (0..<x.count).map { _ in rng.nextNormal() }
            let signalPower = x.reduce(0) { $0 + $1 * $1 }
            let noisePower = noise.reduce(0) { $0 + $1 * $1 }
            if signalPower > 0 && noisePower > 0 {
                let scale = (signalPower / (noisePower * pow(10, snrDB / 10))).squareRoot()
                for i in x.indices { noise[i] *= scale; x[i] += noise[i] }
            }
        }
        return x
    }
}

/// SpecAugment-style masking of a `[features, frames]` matrix (MFCC or log-mel): zero out
/// random bands of frames and of feature rows.
public struct SpecAugment: Codable, Equatable, Sendable {
    /// Number of time masks.
    public var timeMasks = 0
    /// Widest time mask in frames.
    public var maxTimeWidth = 0
    /// Number of frequency (row) masks.
    public var frequencyMasks = 0
    /// Widest frequency mask in rows.
    public var maxFrequencyWidth = 0
    /// The value written into masked cells.
    public var fill: Float = 0

    /// No masking; set the fields you want.
    public init() {}

    /// A masked copy of `features` whose first `validFrames` frames are real (nil: all of
    /// them): masks are placed inside the real frames only, and padded frames stay as they are.
    public func apply(_ features: Tensor, validFrames: Int? = nil, using rng: inout SeededGenerator) -> Tensor {
        precondition(features.rank == 2, "SpecAugment: expected [features, frames], got \(features.shape)")
        let out = features.copy()
        let (rows, stride) = (features.shape[0], features.shape[1])
        let frames = min(max(validFrames ?? stride, 0), stride)
        for _ in 0..<timeMasks where maxTimeWidth > 0 && frames > 0 {
            let width = Int(rng.next() % UInt64(maxTimeWidth + 1))
            let start = Int(rng.next() % UInt64(max(frames - width, 0) + 1))
            for r in 0..<rows { for t in start..<min(start + width, frames) { out.data[r * stride + t] = fill } }
        }
        for _ in 0..<frequencyMasks where maxFrequencyWidth > 0 && rows > 0 && frames > 0 {
            let width = Int(rng.next() % UInt64(maxFrequencyWidth + 1))
            let start = Int(rng.next() % UInt64(max(rows - width, 0) + 1))
            for r in start..<min(start + width, rows) { for t in 0..<frames { out.data[r * stride + t] = fill } }
        }
        return out
    }
}
