import FusionNN
import FusionTensor

/// Post-training static int8 quantization of a model's linear and convolution layers.
///
/// Calibration runs the float model on sample batches while every such layer records the range
/// of its input; each layer that saw input then computes in int8 on oneDNN: weights per output
/// channel, the input per tensor with the calibrated scale (see `ActivationQuantization`). Every
/// other op (pooling, activations, normalisation, embeddings, recurrent cells, fusion arithmetic)
/// stays float32 between them.
///
/// Checkpoint layout, for a quantized layer under key `k` (readable with the `safetensors`
/// package: `weight · weight_scale[:, None…]` gives the float weight back):
/// - `k.weight`: I8, the float weight's shape;
/// - `k.weight_scale`: F32 `[out]`;
/// - `k.input_scale`: F32 `[1]`, `k.input_zero_point`: I32 `[1]`;
/// - `k.bias` and every other tensor of the model: F32 as usual.
public enum Int8Quantization {
    /// The checkpoint metadata entry that marks an int8 checkpoint (value `int8`).
    public static let metadataKey = "fusionlab.quantization"

    /// What quantization did: the layers now in int8 and those left in float32, with why.
    public struct Report: Sendable {
        /// Keys of the layers computing in int8.
        public var quantized: [String] = []
        /// Keys of linear and convolution layers kept in float32, with the reason.
        public var float: [(key: String, reason: String)] = []
    }

    /// The layers int8 can compute (linear, and convolution without groups), by key.
    public static func candidates(_ model: Module) -> [(key: String, layer: Module)] {
        model.namedModules().filter { ($0.module is Linear) || (($0.module as? Conv2d)?.groups == 1) }
            .map { ($0.key, $0.module) }
    }

    /// Calibrates with `calibrate` (which runs the model on sample batches) and switches every
    /// layer that saw input to int8. Layers that saw none stay float and are reported.
    public static func quantize(_ model: Module, calibrate: () throws -> Void) throws -> Report {
        var report = Report()
        for (key, m) in model.namedModules() {
            if let conv = m as? Conv2d, conv.groups != 1 { report.float.append((key, "grouped convolution")) }
        }
        let layers = candidates(model).map { (key: $0.key, layer: $0.layer, range: ActivationRange()) }
        for (_, layer, range) in layers { setObserver(layer, { range.observe($0) }) }
        defer { for (_, layer, _) in layers { setObserver(layer, nil) } }
        try calibrate()
        for (key, layer, range) in layers {
            guard range.count > 0, range.minimum.isFinite else {
                report.float.append((key, "not reached by the calibration batches"))
                continue
            }
            try quantize(layer, input: ActivationQuantization(observed: range), key: key)
            report.quantized.append(key)
        }
        return report
    }

    /// Switches one layer to int8 with the given input quantization; its float weight becomes the
    /// dequantized int8 weight, so both paths describe the same model.
    static func quantize(_ layer: Module, input: ActivationQuantization, key: String, weights given: Int8Weights? = nil) throws {
        do {
            if let linear = layer as? Linear {
                try QuantizedLinear.swap(into: linear, weights: given ?? Int8Weights(quantizing: linear.weight), input: input)
            } else if let conv = layer as? Conv2d {
                try QuantizedConv2d.swap(into: conv, weights: given ?? Int8Weights(quantizing: conv.weight), input: input)
            }
        } catch {
            throw Int8Error("\(key): \(error)")
        }
    }

    /// The int8 state of a quantized layer: weights and input quantization.
    static func int8State(_ layer: Module) -> (Int8Weights, ActivationQuantization)? {
        if let k = ((layer as? Linear)?.swapped as? QuantizedLinear)?.kernel { return (k.weights, k.input) }
        if let k = ((layer as? Conv2d)?.swapped as? QuantizedConv2d)?.plain { return (k.weights, k.input) }
        return nil
    }

    private static func setObserver(_ layer: Module, _ observer: (@Sendable (Tensor) -> Void)?) {
        (layer as? Linear)?.inputObserver = observer
        (layer as? Conv2d)?.inputObserver = observer
    }

    /// Loads any checkpoint into `model`: int8 ones through `load(_:tensors:metadata:source:)`,
    /// float ones as usual. Returns whether it was int8.
    @discardableResult
    public static func loadAny(_ model: Module, from path: String) throws -> Bool {
        let (tensors, metadata) = try Safetensors.read(path)
        if metadata[metadataKey] != nil {
            try load(model, tensors: tensors, metadata: metadata, source: path)
            return true
        }
        try model.load(tensors, source: path)
        return false
    }

