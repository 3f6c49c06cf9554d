import FusionMedia
import Foundation
import FusionTensor

/// Builds a dataset folder (dataset.json, samples.jsonl, media/) from a researcher's own data:
/// a CSV, TSV or JSONL table with a label column and text, image-path and audio-path columns,
/// or a folder per class (optionally inside train/val/test folders). Every media file is decoded
/// as it is imported, so a bad one is reported with the table line that names it, never found
/// mid-training; the folder appears only once complete.
public enum DatasetImporter {
    /// How media files reach the dataset folder.
    public enum Media: String, ConfigChoice {
        /// Copy each file (the dataset folder is self-contained).
        case copy
        /// Hard-link each file (no extra space; the source must be on the same file system).
        case link
    }

    /// Column names of a table; nil picks the first header among the usual names.
    public struct Columns: Sendable {
        /// The class label (required): label, class, category, target or y.
        public var label: String?
        /// Free text: text, caption, sentence, transcript or utterance.
        public var text: String?
        /// An image path, relative to the table: image, image_path, img, picture or photo.
        public var image: String?
        /// An audio path, relative to the table: audio, audio_path, wav, sound or speech.
        public var audio: String?
        /// train, val (or valid, validation, dev) or test: split, fold, set or subset.
        public var split: String?
        /// A unique sample id: id, sample_id, uid or key (default: the row's line number).
        public var id: String?
        /// Every column picked automatically.
        public init() {}
    }

    /// Import settings.
    public struct Options: Sendable {
        /// The dataset's name (default: the output folder's name).
        public var name: String?
        /// Copy or hard-link media.
        public var media: Media = .copy
        /// Table columns.
        public var columns = Columns()
        /// Fractions split off for validation and test when the source has no split, per label.
        public var valFraction = 0.15, testFraction = 0.15
        /// The seed of that split.
        public var splitSeed: UInt64 = 0
        /// What a bad row does: stop with its error, or be skipped and counted.
        public var badRows: BadSamplePolicy = .failFast
        /// Replace an existing output folder.
        public var force = false
        /// Defaults.
        public init() {}
    }

    /// What an import wrote.
    public struct Report: Sendable {
        /// The dataset folder.
        public var folder: String
        /// Samples per split.
        public var splits: [Split: Int]
        /// Samples per label, in label order.
        public var labels: [(String, Int)]
        /// Rows skipped under `.skip`, with their errors.
        public var skipped: [FusionDataError]
        /// Whether the split came from the source (a column or folders) rather than being drawn.
        public var splitFromSource: Bool
    }

    /// One sample on its way in: where it came from and its source files.
    package struct Row {
        package var id: String
        package var label: String
        package var split: Split?
        package var text: String?
        package var image: String?
        package var audio: String?
        package var line: Int?
        /// The table the row came from (nil for folder imports).
        package var table: String?
    }

