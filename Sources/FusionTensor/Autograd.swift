import Synchronization

/// One recorded operation: the tensors it read and how to turn the gradient of its output
/// into gradients of those inputs.
final class GradNode {
    let name: String
    let inputs: [Tensor]
    /// Maps the output gradient to one gradient per input (nil where the input needs none).
    let backward: (Tensor) -> [Tensor?]

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether operations are recorded for differentiation (on by default).
public enum GradMode {
    // Read by every op: an atomic, not a lock.
    private static let state = Atomic<Bool>(true)
    /// Recording switch; use `withNoGrad` rather than setting it directly.
    public static var isEnabled: Bool {
        get { state.load(ordering: .relaxed) }
        set { state.store(newValue, ordering: .relaxed) }
    }
}

/// Runs `body` without recording operations: for evaluation, inference and optimizer updates.
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    let previous = GradMode.isEnabled
    GradMode.isEnabled = false
    defer { GradMode.isEnabled = previous }
    return try body()
}

extension Tensor {
    /// Whether an op on `inputs` must be recorded.
    @inlinable static func needsGrad(_ inputs: [Tensor]) -> Bool {
        guard GradMode.isEnabled else { return false }
        for t in inputs where t.requiresGrad { return true }
        return false
    }

    /// Records `backward` as the way gradients flow from `self` to `inputs`, when any of them
    /// requires a gradient and recording is on. Returns `self` for chaining.
    @discardableResult
    func recording(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        if Tensor.needsGrad(inputs) {
            requiresGrad = true
            gradNode = GradNode(name: name, inputs: inputs, backward: backward)
        }
        return self
    }

    /// Whether this tensor was produced by a recorded op (as opposed to being a leaf).
    public var isLeaf: Bool { gradNode == nil }

    /// Back-propagates from this scalar: every leaf tensor with `requiresGrad` that it depends
    /// on gets d(self)/d(leaf) added to its `grad`.
    public func backward() {
        precondition(count == 1, "backward: expected a scalar (one element), got shape \(shape)")
        backward(gradient: Tensor.ones(shape))
    }

    /// Back-propagates `gradient` (same shape as `self`) through the recorded graph.
    public func backward(gradient: Tensor) {
        precondition(gradient.shape == shape, "backward: gradient shape \(gradient.shape) must equal \(shape)")
        guard requiresGrad else { return }
        // Topological order of the recorded nodes reachable from self (iterative DFS).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            let id = ObjectIdentifier(t)
            if visited.contains(id) { continue }
            visited.insert(id)
            stack.append((t, true))
            if let node = t.gradNode {
                for input in node.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): gradient]
        for t in order.reversed() {
            let id = ObjectIdentifier(t)
            guard let g = grads.removeValue(forKey: id) else { continue }
            guard let node = t.gradNode else {
                t.accumulateGrad(g)
                continue
            }
            let inputGrads = withNoGrad { node.backward(g) }
            for (input, ig) in zip(node.inputs, inputGrads) {
                guard input.requiresGrad, let ig else { continue }
                precondition(ig.shape == input.shape,
                             "backward of \(node.name): gradient shape \(ig.shape) differs from input shape \(input.shape)")
                let key = ObjectIdentifier(input)
                if let existing = grads[key] {
                    grads[key] = withNoGrad { existing + ig }
                } else {
                    grads[key] = ig
                }
            }
        }
    }

    /// Adds `g` to `grad`. The stored gradient never shares storage with another tensor, so
    /// optimizers and clipping may update it in place.
    func accumulateGrad(_ g: Tensor) {
        if let existing = grad {
            addInPlace(existing.data, g.data, count: count)
        } else if isKnownUniquelyReferenced(&g.storage) {
            // No other tensor sees these values: adopt them (the new tensor makes the storage
            // shared, so a second adoption of the same gradient copies instead).
            grad = Tensor(shape: shape, storage: g.storage)
        } else {
            grad = g.copy()
        }
    }

    /// Forgets the accumulated gradient.
    public func zeroGrad() { grad = nil }
}
