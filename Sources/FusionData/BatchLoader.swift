import FusionMedia
import Dispatch
import Foundation
import FusionTensor

/// Augmentation applied when batches are made (never cached).
public struct OnTheFlyAugmentation: Sendable {
    /// Image augmentation, applied before normalisation.
    public var image: ImageAugmentation?
    /// Masking of the MFCC matrices.
    public var audio: SpecAugment?

    /// The given augmentations.
    public init(image: ImageAugmentation? = nil, audio: SpecAugment? = nil) {
        self.image = image
        self.audio = audio
    }
}

/// Batches over a feature cache: seeded shuffling per epoch, optional drop-last, augmentation
/// on the fly (seeded per epoch and sample, so results do not depend on thread timing), and
/// the next batch prepared on a background queue while the caller works on the current one.
public final class BatchLoader: @unchecked Sendable {
    /// The cache read from.
    public let cache: FeatureCache
    /// Samples per batch.
    public let batchSize: Int
    /// Shuffle every epoch.
    public let shuffle: Bool
    /// Drop a last batch smaller than `batchSize`.
    public let dropLast: Bool
    /// Seed for shuffling and augmentation.
    public let seed: UInt64
    /// Augmentation, if any.
    public let augmentation: OnTheFlyAugmentation
    /// Image normalisation applied after augmentation.
    public let imageMean: [Float]?, imageStd: [Float]?

    /// A loader over `cache`.
    public init(cache: FeatureCache, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0,
                augmentation: OnTheFlyAugmentation = OnTheFlyAugmentation(), imageMean: [Float]? = nil, imageStd: [Float]? = nil) {
        precondition(batchSize >= 1, "BatchLoader: batch size must be ≥ 1, got \(batchSize)")
        self.cache = cache
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.seed = seed
        self.augmentation = augmentation
        self.imageMean = imageMean
        self.imageStd = imageStd
    }

    /// The sample order of `epoch`, split into batches.
    public func batchIndices(epoch: Int) -> [[Int]] {
        var order = Array(0..<cache.count)
        if shuffle {
            var rng = SeededGenerator.derived(seed: seed, stream: "shuffle-\(epoch)")
            order.shuffle(using: &rng)
        }
        var batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        if dropLast, let last = batches.last, last.count < batchSize { batches.removeLast() }
        return batches
    }

    /// This process's part of every batch in data-parallel training: rank `rank` of `count`
    /// takes the `rank`-th of `count` contiguous, near-equal slices of each batch (nil: whole batches).
    public var shard: (rank: Int, count: Int)?

    /// The slice of `batch` that `shard` gives this process (the whole batch without a shard).
    public func localPart(_ batch: [Int]) -> [Int] {
        guard let (r, n) = shard, n > 1 else { return batch }
        return Array(batch[(r * batch.count / n)..<((r + 1) * batch.count / n)])
    }

    /// The number of batches per epoch.
    public var batchCount: Int { dropLast ? cache.count / batchSize : (cache.count + batchSize - 1) / batchSize }

