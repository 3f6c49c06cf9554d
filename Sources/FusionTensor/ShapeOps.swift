// Reshape, permute/transpose, slicing, concatenation, split and stack.

extension Tensor {
    /// The same values under a new shape (shares storage). One extent may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let infer = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != infer }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) for \(count) values")
            target[infer] = count / known
        }
        precondition(shapeCount(target) == count, "reshape: expected \(count) values (shape \(shape)), target \(newShape) has \(shapeCount(target))")
        if target == shape { return self }
        let inShape = shape
        return Tensor(shape: target, storage: storage).recording("reshape", [self]) { g in [g.reshaped(inShape)] }
    }

    /// Collapses axes `start...end` into one.
    public func flattened(from start: Int = 1, to end: Int = -1) -> Tensor {
        let s = normalizeAxis(start, rank: rank), e = normalizeAxis(end, rank: rank)
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Inserts an axis of extent 1 at `axis`.
    public func unsqueezed(_ axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes the axis `axis`, which must have extent 1.
    public func squeezed(_ axis: Int) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        precondition(shape[a] == 1, "squeeze: axis \(axis) of shape \(shape) is not 1")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    /// Reorders the axes: output axis i is input axis `order[i]`. Writes a contiguous copy.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order) == Set(0..<rank), "permute: \(order) is not a permutation of \(rank) axes")
        if order == Array(0..<rank) { return self }
        let outShape = order.map { shape[$0] }
        let out = Tensor(uninitializedShape: outShape)
        permuteCopy(src: data, srcShape: shape, order: order, dst: out.data)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return out.recording("permute", [self]) { g in [g.permuted(inverse)] }
    }

    /// Swaps two axes.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(normalizeAxis(a, rank: rank), normalizeAxis(b, rank: rank))
        return permuted(order)
    }

    /// The sub-tensor with `range` along `axis` (as `torch.narrow`).
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizeAxis(axis, rank: rank)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a],
                     "slice: range \(range) out of bounds for axis \(a) of shape \(shape)")
        let sp = AxisSplit(shape, axis: a)
        var outShape = shape
        outShape[a] = range.count
        let out = Tensor(uninitializedShape: outShape)
        let block = range.count * sp.inner
        for o in 0..<sp.outer {
            (out.data + o * block).update(from: data + (o * sp.n + range.lowerBound) * sp.inner, count: block)
        }
        let inShape = shape
        return out.recording("slice", [self]) { g in
            let gx = Tensor.zeros(inShape)
            for o in 0..<sp.outer {
                (gx.data + (o * sp.n + range.lowerBound) * sp.inner).update(from: g.data + o * block, count: block)
            }
            return [gx]
        }
    }

    /// Splits into pieces of the given extents along `axis`.
    public func split(_ sizes: [Int], axis: Int) -> [Tensor] {
        let a = normalizeAxis(axis, rank: rank)
        precondition(sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not add up to extent \(shape[a]) of axis \(a)")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(axis: a, start..<(start + n))
        }
    }

    /// Joins tensors along an existing axis; all other extents must agree.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0]
        let a = normalizeAxis(axis, rank: first.rank)
        for t in tensors {
            precondition(t.rank == first.rank && t.shape.enumerated().allSatisfy { $0.offset == a || $0.element == first.shape[$0.offset] },
                         "concat: shape \(t.shape) does not match \(first.shape) outside axis \(a)")
        }
        var outShape = first.shape
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor(uninitializedShape: outShape)
        let outer = first.shape[..<a].reduce(1, *)
        let inner = first.shape[(a + 1)...].reduce(1, *)
        let outBlock = outShape[a] * inner
        var offset = 0
        for t in tensors {
            let block = t.shape[a] * inner
            for o in 0..<outer { (out.data + o * outBlock + offset).update(from: t.data + o * block, count: block) }
            offset += block
        }
        let sizes = tensors.map { $0.shape[a] }
        return out.recording("concat", tensors) { g in
            g.split(sizes, axis: a).enumerated().map { tensors[$0.offset].requiresGrad ? $0.element : nil }
        }
    }

    /// Stacks same-shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: no tensors")
        let a = axis < 0 ? axis + tensors[0].rank + 1 : axis
        return concat(tensors.map { $0.unsqueezed(a) }, axis: a)
    }
}

/// Copies `src` (contiguous, `srcShape`) into `dst` with axes reordered by `order`.
func permuteCopy(src: UnsafePointer<Float>, srcShape: [Int], order: [Int], dst: UnsafeMutablePointer<Float>) {
    let r = srcShape.count
    let srcStrides = contiguousStrides(srcShape)
    let outShape = order.map { srcShape[$0] }
    let strides = order.map { srcStrides[$0] }  // source stride of each output axis
    let n = outShape[r - 1], inner = strides[r - 1]
    let rows = shapeCount(outShape) / Swift.max(n, 1)
    var index = [Int](repeating: 0, count: r)
    var off = 0
    for row in 0..<rows {
        let o = dst + row * n
        if inner == 1 { o.update(from: src + off, count: n) } else { for j in 0..<n { o[j] = src[off + j * inner] } }
        var axis = r - 2
        while axis >= 0 {
            index[axis] += 1
            off += strides[axis]
            if index[axis] < outShape[axis] { break }
            off -= strides[axis] * outShape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}
