import FusionMedia
import Foundation

/// `dataset.json`: `{"name", "task": "classification", "labels": [...], "samples": "samples.jsonl", "source"}`.
public struct DatasetInfo: Codable, Equatable, Sendable {
    /// The dataset's name.
    public var name: String
    /// The task; only "classification" is supported.
    public var task: String
    /// Class names; a label's index here is its class id.
    public var labels: [String]
    /// The samples file, relative to the dataset folder.
    public var samples: String
    /// Where the data came from (free text).
    public var source: String?
    /// The media's sizes, rates and lengths, as `fusionlab import` found them.
    public var media: MediaStatistics?

    /// A classification dataset description.
    public init(name: String, labels: [String], samples: String = "samples.jsonl", source: String? = nil, media: MediaStatistics? = nil) {
        self.name = name
        self.task = "classification"
        self.labels = labels
        self.samples = samples
        self.source = source
        self.media = media
    }
}

/// One line of `samples.jsonl`, with paths resolved against the dataset folder.
public struct DatasetSample: Equatable, Sendable {
    /// The sample's unique id.
    public var id: String
    /// Its split.
    public var split: Split
    /// Its class id (index into `DatasetInfo.labels`).
    public var label: Int
    /// The text, if the sample has one.
    public var text: String?
    /// Absolute path of the PNG image, if any.
    public var imagePath: String?
    /// Absolute path of the audio file, if any.
    public var audioPath: String?
    /// The 1-based line in samples.jsonl.
    public var line: Int

    /// Whether the sample carries `modality`.
    public func has(_ modality: Modality) -> Bool {
        switch modality {
        case .text: return text != nil
        case .image: return imagePath != nil
        case .audio: return audioPath != nil
        }
    }
}

/// What to do with a bad sample line.
public enum BadSamplePolicy: String, ConfigChoice {
    /// Stop at the first bad line with its error.
    case failFast = "fail"
    /// Skip it, count it and log a warning naming the file and line.
    case skip
}

/// A dataset folder read and validated: every line of samples.jsonl is checked (JSON, keys and
/// types, known label and split, unique id, paths inside the folder that name readable files).
public struct Dataset: Sendable {
    /// The dataset folder (absolute).
    public let root: String
    /// dataset.json.
    public let info: DatasetInfo
    /// Every valid sample, in file order.
    public let samples: [DatasetSample]
    /// One warning per skipped line (empty under `.failFast`).
    public let warnings: [FusionDataError]

    /// The samples of one split.
    public func samples(in split: Split) -> [DatasetSample] { samples.filter { $0.split == split } }

    /// The same dataset with each sample moved to the split `assign` gives it, or dropped where
    /// it gives nil: a seeded split of a dataset that lacks one, or a training split limited to a
    /// few labels.
    public func resplit(_ assign: (DatasetSample) -> Split?) -> Dataset {
        var moved: [DatasetSample] = []
        for var sample in samples {
            guard let split = assign(sample) else { continue }
            sample.split = split
            moved.append(sample)
        }
        return Dataset(root: root, info: info, samples: moved, warnings: warnings)
    }

