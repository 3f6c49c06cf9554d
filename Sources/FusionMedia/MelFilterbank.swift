import Foundation
import FusionCore

/// Frequency ↔ mel conversions and the triangular mel filterbank, as `librosa.filters.mel`.
public enum MelScale: String, ConfigChoice {
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

/// How each triangular mel filter is scaled (librosa's `norm`).
public enum MelNorm: String, ConfigChoice {
    /// Slaney's area normalisation, `2 / (upper edge − lower edge)`: constant energy per hertz
    /// (librosa's default, `norm="slaney"`).
    case slaney
    /// Each filter's weights sum to 1 (librosa's `norm=1`, Essentia's `unit_sum`).
    case sum
    /// Peak 1 (librosa's `norm=None`).
    case none
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

    /// Where the filters are triangles.
    public enum Triangles: String, ConfigChoice {
        /// Linear in hertz between the mel-spaced edges (librosa).
        case hz
        /// Linear in mels (Essentia's MelBands with weighting "warping").
        case mel
    }

    /// Builds the filterbank exactly as `librosa.filters.mel(sr=, n_fft=, n_mels=, fmin=, fmax=,
    /// htk=, norm=)`: triangles between consecutive mel-spaced edge frequencies, computed in
    /// double precision and stored as Float32, each scaled as `norm` says; with `triangles`
    /// `.mel` the triangles are linear in mels, as Essentia's `MelBands`.
    public init(sampleRate: Int, nFFT: Int, melCount: Int, fMin: Double = 0, fMax: Double? = nil,
                scale: MelScale = .slaney, norm: MelNorm = .slaney, triangles: Triangles = .hz) {
        let top = fMax ?? Double(sampleRate) / 2
        let bins = nFFT / 2 + 1
        let fftFreqs = (0..<bins).map { Double($0) * Double(sampleRate) / Double(nFFT) }
        let minMel = scale.mel(fMin), maxMel = scale.mel(top)
        let melEdges = (0..<(melCount + 2)).map { i in minMel + (maxMel - minMel) * Double(i) / Double(melCount + 1) }
        let edges = triangles == .mel ? melEdges : melEdges.map(scale.hz)
        let positions = triangles == .mel ? fftFreqs.map(scale.mel) : fftFreqs
        var starts = [Int](), lengths = [Int](), offsets = [Int](), weights = [Float]()
        for m in 0..<melCount {
            let lowDiff = edges[m + 1] - edges[m], highDiff = edges[m + 2] - edges[m + 1]
            let area = norm == .slaney ? 2 / (scale.hz(melEdges[m + 2]) - scale.hz(melEdges[m])) : 1
            var first = -1, row = [Double]()
            for k in 0..<bins {
                let lower = (positions[k] - edges[m]) / lowDiff
                let upper = (edges[m + 2] - positions[k]) / highDiff
                let w = max(0, min(lower, upper)) * area
                if w > 0 {
                    if first < 0 { first = k }
                    // Keep interior zeros so the run stays contiguous.
                    while first + row.count < k { row.append(0) }
                    row.append(w)
                }
            }
            // librosa.util.normalize(norm=1): a filter without weight stays as it is.
            let total = row.reduce(0, +)
            if norm == .sum && total > 0 { row = row.map { $0 / total } }
            starts.append(max(first, 0))
            lengths.append(row.count)
            offsets.append(weights.count)
            weights += row.map { Float($0) }
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
