import FusionData
import FusionModels
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

final class EncoderTests: XCTestCase {
    func testTextEncodersIgnorePadding() {
        var rng = SeededGenerator(seed: 1)
        let encoders: [any ModalityEncoder] = [
            EmbeddingBagEncoder(vocab: 20, embeddingDim: 8, dim: 6, pooling: .mean, rng: &rng),
            EmbeddingBagEncoder(vocab: 20, embeddingDim: 8, dim: 8, pooling: .max, rng: &rng),
            TransformerTextEncoder(vocab: 20, maxLength: 8, dim: 8, layers: 2, heads: 2, dropout: 0, pooling: .mean, rng: &rng),
            TransformerTextEncoder(vocab: 20, maxLength: 8, dim: 8, layers: 1, heads: 2, dropout: 0, pooling: .cls, rng: &rng),
        ]
        // The same tokens, padded with different junk after the mask ends.
        let a = IndexTensor([2, 5, 7, 0, 0, 0], shape: [1, 6]), b = IndexTensor([2, 5, 7, 9, 13, 4], shape: [1, 6])
        let mask = Tensor([1, 1, 1, 0, 0, 0], shape: [1, 6])
        for encoder in encoders {
            encoder.eval()
            let ya = encoder.encode(ModalityInput(tokens: a, mask: mask)), yb = encoder.encode(ModalityInput(tokens: b, mask: mask))
            XCTAssertEqual(ya.shape, [1, encoder.outputDim])
            assertClose(yb, ya, rtol: 1e-5, atol: 1e-6, "\(type(of: encoder))")
        }
    }

    func testImageEncoderVariants() {
        var rng = SeededGenerator(seed: 2)
        let x = Tensor.randn([2, 3, 16, 12], using: &rng)
        for (bn, residual, pooling) in [(false, false, ConvStage.Pooling.max), (true, true, .avg), (true, false, .none)] {
            let encoder = ConvImageEncoder(inChannels: 3, channels: [4, 6], kernels: [5, 3], strides: [1, 2], pooling: pooling,
                                           batchNorm: bn, residual: residual, dim: 10, rng: &rng)
            let y = encoder.encode(ModalityInput(features: x))
            XCTAssertEqual(y.shape, [2, 10])
            y.sum().backward()
            XCTAssertTrue(encoder.namedParameters().allSatisfy { $0.tensor.grad != nil }, "every parameter gets a gradient")
            if bn { XCTAssertEqual(encoder.namedBuffers().count, residual ? 12 : 4) }
        }
    }

    func testAudioEncoderPoolsOnlyValidFrames() {
        var rng = SeededGenerator(seed: 3)
        for layout in [ConvAudioEncoder.Layout.twoD, .oneD] {
            let encoder = ConvAudioEncoder(coefficients: 6, channels: [4], layout: layout, dim: 5, rng: &rng)
            // 16 frames of which the first 8 are real; the padding differs between a and b.
            let real = Tensor.randn([1, 8, 6], using: &rng)
            let padA = Tensor.zeros([1, 8, 6]), padB = Tensor.randn([1, 8, 6], std: 5, using: &rng)
            let mask = Tensor([Float](repeating: 1, count: 8) + [Float](repeating: 0, count: 8), shape: [1, 16])
            func input(_ pad: Tensor) -> ModalityInput {
                let frames = Tensor.concat([real, pad], axis: 1)  // [1, T, F]
                let features = layout == .twoD ? frames.unsqueezed(1) : frames.transposed(1, 2)
                return ModalityInput(features: features, mask: mask)
            }
            // Zero frames are what the convolutions' own zero padding supplies at the end of the
            // real frames, so with the mask the result equals encoding the real frames alone.
            let masked = encoder.encode(input(padA))
            let alone = encoder.encode(ModalityInput(features: layout == .twoD ? real.unsqueezed(1) : real.transposed(1, 2)))
            XCTAssertEqual(masked.shape, [1, 5])
            assertClose(masked, alone, rtol: 1e-5, atol: 1e-6, "\(layout)")
            let unmasked = encoder.encode(ModalityInput(features: input(padB).features))
            XCTAssertNotEqual(unmasked.scalars, alone.scalars, "\(layout): without the mask the padding counts")
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