    /// Assembles one batch, the model's own type (also used by the prefetching iterator): images
    /// `[B, C, H, W]` (zeros where absent, normalised if the settings say so), MFCCs
    /// `[B, coefficients, frames]` with a frame mask (1 for frames of real audio), token ids
    /// `[B, L]` with their mask, and each modality's presence `[B]`.
    public func makeBatch(_ indices: [Int], epoch: Int) -> MultimodalBatch {
        let b = indices.count
        var presence = [Modality: Tensor]()
        for m in Modality.allCases { presence[m] = Tensor(indices.map { cache.has($0, m) ? 1 : 0 }, shape: [b]) }
        var batch = MultimodalBatch(inputs: [:], presence: presence, labels: indices.map { Int(cache.label($0)) },
                                    ids: indices.map { cache.header.ids[$0] }, indices: indices)
        if let shape = cache.header.imageShape {
            let row = cache.imageRow
            let out = Tensor(uninitializedShape: [b] + shape)
            let plane = row / max(shape[0], 1)
            for (k, i) in indices.enumerated() {
                let dst = out.data + k * row
                guard cache.has(i, .image) else { dst.update(repeating: 0, count: row); continue }
                if let aug = augmentation.image {
                    let image = Tensor(uninitializedShape: shape)
                    image.data.update(from: cache.image(i), count: row)
                    var rng = SeededGenerator.derived(seed: seed, stream: "image-\(epoch)-\(i)")
                    // Keep the augmented tensor alive while its memory is read.
                    let augmented = aug.apply(image, using: &rng)
                    withExtendedLifetime(augmented) { dst.update(from: augmented.data, count: row) }
                } else {
                    dst.update(from: cache.image(i), count: row)
                }
                // Normalise in place (what ImageTransforms.normalize computes), channel by channel.
                if let mean = imageMean, let std = imageStd {
                    for ch in 0..<shape[0] {
                        let (m, inv) = (mean[ch], 1 / std[ch])
                        let p = dst + ch * plane
                        for j in 0..<plane { p[j] = (p[j] - m) * inv }
                    }
                }
            }
            batch.inputs[.image] = ModalityInput(features: out)
        }
        if let shape = cache.header.audioShape {
            let row = cache.audioRow
            let out = Tensor(uninitializedShape: [b] + shape)
            for (k, i) in indices.enumerated() {
                (out.data + k * row).update(from: cache.audio(i), count: row)
                if let aug = augmentation.audio, cache.has(i, .audio) {
                    var rng = SeededGenerator.derived(seed: seed, stream: "audio-\(epoch)-\(i)")
                    let m = Tensor(uninitializedShape: shape)
                    m.data.update(from: cache.audio(i), count: row)
                    let augmented = aug.apply(m, validFrames: cache.audioFrames(i), using: &rng)
                    withExtendedLifetime(augmented) { (out.data + k * row).update(from: augmented.data, count: row) }
                }
            }
            let frames = shape[1]
            let mask = Tensor.zeros([b, frames])
            for (k, i) in indices.enumerated() {
                for t in 0..<min(cache.audioFrames(i), frames) { mask.data[k * frames + t] = 1 }
            }
            batch.inputs[.audio] = ModalityInput(features: out, mask: mask)
        }
        if let length = cache.header.textLength {
            var ids = [Int32](repeating: 0, count: b * length)
            let mask = Tensor(uninitializedShape: [b, length])
            for (k, i) in indices.enumerated() {
                let row = cache.text(i)
                for t in 0..<length {
                    ids[k * length + t] = row[t]
                    mask.data[k * length + t] = Float(row[length + t])
                }
            }
            batch.inputs[.text] = ModalityInput(tokens: IndexTensor(ids, shape: [b, length]), mask: mask)
        }
        return batch
    }

    /// The batches of `epoch`, each prepared on a background queue while the previous one is
    /// in use.
    public func epoch(_ epoch: Int) -> BatchSequence { BatchSequence(loader: self, epoch: epoch) }
}

/// The batches of one epoch with one batch of prefetch.
public struct BatchSequence: Sequence {
    let loader: BatchLoader
    let epoch: Int

    /// An iterator that starts preparing the first batch at once.
    public func makeIterator() -> Iterator { Iterator(loader: loader, epoch: epoch) }

    /// Yields batches in order, keeping the next one in preparation.
    public final class Iterator: IteratorProtocol {
        private let loader: BatchLoader
        private let epoch: Int
        private let plan: [[Int]]
        private var position = 0
        private let queue = DispatchQueue(label: "fusionlab.batch-prefetch")
        private var pending: (DispatchGroup, Box)?

        private final class Box: @unchecked Sendable { var batch: MultimodalBatch? }

        init(loader: BatchLoader, epoch: Int) {
            self.loader = loader
            self.epoch = epoch
            plan = loader.batchIndices(epoch: epoch).map(loader.localPart)
            schedule()
        }

        private func schedule() {
            guard position < plan.count else { pending = nil; return }
            let group = DispatchGroup(), box = Box()
            let (indices, loader, epoch) = (plan[position], loader, epoch)
            position += 1
            queue.async(group: group) { box.batch = loader.makeBatch(indices, epoch: epoch) }
            pending = (group, box)
        }

        /// The next batch (waiting for its preparation if needed), or nil at the end of the epoch.
        public func next() -> MultimodalBatch? {
            guard let (group, box) = pending else { return nil }
            group.wait()
            schedule()
            return box.batch
        }
    }
}
