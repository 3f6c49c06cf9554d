import Foundation

// Broadcasting binary arithmetic and unary functions, each forward beside its backward.

// MARK: - Binary ops with NumPy/PyTorch broadcasting

/// A scalar binary function the broadcasting kernel is specialised on.
@usableFromInline protocol BinaryFunction { static func apply(_ a: Float, _ b: Float) -> Float }
@usableFromInline enum AddFn: BinaryFunction { @inlinable @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
@usableFromInline enum SubFn: BinaryFunction { @inlinable @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
@usableFromInline enum MulFn: BinaryFunction { @inlinable @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b } }
@usableFromInline enum DivFn: BinaryFunction { @inlinable @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b } }

/// The broadcast of two shapes (trailing axes aligned; an extent of 1 stretches).
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        precondition(da == db || da == 1 || db == 1, "broadcast: shapes \(a) and \(b) are not compatible")
        out[i] = Swift.max(da, db)
    }
    return out
}

/// Strides of `shape` read as `outShape` under broadcasting (0 along stretched axes).
func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let r = outShape.count, pad = r - shape.count
    let own = contiguousStrides(shape)
    var s = [Int](repeating: 0, count: r)
    for i in 0..<shape.count where shape[i] != 1 { s[i + pad] = own[i] }
    return s
}

/// Applies `F` elementwise over the broadcast of `a` and `b`.
func broadcastBinary<F: BinaryFunction>(_ a: Tensor, _ b: Tensor, _: F.Type) -> Tensor {
    let pa = a.data, pb = b.data
    if a.shape == b.shape {
        let out = Tensor(uninitializedShape: a.shape)
        let po = out.data
        for i in 0..<a.count { po[i] = F.apply(pa[i], pb[i]) }
        return out
    }
    if b.count == 1 {
        let out = Tensor(uninitializedShape: broadcastShape(a.shape, b.shape))
        let po = out.data, s = pb[0]
        for i in 0..<out.count { po[i] = F.apply(pa[i], s) }
        return out
    }
    if a.count == 1 {
        let out = Tensor(uninitializedShape: broadcastShape(a.shape, b.shape))
        let po = out.data, s = pa[0]
        for i in 0..<out.count { po[i] = F.apply(s, pb[i]) }
        return out
    }
    let outShape = broadcastShape(a.shape, b.shape)
    let out = Tensor(uninitializedShape: outShape)
    let r = outShape.count
    let sa = broadcastStrides(a.shape, to: outShape), sb = broadcastStrides(b.shape, to: outShape)
    let n = outShape[r - 1], ia = sa[r - 1], ib = sb[r - 1]
    let rows = out.count / Swift.max(n, 1)
    var index = [Int](repeating: 0, count: r)
    var offA = 0, offB = 0
    let po = out.data
    for row in 0..<rows {
        let o = po + row * n, xa = pa + offA, xb = pb + offB
        switch (ia, ib) {
        case (1, 1): for j in 0..<n { o[j] = F.apply(xa[j], xb[j]) }
        case (1, 0): let v = xb[0]; for j in 0..<n { o[j] = F.apply(xa[j], v) }
        case (0, 1): let v = xa[0]; for j in 0..<n { o[j] = F.apply(v, xb[j]) }
        default: for j in 0..<n { o[j] = F.apply(xa[j * ia], xb[j * ib]) }
        }
        // Advance the odometer over the outer axes.
        var axis = r - 2
        while axis >= 0 {
            index[axis] += 1
            offA += sa[axis]; offB += sb[axis]
            if index[axis] < outShape[axis] { break }
            offA -= sa[axis] * outShape[axis]; offB -= sb[axis] * outShape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
    return out
}

extension Tensor {
    /// Sums `self` over the axes that broadcasting stretched, giving a tensor of `shape`.
    public func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let pad = rank - target.count
        precondition(pad >= 0, "sumToShape: cannot reduce \(shape) to the larger rank of \(target)")
        var axes: [Int] = Array(0..<pad)
        for i in 0..<target.count where target[i] == 1 && shape[i + pad] != 1 { axes.append(i + pad) }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }
}

/// Elementwise sum with broadcasting.
public func + (a: Tensor, b: Tensor) -> Tensor {
    broadcastBinary(a, b, AddFn.self).recording("add", [a, b]) { g in
        [a.requiresGrad ? g.sumToShape(a.shape) : nil, b.requiresGrad ? g.sumToShape(b.shape) : nil]
    }
}

/// Elementwise difference with broadcasting.
public func - (a: Tensor, b: Tensor) -> Tensor {
    broadcastBinary(a, b, SubFn.self).recording("sub", [a, b]) { g in
        [a.requiresGrad ? g.sumToShape(a.shape) : nil, b.requiresGrad ? (-g).sumToShape(b.shape) : nil]
    }
}

/// Elementwise product with broadcasting.
public func * (a: Tensor, b: Tensor) -> Tensor {
    let (ad, bd) = (a.detached(), b.detached())
    return broadcastBinary(a, b, MulFn.self).recording("mul", [a, b]) { g in
        [a.requiresGrad ? (g * bd).sumToShape(a.shape) : nil, b.requiresGrad ? (g * ad).sumToShape(b.shape) : nil]
    }
}

/// Elementwise quotient with broadcasting.
public func / (a: Tensor, b: Tensor) -> Tensor {
    let (ad, bd) = (a.detached(), b.detached())
    return broadcastBinary(a, b, DivFn.self).recording("div", [a, b]) { g in
        [a.requiresGrad ? (g / bd).sumToShape(a.shape) : nil,
         b.requiresGrad ? (-(g * ad) / (bd * bd)).sumToShape(b.shape) : nil]
    }
}

/// Negation.
public prefix func - (x: Tensor) -> Tensor { x.affine(scale: -1, shift: 0) }
/// Adds a constant.
public func + (x: Tensor, s: Float) -> Tensor { x.affine(scale: 1, shift: s) }
/// Adds a constant.
public func + (s: Float, x: Tensor) -> Tensor { x.affine(scale: 1, shift: s) }
/// Subtracts a constant.
public func - (x: Tensor, s: Float) -> Tensor { x.affine(scale: 1, shift: -s) }
/// Subtracts from a constant.
public func - (s: Float, x: Tensor) -> Tensor { x.affine(scale: -1, shift: s) }
/// Multiplies by a constant.
public func * (x: Tensor, s: Float) -> Tensor { x.affine(scale: s, shift: 0) }
/// Multiplies by a constant.
public func * (s: Float, x: Tensor) -> Tensor { x.affine(scale: s, shift: 0) }
/// Divides by a constant.
public func / (x: Tensor, s: Float) -> Tensor { x.affine(scale: 1 / s, shift: 0) }

extension Tensor {
    /// `scale * x + shift`, elementwise.
    public func affine(scale: Float, shift: Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        for i in 0..<count { po[i] = scale * px[i] + shift }
        return out.recording("affine", [self]) { g in [g.affine(scale: scale, shift: 0)] }
    }

    /// Elementwise maximum with another tensor (broadcasting); the gradient goes to the larger
    /// operand (to `self` on ties).
    public func maximum(_ other: Tensor) -> Tensor {
        let mask = broadcastBinary(self, other, GreaterEqualFn.self)
        let (a, b) = (self, other)
        let out = (mask * a.detached() + (1 - mask) * b.detached()).detached()
        return out.recording("maximum", [a, b]) { g in
            [a.requiresGrad ? (g * mask).sumToShape(a.shape) : nil,
             b.requiresGrad ? (g * (1 - mask)).sumToShape(b.shape) : nil]
        }
    }
}

@usableFromInline enum GreaterEqualFn: BinaryFunction {
    @inlinable @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a >= b ? 1 : 0 }
}

