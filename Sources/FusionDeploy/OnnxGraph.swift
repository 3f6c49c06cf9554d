import FusionConfig
import FusionTraining
import Foundation
import FusionModels
import FusionReports
import FusionTensor

/// An ONNX graph under construction, serialised as an ONNX `ModelProto` (protocol buffers, the
/// field numbers of onnx.proto). Nodes are added in topological order; every value has a fresh
/// name; weights become initializers under their checkpoint keys.
final class OnnxGraph {
    /// A node attribute.
    typealias Attribute = OnnxAttribute

    /// ONNX element types used here (TensorProto.DataType).
    enum ElementType: Int { case float = 1, int64 = 7, bool = 9 }

    private var nodes: [[UInt8]] = []
    private var initializers: [[UInt8]] = []
    private var inputs: [[UInt8]] = []
    private var outputs: [[UInt8]] = []
    private var names = Set<String>()
    private var counter = 0
    /// Node counts by op type (for the export summary).
    private(set) var opCounts: [String: Int] = [:]

    /// A name not used yet, from `hint`.
    func fresh(_ hint: String) -> String {
        counter += 1
        var name = "\(hint)_\(counter)"
        while names.contains(name) { counter += 1; name = "\(hint)_\(counter)" }
        names.insert(name)
        return name
    }

    /// Adds `op` over `inputs` ("" for an omitted optional input) with `outputs` fresh outputs; returns their names.
    @discardableResult
    func node(_ op: String, _ inputs: [String], _ attributes: [Attribute] = [], outputs count: Int = 1, hint: String? = nil) -> [String] {
        let outs = (0..<count).map { _ in fresh(hint ?? op.lowercased()) }
        var w = ProtobufWriter()
        for i in inputs { w.bytes(field: 1, Array(i.utf8)) }
        for o in outs { w.bytes(field: 2, Array(o.utf8)) }
        w.bytes(field: 3, Array(fresh("n_" + op).utf8))
        w.bytes(field: 4, Array(op.utf8))
        for a in attributes { w.bytes(field: 5, Self.attribute(a)) }
        nodes.append(w.bytes)
        opCounts[op, default: 0] += 1
        return outs
    }

    /// One-output `node`.
    func op(_ op: String, _ inputs: [String], _ attributes: [Attribute] = [], hint: String? = nil) -> String {
        node(op, inputs, attributes, hint: hint)[0]
    }

    /// A float initializer named `name` (a checkpoint key) holding `tensor`.
    func weight(_ name: String, _ tensor: Tensor) -> String {
        if names.contains(name) { return name }
        names.insert(name)
        initializers.append(Self.tensorProto(name: name, dims: tensor.shape, type: .float, raw: Self.raw(tensor.scalars)))
        return name
    }

    /// A float constant.
    func constant(_ values: [Float], shape: [Int], hint: String = "const") -> String {
        let name = fresh(hint)
        initializers.append(Self.tensorProto(name: name, dims: shape, type: .float, raw: Self.raw(values)))
        return name
    }

    /// A float scalar constant (rank 0).
    func scalar(_ value: Float) -> String { constant([value], shape: [], hint: "scalar") }

