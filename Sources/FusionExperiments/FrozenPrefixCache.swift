import Foundation
import FusionCore
import FusionData
import FusionModels
import FusionTensor

/// The outputs of the image encoder's frozen prefix (`StackEncoder.frozenPrefix`: the leading
/// layers with nothing to train and no randomness), computed once per sample of every split and
/// fed to the rest of the encoder in every epoch and evaluation of a run. A frozen pretrained
/// backbone then costs one forward pass per sample, and training costs what training the layers
/// after it costs; "unfreeze the last k blocks" caches up to the first trainable layer, and an
/// unfreeze schedule moves the boundary (the cache is rebuilt for it).
///
/// Off when training batches change the image itself: image augmentation
/// (`preprocessing.image.augment`) or image noise (`training.noise.image`) — the prefix then runs
/// on every batch, as without the cache. Kept in memory for the run, at most `limitBytes`.
final class FrozenPrefixCache {
    let encoder: StackEncoder
    private(set) var steps = 0
    private var rows: [String: Int] = [:]
    private var table: Tensor?
    private var rowShape: [Int] = []
    static let limitBytes = 4 << 30

    /// A cache for `model`'s image encoder when `config` allows one.
    init?(model: MultimodalClassifier, config: ExperimentConfig) {
        let a = config.preprocessing.image.augment
        let augments = a.cropPadding > 0 || a.flip > 0 || a.rotation > 0 || a.brightness > 0 || a.contrast > 0 || a.noise > 0
        guard config.training.cacheFrozenPrefix, !augments, config.training.noise.image <= 0, config.model.modalities.contains(.image),
              let encoder = model.encoders[Modality.image.rawValue] as? StackEncoder else { return nil }
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
        guard k > 0 else { return "frozen prefix cache: off (the image encoder's first layer trains)" }
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
        for split in splits {
            for b in try data.loader(split, training: false).epoch(0) {
                guard let input = b.inputs[.image] else { continue }
                let y = encoder.prefix(input, steps: k)
                withExtendedLifetime(y) { (out.data + next * size).update(from: y.data, count: b.size * size) }
                for (i, id) in b.ids.enumerated() { rows[id] = next + i }
                next += b.size
            }
        }
        (steps, table, rowShape) = (k, out, shape)
        encoder.startStep = k
        let layers = encoder.stack.plan.steps.count
        return String(format: "frozen prefix cache: image layers 1–%d of %d computed once for %d samples (%.0f MiB, %.1fs); each epoch runs the other %d",
                      k, layers, next, Double(next * size * 4) / 1_048_576, Date().timeIntervalSince(started), layers - k)
    }

    /// `batch` with its images replaced by their cached prefix outputs.
    func apply(_ batch: MultimodalBatch) -> MultimodalBatch {
        guard steps > 0, let table, batch.inputs[.image] != nil else { return batch }
        let size = rowShape.reduce(1, *)
        let x = Tensor(uninitializedShape: [batch.size] + rowShape)
        for (i, id) in batch.ids.enumerated() {
            guard let row = rows[id] else { preconditionFailure("frozen prefix cache: sample \(id) was not cached") }
            (x.data + i * size).update(from: table.data + row * size, count: size)
        }
        var b = batch
        b.inputs[.image] = ModalityInput(features: x)
        return b
    }

    /// Stops feeding cached outputs (the encoder takes images again).
    func detach() {
        encoder.startStep = 0
        (steps, rows, table) = (0, [:], nil)
    }
}
