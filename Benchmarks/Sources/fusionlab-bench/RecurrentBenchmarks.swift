import FusionNN
import FusionTensor

/// gru: forward + backward of a bidirectional GRU (and LSTM) over MFCC-like frames — batch 32,
/// 63 steps of 20 features, 64 hidden units per direction, the sum of every output as the loss;
/// best of five timed passes of 10 iterations each.
func recurrentBenchmark(_ options: BenchOptions) -> [Measurement] {
    var results: [Measurement] = []
    let (b, t, i, h) = (32, 63, 20, 64)
    for cell in [RecurrentCell.gru, .lstm] {
        var rng = SeededGenerator(seed: 1)
        let layer = RecurrentLayer(cell, inputSize: i, hiddenSize: h, bidirectional: true, rng: &rng)
        let x = Tensor.randn([b, t, i], using: &rng)
        x.requiresGrad = true
        func iteration() {
            layer.zeroGrad()
            x.grad = nil
            let (sequence, _) = layer(x)
            sequence.sum().backward()
        }
        for _ in 0..<3 { iteration() }
        var best = Double.infinity
        for _ in 0..<5 {
            let start = now()
            for _ in 0..<10 { iteration() }
            best = min(best, (now() - start) / 10)
        }
        results.append(Measurement(workload: "gru", threads: options.threads, metric: "\(cell.rawValue).fwd_bwd_ms", value: best * 1000))
        results.append(Measurement(workload: "gru", threads: options.threads, metric: "\(cell.rawValue).samples_per_sec", value: Double(b) / best))
    }
    return results
}
