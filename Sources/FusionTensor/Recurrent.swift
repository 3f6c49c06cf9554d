// Recurrent layers over a whole sequence as one op: GRU and LSTM cells with PyTorch's
// equations and gate order, forward and backward (back-propagation through time) together.
//
// The input projection of every step is one GEMM before the loop; each step then does one
// small GEMM against the hidden weights and the gate arithmetic. Backward walks the steps in
// reverse, collecting the gates' gradients, and ends with three large GEMMs for the weight and
// input gradients.

import Foundation

/// The recurrent cell of `Tensor.recurrent`.
public enum RecurrentCell: String, Sendable {
    /// PyTorch's `nn.GRU`: gates r, z, n; `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`,
    /// `h' = (1 − z) ⊙ n + z ⊙ h`.
    case gru
    /// PyTorch's `nn.LSTM`: gates i, f, g, o; `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')`.
    case lstm

    /// Gates per hidden unit (3 for the GRU, 4 for the LSTM).
    public var gates: Int { self == .gru ? 3 : 4 }
}

@inline(__always) private func sigmoidScalar(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }

/// e^x for eight lanes: Cephes' range reduction (x = n·ln2 + r) and degree-6 polynomial,
/// within 2 ulp of `expf` over the clamped range.
@inline(__always) func exp8(_ v: SIMD8<Float>) -> SIMD8<Float> {
    let low = SIMD8<Float>(repeating: -87.3), high = SIMD8<Float>(repeating: 88.3)
    let x = v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high)
    // n = round(x / ln 2) by the 1.5·2²³ trick: adding it leaves n in the low mantissa bits, so
    // neither the rounding nor the integer conversion leaves the vector registers.
    let shifted = x * 1.442_695_04 + 12_582_912
    let n = shifted - 12_582_912
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * r * r + r + 1
    let exponent = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((exponent &+ 127) &<< 23, to: SIMD8<Float>.self)
    return p * scale
}

/// The logistic function for eight lanes.
@inline(__always) func sigmoid8(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + exp8(-x)) }

/// tanh for eight lanes, as 2σ(2x) − 1 (absolute error about 1e-7).
@inline(__always) func tanh8(_ x: SIMD8<Float>) -> SIMD8<Float> { 2 * sigmoid8(2 * x) - 1 }

