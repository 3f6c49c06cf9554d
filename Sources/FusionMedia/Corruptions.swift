import Foundation
import FusionTensor

/// Seeded corruptions of one modality at a level in [0, 1] (0: none), after MultiBench's
/// robustness protocol: what `fusionlab robustness` evaluates under and what
/// `training.noise` trains with.
///
/// - **image**: Gaussian pixel noise of σ = 0.5·level (pixels in [0, 1]), then a black square
///   occluding a level/2 share of the image at a random place.
/// - **audio**: white noise over the clip at SNR = 30 − 35·level dB (level 1: −5 dB), relative to
///   the clip's own power, before MFCCs are computed.
/// - **text**: each token dropped with probability level/2, then neighbouring tokens swapped
///   with probability level/2.
public enum Corruption {
    /// The SNR in dB of audio noise at `level` (infinite at 0).
    public static func snr(level: Double) -> Double { level <= 0 ? .infinity : 30 - 35 * level }

    /// Corrupts one normalised image `[C, H, W]` in place; `mean`/`std` are the normalisation
    /// (nil: none), so noise and occlusion are in pixel units.
    public static func image(_ x: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int,
                                                        mean: [Float]?, std: [Float]?, level: Double, using rng: inout SeededGenerator) {
        guard level > 0, channels > 0, height > 0, width > 0 else { return }
        let sigma = Float(0.5 * level)
        let plane = height * width
        for c in 0..<channels {
            let s = std.map { $0[min(c, $0.count - 1)] } ?? 1
            let scale = sigma / s
            Self.normals(plane, &rng) { i, z in x[c * plane + i] += Float(z) * scale }
        }
        // A square covering level/2 of the area (clipped to the image).
        let side = Int((Double(plane) * level / 2).squareRoot().rounded())
        guard side > 0 else { return }
        let (h, w) = (min(side, height), min(side, width))
        let top = Int.random(in: 0...(height - h), using: &rng), left = Int.random(in: 0...(width - w), using: &rng)
        for c in 0..<channels {
            let m = mean.map { $0[min(c, $0.count - 1)] } ?? 0, s = std.map { $0[min(c, $0.count - 1)] } ?? 1
            let black = (0 - m) / s
            for r in top..<(top + h) { for q in left..<(left + w) { x[c * plane + r * width + q] = black } }
        }
    }

    /// `samples` (the real clip, before padding) with white noise at the SNR of `level`.
    public static func audio(_ samples: [Float], level: Double, using rng: inout SeededGenerator) -> [Float] {
        guard level > 0, !samples.isEmpty else { return samples }
        let power = samples.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(samples.count)
        guard power > 0 else { return samples }
        let noiseStd = (power / Foundation.pow(10, snr(level: level) / 10)).squareRoot()
        var out = samples
        Self.normals(out.count, &rng) { i, z in out[i] += Float(z * noiseStd) }
        return out
    }

    /// Token ids and their 1/0 mask with tokens dropped and swapped at `level`, re-padded with 0.
    public static func text(ids: [Int32], mask: [Int32], level: Double, using rng: inout SeededGenerator)
        -> (ids: [Int32], mask: [Int32]) {
        guard level > 0 else { return (ids, mask) }
        let p = level / 2
        var kept: [Int32] = []
        for (id, m) in zip(ids, mask) where m != 0 {
            if Double.random(in: 0..<1, using: &rng) >= p { kept.append(id) }
        }
        var i = 0
        while i + 1 < kept.count {
            if Double.random(in: 0..<1, using: &rng) < p {
                kept.swapAt(i, i + 1)
                i += 2
            } else {
                i += 1
            }
        }
        let n = ids.count
        return (kept + [Int32](repeating: 0, count: n - kept.count), [Int32](repeating: 1, count: kept.count) + [Int32](repeating: 0, count: n - kept.count))
    }

    /// `count` standard normal draws (Box–Muller, both values of each pair), handed to `body` with their index.
    static func normals(_ count: Int, _ rng: inout SeededGenerator, _ body: (Int, Double) -> Void) {
        var i = 0
        while i < count {
            let u = max(Double.random(in: 0..<1, using: &rng), 1e-300), v = Double.random(in: 0..<1, using: &rng)
            let r = (-2 * Foundation.log(u)).squareRoot(), a = 2 * Double.pi * v
            body(i, r * Foundation.cos(a))
            if i + 1 < count { body(i + 1, r * Foundation.sin(a)) }
            i += 2
        }
    }
}
