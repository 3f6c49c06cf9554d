import Foundation
import FusionCore
import FusionModels
import FusionNN
import FusionTensor

/// Best seconds per call of `body` over 5 rounds of at least `seconds` each (after one warm-up call).
private func bestSeconds(_ seconds: Double = 0.3, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<5 {
        let start = now()
        var n = 0
        while now() - start < seconds || n == 0 { body(); n += 1 }
        best = min(best, (now() - start) / Double(n))
    }
    return best
}

/// The depthwise convolutions of EfficientNet-Lite0 at 224 px (batch 16): forward and forward +
/// backward, in images per second. Peer: Benchmarks/peers/pretrained_peer.py (torch's CPU kernels).
func depthwiseBenchmark(_ options: BenchOptions) -> [Measurement] {
    var rng = SeededGenerator(seed: 3)
    let batch = 16
    var out: [Measurement] = []
    // (channels, kernel, stride, input side): Lite0's depthwise layers at their sizes.
    for (c, k, s, side) in [(96, 3, 2, 112), (144, 5, 2, 56), (480, 3, 1, 14), (1152, 5, 1, 7)] {
        let x = Tensor.randn([batch, c, side, side], using: &rng)
        let w = Tensor.randn([c, 1, k, k], using: &rng), b = Tensor.randn([c], using: &rng)
        let forward = bestSeconds { _ = withNoGrad { x.conv2d(weight: w, bias: b, stride: (s, s), padding: (k / 2, k / 2), groups: c) } }
        let xg = x.copy(), wg = w.copy(), bg = b.copy()
        for t in [xg, wg, bg] { t.requiresGrad = true }
        let train = bestSeconds {
            let y = xg.conv2d(weight: wg, bias: bg, stride: (s, s), padding: (k / 2, k / 2), groups: c)
            y.sum().backward()
            for t in [xg, wg, bg] { t.grad = nil }
        }
        let name = "depthwise-c\(c)-k\(k)-s\(s)-\(side)"
        out.append(Measurement(workload: name, threads: options.threads, metric: "forward_images_per_sec", value: Double(batch) / forward))
        out.append(Measurement(workload: name, threads: options.threads, metric: "train_images_per_sec", value: Double(batch) / train))
    }
    return out
}

/// EfficientNet-Lite0 (the `efficientnet_lite0` preset, random weights: the speed is the same)
/// inference on 224 × 224 RGB, batch 1 and 16, in images per second.
func efficientNetBenchmark(_ options: BenchOptions) -> [Measurement] {
    var config = ModelConfig()
    config.modalities = [.image]
    config.image.preset = .efficientnetLite0
    guard let plan = try? config.plan(for: .image, inputs: ModelInputs(image: [3, 224, 224])) else { return [] }
    var rng = SeededGenerator(seed: 4)
    let encoder = StackEncoder(plan, seed: 4, rng: &rng)
    encoder.eval()
    var out: [Measurement] = []
    for batch in [1, 16] {
        let x = Tensor.randn([batch, 3, 224, 224], using: &rng)
        let seconds = bestSeconds(1) { _ = withNoGrad { encoder.encode(ModalityInput(features: x)) } }
        out.append(Measurement(workload: "efficientnet-lite0-b\(batch)", threads: options.threads, metric: "inference_images_per_sec",
                               value: Double(batch) / seconds))
    }
    out.append(Measurement(workload: "efficientnet-lite0-b16", threads: options.threads, metric: "peak_rss_mib", value: peakRSSMiB()))
    return out
}
