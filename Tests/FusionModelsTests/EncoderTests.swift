import FusionData
import FusionModels
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

final class EncoderTests: XCTestCase {
    func plan(_ config: ModelConfig, _ m: Modality, _ inputs: ModelInputs) throws -> LayerPlan {
        try XCTUnwrap(try config.plan(for: m, inputs: inputs))
    }

    func testTextPresetsIgnorePadding() throws {
        var rng = SeededGenerator(seed: 1)
        let inputs = ModelInputs(textLength: 6, vocabulary: 20)
        var encoders: [StackEncoder] = []
        let textCases: [(TextPreset, TextPooling)] = [(.embeddingBag, .mean), (.embeddingBag, .max), (.transformer, .mean), (.gru, .mean),
                                                      (.bagOfWords, .mean)]
        for (preset, pooling) in textCases {
            var c = ModelConfig()
            c.text.preset = preset
            c.text.pooling = pooling
            c.text.dim = 8
            c.text.embeddingDim = preset == .embeddingBag && pooling == .mean ? 6 : 8
            c.text.heads = 2
            encoders.append(StackEncoder(try plan(c, .text, inputs), vocabulary: 20, seed: 1, rng: &rng))
        }
        // The same tokens, padded with different junk after the mask ends.
        let a = IndexTensor([2, 5, 7, 0, 0, 0], shape: [1, 6]), b = IndexTensor([2, 5, 7, 9, 13, 4], shape: [1, 6])
        let mask = Tensor([1, 1, 1, 0, 0, 0], shape: [1, 6])
        for encoder in encoders {
            encoder.eval()
            let ya = encoder.encode(ModalityInput(tokens: a, mask: mask)), yb = encoder.encode(ModalityInput(tokens: b, mask: mask))
            XCTAssertEqual(ya.shape, [1, encoder.outputDim])
            assertClose(yb, ya, rtol: 1e-5, atol: 1e-6, "\(encoder.stack.plan.steps.map { $0.spec.type })")
        }
    }

    func testImagePresetVariants() throws {
        var rng = SeededGenerator(seed: 2)
        let x = Tensor.randn([2, 3, 16, 12], using: &rng)
        let inputs = ModelInputs(image: [3, 16, 12])
        let imageCases: [(ImagePreset, Bool, Bool, ImagePooling)] = [(.cnn, false, false, .max), (.cnnGap, true, true, .avg),
                                                                      (.cnn, true, false, .none), (.lenet, false, false, .max)]
        for (preset, bn, residual, pooling) in imageCases {
            var c = ModelConfig()
            (c.image.preset, c.image.batchNorm, c.image.residual, c.image.pooling) = (preset, bn, residual, pooling)
            (c.image.channels, c.image.kernels, c.image.strides, c.image.dim) = ([4, 6], [5, 3], [1, 2], 10)
            let encoder = StackEncoder(try plan(c, .image, inputs), seed: 2, rng: &rng)
            let y = encoder.encode(ModalityInput(features: x))
            XCTAssertEqual(y.shape, [2, 10])
            y.sum().backward()
            XCTAssertTrue(encoder.namedParameters().allSatisfy { $0.tensor.grad != nil }, "every parameter gets a gradient")
            if bn { XCTAssertEqual(encoder.namedBuffers().count, residual ? 12 : 4) }
            XCTAssertTrue(encoder.namedParameters().allSatisfy { $0.key.hasPrefix("layers.") }, "\(encoder.namedParameters().map { $0.key })")
        }
    }

    func testAudioPresetsPoolOnlyValidFrames() throws {
        var rng = SeededGenerator(seed: 3)
        // Presets that never flatten the padding in: mean pooling over valid frames, recurrent last states.
        for preset in [AudioPreset.cnn2dMean, .cnn1dMean, .bigru, .bilstm] {
            var c = ModelConfig()
            (c.audio.preset, c.audio.channels, c.audio.dim) = (preset, [4], 5)
            let long = StackEncoder(try plan(c, .audio, ModelInputs(audio: [6, 16])), seed: 3, rng: &rng)
            var copyRNG = SeededGenerator(seed: 99)
            let short = StackEncoder(try plan(c, .audio, ModelInputs(audio: [6, 8])), seed: 3, rng: &copyRNG)
            try short.load(Dictionary(uniqueKeysWithValues: long.stateDict().map { ($0.key, $0.tensor) }))
            // 16 frames of which the first 8 are real; the padding differs between a and b.
            let real = Tensor.randn([1, 6, 8], using: &rng)
            let padA = Tensor.zeros([1, 6, 8]), padB = Tensor.randn([1, 6, 8], std: 5, using: &rng)
            let mask = Tensor([Float](repeating: 1, count: 8) + [Float](repeating: 0, count: 8), shape: [1, 16])
            let masked = long.encode(ModalityInput(features: Tensor.concat([real, padA], axis: 2), mask: mask))
            let alone = short.encode(ModalityInput(features: real))
            let outWidth = preset.rawValue.hasPrefix("bi") ? 10 : 5
            XCTAssertEqual(masked.shape, [1, outWidth])
            // Zero frames are what the convolutions' own zero padding supplies at the end of the
            // real frames, so with the mask the result equals encoding the real frames alone.
            assertClose(masked, alone, rtol: 1e-5, atol: 1e-6, preset.rawValue)
            let noisy = long.encode(ModalityInput(features: Tensor.concat([real, padB], axis: 2), mask: mask))
            if preset.rawValue.hasPrefix("bi") { assertClose(noisy, alone, rtol: 1e-5, atol: 1e-6, "\(preset): padding never enters the state") }
            let unmasked = long.encode(ModalityInput(features: Tensor.concat([real, padB], axis: 2)))
            XCTAssertNotEqual(unmasked.scalars, alone.scalars, "\(preset): without the mask the padding counts")
        }
    }

    func testBertEncoderKeysMatchHuggingFace() {
        var rng = SeededGenerator(seed: 4)
        let config = BertConfig(vocabSize: 30, hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 16,
                                maxPositionEmbeddings: 16, typeVocabSize: 2, layerNormEps: 1e-12, hiddenAct: "gelu")
        let keys = BertEncoder(config: config, rng: &rng).namedParameters().map { $0.key }
        XCTAssertEqual(keys.count, 5 + 2 * 16)
        for key in ["embeddings.word_embeddings.weight", "embeddings.LayerNorm.bias", "encoder.layer.1.attention.self.query.weight",
                    "encoder.layer.0.attention.output.LayerNorm.weight", "encoder.layer.1.intermediate.dense.bias",
                    "encoder.layer.1.output.dense.weight"] {
            XCTAssertTrue(keys.contains(key), key)
        }
    }
}