    /// Saves `model` with its int8 layers as described above (atomically).
    public static func save(_ model: Module, to path: String, metadata: [String: String] = [:]) throws {
        var tensors: [(String, Tensor)] = []
        var dtypes: [String: String] = [:]
        var quantized: [String: (Int8Weights, ActivationQuantization)] = [:]
        for (key, layer) in candidates(model) { if let state = int8State(layer) { quantized[key] = state } }
        for (key, t) in model.stateDict() {
            guard key.hasSuffix(".weight"), let (w, input) = quantized[String(key.dropLast(".weight".count))] else {
                tensors.append((key, t))
                continue
            }
            let prefix = String(key.dropLast("weight".count))
            tensors.append((key, Tensor(w.values.map(Float.init), shape: w.shape)))
            dtypes[key] = "I8"
            tensors.append((prefix + "weight_scale", Tensor(w.scales, shape: [w.scales.count])))
            tensors.append((prefix + "input_scale", Tensor([input.scale], shape: [1])))
            tensors.append((prefix + "input_zero_point", Tensor([Float(input.zeroPoint)], shape: [1])))
            dtypes[prefix + "input_zero_point"] = "I32"
        }
        var meta = metadata
        meta[metadataKey] = "int8"
        try Safetensors.write(tensors, metadata: meta, dtypes: dtypes, to: path)
    }

    /// Loads an int8 checkpoint written by `save` into a float model of the same configuration:
    /// the layers it quantized get their int8 kernels, everything else loads as usual. Returns
    /// the int8 layers' keys.
    @discardableResult
    public static func load(_ model: Module, from path: String) throws -> [String] {
        let (tensors, metadata) = try Safetensors.read(path)
        return try load(model, tensors: tensors, metadata: metadata, source: path)
    }

    /// `load(_:from:)` for a checkpoint already read; `path` names it in errors.
    @discardableResult
    public static func load(_ model: Module, tensors: [String: Tensor], metadata: [String: String], source path: String) throws -> [String] {
        guard metadata[metadataKey] == "int8" else {
            throw SafetensorsError(path: path, message: "not an int8 checkpoint (no \(metadataKey) entry in its metadata)")
        }
        var remaining = tensors
        var keys: [String] = []
        var pending: [(String, Module, Int8Weights, ActivationQuantization)] = []
        for (key, layer) in candidates(model) {
            let p = key + "."
            guard let scales = tensors[p + "weight_scale"] else { continue }
            let needed = ["weight", "input_scale", "input_zero_point"].filter { tensors[p + $0] == nil }
            guard needed.isEmpty, let values = tensors[p + "weight"], let inputScale = tensors[p + "input_scale"],
                  let zeroPoint = tensors[p + "input_zero_point"] else {
                throw SafetensorsError(path: path, message: "\(key) has weight_scale but no \(needed.map { p + $0 }.joined(separator: ", ")): an int8 layer needs all four")
            }
            guard inputScale.count == 1, zeroPoint.count == 1 else {
                throw SafetensorsError(path: path, message: "\(p)input_scale and \(p)input_zero_point must hold one value each, not \(inputScale.count) and \(zeroPoint.count)")
            }
            let zp = zeroPoint.scalars[0]
            guard zp.isFinite, zp == zp.rounded(), zp >= 0, zp <= 127 else {
                throw SafetensorsError(path: path, message: "\(p)input_zero_point: expected an integer in [0, 127], got \(zp)")
            }
            guard values.scalars.allSatisfy({ $0 >= -127 && $0 <= 127 }) else {
                throw SafetensorsError(path: path, message: "\(key).weight: int8 weights must lie in [-127, 127]")
            }
            do {
                let w = try Int8Weights(values: values.scalars.map { Int8($0) }, scales: scales.scalars, shape: values.shape)
                let input = try ActivationQuantization(scale: inputScale.scalars[0], zeroPoint: Int32(zp))
                remaining[p + "weight"] = w.dequantized()
                for suffix in ["weight_scale", "input_scale", "input_zero_point"] { remaining[p + suffix] = nil }
                // The dequantized weight must fit the layer before a kernel is made from it.
                let expected = (layer as? Linear)?.weight.shape ?? (layer as? Conv2d)?.weight.shape
                guard expected == values.shape else {
                    throw SafetensorsError(path: path, message: "tensor \"\(p)weight\" has shape \(values.shape) but the model expects \(expected ?? [])")
                }
                pending.append((key, layer, w, input))
            } catch let error as Int8Error {
                throw SafetensorsError(path: path, message: "\(key): \(error)")
            }
            keys.append(key)
        }
        // Float tensors first: the kernels take the biases as they are made.
        try model.load(remaining, strict: true, source: path)
        for (key, layer, w, input) in pending {
            do { try quantize(layer, input: input, key: key, weights: w) } catch {
                throw SafetensorsError(path: path, message: "\(error)")
            }
        }
        let unexpected = Set(remaining.keys).subtracting(model.stateDict().map { $0.key })
        guard unexpected.isEmpty else {
            throw SafetensorsError(path: path, message: "tensors the model does not have: \(unexpected.sorted().prefix(5).joined(separator: ", "))")
        }
        return keys
    }
}
