import Foundation
import FusionData
import FusionTensor
import XCTest

/// Corrupt inputs must give errors, never crashes: seeded random mutations of valid files.
final class CorruptInputTests: XCTestCase {
    private func mutations(of data: Data, count: Int, seed: UInt64) -> [Data] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            var d = data
            switch rng.next() % 3 {
            case 0: // flip a few bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) { d[Int(rng.next() % UInt64(d.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            case 1: // truncate
                d = d.prefix(Int(rng.next() % UInt64(d.count)))
            default: // overwrite a run with random bytes
                let start = Int(rng.next() % UInt64(d.count))
                for i in start..<min(d.count, start + 16) { d[i] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            return d
        }
    }

    func testFilesOverTheReadLimitAreRefusedBeforeAllocating() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let path = dir + "/samples.jsonl"
        try Data(count: 64).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try FileIO.read(path, limit: 64).count, 64)
        XCTAssertThrowsError(try FileIO.read(path, limit: 63)) {
            XCTAssertTrue("\($0)".contains(path) && "\($0)".contains("64 bytes, over the 63-byte limit"), "\($0)")
        }
    }

    func testMutatedPNGsNeverCrash() throws {
        let samples = (0..<(3 * 16 * 16)).map { UInt16($0 % 251) }
        var request = PNGWriteRequest(width: 16, height: 16, colorType: .rgb, bitDepth: 8, samples: samples)
        request.interlaced = true
        let good = try PNGEncoder.encode(request)
        var errors = 0
        for d in mutations(of: good, count: 400, seed: 11) {
            do { _ = try PNGDecoder.decode(data: d, name: "fuzz.png") } catch {
                errors += 1
                XCTAssertTrue("\(error)".contains("fuzz.png"))
            }
        }
        XCTAssertGreaterThan(errors, 300, "almost every mutation is detected (CRC, zlib checksum, truncation)")
    }

    func testMutatedAudioAndCacheFilesNeverCrash() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let wav = dir + "/good.wav"
        try AudioFile.write(AudioClip(sampleRate: 8000, samples: (0..<800).map { Float(sin(Double($0) * 0.1)) * 0.5 }), format: .flac16, to: wav)
        let good = try Data(contentsOf: URL(fileURLWithPath: wav))
        for (i, d) in mutations(of: good, count: 100, seed: 12).enumerated() {
            let path = dir + "/m\(i).flac"
            try d.write(to: URL(fileURLWithPath: path))
            _ = try? AudioFile.read(path: path, sampleRate: 16000)
        }
        // A real cache file, mutated: every change is caught by the header, size or checksum checks.
        let ds = try Dataset.load(path: DatasetTests.makeDataset(in: dir, count: 6))
        let cache = try FeatureCache.load(dataset: ds, split: .train, settings: PreprocessingSettings(image: ImagePreprocessing(height: 4, width: 4)),
                                          textEncoder: nil, directory: dir + "/cache")
        let original = try Data(contentsOf: URL(fileURLWithPath: cache.path))
        for (i, d) in mutations(of: original, count: 150, seed: 13).enumerated() where d != original {
            let path = dir + "/c\(i).flcache"
            try d.write(to: URL(fileURLWithPath: path))
            if case .success = FeatureCache.open(path: path) { XCTFail("mutation \(i) opened as a valid cache") }
        }
    }
}
