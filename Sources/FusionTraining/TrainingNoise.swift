import Foundation
import FusionConfig
import FusionCore
import FusionData
import FusionMPI
import FusionReports
import FusionTensor

/// `training.noise`: corrupts training batches with the robustness protocol's noise, seeded by
/// the run's seed, the epoch, the batch and the rank. Audio noise needs the waveforms, so the
/// training clips are read once when it is on.
package final class TrainingNoise {
    let data: ExperimentData
    let config: NoiseAugmentationConfig
    let seed: UInt64
    var waveforms: [String: [Float]] = [:]
    var extractor: MFCC?

    init(data: ExperimentData, config: NoiseAugmentationConfig, seed: UInt64, progress: Progress) throws {
        self.data = data
        self.config = config
        self.seed = seed
        if config.audio > 0, data.config.model.modalities.contains(.audio), let settings = data.settings.audio {
            extractor = try MFCC(settings.mfcc)
            let start = Date()
            for sample in data.dataset.samples(in: .train) {
                guard let path = sample.audioPath else { continue }
                do {
                    waveforms[sample.id] = Array(try AudioFile.read(path: path, sampleRate: settings.mfcc.sampleRate).samples.prefix(settings.sampleCount))
                } catch { throw ExperimentError("training.noise.audio: \(error)") }
            }
            progress.detail(String(format: "training.noise: %d training clips read for audio noise in %.2fs", waveforms.count, Date().timeIntervalSince(start)))
        }
    }

    /// `batch` with each modality of each sample corrupted with `probability` at a level drawn in [0, maximum].
    func apply(_ batch: MultimodalBatch, epoch: Int, batch index: Int) throws -> MultimodalBatch {
        var rng = SeededGenerator.derived(seed: seed, stream: "noise-\(epoch)-\(index)-\(Distributed.rank)")
        var b = batch
        for (m, maximum) in [(Modality.text, config.text), (.image, config.image), (.audio, config.audio)] where maximum > 0 && b.inputs[m] != nil {
            let levels = (0..<b.size).map { _ in Double.random(in: 0..<1, using: &rng) < config.probability ? Double.random(in: 0...maximum, using: &rng) : 0 }
            guard levels.contains(where: { $0 > 0 }) else { continue }
            b = try TrainingNoise.corrupt(b, m, levels: levels, data: data, waveforms: waveforms, extractor: extractor, rng: &rng)
        }
        return b
    }

    /// `batch` with modality `m` of sample i corrupted at `levels[i]` (0: untouched).
    package static func corrupt(_ batch: MultimodalBatch, _ m: Modality, levels: [Double], data: ExperimentData,
                        waveforms: [String: [Float]], extractor: MFCC?, rng: inout SeededGenerator) throws -> MultimodalBatch {
        var b = batch
        guard let input = batch.inputs[m] else { return b }
        switch m {
        case .image:
            guard let features = input.features, features.rank == 4 else { return b }
            let x = features.copy()
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let settings = data.settings.image
            for i in 0..<n where levels[i] > 0 {
                Corruption.image(x.data + i * c * h * w, channels: c, height: h, width: w, mean: settings?.mean, std: settings?.std,
                                 level: levels[i], using: &rng)
            }
            b.inputs[.image] = ModalityInput(features: x, mask: input.mask)
        case .audio:
            guard let features = input.features, let settings = data.settings.audio, let extractor else { return b }
            let x = features.copy()
            let size = x.count / max(x.shape[0], 1)
            for (i, id) in batch.ids.enumerated() where levels[i] > 0 {
                guard let clip = waveforms[id] else { continue }
                let noisy = Corruption.audio(clip, level: levels[i], using: &rng)
                let mfcc = settings.features(of: noisy, extractor: extractor).features
                guard mfcc.count == size else { throw ExperimentError("robustness: MFCC of \(id) has \(mfcc.count) values, the cache \(size)") }
                withExtendedLifetime(mfcc) { (x.data + i * size).update(from: mfcc.data, count: size) }
            }
            b.inputs[.audio] = ModalityInput(features: x, mask: input.mask)
        case .text:
            guard let tokens = input.tokens, let mask = input.mask else { return b }
            let (n, t) = (tokens.shape[0], tokens.shape[1])
            var ids: [Int32] = [], masks: [Float] = []
            let maskValues = mask.scalars
            for i in 0..<n {
                let row = Array(tokens.values[i * t..<(i + 1) * t])
                let rowMask = (0..<t).map { Int32(maskValues[i * t + $0] > 0.5 ? 1 : 0) }
                let (newIDs, newMask) = Corruption.text(ids: row, mask: rowMask, level: levels[i], using: &rng)
                ids += newIDs
                masks += newMask.map(Float.init)
            }
            b.inputs[.text] = ModalityInput(tokens: IndexTensor(ids, shape: [n, t]), mask: Tensor(masks, shape: [n, t]))
        }
        return b
    }
}
