import FusionCore
import FusionNN
import FusionTensor

/// Encoders per modality, one fusion strategy and a shared head, composed:
/// `batch → [modality: embedding] → fused vector → logits`. Parameter keys are
/// `encoders.<modality>.…`, `fusion.…` and `head.…`.
///
/// With `modalityDropout` p > 0, training hides each modality of each sample with probability p
/// (never all of a sample's modalities), so the model learns to predict from what is left.
public final class MultimodalClassifier: Module {
    /// The encoders, by modality name.
    public let encoders: [String: Module]
    /// The fusion strategy.
    public let fusion: Module
    /// The head (absent when the fusion already gives logits).
    public let head: MLPHead?
    /// Probability of hiding a modality of a training sample.
    public var modalityDropout: Float
    private let encoderList: [(Modality, any ModalityEncoder)]
    /// The fusion strategy, typed (the same object as `fusion`).
    public let strategy: any FusionStrategy
    private var dropoutRNG: SeededGenerator

    /// Composes `encoders`, `fusion` and `head` (nil exactly when the fusion produces logits).
    public init(encoders: [Modality: any ModalityEncoder], fusion: any FusionStrategy, head: MLPHead?,
                modalityDropout: Float = 0, seed: UInt64 = 0) {
        precondition(!encoders.isEmpty, "MultimodalClassifier: at least one encoder is needed")
        precondition((head == nil) == fusion.producesLogits, "MultimodalClassifier: a head is needed exactly when the fusion does not give logits")
        self.encoders = Dictionary(uniqueKeysWithValues: encoders.map { ($0.key.rawValue, $0.value as Module) })
        encoderList = encoders.keys.sorted().compactMap { m in encoders[m].map { (m, $0) } }
        self.fusion = fusion
        strategy = fusion
        self.head = head
        self.modalityDropout = modalityDropout
        dropoutRNG = SeededGenerator(seed: seed)
    }

    override public func reseed(_ seed: UInt64) { dropoutRNG = SeededGenerator(seed: seed) }

    /// The modalities the model reads, in the fixed order.
    public var modalities: [Modality] { encoderList.map { $0.0 } }

    /// Each modality's embedding `[B, d_m]`.
    public func embed(_ batch: MultimodalBatch) -> [Modality: Tensor] {
        var out: [Modality: Tensor] = [:]
        for (m, encoder) in encoderList {
            guard let input = batch.inputs[m] else { preconditionFailure("MultimodalClassifier: the batch has no \(m.rawValue) input") }
            out[m] = encoder.encode(input)
        }
        return out
    }

    /// Logits `[B, classes]`.
    public func callAsFunction(_ batch: MultimodalBatch) -> Tensor {
        let presence = effectivePresence(batch)
        let fused = strategy.fuse(embed(batch), presence: presence)
        return head.map { $0(fused) } ?? fused
    }

    /// The batch's presence mask, with modality dropout applied in training mode.
    func effectivePresence(_ batch: MultimodalBatch) -> [Modality: Tensor] {
        var presence: [Modality: Tensor] = [:]
        for m in modalities { presence[m] = batch.presence(of: m) }
        guard training && modalityDropout > 0 && modalities.count > 1 else { return presence }
        let b = batch.size
        var kept = modalities.map { presence[$0]?.scalars ?? [Float](repeating: 1, count: b) }
        for i in 0..<b {
            let available = kept.indices.filter { kept[$0][i] > 0.5 }
            guard available.count > 1 else { continue }
            var drop = available.filter { _ in dropoutRNG.nextUnitFloat() < modalityDropout }
            if drop.count == available.count { drop.removeLast() }  // keep at least one
            for k in drop { kept[k][i] = 0 }
        }
        for (k, m) in modalities.enumerated() { presence[m] = Tensor(kept[k], shape: [b]) }
        return presence
    }

    /// Parameters and multiply-accumulates per sample of each part (encoders, fusion, head),
    /// counted in evaluation mode (so batch-norm statistics do not move), then the mode restored.
    public func costReport(sample batch: MultimodalBatch) -> [(part: String, parameters: Int, macs: Int)] {
        let wasTraining = training
        eval()
        defer { train(wasTraining) }
        let b = max(batch.size, 1)
        var rows: [(String, Int, Int)] = []
        var embeddings: [Modality: Tensor] = [:]
        for (m, encoder) in encoderList {
            guard let input = batch.inputs[m] else { continue }
            let macs = OpCounter.count { embeddings[m] = encoder.encode(input) }
            rows.append(("encoders.\(m.rawValue)", encoder.parameterCount, macs / b))
        }
        let presence = modalities.reduce(into: [Modality: Tensor]()) { $0[$1] = batch.presence(of: $1) }
        var fused: Tensor?
        let fusionMACs = OpCounter.count { fused = strategy.fuse(embeddings, presence: presence) }
        rows.append(("fusion", fusion.parameterCount, fusionMACs / b))
        if let head, let fused {
            rows.append(("head", head.parameterCount, OpCounter.count { _ = head(fused) } / b))
        }
        return rows
    }
}
