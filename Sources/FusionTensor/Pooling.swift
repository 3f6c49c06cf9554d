import CFusionKernels
// Max and average pooling (1-D and 2-D) and global average pooling.

extension Tensor {
    /// 2-D max pooling over `[B, C, H, W]` as `torch.nn.functional.max_pool2d` (padding counts as −∞).
    /// The gradient goes to the first maximal element of each window.
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        precondition(rank == 4, "maxPool2d: expected [B, C, H, W], got \(shape)")
        let geo = Conv2dGeometry(kernel: kernel, stride: stride ?? kernel, padding: padding)
        precondition(padding.0 * 2 <= kernel.0 && padding.1 * 2 <= kernel.1, "maxPool2d: padding \(padding) must be at most half of kernel \(kernel)")
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (ho, wo) = (geo.outputSize(h, axis: 0), geo.outputSize(w, axis: 1))
        precondition(ho > 0 && wo > 0, "maxPool2d: input \(h)×\(w) is smaller than kernel \(kernel)")
        let out = Tensor(uninitializedShape: [b, c, ho, wo])
        var argmax = [Int32](repeating: 0, count: out.count)
        let px = data, po = out.data
        argmax.withUnsafeMutableBufferPointer { am in
            let pam = am
            if geo.kernel == (2, 2) && geo.stride == (2, 2) && padding == (0, 0) {
                maxPool2x2(px, po, pam, planes: b * c, h: h, w: w, ho: ho, wo: wo)
                return
            }
            parallelChunks(b * c, costPerItem: h * w) { planes in
                for p in planes {
                    let src = px + p * h * w
                    for oh in 0..<ho {
                        let h0 = oh * geo.stride.0 - padding.0
                        let hLo = Swift.max(h0, 0), hHi = Swift.min(h0 + kernel.0, h)
                        for ow in 0..<wo {
                            let w0 = ow * geo.stride.1 - padding.1
                            let wLo = Swift.max(w0, 0), wHi = Swift.min(w0 + kernel.1, w)
                            var best = -Float.infinity, bi = hLo * w + wLo
                            for ih in hLo..<hHi {
                                for iw in wLo..<wHi where src[ih * w + iw] > best {
                                    best = src[ih * w + iw]; bi = ih * w + iw
                                }
                            }
                            let o = (p * ho + oh) * wo + ow
                            po[o] = best
                            pam[o] = Int32(bi)
                        }
                    }
                }
            }
        }
        let inShape = shape
        let twoByTwo = geo.kernel == (2, 2) && geo.stride == (2, 2) && padding == (0, 0)
        return out.recording("maxPool2d", [self]) { g in
            if twoByTwo {
                // Every input value written once: the window's maximum gets the gradient, the rest 0.
                let gx = Tensor(uninitializedShape: inShape)
                let pg = g.data, pgx = gx.data
                argmax.withUnsafeBufferPointer { am in
                    guard let pam = am.baseAddress else { return }
                    parallelChunks(b * c, costPerItem: h * w) { planes in
                        fl_maxpool2x2_backward(pg, pam, pgx, Int32(planes.lowerBound), Int32(planes.upperBound), Int32(h), Int32(w), Int32(ho), Int32(wo))
                    }
                }
                return [gx]
            }
            let gx = Tensor.zeros(inShape)
            let pg = g.data, pgx = gx.data
            argmax.withUnsafeBufferPointer { am in
                for p in 0..<(b * c) {
                    let dst = pgx + p * h * w
                    for i in 0..<(ho * wo) { dst[Int(am[p * ho * wo + i])] += pg[p * ho * wo + i] }
                }
            }
            return [gx]
        }
    }

    /// 2-D average pooling over `[B, C, H, W]` as `torch.nn.functional.avg_pool2d`; with
    /// `countIncludePad` (PyTorch's default) padded zeros count in the divisor.
    public func avgPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), countIncludePad: Bool = true) -> Tensor {
        precondition(rank == 4, "avgPool2d: expected [B, C, H, W], got \(shape)")
        let geo = Conv2dGeometry(kernel: kernel, stride: stride ?? kernel, padding: padding)
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (ho, wo) = (geo.outputSize(h, axis: 0), geo.outputSize(w, axis: 1))
        precondition(ho > 0 && wo > 0, "avgPool2d: input \(h)×\(w) is smaller than kernel \(kernel)")
        // Window bounds and divisor of each output position (shared by all planes).
        var windows: [(Int, Int, Int, Int, Float)] = []
        windows.reserveCapacity(ho * wo)
        for oh in 0..<ho {
            for ow in 0..<wo {
                let h0 = oh * geo.stride.0 - padding.0, w0 = ow * geo.stride.1 - padding.1
                let h1 = Swift.min(h0 + kernel.0, h + padding.0), w1 = Swift.min(w0 + kernel.1, w + padding.1)
                let padded = (h1 - h0) * (w1 - w0)
                let (hl, hh, wl, wh) = (Swift.max(h0, 0), Swift.min(h1, h), Swift.max(w0, 0), Swift.min(w1, w))
                let divisor = countIncludePad ? padded : (hh - hl) * (wh - wl)
                windows.append((hl, hh, wl, wh, 1 / Float(Swift.max(divisor, 1))))
            }
        }
        let out = Tensor(uninitializedShape: [b, c, ho, wo])
        let px = data, po = out.data
        parallelChunks(b * c, costPerItem: h * w) { planes in
            for p in planes {
                let src = px + p * h * w
                for (o, win) in windows.enumerated() {
                    var acc: Float = 0
                    for ih in win.0..<win.1 { for iw in win.2..<win.3 { acc += src[ih * w + iw] } }
                    po[p * ho * wo + o] = acc * win.4
                }
            }
        }
        let inShape = shape
        return out.recording("avgPool2d", [self]) { g in
            let gx = Tensor.zeros(inShape)
            for p in 0..<(b * c) {
                let dst = gx.data + p * h * w
                for (o, win) in windows.enumerated() {
                    let v = g.data[p * ho * wo + o] * win.4
                    for ih in win.0..<win.1 { for iw in win.2..<win.3 { dst[ih * w + iw] += v } }
                }
            }
            return [gx]
        }
    }

    /// 1-D max pooling over `[B, C, L]`.
    public func maxPool1d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
        precondition(rank == 3, "maxPool1d: expected [B, C, L], got \(shape)")
        return unsqueezed(2).maxPool2d(kernel: (1, kernel), stride: (1, stride ?? kernel), padding: (0, padding)).squeezed(2)
    }

    /// 1-D average pooling over `[B, C, L]`.
    public func avgPool1d(kernel: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true) -> Tensor {
        precondition(rank == 3, "avgPool1d: expected [B, C, L], got \(shape)")
        return unsqueezed(2).avgPool2d(kernel: (1, kernel), stride: (1, stride ?? kernel), padding: (0, padding),
                                       countIncludePad: countIncludePad).squeezed(2)
    }

    /// Mean over every axis after the channel axis: `[B, C, ...] → [B, C]`.
    public func globalAvgPool() -> Tensor {
        precondition(rank >= 3, "globalAvgPool: expected [B, C, ...], got \(shape)")
        return reshaped([shape[0], shape[1], -1]).mean(axes: [2])
    }
}

/// The common 2×2, stride-2 max pool without padding (`fl_maxpool2x2_forward`, at the CPU's width).
private func maxPool2x2(_ px: UnsafeMutablePointer<Float>, _ po: UnsafeMutablePointer<Float>, _ am: UnsafeMutableBufferPointer<Int32>,
                        planes: Int, h: Int, w: Int, ho: Int, wo: Int) {
    guard let pam = am.baseAddress else { return }
    parallelChunks(planes, costPerItem: h * w) { range in
        fl_maxpool2x2_forward(px, po, pam, Int32(range.lowerBound), Int32(range.upperBound), Int32(h), Int32(w), Int32(ho), Int32(wo))
    }
}
