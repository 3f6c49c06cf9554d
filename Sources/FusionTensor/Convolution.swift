// 1-D and 2-D convolution through a batched im2col and one GEMM per group.

/// Geometry of a 2-D convolution or pooling window.
public struct Conv2dGeometry: Equatable, Sendable {
    /// Kernel extent (height, width).
    public var kernel: (Int, Int)
    /// Step between windows.
    public var stride: (Int, Int)
    /// Zero padding added on each side.
    public var padding: (Int, Int)
    /// Spacing between kernel taps.
    public var dilation: (Int, Int)

    /// A window geometry; stride defaults to 1, padding to 0, dilation to 1.
    public init(kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) {
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.dilation = dilation
    }

    /// Output extent for an input extent along height (axis 0) or width (axis 1).
    public func outputSize(_ input: Int, axis: Int) -> Int {
        let (k, s, p, d) = axis == 0 ? (kernel.0, stride.0, padding.0, dilation.0) : (kernel.1, stride.1, padding.1, dilation.1)
        return (input + 2 * p - d * (k - 1) - 1) / s + 1
    }

    /// Equal when every field is equal.
    public static func == (l: Conv2dGeometry, r: Conv2dGeometry) -> Bool {
        l.kernel == r.kernel && l.stride == r.stride && l.padding == r.padding && l.dilation == r.dilation
    }
}

