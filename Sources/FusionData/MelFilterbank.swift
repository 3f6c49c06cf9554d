import Foundation

/// Frequency ↔ mel conversions and the triangular mel filterbank, as `librosa.filters.mel`.
public enum MelScale: String, Codable, Equatable, Sendable {
    /// Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above (librosa's default).
    case slaney
    /// The HTK formula `2595 * log10(1 + f / 700)`.
    case htk

    /// Hertz to mels.
    public func mel(_ hz: Double) -> Double {
        switch self {
        case .htk:
            return 2595 * log10(1 + hz / 700)
        case .slaney:
            let fSp = 200.0 / 3
            let minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27
            return hz >= minLogHz ? minLogMel + log(hz / minLogHz) / logStep : hz / fSp
        }
    }

    /// Mels to hertz.
    public func hz(_ mel: Double) -> Double {
        switch self {
        case .htk:
            return 700 * (pow(10, mel / 2595) - 1)
        case .slaney:
            let fSp = 200.0 / 3
            let minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27
            return mel >= minLogMel ? minLogHz * exp(logStep * (mel - minLogMel)) : fSp * mel
        }
    }
}

/// A mel filterbank stored sparsely: filter `m` covers FFT bins `starts[m] ..< starts[m] + lengths[m]`.
public struct MelFilterbank: Sendable {
    /// Number of mel bands.
    public let melCount: Int
    /// Number of FFT bins (`nFFT / 2 + 1`).
    public let binCount: Int
    /// First nonzero bin of each filter.
    public let starts: [Int]
    /// Number of nonzero bins of each filter.
    public let lengths: [Int]
    /// Offset of each filter's weights in `weights`.
    public let offsets: [Int]
    /// The nonzero weights of all filters, concatenated.
    public let weights: [Float]

    /// Builds the filterbank exactly as `librosa.filters.mel(sr=, n_fft=, n_mels=, fmin=, fmax=,
    /// htk=, norm=)`: triangles between consecutive mel-spaced edge frequencies, computed in
    /// double precision and stored as Float32; with `slaneyNorm` each triangle is scaled by
    /// `2 / (upper edge − lower edge)` so it has constant energy per hertz.
    public init(sampleRate: Int, nFFT: Int, melCount: Int, fMin: Double = 0, fMax: Double? = nil,
                scale: MelScale = .slaney, slaneyNorm: Bool = true) {
        let top = fMax ?? Double(sampleRate) / 2
        let bins = nFFT / 2 + 1
        let fftFreqs = (0..<bins).map { Double($0) * Double(sampleRate) / Double(nFFT) }
        let minMel = scale.mel(fMin), maxMel = scale.mel(top)
        let edges = (0..<(melCount + 2)).map { i -> Double in
            scale.hz(minMel + (maxMel - minMel) * Double(i) / Double(melCount + 1))
        }
        var starts = [Int](), lengths = [Int](), offsets = [Int](), weights = [Float]()
        for m in 0..<melCount {
            let lowDiff = edges[m + 1] - edges[m], highDiff = edges[m + 2] - edges[m + 1]
            let norm = slaneyNorm ? 2 / (edges[m + 2] - edges[m]) : 1
            var first = -1, row = [Float]()
            for k in 0..<bins {
                let lower = (fftFreqs[k] - edges[m]) / lowDiff
                let upper = (edges[m + 2] - fftFreqs[k]) / highDiff
                let w = max(0, min(lower, upper)) * norm
                if w > 0 {
                    if first < 0 { first = k }
                    // Keep interior zeros so the run stays contiguous.
                    while first + row.count < k { row.append(0) }
                    row.append(Float(w))
                }
            }
            starts.append(max(first, 0))
            lengths.append(row.count)
            offsets.append(weights.count)
            weights += row
        }
        self.melCount = melCount
        self.binCount = bins
        self.starts = starts
        self.lengths = lengths
        self.offsets = offsets
        self.weights = weights
    }

    /// The dense `[melCount, binCount]` matrix, for tests and inspection.
    public func dense() -> [Float] {
        var out = [Float](repeating: 0, count: melCount * binCount)
        for m in 0..<melCount {
            for j in 0..<lengths[m] { out[m * binCount + starts[m] + j] = weights[offsets[m] + j] }
        }
        return out
    }
}
