import Foundation
import FusionTensor

/// Weights quantized symmetrically per output channel: `w ≈ values · scales[o]`, values in
/// [-127, 127] (the first axis is the output channel).
public struct Int8Weights: Sendable, Equatable {
    /// The quantized values, row-major in the float weight's shape.
    public let values: [Int8]
    /// One scale per output channel.
    public let scales: [Float]
    /// The float weight's shape, output channels first.
    public let shape: [Int]

    /// Quantizes `weight` (output channels first): each channel's largest magnitude maps to 127.
    public init(quantizing weight: Tensor) {
        let out = weight.shape.first ?? 1
        let per = weight.count / Swift.max(out, 1)
        var values = [Int8](repeating: 0, count: weight.count)
        var scales = [Float](repeating: 1, count: out)
        let w = weight.data
        for o in 0..<out {
            var largest: Float = 0
            for i in 0..<per { largest = Swift.max(largest, Swift.abs(w[o * per + i])) }
            let scale = largest > 0 ? largest / 127 : 1
            scales[o] = scale
            for i in 0..<per {
                values[o * per + i] = Int8(Swift.max(-127, Swift.min(127, (w[o * per + i] / scale).rounded(.toNearestOrEven))))
            }
        }
        self.values = values
        self.scales = scales
        self.shape = weight.shape
    }

    /// Weights read back from a checkpoint; the sizes are checked.
    public init(values: [Int8], scales: [Float], shape: [Int]) throws {
        guard let out = shape.first, out == scales.count, shapeCount(shape) == values.count else {
            throw Int8Error("int8 weights: shape \(shape) does not match \(values.count) values and \(scales.count) scales")
        }
        guard scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw Int8Error("int8 weights: a scale is not a positive finite number") }
        _ = out
        self.values = values
        self.scales = scales
        self.shape = shape
    }

    /// The float weight these values stand for.
    public func dequantized() -> Tensor {
        let per = values.count / Swift.max(scales.count, 1)
        return Tensor(values.enumerated().map { Float($0.element) * scales[$0.offset / Swift.max(per, 1)] }, shape: shape)
    }
}

/// How a layer's input is quantized: unsigned 8-bit codes `u = round(x / scale) + zeroPoint`
/// capped to [0, 127], one scale and zero point for the whole tensor (PyTorch's `quint8` with
/// `reduce_range`). Inputs that calibration never saw negative use zero point 0 and the 7-bit
/// range for [0, max]; others use zero point 64 and cover [−absmax, absmax] with 63 steps a side.
/// The 7-bit range keeps AVX2's 16-bit pair sums (`vpmaddubsw`) from saturating.
public struct ActivationQuantization: Sendable, Equatable {
    /// Real value of one step.
    public let scale: Float
    /// The code of the real value 0.
    public let zeroPoint: Int32

    /// A quantization with a given scale and zero point.
    public init(scale: Float, zeroPoint: Int32) throws {
        guard scale.isFinite && scale > 0 else { throw Int8Error("int8 input scale \(scale) is not a positive finite number") }
        guard (0...127).contains(zeroPoint) else { throw Int8Error("int8 input zero point \(zeroPoint) is outside [0, 127]") }
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The quantization that covers what calibration observed.
    public init(observed range: ActivationRange) {
        let largest = Swift.max(Swift.abs(range.minimum), Swift.abs(range.maximum))
        let unsigned = range.minimum >= 0
        let steps: Float = unsigned ? 127 : 63
        scale = largest > 0 && largest.isFinite ? largest / steps : 1
        zeroPoint = unsigned ? 0 : 64
    }

    /// The real value `x` stands for after quantization (what the int8 kernel multiplies).
    public func roundTrip(_ x: Float) -> Float {
        let code = Swift.max(0, Swift.min(127, (x / scale).rounded(.toNearestOrEven) + Float(zeroPoint)))
        return (code - Float(zeroPoint)) * scale
    }
}

/// The smallest and largest value a layer's input took during calibration.
public final class ActivationRange: @unchecked Sendable {
    /// The extremes seen so far (+∞ and −∞ before any input).
    public private(set) var minimum = Float.infinity, maximum = -Float.infinity
    /// Values observed.
    public private(set) var count = 0

    /// An empty range.
    public init() {}

    /// Widens the range to cover `x`'s finite values.
    public func observe(_ x: Tensor) {
        let p = x.data
        var lo = minimum, hi = maximum
        for i in 0..<x.count where p[i].isFinite {
            lo = Swift.min(lo, p[i]); hi = Swift.max(hi, p[i])
        }
        minimum = lo; maximum = hi
        count += x.count
    }
}

/// A problem with int8 data (a checkpoint's sizes or scales) or with oneDNN.
public struct Int8Error: Error, CustomStringConvertible {
    /// What was wrong.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
