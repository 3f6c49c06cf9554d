import Foundation
import FusionData
import FusionTensor

// The front-end workloads: png-decode, mfcc, wordpiece, feature-cache. Each runs on inputs it
// generates itself, or on given files (`--dir`, `--corpus`, `--vocab`) so that the Python peers
// (Benchmarks/peers/frontend_peers.py) can read the very same files.

/// Best of `repeats` timings of `body`, in seconds.
private func bestTime(_ repeats: Int = 3, _ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<repeats {
        let start = now()
        body()
        best = min(best, now() - start)
    }
    return best
}

private func die(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fusionlab-bench: \(message)\n".utf8))
    exit(1)
}

/// Every file in `dir` ending in `suffix`, sorted.
private func files(in dir: String, suffix: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return names.filter { $0.lowercased().hasSuffix(suffix) }.sorted().map { dir + "/" + $0 }
}

private func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "fusionlab-bench-\(name)-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Deterministic PNG inputs: `count` images of `channels × size × size` with smooth structure
/// plus noise (so they compress like real images, not like flat colour).
func writeBenchImages(to dir: String, count: Int, size: Int, channels: Int, prefix: String, seed: UInt64) throws {
    var rng = SeededGenerator(seed: seed)
    for i in 0..<count {
        let t = Tensor(uninitializedShape: [channels, size, size])
        let fx = rng.nextUnitFloat() * 0.5, fy = rng.nextUnitFloat() * 0.5
        for c in 0..<channels {
            for y in 0..<size {
                for x in 0..<size {
                    let v = 0.5 + 0.35 * sin(Float(x) * fx + Float(c)) * cos(Float(y) * fy) + 0.05 * rng.nextNormal()
                    t.data[(c * size + y) * size + x] = min(max(v, 0), 1)
                }
            }
        }
        try PNGEncoder.write(t, to: String(format: "%@/%@%04d.png", dir, prefix, i))
    }
}

/// png-decode: images/s decoding PNG files (read + decode to a Float32 [C, H, W] tensor).
func pngDecodeBenchmark(_ options: BenchOptions) -> [Measurement] {
    var sets: [(String, [String])] = []
    if let dir = options.paths["--dir"] {
        // Named like the peer's inputs (grey28_*, rgb64_*): report each set as well as all.
        let all = files(in: dir, suffix: ".png")
        let grey = all.filter { $0.contains("grey28") }, rgb = all.filter { $0.contains("rgb64") }
        if !grey.isEmpty && !rgb.isEmpty { sets = [("grey28_images_per_sec", grey), ("rgb64_images_per_sec", rgb)] }
        sets.append(("images_per_sec", all))
    } else {
        let dir = temporaryDirectory("png")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try writeBenchImages(to: dir, count: 1000, size: 28, channels: 1, prefix: "grey28_", seed: 1)
            try writeBenchImages(to: dir, count: 1000, size: 64, channels: 3, prefix: "rgb64_", seed: 2)
        } catch { die("cannot write benchmark images: \(error)") }
        let all = files(in: dir, suffix: ".png")
        sets = [("grey28_images_per_sec", all.filter { $0.contains("grey28_") }),
                ("rgb64_images_per_sec", all.filter { $0.contains("rgb64_") }), ("images_per_sec", all)]
        return measurePNG(sets, options)
    }
    return measurePNG(sets, options)
}

private func measurePNG(_ sets: [(String, [String])], _ options: BenchOptions) -> [Measurement] {
    sets.map { metric, paths in
        if paths.isEmpty { die("no .png files to decode") }
        var checksum: Float = 0
        let seconds = bestTime {
            for path in paths {
                do {
                    let t = try PNGDecoder.decode(path: path, options: ImageDecodeOptions(colorMode: path.contains("grey") ? .grey : .rgb))
                    checksum += t.data[0]
                } catch { die("\(error)") }
            }
        }
        if checksum.isNaN { die("decoded NaN") }
        return Measurement(workload: "png-decode", threads: options.threads, metric: metric, value: Double(paths.count) / seconds)
    }
}

/// The speech MFCC settings the mfcc workload uses (16 kHz, n_fft 512, win 400, hop 160, 40 mels, 13 coefficients).
func benchMFCCSettings() -> MFCCSettings {
    var s = MFCCSettings()
    (s.sampleRate, s.nFFT, s.winLength, s.hopLength, s.nMels, s.nMFCC) = (16000, 512, 400, 160, 40, 13)
    return s
}

