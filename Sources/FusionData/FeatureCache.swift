import FusionMedia
import Dispatch
import Foundation
import FusionTensor

/// Where each part of a cache payload starts, in bytes from the payload's start: the one
/// description of the layout, used by the writer and the reader alike. Built from a header read
/// from disk it checks every size, so a forged header never makes an offset overflow.
struct CacheLayout: Equatable {
    /// Samples, and values per image, audio and text row (a text row holds ids, then the mask).
    let count: Int, imageRow: Int, audioRow: Int, textRow: Int
    /// Labels (Int32 × n) come first, at 0; then valid audio frames (Int32 × n, only when audio is
    /// cached), presence flags (UInt8 × 3n, padded to 4 bytes), image rows (Float32), audio rows
    /// (Float32) and text rows (Int32 ids, then Int32 mask).
    let frames: Int, presence: Int, image: Int, audio: Int, text: Int
    /// The payload's size in bytes.
    let total: Int

    /// The layout a header describes, or nil when a dimension is negative or a size overflows.
    init?(_ h: FeatureCache.Header) {
        func product(_ dims: [Int]?) -> Int? {
            var p = 1
            for d in dims ?? [] {
                guard d >= 0 else { return nil }
                let (r, overflow) = p.multipliedReportingOverflow(by: d)
                if overflow { return nil }
                p = r
            }
            return dims == nil ? 0 : p
        }
        let n = h.ids.count
        guard let imageRow = product(h.imageShape), let audioRow = product(h.audioShape), (h.textLength ?? 0) >= 0,
              (h.textLength ?? 0) < Int.max / 8 else { return nil }
        let textRow = h.textLength ?? 0
        let (row1, o1) = imageRow.addingReportingOverflow(audioRow)
        let (row2, o2) = row1.addingReportingOverflow(2 * textRow)
        let (rowBytes, o3) = row2.multipliedReportingOverflow(by: 4 * n)
        guard !o1, !o2, !o3, rowBytes < Int.max / 2 else { return nil }
        (self.count, self.imageRow, self.audioRow, self.textRow) = (n, imageRow, audioRow, textRow)
        frames = 4 * n
        presence = frames + (h.audioShape == nil ? 0 : 4 * n)
        image = presence + (3 * n + 3) / 4 * 4
        audio = image + 4 * n * imageRow
        text = audio + 4 * n * audioRow
        total = text + 4 * n * 2 * textRow
    }
}

/// One split's preprocessed features in a binary file, memory-mapped for reading.
///
/// File layout: the 8-byte magic `FLCACHE1`, a little-endian UInt64 header length, a UInt64
/// checksum of the header and its padding, a JSON header (`Header`), zero padding to a
/// multiple of 64, then the payload laid out as `CacheLayout` says. The header records the cache
/// key, the payload size and a
/// checksum, so a stale cache (different key) or a corrupt one (wrong size or checksum) is
/// detected at open and rebuilt, never used.
public final class FeatureCache: @unchecked Sendable {
    /// The header stored at the front of the file.
    public struct Header: Codable, Equatable, Sendable {
        /// Format version.
        public var version: Int
        /// Hex cache key: dataset files + preprocessing settings + text vocabulary.
        public var key: String
        /// The split.
        public var split: Split
        /// Sample ids, in cache order.
        public var ids: [String]
        /// `[C, H, W]` of image rows, if images are cached.
        public var imageShape: [Int]?
        /// `[rows, frames]` of audio rows, if audio is cached.
        public var audioShape: [Int]?
        /// Ids per text row, if text is cached.
        public var textLength: Int?
        /// Payload size in bytes.
        public var payloadBytes: Int
        /// Hex checksum of the payload.
        public var checksum: String
        /// Per sample, a hash of what its row was decoded from (id, caption, each file's path,
        /// size and modification time): a later build reuses the rows whose samples are
        /// unchanged, so samples appended to a dataset are the only ones decoded.
        public var fingerprints: [String]? = nil
        /// The text vocabulary's fingerprint: text rows are reused only under the same one.
        public var vocabulary: String? = nil
    }

