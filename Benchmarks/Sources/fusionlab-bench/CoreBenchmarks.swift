import CBLAS
import CFusionKernels
import FusionModels
import FusionNN
import FusionOptim
import FusionTensor
import Glibc

/// One synthetic batch for the reference network.
struct ReferenceBatch {
    let text: IndexTensor
    let image: Tensor
    let audio: Tensor
    let labels: [Int]

    init(size b: Int, rng: inout SeededGenerator) {
        text = IndexTensor((0..<(b * 32)).map { _ in Int32(rng.next() % 8000) }, shape: [b, 32])
        image = Tensor.randn([b, 1, 32, 32], using: &rng)
        audio = Tensor.randn([b, 1, 64, 13], using: &rng)
        labels = (0..<b).map { _ in Int(rng.next() % 10) }
    }
}

/// train-reference: training samples/s (batch 64, Adam 1e-3, after a warm-up epoch),
/// inference samples/s (batch 256) and peak RSS of the reference network.
func trainReference(_ options: BenchOptions) -> [Measurement] {
    let workload = "train-reference"
    var rng = SeededGenerator(seed: 0)
    let model = ReferenceNetwork(rng: &rng)
    let optimizer = Adam(groups: [ParameterGroup(parameters: model.namedParameters(), learningRate: 1e-3)])
    let batches = (0..<20).map { _ in ReferenceBatch(size: 64, rng: &rng) }
    func step(_ batch: ReferenceBatch) {
        optimizer.zeroGrad()
        let loss = crossEntropy(model(text: batch.text, image: batch.image, audio: batch.audio), targets: batch.labels)
        loss.backward()
        optimizer.step()
    }
    model.train()
    for batch in batches { step(batch) }  // warm-up epoch
    // Best of three timed epochs (the peer script uses the same protocol).
    var best = Double.infinity
    for _ in 0..<3 {
        let start = now()
        for batch in batches { step(batch) }
        best = min(best, now() - start)
    }
    let trainRate = Double(batches.count * 64) / best

    model.eval()
    let inferBatches = (0..<4).map { _ in ReferenceBatch(size: 256, rng: &rng) }
    func infer(_ batch: ReferenceBatch) -> Float {
        withNoGrad { model(text: batch.text, image: batch.image, audio: batch.audio).data[0] }
    }
    for i in 0..<3 { _ = infer(inferBatches[i % 4]) }
    var bestInfer = Double.infinity
    for _ in 0..<3 {
        let start = now()
        for i in 0..<20 { _ = infer(inferBatches[i % 4]) }
        bestInfer = min(bestInfer, now() - start)
    }
    let inferRate = Double(20 * 256) / bestInfer
    return [
        Measurement(workload: workload, threads: options.threads, metric: "train_samples_per_sec", value: trainRate),
        Measurement(workload: workload, threads: options.threads, metric: "infer_samples_per_sec", value: inferRate),
        Measurement(workload: workload, threads: options.threads, metric: "peak_rss_mib", value: peakRSSMiB()),
    ]
}

/// gemm-efficiency: Linear 1024→1024 at batch 256, forward and backward, as a fraction of the
/// plain cblas_sgemm rate measured in the same run. The two are timed in seven alternating
/// rounds and the efficiency is the median of the rounds' ratios: on a shared host the machine
/// changes speed between minutes, and a ratio of two runs a few milliseconds apart is what
/// compares the code.
func gemmEfficiency(_ options: BenchOptions) -> [Measurement] {
    let workload = "gemm-efficiency"
    var rng = SeededGenerator(seed: 1)
    let (m, n, k) = (256, 1024, 1024)
    let a = Tensor.randn([m, k], using: &rng), b = Tensor.randn([k, n], using: &rng), c = Tensor.zeros([m, n])
    let flop = 2.0 * Double(m * n * k)
    let layer = Linear(k, n, rng: &rng)
    let x = Tensor.randn([m, k], using: &rng, requiresGrad: true)
    let gy = Tensor.randn([m, n], using: &rng)
    var sgemmRates: [Double] = [], linearRates: [Double] = [], ratios: [Double] = []
    for _ in 0..<7 {
        // The reference: plain cblas_sgemm with OpenBLAS's own thread pool at the same thread count.
        openblas_set_num_threads(Int32(options.threads))
        let sgemmTime = secondsPerCall(15) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a.data, Int32(k), b.data, Int32(n), 0, c.data, Int32(n))
        }
        // OpenBLAS's idle pool threads spin for a moment before they sleep: let them, before FusionLab's workers run.
        Threading.setThreads(options.threads)
        usleep(200_000)
        let linearTime = secondsPerCall(5) {
            x.grad = nil
            layer.zeroGrad()
            layer(x).backward(gradient: gy)
        }
        sgemmRates.append(flop / sgemmTime / 1e9)
        linearRates.append(3 * flop / linearTime / 1e9)
        ratios.append(linearRates[linearRates.count - 1] / sgemmRates[sgemmRates.count - 1])
    }
    return [
        Measurement(workload: workload, threads: options.threads, metric: "sgemm_gflops", value: median(sgemmRates)),
        Measurement(workload: workload, threads: options.threads, metric: "linear_gflops", value: median(linearRates)),
        Measurement(workload: workload, threads: options.threads, metric: "efficiency", value: median(ratios)),
    ]
}