/// mfcc: clips/s computing MFCCs of 200 one-second 16 kHz clips (or every *.wav in `--dir`).
func mfccBenchmark(_ options: BenchOptions) -> [Measurement] {
    var clips: [[Float]] = []
    if let dir = options.paths["--dir"] {
        for path in files(in: dir, suffix: ".wav") {
            do { clips.append(try AudioFile.read(path: path, sampleRate: 16000).samples) } catch { die("\(error)") }
        }
    } else {
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<200 {
            let f = 200 + 800 * Double(rng.nextUnitFloat())
            clips.append((0..<16000).map { i in Float(0.3 * sin(2 * Double.pi * f * Double(i) / 16000)) + 0.05 * rng.nextNormal() })
        }
    }
    if clips.isEmpty { die("no clips") }
    let settings = benchMFCCSettings()
    guard let extractor = try? MFCC(settings) else { die("invalid MFCC settings") }
    var checksum: Float = 0
    let perClip = bestTime {
        for clip in clips { checksum += extractor(clip).data[0] }
    }
    var results = [Measurement(workload: "mfcc", threads: options.threads, metric: "clips_per_sec", value: Double(clips.count) / perClip)]
    if clips.allSatisfy({ $0.count == clips[0].count }) {
        let batched = bestTime { checksum += ((try? MFCC.batch(clips, settings: settings))?.data[0] ?? 0) }
        results.append(Measurement(workload: "mfcc", threads: options.threads, metric: "batched_clips_per_sec", value: Double(clips.count) / batched))
    }
    if checksum.isNaN { die("NaN MFCC") }
    return results
}

/// Deterministic English-like text (~`bytes` bytes, one text per line) and a WordPiece vocabulary for it.
func makeBenchCorpus(bytes: Int) -> (lines: [String], vocab: [String]) {
    let words = ["the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
                 "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they",
                 "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when",
                 "will", "would", "who", "so", "no", "model", "training", "fusion", "image", "audio", "dataset",
                 "tokenization", "researchers", "unbelievable", "multimodal", "experiments", "learning", "networks"]
    var rng = SeededGenerator(seed: 9)
    var lines = [String](), total = 0
    while total < bytes {
        var line = ""
        let n = 8 + Int(rng.next() % 30)
        for k in 0..<n {
            var w = words[Int(rng.next() % UInt64(words.count))]
            if k == 0 { w = w.prefix(1).uppercased() + w.dropFirst() }
            if rng.next() % 11 == 0 { w += "s" }
            line += (k == 0 ? "" : " ") + w
            if rng.next() % 9 == 0 { line += "," }
        }
        line += rng.next() % 5 == 0 ? "?" : "."
        total += line.utf8.count + 1
        lines.append(line)
    }
    var vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    let chars = "abcdefghijklmnopqrstuvwxyz0123456789.,?!;:'\"()-"
    vocab += chars.map { String($0) } + chars.map { "##" + String($0) }
    vocab += words.filter { $0.count < 9 } + ["token", "##ization", "##s", "research", "##ers", "un", "##believ", "##able", "multi", "##modal"]
    return (lines, vocab)
}

/// wordpiece: MB/s of UTF-8 text encoded to ids (`--corpus FILE --vocab FILE`, one text per line).
func wordpieceBenchmark(_ options: BenchOptions) -> [Measurement] {
    var lines: [String], tokenizer: WordPieceTokenizer
    do {
        if let corpus = options.paths["--corpus"], let vocab = options.paths["--vocab"] {
            guard let text = String(data: try FileIO.read(corpus), encoding: .utf8) else { die("\(corpus) is not UTF-8") }
            lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            tokenizer = try WordPieceTokenizer(vocabPath: vocab)
        } else {
            let made = makeBenchCorpus(bytes: 10_000_000)
            lines = made.lines
            tokenizer = try WordPieceTokenizer(vocabulary: made.vocab)
        }
    } catch { die("\(error)") }
    let bytes = lines.reduce(0) { $0 + $1.utf8.count + 1 }
    var tokens = 0
    let seconds = bestTime {
        tokens = 0
        for line in lines { tokens += tokenizer.encode(line).count }
    }
    return [Measurement(workload: "wordpiece", threads: options.threads, metric: "MB_per_sec", value: Double(bytes) / 1e6 / seconds),
            Measurement(workload: "wordpiece", threads: options.threads, metric: "tokens_per_sec", value: Double(tokens) / seconds)]
}