    /// The fingerprint of `sample` (see `Header.fingerprints`).
    public static func fingerprint(_ sample: DatasetSample) -> String {
        var h = Hash64.fnv1a(Array("\(sample.id)|\(sample.text ?? "\u{0}")".utf8))
        for path in [sample.imagePath, sample.audioPath] {
            guard let path else { h = Hash64.fnv1a([0], seed: h); continue }
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
            let mtime = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            h = Hash64.fnv1a(Array("\(path)|\(size)|\(mtime)".utf8), seed: h)
        }
        return String(format: "%016llx", h)
    }

    static let magic = Array("FLCACHE1".utf8)
    /// 3: audio features computed over each clip's real frames only (padding is 0); Pillow's
    /// resampling filters and 8-bit luma for images.
    static let version = 3

    /// The cache file.
    public let path: String
    /// Its header.
    public let header: Header
    private let mapping: UnsafeMutableRawPointer
    private let mappedBytes: Int
    private let payload: UnsafeRawPointer
    private let offsets: CacheLayout

    /// The number of samples.
    public var count: Int { header.ids.count }
    /// Floats per image row.
    public var imageRow: Int { offsets.imageRow }
    /// Floats per audio row.
    public var audioRow: Int { offsets.audioRow }
    /// Int32 ids per text row (the mask follows).
    public var textRow: Int { offsets.textRow }

    private init(path: String, header: Header, layout: CacheLayout, mapping: UnsafeMutableRawPointer, mappedBytes: Int, payload: UnsafeRawPointer) {
        self.path = path
        self.header = header
        self.mapping = mapping
        self.mappedBytes = mappedBytes
        self.payload = payload
        offsets = layout
    }

    deinit { munmap(mapping, mappedBytes) }

