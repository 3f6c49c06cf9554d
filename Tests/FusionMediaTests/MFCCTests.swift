import Foundation
import FusionData
import FusionTensor
import XCTest

/// MFCC against librosa goldens written by scripts/golden/frontend_goldens.py.
final class MFCCTests: XCTestCase {
    private func settings(from params: [String: Any], extra: [String: Any]) -> MFCCSettings {
        var s = MFCCSettings()
        if let v = params["sr"] as? Int { s.sampleRate = v }
        if let v = params["n_fft"] as? Int { s.nFFT = v }
        if let v = params["win_length"] as? Int { s.winLength = v }
        if let v = params["hop_length"] as? Int { s.hopLength = v }
        if let v = params["n_mels"] as? Int { s.nMels = v }
        if let v = params["n_mfcc"] as? Int { s.nMFCC = v }
        if let v = params["fmin"] as? Double { s.fMin = v }
        if let v = params["fmax"] as? Double { s.fMax = v }
        if params["htk"] as? Bool == true { s.melScale = .htk }
        if params.keys.contains("norm"), params["norm"] is NSNull { s.melNorm = .none }
        if params["pad_mode"] as? String == "reflect" { s.padMode = .reflect }
        if let v = extra["delta_order"] as? Int { s.deltaOrder = v }
        return s
    }

    func testMatchesLibrosaGoldens() throws {
        let golden = try TestSupport.goldenJSON("mfcc_librosa.json")
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let name = try XCTUnwrap(c["name"] as? String)
            let s = settings(from: try XCTUnwrap(c["params"] as? [String: Any]), extra: c["extra"] as? [String: Any] ?? [:])
            let clip = try AudioFile.read(path: TestSupport.golden(try XCTUnwrap(c["file"] as? String)))
            XCTAssertEqual(clip.sampleRate, s.sampleRate, name)
            let expected = try XCTUnwrap(c["values"] as? [[Double]]).flatMap { $0.map(Float.init) }
            let shape = try XCTUnwrap(c["shape"] as? [Int])
            let got = try MFCC(s)(clip.samples)
            XCTAssertEqual(got.shape, shape, name)
            guard got.shape == shape else { continue }
            let diff = TestSupport.maxAbsDiff(got.scalars, expected)
            print("mfcc \(name): max |Δ| = \(diff)")
            XCTAssertLessThan(diff, 1e-3, name)
        }
    }

    func testResampleThenMFCCMatchesLibrosa() throws {
        let golden = try TestSupport.goldenJSON("mfcc_librosa.json")
        let r = try XCTUnwrap(golden["resample"] as? [String: Any])
        let clip = try AudioFile.read(path: TestSupport.golden(try XCTUnwrap(r["file"] as? String)), sampleRate: 16000)
        XCTAssertEqual(clip.samples.count, r["length"] as? Int)
        let every = try XCTUnwrap(r["every_97th"] as? [Double]).map(Float.init)
        let ours = stride(from: 0, to: clip.samples.count, by: 97).map { clip.samples[$0] }
        XCTAssertLessThan(TestSupport.maxAbsDiff(ours, every), 1e-5)
        var s = MFCCSettings()
        (s.sampleRate, s.nFFT, s.winLength, s.hopLength, s.nMels, s.nMFCC) = (16000, 512, 400, 160, 40, 13)
        let expected = try XCTUnwrap(r["mfcc"] as? [[Double]]).flatMap { $0.map(Float.init) }
        let diff = TestSupport.maxAbsDiff(try MFCC(s)(clip.samples).scalars, expected)
        print("mfcc after resample: max |Δ| = \(diff)")
        XCTAssertLessThan(diff, 1e-3)
    }

    func testStandardizeGivesZeroMeanUnitVariance() throws {
        var s = MFCCSettings()
        (s.sampleRate, s.nFFT, s.hopLength, s.nMels, s.nMFCC, s.standardize) = (16000, 512, 160, 40, 13, true)
        let samples: [Float] = (0..<8000).map { i in
            let t = Double(i)
            let wave: Double = sin(t * 0.05) * 0.5 + sin(t * 0.31) * 0.2
            return Float(wave)
        }
        let out = try MFCC(s)(samples)
        let frames = out.shape[1]
        for k in 1..<13 {
            let row = Array(out.scalars[(k * frames)..<((k + 1) * frames)])
            let mean = row.reduce(0, +) / Float(frames)
            let variance: Float = row.reduce(Float(0)) { (sum: Float, v: Float) -> Float in sum + (v - mean) * (v - mean) } / Float(frames)
            XCTAssertEqual(mean, 0, accuracy: 1e-4)
            XCTAssertEqual(variance, 1, accuracy: 1e-3)
        }
    }

    func testInvalidSettingsAreRejected() {
        var s = MFCCSettings()
        s.nFFT = 511
        XCTAssertThrowsError(try MFCC(s))
        s = MFCCSettings()
        s.nMFCC = 200
        XCTAssertThrowsError(try MFCC(s))
    }

    func testEmptyAndShortClips() throws {
        var s = MFCCSettings()
        (s.sampleRate, s.nFFT, s.hopLength, s.nMels, s.nMFCC) = (16000, 512, 160, 40, 13)
        XCTAssertEqual(try MFCC(s)([]).shape, [13, 1])
        XCTAssertEqual(try MFCC(s)([0.5, -0.5, 0.25]).shape, [13, 1])
    }
}