/// feature-cache: samples/s of a first epoch that decodes and caches a 3-modality dataset vs a
/// second epoch that memory-maps the cache; both iterate every batch.
func featureCacheBenchmark(_ options: BenchOptions) -> [Measurement] {
    let dir = temporaryDirectory("cache")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let count = 300
    do {
        let root = dir + "/ds"
        try writeBenchImages(to: root + "/images", count: count, size: 64, channels: 3, prefix: "img", seed: 3)
        var records = [DatasetWriter.Record]()
        var rng = SeededGenerator(seed: 4)
        for i in 0..<count {
            let f = 200 + 800 * Double(rng.nextUnitFloat())
            let clip = AudioClip(sampleRate: 22050, samples: (0..<22050).map { Float(0.3 * sin(2 * Double.pi * f * Double($0) / 22050)) })
            try AudioFile.write(clip, to: root + "/audio/a\(i).wav")
            records.append(.init(id: "s\(i)", split: .train, label: i % 2 == 0 ? "a" : "b", text: "sample \(i) of the benchmark dataset",
                                 image: String(format: "images/img%04d.png", i), audio: "audio/a\(i).wav"))
        }
        try DatasetWriter.write(info: DatasetInfo(name: "bench", labels: ["a", "b"]), records: records, to: root)
        let dataset = try Dataset.load(path: root)
        let vocab = try WordVocabulary.build(from: records.compactMap(\.text))
        var mfcc = benchMFCCSettings()
        mfcc.deltaOrder = 0
        let settings = PreprocessingSettings(image: ImagePreprocessing(height: 32, width: 32),
                                             audio: AudioPreprocessing(durationSeconds: 1, mfcc: mfcc), text: TextPreprocessing(maxLength: 16))
        func epoch() throws -> Double {
            let start = now()
            let cache = try FeatureCache.load(dataset: dataset, split: .train, settings: settings, textEncoder: vocab,
                                              directory: dir + "/cache", threads: options.threads) { _ in }
            var sum: Float = 0
            for batch in BatchLoader(cache: cache, batchSize: 32, seed: 1).epoch(0) { sum += batch.inputs[.image]?.features?.data[0] ?? 0 }
            if sum.isNaN { die("NaN features") }
            return now() - start
        }
        let first = try epoch()
        var second = Double.infinity
        for _ in 0..<3 { second = min(second, try epoch()) }
        // The dataset grows by 10 %: the incremental build decodes only the new samples; the
        // full build (cache removed) decodes all of them.
        let added = count / 10
        try writeBenchImages(to: root + "/images", count: count + added, size: 64, channels: 3, prefix: "new", seed: 5)
        for i in count..<(count + added) {
            let clip = AudioClip(sampleRate: 22050, samples: (0..<22050).map { Float(0.3 * sin(2 * Double.pi * 440 * Double($0 + i) / 22050)) })
            try AudioFile.write(clip, to: root + "/audio/a\(i).wav")
            records.append(.init(id: "s\(i)", split: .train, label: i % 2 == 0 ? "a" : "b", text: "sample \(i) of the benchmark dataset",
                                 image: String(format: "images/new%04d.png", i), audio: "audio/a\(i).wav"))
        }
        try DatasetWriter.write(info: DatasetInfo(name: "bench", labels: ["a", "b"]), records: records, to: root)
        let grown = try Dataset.load(path: root)
        func build(_ directory: String) throws -> Double {
            let start = now()
            _ = try FeatureCache.load(dataset: grown, split: .train, settings: settings, textEncoder: vocab, directory: directory, threads: options.threads) { _ in }
            return now() - start
        }
        let incremental = try build(dir + "/cache")
        var full = Double.infinity
        for k in 0..<2 { full = min(full, try build(dir + "/full-\(k)")) }
        return [Measurement(workload: "feature-cache", threads: options.threads, metric: "first_epoch_samples_per_sec", value: Double(count) / first),
                Measurement(workload: "feature-cache", threads: options.threads, metric: "second_epoch_samples_per_sec", value: Double(count) / second),
                Measurement(workload: "feature-cache", threads: options.threads, metric: "second_over_first_speedup", value: first / second),
                Measurement(workload: "feature-cache", threads: options.threads, metric: "grow_10pct_incremental_seconds", value: incremental),
                Measurement(workload: "feature-cache", threads: options.threads, metric: "grow_10pct_full_rebuild_seconds", value: full),
                Measurement(workload: "feature-cache", threads: options.threads, metric: "grow_full_over_incremental", value: full / incremental)]
    } catch { die("\(error)") }
}