    /// An int64 constant (shapes, axes).
    func ints(_ values: [Int], hint: String = "ints") -> String {
        let name = fresh(hint)
        var raw = [UInt8]()
        raw.reserveCapacity(values.count * 8)
        for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { raw += $0 } }
        initializers.append(Self.tensorProto(name: name, dims: [values.count], type: .int64, raw: raw))
        return name
    }

    /// Declares a graph input; `dims` entries of nil are the symbolic batch dimension.
    func input(_ name: String, _ type: ElementType, _ dims: [Int?]) {
        names.insert(name)
        inputs.append(Self.valueInfo(name, type, dims))
    }

    /// Declares `value` a graph output named `name` (an Identity when the names differ).
    func output(_ value: String, as name: String, _ type: ElementType, _ dims: [Int?]) {
        if value != name {
            var w = ProtobufWriter()
            w.bytes(field: 1, Array(value.utf8))
            w.bytes(field: 2, Array(name.utf8))
            w.bytes(field: 3, Array(fresh("n_Identity").utf8))
            w.bytes(field: 4, Array("Identity".utf8))
            nodes.append(w.bytes)
            names.insert(name)
        }
        outputs.append(Self.valueInfo(name, type, dims))
    }

    /// The serialised ModelProto: IR version 8, the default domain at `opset`, `metadata` as metadata_props.
    func model(opset: Int, producerVersion: String, metadata: [(String, String)]) -> [UInt8] {
        var graph = ProtobufWriter()
        for n in nodes { graph.bytes(field: 1, n) }
        graph.bytes(field: 2, Array("fusionlab".utf8))
        for t in initializers { graph.bytes(field: 5, t) }
        for i in inputs { graph.bytes(field: 11, i) }
        for o in outputs { graph.bytes(field: 12, o) }
        var model = ProtobufWriter()
        model.varint(field: 1, 8)  // ir_version
        model.bytes(field: 2, Array("fusionlab".utf8))
        model.bytes(field: 3, Array(producerVersion.utf8))
        var opsetID = ProtobufWriter()
        opsetID.bytes(field: 1, [])
        opsetID.varint(field: 2, UInt64(opset))
        model.bytes(field: 7, graph.bytes)
        model.bytes(field: 8, opsetID.bytes)
        for (k, v) in metadata {
            var entry = ProtobufWriter()
            entry.bytes(field: 1, Array(k.utf8))
            entry.bytes(field: 2, Array(v.utf8))
            model.bytes(field: 14, entry.bytes)
        }
        return model.bytes
    }

    // MARK: - Messages

    static func raw(_ values: [Float]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    static func tensorProto(name: String, dims: [Int], type: ElementType, raw: [UInt8]) -> [UInt8] {
        var w = ProtobufWriter()
        for d in dims { w.varint(field: 1, UInt64(d)) }
        w.varint(field: 2, UInt64(type.rawValue))
        w.bytes(field: 8, Array(name.utf8))
        w.bytes(field: 9, raw)
        return w.bytes
    }

    static func valueInfo(_ name: String, _ type: ElementType, _ dims: [Int?]) -> [UInt8] {
        var shape = ProtobufWriter()
        for d in dims {
            var dim = ProtobufWriter()
            if let d { dim.varint(field: 1, UInt64(d)) } else { dim.bytes(field: 2, Array("batch".utf8)) }
            shape.bytes(field: 1, dim.bytes)
        }
        var tensor = ProtobufWriter()
        tensor.varint(field: 1, UInt64(type.rawValue))
        tensor.bytes(field: 2, shape.bytes)
        var typeProto = ProtobufWriter()
        typeProto.bytes(field: 1, tensor.bytes)
        var info = ProtobufWriter()
        info.bytes(field: 1, Array(name.utf8))
        info.bytes(field: 2, typeProto.bytes)
        return info.bytes
    }

    static func attribute(_ a: Attribute) -> [UInt8] {
        var w = ProtobufWriter()
        switch a {
        case .int(let name, let v):
            w.bytes(field: 1, Array(name.utf8))
            w.varint(field: 3, UInt64(bitPattern: Int64(v)))
            w.varint(field: 20, 2)
        case .ints(let name, let vs):
            w.bytes(field: 1, Array(name.utf8))
            for v in vs { w.varint(field: 8, UInt64(bitPattern: Int64(v))) }
            w.varint(field: 20, 7)
        case .float(let name, let v):
            w.bytes(field: 1, Array(name.utf8))
            w.fixed32(field: 2, v.bitPattern)
            w.varint(field: 20, 1)
        case .string(let name, let v):
            w.bytes(field: 1, Array(name.utf8))
            w.bytes(field: 4, Array(v.utf8))
            w.varint(field: 20, 3)
        }
        return w.bytes
    }
}
