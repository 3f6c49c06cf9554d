import Foundation
import FusionData
import FusionModels
import FusionTensor

/// Predictions for single files with a finished run's model and preprocessing.
public enum Predictor {
    /// Class probabilities for one sample given as files and text; any modality may be absent.
    public static func predict(run: String, image: String?, audio: String?, text: String?, progress: Progress) throws
        -> (classNames: [String], probabilities: [Float]) {
        let (model, data, config) = try ExperimentRunner.load(run: run, caches: false, progress: progress)
        var inputs: [Modality: ModalityInput] = [:], presence: [Modality: Tensor] = [:]
        let modalities = Set(config.model.modalities)
        if modalities.contains(.image), let settings = data.settings.image {
            var tensor = Tensor.zeros(settings.shape)
            if let image {
                do { tensor = try settings.load(path: image) } catch { throw ExperimentError("\(error)") }
                if let mean = settings.mean, let std = settings.std { tensor = ImageTransforms.normalize(tensor, mean: mean, std: std) }
            }
            inputs[.image] = ModalityInput(features: tensor.unsqueezed(0))
            presence[.image] = Tensor([image == nil ? 0 : 1], shape: [1])
        }
        if modalities.contains(.audio), let settings = data.settings.audio {
            var features = Tensor.zeros(settings.shape)
            let frames = settings.shape[1]
            var valid = frames
            if let audio {
                do {
                    let loaded = try settings.load(path: audio, extractor: try MFCC(settings.mfcc))
                    (features, valid) = (loaded.features, loaded.validFrames)
                } catch { throw ExperimentError("\(error)") }
            }
            let mask = Tensor((0..<frames).map { $0 < valid ? 1 : 0 }, shape: [1, frames])
            inputs[.audio] = ModalityInput(features: features.unsqueezed(0), mask: mask)
            presence[.audio] = Tensor([audio == nil ? 0 : 1], shape: [1])
        }
        if modalities.contains(.text), let encoder = data.textEncoder {
            let length = config.preprocessing.text.maxLength
            let encoded = encoder.encode(text ?? "", maxLength: length)
            inputs[.text] = ModalityInput(tokens: IndexTensor(encoded.ids, shape: [1, length]),
                                          mask: Tensor(encoded.attentionMask.map(Float.init), shape: [1, length]))
            presence[.text] = Tensor([text == nil ? 0 : 1], shape: [1])
        }
        let logits = withNoGrad { model(MultimodalBatch(inputs: inputs, presence: presence, labels: [0])) }
        return (data.classNames, logits.softmax(axis: 1).scalars)
    }
}
