import FusionReports
import FusionConfig
import Foundation
import FusionCore
import FusionData
import FusionModels
import FusionTensor

/// The outputs of an encoder's frozen prefix (`StackEncoder.frozenPrefix`: the leading layers with
/// nothing to train and no randomness), computed once per sample of every split and fed to the
/// rest of the encoder in every epoch and evaluation of a run: for images, and for audio (with
/// each clip's valid length after the prefix, so masks still hold). A frozen pretrained
/// backbone then costs one forward pass per sample, and training costs what training the layers
/// after it costs; "unfreeze the last k blocks" caches up to the first trainable layer, and an
/// unfreeze schedule moves the boundary (the cache is rebuilt for it).
///
/// Off for a modality whose training batches change every epoch: images with augmentation
/// (`preprocessing.image.augment`) or noise (`training.noise.image`), audio with SpecAugment or
/// noise — the prefix then runs on every batch, as without the cache. Kept in memory for the
/// run, at most `limitBytes` per modality.
final class FrozenPrefixCache {
    let modality: Modality
    let encoder: StackEncoder
    private(set) var steps = 0
    private var rows: [String: Int] = [:]
    private var table: Tensor?
    private var lengths: [Int]?
    private var rowShape: [Int] = []
    static let limitBytes = 4 << 30

    /// The caches `config` allows for `model`'s image and audio encoders.
    static func caches(model: MultimodalClassifier, config: ExperimentConfig) -> [FrozenPrefixCache] {
        guard config.training.cacheFrozenPrefix else { return [] }
        let a = config.preprocessing.image.augment, p = config.preprocessing.audio
        let imageChanges = a.cropPadding > 0 || a.flip > 0 || a.rotation > 0 || a.brightness > 0 || a.contrast > 0 || a.noise > 0
            || config.training.noise.image > 0
        let audioChanges = p.timeMasks > 0 || p.frequencyMasks > 0 || config.training.noise.audio > 0
        return [(Modality.image, imageChanges), (.audio, audioChanges)].compactMap { modality, changes in
            guard !changes, config.model.modalities.contains(modality),
                  let encoder = model.encoders[modality.rawValue] as? StackEncoder else { return nil }
            return FrozenPrefixCache(modality: modality, encoder: encoder)
        }
    }

    init(modality: Modality, encoder: StackEncoder) {
        self.modality = modality
        self.encoder = encoder
    }

    /// Brings the cache to the encoder's current frozen prefix (after freezing or unfreezing),
    /// computing every split's rows when the boundary moved; returns a line for the log, or nil
    /// when nothing changed.
    func refresh(data: ExperimentData) throws -> String? {
        let k = encoder.frozenPrefix
        guard k != steps else { return nil }
        encoder.startStep = 0
        (steps, rows, table) = (0, [:], nil)
        guard k > 0 else { return "frozen prefix cache: off (the \(modality.rawValue) encoder's first layer trains)" }
        let shape = encoder.stack.plan.steps[k - 1].output.dims
        let size = shape.reduce(1, *)
        let splits = Split.allCases.filter { data.caches[$0] != nil }
        let total = splits.reduce(0) { $0 + (data.caches[$1]?.count ?? 0) }
        guard total * size * 4 <= Self.limitBytes else {
            return "frozen prefix cache: off (\(total) samples × \(size) values of layer \(k) would exceed \(Self.limitBytes >> 30) GiB)"
        }
        let started = Date()
        let out = Tensor.zeros([max(total, 1), size])
        var next = 0
        var valid: [Int] = []
        for split in splits {
            for b in try data.loader(split, training: false).epoch(0) {
                guard let input = b.inputs[modality] else { continue }
                let (y, lengths) = encoder.prefix(input, steps: k)
                withExtendedLifetime(y) { (out.data + next * size).update(from: y.data, count: b.size * size) }
                for (i, id) in b.ids.enumerated() { rows[id] = next + i }
                if let lengths { valid += lengths }
                next += b.size
            }
        }
        (steps, table, rowShape) = (k, out, shape)
        lengths = valid.count == next ? valid : nil
        encoder.startStep = k
        let layers = encoder.stack.plan.steps.count
        return String(format: "frozen prefix cache: %@ layers 1–%d of %d computed once for %d samples (%.0f MiB, %.1fs); each epoch runs the other %d",
                      modality.rawValue, k, layers, next, Double(next * size * 4) / 1_048_576, Date().timeIntervalSince(started), layers - k)
    }

    /// `batch` with this modality's inputs replaced by their cached prefix outputs (and, for
    /// masked inputs, a mask of each sample's valid length after the prefix).
    func apply(_ batch: MultimodalBatch) -> MultimodalBatch {
        guard steps > 0, let table, batch.inputs[modality] != nil else { return batch }
        let size = rowShape.reduce(1, *), time = rowShape.last ?? 1
        let x = Tensor(uninitializedShape: [batch.size] + rowShape)
        let mask = lengths.map { _ in Tensor.zeros([batch.size, time]) }
        for (i, id) in batch.ids.enumerated() {
            guard let row = rows[id] else { preconditionFailure("frozen prefix cache: sample \(id) was not cached") }
            (x.data + i * size).update(from: table.data + row * size, count: size)
            if let mask, let lengths { for t in 0..<min(lengths[row], time) { mask.data[i * time + t] = 1 } }
        }
        var b = batch
        b.inputs[modality] = ModalityInput(features: x, mask: mask)
        return b
    }

    /// Stops feeding cached outputs (the encoder takes its inputs again).
    func detach() {
        encoder.startStep = 0
        (steps, rows, table, lengths) = (0, [:], nil, nil)
    }
}