extension Tensor {
    /// 2-D cross-correlation as `torch.nn.functional.conv2d`: input `[B, C, H, W]`, weight
    /// `[O, C/groups, kh, kw]`, bias `[O]`, output `[B, O, Ho, Wo]`.
    ///
    /// With `fusedReLU` the result is `relu(conv2d(...))`, computed in the same pass that lays out
    /// the output (and its gradient mask in the pass that lays out the output gradient).
    public func conv2d(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1, fusedReLU: Bool = false) -> Tensor {
        precondition(rank == 4, "conv2d: expected input [B, C, H, W], got \(shape)")
        precondition(weight.rank == 4, "conv2d: expected weight [O, C/groups, kh, kw], got \(weight.shape)")
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (o, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(groups >= 1 && c % groups == 0 && o % groups == 0 && cg == c / groups,
                     "conv2d: input has \(c) channels and weight \(weight.shape) with groups=\(groups); expected weight [O, \(c / Swift.max(groups, 1)), kh, kw] with O divisible by groups")
        if let bias { precondition(bias.shape == [o], "conv2d: expected bias [\(o)], got \(bias.shape)") }
        let geo = Conv2dGeometry(kernel: (kh, kw), stride: stride, padding: padding, dilation: dilation)
        let (ho, wo) = (geo.outputSize(h, axis: 0), geo.outputSize(w, axis: 1))
        precondition(ho > 0 && wo > 0, "conv2d: input \(h)×\(w) is too small for kernel \(kh)×\(kw) (padding \(padding), dilation \(dilation))")
        let l = ho * wo, cols = b * l, rowsPerGroup = cg * kh * kw, og = o / groups

        let col = Tensor(uninitializedShape: [c * kh * kw, cols])
        im2col(x: data, b: b, c: c, h: h, w: w, geo: geo, ho: ho, wo: wo, col: col.data)
        let y = Tensor(uninitializedShape: [o, cols])
        for gi in 0..<groups {
            sgemm(transA: false, transB: false, m: og, n: cols, k: rowsPerGroup,
                  weight.data + gi * og * rowsPerGroup, col.data + gi * rowsPerGroup * cols, y.data + gi * og * cols)
        }
        // [O, B, L] → [B, O, L], adding the bias on the way.
        let out = Tensor(uninitializedShape: [b, o, ho, wo])
        let py = y.data, po = out.data, pb = bias?.data
        parallelChunks(b * o, costPerItem: l) { range in
            for bo in range {
                let (bi, oi) = (bo / o, bo % o)
                let src = py + oi * cols + bi * l, dst = po + bo * l
                vectorShift(dst, src, pb?[oi] ?? 0, l, relu: fusedReLU)
            }
        }
        let x = self
        let wd = weight.detached(), yd = out.detached()
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return out.recording("conv2d", inputs) { g in
            let gy = Tensor(uninitializedShape: [o, cols])  // dY as [O, B·L]
            let pg = g.data, pgy = gy.data, pout = yd.data
            parallelChunks(b * o, costPerItem: l) { range in
                for bo in range {
                    let (bi, oi) = (bo / o, bo % o)
                    let dst = pgy + oi * cols + bi * l, src = pg + bo * l
                    if fusedReLU {
                        vectorMaskPositive(dst, src, gate: pout + bo * l, l)
                    } else {
                        dst.update(from: src, count: l)
                    }
                }
            }
            var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
            if weight.requiresGrad {
                let t = Tensor(uninitializedShape: wd.shape)
                for gi in 0..<groups {
                    sgemm(transA: false, transB: true, m: og, n: rowsPerGroup, k: cols,
                          pgy + gi * og * cols, col.data + gi * rowsPerGroup * cols, t.data + gi * og * rowsPerGroup)
                }
                gw = t
            }
            if let bias, bias.requiresGrad {
                let t = Tensor(uninitializedShape: [o])
                for oi in 0..<o { t.data[oi] = vectorSum(pgy + oi * cols, cols) }
                gb = t
            }
            if x.requiresGrad {
                let dcol = Tensor(uninitializedShape: [c * kh * kw, cols])
                for gi in 0..<groups {
                    sgemm(transA: true, transB: false, m: rowsPerGroup, n: cols, k: og,
                          wd.data + gi * og * rowsPerGroup, pgy + gi * og * cols, dcol.data + gi * rowsPerGroup * cols)
                }
                let t = Tensor.zeros([b, c, h, w])
                col2im(col: dcol.data, b: b, c: c, h: h, w: w, geo: geo, ho: ho, wo: wo, x: t.data)
                gx = t
            }
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }

    /// 1-D cross-correlation as `torch.nn.functional.conv1d`: input `[B, C, L]`, weight
    /// `[O, C/groups, k]`, output `[B, O, Lo]`.
    public func conv1d(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
        precondition(rank == 3, "conv1d: expected input [B, C, L], got \(shape)")
        precondition(weight.rank == 3, "conv1d: expected weight [O, C/groups, k], got \(weight.shape)")
        let y = unsqueezed(2).conv2d(weight: weight.unsqueezed(2), bias: bias, stride: (1, stride), padding: (0, padding),
                                     dilation: (1, dilation), groups: groups)
        return y.squeezed(2)
    }
}

/// Unfolds every receptive field of `x` `[B, C, H, W]` into `col` `[C·kh·kw, B·Ho·Wo]`.
func im2col(x: UnsafeMutablePointer<Float>, b: Int, c: Int, h: Int, w: Int, geo: Conv2dGeometry, ho: Int, wo: Int,
            col: UnsafeMutablePointer<Float>) {
    let (kh, kw) = geo.kernel, (sh, sw) = geo.stride, (ph, pw) = geo.padding, (dh, dw) = geo.dilation
    let l = ho * wo, cols = b * l
    parallelChunks(c * kh * kw, costPerItem: cols) { rows in
        for r in rows {
            let ci = r / (kh * kw), i = (r / kw) % kh, j = r % kw
            let dst = col + r * cols
            // Output columns whose input column is inside the image: ow in [owLo, owHi).
            let owLo = Swift.max(0, (pw - j * dw + sw - 1) / sw)
            let owHi = Swift.min(wo, Swift.max(0, (w + pw - j * dw + sw - 1) / sw))
            for bi in 0..<b {
                let plane = x + (bi * c + ci) * h * w
                for oh in 0..<ho {
                    let d = dst + bi * l + oh * wo
                    let ih = oh * sh - ph + i * dh
                    if ih < 0 || ih >= h || owLo >= owHi {
                        d.update(repeating: 0, count: wo)
                        continue
                    }
                    for ow in 0..<owLo { d[ow] = 0 }
                    let src = plane + ih * w - pw + j * dw
                    if sw == 1 {
                        (d + owLo).update(from: src + owLo, count: owHi - owLo)
                    } else {
                        for ow in owLo..<owHi { d[ow] = src[ow * sw] }
                    }
                    for ow in owHi..<wo { d[ow] = 0 }
                }
            }
        }
    }
}

/// Adds every column of `col` `[C·kh·kw, B·Ho·Wo]` back into its place in `x` `[B, C, H, W]` (zeroed by the caller).
func col2im(col: UnsafeMutablePointer<Float>, b: Int, c: Int, h: Int, w: Int, geo: Conv2dGeometry, ho: Int, wo: Int,
            x: UnsafeMutablePointer<Float>) {
    let (kh, kw) = geo.kernel, (sh, sw) = geo.stride, (ph, pw) = geo.padding, (dh, dw) = geo.dilation
    let l = ho * wo, cols = b * l
    parallelChunks(c, costPerItem: kh * kw * cols) { channels in
        for ci in channels {
            for i in 0..<kh {
                for j in 0..<kw {
                    let r = (ci * kh + i) * kw + j
                    let src = col + r * cols
                    let owLo = Swift.max(0, (pw - j * dw + sw - 1) / sw)
                    let owHi = Swift.min(wo, Swift.max(0, (w + pw - j * dw + sw - 1) / sw))
                    if owLo >= owHi { continue }
                    for bi in 0..<b {
                        let plane = x + (bi * c + ci) * h * w
                        for oh in 0..<ho {
                            let ih = oh * sh - ph + i * dh
                            if ih < 0 || ih >= h { continue }
                            let s = src + bi * l + oh * wo
                            let d = plane + ih * w - pw + j * dw
                            if sw == 1 {
                                for ow in owLo..<owHi { d[ow] += s[ow] }
                            } else {
                                for ow in owLo..<owHi { d[ow * sw] += s[ow] }
                            }
                        }
                    }
                }
            }
        }
    }
}
