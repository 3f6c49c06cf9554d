import FusionTensor

/// The base of every layer and model: discovers parameters, buffers and sub-modules from stored
/// properties and gives each a stable dotted key (`encoders.image.conv1.weight`).
///
/// Those keys are the checkpoint keys, the freeze patterns and the optimizer groups. Stored
/// properties of type `Tensor`, `Tensor?` or `[String: Tensor]` are parameters unless named in `bufferNames`;
/// properties of type `Module`, `[Module]` or `[String: Module]` are children. A subclass that
/// must match another framework's names overrides `keyOverrides`.
open class Module {
    /// Whether the module is in training mode (dropout active, batch norm on batch statistics).
    public private(set) var training = true

    /// Creates a module in training mode.
    public init() {}

    /// Property names whose tensors are state but not trained (running statistics).
    open var bufferNames: Set<String> { [] }

    /// Checkpoint keys to use instead of property names, by property name.
    open var keyOverrides: [String: String] { [:] }

    /// Direct children and tensors, in declaration order, under their keys.
    public final func directEntries() -> [(key: String, value: Any)] {
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: self)
        while let cur = m { mirrors.append(cur); m = cur.superclassMirror }
        var entries: [(String, Any)] = []
        let overrides = keyOverrides
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard let label = child.label, label != "training" else { continue }
                let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
                entries.append((overrides[name] ?? name, child.value))
            }
        }
        return entries
    }

    /// Sub-modules directly owned by this one, under their keys.
    public final func namedChildren() -> [(String, Module)] {
        var result: [(String, Module)] = []
        for (key, value) in directEntries() {
            if let module = value as? Module {
                result.append((key, module))
            } else if let list = value as? [Module] {
                for (i, module) in list.enumerated() { result.append((key.isEmpty ? "\(i)" : "\(key).\(i)", module)) }
            } else if let dict = value as? [String: Module] {
                for name in dict.keys.sorted() { if let module = dict[name] { result.append((key.isEmpty ? name : "\(key).\(name)", module)) } }
            }
        }
        return result
    }

    /// Every descendant module under its dotted key (the prefix of its parameters' keys),
    /// depth-first in declaration order; a module reachable twice is listed once.
    public final func namedModules() -> [(key: String, module: Module)] {
        var out: [(key: String, module: Module)] = []
        var seen = Set<ObjectIdentifier>()
        func walk(_ m: Module, _ prefix: String) {
            for (k, child) in m.namedChildren() where seen.insert(ObjectIdentifier(child)).inserted {
                let key = k.isEmpty ? prefix : (prefix.isEmpty ? k : prefix + "." + k)
                out.append((key, child))
                walk(child, key)
            }
        }
        walk(self, "")
        return out
    }

    /// Every trainable tensor under this module, keyed by dotted path, in a stable order.
    public final func namedParameters() -> [(key: String, tensor: Tensor)] {
        collectTensors(prefix: "", buffers: false)
    }

    /// Every buffer (non-trained state such as running statistics), keyed by dotted path.
    public final func namedBuffers() -> [(key: String, tensor: Tensor)] {
        collectTensors(prefix: "", buffers: true)
    }

    /// Parameters and buffers together: what a checkpoint stores.
    public final func stateDict() -> [(key: String, tensor: Tensor)] {
        namedParameters() + namedBuffers()
    }

    /// The parameters whose gradients are collected (not frozen).
    public final func trainableParameters() -> [(key: String, tensor: Tensor)] {
        namedParameters().filter { $0.tensor.requiresGrad }
    }

    /// The total number of parameter values.
    public final var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.tensor.count } }

    private func collectTensors(prefix: String, buffers: Bool) -> [(key: String, tensor: Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(key: String, tensor: Tensor)] = []
        collectTensors(prefix: prefix, buffers: buffers, seen: &seen, into: &result)
        return result
    }

    /// Depth-first in declaration order; a module or tensor reachable twice is listed once, under
    /// its first key (as PyTorch's `named_parameters`). An empty key adds no path segment.
    private func collectTensors(prefix: String, buffers: Bool, seen: inout Set<ObjectIdentifier>,
                                into result: inout [(key: String, tensor: Tensor)]) {
        func add(_ key: String, _ t: Tensor) {
            if seen.insert(ObjectIdentifier(t)).inserted { result.append((key, t)) }
        }
        let bufferKeys = Set(bufferNames.map { keyOverrides[$0] ?? $0 })
        for (key, value) in directEntries() {
            if let t = value as? Tensor {
                if bufferKeys.contains(key) == buffers { add(prefix + key, t) }
            } else if let dict = value as? [String: Tensor], bufferKeys.contains(key) == buffers {
                for name in dict.keys.sorted() { if let t = dict[name] { add(prefix + (key.isEmpty ? name : key + "." + name), t) } }
            }
        }
        for (key, child) in namedChildren() where seen.insert(ObjectIdentifier(child)).inserted {
            child.collectTensors(prefix: key.isEmpty ? prefix : prefix + key + ".", buffers: buffers, seen: &seen, into: &result)
        }
    }

    /// Sets training or evaluation mode on this module and every descendant.
    public final func train(_ on: Bool = true) {
        training = on
        for (_, child) in namedChildren() { child.train(on) }
    }

    /// Restarts this module's own random streams (dropout masks) from `seed`. Modules with
    /// randomness override it; `reseedAll` reaches every descendant.
    open func reseed(_ seed: UInt64) {}

    /// Restarts the random streams of this module and every descendant, each from its own seed
    /// derived from `seed` and its key, so a run resumed at an epoch boundary draws what an
    /// uninterrupted one would.
    public final func reseedAll(_ seed: UInt64, path: String = "") {
        reseed(seed ^ Hash64.fnv1a(path.utf8))
        for (key, child) in namedChildren() { child.reseedAll(seed, path: path + "." + key) }
    }

    /// Evaluation mode (dropout off, batch norm on running statistics).
    public final func eval() { train(false) }

    /// Stops gradients for every parameter whose key matches one of `patterns`
    /// (glob syntax: `*` matches any run of characters; a pattern without `*` also matches as a
    /// key prefix ending at a dot). Returns the keys frozen.
    @discardableResult
    public final func freeze(_ patterns: [String]) -> [String] { setTrainable(false, patterns) }

    /// Re-enables gradients for parameters matching `patterns`. Returns the keys unfrozen.
    @discardableResult
    public final func unfreeze(_ patterns: [String]) -> [String] { setTrainable(true, patterns) }

    private func setTrainable(_ on: Bool, _ patterns: [String]) -> [String] {
        var keys: [String] = []
        for (key, t) in namedParameters() where patterns.contains(where: { keyMatches(key, pattern: $0) }) {
            t.requiresGrad = on
            if !on { t.grad = nil }
            keys.append(key)
        }
        return keys
    }

    /// Clears every parameter's gradient.
    public final func zeroGrad() {
        for (_, t) in namedParameters() { t.grad = nil }
    }
}

/// Whether a dotted key matches a glob pattern (`*` is any run of characters), or, for a pattern
/// without `*`, whether it equals the key or is a dotted prefix of it.
public func keyMatches(_ key: String, pattern: String) -> Bool {
    if !pattern.contains("*") {
        return key == pattern || key.hasPrefix(pattern.hasSuffix(".") ? pattern : pattern + ".")
    }
    let k = Array(key.utf8), p = Array(pattern.utf8)
    var (ki, pi) = (0, 0)
    var (star, mark) = (-1, 0)
    while ki < k.count {
        if pi < p.count && p[pi] != UInt8(ascii: "*") && p[pi] == k[ki] {
            ki += 1; pi += 1
        } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
            star = pi; mark = ki; pi += 1
        } else if star >= 0 {
            pi = star + 1; mark += 1; ki = mark
        } else {
            return false
        }
    }
    while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.count
}

/// A module that maps one tensor to one tensor.
public protocol UnaryLayer: AnyObject {
    /// Applies the layer.
    func callAsFunction(_ x: Tensor) -> Tensor
}