/// conv-gemm: the convolution GEMMs of CFusionKernels (`fl_conv_gemm`, `fl_conv_gemm_dots`)
/// against `cblas_sgemm` on the same operands, one thread, on the shapes a training chunk of the
/// reference network gives them (64 samples in chunks as `ConvPlan` cuts them). Both are timed
/// in seven alternating rounds; the metric per shape is the median of the rounds' ratios of
/// OpenBLAS's time to the own kernel's (above 1: the own kernel is faster).
func convGEMMBenchmark(_ options: BenchOptions) -> [Measurement] {
    let workload = "conv-gemm"
    openblas_set_num_threads(1)
    var rng = SeededGenerator(seed: 3)
    enum Kind { case forward, inputGradient, weightGradient }
    // (name, kind, output channels, C·kh·kw rows, positions in the chunk)
    let shapes: [(String, Kind, Int, Int, Int)] = [
        ("image1_forward", .forward, 16, 9, 8 * 1024), ("image2_forward", .forward, 32, 144, 4 * 256),
        ("audio2_forward", .forward, 32, 144, 6 * 192), ("image2_input_grad", .inputGradient, 32, 144, 4 * 256),
        ("image1_weight_grad", .weightGradient, 16, 9, 8 * 1024), ("image2_weight_grad", .weightGradient, 32, 144, 4 * 256),
    ]
    var results: [Measurement] = []
    for (name, kind, o, r, n) in shapes {
        let w = Tensor.randn([o, r], using: &rng), col = Tensor.randn([r, n], using: &rng), gy = Tensor.randn([o, n], using: &rng)
        let out = Tensor.zeros([max(o, r), n]), gw = Tensor.zeros([o, r])
        let scratch = Tensor.zeros([max(fl_conv_gemm_pack_size(Int32(max(o, r)), Int32(max(o, r))), fl_conv_gemm_dots_scratch(Int32(o), Int32(r)))])
        let (pw, pc, pg, po, pgw, ps) = (w.data, col.data, gy.data, out.data, gw.data, scratch.data)
        func own() {
            switch kind {
            case .forward: fl_conv_gemm(Int32(o), n, Int32(r), pw, r, 1, pc, n, po, n, ps)
            case .inputGradient: fl_conv_gemm(Int32(r), n, Int32(o), pw, 1, r, pg, n, po, n, ps)
            case .weightGradient: fl_conv_gemm_dots(Int32(o), Int32(r), n, pg, n, pc, n, pgw, r, ps)
            }
        }
        func blas() {
            switch kind {
            case .forward:
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(n), Int32(r), 1, pw, Int32(r), pc, Int32(n), 0, po, Int32(n))
            case .inputGradient:
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(r), Int32(n), Int32(o), 1, pw, Int32(r), pg, Int32(n), 0, po, Int32(n))
            case .weightGradient:
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(o), Int32(r), Int32(n), 1, pg, Int32(n), pc, Int32(n), 1, pgw, Int32(r))
            }
        }
        var ratios: [Double] = [], ownRates: [Double] = []
        let flop = 2.0 * Double(o * r * n)
        for _ in 0..<7 {
            let (tb, to) = (secondsPerCall(50, blas), secondsPerCall(50, own))
            ratios.append(tb / to)
            ownRates.append(flop / to / 1e9)
        }
        results.append(Measurement(workload: workload, threads: 1, metric: "\(name)_speedup_over_sgemm", value: median(ratios)))
        results.append(Measurement(workload: workload, threads: 1, metric: "\(name)_gflops", value: median(ownRates)))
    }
    return results
}
