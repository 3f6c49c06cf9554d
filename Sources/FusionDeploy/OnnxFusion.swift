import FusionModels
import FusionTensor

/// The graph operations the fusion strategies write their ONNX forms with (each strategy's
/// `onnx`, beside its class in FusionModels/Fusions).
extension OnnxExporter.Emitter: FusionGraphBuilder {
    func op(_ op: String, _ inputs: [String], _ attributes: [OnnxAttribute]) -> String { g.op(op, inputs, attributes) }
    func scalar(_ value: Float) -> String { g.scalar(value) }
    func ints(_ values: [Int]) -> String { g.ints(values) }
    func parameter(_ key: String) throws -> String { try tensor(key) }
}
