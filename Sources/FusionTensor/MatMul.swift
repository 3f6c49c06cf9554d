import CBLAS

// Matrix products on cblas_sgemm: matmul, batched matmul and the fused linear map.

/// `C = alpha * op(A) * op(B) + beta * C` for row-major matrices, with `op(A)` of shape `[m, k]`
/// and `op(B)` of shape `[k, n]`.
///
/// OpenBLAS runs single-threaded; with `Threading.threads` > 1 a large product is split into
/// row (or column) blocks of C computed concurrently, so no BLAS thread pool ever spins beside
/// FusionLab's own workers.
public func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, beta: Float = 0, _ c: UnsafeMutablePointer<Float>
) {
    guard m > 0 && n > 0 else { return }
    if OpCounter.isCounting { OpCounter.multiplyAccumulates += m * n * k }
    if k == 0 {
        for i in 0..<(m * n) { c[i] = beta == 0 ? 0 : beta * c[i] }
        return
    }
    let (lda, ldb) = (transA ? m : k, transB ? k : n)
    let workers = Threading.isInsideWorker ? 1 : Swift.min(Threading.threads, Swift.max(m, n) / 32)
    guard workers > 1 && m * n * k >= 4_000_000 else {
        blasGEMM(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, n)
        return
    }
    Threading.asWorkers(workers) { w in
        if m >= n {
            let (r0, r1) = (m * w / workers, m * (w + 1) / workers)
            blasGEMM(transA, transB, r1 - r0, n, k, alpha, transA ? a + r0 : a + r0 * lda, lda, b, ldb, beta, c + r0 * n, n)
        } else {
            let (c0, c1) = (n * w / workers, n * (w + 1) / workers)
            blasGEMM(transA, transB, m, c1 - c0, k, alpha, a, lda, transB ? b + c0 * ldb : b + c0, ldb, beta, c + c0, n)
        }
    }
}

@inline(__always)
func blasGEMM(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
              _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

extension Tensor {
    /// Matrix product over the last two axes, with optional transposition of either operand.
    ///
    /// Shapes: `[m, k] × [k, n] → [m, n]`; `[B, m, k] × [B, k, n] → [B, m, n]`; and a batched
    /// left operand `[..., m, k]` times a plain matrix `[k, n]`. With `transposeB`, `b` is given as
    /// `[..., n, k]` (and likewise `transposeA` for `a`), without copying.
    public func matmul(_ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        let a = self
        precondition(a.rank >= 2 && b.rank >= 2, "matmul: expected rank ≥ 2 operands, got \(a.shape) and \(b.shape)")
        // A batched left operand against a plain matrix: fold the batch into rows.
        if b.rank == 2 && a.rank > 2 && !transposeA {
            let k = a.shape[a.rank - 1]
            let flat = a.reshaped([-1, k]).matmul(b, transposeB: transposeB)
            return flat.reshaped(Array(a.shape.dropLast()) + [flat.shape[1]])
        }
        precondition(a.rank == b.rank, "matmul: operand ranks differ: \(a.shape) and \(b.shape)")
        let batchShape = Array(a.shape.dropLast(2))
        precondition(batchShape == Array(b.shape.dropLast(2)), "matmul: batch axes differ: \(a.shape) and \(b.shape)")
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (kb, n) = transposeB ? (bc, br) : (br, bc)
        precondition(k == kb, "matmul: inner extents differ: \(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "")")
        let batch = batchShape.reduce(1, *)
        let out = Tensor(uninitializedShape: batchShape + [m, n])
        for i in 0..<batch {
            sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                  a.data + i * ar * ac, b.data + i * br * bc, out.data + i * m * n)
        }
        let (ad, bd) = (a.detached(), b.detached())
        return out.recording("matmul", [a, b]) { g in
            var ga: Tensor? = nil, gb: Tensor? = nil
            if a.requiresGrad {
                ga = transposeA ? bd.matmul(g, transposeA: transposeB, transposeB: true)
                                : g.matmul(bd, transposeB: !transposeB)
            }
            if b.requiresGrad {
                gb = transposeB ? g.matmul(ad, transposeA: true, transposeB: transposeA)
                                : ad.matmul(g, transposeA: !transposeA)
            }
            return [ga, gb]
        }
    }

    /// The affine map `x · Wᵀ + b` over the last axis: `x` is `[..., in]`, `weight` is `[out, in]`,
    /// `bias` is `[out]`. One GEMM forward, two GEMMs and a column sum backward.
    public func linear(weight: Tensor, bias: Tensor?) -> Tensor {
        let inF = shape[rank - 1]
        precondition(weight.rank == 2 && weight.shape[1] == inF,
                     "linear: expected weight [out, \(inF)] for input \(shape), got \(weight.shape)")
        let outF = weight.shape[0]
        if let bias { precondition(bias.shape == [outF], "linear: expected bias [\(outF)], got \(bias.shape)") }
        let rows = count / Swift.max(inF, 1)
        let out = Tensor(uninitializedShape: Array(shape.dropLast()) + [outF])
        if let bias {
            for r in 0..<rows { (out.data + r * outF).update(from: bias.data, count: outF) }
        }
        sgemm(transA: false, transB: true, m: rows, n: outF, k: inF, data, weight.data,
              beta: bias == nil ? 0 : 1, out.data)
        let x = self
        let (xd, wd) = (x.detached(), weight.detached())
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return out.recording("linear", inputs) { g in
            var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
            if x.requiresGrad {
                let t = Tensor(uninitializedShape: xd.shape)
                sgemm(transA: false, transB: false, m: rows, n: inF, k: outF, g.data, wd.data, t.data)
                gx = t
            }
            if weight.requiresGrad {
                let t = Tensor(uninitializedShape: wd.shape)
                sgemm(transA: true, transB: false, m: outF, n: inF, k: rows, g.data, xd.data, t.data)
                gw = t
            }
            if let bias, bias.requiresGrad {
                let t = Tensor.zeros([outF])
                for r in 0..<rows { addInPlace(t.data, g.data + r * outF, count: outF) }
                gb = t
            }
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }
}

/// Counts the multiply-accumulates of every GEMM (linear maps, matrix products, convolutions)
/// run inside `OpCounter.count`, for reporting a model's cost.
public enum OpCounter {
    private static let counting = Locked(false), counted = Locked(0)
    /// Whether GEMMs are being counted.
    public static var isCounting: Bool {
        get { counting.value }
        set { counting.value = newValue }
    }
    /// Multiply-accumulates counted so far.
    public static var multiplyAccumulates: Int {
        get { counted.value }
        set { counted.value = newValue }
    }

    /// Runs `body` without recording gradients and returns the multiply-accumulates of its GEMMs.
    public static func count(_ body: () -> Void) -> Int {
        let (wasCounting, before) = (isCounting, multiplyAccumulates)
        isCounting = true
        withNoGrad { body() }
        isCounting = wasCounting
        let counted = multiplyAccumulates - before
        if !wasCounting { multiplyAccumulates = before }
        return counted
    }
}
