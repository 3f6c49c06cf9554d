import Foundation
import FusionData
import FusionTensor
import XCTest

/// Audio reading, writing, resampling and length handling on files the tests write.
final class AudioTests: XCTestCase {
    private func tone(_ count: Int, rate: Int, hz: Double = 440, amplitude: Float = 0.5) -> [Float] {
        (0..<count).map { amplitude * Float(sin(2 * Double.pi * hz * Double($0) / Double(rate))) }
    }

    func testEveryWritableFormatReadsBack() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let rate = 16000
        let left = tone(1600, rate: rate), right = tone(1600, rate: rate, hz: 880, amplitude: 0.25)
        let stereo = zip(left, right).flatMap { [$0, $1] }
        let tolerance: [AudioFile.WriteFormat: Float] = [.wavPCM8: 0.01, .wavULaw: 0.02, .oggVorbis: 0.1]
        for format in AudioFile.WriteFormat.allCases {
            let ext = format == .flac16 ? "flac" : (format == .oggVorbis ? "ogg" : (format == .aiffPCM16 ? "aiff" : "wav"))
            let path = "\(dir)/\(format.rawValue).\(ext)"
            try AudioFile.write(interleaved: stereo, channels: 2, sampleRate: rate, format: format, to: path)
            let (info, samples) = try AudioFile.readInterleaved(path: path)
            XCTAssertEqual(info.sampleRate, rate, "\(format)")
            XCTAssertEqual(info.channels, 2, "\(format)")
            XCTAssertEqual(info.frames, 1600, "\(format)")
            let tol = tolerance[format] ?? 1e-4
            XCTAssertLessThan(TestSupport.maxAbsDiff(samples, stereo), tol, "\(format)")
            let mono = try AudioFile.read(path: path)
            XCTAssertEqual(mono.samples.count, 1600)
            XCTAssertEqual(mono.samples[100], (left[100] + right[100]) / 2, accuracy: tol, "mono is the channel mean")
            // The same bytes read from memory (an upload) give the same header and samples.
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let (memoryInfo, memorySamples) = try AudioFile.readInterleaved(data: bytes, name: "upload.\(ext)")
            XCTAssertEqual(memoryInfo, info, "\(format)")
            XCTAssertEqual(memorySamples, samples, "\(format)")
            XCTAssertEqual(try AudioFile.read(data: bytes, name: "upload", sampleRate: 8000).samples,
                           try AudioFile.read(path: path, sampleRate: 8000).samples, "\(format)")
        }
    }

    func testResampleLengthAndContent() throws {
        let clip = AudioClip(sampleRate: 44100, samples: tone(44100, rate: 44100, hz: 300))
        let down = try Resampler.resample(clip, to: 16000)
        XCTAssertEqual(down.samples.count, 16000)
        let expected = tone(16000, rate: 16000, hz: 300)
        // Away from the edges a 300 Hz tone survives resampling almost exactly.
        XCTAssertLessThan(TestSupport.maxAbsDiff(Array(down.samples[1000..<15000]), Array(expected[1000..<15000])), 2e-3)
        let odd = try Resampler.resample(AudioClip(sampleRate: 22050, samples: [Float](repeating: 0.1, count: 1001)), to: 16000)
        XCTAssertEqual(odd.samples.count, 727, "ceil(1001 * 16000 / 22050)")
    }

    func testPadTrimAndMask() {
        XCTAssertEqual(AudioLength.padOrTrim([1, 2, 3], to: 5), [1, 2, 3, 0, 0])
        XCTAssertEqual(AudioLength.padOrTrim([1, 2, 3], to: 2), [1, 2])
        let batch = AudioLength.batch([[1, 2], [3, 4, 5]])
        XCTAssertEqual(batch.samples.shape, [2, 3])
        XCTAssertEqual(batch.samples.scalars, [1, 2, 0, 3, 4, 5])
        XCTAssertEqual(batch.mask.scalars, [1, 1, 0, 1, 1, 1])
    }

    func testBadFilesGiveErrorsNamingTheFile() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let cases: [(String, Data)] = [("empty.wav", Data()), ("text.wav", Data("hello, this is not audio".utf8)),
                                       ("header.wav", Data("RIFF\u{24}\0\0\0WAVEfmt ".utf8))]
        for (name, bytes) in cases {
            let path = dir + "/" + name
            try bytes.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try AudioFile.read(path: path)) { XCTAssertTrue("\($0)".contains(path), "\($0)") }
        }
        XCTAssertThrowsError(try AudioFile.read(path: dir + "/missing.wav")) { XCTAssertTrue("\($0)".contains("missing.wav")) }
        for (name, bytes) in cases {
            XCTAssertThrowsError(try AudioFile.read(data: bytes, name: "upload-" + name)) { XCTAssertTrue("\($0)".contains("upload-" + name), "\($0)") }
        }
    }

    func testAugmentationIsSeededAndDoesWhatItSays() throws {
        let clip = tone(1600, rate: 16000)
        var a = AudioAugmentation()
        a.snrDB = 10
        var rng1 = SeededGenerator(seed: 7), rng2 = SeededGenerator(seed: 7)
        let n1 = a.apply(clip, using: &rng1), n2 = a.apply(clip, using: &rng2)
        XCTAssertEqual(n1, n2)
        let signal = clip.reduce(0) { $0 + $1 * $1 }
        let noise = zip(n1, clip).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        XCTAssertEqual(10 * log10(signal / noise), 10, accuracy: 0.01)
        var shift = AudioAugmentation()
        shift.maxShiftSamples = 10
        var rng = SeededGenerator(seed: 1)
        let shifted = shift.apply([1, 2, 3, 4, 5] + [Float](repeating: 0, count: 20), using: &rng)
        XCTAssertEqual(shifted.count, 25)
        XCTAssertEqual(shifted.reduce(0, +), 15, accuracy: 1e-6, "a shift within the padding keeps every sample")
        let features = Tensor.ones([13, 50])
        var masking = SpecAugment()
        masking.timeMasks = 2; masking.maxTimeWidth = 5; masking.frequencyMasks = 1; masking.maxFrequencyWidth = 3
        let masked = masking.apply(features, using: &rng)
        let zeros = masked.scalars.filter { $0 == 0 }.count
        XCTAssertGreaterThan(zeros, 0)
        XCTAssertLessThanOrEqual(zeros, 2 * 5 * 13 + 3 * 50)
    }

    /// Audio conformance, run by scripts/conformance/audio.sh (skipped unless
    /// FUSIONLAB_AUDIO_CONFORMANCE names the folder): every file reads with the manifest's
    /// rate, channels and frames; every expected error is an error naming the file.
    func testAudioConformance() throws {
        guard let dir = ProcessInfo.processInfo.environment["FUSIONLAB_AUDIO_CONFORMANCE"] else {
            throw XCTSkip("set FUSIONLAB_AUDIO_CONFORMANCE to the audio-conformance folder to run")
        }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))) as? [String: Any]
        var passed = 0, failed = 0
        for entry in try XCTUnwrap(manifest?["files"] as? [[String: Any]]) {
            let name = try XCTUnwrap(entry["file"] as? String)
            let path = dir + "/" + name
            if entry["expected_error"] as? Bool == true {
                do { _ = try AudioFile.readInterleaved(path: path); failed += 1; XCTFail("\(name): expected an error") } catch {
                    if "\(error)".contains(path) { passed += 1 } else { failed += 1; XCTFail("\(name): error does not name the file: \(error)") }
                }
                continue
            }
            do {
                let (info, samples) = try AudioFile.readInterleaved(path: path)
                var ok = info.sampleRate == entry["samplerate"] as? Int && info.channels == entry["channels"] as? Int
                    && info.frames == entry["frames"] as? Int
                if let rms = entry["rms_per_channel"] as? [Double], info.frames > 0 {
                    for (c, expected) in rms.enumerated() {
                        var sum = 0.0
                        for f in 0..<info.frames { let v = Double(samples[f * info.channels + c]); sum += v * v }
                        let got = (sum / Double(info.frames)).squareRoot()
                        if abs(got - expected) > 1e-3 { ok = false; print("\(name): channel \(c) rms \(got) vs \(expected)") }
                    }
                }
                if ok { passed += 1 } else { failed += 1; XCTFail("\(name): got \(info), manifest \(entry)") }
            } catch {
                failed += 1
                XCTFail("\(name): \(error)")
            }
        }
        print("audio-conformance: \(passed) passed, \(failed) failed")
    }

    func testNonFiniteSamplesAreRefusedNamingTheFile() throws {
        let path = try TestSupport.temporaryDirectory(self) + "/nan.wav"
        var samples = [Float](repeating: 0.1, count: 800)
        samples[17] = .nan
        try AudioFile.write(AudioClip(sampleRate: 8000, samples: samples), format: .wavFloat, to: path)
        for rate in [nil, 16000] as [Int?] {
            XCTAssertThrowsError(try AudioFile.read(path: path, sampleRate: rate)) { error in
                XCTAssertTrue("\(error)".contains("nan.wav") && "\(error)".contains("not finite"), "\(error)")
            }
        }
    }
}