    /// Class id of sample `i`.
    public func label(_ i: Int) -> Int32 { payload.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self) }

    /// How many leading frames of sample `i`'s MFCC matrix come from real audio rather than
    /// padding (the frames its unpadded clip gives); 0 when it has no audio or none is cached.
    public func audioFrames(_ i: Int) -> Int {
        header.audioShape == nil ? 0 : Int(payload.loadUnaligned(fromByteOffset: offsets.frames + 4 * i, as: Int32.self))
    }

    /// Whether sample `i` has `modality`.
    public func has(_ i: Int, _ modality: Modality) -> Bool {
        let k = Modality.allCases.firstIndex(of: modality) ?? 0
        return payload.load(fromByteOffset: offsets.presence + 3 * i + k, as: UInt8.self) != 0
    }

    /// The cached image of sample `i` (`imageRow` floats).
    public func image(_ i: Int) -> UnsafePointer<Float> {
        (payload + offsets.image + 4 * i * imageRow).assumingMemoryBound(to: Float.self)
    }

    /// The cached MFCC matrix of sample `i` (`audioRow` floats).
    public func audio(_ i: Int) -> UnsafePointer<Float> {
        (payload + offsets.audio + 4 * i * audioRow).assumingMemoryBound(to: Float.self)
    }

    /// The cached token ids of sample `i` (`textRow` ids followed by `textRow` mask values).
    public func text(_ i: Int) -> UnsafePointer<Int32> {
        (payload + offsets.text + 4 * i * 2 * textRow).assumingMemoryBound(to: Int32.self)
    }

    /// The cache key for one split of a dataset under some settings: a hash of dataset.json,
    /// samples.jsonl, the path, size and modification time of every file the split uses, the
    /// settings and the text vocabulary.
    public static func key(dataset: Dataset, split: Split, settings: PreprocessingSettings, textEncoder: TextEncoder?) throws -> String {
        var h = Hash64.fnv1a(Array("v\(version) \(split.rawValue)".utf8))
        h = Hash64.fnv1a(try FileIO.read(dataset.root + "/dataset.json"), seed: h)
        h = Hash64.fnv1a(try FileIO.read(dataset.root + "/" + dataset.info.samples), seed: h)
        for sample in dataset.samples(in: split) {
            for path in [sample.imagePath, sample.audioPath].compactMap({ $0 }) {
                let attributes = try? FileManager.default.attributesOfItem(atPath: path)
                let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
                let mtime = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                h = Hash64.fnv1a(Array("\(path)|\(size)|\(mtime)".utf8), seed: h)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        h = Hash64.fnv1a(try encoder.encode(settings.cached), seed: h)
        if let textEncoder { h = Hash64.fnv1a(Array("\(type(of: textEncoder)) \(textEncoder.vocabularyFingerprint)".utf8), seed: h) }
        return String(format: "%016llx", h)
    }

    /// Opens a cache file, checking magic, header, expected key, size and checksum, then every
    /// value a reader indexes with: labels in `0..<classes`, valid frames within the audio rows,
    /// presence flags and mask values 0 or 1, token ids in `0..<vocabulary`, features finite.
    /// (`classes` and `vocabulary` are checked when given.) Returns the cache, or the reason it
    /// cannot be used.
    public static func open(path: String, expectedKey: String? = nil, classes: Int? = nil,
                            vocabulary: Int? = nil) -> Result<FeatureCache, FusionDataError> {
        func bad(_ why: String) -> Result<FeatureCache, FusionDataError> { .failure(FusionDataError(file: path, why)) }
        let fd = Foundation.open(path, O_RDONLY)
        guard fd >= 0 else { return bad("cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 24 else { return bad("too small to be a cache") }
        let size = Int(st.st_size)
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            return bad("cannot memory-map: \(String(cString: strerror(errno)))")
        }
        let raw = UnsafeRawBufferPointer(start: mapped, count: size)
        func fail(_ why: String) -> Result<FeatureCache, FusionDataError> { munmap(mapped, size); return bad(why) }
        guard Array(raw[0..<8]) == magic else { return fail("not a FusionLab feature cache (bad magic)") }
        let storedLength = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        guard storedLength > 0, storedLength < UInt64(size - 24) else { return fail("header length \(storedLength) does not fit the file") }
        let headerLength = Int(storedLength)
        let payloadStart = (24 + headerLength + 63) / 64 * 64
        guard payloadStart <= size else { return fail("header length \(headerLength) does not fit the file") }
        let headerSum = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian
        guard Hash64.checksum(UnsafeRawBufferPointer(rebasing: raw[24..<payloadStart])) == headerSum else {
            return fail("header checksum mismatch: the header is corrupt")
        }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(raw[24..<(24 + headerLength)])) } catch {
            return fail("corrupt header: \(error)")
        }
        guard header.version == version else { return fail("format version \(header.version), expected \(version)") }
        if let expectedKey, header.key != expectedKey { return fail("stale: key \(header.key), expected \(expectedKey)") }
        guard let layout = CacheLayout(header), header.payloadBytes == layout.total, payloadStart + layout.total == size else {
            return fail("size \(size) bytes does not match the header (payload \(header.payloadBytes) from offset \(payloadStart))")
        }
        let sum = Hash64.checksum(UnsafeRawBufferPointer(rebasing: raw[payloadStart..<size]))
        guard String(format: "%016llx", sum) == header.checksum else { return fail("checksum mismatch: the payload is corrupt") }
        let cache = FeatureCache(path: path, header: header, layout: layout, mapping: mapped, mappedBytes: size,
                                 payload: UnsafeRawPointer(mapped + payloadStart))
        if let problem = cache.firstInvalidValue(classes: classes, vocabulary: vocabulary) {
            return .failure(FusionDataError(file: path, problem))  // `cache` unmaps on release
        }
        return .success(cache)
    }

    /// The first stored value that would index out of range or is not finite, described; nil
    /// when every value is in range.
    private func firstInvalidValue(classes: Int?, vocabulary: Int?) -> String? {
        let n = count
        guard (header.imageShape?.count ?? 3) == 3, (header.audioShape?.count ?? 2) == 2 else {
            return "header shapes have the wrong rank (image [C, H, W], audio [rows, frames])"
        }
        let frameLimit = header.audioShape?.last ?? 0
        for i in 0..<n {
            let id = header.ids[i]
            let l = Int(label(i))
            guard l >= 0, l < (classes ?? Int(Int32.max)) else { return "sample \(id): label \(l) is out of range" }
            let frames = audioFrames(i)
            guard frames >= 0, frames <= frameLimit else { return "sample \(id): \(frames) valid frames, rows have \(frameLimit)" }
            for k in 0..<3 where payload.load(fromByteOffset: offsets.presence + 3 * i + k, as: UInt8.self) > 1 {
                return "sample \(id): presence flag is not 0 or 1"
            }
            if textRow > 0 {
                let row = text(i)
                for t in 0..<textRow {
                    let token = Int(row[t]), mask = row[textRow + t]
                    guard token >= 0, token < (vocabulary ?? Int(Int32.max)) else { return "sample \(id): token id \(token) is out of range" }
                    guard mask == 0 || mask == 1 else { return "sample \(id): text mask value \(mask) is not 0 or 1" }
                }
            }
        }
        for (name, start, floats) in [("image", offsets.image, n * imageRow), ("audio", offsets.audio, n * audioRow)] where floats > 0 {
            let values = UnsafeBufferPointer(start: (payload + start).assumingMemoryBound(to: Float.self), count: floats)
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                let row = bad / (name == "image" ? imageRow : audioRow)
                return "sample \(header.ids[row]): \(name) feature is not finite"
            }
        }
        return nil
    }

    /// Opens the cache for `split` in `directory` if it is current, otherwise (missing, stale
    /// or corrupt, each logged) preprocesses the split over `threads` threads and writes it.
    /// Samples whose files fail to decode stop the build under `.failFast`, or are skipped with
    /// a logged warning under `.skip`.
    public static func load(dataset: Dataset, split: Split, settings: PreprocessingSettings, textEncoder: TextEncoder?,
                            directory: String, policy: BadSamplePolicy = .failFast,
                            threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                            log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> FeatureCache {
        let key = try key(dataset: dataset, split: split, settings: settings, textEncoder: textEncoder)
        // One file per split and preprocessing (so experiments with different settings keep their
        // own caches); a change of the dataset's files makes that file stale, and it is rebuilt.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // The vocabulary is in the key, not in the file name: a training split that grows changes
        // a built vocabulary, and the stale file at the same name still lends its image and
        // audio rows (text is encoded again under the new vocabulary).
        var tag = Hash64.fnv1a(try encoder.encode(settings.cached))
        if let textEncoder { tag = Hash64.fnv1a(Array("\(type(of: textEncoder))".utf8), seed: tag) }
        // A cache built while skipping bad samples never serves a run that must fail on them.
        if policy == .skip { tag = Hash64.fnv1a(Array("bad_samples=skip".utf8), seed: tag) }
        let path = "\(directory)/\(safeFileName(dataset.info.name))-\(split.rawValue)-\(String(format: "%08llx", tag & 0xFFFF_FFFF)).flcache"
        var previous: FeatureCache?
        if FileManager.default.fileExists(atPath: path) {
            switch open(path: path, expectedKey: key, classes: dataset.info.labels.count, vocabulary: textEncoder?.vocabularySize) {
            case .success(let cache): return cache
            case .failure(let reason):
                log("feature cache: rebuilding: \(reason)")
                // A stale but sound cache of the same settings lends the rows of unchanged samples.
                if case .success(let old) = open(path: path, classes: nil, vocabulary: nil), old.header.fingerprints != nil {
                    previous = old
                }
            }
        }
        try FeatureCacheBuilder.build(dataset: dataset, split: split, settings: settings, textEncoder: textEncoder,
                                      key: key, path: path, policy: policy, threads: threads, previous: previous, log: log)
        switch open(path: path, expectedKey: key, classes: dataset.info.labels.count, vocabulary: textEncoder?.vocabularySize) {
        case .success(let cache): return cache
        case .failure(let reason): throw reason
        }
    }
}

extension TextEncoder {
    /// A hash identifying the vocabulary, part of the cache key.
    public var vocabularyFingerprint: UInt64 {
        if let w = self as? WordPieceTokenizer { return Hash64.fnv1a(Array(w.vocabulary.joined(separator: "\n").utf8)) }
        if let w = self as? WordVocabulary { return Hash64.fnv1a(Array(w.words.joined(separator: "\n").utf8)) }
        return UInt64(vocabularySize)
    }
}

/// `name` as one file-name component: letters, digits, `-`, `_` and `.` kept, everything else
/// (slashes, `..` runs, control characters) replaced by `_`, so a name from a file never
/// escapes its folder.
public func safeFileName(_ name: String) -> String {
    var out = String(name.unicodeScalars.map { c -> Character in
        (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == "_" || c == ".") && c.isASCII ? Character(c) : "_"
    })
    while out.contains("..") { out = out.replacingOccurrences(of: "..", with: "_") }
    if out.isEmpty || out.hasPrefix(".") { out = "_" + out }
    return String(out.prefix(100))
}