// MARK: - Unary functions

/// A unary function with its derivative expressed through the input `x` and output `y`.
@usableFromInline protocol UnaryFunction {
    static func value(_ x: Float) -> Float
    static func derivative(_ x: Float, _ y: Float) -> Float
}

@usableFromInline enum ExpFn: UnaryFunction {
    @inlinable static func value(_ x: Float) -> Float { Foundation.exp(x) }
    @inlinable static func derivative(_ x: Float, _ y: Float) -> Float { y }
}
@usableFromInline enum LogFn: UnaryFunction {
    @inlinable static func value(_ x: Float) -> Float { Foundation.log(x) }
    @inlinable static func derivative(_ x: Float, _ y: Float) -> Float { 1 / x }
}
@usableFromInline enum SqrtFn: UnaryFunction {
    @inlinable static func value(_ x: Float) -> Float { x.squareRoot() }
    @inlinable static func derivative(_ x: Float, _ y: Float) -> Float { 0.5 / y }
}
@usableFromInline enum AbsFn: UnaryFunction {
    @inlinable static func value(_ x: Float) -> Float { Swift.abs(x) }
    @inlinable static func derivative(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
}
@usableFromInline enum TanhFn: UnaryFunction {
    @inlinable static func value(_ x: Float) -> Float { Foundation.tanh(x) }
    @inlinable static func derivative(_ x: Float, _ y: Float) -> Float { 1 - y * y }
}
@usableFromInline enum SigmoidFn: UnaryFunction {
    @inlinable static func value(_ x: Float) -> Float {
        x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
    }
    @inlinable static func derivative(_ x: Float, _ y: Float) -> Float { y * (1 - y) }
}
@usableFromInline enum ReluFn: UnaryFunction {
    @inlinable @inline(__always) static func value(_ x: Float) -> Float { x > 0 ? x : 0 }
    @inlinable @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : 0 }
}
@usableFromInline enum Relu6Fn: UnaryFunction {
    @inlinable @inline(__always) static func value(_ x: Float) -> Float { x > 0 ? (x < 6 ? x : 6) : 0 }
    // PyTorch's hardtanh backward: the gradient passes where 0 < x < 6.
    @inlinable @inline(__always) static func derivative(_ x: Float, _ y: Float) -> Float { x > 0 && x < 6 ? 1 : 0 }
}
@usableFromInline enum GeluFn: UnaryFunction {
    // Exact GELU, x·Φ(x), as PyTorch's default (approximate="none").
    @inlinable static func value(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * 0.70710678118654752)) }
    @inlinable static func derivative(_ x: Float, _ y: Float) -> Float {
        0.5 * (1 + Foundation.erf(x * 0.70710678118654752)) + x * 0.39894228040143268 * Foundation.exp(-0.5 * x * x)
    }
}

