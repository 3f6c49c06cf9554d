// Reductions along axes: sum, mean, max, min, argmax, variance.

/// A view of a shape as `[outer, n, inner]` around one axis.
struct AxisSplit {
    let outer: Int, n: Int, inner: Int
    init(_ shape: [Int], axis: Int) {
        outer = shape[..<axis].reduce(1, *)
        n = shape[axis]
        inner = shape[(axis + 1)...].reduce(1, *)
    }
}

extension Tensor {
    /// Sum over `axes` (all axes when empty is passed as nil), optionally keeping them as size 1.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axesList = normalizedAxes(axes)
        var cur = detached()
        for axis in axesList.sorted(by: >) { cur = cur.sumAxisKeep(axis) }
        let keptShape = cur.shape
        let outShape = keepDims ? keptShape : reducedShape(axesList)
        let out = Tensor(shape: outShape, storage: cur.storage)
        let inShape = shape
        return out.recording("sum", [self]) { g in
            [g.reshaped(keptShape).expand(to: inShape)]
        }
    }

    /// Mean over `axes` (all axes when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axesList = normalizedAxes(axes)
        let n = axesList.reduce(1) { $0 * shape[$1] }
        return sum(axes: axesList, keepDims: keepDims) / Float(Swift.max(n, 1))
    }

    /// Variance over `axes` (all when nil); `unbiased` divides by n − 1 as `torch.var`'s default.
    public func variance(axes: [Int]? = nil, keepDims: Bool = false, unbiased: Bool = true) -> Tensor {
        let axesList = normalizedAxes(axes)
        let n = axesList.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: axesList, keepDims: true)
        let ss = (centered * centered).sum(axes: axesList, keepDims: keepDims)
        return ss / Float(Swift.max(unbiased ? n - 1 : n, 1))
    }

    /// Maximum along `axis`; the gradient flows to the (first) maximal element.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { extreme(axis: axis, keepDims: keepDims, isMax: true) }

    /// Minimum along `axis`; the gradient flows to the (first) minimal element.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { extreme(axis: axis, keepDims: keepDims, isMax: false) }

    /// The maximum of all values (no gradient).
    public func maxValue() -> Float {
        precondition(count > 0, "maxValue: empty tensor")
        var m = data[0]
        for i in 1..<count where data[i] > m { m = data[i] }
        return m
    }

    /// Index of the maximum along `axis` (first on ties), as integers.
    public func argmax(axis: Int) -> [Int] {
        let a = normalizeAxis(axis, rank: rank)
        return extremeIndices(axis: a, isMax: true)
    }

    // MARK: Internals

    func normalizedAxes(_ axes: [Int]?) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let list = axes.map { normalizeAxis($0, rank: rank) }
        precondition(Set(list).count == list.count, "reduction: repeated axis in \(axes)")
        return list
    }

    func reducedShape(_ axes: [Int]) -> [Int] {
        let drop = Set(axes)
        return shape.enumerated().filter { !drop.contains($0.offset) }.map { $0.element }
    }

    /// Sum over one axis, keeping it with extent 1 (no recording).
    func sumAxisKeep(_ axis: Int) -> Tensor {
        let sp = AxisSplit(shape, axis: axis)
        var outShape = shape
        outShape[axis] = 1
        let out = Tensor.zeros(outShape)
        let px = data, po = out.data
        if sp.inner == 1 {
            for o in 0..<sp.outer { po[o] = vectorSum(px + o * sp.n, sp.n) }
        } else {
            for o in 0..<sp.outer {
                let dst = po + o * sp.inner
                for j in 0..<sp.n {
                    let src = px + (o * sp.n + j) * sp.inner
                    for k in 0..<sp.inner { dst[k] += src[k] }
                }
            }
        }
        return out
    }

    /// Broadcasts `self` (whose extents are 1 or equal to `target`'s) to `target` as a new tensor
    /// (recorded: its gradient sums back).
    public func expand(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let zero = Tensor.zeros(target)
        return self + zero
    }

    func extremeIndices(axis: Int, isMax: Bool) -> [Int] {
        let sp = AxisSplit(shape, axis: axis)
        precondition(sp.n > 0, "max/min/argmax along an empty axis of shape \(shape)")
        var idx = [Int](repeating: 0, count: sp.outer * sp.inner)
        let px = data
        for o in 0..<sp.outer {
            for k in 0..<sp.inner {
                var best = px[o * sp.n * sp.inner + k], bi = 0
                for j in 1..<Swift.max(sp.n, 1) {
                    let v = px[(o * sp.n + j) * sp.inner + k]
                    if isMax ? (v > best) : (v < best) { best = v; bi = j }
                }
                idx[o * sp.inner + k] = bi
            }
        }
        return idx
    }

    func extreme(axis: Int, keepDims: Bool, isMax: Bool) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        let sp = AxisSplit(shape, axis: a)
        let idx = extremeIndices(axis: a, isMax: isMax)
        var keptShape = shape
        keptShape[a] = 1
        let out = Tensor(uninitializedShape: keepDims ? keptShape : reducedShape([a]))
        for o in 0..<sp.outer {
            for k in 0..<sp.inner {
                out.data[o * sp.inner + k] = data[(o * sp.n + idx[o * sp.inner + k]) * sp.inner + k]
            }
        }
        let inShape = shape
        return out.recording(isMax ? "max" : "min", [self]) { g in
            let gx = Tensor.zeros(inShape)
            for o in 0..<sp.outer {
                for k in 0..<sp.inner {
                    gx.data[(o * sp.n + idx[o * sp.inner + k]) * sp.inner + k] = g.data[o * sp.inner + k]
                }
            }
            return [gx]
        }
    }
}