    /// Reads and validates the dataset folder at `path`. Bad lines throw under `.failFast`, or
    /// are skipped, counted in `warnings` and passed to `log` under `.skip`. dataset.json
    /// problems always throw.
    public static func load(path: String, policy: BadSamplePolicy = .failFast,
                            log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> Dataset {
        let root = URL(fileURLWithPath: path).standardizedFileURL.path
        let infoPath = root + "/dataset.json"
        let info = try readInfo(infoPath)
        let samplesPath = try resolve(info.samples, root: root, file: infoPath, line: nil, key: "samples")
        let data = try FileIO.read(samplesPath)
        guard let text = String(data: data, encoding: .utf8) else {
            throw FusionDataError(file: samplesPath, "not valid UTF-8")
        }
        var samples = [DatasetSample](), warnings = [FusionDataError](), seen = [String: Int]()
        let labelIndex = Dictionary(info.labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        // "\r\n" is one Character in Swift: split on it too, so CRLF files read line by line.
        for (offset, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let lineNumber = offset + 1
            if rawLine.allSatisfy({ $0.isWhitespace }) { continue }
            do {
                let sample = try parseLine(String(rawLine), line: lineNumber, file: samplesPath, root: root,
                                           labels: labelIndex, info: info)
                if let first = seen[sample.id] {
                    throw FusionDataError(file: samplesPath, line: lineNumber, "duplicate id \"\(sample.id)\" (first on line \(first))")
                }
                seen[sample.id] = lineNumber
                samples.append(sample)
            } catch let error as FusionDataError {
                if policy == .failFast { throw error }
                warnings.append(error)
                log("warning: skipped sample: \(error)")
            }
        }
        if !warnings.isEmpty { log("warning: skipped \(warnings.count) bad sample line(s) in \(samplesPath)") }
        return Dataset(root: root, info: info, samples: samples, warnings: warnings)
    }

    private static func readInfo(_ path: String) throws -> DatasetInfo {
        let data = try FileIO.read(path)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw FusionDataError(file: path, "malformed JSON: \(error.localizedDescription)")
        }
        guard let dict = object as? [String: Any] else { throw FusionDataError(file: path, "expected a JSON object") }
        let known: Set = ["name", "task", "labels", "samples", "source", "media"]
        if let unknown = dict.keys.sorted().first(where: { !known.contains($0) }) {
            throw FusionDataError(file: path, "unknown key \"\(unknown)\" (expected one of \(known.sorted().joined(separator: ", ")))")
        }
        guard let name = dict["name"] as? String else { throw FusionDataError(file: path, "\"name\": expected a string") }
        let task = dict["task"] as? String ?? "classification"
        guard task == "classification" else { throw FusionDataError(file: path, "\"task\": expected \"classification\", got \"\(task)\"") }
        guard let labels = dict["labels"] as? [String], !labels.isEmpty else {
            throw FusionDataError(file: path, "\"labels\": expected a non-empty array of strings")
        }
        guard Set(labels).count == labels.count else { throw FusionDataError(file: path, "\"labels\": names must be unique") }
        if dict["samples"] != nil && !(dict["samples"] is String) { throw FusionDataError(file: path, "\"samples\": expected a string") }
        if dict["source"] != nil && !(dict["source"] is String) { throw FusionDataError(file: path, "\"source\": expected a string") }
        var media: MediaStatistics?
        if let value = dict["media"] {
            // Statistics are advice: a file whose "media" this version cannot read still loads.
            media = (try? JSONSerialization.data(withJSONObject: value)).flatMap { try? JSONDecoder().decode(MediaStatistics.self, from: $0) }
        }
        var info = DatasetInfo(name: name, labels: labels, samples: dict["samples"] as? String ?? "samples.jsonl",
                               source: dict["source"] as? String, media: media)
        info.task = task
        return info
    }

    private static func parseLine(_ line: String, line number: Int, file: String, root: String,
                                  labels: [String: Int], info: DatasetInfo) throws -> DatasetSample {
        func fail(_ message: String) -> FusionDataError { FusionDataError(file: file, line: number, message) }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(line.utf8)) } catch {
            throw fail("malformed JSON: \(error.localizedDescription)")
        }
        guard let dict = object as? [String: Any] else { throw fail("expected a JSON object") }
        let known: Set = ["id", "split", "label", "text", "image", "audio", "source"]
        if let unknown = dict.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("unknown key \"\(unknown)\" (expected one of \(known.sorted().joined(separator: ", ")))")
        }
        // Where an imported sample came from: kept for the researcher, not read.
        if dict["source"] != nil && !(dict["source"] is [String: Any]) { throw fail("\"source\": expected an object") }
        guard let id = dict["id"] as? String, !id.isEmpty else { throw fail("\"id\": expected a non-empty string") }
        guard let splitName = dict["split"] as? String else { throw fail("\"split\": expected a string") }
        guard let split = Split(rawValue: splitName) else { throw fail("\"split\": unknown split \"\(splitName)\" (expected train, val or test)") }
        guard let labelName = dict["label"] as? String else { throw fail("\"label\": expected a string") }
        guard let label = labels[labelName] else {
            throw fail("\"label\": unknown label \"\(labelName)\" (dataset.json lists \(info.labels.joined(separator: ", ")))")
        }
        if dict["text"] != nil && !(dict["text"] is String) { throw fail("\"text\": expected a string") }
        var paths = [String: String]()
        for key in ["image", "audio"] {
            guard let value = dict[key] else { continue }
            guard let relative = value as? String else { throw fail("\"\(key)\": expected a path string") }
            let path = try resolve(relative, root: root, file: file, line: number, key: key)
            guard FileManager.default.fileExists(atPath: path) else { throw fail("\"\(key)\": file \(relative) does not exist") }
            guard access(path, R_OK) == 0 else { throw fail("\"\(key)\": file \(relative) is not readable") }
            paths[key] = path
        }
        let text = dict["text"] as? String
        if text == nil && paths.isEmpty { throw fail("sample has no text, image or audio") }
        return DatasetSample(id: id, split: split, label: label, text: text, imagePath: paths["image"],
                             audioPath: paths["audio"], line: number)
    }

    /// `relative` resolved against `root`; absolute paths and paths that leave the folder are errors.
    static func resolve(_ relative: String, root: String, file: String, line: Int?, key: String) throws -> String {
        guard !relative.isEmpty, !relative.hasPrefix("/") else {
            throw FusionDataError(file: file, line: line, "\"\(key)\": expected a path relative to the dataset folder, got \"\(relative)\"")
        }
        let resolved = URL(fileURLWithPath: root + "/" + relative).standardizedFileURL.resolvingSymlinksInPath().path
        let base = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        guard resolved.hasPrefix(base + "/") else {
            throw FusionDataError(file: file, line: line, "\"\(key)\": path \"\(relative)\" leaves the dataset folder")
        }
        return resolved
    }
}