extension Tensor {
    @inline(__always)
    func unary<F: UnaryFunction>(_ name: String, _: F.Type) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        for i in 0..<count { po[i] = F.value(px[i]) }
        let x = self, y = out.detached()
        return out.recording(name, [self]) { g in
            let gx = Tensor(uninitializedShape: x.shape)
            let pg = g.data, pgx = gx.data, px = x.data, py = y.data
            for i in 0..<x.count { pgx[i] = pg[i] * F.derivative(px[i], py[i]) }
            return [gx]
        }
    }

    /// Elementwise e^x.
    public func exp() -> Tensor { unary("exp", ExpFn.self) }
    /// Elementwise natural logarithm.
    public func log() -> Tensor { unary("log", LogFn.self) }
    /// Elementwise square root.
    public func sqrt() -> Tensor { unary("sqrt", SqrtFn.self) }
    /// Elementwise absolute value (gradient 0 at 0).
    public func abs() -> Tensor { unary("abs", AbsFn.self) }
    /// Elementwise hyperbolic tangent.
    public func tanh() -> Tensor { unary("tanh", TanhFn.self) }
    /// Elementwise logistic sigmoid 1 / (1 + e^-x), computed stably.
    public func sigmoid() -> Tensor { unary("sigmoid", SigmoidFn.self) }
    /// Elementwise Swift.max(x, 0) (gradient 0 at 0, as PyTorch).
    public func relu() -> Tensor { unary("relu", ReluFn.self) }
    /// Elementwise x clamped to [`lower`, `upper`] (nil: unbounded), as `torch.clamp`; the gradient
    /// passes where x lies inside the bounds (at a bound, as PyTorch: it passes).
    public func clamped(lower: Float?, upper: Float?) -> Tensor {
        let lo = lower ?? -.infinity, hi = upper ?? .infinity
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        for i in 0..<count { po[i] = Swift.min(Swift.max(px[i], lo), hi) }
        let x = self
        return out.recording("clamp", [self]) { g in
            let gx = Tensor(uninitializedShape: x.shape)
            let pg = g.data, pgx = gx.data, px = x.data
            for i in 0..<x.count { pgx[i] = px[i] >= lo && px[i] <= hi ? pg[i] : 0 }
            return [gx]
        }
    }

    /// Elementwise min(max(x, 0), 6), as `torch.nn.ReLU6`.
    public func relu6() -> Tensor { unary("relu6", Relu6Fn.self) }
    /// Elementwise exact GELU, x·Φ(x).
    public func gelu() -> Tensor { unary("gelu", GeluFn.self) }

    /// Elementwise x^p for a constant exponent.
    public func pow(_ p: Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let px = data, po = out.data
        for i in 0..<count { po[i] = Foundation.pow(px[i], p) }
        let x = self.detached()
        return out.recording("pow", [self]) { g in
            let gx = Tensor(uninitializedShape: x.shape)
            for i in 0..<x.count { gx.data[i] = g.data[i] * p * Foundation.pow(x.data[i], p - 1) }
            return [gx]
        }
    }

    /// Elementwise square.
    public func square() -> Tensor { self * self }
}

// MARK: - In-place helpers for optimizers (never recorded)

/// `dst[i] += src[i]`.
@inlinable public func addInPlace(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { dst[i] += src[i] }
}
