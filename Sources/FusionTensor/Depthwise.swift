import CFusionKernels


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
        var geometry = fl_depthwise_geometry(h: Int32(h), w: Int32(w), channels: Int32(c), out_h: Int32(ho), out_w: Int32(wo),
                                             kernel_h: Int32(kh), kernel_w: Int32(kw), stride_h: Int32(geo.stride.0), stride_w: Int32(geo.stride.1),
                                             pad_h: Int32(geo.padding.0), pad_w: Int32(geo.padding.1),
                                             dilation_h: Int32(geo.dilation.0), dilation_w: Int32(geo.dilation.1))
        // Small "same" planes run as flat runs of pixels, forward and backward (AVX-512); other
        // small planes with many channels run channels-last, the innermost loop over channels.
        let flat = fl_depthwise_planes_flat(&geometry) == 1
        if !flat && c >= 32 && wo < 16 {
            return depthwiseChannelsLast(weight: weight, bias: bias, geo: geo, ho: ho, wo: wo)
        }
        let out = Tensor(uninitializedShape: [b, c, ho, wo])
        let px = data, pw = weight.data, po = out.data, pb = bias?.data
        // For each kernel column j, the output columns whose input column is inside the image.
        let spans = (0..<kw).map { j in DepthwiseSpan(j: j, geo: geo, width: w, outWidth: wo) }
        var g = geometry
        parallelChunks(b * c, costPerItem: ho * wo * kh * kw) { planes in
            fl_depthwise_planes_forward(&g, px, pw, pb, po, Int32(planes.lowerBound), Int32(planes.upperBound))
        }
        let x = self, wd = weight.detached()
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return out.recording("depthwise_conv2d", inputs) { g in
            let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
            let gx = needX ? (flat ? Tensor(uninitializedShape: [b, c, h, w]) : Tensor.zeros([b, c, h, w])) : nil
            let gw = needW ? Tensor.zeros([c, 1, kh, kw]) : nil
            let gb = needB ? Tensor.zeros([c]) : nil
            let pg = g.data, pk = wd.data, px = x.data
            let pgx = gx?.data, pgw = gw?.data, pgb = gb?.data
            if flat {
                var geometry = geometry
                parallelChunks(c, costPerItem: b * ho * wo * kh * kw * 2) { channels in
                    _ = fl_depthwise_planes_backward(&geometry, Int32(b), px, pk, pg, pgx, pgw, pgb,
                                                     Int32(channels.lowerBound), Int32(channels.upperBound))
                }
                return bias == nil ? [gx, gw] : [gx, gw, gb]
            }
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

    /// The depthwise convolution computed channels-last by the C kernels (CFusionKernels: AVX-512,
    /// AVX2 or baseline, chosen at start-up): input and output gradients are laid out
    /// `[B, H, W, C]`, so every tap is one multiply-add over a run of channels. Threads split the
    /// channels, and each channel's sums run in the same order whatever their number.
    func depthwiseChannelsLast(weight: Tensor, bias: Tensor?, geo: Conv2dGeometry, ho: Int, wo: Int) -> Tensor {
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (kh, kw) = geo.kernel
        let taps = kh * kw
        var g = fl_depthwise_geometry(h: Int32(h), w: Int32(w), channels: Int32(c), out_h: Int32(ho), out_w: Int32(wo),
                                      kernel_h: Int32(kh), kernel_w: Int32(kw), stride_h: Int32(geo.stride.0), stride_w: Int32(geo.stride.1),
                                      pad_h: Int32(geo.padding.0), pad_w: Int32(geo.padding.1),
                                      dilation_h: Int32(geo.dilation.0), dilation_w: Int32(geo.dilation.1))
        // Channels-last copies of the input and the taps ([kh·kw, C]).
        let xt = Tensor.channelsLast(data, batch: b, channels: c, plane: h * w)
        let wt = Tensor(uninitializedShape: [taps, c])
        for ch in 0..<c { for t in 0..<taps { wt.data[t * c + ch] = weight.data[ch * taps + t] } }
        let yt = Tensor(uninitializedShape: [b * ho * wo * c])
        let pxt = xt.data, pwt = wt.data, pyt = yt.data, pb = bias.map { UnsafePointer($0.data) }
        let (inPlane, outPlane) = (h * w * c, ho * wo * c)
        parallelChunks(c, costPerItem: b * ho * wo * taps) { range in
            for sample in 0..<b {
                fl_depthwise_nhwc_forward(&g, pxt + sample * inPlane, pwt, pb, pyt + sample * outPlane,
                                          Int32(range.lowerBound), Int32(range.upperBound))
            }
        }
        let out = Tensor.channelsFirst(pyt, batch: b, channels: c, height: ho, width: wo)
        let x = self
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return withExtendedLifetime(yt) { out }.recording("depthwise_conv2d", inputs) { grad in
            let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
            let gyt = Tensor.channelsLast(grad.data, batch: b, channels: c, plane: ho * wo)
            let gxt = needX ? Tensor.zeros([b * h * w * c]) : nil
            let gwt = needW ? Tensor.zeros([taps * c]) : nil
            let gb = needB ? Tensor.zeros([c]) : nil
            let pg = gyt.data, pgx = gxt?.data, pgw = gwt?.data, pgb = gb?.data
            var g = g
            parallelChunks(c, costPerItem: b * ho * wo * taps * 2) { range in
                let (lo, n) = (range.lowerBound, range.count)
                for sample in 0..<b {
                    if let pgb {
                        for q in 0..<(ho * wo) {
                            let src = pg + (sample * ho * wo + q) * c + lo
                            for k in 0..<n { pgb[lo + k] += src[k] }
                        }
                    }
                    fl_depthwise_nhwc_backward(&g, pxt + sample * inPlane, pwt, pg + sample * outPlane,
                                               pgx.map { $0 + sample * inPlane }, pgw, Int32(lo), Int32(range.upperBound))
                }
            }
            let gx = gxt.map { Tensor.channelsFirst($0.data, batch: b, channels: c, height: h, width: w) }
            var gw: Tensor? = nil
            if let gwt {
                let t = Tensor(uninitializedShape: [c, 1, kh, kw])
                for ch in 0..<c { for tap in 0..<taps { t.data[ch * taps + tap] = gwt.data[tap * c + ch] } }
                gw = t
            }
            return withExtendedLifetime((xt, wt, gyt, gxt, gwt)) { bias == nil ? [gx, gw] : [gx, gw, gb] }
        }
    }

    /// `[B, C, P]` planes (P pixels each) as a flat channels-last `[B, P, C]` tensor.
    static func channelsLast(_ src: UnsafeMutablePointer<Float>, batch: Int, channels: Int, plane: Int) -> Tensor {
        let out = Tensor(uninitializedShape: [batch * plane * channels])
        transposeTiles(src, out.data, batch: batch, rows: channels, columns: plane)
        return out
    }

    /// Flat channels-last `[B, H·W, C]` values as a `[B, C, H, W]` tensor.
    static func channelsFirst(_ src: UnsafeMutablePointer<Float>, batch: Int, channels: Int, height: Int, width: Int) -> Tensor {
        let out = Tensor(uninitializedShape: [batch, channels, height, width])
        transposeTiles(src, out.data, batch: batch, rows: height * width, columns: channels)
        return out
    }

    /// `dst[n][c][r] = src[n][r][c]` for `batch` row-major `rows × columns` matrices (the C
    /// kernel: 8 × 8 register blocks in 32 × 32 tiles), strips of 32 rows spread over the threads.
    static func transposeTiles(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, batch: Int, rows: Int, columns: Int) {
        let tile = 32
        let rowTiles = (rows + tile - 1) / tile
        parallelChunks(batch * rowTiles, costPerItem: tile * columns) { range in
            for item in range {
                let n = item / rowTiles, r0 = (item % rowTiles) * tile, r1 = Swift.min(r0 + tile, rows)
                fl_transpose(src + n * rows * columns, dst + n * rows * columns, Int32(rows), Int32(columns), Int32(r0), Int32(r1))
            }
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
