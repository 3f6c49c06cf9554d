import FusionData
import FusionModels
import FusionNN
import FusionOptim
import FusionTensor

/// fusion-cost: parameters, multiply-accumulates per sample and training samples/s of each fusion
/// strategy on the reference network (its concatenation replaced; encoders and the 128-wide head
/// kept), batch 64, Adam 1e-3.
func fusionCost(_ options: BenchOptions) -> [Measurement] {
    var results: [Measurement] = []
    var dataRNG = SeededGenerator(seed: 5)
    let batches = (0..<6).map { _ -> MultimodalBatch in
        let raw = ReferenceBatch(size: 64, rng: &dataRNG)
        return MultimodalBatch(inputs: [.text: ModalityInput(tokens: raw.text, mask: Tensor.ones([64, 32])),
                                        .image: ModalityInput(features: raw.image), .audio: ModalityInput(features: raw.audio)],
                               labels: raw.labels)
    }
    for kind in FusionKind.allCases {
        var rng = SeededGenerator(seed: 0)
        var bag = LayerSpec(.embedding), proj = LayerSpec(.linear)
        bag.units = 64
        proj.units = 128
        // Force-unwrap-free: the plan of a fixed, valid stack.
        guard let plan = try? LayerPlan([bag, LayerSpec(.globalPool), proj, LayerSpec(.relu)], input: StackShape(.tokens, [32]),
                                        path: "text", vocabulary: 8000) else { return results }
        let textBag = StackEncoder(plan, vocabulary: 8000, seed: 0, rng: &rng)
        let encoders: [Modality: any ModalityEncoder] = [
            .text: textBag,
            .image: ConvBlockEncoder(inChannels: 1, height: 32, width: 32, dim: 128, rng: &rng),
            .audio: ConvBlockEncoder(inChannels: 1, height: 64, width: 13, dim: 128, rng: &rng),
        ]
        let dims = encoders.mapValues { $0.outputDim }
        var config = FusionConfig()
        config.kind = kind
        (config.dim, config.projection, config.rank, config.layers, config.heads) = (128, 16, 4, 1, 4)
        guard let fusion = try? kind.strategy.make(config, inputDims: dims, classes: 10, seed: 0, rng: &rng) else { return results }
        let head = fusion.producesLogits ? nil : MLPHead(inputDim: fusion.outputDim, hidden: [128], classes: 10, rng: &rng)
        let model = MultimodalClassifier(encoders: encoders, fusion: fusion, head: head)
        let macs = model.costReport(sample: batches[0]).reduce(0) { $0 + $1.macs }
        let optimizer = Adam(groups: [ParameterGroup(parameters: model.namedParameters(), learningRate: 1e-3)])
        func step(_ batch: MultimodalBatch) {
            optimizer.zeroGrad()
            crossEntropy(model(batch), targets: batch.labels).backward()
            optimizer.step()
        }
        for batch in batches { step(batch) }
        var best = Double.infinity
        for _ in 0..<2 {
            let start = now()
            for batch in batches { step(batch) }
            best = min(best, now() - start)
        }
        let name = kind.rawValue
        results += [
            Measurement(workload: "fusion-cost", threads: options.threads, metric: "\(name).parameters", value: Double(model.parameterCount)),
            Measurement(workload: "fusion-cost", threads: options.threads, metric: "\(name).macs_per_sample", value: Double(macs)),
            Measurement(workload: "fusion-cost", threads: options.threads, metric: "\(name).train_samples_per_sec",
                        value: Double(batches.count * 64) / best),
        ]
    }
    return results
}
