import Foundation
import FusionInt8
import FusionNN
import FusionTensor

/// Each linear and convolution layer of the real-data benchmark's model (Experiments/avdigits)
/// at batch 256: milliseconds per call in float32 and in int8 (oneDNN), and the ratio.
func int8Layers(_ options: BenchOptions) -> [Measurement] {
    var rng = SeededGenerator(seed: 1)
    let batch = 256
    var out: [Measurement] = []
    func time(_ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<5 {
            let start = now()
            var n = 0
            while now() - start < 0.2 { body(); n += 1 }
            best = min(best, (now() - start) / Double(n))
        }
        return best * 1000
    }
    let convs: [(String, Int, Int, Int, Int, Int, Int)] = [  // name, c, o, k, pad, h, w
        ("image.conv1", 1, 6, 5, 2, 28, 28), ("image.conv2", 6, 16, 5, 0, 14, 14),
        ("audio.conv1", 1, 16, 3, 1, 20, 63), ("audio.conv2", 16, 32, 3, 1, 10, 31),
    ]
    for (name, c, o, k, p, h, w) in convs {
        let conv = Conv2d(c, o, kernel: (k, k), padding: (p, p), rng: &rng)
        var x = Tensor.randn([batch, c, h, w], using: &rng)
        if c > 1 { x = x.relu() }
        let float = time { _ = withNoGrad { conv.withReLU(x) } }
        let range = ActivationRange()
        range.observe(x)
        do { try QuantizedConv2d.swap(into: conv, weights: Int8Weights(quantizing: conv.weight), input: ActivationQuantization(observed: range)) } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8)); continue
        }
        let int8 = time { _ = withNoGrad { conv.withReLU(x) } }
        let impl = (try? (conv.swapped as? QuantizedConv2d)?.relu.implementation(shape: x.shape)) ?? "?"
        print("\(name) [\(batch), \(c), \(h), \(w)] → \(o): float \(String(format: "%.3f", float)) ms, int8 \(String(format: "%.3f", int8)) ms (\(impl)), ×\(String(format: "%.2f", float / int8))")
        out.append(Measurement(workload: "int8-layers:\(name)", threads: options.threads, metric: "float_over_int8", value: float / int8))
    }
    for (name, i, o) in [("audio.linear", 2400, 64), ("image.linear1", 400, 120), ("head.0", 192, 64)] {
        let linear = Linear(i, o, rng: &rng)
        let x = Tensor.randn([batch, i], using: &rng).relu()
        let float = time { _ = withNoGrad { linear(x) } }
        let range = ActivationRange()
        range.observe(x)
        do { try QuantizedLinear.swap(into: linear, weights: Int8Weights(quantizing: linear.weight), input: ActivationQuantization(observed: range)) } catch { continue }
        let int8 = time { _ = withNoGrad { linear(x) } }
        let impl = (try? (linear.swapped as? QuantizedLinear)?.kernel.implementation(shape: [batch, i])) ?? "?"
        print("\(name) [\(batch), \(i)] → \(o): float \(String(format: "%.3f", float)) ms, int8 \(String(format: "%.3f", int8)) ms (\(impl)), ×\(String(format: "%.2f", float / int8))")
        out.append(Measurement(workload: "int8-layers:\(name)", threads: options.threads, metric: "float_over_int8", value: float / int8))
    }
    return out
}
