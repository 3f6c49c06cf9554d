// Depthwise convolution (one filter per channel) computed directly, and zero padding with
// different amounts on each side, each with its backward beside its forward.

extension Tensor {
    /// Depthwise 2-D cross-correlation, `torch.nn.functional.conv2d(..., groups=C)` with one
    /// filter per channel: input `[B, C, H, W]`, weight `[C, 1, kh, kw]`, bias `[C]`.
    ///
    /// A grouped GEMM would multiply a 1-row matrix per channel; this walks each plane directly,
    /// rows of the output at a time (contiguous for stride 1, so the compiler vectorises them).
    /// Channels are split between threads, and each channel's weight gradient is summed over the
    /// batch in sample order, so results never depend on the thread count.
    public func depthwiseConv2d(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                                dilation: (Int, Int) = (1, 1)) -> Tensor {
        precondition(rank == 4, "depthwiseConv2d: expected input [B, C, H, W], got \(shape)")
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(weight.rank == 4 && weight.shape[0] == c && weight.shape[1] == 1,
                     "depthwiseConv2d: expected weight [\(c), 1, kh, kw], got \(weight.shape)")
        if let bias { precondition(bias.shape == [c], "depthwiseConv2d: expected bias [\(c)], got \(bias.shape)") }
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        let geo = Conv2dGeometry(kernel: (kh, kw), stride: stride, padding: padding, dilation: dilation)
        let (ho, wo) = (geo.outputSize(h, axis: 0), geo.outputSize(w, axis: 1))
        precondition(ho > 0 && wo > 0, "depthwiseConv2d: input \(h)×\(w) is too small for kernel \(kh)×\(kw) (padding \(padding), dilation \(dilation))")
        let out = Tensor(uninitializedShape: [b, c, ho, wo])
        let px = data, pw = weight.data, po = out.data, pb = bias?.data
        // For each kernel column j, the output columns whose input column is inside the image.
        let spans = (0..<kw).map { j in DepthwiseSpan(j: j, geo: geo, width: w, outWidth: wo) }
        parallelChunks(b * c, costPerItem: ho * wo * kh * kw) { planes in
            for plane in planes {
                let ch = plane % c
                let src = px + plane * h * w, dst = po + plane * ho * wo, k = pw + ch * kh * kw
                let start = pb?[ch] ?? 0
                for oh in 0..<ho {
                    let row = dst + oh * wo
                    for ow in 0..<wo { row[ow] = start }
                    for i in 0..<kh {
                        let ih = oh * geo.stride.0 - geo.padding.0 + i * geo.dilation.0
                        guard ih >= 0 && ih < h else { continue }
                        let line = src + ih * w
                        for j in 0..<kw {
                            let span = spans[j], wv = k[i * kw + j]
                            guard span.lo < span.hi else { continue }
                            let base = line + span.offset
                            if geo.stride.1 == 1 {
                                for ow in span.lo..<span.hi { row[ow] += wv * base[ow] }
                            } else {
                                let sw = geo.stride.1
                                for ow in span.lo..<span.hi { row[ow] += wv * base[ow &* sw] }
                            }
                        }
                    }
                }
            }
        }
        let x = self, wd = weight.detached()
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return out.recording("depthwise_conv2d", inputs) { g in
            let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
            let gx = needX ? Tensor.zeros([b, c, h, w]) : nil
            let gw = needW ? Tensor.zeros([c, 1, kh, kw]) : nil
            let gb = needB ? Tensor.zeros([c]) : nil
            let pg = g.data, pk = wd.data, px = x.data
            let pgx = gx?.data, pgw = gw?.data, pgb = gb?.data
            // By channel: every sample of a channel in one worker, in order.
            parallelChunks(c, costPerItem: b * ho * wo * kh * kw * 2) { channels in
                for ch in channels {
                    for bi in 0..<b {
                        let plane = bi * c + ch
                        let gy = pg + plane * ho * wo, src = px + plane * h * w, k = pk + ch * kh * kw
                        if let pgb {
                            var sum: Float = 0
                            for q in 0..<(ho * wo) { sum += gy[q] }
                            pgb[ch] += sum
                        }
                        for oh in 0..<ho {
                            let grow = gy + oh * wo
                            for i in 0..<kh {
                                let ih = oh * geo.stride.0 - geo.padding.0 + i * geo.dilation.0
                                guard ih >= 0 && ih < h else { continue }
                                for j in 0..<kw {
                                    let span = spans[j]
                                    guard span.lo < span.hi else { continue }
                                    let sw = geo.stride.1
                                    if let pgw {
                                        let base = src + ih * w + span.offset
                                        var acc: Float = 0
                                        if sw == 1 {
                                            for ow in span.lo..<span.hi { acc += grow[ow] * base[ow] }
                                        } else {
                                            for ow in span.lo..<span.hi { acc += grow[ow] * base[ow &* sw] }
                                        }
                                        pgw[ch * kh * kw + i * kw + j] += acc
                                    }
                                    if let pgx {
                                        let wv = k[i * kw + j]
                                        let base = pgx + plane * h * w + ih * w + span.offset
                                        if sw == 1 {
                                            for ow in span.lo..<span.hi { base[ow] += wv * grow[ow] }
                                        } else {
                                            for ow in span.lo..<span.hi { base[ow &* sw] += wv * grow[ow] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }

    /// `[B, C, H, W]` with `top`, `bottom`, `left` and `right` rows and columns of zeros added
    /// (`torch.nn.functional.pad(x, (left, right, top, bottom))`); its gradient is the inner region.
    public func padded2d(top: Int, bottom: Int, left: Int, right: Int) -> Tensor {
        precondition(rank == 4, "padded2d: expected [B, C, H, W], got \(shape)")
        precondition(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, "padded2d: padding must be ≥ 0, got \([top, bottom, left, right])")
        let (n, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        let (hp, wp) = (h + top + bottom, w + left + right)
        let out = Tensor.zeros([shape[0], shape[1], hp, wp])
        let px = data, po = out.data
        for p in 0..<n {
            for y in 0..<h { (po + p * hp * wp + (y + top) * wp + left).update(from: px + p * h * w + y * w, count: w) }
        }
        let inShape = shape
        return out.recording("pad2d", [self]) { g in
            let gx = Tensor(uninitializedShape: inShape)
            let pg = g.data, pgx = gx.data
            for p in 0..<n {
                for y in 0..<h { (pgx + p * h * w + y * w).update(from: pg + p * hp * wp + (y + top) * wp + left, count: w) }
            }
            return [gx]
        }
    }
}

/// For kernel column `j`: the output columns `lo..<hi` whose input column lies inside the image,
/// and the input offset of output column 0 (`base[ow * stride]` is then the input).
struct DepthwiseSpan {
    let lo: Int, hi: Int, offset: Int

    init(j: Int, geo: Conv2dGeometry, width w: Int, outWidth wo: Int) {
        let (sw, pw, dw) = (geo.stride.1, geo.padding.1, geo.dilation.1)
        lo = Swift.min(wo, Swift.max(0, (pw - j * dw + sw - 1) / sw))
        hi = Swift.min(wo, Swift.max(0, (w + pw - j * dw + sw - 1) / sw))
        offset = j * dw - pw
    }
}
