import FusionData
import FusionModels
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

/// Every fusion strategy's backward against finite differences, with missing modalities in the
/// batch, and the guarantee that an absent modality's values never reach the output.
final class FusionGradientTests: XCTestCase {
    let dims: [Modality: Int] = [.text: 3, .image: 4, .audio: 2]

    func strategies() -> [(String, any FusionStrategy)] {
        var rng = SeededGenerator(seed: 9)
        let all: [(String, any FusionStrategy)] = [
            ("concat", ConcatFusion(inputDims: dims)),
            ("late", LateFusion(inputDims: dims, classes: 3, learnedWeights: true, rng: &rng)),
            ("late-mean", LateFusion(inputDims: dims, classes: 3, learnedWeights: false, rng: &rng)),
            ("gated", GatedFusion(inputDims: dims, dim: 5, rng: &rng)),
            ("tensor", TensorFusion(inputDims: dims, projection: nil, rng: &rng)),
            ("tensor-projected", TensorFusion(inputDims: dims, projection: 2, rng: &rng)),
            ("low-rank", LowRankFusion(inputDims: dims, dim: 4, rank: 3, rng: &rng)),
            ("attention", AttentionFusion(inputDims: dims, dim: 4, rng: &rng)),
            ("transformer", TransformerFusion(inputDims: dims, dim: 4, layers: 1, heads: 2, dropout: 0, rng: &rng)),
            ("sum", PoolingFusion(inputDims: dims, dim: 4, operation: .sum, rng: &rng)),
            ("product", PoolingFusion(inputDims: dims, dim: 4, operation: .product, rng: &rng)),
        ]
        for (_, s) in all { s.eval() }
        return all
    }

    /// Sample 0 has everything, sample 1 lacks image, sample 2 lacks text and audio.
    let presence: [Modality: Tensor] = [
        .text: Tensor([1, 1, 0], shape: [3]), .image: Tensor([1, 0, 1], shape: [3]), .audio: Tensor([1, 1, 0], shape: [3]),
    ]

    func embeddings(seed: UInt64) -> [Modality: Tensor] {
        [.text: randomTensor([3, 3], seed: seed), .image: randomTensor([3, 4], seed: seed + 1), .audio: randomTensor([3, 2], seed: seed + 2)]
    }

    func testGradientsOfEveryStrategyWithMasks() {
        // The projected tensor fusion adds only ReLU-projections (checked in FusionTensorTests),
        // whose kinks make finite differences unreliable.
        for (name, strategy) in strategies() where name != "tensor-projected" {
            let e = embeddings(seed: 20)
            let mods = Modality.allCases
            let inputs = mods.compactMap { e[$0] } + strategy.namedParameters().map { $0.tensor }
            gradCheck(inputs, eps: 5e-3, rtol: 3e-2, atol: 3e-3, name) { t in
                var emb: [Modality: Tensor] = [:]
                for (i, m) in mods.enumerated() { emb[m] = t[i] }
                return strategy.fuse(emb, presence: self.presence)
            }
        }
    }

    func testAbsentModalitiesDoNotReachTheOutput() {
        for (name, strategy) in strategies() {
            let a = embeddings(seed: 30)
            var b = a
            // Change only the values the presence mask hides: image of sample 1, text and audio of sample 2.
            let image = a[.image]?.copy() ?? Tensor.zeros([3, 4]), text = a[.text]?.copy() ?? Tensor.zeros([3, 3])
            let audio = a[.audio]?.copy() ?? Tensor.zeros([3, 2])
            for j in 0..<4 { image.data[4 + j] += 5 }
            for j in 0..<3 { text.data[6 + j] -= 3 }
            for j in 0..<2 { audio.data[4 + j] *= -7 }
            b[.image] = image; b[.text] = text; b[.audio] = audio
            let ya = withNoGrad { strategy.fuse(a, presence: presence) }, yb = withNoGrad { strategy.fuse(b, presence: presence) }
            assertClose(yb, ya, rtol: 1e-5, atol: 1e-5, name)
            XCTAssertEqual(ya.shape, [3, strategy.outputDim], name)
        }
    }

    func testTensorFusionIsTheOuterProductWithConstantOnes() {
        var rng = SeededGenerator(seed: 0)
        let fusion = TensorFusion(inputDims: [.image: 1, .audio: 2], projection: nil, rng: &rng)
        let z = fusion.fuse([.image: Tensor([2], shape: [1, 1]), .audio: Tensor([3, 5], shape: [1, 2])], presence: [:])
        // [a; 1] ⊗ [i; 1] in modality order (image, audio): [2, 1] ⊗ [3, 5, 1]
        XCTAssertEqual(z.scalars, [6, 10, 2, 3, 5, 1])
    }

    func testAttentionWeightsRenormaliseOverPresentModalities() {
        var rng = SeededGenerator(seed: 0)
        let fusion = AttentionFusion(inputDims: dims, dim: 4, rng: &rng)
        let w = fusion.weights(embeddings(seed: 40), presence: presence)  // [B, M, heads]
        XCTAssertEqual(w.shape, [3, 3, 4])
        let perHead = w.sum(axes: [1])
        XCTAssertTrue(perHead.scalars.allSatisfy { Swift.abs($0 - 1) < 1e-5 }, "each head's weights sum to one: \(perHead.scalars)")
        XCTAssertEqual(Array(w.scalars[24..<28]), [0, 0, 0, 0], "sample 2 has no text (modality order: text, image, audio)")
        XCTAssertTrue(w.scalars[28..<32].allSatisfy { Swift.abs($0 - 1) < 1e-6 }, "its image takes all the weight")
    }
}
