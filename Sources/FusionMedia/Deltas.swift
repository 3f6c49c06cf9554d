import Foundation

/// Time derivatives and per-row standardisation of feature matrices.
public enum Deltas {
    /// The `order`-th derivative of `x` estimated by a Savitzky–Golay filter of polynomial
    /// order `order` over `width` frames, as `librosa.feature.delta(width=, order=, mode="interp")`.
    ///
    /// In "interp" mode the first and last `width / 2` outputs come from the polynomial fitted
    /// to the first (last) `width` frames; for these filters that derivative is constant, so the
    /// edges repeat the value at `width / 2`. Clips shorter than `width` use edge-replicated frames.
    public static func savitzkyGolay(_ x: UnsafePointer<Float>, count: Int, width: Int, order: Int,
                                     into out: UnsafeMutablePointer<Float>) {
        guard count > 0 else { return }
        let h = width / 2
        var coefficients = [Double](repeating: 0, count: width)
        if order == 1 {
            let norm = (-h...h).reduce(0.0) { $0 + Double($1 * $1) }
            for k in -h...h { coefficients[k + h] = Double(k) / norm }
        } else {
            let mean = (-h...h).reduce(0.0) { $0 + Double($1 * $1) } / Double(width)
            let norm = (-h...h).reduce(0.0) { $0 + (Double($1 * $1) - mean) * (Double($1 * $1) - mean) }
            for k in -h...h { coefficients[k + h] = 2 * (Double(k * k) - mean) / norm }
        }
        func at(_ t: Int) -> Float {
            var acc = 0.0
            for k in -h...h { acc += coefficients[k + h] * Double(x[min(max(t + k, 0), count - 1)]) }
            return Float(acc)
        }
        if count >= width {
            let first = at(h), last = at(count - 1 - h)
            for t in 0..<count {
                out[t] = t < h ? first : (t > count - 1 - h ? last : at(t))
            }
        } else {
            for t in 0..<count { out[t] = at(t) }
        }
    }

    /// Standardises each row of a `[rows, columns]` matrix in place to zero mean and unit
    /// variance (population variance; rows with variance below 1e-10 are only centred).
    public static func standardizeRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        guard columns > 0 else { return }
        for r in 0..<rows {
            let row = x + r * columns
            var mean = 0.0
            for t in 0..<columns { mean += Double(row[t]) }
            mean /= Double(columns)
            var variance = 0.0
            for t in 0..<columns { variance += (Double(row[t]) - mean) * (Double(row[t]) - mean) }
            variance /= Double(columns)
            let scale = variance > 1e-10 ? 1 / variance.squareRoot() : 1
            for t in 0..<columns { row[t] = Float((Double(row[t]) - mean) * scale) }
        }
    }
}