/// Writes dataset folders (dataset.json + samples.jsonl), each file atomically.
public enum DatasetWriter {
    /// One sample line to write; paths are relative to the dataset folder.
    public struct Record: Equatable, Sendable {
        /// Unique id.
        public var id: String
        /// Split.
        public var split: Split
        /// Label name (must be in the dataset's labels).
        public var label: String
        /// Optional text.
        public var text: String?
        /// Optional image path (relative).
        public var image: String?
        /// Optional audio path (relative).
        public var audio: String?
        /// Where an imported sample came from: the table and its line, the original media files.
        public var source: Source?

        /// A record with the given fields.
        public init(id: String, split: Split, label: String, text: String? = nil, image: String? = nil, audio: String? = nil,
                    source: Source? = nil) {
            (self.id, self.split, self.label, self.text, self.image, self.audio, self.source) = (id, split, label, text, image, audio, source)
        }
    }

    /// An imported sample's origin, written as `"source"` in samples.jsonl.
    public struct Source: Codable, Equatable, Sendable {
        /// The table (absolute path) and the line the sample was on; nil for folder imports.
        public var table: String?, line: Int?
        /// The original image and audio files (absolute paths).
        public var image: String?, audio: String?

        /// An origin.
        public init(table: String? = nil, line: Int? = nil, image: String? = nil, audio: String? = nil) {
            (self.table, self.line, self.image, self.audio) = (table, line, image, audio)
        }
    }

    /// One samples.jsonl line.
    private struct Line: Encodable {
        var id: String, split: String, label: String, text: String?, image: String?, audio: String?, source: Source?
    }

    /// Writes `info` and `records` into `folder` (created if needed). Labels not in `info.labels`
    /// are an error; nothing is written then.
    public static func write(info: DatasetInfo, records: [Record], to folder: String) throws {
        let labels = Set(info.labels)
        if let bad = records.first(where: { !labels.contains($0.label) }) {
            throw FusionDataError(file: folder + "/" + info.samples, "sample \"\(bad.id)\": label \"\(bad.label)\" is not in labels")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileIO.writeAtomically(encoder.encode(info), to: folder + "/dataset.json")
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lines = Data()
        for r in records {
            lines += try encoder.encode(Line(id: r.id, split: r.split.rawValue, label: r.label, text: r.text, image: r.image,
                                             audio: r.audio, source: r.source))
            lines += Data("\n".utf8)
        }
        try FileIO.writeAtomically(lines, to: folder + "/" + info.samples)
    }
}
