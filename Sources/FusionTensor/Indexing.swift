// Row gathers: index-select along the first axis (the embedding lookup) and its scatter-add backward.

/// Integer indices with a shape, for token ids and class labels.
public struct IndexTensor: Equatable, Sendable {
    /// The extent of each axis.
    public let shape: [Int]
    /// The indices in row-major order.
    public let values: [Int32]

    /// Wraps `values` with `shape` (their counts must agree).
    public init(_ values: [Int32], shape: [Int]) {
        precondition(values.count == shapeCount(shape), "IndexTensor: shape \(shape) needs \(shapeCount(shape)) values, got \(values.count)")
        self.values = values
        self.shape = shape
    }
}

extension Tensor {
    /// Rows of a `[V, D]` table picked by `indices`: the result has shape `indices.shape + [D]`.
    ///
    /// Gradients scatter-add back into the picked rows; rows equal to `paddingIndex` get none
    /// (as `torch.nn.Embedding(padding_idx:)`). An index outside `0..<V` traps with its position.
    public func indexSelect(_ indices: IndexTensor, paddingIndex: Int? = nil) -> Tensor {
        precondition(rank == 2, "indexSelect: expected a [V, D] table, got \(shape)")
        let (v, d) = (shape[0], shape[1])
        let out = Tensor(uninitializedShape: indices.shape + [d])
        indices.values.withUnsafeBufferPointer { ids in
            for (i, id) in ids.enumerated() {
                precondition(id >= 0 && Int(id) < v, "indexSelect: index \(id) at position \(i) is outside 0..<\(v)")
                (out.data + i * d).update(from: data + Int(id) * d, count: d)
            }
        }
        let tableShape = shape
        return out.recording("indexSelect", [self]) { g in
            let gt = Tensor.zeros(tableShape)
            indices.values.withUnsafeBufferPointer { ids in
                for (i, id) in ids.enumerated() where Int(id) != paddingIndex {
                    addInPlace(gt.data + Int(id) * d, g.data + i * d, count: d)
                }
            }
            return [gt]
        }
    }
}
