import FusionModels
import FusionNN
import FusionOptim
import FusionTensor
import XCTest

/// Forward, backward and the optimizer working together on the reference network.
final class ReferenceNetworkTests: XCTestCase {
    func testOverfitsAFixedBatch() {
        var rng = SeededGenerator(seed: 3)
        let model = ReferenceNetwork(vocab: 500, rng: &rng)
        let b = 16
        let text = IndexTensor((0..<(b * 32)).map { _ in Int32(rng.next() % 500) }, shape: [b, 32])
        let image = Tensor.randn([b, 1, 32, 32], using: &rng), audio = Tensor.randn([b, 1, 64, 13], using: &rng)
        let labels = (0..<b).map { $0 % 10 }
        let optimizer = Adam(groups: [ParameterGroup(parameters: model.namedParameters(), learningRate: 1e-3)])
        var first: Float = 0, last: Float = 0
        for step in 0..<60 {
            optimizer.zeroGrad()
            let loss = crossEntropy(model(text: text, image: image, audio: audio), targets: labels)
            loss.backward()
            optimizer.step()
            if step == 0 { first = loss.item }
            last = loss.item
        }
        XCTAssertGreaterThan(first, 2.0, "starts near log(10)")
        XCTAssertLessThan(last, 0.05, "loss near zero after overfitting one batch (from \(first))")
        let predictions = withNoGrad { model(text: text, image: image, audio: audio) }.argmax(axis: 1)
        XCTAssertEqual(predictions, labels)
    }

    func testParameterKeysAreStableDottedPaths() {
        var rng = SeededGenerator(seed: 0)
        let keys = ReferenceNetwork(rng: &rng).namedParameters().map { $0.key }
        XCTAssertEqual(keys, [
            "textEmbedding.weight", "textProj.weight", "textProj.bias",
            "image.conv1.weight", "image.conv1.bias", "image.conv2.weight", "image.conv2.bias", "image.proj.weight", "image.proj.bias",
            "audio.conv1.weight", "audio.conv1.bias", "audio.conv2.weight", "audio.conv2.bias", "audio.proj.weight", "audio.proj.bias",
            "hidden.weight", "hidden.bias", "classifier.weight", "classifier.bias",
        ])
    }
}
