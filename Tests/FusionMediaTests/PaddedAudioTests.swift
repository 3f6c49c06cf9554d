import Foundation
import FusionData
import FusionTensor
import XCTest

/// Fixed-length audio features of variable-length clips against librosa, from raw WAV files:
/// resampling, trimming, MFCCs, deltas and standardisation over the real frames only, and
/// zero padding (goldens written by scripts/golden/padded_mfcc_goldens.py).
final class PaddedAudioTests: XCTestCase {
    /// The golden script's clip formula, as 16-bit samples.
    static func clipInts(sampleRate: Int, seconds: Double) -> [Int16] {
        let count = Int((seconds * Double(sampleRate)).rounded())
        var state: Int64 = 12345
        return (0..<count).map { n in
            let t = Double(n) / Double(sampleRate)
            state = (state &* 1103515245 &+ 12345) % 2147483648
            let noise = Double(state) / 2147483648.0 - 0.5
            var y = 0.35 * sin(2 * Double.pi * 330.0 * t) + 0.2 * sin(2 * Double.pi * (900.0 + 700.0 * t) * t)
            y = y * (0.55 + 0.45 * sin(2 * Double.pi * 2.5 * t)) + 0.03 * noise
            return Int16((y * 20000.0 + 0.5).rounded(.down))
        }
    }