    /// Image files a folder import takes, by extension.
    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]
    /// Audio files a folder import takes, by extension.
    static let audioExtensions: Set<String> = ["wav", "flac", "ogg", "oga", "aif", "aiff", "au", "caf", "w64", "mp3"]

    /// Imports `source`: a folder (folder-per-class) or a .csv, .tsv or .jsonl table.
    public static func run(source: String, to folder: String, options: Options = Options(),
                           log: (String) -> Void = { _ in }) throws -> Report {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw FusionDataError(file: source, "no such file or folder")
        }
        let target = URL(fileURLWithPath: folder).standardizedFileURL.path
        if !options.force, let contents = try? FileManager.default.contentsOfDirectory(atPath: target), !contents.isEmpty {
            throw FusionDataError(file: target, "already exists and is not empty; pass --force to replace it")
        }
        let (rows, skipped) = isDirectory.boolValue
            ? (try folderRows(source, options: options, log: log), [FusionDataError]())
            : try tableRows(source, options: options, log: log)
        return try write(rows, skipped: skipped, to: folder, options: options, source: source, log: log)
    }

    // MARK: - Tables

    package static func tableRows(_ path: String, options: Options, log: (String) -> Void) throws -> ([Row], [FusionDataError]) {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        guard ["csv", "tsv", "txt", "jsonl", "ndjson", "json"].contains(ext) else {
            throw FusionDataError(file: path, "expected a .csv, .tsv or .jsonl table, or a folder with one subfolder per class")
        }
        let data = try FileIO.read(path)
        guard let text = String(data: data, encoding: .utf8) else { throw FusionDataError(file: path, "not valid UTF-8") }
        let records = ["jsonl", "ndjson", "json"].contains(ext)
            ? try jsonLines(text, file: path) : try CSV.records(text, delimiter: ext == "tsv" ? "\t" : ",", file: path)
        guard !records.isEmpty else { throw FusionDataError(file: path, "the table has no rows") }
        let headers = Set(records.flatMap { $0.fields.keys })
        func column(_ given: String?, _ usual: [String], _ role: String) throws -> String? {
            if let given {
                guard headers.contains(given) else {
                    throw FusionDataError(file: path, "no \(role) column \"\(given)\" (columns: \(headers.sorted().joined(separator: ", ")))")
                }
                return given
            }
            return usual.first { headers.contains($0) } ?? usual.first { u in headers.contains { $0.lowercased() == u } }
                .flatMap { u in headers.first { $0.lowercased() == u } }
        }
        let c = options.columns
        guard let labelColumn = try column(c.label, ["label", "class", "category", "target", "y"], "label") else {
            throw FusionDataError(file: path, "no label column: name one with --label-column (columns: \(headers.sorted().joined(separator: ", ")))")
        }
        let textColumn = try column(c.text, ["text", "caption", "sentence", "transcript", "utterance"], "text")
        let imageColumn = try column(c.image, ["image", "image_path", "img", "picture", "photo"], "image")
        let audioColumn = try column(c.audio, ["audio", "audio_path", "wav", "sound", "speech", "recording", "clip", "voice"], "audio")
        let splitColumn = try column(c.split, ["split", "fold", "set", "subset"], "split")
        let idColumn = try column(c.id, ["id", "sample_id", "uid", "key"], "id")
        guard textColumn != nil || imageColumn != nil || audioColumn != nil else {
            throw FusionDataError(file: path, "no text, image or audio column (columns: \(headers.sorted().joined(separator: ", "))); "
                                  + "name them with --text-column, --image-column, --audio-column")
        }
        let used = Set([labelColumn, textColumn, imageColumn, audioColumn, splitColumn, idColumn].compactMap { $0 })
        let ignored = headers.subtracting(used).sorted()
        if !ignored.isEmpty { log("import: ignoring column(s) \(ignored.joined(separator: ", "))") }
        log("import: label \"\(labelColumn)\"" + [("text", textColumn), ("image", imageColumn), ("audio", audioColumn),
                                                   ("split", splitColumn), ("id", idColumn)]
            .compactMap { role, name in name.map { ", \(role) \"\($0)\"" } }.joined())
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        var outside: [String] = []
        // Media paths are relative to the table's folder, or absolute; files outside that folder
        // are imported too, and reported.
        func media(_ value: String?) -> String? {
            guard let value, !value.isEmpty else { return nil }
            let resolved = URL(fileURLWithPath: value.hasPrefix("/") ? value : base + "/" + value).standardizedFileURL.path
            if !resolved.hasPrefix(base + "/") { outside.append(value) }
            return resolved
        }
        defer {
            if !outside.isEmpty {
                log("import: \(outside.count) media path(s) lie outside the table's folder \(base) and were imported from there "
                    + "(e.g. \(outside.prefix(3).joined(separator: ", ")))")
            }
        }
        var rows = [Row](), skipped = [FusionDataError]()
        for (line, fields) in records {
            do {
                guard let label = fields[labelColumn], !label.isEmpty else {
                    throw FusionDataError(file: path, line: line, "\"\(labelColumn)\": the label is empty")
                }
                var split: Split?
                if let splitColumn, let value = fields[splitColumn], !value.isEmpty {
                    guard let parsed = parseSplit(value) else {
                        throw FusionDataError(file: path, line: line, "\"\(splitColumn)\": unknown split \"\(value)\" (expected train, val or test)")
                    }
                    split = parsed
                }
                let text = textColumn.flatMap { fields[$0] }.flatMap { $0.isEmpty ? nil : $0 }
                var row = Row(id: idColumn.flatMap { fields[$0] } ?? "row\(line)", label: label, split: split, text: text,
                              image: media(imageColumn.flatMap { fields[$0] }), audio: media(audioColumn.flatMap { fields[$0] }), line: line,
                              table: URL(fileURLWithPath: path).standardizedFileURL.path)
                if row.id.isEmpty { row.id = "row\(line)" }
                guard row.text != nil || row.image != nil || row.audio != nil else {
                    throw FusionDataError(file: path, line: line, "the row has no text, image or audio")
                }
                try check(row, table: path)
                rows.append(row)
            } catch let error as FusionDataError {
                if options.badRows == .failFast { throw error }
                skipped.append(error)
                log("warning: skipped row: \(error)")
            }
        }
        if idColumn == nil { identifyByFileStem(&rows, log: log) }
        return (rows, skipped)
    }

    /// Without an id column, a row is named by its media file's stem (the image's, else the
    /// audio's: `photos/cat_017.jpg` → `cat_017`), the name the lab knows it by, when those stems
    /// are unique; otherwise by its line (`row17`), and the log says why.
    static func identifyByFileStem(_ rows: inout [Row], log: (String) -> Void) {
        let stems = rows.map { row in (row.image ?? row.audio).map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent } }
        var seen = Set<String>()
        let repeated = stems.compactMap { $0 }.first { !seen.insert($0).inserted }
        guard stems.allSatisfy({ $0 != nil }), repeated == nil else {
            let why = repeated.map { "file name \"\($0)\" repeats" } ?? "some rows have no media file"
            log("import: no id column, and the media file names cannot name the samples (\(why)): ids are the line numbers (row<N>)")
            return
        }
        for k in rows.indices { if let stem = stems[k] { rows[k].id = stem } }
        log("import: no id column: samples are named by their media file names")
    }

    static func parseSplit(_ value: String) -> Split? {
        switch value.lowercased() {
        case "train", "training": return .train
        case "val", "valid", "validation", "dev": return .val
        case "test", "testing": return .test
        default: return nil
        }
    }

    static func jsonLines(_ text: String, file: String) throws -> [(line: Int, fields: [String: String])] {
        var out = [(line: Int, fields: [String: String])]()
        // "\r\n" is one Character in Swift: splitting on "\n" alone would keep a CRLF file in one line.
        for (offset, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).enumerated() {
            if raw.allSatisfy({ $0.isWhitespace }) { continue }
            let object: Any
            do { object = try JSONSerialization.jsonObject(with: Data(raw.utf8)) } catch {
                throw FusionDataError(file: file, line: offset + 1, "malformed JSON: \(error.localizedDescription)")
            }
            guard let dict = object as? [String: Any] else { throw FusionDataError(file: file, line: offset + 1, "expected a JSON object") }
            var fields = [String: String]()
            for (key, value) in dict {
                switch value {
                case let s as String: fields[key] = s
                case let n as NSNumber: fields[key] = n.stringValue
                case is NSNull: continue
                default: throw FusionDataError(file: file, line: offset + 1, "\"\(key)\": expected a string or number")
                }
            }
            out.append((offset + 1, fields))
        }
        return out
    }

    // MARK: - Folders

    static func folderRows(_ root: String, options: Options, log: (String) -> Void) throws -> [Row] {
        let fm = FileManager.default
        func subfolders(_ path: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { name in
                var isDirectory: ObjCBool = false
                return !name.hasPrefix(".") && fm.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory) && isDirectory.boolValue
            }.sorted()
        }
        let top = subfolders(root)
        guard !top.isEmpty else { throw FusionDataError(file: root, "expected one subfolder per class (or train/val/test folders of class folders)") }
        // train/val/test at the top: each holds class folders, and the split comes from the folder.
        let splitFolders = top.compactMap { name in parseSplit(name).map { (name, $0) } }
        let layout: [(folder: String, split: Split?)] = splitFolders.count == top.count
            ? splitFolders.map { (root + "/" + $0.0, $0.1) } : [(root, nil)]
        var rows = [Row]()
        for (folder, split) in layout {
            for label in subfolders(folder) {
                // A class folder that is a symbolic link is followed (the enumerator would not descend into it).
                let linked = folder + "/" + label
                let classFolder = URL(fileURLWithPath: linked).resolvingSymlinksInPath().path
                if classFolder != URL(fileURLWithPath: linked).standardizedFileURL.path {
                    log("import: class folder \(linked) is a symbolic link; following it to \(classFolder)")
                }
                guard let walker = fm.enumerator(atPath: classFolder) else {
                    log("import: skipping class folder \(linked): it cannot be read")
                    continue
                }
                var found = 0
                defer { if found == 0 { log("import: class folder \(linked) holds no image, audio or .txt file; no samples for \"\(label)\"") } }
                var groups = [String: Row]()
                while let relative = walker.nextObject() as? String {
                    let path = classFolder + "/" + relative
                    var isDirectory: ObjCBool = false
                    guard !URL(fileURLWithPath: relative).lastPathComponent.hasPrefix("."),
                          fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                    let url = URL(fileURLWithPath: relative)
                    let ext = url.pathExtension.lowercased()
                    let stem = url.deletingPathExtension().relativePath
                    let id = (split.map { "\($0.rawValue)/" } ?? "") + label + "/" + stem
                    var row = groups[stem] ?? Row(id: id, label: label, split: split)
                    if imageExtensions.contains(ext) {
                        if let other = row.image { throw FusionDataError(file: path, "two images for sample \(stem): \(other) and \(path)") }
                        row.image = path
                    } else if audioExtensions.contains(ext) {
                        if let other = row.audio { throw FusionDataError(file: path, "two audio files for sample \(stem): \(other) and \(path)") }
                        row.audio = path
                    } else if ext == "txt" {
                        let data = try FileIO.read(path, limit: 1 << 20)
                        guard let text = String(data: data, encoding: .utf8) else { throw FusionDataError(file: path, "not valid UTF-8") }
                        row.text = text.trimmingCharacters(in: .whitespacesAndNewlines)
                    } else {
                        log("import: ignoring \(path) (not an image, audio or .txt file)")
                        continue
                    }
                    groups[stem] = row
                    found += 1
                }
                for stem in groups.keys.sorted() {
                    guard let row = groups[stem] else { continue }
                    try check(row, table: nil)
                    rows.append(row)
                }
            }
        }
        guard !rows.isEmpty else { throw FusionDataError(file: root, "no image, audio or .txt files under the class folders") }
        return rows
    }

    // MARK: - Checking and writing

    /// Decodes the row's media: a file that will not decode is an error here, naming the row.
    static func check(_ row: Row, table: String?) throws {
        func fail(_ message: String) -> FusionDataError {
            table.map { FusionDataError(file: $0, line: row.line, message) } ?? FusionDataError(file: row.image ?? row.audio ?? row.id, message)
        }
        if let image = row.image {
            do { _ = try ImageDecoder.decode(path: image, options: ImageDecodeOptions(colorMode: .rgb)) } catch let error as FusionDataError {
                throw table == nil ? error : fail("image: \(error)")
            }
        }
        if let audio = row.audio {
            let clip: (info: AudioFileInfo, samples: [Float])
            do { clip = try AudioFile.readInterleaved(path: audio) } catch let error as FusionDataError {
                throw table == nil ? error : fail("audio: \(error)")
            }
            guard clip.info.frames > 0 else { throw fail("audio \(audio): the clip has no samples") }
            guard clip.samples.allSatisfy({ $0.isFinite }) else { throw fail("audio \(audio): the clip has samples that are not finite") }
        }
    }

    /// What earlier imports into `target` that were killed left beside it: staging folders
    /// (`<target>.importing-<pid>`) are deleted; a replaced dataset set aside
    /// (`<target>.replaced-<pid>`) is deleted when `target` is complete, or renamed back when the
    /// kill came between the two renames. Only folders of processes that no longer run.
    static func recoverInterrupted(_ target: String, log: (String) -> Void) {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: target)
        let parent = url.deletingLastPathComponent().path, name = url.lastPathComponent
        for entry in ((try? fm.contentsOfDirectory(atPath: parent)) ?? []).sorted() {
            for kind in ["importing", "replaced"] {
                let prefix = name + ".\(kind)-"
                guard entry.hasPrefix(prefix), let pid = Int32(entry.dropFirst(prefix.count)), pid != getpid() else { continue }
                guard kill(pid, 0) != 0 && errno == ESRCH else { continue }  // still running
                let path = parent + "/" + entry
                if kind == "replaced" && !fm.fileExists(atPath: target + "/dataset.json") && fm.fileExists(atPath: path + "/dataset.json") {
                    if rename(path, target) == 0 { log("import: restored \(target) from \(path), set aside by an import that was killed (pid \(pid))") }
                    continue
                }
                if (try? fm.removeItem(atPath: path)) != nil {
                    log("import: removed \(path), left by an import that was killed (pid \(pid))")
                }
            }
        }
    }

    /// A seeded split of `rows` without one: per label, `test` and `val` fractions (rounded),
    /// the rest train, so every split keeps the label proportions.
    static func stratifiedSplit(_ rows: inout [Row], val: Double, test: Double, seed: UInt64) {
        let byLabel = Dictionary(grouping: rows.indices.filter { rows[$0].split == nil }, by: { rows[$0].label })
        for label in byLabel.keys.sorted() {
            guard var members = byLabel[label] else { continue }
            var rng = SeededGenerator.derived(seed: seed, stream: "split/" + label)
            members.shuffle(using: &rng)
            let n = members.count
            let nTest = Int((Double(n) * test).rounded()), nVal = min(n - nTest, Int((Double(n) * val).rounded()))
            for (k, index) in members.enumerated() {
                rows[index].split = k < nTest ? .test : (k < nTest + nVal ? .val : .train)
            }
        }
    }

    static func write(_ input: [Row], skipped: [FusionDataError], to folder: String, options: Options, source: String,
                      log: (String) -> Void) throws -> Report {
        var rows = input
        var seen = [String: Int]()
        for (k, row) in rows.enumerated() {
            if let first = seen[row.id] {
                throw FusionDataError(file: source, line: row.line, "duplicate id \"\(row.id)\" (first on line \(rows[first].line ?? 0))")
            }
            seen[row.id] = k
        }
        let splitFromSource = rows.allSatisfy { $0.split != nil }
        guard (0..<1).contains(options.valFraction), (0..<1).contains(options.testFraction),
              options.valFraction + options.testFraction < 1 else {
            throw FusionDataError(file: source, "val and test fractions must be in [0, 1) and sum to less than 1")
        }
        stratifiedSplit(&rows, val: options.valFraction, test: options.testFraction, seed: options.splitSeed)

        let fm = FileManager.default
        let target = URL(fileURLWithPath: folder).standardizedFileURL.path
        if fm.fileExists(atPath: target) {
            let contents = (try? fm.contentsOfDirectory(atPath: target)) ?? []
            guard contents.isEmpty || options.force else {
                throw FusionDataError(file: target, "already exists and is not empty; pass --force to replace it")
            }
            // --force replaces a dataset, never some other folder.
            guard contents.isEmpty || fm.fileExists(atPath: target + "/dataset.json") else {
                throw FusionDataError(file: target, "is not a dataset folder (no dataset.json): --force replaces only a dataset; choose another output folder")
            }
        }
        recoverInterrupted(target, log: log)
        // Everything goes into a sibling folder first, renamed into place once complete.
        let staging = target + ".importing-\(getpid())"
        try? fm.removeItem(atPath: staging)
        do {
            try fm.createDirectory(atPath: staging + "/media", withIntermediateDirectories: true)
        } catch { throw FusionDataError(file: staging, "cannot create the folder: \(error.localizedDescription)") }
        defer { try? fm.removeItem(atPath: staging) }
        var records = [DatasetWriter.Record]()
        var usedNames = Set<String>()
        for row in rows {
            guard let split = row.split else { continue }
            var base = safeFileName(row.id.replacingOccurrences(of: "/", with: "-"))
            if usedNames.contains(base) { base += "-\(records.count)" }
            usedNames.insert(base)
            func place(_ given: String?) throws -> String? {
                guard let given else { return nil }
                // A symbolic link imports the file it points to (a link would dangle inside the dataset).
                let path = URL(fileURLWithPath: given).resolvingSymlinksInPath().path
                let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
                let name = "media/\(base)\(ext.isEmpty ? "" : "." + ext)"
                let destination = staging + "/" + name
                switch options.media {
                case .copy:
                    do { try fm.copyItem(atPath: path, toPath: destination) } catch {
                        throw FusionDataError(file: path, "cannot copy into the dataset: \(error.localizedDescription)")
                    }
                case .link:
                    guard Foundation.link(path, destination) == 0 else {
                        let why = errno == EXDEV ? "the dataset folder is on another file system; use --media copy"
                            : String(cString: strerror(errno))
                        throw FusionDataError(file: path, "cannot hard-link into the dataset: \(why)")
                    }
                }
                return name
            }
            records.append(DatasetWriter.Record(id: row.id, split: split, label: row.label, text: row.text,
                                                image: try place(row.image), audio: try place(row.audio),
                                                source: DatasetWriter.Source(table: row.table, line: row.table == nil ? nil : row.line,
                                                                             image: row.image, audio: row.audio)))
        }
        let labels = Set(rows.map(\.label)).sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        let name = options.name ?? URL(fileURLWithPath: target).lastPathComponent
        let media = MediaStatistics.measure(images: rows.compactMap(\.image), audio: rows.compactMap(\.audio))
        try DatasetWriter.write(info: DatasetInfo(name: name, labels: labels, source: "fusionlab import \(source)", media: media),
                                records: records, to: staging)
        // The folder as written must load as a dataset before it replaces anything.
        _ = try Dataset.load(path: staging)
        // The old dataset is renamed aside, the new one renamed in, and only then is the old one
        // deleted: a kill at any moment leaves one complete dataset at `target` (or aside, named).
        let aside = target + ".replaced-\(getpid())"
        let replacing = fm.fileExists(atPath: target)
        if replacing {
            try? fm.removeItem(atPath: aside)
            guard rename(target, aside) == 0 else {
                throw FusionDataError(file: target, "cannot replace: \(String(cString: strerror(errno)))")
            }
        }
        guard rename(staging, target) == 0 else {
            let why = String(cString: strerror(errno))
            if replacing { _ = rename(aside, target) }
            throw FusionDataError(file: target, "cannot move the imported dataset into place: \(why)")
        }
        if replacing { try? fm.removeItem(atPath: aside) }
        var splits = [Split: Int]()
        for r in records { splits[r.split, default: 0] += 1 }
        let counts = labels.map { label in (label, records.filter { $0.label == label }.count) }
        log("import: \(records.count) samples (train \(splits[.train] ?? 0), val \(splits[.val] ?? 0), test \(splits[.test] ?? 0)), "
            + "\(labels.count) labels, split \(splitFromSource ? "from the source" : "drawn with seed \(options.splitSeed), stratified")")
        return Report(folder: target, splits: splits, labels: counts, skipped: skipped, splitFromSource: splitFromSource)
    }
}
