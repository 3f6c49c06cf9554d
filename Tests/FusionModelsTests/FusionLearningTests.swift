import FusionData
import FusionModels
import FusionNN
import FusionOptim
import FusionTensor
import XCTest

/// A generated tri-modal task whose label is (image attribute) × 2 + (audio attribute): the image
/// shows a horizontal or vertical bar, the audio features carry energy in a low or high band,
/// and the text hints the image attribute on three samples in four. No single modality can
/// exceed about half the accuracy; image and audio together reach nearly all of it.
struct TriModalTask {
    var text: [Int32] = [], image: [Float] = [], audio: [Float] = [], labels: [Int] = []
    static let tokens = 6, imageSide = 10, frames = 12, coefficients = 8, vocab = 40
    /// The encoders' input shapes.
    static let inputs = ModelInputs(image: [1, imageSide, imageSide], audio: [coefficients, frames], textLength: tokens, vocabulary: vocab)

    init(count: Int, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<count {
            let a = Int(rng.next() % 2), b = Int(rng.next() % 2)
            let offset = Int(rng.next() % 6) + 2
            for y in 0..<Self.imageSide {
                for x in 0..<Self.imageSide {
                    let bar = a == 1 ? Swift.abs(x - offset) < 1 : Swift.abs(y - offset) < 1
                    image.append((bar ? 1.5 : 0) + 0.5 * rng.nextNormal())
                }
            }
            for _ in 0..<Self.frames {
                for c in 0..<Self.coefficients {
                    let band = b == 1 ? c >= 4 : c < 4
                    audio.append((band ? 1 : 0) + 0.6 * rng.nextNormal())
                }
            }
            let hinted = rng.nextUnitFloat() < 0.75 ? a : 1 - a
            for t in 0..<Self.tokens {
                text.append(t == 0 ? Int32(1 + hinted) : Int32(3 + Int(rng.next() % UInt64(Self.vocab - 3))))
            }
            labels.append(a * 2 + b)
        }
    }

    func batch(_ indices: [Int]) -> MultimodalBatch {
        let n = indices.count, s = Self.imageSide, f = Self.frames * Self.coefficients
        let t = indices.flatMap { text[($0 * Self.tokens)..<(($0 + 1) * Self.tokens)] }
        let im = indices.flatMap { image[($0 * s * s)..<(($0 + 1) * s * s)] }
        let au = indices.flatMap { audio[($0 * f)..<(($0 + 1) * f)] }
        return MultimodalBatch(
            inputs: [
                .text: ModalityInput(tokens: IndexTensor(t, shape: [n, Self.tokens]), mask: Tensor.ones([n, Self.tokens])),
                .image: ModalityInput(features: Tensor(im, shape: [n, 1, s, s])),
                .audio: ModalityInput(features: Tensor(au, shape: [n, Self.frames, Self.coefficients]).transposed(1, 2)),
            ],
            labels: indices.map { labels[$0] })
    }
}

/// Trains `model` with Adam and returns it; `evaluate` gives test accuracy.
func fit(_ model: MultimodalClassifier, on task: TriModalTask, epochs: Int, learningRate: Float = 3e-3, seed: UInt64 = 0) {
    let optimizer = Adam(groups: [ParameterGroup(parameters: model.trainableParameters(), learningRate: learningRate)])
    var rng = SeededGenerator(seed: seed)
    model.train()
    for _ in 0..<epochs {
        var order = Array(0..<task.labels.count)
        order.shuffle(using: &rng)
        for lo in stride(from: 0, to: order.count, by: 32) {
            let batch = task.batch(Array(order[lo..<min(lo + 32, order.count)]))
            optimizer.zeroGrad()
            crossEntropy(model(batch), targets: batch.labels).backward()
            optimizer.step()
        }
    }
    model.eval()
}

func accuracy(_ model: MultimodalClassifier, on task: TriModalTask, removing removed: Modality? = nil) -> Double {
    var batch = task.batch(Array(0..<task.labels.count))
    if let removed { batch = batch.removing(removed) }
    let predictions = withNoGrad { model(batch) }.argmax(axis: 1)
    return Double(zip(predictions, batch.labels).filter { $0 == $1 }.count) / Double(batch.labels.count)
}