    /// A mono 16-bit PCM WAV file, byte for byte.
    static func writeWAV(_ samples: [Int16], sampleRate: Int, to path: String) throws {
        var data = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { data.append(contentsOf: $0) } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: Array("RIFF".utf8)); u32(36 + 2 * samples.count)
        data.append(contentsOf: Array("WAVEfmt ".utf8)); u32(16); u16(1); u16(1); u32(sampleRate); u32(2 * sampleRate); u16(2); u16(16)
        data.append(contentsOf: Array("data".utf8)); u32(2 * samples.count)
        for s in samples { withUnsafeBytes(of: s.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path))
    }

    func testFixedLengthFeaturesMatchLibrosaFromRawFiles() throws {
        let golden = try TestSupport.goldenJSON("padded_mfcc_librosa.json")
        let sources = try XCTUnwrap(golden["sources"] as? [String: [String: Any]])
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 8)
        let folder = try TestSupport.temporaryDirectory(self)
        var paths: [String: String] = [:]
        for (name, source) in sources {
            let rate = try XCTUnwrap(source["sample_rate"] as? Int), seconds = try XCTUnwrap(source["seconds"] as? Double)
            let ints = Self.clipInts(sampleRate: rate, seconds: seconds)
            XCTAssertEqual(ints.count, source["count"] as? Int, name)
            XCTAssertEqual(ints.reduce(0) { $0 + Int($1) }, source["sum"] as? Int, "\(name): the clip formula differs from the golden script's")
            paths[name] = folder + "/\(name).wav"
            try Self.writeWAV(ints, sampleRate: rate, to: folder + "/\(name).wav")
        }
        for c in cases {
            let source = try XCTUnwrap(c["source"] as? String)
            let p = try XCTUnwrap(c["settings"] as? [String: Any])
            var mfcc = MFCCSettings()
            mfcc.sampleRate = try XCTUnwrap(p["sr"] as? Int)
            mfcc.nFFT = try XCTUnwrap(p["n_fft"] as? Int)
            mfcc.hopLength = try XCTUnwrap(p["hop_length"] as? Int)
            mfcc.nMels = try XCTUnwrap(p["n_mels"] as? Int)
            mfcc.nMFCC = try XCTUnwrap(p["n_mfcc"] as? Int)
            mfcc.deltaOrder = try XCTUnwrap(c["deltas"] as? Int)
            mfcc.standardize = try XCTUnwrap(c["standardize"] as? Bool)
            let settings = AudioPreprocessing(durationSeconds: try XCTUnwrap(c["duration"] as? Double), mfcc: mfcc)
            let name = "\(source) → \(mfcc.sampleRate) Hz, \(settings.durationSeconds) s, deltas \(mfcc.deltaOrder), standardize \(mfcc.standardize)"
            let (features, valid) = try settings.load(path: try XCTUnwrap(paths[source]), extractor: MFCC(mfcc))
            let shape = try XCTUnwrap(c["shape"] as? [Int])
            XCTAssertEqual(features.shape, shape, name)
            XCTAssertEqual(valid, c["valid_frames"] as? Int, name)
            guard features.shape == shape, valid == c["valid_frames"] as? Int else { continue }
            let expected = try XCTUnwrap(c["values"] as? [[Double]])
            let frames = shape[1], values = features.scalars
            var diff: Float = 0, scale: Float = 1
            for (r, row) in expected.enumerated() {
                for t in 0..<frames {
                    let got = values[r * frames + t]
                    if t >= valid {
                        XCTAssertEqual(got, 0, "\(name): padded frame \(t) of row \(r) is \(got), expected exactly 0")
                        continue
                    }
                    diff = max(diff, abs(got - Float(row[t])))
                    scale = max(scale, abs(Float(row[t])))
                }
            }
            print("padded mfcc \(name): \(valid)/\(frames) real frames, max |Δ| = \(diff) (largest value \(scale))")
            // The goldens are rounded to 4 decimals.
            XCTAssertLessThan(diff, 1e-3, name)
            if mfcc.standardize {
                // Every row of the real frames has mean 0 and variance 1 (or 0 for a constant row).
                for r in 0..<shape[0] {
                    let row = Array(values[(r * frames)..<(r * frames + valid)])
                    let mean = row.reduce(0, +) / Float(valid)
                    XCTAssertEqual(mean, 0, accuracy: 1e-4, "\(name) row \(r)")
                }
            }
        }
    }

    func testSpecAugmentMasksOnlyRealFrames() {
        var spec = SpecAugment()
        (spec.timeMasks, spec.maxTimeWidth, spec.frequencyMasks, spec.maxFrequencyWidth, spec.fill) = (4, 3, 2, 2, -7)
        let features = Tensor((0..<(5 * 20)).map { Float($0 % 20 < 6 ? 1 : 0) }, shape: [5, 20])
        for seed in 0..<50 {
            var rng = SeededGenerator(seed: UInt64(seed))
            let out = spec.apply(features, validFrames: 6, using: &rng)
            for r in 0..<5 {
                for t in 6..<20 { XCTAssertEqual(out.scalars[r * 20 + t], 0, "seed \(seed): padded frame \(t) was masked") }
            }
        }
        // Without a frame count every frame can be masked.
        var rng = SeededGenerator(seed: 1)
        spec.frequencyMasks = 0
        let all = (0..<30).map { _ in spec.apply(features, using: &rng) }
        XCTAssertTrue(all.contains { out in (6..<20).contains { out.scalars[$0] == -7 } })
    }

    func testShortClipOfOneFrameAndEmptyClip() throws {
        var mfcc = MFCCSettings()
        (mfcc.sampleRate, mfcc.nFFT, mfcc.hopLength, mfcc.nMels, mfcc.nMFCC, mfcc.deltaOrder, mfcc.standardize) = (8000, 256, 128, 32, 13, 2, true)
        let settings = AudioPreprocessing(durationSeconds: 0.5, mfcc: mfcc)
        let extractor = try MFCC(mfcc)
        let empty = settings.features(of: [], extractor: extractor)
        XCTAssertEqual(empty.validFrames, 0)
        XCTAssertEqual(empty.features.shape, settings.shape)
        XCTAssertTrue(empty.features.scalars.allSatisfy { $0 == 0 })
        let tiny = settings.features(of: [0.1, -0.2, 0.3], extractor: extractor)
        XCTAssertEqual(tiny.validFrames, 1)
        XCTAssertTrue(tiny.features.scalars.allSatisfy { $0.isFinite && $0 == 0 }, "one frame standardises to 0")
    }
}
