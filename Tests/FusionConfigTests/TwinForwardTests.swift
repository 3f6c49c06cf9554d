import Foundation
import FusionData
import FusionConfig
import FusionModels
import FusionNN
import FusionTensor
import XCTest

/// FusionLab and its PyTorch twin (Benchmarks/twin) compute the same forward pass: the twin,
/// built from the same experiment file, wrote its weights under FusionLab's keys, a batch of
/// real test features and its logits (`twin.py forward-golden`, see scripts/golden/make_twin_goldens.sh);
/// FusionLab builds the model from the experiment, loads the weights and must give the same
/// logits on the batch.
final class TwinForwardTests: XCTestCase {
    func check(_ name: String) throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Golden"),
                                "missing golden \(name).safetensors")
        let file = try Safetensors.read(url.path)
        let experiment = try XCTUnwrap(file.metadata["experiment"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        let config = try ConfigLoader.decode(experiment, defaultSource: name)
        let shapes = try XCTUnwrap(file.metadata["inputs"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        let vocabulary = try XCTUnwrap(file.metadata["vocabulary"].flatMap { Int($0) })
        let inputs = ModelInputs(image: shapes["image"] as? [Int] ?? [], audio: shapes["audio"] as? [Int] ?? [],
                                 textLength: shapes["text_length"] as? Int ?? 0, vocabulary: vocabulary)
        let classes = try XCTUnwrap(file.metadata["classes"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] })
        let model = try MultimodalClassifier.build(config.model, inputs: inputs, classes: classes.count, seed: 99)
        var state: [String: Tensor] = [:]
        for (key, t) in file.tensors where key.hasPrefix("state.") { state[String(key.dropFirst(6))] = t }
        let (_, unexpected) = try model.load(state, strict: true, source: name)
        XCTAssertEqual(unexpected, [], "every twin tensor has a FusionLab key")
        model.eval()
        func t(_ key: String) throws -> Tensor { try XCTUnwrap(file.tensors["batch." + key], "batch.\(key) missing") }
        var batchInputs: [Modality: ModalityInput] = [:], presence: [Modality: Tensor] = [:]
        for m in config.model.modalities {
            presence[m] = try t("presence." + m.rawValue)
            switch m {
            case .text:
                let ids = try t("text")
                batchInputs[m] = ModalityInput(tokens: IndexTensor(ids.scalars.map { Int32($0) }, shape: ids.shape), mask: try t("text_mask"))
            case .image: batchInputs[m] = ModalityInput(features: try t("image"))
            case .audio: batchInputs[m] = ModalityInput(features: try t("audio"), mask: try t("audio_mask"))
            }
        }
        let labels = try t("labels").scalars.map { Int($0) }
        let logits = withNoGrad { model(MultimodalBatch(inputs: batchInputs, presence: presence, labels: labels)) }
        let expected = try XCTUnwrap(file.tensors["logits"])
        XCTAssertEqual(logits.shape, expected.shape)
        let worst = zip(logits.scalars, expected.scalars).map { Swift.abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-5, "\(name): largest logit difference from PyTorch")
    }

    /// Residual blocks with batch norm, a strided conv2d into an LSTM with attention pooling over
    /// padded frames, a two-layer bidirectional LSTM over tokens, Transformer fusion; some
    /// samples lack a modality.
    func testKitchenSinkStackMatchesPyTorch() throws { try check("twin_kitchen") }

    /// LeNet on 16×16 images, a bidirectional GRU over MFCC frames, a bag of words, gated fusion.
    func testLeNetBiGRUBagOfWordsGatedMatchesPyTorch() throws { try check("twin_lenet_gru_bow") }
}
