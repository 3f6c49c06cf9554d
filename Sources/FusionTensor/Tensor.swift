import CFusionSystem
import Foundation

/// Owned, contiguous Float32 memory shared by a tensor and its reshaped aliases.
///
/// Kernels take `pointer` once, outside their loops; the storage frees its memory when the
/// last tensor that refers to it goes away.
public final class TensorStorage {
    /// Start of the buffer: `count` Float32 values.
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of Float32 values in the buffer.
    public let count: Int

    /// Allocates `count` values, uninitialised (every kernel writes all of its output).
    public init(uninitializedCount count: Int) {
        _ = allocatorTuned
        self.count = count
        self.pointer = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
    }

    /// Allocates `count` values set to `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    deinit { pointer.deallocate() }
}

/// Keeps freed tensor buffers in the heap instead of returning them to the kernel.
///
/// glibc serves large blocks with mmap and unmaps them on free, so every training step would
/// page-fault its activations in afresh (a tenth of the step time in the reference network).
/// Raising the mmap and trim thresholds lets the same memory be reused step after step.
private let allocatorTuned: Bool = {
    mallopt(M_MMAP_THRESHOLD, 1 << 30)
    mallopt(M_TRIM_THRESHOLD, 1 << 30)
    return true
}()

/// A dense, row-major Float32 tensor that records the operations made on it for reverse-mode
/// differentiation.
///
/// Storage is always contiguous; `reshape` shares it, every other op writes a new buffer.
/// A tensor whose `requiresGrad` is true collects gradients in `grad` when `backward()` is
/// called on a scalar computed from it.
public final class Tensor {
    /// The extent of each axis, outermost first.
    public let shape: [Int]
    /// The number of elements (product of `shape`; 1 for a scalar of shape `[]`).
    public let count: Int
    /// The memory holding the values (never replaced; `var` only so that uniqueness can be tested).
    public internal(set) var storage: TensorStorage
    /// Whether gradients flow to and are collected for this tensor.
    public var requiresGrad: Bool
    /// The accumulated gradient, same shape as the tensor; `nil` until a backward pass reaches it.
    public var grad: Tensor?
    /// The operation that produced this tensor, when it was recorded for differentiation.
    var gradNode: GradNode?

    /// Wraps existing storage. `storage.count` must equal the product of `shape`.
    public init(shape: [Int], storage: TensorStorage, requiresGrad: Bool = false) {
        let n = shapeCount(shape)
        precondition(storage.count == n, "Tensor: shape \(shape) needs \(n) values, storage has \(storage.count)")
        self.shape = shape
        self.count = n
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// A tensor with the given values, in row-major order.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        let n = shapeCount(shape)
        precondition(values.count == n, "Tensor: shape \(shape) needs \(n) values, got \(values.count)")
        let s = TensorStorage(uninitializedCount: n)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { s.pointer.update(from: base, count: n) }
        }
        self.init(shape: shape, storage: s, requiresGrad: requiresGrad)
    }

    /// A scalar tensor of shape `[]`.
    public convenience init(scalar: Float, requiresGrad: Bool = false) {
        self.init([scalar], shape: [], requiresGrad: requiresGrad)
    }

    /// A tensor of the given shape whose values are not initialised; for kernels that write every value.
    public convenience init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(uninitializedCount: shapeCount(shape)))
    }

    /// The values' base address. Valid while the tensor is alive.
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.pointer }

    /// The number of axes.
    @inlinable public var rank: Int { shape.count }

    /// The values as a Swift array, in row-major order.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: expected a one-element tensor, got shape \(shape)")
        return data[0]
    }

    /// The extent of `axis`; negative axes count from the end.
    public func size(_ axis: Int) -> Int { shape[normalizeAxis(axis, rank: rank)] }

    /// A new tensor sharing this one's values but not its history (no gradient flows through it).
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// A copy of the values in fresh storage, without history.
    public func copy() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        out.data.update(from: data, count: count)
        return out
    }

    /// Overwrites the values with `other`'s (same number of elements), without recording history.
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: expected \(count) values (shape \(shape)), got shape \(other.shape)")
        data.update(from: other.data, count: count)
    }

    /// Sets every value to `value` in place, without recording history.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }
}

// MARK: - Creation

extension Tensor {
    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(count: shapeCount(shape), repeating: 0), requiresGrad: requiresGrad)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        full(shape, 1, requiresGrad: requiresGrad)
    }

    /// A tensor whose every value is `value`.
    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(count: shapeCount(shape), repeating: value), requiresGrad: requiresGrad)
    }

    /// `[start, start + step, ...]` while below `end` (as `torch.arange`).
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        precondition(step != 0, "arange: step must not be zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        let out = Tensor(uninitializedShape: [n])
        for i in 0..<n { out.data[i] = start + Float(i) * step }
        return out
    }

    /// Values drawn from a normal distribution with the given mean and standard deviation.
    public static func randn<G: RandomNumberGenerator>(
        _ shape: [Int], mean: Float = 0, std: Float = 1, using rng: inout G, requiresGrad: Bool = false
    ) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        for i in 0..<out.count { out.data[i] = mean + std * rng.nextNormal() }
        out.requiresGrad = requiresGrad
        return out
    }

    /// Values drawn uniformly from `[low, high)`.
    public static func uniform<G: RandomNumberGenerator>(
        _ shape: [Int], low: Float = 0, high: Float = 1, using rng: inout G, requiresGrad: Bool = false
    ) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let width = high - low
        for i in 0..<out.count { out.data[i] = low + width * rng.nextUnitFloat() }
        out.requiresGrad = requiresGrad
        return out
    }
}

extension Tensor: CustomStringConvertible {
    /// The shape and up to the first eight values.
    public var description: String {
        let shown = scalars.prefix(8).map { String(format: "%.4f", Double($0)) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), values: [\(shown)\(count > 8 ? ", ..." : "")])"
    }
}

/// The number of elements of a shape.
@inlinable public func shapeCount(_ shape: [Int]) -> Int {
    var n = 1
    for d in shape {
        precondition(d >= 0, "shape \(shape) has a negative extent")
        n *= d
    }
    return n
}

/// Row-major strides of a shape.
@inlinable public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = acc
        acc *= shape[i]
    }
    return strides
}

/// Maps a possibly negative axis into `0..<rank`, trapping with a clear message when out of range.
@inlinable public func normalizeAxis(_ axis: Int, rank: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < Swift.max(rank, 1), "axis \(axis) out of range for rank \(rank)")
    return a
}

