import Foundation
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

/// Layers and losses against PyTorch: values and gradients written by
/// scripts/golden/make_core_goldens.py (gradients of Σ y·gy for a stored gy).
final class PyTorchGoldenTests: XCTestCase {
    func golden(_ name: String) throws -> (t: [String: Tensor], meta: [String: String]) {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Golden"),
                                "missing golden file \(name).safetensors")
        let file = try Safetensors.read(url.path)
        return (file.tensors, file.metadata)
    }

    func tensor(_ g: (t: [String: Tensor], meta: [String: String]), _ key: String) throws -> Tensor {
        try XCTUnwrap(g.t[key], "golden tensor \(key) missing")
    }

    /// Parses "stride=2,1;padding=1,0;..." into a dictionary of integer lists.
    func settings(_ s: String?) -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for part in (s ?? "").split(separator: ";") {
            let kv = part.split(separator: "=")
            if kv.count == 2 { out[String(kv[0])] = kv[1].split(separator: ",").compactMap { Int($0) } }
        }
        return out
    }

    func testLinear() throws {
        let g = try golden("linear")
        var rng = SeededGenerator(seed: 0)
        let layer = Linear(5, 3, rng: &rng)
        try layer.load(["weight": tensor(g, "weight"), "bias": tensor(g, "bias")])
        let x = try tensor(g, "x").copy()
        x.requiresGrad = true
        let y = layer(x)
        assertClose(y, try tensor(g, "y"))
        (y * (try tensor(g, "gy"))).sum().backward()
        assertClose(try XCTUnwrap(x.grad), try tensor(g, "gx"))
        assertClose(try XCTUnwrap(layer.weight.grad), try tensor(g, "gweight"))
        assertClose(try XCTUnwrap(layer.bias?.grad), try tensor(g, "gbias"))
    }

    func checkConv(_ name: String, cases: [String], oneD: Bool) throws {
        let g = try golden(name)
        for c in cases {
            let s = settings(g.meta[c])
            let (x, w, b) = (try tensor(g, "\(c).x").copy(), try tensor(g, "\(c).weight").copy(), try tensor(g, "\(c).bias").copy())
            for t in [x, w, b] { t.requiresGrad = true }
            let groups = s["groups"]?.first ?? 1
            let y: Tensor
            if oneD {
                y = x.conv1d(weight: w, bias: b, stride: s["stride"]?[0] ?? 1, padding: s["padding"]?[0] ?? 0,
                             dilation: s["dilation"]?[0] ?? 1, groups: groups)
            } else {
                let pair = { (k: String) -> (Int, Int) in let v = s[k] ?? [1, 1]; return (v[0], v[1]) }
                y = x.conv2d(weight: w, bias: b, stride: pair("stride"), padding: pair("padding"), dilation: pair("dilation"), groups: groups)
            }
            assertClose(y, try tensor(g, "\(c).y"), "\(name) \(c) forward")
            (y * (try tensor(g, "\(c).gy"))).sum().backward()
            assertClose(try XCTUnwrap(x.grad), try tensor(g, "\(c).gx"), "\(name) \(c) input gradient")
            assertClose(try XCTUnwrap(w.grad), try tensor(g, "\(c).gweight"), "\(name) \(c) weight gradient")
            assertClose(try XCTUnwrap(b.grad), try tensor(g, "\(c).gbias"), "\(name) \(c) bias gradient")
        }
    }

    func testConv2d() throws { try checkConv("conv2d", cases: ["case0", "case1"], oneD: false) }
    func testConv1d() throws { try checkConv("conv1d", cases: ["case0"], oneD: true) }
    /// groups = channels takes the direct depthwise kernel (scripts/golden/depthwise_goldens.py).
    func testDepthwiseConv2d() throws {
        try checkConv("depthwise", cases: ["case0", "case1", "case2", "case3", "case4", "case5"], oneD: false)
    }

    func testAsymmetricPaddingAndReLU6() throws {
        let g = try golden("depthwise")
        let x = try tensor(g, "pad.x").copy()
        x.requiresGrad = true
        let y = x.padded2d(top: 0, bottom: 1, left: 0, right: 1).relu6()
        assertClose(y, try tensor(g, "pad.y"), "pad + relu6 forward")
        (y * (try tensor(g, "pad.gy"))).sum().backward()
        assertClose(try XCTUnwrap(x.grad), try tensor(g, "pad.gx"), "pad + relu6 input gradient")
    }

    func testPooling() throws {
        let g = try golden("pooling")
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("max0", { $0.maxPool2d(kernel: (2, 2)) }),
            ("max1", { $0.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }),
            ("avg0", { $0.avgPool2d(kernel: (2, 2)) }),
            ("avg1", { $0.avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: true) }),
        ]
        for (name, op) in ops {
            let x = try tensor(g, "x").copy()
            x.requiresGrad = true
            let y = op(x)
            assertClose(y, try tensor(g, "\(name).y"), name)
            (y * (try tensor(g, "\(name).gy"))).sum().backward()
            assertClose(try XCTUnwrap(x.grad), try tensor(g, "\(name).gx"), "\(name) gradient")
        }
    }

    func testLayerNorm() throws {
        let g = try golden("layernorm")
        let norm = LayerNorm(8)
        try norm.load(["weight": tensor(g, "weight"), "bias": tensor(g, "bias")])
        let x = try tensor(g, "x").copy()
        x.requiresGrad = true
        let y = norm(x)
        assertClose(y, try tensor(g, "y"))
        (y * (try tensor(g, "gy"))).sum().backward()
        assertClose(try XCTUnwrap(x.grad), try tensor(g, "gx"), atol: 1e-4)
        assertClose(try XCTUnwrap(norm.weight.grad), try tensor(g, "gweight"), atol: 1e-4)
        assertClose(try XCTUnwrap(norm.bias.grad), try tensor(g, "gbias"))
    }

    func testBatchNorm() throws {
        let g = try golden("batchnorm")
        let norm = BatchNorm(3)
        try norm.load(["weight": tensor(g, "weight"), "bias": tensor(g, "bias")], strict: false)
        let x = try tensor(g, "x").copy()
        x.requiresGrad = true
        let y = norm(x)
        assertClose(y, try tensor(g, "y"), atol: 1e-4)
        (y * (try tensor(g, "gy"))).sum().backward()
        assertClose(try XCTUnwrap(x.grad), try tensor(g, "gx"), atol: 1e-4)
        assertClose(try XCTUnwrap(norm.weight.grad), try tensor(g, "gweight"), atol: 1e-4)
        assertClose(try XCTUnwrap(norm.bias.grad), try tensor(g, "gbias"), atol: 1e-4)
        assertClose(norm.runningMean, try tensor(g, "running_mean"))
        assertClose(norm.runningVar, try tensor(g, "running_var"))
        XCTAssertEqual(norm.stateDict().map { $0.key }, ["weight", "bias", "running_mean", "running_var"])
    }

    func testMultiHeadAttention() throws {
        let g = try golden("attention")
        var rng = SeededGenerator(seed: 0)
        let mha = MultiHeadAttention(embedDim: 8, heads: 2, rng: &rng)
        let result = try mha.load(g.t, strict: true)
        XCTAssertTrue(result.missing.isEmpty)
        let maskValues = try tensor(g, "key_padding_mask")
        let mask = (0..<2).map { b in (0..<5).map { maskValues.data[b * 5 + $0] > 0.5 } }
        let x = try tensor(g, "x").copy()
        x.requiresGrad = true
        let y = mha(x, keyPaddingMask: mask)
        assertClose(y, try tensor(g, "y"), atol: 1e-5)
        (y * (try tensor(g, "gy"))).sum().backward()
        assertClose(try XCTUnwrap(x.grad), try tensor(g, "gx"), atol: 1e-5)
        for (key, t) in mha.namedParameters() {
            assertClose(try XCTUnwrap(t.grad, key), try tensor(g, "grad.\(key)"), atol: 1e-5, key)
        }
    }

    func testLosses() throws {
        let g = try golden("cross_entropy")
        let targets = try tensor(g, "targets").scalars.map { Int($0) }
        let weights = try tensor(g, "class_weights").scalars
        for (name, w, smoothing) in [("plain", nil, Float(0)), ("smooth", weights, Float(0.1))] as [(String, [Float]?, Float)] {
            let logits = try tensor(g, "logits").copy()
            logits.requiresGrad = true
            let loss = crossEntropy(logits, targets: targets, classWeights: w, labelSmoothing: smoothing)
            XCTAssertEqual(loss.item, try tensor(g, "\(name).loss").item, accuracy: 1e-5, name)
            loss.backward()
            assertClose(try XCTUnwrap(logits.grad), try tensor(g, "\(name).glogits"), name)
        }
        let z = try tensor(g, "bce.z").copy()
        z.requiresGrad = true
        let bce = binaryCrossEntropyWithLogits(z, targets: try tensor(g, "bce.t"), posWeight: 2)
        XCTAssertEqual(bce.item, try tensor(g, "bce.loss").item, accuracy: 1e-5)
        bce.backward()
        assertClose(try XCTUnwrap(z.grad), try tensor(g, "bce.gz"))
        let s = try tensor(g, "kl.s").copy()
        s.requiresGrad = true
        let kl = klDivergence(studentLogits: s, teacherLogits: try tensor(g, "kl.t"), temperature: 2)
        XCTAssertEqual(kl.item, try tensor(g, "kl.loss").item, accuracy: 1e-5)
        kl.backward()
        assertClose(try XCTUnwrap(s.grad), try tensor(g, "kl.gs"))
    }
}
