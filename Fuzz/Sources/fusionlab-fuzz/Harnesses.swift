import Foundation
import FusionData
import FusionExperiments
import FusionModels
import FusionNN
import FusionTensor

/// The readers of untrusted input, each as a fuzz harness: bytes in, and either a clear error
/// or a result whose invariants hold. A broken invariant stops the process (`fatalError`), so
/// libFuzzer records the input that caused it.
enum Harness: String, CaseIterable {
    /// PNG bytes through the decoder, as float tensors and as raw samples.
    case png
    /// JPEG (or any image) bytes through the content-dispatching decoder and libjpeg-turbo.
    case jpeg
    /// Audio bytes through libsndfile (from memory), mono mix-down and libsoxr resampling.
    case audio
    /// `dataset.json` NUL `samples.jsonl`, as a dataset folder holding a PNG and a WAV.
    case dataset
    /// `experiment.json` NUL `base.json` NUL `--set` lines: extends, overrides, decoding,
    /// validation and the layer-stack shape check.
    case experiment
    /// Safetensors bytes through the checkpoint parser.
    case safetensors
    /// A feature cache: raw bytes when they start with the magic, otherwise header JSON NUL
    /// payload framed with correct checksums, so the fuzzer reaches the header's semantics.
    case cache
    /// A `fusionlab serve` upload: a Content-Type line, then a multipart/form-data body.
    case multipart
    /// `fusionlab import`'s table reader: the first byte picks CSV, TSV or JSONL, the rest is the
    /// table (media paths point into a folder holding one PNG and one WAV).
    case table
    /// `--set key=value` lines over a valid experiment: value parsing, range checks, validation.
    case overrides

    /// Runs one input; true when the reader accepted it (false: it gave an error).
    @discardableResult
    func run(_ data: Data) -> Bool {
        switch self {
        case .png: return fuzzPNG(data)
        case .jpeg: return fuzzImage(data)
        case .audio: return fuzzAudio(data)
        case .dataset: return fuzzDataset(data)
        case .experiment: return fuzzExperiment(data)
        case .safetensors: return fuzzSafetensors(data)
        case .cache: return fuzzCache(data)
        case .multipart: return fuzzMultipart(data)
        case .table: return fuzzTable(data)
        case .overrides: return fuzzOverrides(data)
        }
    }
}

/// A folder of its own under /dev/shm (or the temporary directory) for harnesses that need files.
let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(base)/fusionlab-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path + "/dataset", withIntermediateDirectories: true)
    try? FileManager.default.createDirectory(atPath: path + "/table/raw", withIntermediateDirectories: true)
    // Media the fuzzed sample lines may name (existence and readability are what the parser checks).
    _ = FileManager.default.createFile(atPath: path + "/dataset/a.png", contents: Data([0x89, 0x50]))
    _ = FileManager.default.createFile(atPath: path + "/dataset/b.wav", contents: Data([0x52, 0x49]))
    return path
}()

/// Writes `data` to `path` (plainly: the harness's own scratch files need no atomicity).
func put(_ data: Data, _ path: String) -> Bool {
    (try? data.write(to: URL(fileURLWithPath: path))) != nil
}

/// `data` split at NUL bytes into at most `parts` pieces (missing ones empty).
func pieces(_ data: Data, _ parts: Int) -> [Data] {
    var out = data.split(separator: 0, maxSplits: parts - 1, omittingEmptySubsequences: false).map { Data($0) }
    while out.count < parts { out.append(Data()) }
    return out
}

func check(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(what())") }
}

func fuzzPNG(_ data: Data) -> Bool {
    for options in [ImageDecodeOptions(), ImageDecodeOptions(colorMode: .grey)] {
        if let image = try? PNGDecoder.decode(data: data, name: "fuzz.png", options: options) {
            check(image.shape.count == 3 && image.shape[0] == options.channelCount, "image shape \(image.shape)")
            check(image.scalars.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "image values outside [0, 1]")
        }
    }
    guard let decoded = try? PNGDecoder.decodeSamples(data: data, name: "fuzz.png") else { return false }
    check(decoded.width > 0 && decoded.height > 0, "empty image decoded")
    check(decoded.rgba8().count == 4 * decoded.width * decoded.height, "rgba8 size")
    return true
}

func fuzzImage(_ data: Data) -> Bool {
    var accepted = false
    for options in [ImageDecodeOptions(), ImageDecodeOptions(colorMode: .grey)] {
        guard let image = try? ImageDecoder.decode(data: data, name: "fuzz.jpg", options: options) else { continue }
        check(image.shape.count == 3 && image.shape[0] == options.channelCount, "image shape \(image.shape)")
        check(image.scalars.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "image values outside [0, 1]")
        accepted = true
    }
    return accepted
}