extension Tensor {
    /// Runs one direction of one recurrent layer over `self` `[B, T, I]` from a zero state.
    ///
    /// - `weightIH [G·H, I]`, `weightHH [G·H, H]`, `biasIH`, `biasHH [G·H]` in PyTorch's layout
    ///   (`weight_ih_l0`, …; G = `cell.gates`).
    /// - `lengths`: valid steps per sample (the rest is padding). Padding never enters the state:
    ///   steps at or past a sample's length leave its state unchanged and output zeros, so the
    ///   result equals PyTorch on a packed sequence.
    /// - `reverse`: run from each sample's last valid step back to its first (the backward half of
    ///   a bidirectional layer).
    ///
    /// Returns the hidden state of every step, `[B, T, H]`.
    public func recurrent(_ cell: RecurrentCell, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor?, biasHH: Tensor?,
                          lengths: [Int]? = nil, reverse: Bool = false) -> Tensor {
        precondition(rank == 3, "recurrent: expected [B, T, features], got \(shape)")
        let (b, t, inF) = (shape[0], shape[1], shape[2])
        let gh = weightIH.shape[0], g = cell.gates, h = gh / g
        precondition(gh % g == 0 && weightIH.shape == [gh, inF], "recurrent: weight_ih must be [\(g)·H, \(inF)], got \(weightIH.shape)")
        precondition(weightHH.shape == [gh, h], "recurrent: weight_hh must be [\(gh), \(h)], got \(weightHH.shape)")
        if let biasIH { precondition(biasIH.shape == [gh], "recurrent: bias_ih must be [\(gh)], got \(biasIH.shape)") }
        if let biasHH { precondition(biasHH.shape == [gh], "recurrent: bias_hh must be [\(gh)], got \(biasHH.shape)") }
        let lens = (lengths ?? [Int](repeating: t, count: b)).map { Swift.min(Swift.max($0, 0), t) }
        precondition(lens.count == b, "recurrent: \(lens.count) lengths for a batch of \(b)")

        // Input projections of every step: [B·T, G·H].
        let xp = Tensor(uninitializedShape: [b * t, gh])
        if let biasIH { for r in 0..<(b * t) { (xp.data + r * gh).update(from: biasIH.data, count: gh) } }
        sgemm(transA: false, transB: true, m: b * t, n: gh, k: inF, data, weightIH.data, beta: biasIH == nil ? 0 : 1, xp.data)

        let out = Tensor.zeros([b, t, h])
        let keep = Tensor.needsGrad([self, weightIH, weightHH] + [biasIH, biasHH].compactMap { $0 })
        // Per processing step s: the state before it, and the gate activations ([T, B, ·]).
        let hPrev = Tensor.zeros([t, b, h])
        let gatesSaved = Tensor.zeros([t, b, gh])
        let hnSaved = cell == .gru ? Tensor.zeros([t, b, h]) : Tensor.zeros([1])  // W_hn h + b_hn
        let cSaved = cell == .lstm ? Tensor.zeros([t, b, h]) : Tensor.zeros([1])  // tanh(c) after the step
        let cPrevSaved = cell == .lstm ? Tensor.zeros([t, b, h]) : Tensor.zeros([1])
        let stateT = Tensor.zeros([b, h]), cellT = Tensor.zeros([b, h]), hpT = Tensor.zeros([b, gh])
        let state = stateT.data, cellState = cellT.data, hpBase = hpT.data
        let pxp = xp.data, pout = out.data, pwhh = weightHH.data
        // Every scratch tensor stays alive while its pointers are in use.
        withExtendedLifetime((xp, out, stateT, cellT, hpT, hPrev, gatesSaved, hnSaved, cSaved, cPrevSaved)) {
            for s in 0..<t {
                let step = reverse ? t - 1 - s : s
                if let biasHH { for r in 0..<b { (hpBase + r * gh).update(from: biasHH.data, count: gh) } }
                sgemm(transA: false, transB: true, m: b, n: gh, k: h, state, pwhh, beta: biasHH == nil ? 0 : 1, hpBase)
                if keep { (hPrev.data + s * b * h).update(from: state, count: b * h) }
                if cell == .lstm && keep { (cPrevSaved.data + s * b * h).update(from: cellState, count: b * h) }
                for r in 0..<b where step < lens[r] {
                    let x = pxp + (r * t + step) * gh
                    let sg = gatesSaved.data + (s * b + r) * gh
                    let o = pout + (r * t + step) * h
                    do {
                        let hr = hpBase + r * gh
                        switch cell {
                        case .gru:
                            let hn = hnSaved.data + (s * b + r) * h
                            let st = state + r * h
                            var j0 = 0
                            while j0 + 8 <= h {
                                let rg = sigmoid8(load8(x + j0) + load8(hr + j0))
                                let zg = sigmoid8(load8(x + h + j0) + load8(hr + h + j0))
                                let hnv = load8(hr + 2 * h + j0)
                                let ng = tanh8(load8(x + 2 * h + j0) + rg * hnv)
                                let next = (1 - zg) * ng + zg * load8(st + j0)
                                store8(rg, sg + j0); store8(zg, sg + h + j0); store8(ng, sg + 2 * h + j0)
                                store8(hnv, hn + j0); store8(next, st + j0); store8(next, o + j0)
                                j0 += 8
                            }
                            for j in j0..<h {
                                let rg = sigmoidScalar(x[j] + hr[j])
                                let zg = sigmoidScalar(x[h + j] + hr[h + j])
                                let ng = Foundation.tanh(x[2 * h + j] + rg * hr[2 * h + j])
                                let next = (1 - zg) * ng + zg * state[r * h + j]
                                sg[j] = rg; sg[h + j] = zg; sg[2 * h + j] = ng
                                hn[j] = hr[2 * h + j]
                                state[r * h + j] = next
                                o[j] = next
                            }
                        case .lstm:
                            let cs = cSaved.data + (s * b + r) * h
                            let (st, ct) = (state + r * h, cellState + r * h)
                            var j0 = 0
                            while j0 + 8 <= h {
                                let ig = sigmoid8(load8(x + j0) + load8(hr + j0))
                                let fg = sigmoid8(load8(x + h + j0) + load8(hr + h + j0))
                                let gg = tanh8(load8(x + 2 * h + j0) + load8(hr + 2 * h + j0))
                                let og = sigmoid8(load8(x + 3 * h + j0) + load8(hr + 3 * h + j0))
                                let c = fg * load8(ct + j0) + ig * gg
                                let tc = tanh8(c)
                                let next = og * tc
                                store8(ig, sg + j0); store8(fg, sg + h + j0); store8(gg, sg + 2 * h + j0); store8(og, sg + 3 * h + j0)
                                store8(tc, cs + j0); store8(c, ct + j0); store8(next, st + j0); store8(next, o + j0)
                                j0 += 8
                            }
                            for j in j0..<h {
                                let ig = sigmoidScalar(x[j] + hr[j])
                                let fg = sigmoidScalar(x[h + j] + hr[h + j])
                                let gg = Foundation.tanh(x[2 * h + j] + hr[2 * h + j])
                                let og = sigmoidScalar(x[3 * h + j] + hr[3 * h + j])
                                let c = fg * cellState[r * h + j] + ig * gg
                                let tc = Foundation.tanh(c)
                                let next = og * tc
                                sg[j] = ig; sg[h + j] = fg; sg[2 * h + j] = gg; sg[3 * h + j] = og
                                cs[j] = tc
                                cellState[r * h + j] = c
                                state[r * h + j] = next
                                o[j] = next
                            }
                        }
                    }
                }
            }
        }
        guard keep else { return out }
        let (xd, wih, whh) = (detached(), weightIH.detached(), weightHH.detached())
        let inputs = [self, weightIH, weightHH] + [biasIH, biasHH].compactMap { $0 }
        return out.recording("recurrent.\(cell.rawValue)", inputs) { gOut in
            // Gradients of the gates' pre-activations, per step: input side and hidden side.
            let dxp = Tensor.zeros([b * t, gh])   // rows in [B, T] order, like xp
            let dhp = Tensor.zeros([t, b, gh])    // rows in processing order, like hPrev
            let dhT0 = Tensor.zeros([b, h]), dcT0 = Tensor.zeros([b, h]), dhPrevT = Tensor.zeros([b, h])
            var dh = dhT0.data, dhPrev = dhPrevT.data
            let dc = dcT0.data
            let pg = gOut.data
            withExtendedLifetime((dxp, dhp, dhT0, dcT0, dhPrevT, gOut, hPrev, gatesSaved, hnSaved, cSaved, cPrevSaved)) {
                for s in stride(from: t - 1, through: 0, by: -1) {
                    let step = reverse ? t - 1 - s : s
                    for r in 0..<b {
                        guard step < lens[r] else {
                            for j in 0..<h { dhPrev[r * h + j] = dh[r * h + j] }  // the state passed through unchanged
                            continue
                        }
                        let sg = gatesSaved.data + (s * b + r) * gh
                        let hprev = hPrev.data + (s * b + r) * h
                        let go = pg + (r * t + step) * h
                        let dx = dxp.data + (r * t + step) * gh
                        let dhh = dhp.data + (s * b + r) * gh
                        switch cell {
                        case .gru:
                            let hn = hnSaved.data + (s * b + r) * h
                            for j in 0..<h {
                                let dhT = dh[r * h + j] + go[j]
                                let (rg, zg, ng) = (sg[j], sg[h + j], sg[2 * h + j])
                                let dn = dhT * (1 - zg) * (1 - ng * ng)
                                let dz = dhT * (hprev[j] - ng) * zg * (1 - zg)
                                let dr = dn * hn[j] * rg * (1 - rg)
                                dx[j] = dr; dx[h + j] = dz; dx[2 * h + j] = dn
                                dhh[j] = dr; dhh[h + j] = dz; dhh[2 * h + j] = dn * rg
                                dhPrev[r * h + j] = dhT * zg
                            }
                        case .lstm:
                            let cs = cSaved.data + (s * b + r) * h
                            let cprev = cPrevSaved.data + (s * b + r) * h
                            for j in 0..<h {
                                let dhT = dh[r * h + j] + go[j]
                                let (ig, fg, gg, og) = (sg[j], sg[h + j], sg[2 * h + j], sg[3 * h + j])
                                let tc = cs[j]
                                let dcT = dc[r * h + j] + dhT * og * (1 - tc * tc)
                                let di = dcT * gg * ig * (1 - ig)
                                let df = dcT * cprev[j] * fg * (1 - fg)
                                let dg = dcT * ig * (1 - gg * gg)
                                let dO = dhT * tc * og * (1 - og)
                                dx[j] = di; dx[h + j] = df; dx[2 * h + j] = dg; dx[3 * h + j] = dO
                                dhh[j] = di; dhh[h + j] = df; dhh[2 * h + j] = dg; dhh[3 * h + j] = dO
                                dc[r * h + j] = dcT * fg
                                dhPrev[r * h + j] = 0  // h_prev reaches h' only through W_hh
                            }
                        }
                    }
                    // dh_prev += dHP · W_hh for the rows that stepped; pass-through rows have zero dHP.
                    let stepRows = dhp.data + s * b * gh
                    sgemm(transA: false, transB: false, m: b, n: h, k: gh, stepRows, whh.data, beta: 1, dhPrev)
                    swap(&dh, &dhPrev)
                }
            }
            var gx: Tensor? = nil, gwih: Tensor? = nil, gwhh: Tensor? = nil, gbih: Tensor? = nil, gbhh: Tensor? = nil
            if self.requiresGrad {
                let t0 = Tensor(uninitializedShape: xd.shape)
                sgemm(transA: false, transB: false, m: b * t, n: inF, k: gh, dxp.data, wih.data, t0.data)
                gx = t0
            }
            if weightIH.requiresGrad {
                let t0 = Tensor(uninitializedShape: [gh, inF])
                sgemm(transA: true, transB: false, m: gh, n: inF, k: b * t, dxp.data, xd.data, t0.data)
                gwih = t0
            }
            if weightHH.requiresGrad {
                let t0 = Tensor(uninitializedShape: [gh, h])
                sgemm(transA: true, transB: false, m: gh, n: h, k: t * b, dhp.data, hPrev.data, t0.data)
                gwhh = t0
            }
            if let biasIH, biasIH.requiresGrad {
                let t0 = Tensor.zeros([gh])
                for r in 0..<(b * t) { addInPlace(t0.data, dxp.data + r * gh, count: gh) }
                gbih = t0
            }
            if let biasHH, biasHH.requiresGrad {
                let t0 = Tensor.zeros([gh])
                for r in 0..<(t * b) { addInPlace(t0.data, dhp.data + r * gh, count: gh) }
                gbhh = t0
            }
            var grads: [Tensor?] = [gx, gwih, gwhh]
            if biasIH != nil { grads.append(gbih) }
            if biasHH != nil { grads.append(gbhh) }
            return grads
        }
    }

    /// One step of each sample's sequence: `self [B, T, D]`, `steps[b]` in `0..<T` → `[B, D]`
    /// (the last valid state of a recurrent layer, or its first).
    public func selectSteps(_ steps: [Int]) -> Tensor {
        precondition(rank == 3 && steps.count == shape[0], "selectSteps: expected [B, T, D] and B steps, got \(shape) and \(steps.count)")
        let (b, t, d) = (shape[0], shape[1], shape[2])
        precondition(steps.allSatisfy { (0..<t).contains($0) }, "selectSteps: steps must lie in 0..<\(t)")
        let out = Tensor(uninitializedShape: [b, d])
        for r in 0..<b { (out.data + r * d).update(from: data + (r * t + steps[r]) * d, count: d) }
        return out.recording("selectSteps", [self]) { g in
            let gx = Tensor.zeros([b, t, d])
            for r in 0..<b { addInPlace(gx.data + (r * t + steps[r]) * d, g.data + r * d, count: d) }
            return [gx]
        }
    }
}
