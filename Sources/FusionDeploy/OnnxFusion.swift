import FusionConfig
import FusionTraining
import Foundation
import FusionCore
import FusionData
import FusionModels
import FusionNN
import FusionReports
import FusionTensor

/// The fusion strategies as ONNX nodes: each is FusionLab's `fuse` written with the graph's
/// ops, over embeddings `[B, d_m]` and presence columns `[B, 1]`.
extension OnnxExporter.Emitter {

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    func fusion(_ f: FusionConfig, embeddings: [Modality: String], presence: [Modality: String], widths: [Modality: Int],
                order: [Modality]) throws -> String {
        func e(_ m: Modality) -> String { embeddings[m] ?? "" }
        func p(_ m: Modality) -> String { presence[m] ?? "" }
        func absent(_ m: Modality) -> String { g.op("Sub", [g.scalar(1), p(m)]) }
        func ones(_ m: Modality) -> String { g.op("Add", [g.op("Mul", [p(m), g.scalar(0)]), g.scalar(1)]) }
        func concat(_ xs: [String], axis: Int) -> String { xs.count == 1 ? xs[0] : g.op("Concat", xs, [.int("axis", axis)]) }
        func sum(_ xs: [String]) -> String { xs.dropFirst().reduce(xs[0]) { g.op("Add", [$0, $1]) } }
        switch f.kind {
        case .concat:
            return concat(try order.map { m in
                g.op("Add", [g.op("Mul", [e(m), p(m)]), g.op("Mul", [absent(m), try tensor("fusion.missing.\(m.rawValue)")])])
            }, axis: 1)
        case .sum, .product:
            let terms = try order.map { m -> String in
                let u = try linear(e(m), "fusion.proj.\(m.rawValue)")
                let masked = g.op("Mul", [u, p(m)])
                return f.kind == .sum ? masked : g.op("Add", [masked, absent(m)])
            }
            return f.kind == .sum ? sum(terms) : terms.dropFirst().reduce(terms[0]) { g.op("Mul", [$0, $1]) }
        case .late:
            var weights: String?
            if f.learnedWeights {
                weights = g.op("Softmax", [try tensor("fusion.modalityWeights")], [.int("axis", 0)])
            }
            var terms: [String] = [], norms: [String] = []
            for (i, m) in order.enumerated() {
                var w = p(m)
                if let weights { w = g.op("Mul", [w, g.op("Slice", [weights, g.ints([i]), g.ints([i + 1]), g.ints([0])])]) }
                terms.append(g.op("Mul", [try linear(e(m), "fusion.heads.\(m.rawValue)"), w]))
                norms.append(w)
            }
            return g.op("Div", [sum(terms), g.op("Max", [sum(norms), g.scalar(1e-6)])])
        case .gated:
            let masked = order.map { m in g.op("Mul", [e(m), p(m)]) }
            let joint = concat(masked, axis: 1)
            return sum(try zip(order, masked).map { m, x in
                let gate = g.op("Sigmoid", [try linear(joint, "fusion.gate.\(m.rawValue)")])
                let transform = g.op("Tanh", [try linear(x, "fusion.proj.\(m.rawValue)")])
                return g.op("Mul", [g.op("Mul", [gate, transform]), p(m)])
            })
        case .tensor:
            var z: String?
            for m in order {
                var x = e(m)
                x = g.op("Relu", [try linear(x, "fusion.proj.\(m.rawValue)")])  // TensorFusion always projects (fusion.projection)
                let extended = g.op("Concat", [g.op("Mul", [x, p(m)]), ones(m)], [.int("axis", 1)])
                if let previous = z {
                    let outer = g.op("Mul", [g.op("Unsqueeze", [previous, g.ints([2])]), g.op("Unsqueeze", [extended, g.ints([1])])])
                    z = g.op("Reshape", [outer, g.ints([0, -1])])
                } else {
                    z = extended
                }
            }
            guard let z else { throw OnnxExportError(description: "model.fusion: no modalities") }
            return z
        case .lowRank:
            let rank = f.rank, dim = f.dim
            var product: String?
            for m in order {
                let extended = g.op("Concat", [g.op("Mul", [e(m), p(m)]), ones(m)], [.int("axis", 1)])
                let z = g.op("Reshape", [g.op("MatMul", [extended, try tensor("fusion.factors.\(m.rawValue)")]), g.ints([0, rank, dim])])
                product = product.map { g.op("Mul", [$0, z]) } ?? z
            }
            guard let product else { throw OnnxExportError(description: "model.fusion: no modalities") }
            let weighted = g.op("Mul", [product, g.op("Reshape", [try tensor("fusion.rankWeights"), g.ints([1, rank, 1])])])
            return g.op("Add", [g.op("ReduceSum", [weighted, g.ints([1])], [.int("keepdims", 0)]), try tensor("fusion.bias")])
        case .attention:
            let d = f.dim
            let heads = state["fusion.scoreOut.weight"]?.shape[0] ?? 1
            let tokens = concat(try order.map { m in g.op("Unsqueeze", [try linear(e(m), "fusion.proj.\(m.rawValue)"), g.ints([1])]) }, axis: 1)
            let present = concat(order.map(p), axis: 1)
            let logits = try linear(g.op("Tanh", [try linear(tokens, "fusion.score")]), "fusion.scoreOut")  // [B, M, heads]
            let mask = g.op("Unsqueeze", [present, g.ints([2])])
            let penalty = g.op("Mul", [g.op("Sub", [mask, g.scalar(1)]), g.scalar(1e9)])
            let alpha = g.op("Mul", [g.op("Softmax", [g.op("Add", [logits, penalty])], [.int("axis", 1)]), mask])
            let split = g.op("Reshape", [tokens, g.ints([0, order.count, heads, d / heads])])
            let pooled = g.op("ReduceSum", [g.op("Mul", [split, g.op("Unsqueeze", [alpha, g.ints([3])])]), g.ints([1])], [.int("keepdims", 0)])
            let flat = g.op("Reshape", [pooled, g.ints([0, d])])
            return g.op("Mul", [flat, g.op("ReduceSum", [present, g.ints([1])], [.int("keepdims", 1)])])
        case .transformer:
            let d = f.dim
            let tokens = concat(try order.map { m in g.op("Unsqueeze", [try linear(e(m), "fusion.proj.\(m.rawValue)"), g.ints([1])]) }, axis: 1)
            let present = concat(order.map(p), axis: 1)
            let valid = g.op("Cast", [g.op("Greater", [present, g.scalar(0.5)])], [.int("to", 1)])
            var h = g.op("Add", [tokens, g.op("Unsqueeze", [try tensor("fusion.modalityEmbedding"), g.ints([0])])])
            for i in 0..<f.layers {
                h = try encoderLayer(h, key: "fusion.layers.\(i)", steps: order.count, width: d, heads: f.heads, normFirst: true,
                                     activation: "gelu", valid: valid)
            }
            let m3 = g.op("Unsqueeze", [present, g.ints([2])])
            let total = g.op("ReduceSum", [g.op("Mul", [h, m3]), g.ints([1])], [.int("keepdims", 0)])
            return g.op("Div", [total, g.op("Max", [g.op("ReduceSum", [present, g.ints([1])], [.int("keepdims", 1)]), g.scalar(1e-9)])])
        }
    }
}