func fuzzAudio(_ data: Data) -> Bool {
    guard let (info, samples) = try? AudioFile.readInterleaved(data: data, name: "fuzz.wav") else { return false }
    check(samples.count == info.frames * info.channels, "\(samples.count) samples for \(info.frames) frames × \(info.channels)")
    guard info.frames <= 1 << 16 else { return true }
    if let clip = try? AudioFile.read(data: data, name: "fuzz.wav", sampleRate: 16000) {
        check(clip.sampleRate == 16000, "resampled to \(clip.sampleRate)")
    }
    return true
}

func fuzzDataset(_ data: Data) -> Bool {
    let parts = pieces(data, 2)
    let root = scratch + "/dataset"
    guard put(parts[0], root + "/dataset.json"), put(parts[1], root + "/samples.jsonl") else { return false }
    // Skipping bad lines parses every line (failing fast stops at the first bad one).
    guard let dataset = try? Dataset.load(path: root, policy: .skip, log: { _ in }) else { return false }
    for sample in dataset.samples {
        check(sample.label >= 0 && sample.label < dataset.info.labels.count, "label \(sample.label)")
        for path in [sample.imagePath, sample.audioPath].compactMap({ $0 }) {
            check(path.hasPrefix(root + "/"), "media path \(path) outside the dataset folder")
        }
    }
    check(!safeFileName(dataset.info.name).contains("/"), "dataset name makes a path")
    return dataset.warnings.isEmpty
}

func fuzzExperiment(_ data: Data) -> Bool {
    let parts = pieces(data, 3)
    let main = scratch + "/experiment.json"
    guard put(parts[0], main), put(parts[1], scratch + "/base.json") else { return false }
    let overrides = String(decoding: parts[2], as: UTF8.self).split(separator: "\n").prefix(8).map(String.init)
    guard let loaded = try? ConfigLoader.load(main, overrides: overrides) else { return false }
    // What `run` does next before reading data: the resolved file, then the model, when it is
    // small enough to build thousands of times a second.
    let config = loaded.config
    check(!ConfigLoader.resolvedJSON(config).isEmpty, "resolved JSON")
    let inputs = ExperimentData.modelInputs(config)
    var parameters = 0.0
    for modality in Set(config.model.modalities) {
        guard let plan = try? config.model.plan(for: modality, inputs: inputs) else { return true }
        parameters += plan.parameterEstimate + plan.activationEstimate
    }
    guard parameters < 5_000, config.model.text.preset != .pretrained else { return true }
    _ = try? MultimodalClassifier.build(config.model, inputs: inputs, classes: 3, seed: config.seed)
    return true
}

func fuzzSafetensors(_ data: Data) -> Bool {
    guard let (tensors, _) = try? Safetensors.parse(data, path: "fuzz.safetensors") else { return false }
    for (name, tensor) in tensors {
        check(tensor.count == tensor.shape.reduce(1, *), "\(name): \(tensor.count) values for shape \(tensor.shape)")
    }
    return true
}

func fuzzCache(_ data: Data) -> Bool {
    var file: Data
    if data.starts(with: Array("FLCACHE1".utf8)) {
        file = data
    } else {
        let parts = pieces(data, 2)
        var header = parts[0]
        // A "checksum" of "auto" in the header stands for the payload's true checksum.
        let payloadSum = String(format: "%016llx", parts[1].withUnsafeBytes { Hash64.checksum($0) })
        if let text = String(data: header, encoding: .utf8), text.contains("\"auto\"") {
            header = Data(text.replacingOccurrences(of: "\"auto\"", with: "\"\(payloadSum)\"").utf8)
        }
        var length = UInt64(header.count).littleEndian
        let payloadStart = (24 + header.count + 63) / 64 * 64
        header.append(Data(count: payloadStart - 24 - header.count))
        var sum = header.withUnsafeBytes { Hash64.checksum($0) }.littleEndian
        file = Data("FLCACHE1".utf8)
        withUnsafeBytes(of: &length) { file.append(contentsOf: $0) }
        withUnsafeBytes(of: &sum) { file.append(contentsOf: $0) }
        file.append(header)
        file.append(parts[1])
    }
    let path = scratch + "/fuzz.flcache"
    guard put(file, path) else { return false }
    let opened = FeatureCache.open(path: path, classes: 4, vocabulary: 100)
    if ProcessInfo.processInfo.environment["FUSIONLAB_FUZZ_DEBUG"] != nil, case .failure(let why) = opened { print(why) }
    guard case .success(let cache) = opened else { return false }
    for i in 0..<cache.count {
        check(cache.label(i) >= 0 && cache.label(i) < 4, "label")
        if cache.imageRow > 0 { _ = cache.image(i)[cache.imageRow - 1] }
        if cache.audioRow > 0 { _ = cache.audio(i)[cache.audioRow - 1] }
        if cache.textRow > 0 { _ = cache.text(i)[2 * cache.textRow - 1] }
    }
    return true
}

