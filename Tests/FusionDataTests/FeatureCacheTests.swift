import Foundation
import FusionData
import FusionTensor
import XCTest

/// The feature cache (build, reuse, stale/corrupt detection) and the batch loader.
final class FeatureCacheTests: XCTestCase {
    private func settings() -> PreprocessingSettings {
        var mfcc = MFCCSettings()
        (mfcc.sampleRate, mfcc.nFFT, mfcc.hopLength, mfcc.nMels, mfcc.nMFCC) = (8000, 256, 80, 20, 8)
        return PreprocessingSettings(image: ImagePreprocessing(height: 8, width: 8),
                                     audio: AudioPreprocessing(durationSeconds: 0.25, mfcc: mfcc),
                                     text: TextPreprocessing(maxLength: 6))
    }

    private func vocab() throws -> WordVocabulary {
        try WordVocabulary.build(from: ["a cat sample number", "a dog sample"])
    }

    func testBuildReuseAndRebuild() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let ds = try Dataset.load(path: DatasetTests.makeDataset(in: dir))
        var log = [String]()
        let cacheDir = dir + "/cache"
        let first = try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertEqual(first.count, 8)
        XCTAssertEqual(first.header.imageShape, [3, 8, 8])
        XCTAssertEqual(first.header.audioShape, [8, 26])
        XCTAssertTrue(first.has(0, .audio))
        XCTAssertFalse(first.has(0, .text))
        XCTAssertFalse(first.has(1, .image))
        // The cached image equals decoding and resizing directly.
        // Audio clips are 0.5 s, cut to 0.25 s: every frame is real; a short clip masks the rest.
        XCTAssertEqual(first.audioFrames(0), 26)
        var long = settings()
        long.audio?.durationSeconds = 1
        let padded = try FeatureCache.load(dataset: ds, split: .train, settings: long, textEncoder: vocab(), directory: cacheDir + "-long") { _ in }
        XCTAssertEqual(padded.header.audioShape, [8, 101])
        XCTAssertEqual(padded.audioFrames(0), 51, "4000 samples at hop 80, centred: 1 + 4000 / 80")
        XCTAssertEqual(padded.audioFrames(2), 0, "sample s2 has no audio")
        let direct = try settings().image?.load(path: ds.samples[0].imagePath ?? "")
        XCTAssertEqual(Array(UnsafeBufferPointer(start: first.image(0), count: first.imageRow)), direct?.scalars)
        // Reopening with the same key does not rebuild, nor does another normalisation (applied to batches).
        _ = try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        var normalised = settings()
        normalised.image?.mean = [0.4, 0.5, 0.6]
        normalised.image?.std = [0.2, 0.2, 0.2]
        let same = try FeatureCache.load(dataset: ds, split: .train, settings: normalised, textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertEqual(same.path, first.path)
        XCTAssertTrue(log.isEmpty, "\(log)")
        // Changed settings get their own cache file beside the first.
        var changed = settings()
        changed.image?.width = 9
        let rebuilt = try FeatureCache.load(dataset: ds, split: .train, settings: changed, textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertEqual(rebuilt.header.imageShape, [3, 8, 9])
        XCTAssertNotEqual(rebuilt.path, first.path)
        // A dataset file changed since the cache was built: stale → rebuilt in place.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 3600)], ofItemAtPath: ds.samples[0].imagePath ?? "")
        let refreshed = try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertEqual(refreshed.path, first.path)
        XCTAssertTrue(log.contains { $0.contains("stale") }, "\(log)")
        XCTAssertEqual(log.last, "feature cache train: 7 of 8 samples unchanged and reused, 1 decoded")
        _ = try FeatureCache.load(dataset: ds, split: .train, settings: changed, textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        // A flipped payload byte: checksum mismatch → rebuilt.
        let path = rebuilt.path
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 5] ^= 0x5A
        try bytes.write(to: URL(fileURLWithPath: path))
        _ = try FeatureCache.load(dataset: ds, split: .train, settings: changed, textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertTrue(log.last?.contains("checksum") ?? false, "\(log)")
        // A truncated file: size mismatch → rebuilt.
        try Data(contentsOf: URL(fileURLWithPath: path)).prefix(200).write(to: URL(fileURLWithPath: path))
        _ = try FeatureCache.load(dataset: ds, split: .train, settings: changed, textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertTrue(log.last.map { $0.contains("size") || $0.contains("header") } ?? false, "\(log)")
        if case .success = FeatureCache.open(path: path) {} else { XCTFail("rebuilt cache should open") }
    }

    /// Every row of `a` equals the row of the same sample id in `b`.
    private func assertSameRows(_ a: FeatureCache, _ b: FeatureCache, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.header.ids.sorted(), b.header.ids.sorted(), file: file, line: line)
        let rows = Dictionary(uniqueKeysWithValues: b.header.ids.enumerated().map { ($1, $0) })
        for (i, id) in a.header.ids.enumerated() {
            guard let j = rows[id] else { continue }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: a.image(i), count: a.imageRow)), Array(UnsafeBufferPointer(start: b.image(j), count: b.imageRow)), id, file: file, line: line)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: a.audio(i), count: a.audioRow)), Array(UnsafeBufferPointer(start: b.audio(j), count: b.audioRow)), id, file: file, line: line)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: a.text(i), count: 2 * a.textRow)), Array(UnsafeBufferPointer(start: b.text(j), count: 2 * b.textRow)), id, file: file, line: line)
            XCTAssertEqual(a.audioFrames(i), b.audioFrames(j), id, file: file, line: line)
            XCTAssertEqual(a.label(i), b.label(j), id, file: file, line: line)
            for m in Modality.allCases { XCTAssertEqual(a.has(i, m), b.has(j, m), "\(id) \(m)", file: file, line: line) }
        }
    }

    func testAppendedSamplesAreTheOnlyOnesDecodedAndChangesAreStillSeen() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let root = try DatasetTests.makeDataset(in: dir, count: 16)
        let samplesPath = root + "/samples.jsonl"
        let full = try String(contentsOfFile: samplesPath, encoding: .utf8)
        // The dataset before growing: training samples s0…s7 of s0…s11.
        let lines = full.split(separator: "\n")
        let early = lines.filter { line in !["s8", "s9", "s10", "s11"].contains { line.contains("\"id\":\"\($0)\"") } }
        XCTAssertEqual(early.count, 12)
        try (early.joined(separator: "\n") + "\n").write(toFile: samplesPath, atomically: true, encoding: .utf8)
        var log = [String]()
        let cacheDir = dir + "/cache"
        let before = try FeatureCache.load(dataset: try Dataset.load(path: root), split: .train, settings: settings(), textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertEqual(before.count, 8)
        // Four samples appended: only they are decoded, and the rows equal a full build.
        try full.write(toFile: samplesPath, atomically: true, encoding: .utf8)
        let grown = try Dataset.load(path: root)
        let after = try FeatureCache.load(dataset: grown, split: .train, settings: settings(), textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertEqual(log.last, "feature cache train: 8 of 12 samples unchanged and reused, 4 decoded")
        let fresh = try FeatureCache.load(dataset: grown, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/fresh") { _ in }
        assertSameRows(after, fresh)
        // A changed file is decoded again; a removed sample is gone.
        let changed = try XCTUnwrap(grown.samples.first { $0.id == "s3" }?.imagePath)
        try PNGEncoder.write(Tensor((0..<(3 * 10 * 12)).map { Float($0 % 5) / 4 }, shape: [3, 10, 12]), to: changed)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: changed)
        let edited = try Dataset.load(path: root)
        let redone = try FeatureCache.load(dataset: edited, split: .train, settings: settings(), textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertEqual(log.last, "feature cache train: 11 of 12 samples unchanged and reused, 1 decoded")
        assertSameRows(redone, try FeatureCache.load(dataset: edited, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/fresh2") { _ in })
        let without = full.split(separator: "\n").filter { !$0.contains("\"id\":\"s5\"") }
        try (without.joined(separator: "\n") + "\n").write(toFile: samplesPath, atomically: true, encoding: .utf8)
        let smaller = try FeatureCache.load(dataset: try Dataset.load(path: root), split: .train, settings: settings(), textEncoder: vocab(), directory: cacheDir) { log.append($0) }
        XCTAssertEqual(smaller.count, 11)
        XCTAssertFalse(smaller.header.ids.contains("s5"))
        XCTAssertEqual(log.last, "feature cache train: 11 of 11 samples unchanged and reused, 0 decoded")
        // A vocabulary that changed (a grown training split builds another): media rows are
        // reused, captions encoded again, and the rows equal a full build.
        let other = try WordVocabulary.build(from: ["sample number a dog", "cat"])
        let reencoded = try FeatureCache.load(dataset: try Dataset.load(path: root), split: .train, settings: settings(), textEncoder: other, directory: cacheDir) { log.append($0) }
        XCTAssertEqual(log.last, "feature cache train: 11 of 11 samples unchanged and reused, 0 decoded (captions encoded again: the vocabulary changed)")
        assertSameRows(reencoded, try FeatureCache.load(dataset: try Dataset.load(path: root), split: .train, settings: settings(), textEncoder: other, directory: dir + "/fresh3") { _ in })
    }

    /// `file` with its payload's bytes changed by `edit` and both checksums recomputed: a cache
    /// that only its values can give away.
    private func forged(_ file: Data, _ edit: (inout Data, Int) -> Void) throws -> Data {
        var bytes = file
        let headerLength = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) })
        let payloadStart = (24 + headerLength + 63) / 64 * 64
        edit(&bytes, payloadStart)
        let payloadSum = String(format: "%016llx", bytes[payloadStart...].withUnsafeBytes { Hash64.checksum($0) })
        var header = String(decoding: bytes[24..<(24 + headerLength)], as: UTF8.self)
        let old = try XCTUnwrap(header.range(of: #""checksum":"[0-9a-f]{16}""#, options: .regularExpression))
        header.replaceSubrange(old, with: "\"checksum\":\"\(payloadSum)\"")
        bytes.replaceSubrange(24..<(24 + headerLength), with: Data(header.utf8))
        var headerSum = bytes[24..<payloadStart].withUnsafeBytes { Hash64.checksum($0) }.littleEndian
        bytes.replaceSubrange(16..<24, with: withUnsafeBytes(of: &headerSum) { Data($0) })
        return bytes
    }

    func testForgedValuesAreRefusedAtOpen() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let ds = try Dataset.load(path: DatasetTests.makeDataset(in: dir))
        let cache = try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/cache") { _ in }
        let original = try Data(contentsOf: URL(fileURLWithPath: cache.path))
        let path = dir + "/forged.flcache"
        // Resealed without a change it opens: the forging itself is sound.
        try forged(original) { _, _ in }.write(to: URL(fileURLWithPath: path))
        guard case .success = FeatureCache.open(path: path, classes: 2, vocabulary: 20) else { return XCTFail("a resealed cache should open") }
        let n = cache.count
        let textOffset = 4 * n + 4 * n + (3 * n + 3) / 4 * 4 + 4 * n * (cache.imageRow + cache.audioRow)
        let cases: [(String, (inout Data, Int) -> Void)] = [
            ("label 7 is out of range", { bytes, start in bytes[start] = 7 }),
            ("label -1 is out of range", { bytes, start in bytes.replaceSubrange(start..<(start + 4), with: [0xFF, 0xFF, 0xFF, 0xFF]) }),
            ("valid frames", { bytes, start in bytes[start + 4 * n] = 0xFF }),
            ("presence flag", { bytes, start in bytes[start + 8 * n] = 2 }),
            ("image feature is not finite", { bytes, start in
                let at = start + 4 * n + 4 * n + (3 * n + 3) / 4 * 4
                bytes.replaceSubrange(at..<(at + 4), with: [0x00, 0x00, 0xC0, 0x7F]) }),
            ("token id 99 is out of range", { bytes, start in bytes[start + textOffset] = 99 }),
        ]
        for (message, edit) in cases {
            try forged(original, edit).write(to: URL(fileURLWithPath: path))
            switch FeatureCache.open(path: path, classes: 2, vocabulary: 20) {
            case .success: XCTFail("opened a cache with \(message)")
            case .failure(let error): XCTAssertTrue("\(error)".contains(message) && "\(error)".contains(path), "\(error)")
            }
        }
    }

    func testDecodeFailuresFollowThePolicy() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let root = try DatasetTests.makeDataset(in: dir)
        try Data("broken".utf8).write(to: URL(fileURLWithPath: root + "/images/s0.png"))
        let ds = try Dataset.load(path: root)
        XCTAssertThrowsError(try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/c")) { error in
            XCTAssertTrue("\(error)".contains("s0.png"), "\(error)")
        }
        var log = [String]()
        let cache = try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/c",
                                          policy: .skip) { log.append($0) }
        XCTAssertEqual(cache.count, 7)
        XCTAssertFalse(cache.header.ids.contains("s0"))
        XCTAssertTrue(log.contains { $0.contains("skipped 1") })
        // The cache the skipping run built does not let a failing run through.
        XCTAssertThrowsError(try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/c"))
    }

    func testNonFiniteFeaturesAreBadSamplesNamingTheFile() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let root = try DatasetTests.makeDataset(in: dir)
        // A float WAV with one sample at 1e20: its MFCCs are not finite.
        var samples = [Float](repeating: 0.1, count: 2000)
        samples[500] = 1e20
        try AudioFile.write(interleaved: samples, channels: 1, sampleRate: 8000, format: .wavFloat, to: root + "/audio/s1.wav")
        let ds = try Dataset.load(path: root)
        XCTAssertThrowsError(try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/c")) { error in
            XCTAssertTrue("\(error)".contains("s1.wav") && "\(error)".contains("not finite"), "\(error)")
        }
        var log = [String]()
        let cache = try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/c",
                                          policy: .skip) { log.append($0) }
        XCTAssertFalse(cache.header.ids.contains("s1"), "the bad_samples policy applies")
        XCTAssertTrue(log.contains { $0.contains("skipped 1") })
    }

    func testBatchLoaderShuffleDropLastPresenceAndPrefetch() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let ds = try Dataset.load(path: DatasetTests.makeDataset(in: dir))
        let cache = try FeatureCache.load(dataset: ds, split: .train, settings: settings(), textEncoder: vocab(), directory: dir + "/c")
        var augment = ImageAugmentation()
        augment.horizontalFlipProbability = 0.5
        augment.noiseStd = 0.01
        var masking = SpecAugment()
        (masking.timeMasks, masking.maxTimeWidth) = (1, 4)
        let loader = BatchLoader(cache: cache, batchSize: 3, shuffle: true, dropLast: true, seed: 42,
                                 augmentation: OnTheFlyAugmentation(image: augment, audio: masking),
                                 imageMean: [0.5, 0.5, 0.5], imageStd: [0.25, 0.25, 0.25])
        XCTAssertEqual(loader.batchCount, 2)
        let batches = Array(loader.epoch(0))
        XCTAssertEqual(batches.count, 2)
        XCTAssertEqual(Set(batches.flatMap(\.indices)).count, 6)
        let b = batches[0]
        XCTAssertEqual(b.inputs[.image]?.features?.shape, [3, 3, 8, 8])
        XCTAssertEqual(b.inputs[.audio]?.features?.shape, [3, 8, 26])
        XCTAssertEqual(b.inputs[.text]?.tokens?.shape, [3, 6])
        XCTAssertEqual(b.labels.count, 3)
        XCTAssertEqual(b.inputs[.audio]?.mask?.shape, [3, 26])
        for (k, i) in b.indices.enumerated() {
            for m in Modality.allCases { XCTAssertEqual(b.presence[m]?.data[k], cache.has(i, m) ? 1 : 0) }
            XCTAssertEqual(b.labels[k], Int(cache.label(i)))
        }
        // Same seed and epoch → same batches (order and augmentation); another epoch → another order.
        let again = Array(loader.epoch(0))
        XCTAssertEqual(again.map(\.indices), batches.map(\.indices))
        XCTAssertEqual(again[0].inputs[.image]?.features?.scalars, batches[0].inputs[.image]?.features?.scalars)
        XCTAssertNotEqual(loader.batchIndices(epoch: 1), loader.batchIndices(epoch: 0))
        let all = BatchLoader(cache: cache, batchSize: 3, shuffle: false)
        XCTAssertEqual(Array(all.epoch(0)).map(\.size), [3, 3, 2])
    }
}