func smallConfig(_ modalities: [Modality], fusion: FusionKind, modalityDropout: Float = 0) -> ModelConfig {
    var c = ModelConfig()
    c.modalities = modalities
    c.text.embeddingDim = 16
    c.text.dim = 16
    c.image.channels = [8]
    c.image.dim = 16
    c.audio.channels = [8]
    c.audio.dim = 16
    c.fusion.kind = fusion
    c.fusion.dim = 16
    c.fusion.projection = 6
    c.fusion.modalityDropout = modalityDropout
    c.head.hidden = [32]
    return c
}

final class FusionLearningTests: XCTestCase {
    let train = TriModalTask(count: 768, seed: 1), test = TriModalTask(count: 400, seed: 2)

    func trained(_ modalities: [Modality], _ fusion: FusionKind, modalityDropout: Float = 0, epochs: Int = 12) throws -> MultimodalClassifier {
        let model = try MultimodalClassifier.build(smallConfig(modalities, fusion: fusion, modalityDropout: modalityDropout),
                                                   inputs: TriModalTask.inputs, classes: 4, seed: 7)
        fit(model, on: train, epochs: epochs)
        return model
    }

    func testFusionBeatsTheBestSingleModality() throws {
        var unimodal: [Modality: Double] = [:]
        for m in Modality.allCases { unimodal[m] = accuracy(try trained([m], .concat), on: test) }
        let best = unimodal.values.max() ?? 0
        XCTAssertLessThan(best, 0.62, "no single modality should reach much past half: \(unimodal)")
        var report: [String] = []
        for kind in FusionKind.allCases {
            let acc = accuracy(try trained(Modality.allCases, kind), on: test)
            report.append("\(kind.rawValue) \(String(format: "%.3f", acc))")
            XCTAssertGreaterThan(acc, 0.3, "\(kind.rawValue) trains (above chance)")
            if [.concat, .gated, .tensor, .lowRank, .attention, .transformer].contains(kind) {
                XCTAssertGreaterThanOrEqual(acc, best + 0.2, "\(kind.rawValue) beats the best single modality (\(best)) by 20 points")
            }
        }
        print("unimodal: \(unimodal.map { "\($0.key.rawValue) \(String(format: "%.3f", $0.value))" }.sorted()); fused: \(report)")
    }

    func testModalityDropoutMakesTheModelRobustToAMissingImage() throws {
        let audio = accuracy(try trained([.audio], .concat), on: test)
        let text = accuracy(try trained([.text], .concat), on: test)
        let plain = try trained(Modality.allCases, .concat, epochs: 10)
        let robust = try trained(Modality.allCases, .concat, modalityDropout: 0.3, epochs: 10)
        let (plainFull, plainMissing) = (accuracy(plain, on: test), accuracy(plain, on: test, removing: .image))
        let (robustFull, robustMissing) = (accuracy(robust, on: test), accuracy(robust, on: test, removing: .image))
        print("unimodal audio \(audio), text \(text); without modality dropout \(plainFull) → \(plainMissing) without image; "
              + "with modality dropout \(robustFull) → \(robustMissing)")
        XCTAssertGreaterThan(robustMissing, 0.25 + 0.3, "well above chance without the image")
        XCTAssertGreaterThan(robustMissing, max(audio, text) + 0.05, "above the remaining modalities' unimodal baselines")
        XCTAssertGreaterThan(plainFull - plainMissing, robustFull - robustMissing, "without modality dropout the drop is larger")
    }

    func testCostReportAddsUpAndCountsLinearMACs() throws {
        let model = try MultimodalClassifier.build(smallConfig(Modality.allCases, fusion: .concat), inputs: TriModalTask.inputs, classes: 4, seed: 0)
        let rows = model.costReport(sample: test.batch([0, 1]))
        XCTAssertEqual(rows.map { $0.part }, ["encoders.text", "encoders.image", "encoders.audio", "fusion", "head"])
        XCTAssertEqual(rows.reduce(0) { $0 + $1.parameters }, model.parameterCount, "\(rows) \(model.namedParameters().map { ($0.key, $0.tensor.count) })")
        // Head: 48 → 32 → 4.
        XCTAssertEqual(rows.last?.macs, 48 * 32 + 32 * 4)
        // Image: conv 1→8 3×3 on 10×10, 2×2 pooling, flatten 8·5·5 → 16.
        XCTAssertEqual(rows[1].macs, 8 * 9 * 100 + 200 * 16)
    }
}