func fuzzMultipart(_ data: Data) -> Bool {
    let newline = data.firstIndex(of: 0x0A) ?? data.endIndex
    let contentType = String(decoding: data[data.startIndex..<newline], as: UTF8.self)
    let body = newline < data.endIndex ? Data(data[(newline + 1)...]) : Data()
    guard let boundary = MultipartForm.boundary(contentType: contentType) else { return false }
    check((1...70).contains(boundary.utf8.count), "boundary of \(boundary.utf8.count) bytes")
    guard let form = try? MultipartForm(body: body, boundary: boundary, maxParts: 8) else { return false }
    check(form.parts.count <= 8, "\(form.parts.count) parts over the limit of 8")
    check(form.parts.allSatisfy { !$0.name.isEmpty }, "a part without a name")
    check(form.parts.reduce(0) { $0 + $1.body.count } <= body.count, "parts hold more bytes than the body")
    return true
}

func fuzzTable(_ data: Data) -> Bool {
    guard let kind = data.first else { return false }
    let ext = ["csv", "tsv", "jsonl"][Int(kind) % 3]
    let root = scratch + "/table"
    let path = root + "/table." + ext
    guard put(Data(data.dropFirst()), path) else { return false }
    if !FileManager.default.fileExists(atPath: root + "/raw/0.png") {
        try? FileManager.default.createDirectory(atPath: root + "/raw", withIntermediateDirectories: true)
        try? PNGEncoder.write(Tensor([0, 0.5, 1, 0.25], shape: [1, 2, 2]), to: root + "/raw/0.png")
        try? AudioFile.write(AudioClip(sampleRate: 8000, samples: [0, 0.1, -0.1, 0.2]), to: root + "/raw/0.wav")
    }
    var options = DatasetImporter.Options()
    options.badRows = .skip
    let read: ([DatasetImporter.Row], [FusionDataError])
    do { read = try DatasetImporter.tableRows(path, options: options, log: { _ in }) } catch {
        if ProcessInfo.processInfo.environment["FUSIONLAB_FUZZ_DEBUG"] != nil { print(error) }
        return false
    }
    let (rows, skipped) = read
    if ProcessInfo.processInfo.environment["FUSIONLAB_FUZZ_DEBUG"] != nil { skipped.forEach { print($0) } }
    check(rows.count + skipped.count <= data.count + 1, "\(rows.count) rows from \(data.count) bytes")
    check(rows.allSatisfy { !$0.label.isEmpty && !$0.id.isEmpty }, "a row without a label or id")
    for row in rows {
        for media in [row.image, row.audio].compactMap({ $0 }) {
            check(FileManager.default.fileExists(atPath: media), "a row kept with missing media \(media)")
        }
    }
    return skipped.isEmpty
}

/// The experiment the `overrides` harness changes: small, valid, every modality.
let overrideBase = """
{"name": "fuzz", "dataset": {"path": "data", "generate": true},
 "preprocessing": {"image": {"height": 8, "width": 8}, "audio": {"duration": 0.1, "n_fft": 64, "hop_length": 32, "n_mels": 8, "n_mfcc": 4}},
 "model": {"image": {"channels": [2], "dim": 4}, "audio": {"channels": [2], "dim": 4}, "text": {"dim": 4, "embedding_dim": 4},
           "fusion": {"dim": 4}, "head": {"hidden": [4]}},
 "training": {"epochs": 1, "batch_size": 4}}
"""

func fuzzOverrides(_ data: Data) -> Bool {
    let main = scratch + "/overrides.json"
    if !FileManager.default.fileExists(atPath: main) { _ = put(Data(overrideBase.utf8), main) }
    let overrides = String(decoding: data, as: UTF8.self).split(separator: "\n").prefix(8).map(String.init)
    guard let loaded = try? ConfigLoader.load(main, overrides: overrides) else { return false }
    let config = loaded.config
    check(!ConfigLoader.resolvedJSON(config).isEmpty, "resolved JSON")
    let inputs = ExperimentData.modelInputs(config)
    for modality in Set(config.model.modalities) {
        guard let plan = try? config.model.plan(for: modality, inputs: inputs) else { return true }
        check(plan.parameterEstimate.isFinite && plan.parameterEstimate >= 0, "parameter estimate \(plan.parameterEstimate)")
    }
    return true
}
