import CFusionKernels
import Dispatch
import Synchronization
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
    ///
    /// With `fusedMaxPool2x2` as well, the result is `maxPool2d(kernel: (2, 2))` of that: the
    /// bias, ReLU and pooling run in one pass over the GEMM output, so the full-size output is
    /// never written, and the backward pass builds the output gradient straight from the pooled
    /// gradient. Values and gradients are those of the three ops in a row (the same ties).
    public func conv2d(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1, fusedReLU: Bool = false,
                       fusedMaxPool2x2: Bool = false) -> Tensor {
        precondition(rank == 4, "conv2d: expected input [B, C, H, W], got \(shape)")
        precondition(weight.rank == 4, "conv2d: expected weight [O, C/groups, kh, kw], got \(weight.shape)")
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (o, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(groups >= 1 && c % groups == 0 && o % groups == 0 && cg == c / groups,
                     "conv2d: input has \(c) channels and weight \(weight.shape) with groups=\(groups); expected weight [O, \(c / Swift.max(groups, 1)), kh, kw] with O divisible by groups")
        if let bias { precondition(bias.shape == [o], "conv2d: expected bias [\(o)], got \(bias.shape)") }
        if groups > 1 && groups == c && o == c {
            // One filter per channel: the direct kernel, not a 1-row GEMM per channel.
            let y = depthwiseConv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
            let activated = fusedReLU ? y.relu() : y
            return fusedMaxPool2x2 ? activated.maxPool2d(kernel: (2, 2)) : activated
        }
        let geo = Conv2dGeometry(kernel: (kh, kw), stride: stride, padding: padding, dilation: dilation)
        let (ho, wo) = (geo.outputSize(h, axis: 0), geo.outputSize(w, axis: 1))
        precondition(ho > 0 && wo > 0, "conv2d: input \(h)×\(w) is too small for kernel \(kh)×\(kw) (padding \(padding), dilation \(dilation))")
        let l = ho * wo, rows = c * kh * kw, rowsPerGroup = cg * kh * kw, og = o / groups
        let plan = ConvPlan(batch: b, rows: rows, outputs: o, positions: l)
        let gemm = ConvGEMM(outputs: og, rows: rowsPerGroup)
        if fusedMaxPool2x2 {
            precondition(ho >= 2 && wo >= 2, "conv2d: a \(ho)×\(wo) output is too small for 2×2 max pooling")
        }
        // The output: the convolution's [Ho, Wo] planes, or their 2×2 maxima [Ho/2, Wo/2].
        let (hp, wp) = fusedMaxPool2x2 ? (ho / 2, wo / 2) : (ho, wo)
        let lp = hp * wp
        let (inPlane, outPlane) = (c * h * w, o * lp)
        let out = Tensor(uninitializedShape: [b, o, hp, wp])
        let px = data, pw = weight.data, po = out.data, pb = bias?.data
        let inputs = bias.map { [self, weight, $0] } ?? [self, weight]

        // Forward, a chunk of samples at a time: im2col into a cache-sized buffer, one GEMM per
        // group, then the bias (and ReLU) while laying the result out as [B, O, L], or pooling it.
        // The columns are not kept for the backward pass, which unfolds its chunk again into its
        // own cache-sized buffer: keeping them cost C·kh·kw times the input's memory (9.4 MB of
        // the reference network's 86 MiB at batch 64), written to and read back from DRAM, for a
        // time that measured the same within the host's noise (Benchmarks/README.md).
        func forward(argmax: UnsafeMutablePointer<Int32>?) {
            // (With pooling and no gradient to come, `argmax` is nil and no positions are kept.)
            plan.run(scratch: [rows * plan.chunk * l, o * plan.chunk * l, gemm.scratch]) { s0, s1, scratch in
                let (col, y) = (scratch[0], scratch[1])
                let n = (s1 - s0) * l
                im2col(x: px + s0 * inPlane, b: s1 - s0, c: c, h: h, w: w, geo: geo, ho: ho, wo: wo, col: col)
                for gi in 0..<groups {
                    gemm.forward(pw + gi * og * rowsPerGroup, col + gi * rowsPerGroup * n, y + gi * og * n, n: n, scratch: scratch[2])
                }
                if fusedMaxPool2x2 {
                    // Each channel's planes are consecutive in the GEMM output: one epilogue call per channel.
                    for oi in 0..<o {
                        let at = s0 * outPlane + oi * lp
                        fl_conv_epilogue_pool2x2_forward(y + oi * n, l, pb?[oi] ?? 0, fusedReLU ? 1 : 0, po + at, argmax.map { $0 + at },
                                                         outPlane, Int32(s1 - s0), Int32(ho), Int32(wo), Int32(hp), Int32(wp))
                    }
                    return
                }
                for si in 0..<(s1 - s0) {
                    for oi in 0..<o {
                        vectorShift(po + (s0 + si) * outPlane + oi * l, y + oi * n + si * l, pb?[oi] ?? 0, l, relu: fusedReLU)
                    }
                }
            }
        }
        // With pooling and a backward pass to come: each pooled value's plane-relative position of
        // its maximum in the convolution's output.
        let argmaxes: [Int32]
        if fusedMaxPool2x2 && Tensor.needsGrad(inputs) {
            argmaxes = [Int32](unsafeUninitializedCapacity: b * outPlane) { buffer, count in
                forward(argmax: buffer.baseAddress)
                count = b * outPlane
            }
        } else {
            argmaxes = []
            forward(argmax: nil)
        }

        let x = self
        let wd = weight.detached(), yd = out.detached()
        return out.recording("conv2d", inputs) { g in
            let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
            let pg = g.data, pout = yd.data, pwd = wd.data
            let gx = needX ? Tensor.zeros([b, c, h, w]) : nil
            let pgx = gx?.data
            // Per worker: dY of the chunk as [O, n], im2col, dcol, and partial dW and db.
            let partials = plan.run(scratch: [o * plan.chunk * l, rows * plan.chunk * l, rows * plan.chunk * l, gemm.scratch],
                                    partials: o * rowsPerGroup + o) {
                s0, s1, scratch, partial in
                let (gy, col, dcol) = (scratch[0], scratch[1], scratch[2])
                let n = (s1 - s0) * l
                if fusedMaxPool2x2 {
                    // The pooled gradient goes to each window's maximum (if its ReLU output is positive), 0 elsewhere.
                    argmaxes.withUnsafeBufferPointer { am in
                        guard let argmax = am.baseAddress else { return }
                        for oi in 0..<o {
                            let at = s0 * outPlane + oi * lp
                            fl_conv_epilogue_pool2x2_backward(pg + at, fusedReLU ? pout + at : nil, argmax + at, outPlane, gy + oi * n, l,
                                                              Int32(s1 - s0), Int32(ho), Int32(wo), Int32(hp), Int32(wp))
                        }
                    }
                } else {
                    for si in 0..<(s1 - s0) {
                        for oi in 0..<o {
                            let src = pg + (s0 + si) * outPlane + oi * l, dst = gy + oi * n + si * l
                            if fusedReLU { vectorMaskPositive(dst, src, gate: pout + (s0 + si) * outPlane + oi * l, l) } else { dst.update(from: src, count: l) }
                        }
                    }
                }
                if needW {
                    im2col(x: px + s0 * inPlane, b: s1 - s0, c: c, h: h, w: w, geo: geo, ho: ho, wo: wo, col: col)
                    for gi in 0..<groups {
                        gemm.addWeightGradient(gy + gi * og * n, col + gi * rowsPerGroup * n, partial + gi * og * rowsPerGroup, n: n,
                                               scratch: scratch[3])
                    }
                }
                if needB { for oi in 0..<o { partial[o * rowsPerGroup + oi] += vectorSum(gy + oi * n, n) } }
                if let pgx {
                    for gi in 0..<groups {
                        gemm.inputGradient(pwd + gi * og * rowsPerGroup, gy + gi * og * n, dcol + gi * rowsPerGroup * n, n: n,
                                           scratch: scratch[3])
                    }
                    col2im(col: dcol, b: s1 - s0, c: c, h: h, w: w, geo: geo, ho: ho, wo: wo, x: pgx + s0 * inPlane)
                }
            }
            var gw: Tensor? = nil, gb: Tensor? = nil
            if needW { gw = Tensor(Array(partials[0..<(o * rowsPerGroup)]), shape: wd.shape) }
            if needB { gb = Tensor(Array(partials[(o * rowsPerGroup)...]), shape: [o]) }
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
    do {
        for r in 0..<(c * kh * kw) {
            let ci = r / (kh * kw), i = (r / kw) % kh, j = r % kw
            let dst = col + r * cols
            // Output columns whose input column is inside the image: ow in [owLo, owHi).
            let owLo = Swift.max(0, (pw - j * dw + sw - 1) / sw)
            let owHi = Swift.min(wo, Swift.max(0, (w + pw - j * dw + sw - 1) / sw))
            if sh == 1 && sw == 1 && wo == w {
                // Stride 1 and the output as wide as the input ("same" along the width): the
                // tap's whole [ho, wo] block is one shifted copy of the plane, the rows' edges
                // then zeroed, instead of a short copy per row.
                let ioff = i * dh - ph, shift = ioff * w + j * dw - pw
                let ohLo = Swift.max(0, -ioff), ohHi = Swift.min(ho, h - ioff)
                for bi in 0..<b {
                    let plane = x + (bi * c + ci) * h * w, d = dst + bi * l
                    guard ohLo < ohHi && owLo < owHi else { d.update(repeating: 0, count: l); continue }
                    d.update(repeating: 0, count: ohLo * wo)
                    let start = ohLo * wo + owLo, end = (ohHi - 1) * wo + owHi
                    (d + start).update(from: plane + (start + shift), count: end - start)
                    zeroEdges(d, rows: ohLo..<ohHi, owLo, owHi, wo)
                    (d + ohHi * wo).update(repeating: 0, count: (ho - ohHi) * wo)
                }
                continue
            }
            for bi in 0..<b {
                let plane = x + (bi * c + ci) * h * w
                for oh in 0..<ho {
                    let d = dst + bi * l + oh * wo
                    let ih = oh * sh - ph + i * dh
                    if ih < 0 || ih >= h || owLo >= owHi {
                        for ow in 0..<wo { d[ow] = 0 }
                        continue
                    }
                    for ow in 0..<owLo { d[ow] = 0 }
                    let src = plane + ih &* w - pw + j &* dw
                    // Rows are short (often 13 to 32 values): plain loops beat a memmove call each.
                    if sw == 1 {
                        for ow in owLo..<owHi { d[ow] = src[ow] }
                    } else {
                        for ow in owLo..<owHi { d[ow] = src[ow &* sw] }
                    }
                    for ow in owHi..<wo { d[ow] = 0 }
                }
            }
        }
    }
}

/// row[0 ..< lo] = 0 and row[hi ..< wo] = 0 for every row of `rows` in a block of rows `wo`
/// wide. The edges are usually one value wide (a 3×3 kernel): that case is a plain strided
/// store, decided once for the block, where a loop per row would become a `memset` call and a
/// branch per row.
@inline(__always)
private func zeroEdges(_ block: UnsafeMutablePointer<Float>, rows: Range<Int>, _ lo: Int, _ hi: Int, _ wo: Int) {
    let right = wo &- hi
    if lo <= 1 && right <= 1 {
        var row = block + rows.lowerBound &* wo
        for _ in rows {
            if lo == 1 { row[0] = 0 }
            if right == 1 { row[hi] = 0 }
            row += wo
        }
        return
    }
    for oh in rows {
        let row = block + oh &* wo
        if lo > 0 { row.update(repeating: 0, count: lo) }
        if right > 0 { (row + hi).update(repeating: 0, count: right) }
    }
}

/// Adds every column of `col` `[C·kh·kw, B·Ho·Wo]` back into its place in `x` `[B, C, H, W]` (zeroed by the caller).
/// `col` is scratch: its entries for windows outside the image may be overwritten with zeros.
func col2im(col: UnsafeMutablePointer<Float>, b: Int, c: Int, h: Int, w: Int, geo: Conv2dGeometry, ho: Int, wo: Int,
            x: UnsafeMutablePointer<Float>) {
    let (kh, kw) = geo.kernel, (sh, sw) = geo.stride, (ph, pw) = geo.padding, (dh, dw) = geo.dilation
    let l = ho * wo, cols = b * l
    do {
        for ci in 0..<c {
            for i in 0..<kh {
                for j in 0..<kw {
                    let r = (ci * kh + i) * kw + j
                    let src = col + r * cols
                    let owLo = Swift.max(0, (pw - j * dw + sw - 1) / sw)
                    let owHi = Swift.min(wo, Swift.max(0, (w + pw - j * dw + sw - 1) / sw))
                    if owLo >= owHi { continue }
                    if sh == 1 && sw == 1 && wo == w {
                        // im2col's shifted block in reverse: the columns outside the image are
                        // zeroed in `col` (scratch), then the block adds in one contiguous pass.
                        let ioff = i * dh - ph, shift = ioff * w + j * dw - pw
                        let ohLo = Swift.max(0, -ioff), ohHi = Swift.min(ho, h - ioff)
                        guard ohLo < ohHi else { continue }
                        let start = ohLo * wo + owLo, end = (ohHi - 1) * wo + owHi
                        for bi in 0..<b {
                            let s = src + bi * l, d = x + (bi * c + ci) * h * w + shift
                            zeroEdges(s, rows: ohLo..<ohHi, owLo, owHi, wo)
                            for k in start..<end { d[k] += s[k] }
                        }
                        continue
                    }
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

/// A convolution's three GEMMs for one group, over a chunk's `n` positions: the output
/// `[outputs, n]` = weight `[outputs, rows]` · columns `[rows, n]`, the input gradient's columns
/// = weightᵀ · output gradient, and the weight gradient += output gradient · columnsᵀ.
///
/// Convolutions have one small side (the output channels, or the C·kh·kw rows) and one long one
/// (the positions), and for those shapes CFusionKernels' `fl_conv_gemm` and `fl_conv_gemm_dots`
/// read the columns where im2col wrote them and pack only the weight, where OpenBLAS packs both
/// operands on every call (and clears C first). They ran 1.1–2.7× OpenBLAS's rate on the
/// reference network's shapes (Benchmarks/README.md). Larger shapes, where OpenBLAS's cache
/// blocking wins, go to `sgemm`. The own kernels give the same bits on every instruction set.
struct ConvGEMM {
    let outputs: Int, rows: Int

    /// Own kernels where they were measured to win: an inner dimension of at most 256 for the
    /// forward and input gradient, and at most 4,608 weights for the weight gradient.
    var ownForward: Bool { rows <= 256 }
    var ownInputGradient: Bool { outputs <= 256 }
    var ownWeightGradient: Bool { outputs * rows <= 4_608 }

    /// Floats of scratch per worker: the packed weight, or the weight gradient's lanes.
    var scratch: Int {
        Swift.max(ownForward ? fl_conv_gemm_pack_size(Int32(outputs), Int32(rows)) : 0,
                  ownInputGradient ? fl_conv_gemm_pack_size(Int32(rows), Int32(outputs)) : 0,
                  ownWeightGradient ? fl_conv_gemm_dots_scratch(Int32(outputs), Int32(rows)) : 0)
    }

    /// y `[outputs, n]` = weight `[outputs, rows]` · columns `[rows, n]`.
    func forward(_ weight: UnsafePointer<Float>, _ columns: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int,
                 scratch: UnsafeMutablePointer<Float>) {
        guard ownForward else {
            sgemm(transA: false, transB: false, m: outputs, n: n, k: rows, weight, columns, y)
            return
        }
        if OpCounter.isCounting { OpCounter.multiplyAccumulates += outputs * n * rows }
        fl_conv_gemm(Int32(outputs), n, Int32(rows), weight, rows, 1, columns, n, y, n, scratch)
    }

    /// dcol `[rows, n]` = weightᵀ · grad_y `[outputs, n]`.
    func inputGradient(_ weight: UnsafePointer<Float>, _ gradY: UnsafePointer<Float>, _ dcol: UnsafeMutablePointer<Float>, n: Int,
                       scratch: UnsafeMutablePointer<Float>) {
        guard ownInputGradient else {
            sgemm(transA: true, transB: false, m: rows, n: n, k: outputs, weight, gradY, dcol)
            return
        }
        if OpCounter.isCounting { OpCounter.multiplyAccumulates += outputs * n * rows }
        fl_conv_gemm(Int32(rows), n, Int32(outputs), weight, 1, rows, gradY, n, dcol, n, scratch)
    }

    /// grad_w `[outputs, rows]` += grad_y `[outputs, n]` · columnsᵀ.
    func addWeightGradient(_ gradY: UnsafePointer<Float>, _ columns: UnsafePointer<Float>, _ gradW: UnsafeMutablePointer<Float>,
                           n: Int, scratch: UnsafeMutablePointer<Float>) {
        guard ownWeightGradient else {
            sgemm(transA: false, transB: true, m: outputs, n: rows, k: n, gradY, columns, beta: 1, gradW)
            return
        }
        if OpCounter.isCounting { OpCounter.multiplyAccumulates += outputs * n * rows }
        fl_conv_gemm_dots(Int32(outputs), Int32(rows), n, gradY, n, columns, n, gradW, rows, scratch)
    }
}

/// How a convolution splits its batch: chunks of samples whose im2col columns and GEMM output
/// stay near one megabyte (so the GEMM and the epilogue find them in cache), claimed one at a
/// time by `Threading.threads` workers, each with its own scratch memory.
struct ConvPlan {
    let batch: Int, chunk: Int, chunks: Int

    /// Floats of columns and GEMM output per chunk: one megabyte, so both stay in L2 between
    /// im2col, the GEMM and the epilogue (4 MB of columns alone measured 20–35 % slower in
    /// inference once the epilogue pooled in cache; Benchmarks/README.md).
    static let budget = 262_144

    init(batch: Int, rows: Int, outputs: Int, positions: Int) {
        self.batch = batch
        let perSample = (rows + outputs) * positions
        let bySize = Swift.max(1, Swift.min(batch, ConvPlan.budget / Swift.max(perSample, 1)))
        // A multiple of four chunks of equal size (but the last), at least four, so one, two or
        // four workers get equal shares (7 chunks of 10 samples had left one of two workers 34
        // samples, the other 30). The split never depends on the thread count, so neither do
        // the results (see `run(scratch:partials:)`).
        let wanted = Swift.max(4, ((batch + bySize - 1) / bySize + 3) / 4 * 4)
        chunk = Swift.max(1, (batch + wanted - 1) / wanted)
        chunks = (batch + chunk - 1) / chunk
    }

    /// Runs `body(s0, s1, scratch)` over every chunk `[s0, s1)`.
    func run(scratch sizes: [Int], _ body: (Int, Int, [UnsafeMutablePointer<Float>]) -> Void) {
        _ = run(scratch: sizes, partials: 0) { s0, s1, scratch, _ in body(s0, s1, scratch) }
    }

    /// Runs `body(s0, s1, scratch, partial)` over every chunk, each chunk adding into its own
    /// zeroed `partial` buffer of `partials` values; returns the sum of the chunks' partials,
    /// added in chunk order — the same bits whatever the number of workers.
    func run(scratch sizes: [Int], partials: Int,
             _ body: (Int, Int, [UnsafeMutablePointer<Float>], UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        // An empty batch has no chunks: nothing to run, and zero partials.
        guard chunks > 0 else { return [Float](repeating: 0, count: partials) }
        let workers = Swift.min(Threading.threads, chunks)
        let perChunk = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(partials * chunks, 1))
        perChunk.initialize(repeating: 0, count: partials * chunks)
        defer { perChunk.deallocate() }
        // Workers claim the next chunk as they finish one: on a shared host a core slowed by
        // another process takes fewer chunks instead of holding up the step. Which worker runs a
        // chunk does not change its partial, so the results stay those of any thread count.
        let next = Atomic<Int>(0)
        Threading.asWorkers(workers) { _ in
            let buffers = sizes.map { UnsafeMutablePointer<Float>.allocate(capacity: Swift.max($0, 1)) }
            defer { buffers.forEach { $0.deallocate() } }
            while case let k = next.wrappingAdd(1, ordering: .relaxed).oldValue, k < chunks {
                body(k * chunk, Swift.min(batch, (k + 1) * chunk), buffers, perChunk + k * partials)
            }
        }
        var total = [Float](repeating: 0, count: partials)
        for k in 0..<chunks { for i in 0..<partials { total[i] += perChunk[k * partials + i] } }
        return total
    }
}
