// Small loops written with SIMD8 so they vectorise whatever the optimiser decides about
// branches and float reassociation (the scalar forms compile to branchy or serial code).

@usableFromInline typealias Vec8 = SIMD8<Float>

@inline(__always) @usableFromInline
func load8(_ p: UnsafePointer<Float>) -> Vec8 { UnsafeRawPointer(p).loadUnaligned(as: Vec8.self) }

@inline(__always) @usableFromInline
func store8(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self) }

/// Σ p[0..<n], with eight partial sums.
@inlinable
public func vectorSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Vec8(repeating: 0)
    var i = 0
    while i + 8 <= n { acc += load8(p + i); i += 8 }
    var total = acc.sum()
    while i < n { total += p[i]; i += 1 }
    return total
}

/// dst[i] = relu(src[i] + shift) when `relu`, else src[i] + shift.
@inlinable
public func vectorShift(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ shift: Float, _ n: Int, relu: Bool) {
    let s = Vec8(repeating: shift), zero = Vec8(repeating: 0)
    var i = 0
    if relu {
        while i + 8 <= n { let t = load8(src + i) + s; store8(t.replacing(with: 0, where: t .< zero), dst + i); i += 8 }
        while i < n { let t = src[i] + shift; dst[i] = t > 0 ? t : 0; i += 1 }
    } else {
        while i + 8 <= n { store8(load8(src + i) + s, dst + i); i += 8 }
        while i < n { dst[i] = src[i] + shift; i += 1 }
    }
}

/// dst[i] = gate[i] > 0 ? src[i] : 0 (the ReLU gradient mask).
@inlinable
public func vectorMaskPositive(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, gate: UnsafePointer<Float>, _ n: Int) {
    let zero = Vec8(repeating: 0)
    var i = 0
    while i + 8 <= n {
        let g = load8(gate + i)
        store8(load8(src + i).replacing(with: 0, where: g .<= zero), dst + i)
        i += 8
    }
    while i < n { dst[i] = gate[i] > 0 ? src[i] : 0; i += 1 }
}
