// Layer normalisation and batch normalisation, fused forward and backward.

extension Tensor {
    /// Layer normalisation over the last axis as `torch.nn.functional.layer_norm`:
    /// y = (x − mean) / sqrt(var + eps) · weight + bias, with the biased variance.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        let d = shape[rank - 1], rows = count / Swift.max(d, 1)
        if let weight { precondition(weight.shape == [d], "layerNorm: expected weight [\(d)], got \(weight.shape)") }
        if let bias { precondition(bias.shape == [d], "layerNorm: expected bias [\(d)], got \(bias.shape)") }
        let out = Tensor(uninitializedShape: shape)
        let xhat = Tensor(uninitializedShape: shape)
        var rstd = [Float](repeating: 0, count: rows)
        let px = data, po = out.data, pw = weight?.data, pb = bias?.data
        let ph = xhat.data
        for r in 0..<rows {
            let x = px + r * d
            var mean: Float = 0
            for j in 0..<d { mean += x[j] }
            mean /= Float(d)
            var v: Float = 0
            for j in 0..<d { let t = x[j] - mean; v += t * t }
            let rs = 1 / (v / Float(d) + eps).squareRoot()
            rstd[r] = rs
            for j in 0..<d {
                let xh = (x[j] - mean) * rs
                ph[r * d + j] = xh
                po[r * d + j] = xh * (pw?[j] ?? 1) + (pb?[j] ?? 0)
            }
        }
        let input = self
        var inputs = [input]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return out.recording("layerNorm", inputs) { g in
            let pg = g.data, ph = xhat.data
            var result: [Tensor?] = []
            if input.requiresGrad {
                let gx = Tensor(uninitializedShape: input.shape)
                for r in 0..<rows {
                    var sumD: Float = 0, sumDX: Float = 0
                    for j in 0..<d {
                        let dxh = pg[r * d + j] * (pw?[j] ?? 1)
                        sumD += dxh; sumDX += dxh * ph[r * d + j]
                    }
                    let k = rstd[r] / Float(d)
                    for j in 0..<d {
                        let dxh = pg[r * d + j] * (pw?[j] ?? 1)
                        gx.data[r * d + j] = k * (Float(d) * dxh - sumD - ph[r * d + j] * sumDX)
                    }
                }
                result.append(gx)
            } else {
                result.append(nil)
            }
            if weight != nil {
                let gw = Tensor.zeros([d])
                for r in 0..<rows { for j in 0..<d { gw.data[j] += pg[r * d + j] * ph[r * d + j] } }
                result.append(gw)
            }
            if bias != nil {
                let gb = Tensor.zeros([d])
                for r in 0..<rows { addInPlace(gb.data, pg + r * d, count: d) }
                result.append(gb)
            }
            return result
        }
    }

    /// Batch normalisation over `[B, C, ...]` as `torch.nn.functional.batch_norm`.
    ///
    /// In training, normalises with the batch's mean and biased variance per channel and moves
    /// the running statistics by `momentum` (the running variance takes the unbiased estimate);
    /// in evaluation, normalises with the running statistics.
    public func batchNorm(weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                          training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
        precondition(rank >= 2, "batchNorm: expected [B, C, ...], got \(shape)")
        let (b, c) = (shape[0], shape[1])
        let s = count / Swift.max(b * c, 1), n = b * s
        precondition(runningMean.shape == [c] && runningVar.shape == [c],
                     "batchNorm: expected running statistics [\(c)], got \(runningMean.shape) and \(runningVar.shape)")
        var mean = [Float](repeating: 0, count: c), rstd = [Float](repeating: 0, count: c)
        let px = data
        if training {
            precondition(n > 1, "batchNorm: training needs more than one value per channel, got input \(shape)")
            for ci in 0..<c {
                var m: Double = 0
                for bi in 0..<b { let p = px + (bi * c + ci) * s; for k in 0..<s { m += Double(p[k]) } }
                m /= Double(n)
                var v: Double = 0
                for bi in 0..<b { let p = px + (bi * c + ci) * s; for k in 0..<s { let t = Double(p[k]) - m; v += t * t } }
                let biased = v / Double(n)
                mean[ci] = Float(m)
                rstd[ci] = Float(1 / (biased + Double(eps)).squareRoot())
                runningMean.data[ci] = (1 - momentum) * runningMean.data[ci] + momentum * Float(m)
                runningVar.data[ci] = (1 - momentum) * runningVar.data[ci] + momentum * Float(v / Double(n - 1))
            }
        } else {
            for ci in 0..<c {
                mean[ci] = runningMean.data[ci]
                rstd[ci] = 1 / (runningVar.data[ci] + eps).squareRoot()
            }
        }
        let input = self
        var inputs = [input]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let out = Tensor(uninitializedShape: shape)
        let po = out.data, pw = weight?.data, pb = bias?.data
        if !Tensor.needsGrad(inputs) {
            // Nothing to record (inference, or a frozen layer on a frozen input): one pass of
            // x · scale + shift per channel, planes spread over the threads.
            let scale = (0..<c).map { rstd[$0] * (pw?[$0] ?? 1) }
            let shift = (0..<c).map { (pb?[$0] ?? 0) - mean[$0] * scale[$0] }
            scale.withUnsafeBufferPointer { sc in
                shift.withUnsafeBufferPointer { sh in
                    parallelChunks(b * c, costPerItem: s) { planes in
                        for plane in planes {
                            let ci = plane % c, (a, t) = (sc[ci], sh[ci])
                            let src = px + plane * s, dst = po + plane * s
                            for k in 0..<s { dst[k] = src[k] * a + t }
                        }
                    }
                }
            }
            return out
        }
        let xhat = Tensor(uninitializedShape: shape)
        let ph = xhat.data
        for bi in 0..<b {
            for ci in 0..<c {
                let off = (bi * c + ci) * s
                let (m, rs, gm, bt) = (mean[ci], rstd[ci], pw?[ci] ?? 1, pb?[ci] ?? 0)
                for k in 0..<s {
                    let xh = (px[off + k] - m) * rs
                    ph[off + k] = xh
                    po[off + k] = xh * gm + bt
                }
            }
        }
        return out.recording("batchNorm", inputs) { g in
            let pg = g.data, ph = xhat.data
            var sumD = [Float](repeating: 0, count: c), sumDX = [Float](repeating: 0, count: c)
            for bi in 0..<b {
                for ci in 0..<c {
                    let off = (bi * c + ci) * s
                    for k in 0..<s { sumD[ci] += pg[off + k]; sumDX[ci] += pg[off + k] * ph[off + k] }
                }
            }
            var result: [Tensor?] = []
            if input.requiresGrad {
                let gx = Tensor(uninitializedShape: input.shape)
                for bi in 0..<b {
                    for ci in 0..<c {
                        let off = (bi * c + ci) * s
                        let gm = pw?[ci] ?? 1
                        if training {
                            let k = rstd[ci] * gm / Float(n)
                            for t in 0..<s {
                                gx.data[off + t] = k * (Float(n) * pg[off + t] - sumD[ci] - ph[off + t] * sumDX[ci])
                            }
                        } else {
                            let k = rstd[ci] * gm
                            for t in 0..<s { gx.data[off + t] = k * pg[off + t] }
                        }
                    }
                }
                result.append(gx)
            } else {
                result.append(nil)
            }
            if weight != nil { result.append(Tensor(sumDX, shape: [c])) }
            if bias != nil { result.append(Tensor(sumD, shape: [c])) }
            return result
        }
    }
}
