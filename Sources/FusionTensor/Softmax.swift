import Foundation

// Numerically stable softmax and log-softmax along an axis.

extension Tensor {
    /// exp(x − max) / Σ exp(x − max) along `axis`.
    public func softmax(axis: Int = -1) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        let sp = AxisSplit(shape, axis: a)
        let out = Tensor(uninitializedShape: shape)
        softmaxKernel(data, out.data, sp, log: false)
        let y = out.detached()
        return out.recording("softmax", [self]) { g in
            // dx = y · (g − Σ g·y)
            let gx = Tensor(uninitializedShape: y.shape)
            for o in 0..<sp.outer {
                for k in 0..<sp.inner {
                    var dot: Float = 0
                    for j in 0..<sp.n { let i = (o * sp.n + j) * sp.inner + k; dot += g.data[i] * y.data[i] }
                    for j in 0..<sp.n { let i = (o * sp.n + j) * sp.inner + k; gx.data[i] = y.data[i] * (g.data[i] - dot) }
                }
            }
            return [gx]
        }
    }

    /// x − max − log Σ exp(x − max) along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        let sp = AxisSplit(shape, axis: a)
        let out = Tensor(uninitializedShape: shape)
        softmaxKernel(data, out.data, sp, log: true)
        let y = out.detached()
        return out.recording("logSoftmax", [self]) { g in
            // dx = g − softmax · Σ g
            let gx = Tensor(uninitializedShape: y.shape)
            for o in 0..<sp.outer {
                for k in 0..<sp.inner {
                    var total: Float = 0
                    for j in 0..<sp.n { total += g.data[(o * sp.n + j) * sp.inner + k] }
                    for j in 0..<sp.n {
                        let i = (o * sp.n + j) * sp.inner + k
                        gx.data[i] = g.data[i] - Foundation.exp(y.data[i]) * total
                    }
                }
            }
            return [gx]
        }
    }
}

func softmaxKernel(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ sp: AxisSplit, log: Bool) {
    for o in 0..<sp.outer {
        for k in 0..<sp.inner {
            let base = o * sp.n * sp.inner + k, s = sp.inner
            var m = -Float.infinity
            for j in 0..<sp.n { m = Swift.max(m, x[base + j * s]) }
            if m == -.infinity {
                // A fully masked row (every value −∞): zeros for softmax, −∞ for log-softmax.
                for j in 0..<sp.n { y[base + j * s] = log ? -.infinity : 0 }
                continue
            }
            var total: Float = 0
            for j in 0..<sp.n {
                let e = Foundation.exp(x[base + j * s] - m)
                y[base + j * s] = e
                total += e
            }
            if log {
                let logTotal = Foundation.log(total)
                for j in 0..<sp.n { y[base + j * s] = (x[base + j * s] - m) - logTotal }
            } else {
                let inv = 1 / total
                for j in 0..<sp.n { y[base + j * s] *= inv }
            }
        }
    }
}
