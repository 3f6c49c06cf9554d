import FusionCore
import FusionReports
import Foundation
import FusionData
import FusionModels
import FusionNN

/// Reads experiment files: `extends` chains, `--set` overrides, unknown keys with the nearest
/// valid key suggested, type errors and out-of-range values — every error naming the file and
/// the JSON path.
public enum ConfigLoader {
    /// The result of loading: the typed configuration and the resolved JSON tree.
    public struct Loaded {
        /// The typed configuration.
        public var config: ExperimentConfig
        /// The file's tree after `extends` and overrides (user keys only, before defaults).
        public var tree: [String: Any]
        /// The file that was loaded.
        public var path: String
    }

    /// Loads `path`, applying `overrides` (`a.b.c=value`).
    public static func load(_ path: String, overrides: [String] = []) throws -> Loaded {
        var sources: [String: String] = [:]
        var tree = try resolve(path, sources: &sources, chain: [])
        for override in overrides { try apply(override, to: &tree, sources: &sources) }
        let config = try decode(tree, sources: sources, defaultSource: path)
        return Loaded(config: config, tree: tree, path: path)
    }

    /// Decodes a tree (user keys only) into a configuration: unknown keys, types and ranges
    /// are checked; `sources` maps dotted paths to the file that set them.
    public static func decode(_ tree: [String: Any], sources: [String: String] = [:], defaultSource: String) throws -> ExperimentConfig {
        var tree = tree
        // distill.teacher: one path, or a list of them.
        if var distill = tree["distill"] as? [String: Any], let one = distill["teacher"] as? String {
            distill["teacher"] = one.isEmpty ? [] : [one]
            tree["distill"] = distill
        }
        let defaults = defaultTree()
        // Every mistake of a file is reported at once: each check's offending keys are dropped
        // (their defaults stand in) so that the later checks still run on the rest.
        var problems = Problems()
        checkKeys(tree, against: defaults, path: "", sources: sources, defaultSource: defaultSource, problems: &problems)
        checkChoices(tree, path: "", sources: sources, defaultSource: defaultSource, problems: &problems)
        var cleaned = removing(problems.paths, from: tree)
        // A pretrained preset brings the preprocessing its weights were trained with, as
        // defaults the file can see (`validate --print`) and override.
        func merge(_ t: [String: Any]) -> [String: Any] { deepMerge(deepMerge(defaults, presetDefaults(t)), t) }
        let before = problems.paths.count
        checkIntegers(merge(cleaned), schema: integerSchema, path: "", sources: sources, defaultSource: defaultSource, problems: &problems)
        cleaned = removing(Array(problems.paths[before...]), from: cleaned)
        let config: ExperimentConfig
        do {
            let data = try JSONSerialization.data(withJSONObject: merge(cleaned))
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            config = try decoder.decode(ExperimentConfig.self, from: data)
        } catch let error as DecodingError {
            let (path, message) = describeDecoding(error)
            problems.add(path, "\(sourceOf(path, sources, defaultSource)): \(path): \(message)")
            throw ExperimentError(problems.lines.joined(separator: "\n"))
        }
        for issue in ConfigValidation.check(config) where !problems.paths.contains(issue.path) {
            problems.add(issue.path, "\(sourceOf(issue.path, sources, defaultSource)): \(issue.path): \(issue.message)")
        }
        if !problems.lines.isEmpty { throw ExperimentError(problems.lines.joined(separator: "\n")) }
        return config
    }

    /// What the checks found: the message lines, and the dotted key paths they are about.
    struct Problems {
        var lines: [String] = [], paths: [String] = []
        mutating func add(_ path: String, _ line: String) { lines.append(line); paths.append(path) }
    }

    /// `tree` without the keys at `paths` (dotted; numeric parts index lists).
    static func removing(_ paths: [String], from tree: [String: Any]) -> [String: Any] {
        func remove(_ parts: ArraySlice<String>, _ node: Any) -> Any? {
            guard let first = parts.first else { return nil }
            if var object = node as? [String: Any] {
                guard let child = object[first] else { return object }
                if parts.count == 1 { object[first] = nil } else { object[first] = remove(parts.dropFirst(), child) ?? child }
                return object
            }
            if var list = node as? [Any], let i = Int(first), list.indices.contains(i), parts.count > 1,
               let child = remove(parts.dropFirst(), list[i]) {
                list[i] = child
                return list
            }
            return node
        }
        var out = tree
        for path in paths where !path.isEmpty {
            out = remove(path.split(separator: ".").map(String.init)[...], out) as? [String: Any] ?? out
        }
        return out
    }

    /// The format's schema, for the integer checks (built once).
    nonisolated(unsafe) private static let integerSchema = ConfigSchema.jsonSchema()

    /// Integer keys hold integers within their range: a fraction, a value beyond 64 bits or one
    /// below the key's minimum is an error naming the key, before the decoder sees it.
    static func checkIntegers(_ tree: [String: Any], schema: [String: Any], path: String, sources: [String: String], defaultSource: String,
                              problems: inout Problems) {
        let properties = (schema["properties"] as? [String: Any]) ?? [:]
        for (key, value) in tree {
            guard let child = properties[key] as? [String: Any] else { continue }
            let here = path.isEmpty ? key : path + "." + key
            if let object = value as? [String: Any] {
                checkIntegers(object, schema: child, path: here, sources: sources, defaultSource: defaultSource, problems: &problems)
                continue
            }
            guard child["type"] as? String == "integer", let number = value as? NSNumber, !(value is Bool && "\(value)" != "0" && "\(value)" != "1") else { continue }
            let d = number.doubleValue
            let minimum = (child["minimum"] as? NSNumber)?.doubleValue
            if !d.isFinite || d != d.rounded() || abs(d) >= 9.2e18 {
                problems.add(here, "\(sourceOf(here, sources, defaultSource)): \(here): expected an integer, got \(number)")
            } else if let minimum, d < minimum {
                problems.add(here, "\(sourceOf(here, sources, defaultSource)): \(here): expected at least \(Int(minimum)), got \(Int(d))")
            }
        }
    }

    /// Defaults that follow other settings of `tree`: the image normalisation's length follows the
    /// colour mode, and a pretrained preset brings the preprocessing its weights were trained with.
    static func presetDefaults(_ tree: [String: Any]) -> [String: Any] {
        var preprocessing: [String: Any] = [:]
        // The grey normalisation's defaults follow the colour choice (one value per channel).
        if let color = value(at: ["preprocessing", "image", "color"], in: tree) as? String,
           let mode = ImageDecodeOptions.ColorMode(rawValue: color), ImageDecodeOptions(colorMode: mode).channelCount > 1 {
            let channels = ImageDecodeOptions(colorMode: mode).channelCount
            preprocessing["image"] = ["mean": [Double](repeating: 0.5, count: channels), "std": [Double](repeating: 0.25, count: channels)]
        }
        if let name = value(at: ["model", "image", "preset"], in: tree) as? String, let preset = ImagePreset(rawValue: name),
           [.efficientnetLite0, .efficientnetLite1, .efficientnetLite2].contains(preset) {
            // TensorFlow's EfficientNet-Lite evaluation: a centred crop of size / (size + 32) of the
            // shorter side, bicubic to size × size, RGB, (x − 127) / 128 on 0…255 pixels.
            let side = EfficientNetLite.side(preset), mean = 127.0 / 255, std = 128.0 / 255
            preprocessing["image"] = ["height": side, "width": side, "color": "rgb", "resize": "bicubic",
                                      "center_crop": Double(side) / Double(side + 32),
                                      "mean": [mean, mean, mean], "std": [std, std, std]] as [String: Any]
        }
        if value(at: ["model", "audio", "preset"], in: tree) as? String == AudioPreset.speechEmbedding.rawValue {
            // openWakeWord's melspectrogram.onnx on 16-bit-scaled samples, then its x / 10 + 2.
            preprocessing["audio"] = ["sample_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160, "center": false,
                                      "n_mels": 32, "fmin": 60.0, "fmax": 3800.0, "top_db": 80.0, "features": "log_mel",
                                      "input_scale": 32768.0, "log_scale": 0.1, "log_offset": 2.0, "standardize": false,
                                      "deltas": 0] as [String: Any]
        }
        if value(at: ["model", "audio", "preset"], in: tree) as? String == AudioPreset.soundEmbedding.rawValue {
            // The Essentia front end aiSFX was trained with (aisfx/spectrogram/spectrogram_essentia.py:
            // EasyLoader at its unit gain, FrameCutter, symmetric Hann, power MelBands with HTK warping
            // and unit-sum filters, log10(1e4 x + 1)) and its "original" min-max scaling (0 … 9.457798957824707);
            // 2.29 s gives its 100-frame block.
            preprocessing["audio"] = ["sample_rate": 44100, "duration": 2.29, "n_fft": 2048, "win_length": 2048, "hop_length": 1024,
                                      "center": true, "pad_mode": "constant", "framing": "essentia", "window": "hann_symmetric",
                                      "n_mels": 96, "fmin": 0.0, "fmax": 22050.0, "mel_triangles": "mel",
                                      "mel_scale": "htk", "mel_norm": "sum", "compression": "log10_1p",
                                      "log_gain": 10_000.0, "features": "log_mel", "log_scale": 1 / 9.457798957824707, "log_offset": 0.0,
                                      "top_db": 0.0, "standardize": false, "deltas": 0] as [String: Any]
        }
        return preprocessing.isEmpty ? [:] : ["preprocessing": preprocessing]
    }

    /// The defaults as a JSON tree with snake_case keys.
    public static func defaultTree() -> [String: Any] { defaults }

    /// Encoded once: every load merges into it and checks keys against it.
    nonisolated(unsafe) private static let defaults = jsonTree(ExperimentConfig())

    /// A configuration as a JSON tree with snake_case keys.
    public static func jsonTree(_ config: ExperimentConfig) -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let data = try? encoder.encode(config),
              let object = try? JSONSerialization.jsonObject(with: data), let tree = object as? [String: Any] else { return [:] }
        return tree
    }

    /// A configuration as pretty, key-sorted JSON (the run's config.resolved.json).
    public static func resolvedJSON(_ config: ExperimentConfig) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: jsonTree(config), options: [.prettyPrinted, .sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // MARK: - Files and extends

    static func resolve(_ path: String, sources: inout [String: String], chain: [String]) throws -> [String: Any] {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard !chain.contains(absolute) else {
            throw ExperimentError("\(path): extends forms a cycle: \((chain + [absolute]).joined(separator: " → "))")
        }
        let object = try parseJSONFile(path)
        var base: [String: Any] = [:]
        if let ext = object["extends"] {
            let parents: [String]
            if let one = ext as? String { parents = [one] } else if let many = ext as? [String] { parents = many } else {
                throw ExperimentError("\(path): extends: expected a file name or a list of file names")
            }
            for parent in parents {
                let parentPath = parent.hasPrefix("/") ? parent
                    : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(parent).path
                guard FileManager.default.fileExists(atPath: parentPath) else {
                    throw ExperimentError("\(path): extends: \(parent) does not exist (looked for \(parentPath))")
                }
                base = deepMerge(base, try resolve(parentPath, sources: &sources, chain: chain + [absolute]))
            }
        }
        var own = object
        own.removeValue(forKey: "extends")
        own.removeValue(forKey: "$schema")  // what editors use to find the format; not a setting
        own = resolvingPaths(own, relativeTo: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        recordSources(own, prefix: "", file: path, into: &sources)
        return deepMerge(base, own)
    }

    /// Parses a JSON object from a file; a syntax error names the line and column.
    public static func parseJSONFile(_ path: String) throws -> [String: Any] {
        // FileIO, not FileManager.contents: Foundation's reader leaks a buffer on empty files.
        let data: Data
        do { data = try FileIO.read(path) } catch let error as FusionDataError { throw ExperimentError(error.description) }
        // Foundation's parser lets a trailing comma through; JSON (and every other tool) does not.
        if let (line, column) = trailingComma(in: data) {
            throw ExperimentError("\(path): not valid JSON at line \(line), column \(column): a comma before a closing bracket or brace")
        }
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ExperimentError("\(path): expected a JSON object at the top level")
            }
            return object
        } catch let error as ExperimentError {
            throw error
        } catch {
            let nsError = error as NSError
            var location = ""
            let debug = nsError.userInfo["NSDebugDescription"] as? String ?? ""
            // Foundation says "... around character N." (or gives the index itself).
            let fromText = debug.range(of: #"character \d+"#, options: .regularExpression)
                .flatMap { Int(debug[$0].dropFirst("character ".count)) }
            if let index = (nsError.userInfo["NSJSONSerializationErrorIndex"] as? Int) ?? fromText {
                let prefix = data.prefix(index)
                let line = prefix.filter { $0 == 0x0A }.count + 1
                let column = index - (prefix.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
                location = " at line \(line), column \(column)"
            }
            throw ExperimentError("\(path): not valid JSON\(location)\(debug.isEmpty ? "" : " (\(debug))")")
        }
    }

    /// The line and column of the first comma followed (after white space) by `}` or `]`, outside strings.
    static func trailingComma(in data: Data) -> (Int, Int)? {
        var inString = false, escaped = false
        var comma: Int?
        var line = 1, lineStart = 0, commaLine = 1, commaColumn = 1
        for (i, byte) in data.enumerated() {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true; comma = nil
            case 0x2C: comma = i; (commaLine, commaColumn) = (line, i - lineStart + 1)
            case 0x7D, 0x5D: if comma != nil { return (commaLine, commaColumn) }
            case 0x0A: line += 1; lineStart = i + 1
            case 0x20, 0x09, 0x0D: break
            default: comma = nil
            }
        }
        return nil
    }

    /// The keys whose values are file or folder paths.
    static let pathKeys: [[String]] = [["dataset", "path"], ["dataset", "cache_dir"], ["transfer", "init_from"],
                                       ["preprocessing", "text", "vocab"], ["model", "text", "pretrained"], ["model", "image", "pretrained"], ["model", "audio", "pretrained"],
                                       ["distill", "teacher"]]

    /// `tree` with every relative path under `pathKeys` made absolute against `folder` (the
    /// folder of the file that names it, as `extends` is); absolute and empty paths stay.
    static func resolvingPaths(_ tree: [String: Any], relativeTo folder: String) -> [String: Any] {
        var out = tree
        func absolute(_ value: String) -> String {
            value.isEmpty || value.hasPrefix("/") || value == "none" ? value : URL(fileURLWithPath: folder).appendingPathComponent(value).standardizedFileURL.path
        }
        for keys in pathKeys {
            switch value(at: keys[...], in: out) {
            case let path as String: out = setting(out, keys[...], absolute(path))
            case let paths as [Any]: out = setting(out, keys[...], paths.map { ($0 as? String).map(absolute) ?? $0 })
            default: continue
            }
        }
        return out
    }

    static func value(at keys: ArraySlice<String>, in tree: [String: Any]) -> Any? {
        guard let first = keys.first else { return nil }
        return keys.count == 1 ? tree[first] : (tree[first] as? [String: Any]).flatMap { value(at: keys.dropFirst(), in: $0) }
    }

    static func recordSources(_ tree: [String: Any], prefix: String, file: String, into sources: inout [String: String]) {
        for (key, value) in tree {
            let path = prefix.isEmpty ? key : prefix + "." + key
            sources[path] = file
            if let child = value as? [String: Any] { recordSources(child, prefix: path, file: file, into: &sources) }
        }
    }

    static func sourceOf(_ path: String, _ sources: [String: String], _ fallback: String) -> String {
        var p = path
        while !p.isEmpty {
            if let s = sources[p] { return s }
            guard let dot = p.lastIndex(of: ".") else { break }
            p = String(p[..<dot])
        }
        return fallback
    }

    /// `base` with `top` laid over it: objects merge key by key, everything else is replaced.
    public static func deepMerge(_ base: [String: Any], _ top: [String: Any]) -> [String: Any] {
        var out = base
        for (key, value) in top {
            if let a = out[key] as? [String: Any], let b = value as? [String: Any] { out[key] = deepMerge(a, b) } else { out[key] = value }
        }
        return out
    }

    // MARK: - Overrides

    /// Applies one `a.b.c=value` override; the path must exist in the configuration format.
    package static func apply(_ override: String, to tree: inout [String: Any], sources: inout [String: String]) throws {
        guard let eq = override.firstIndex(of: "=") else {
            throw ExperimentError("--set \(override): expected key.path=value")
        }
        let path = String(override[..<eq]), raw = String(override[override.index(after: eq)...])
        let keys = path.split(separator: ".").map(String.init)
        var node: Any = defaultTree()
        var walked: [String] = []
        for key in keys {
            guard let object = node as? [String: Any] else {
                throw ExperimentError("--set \(path): \(walked.joined(separator: ".")) is not an object")
            }
            guard let next = object[key] else {
                let hint = nearest(key, among: Array(object.keys)).map { "; did you mean \((walked + [$0]).joined(separator: "."))?" } ?? ""
                throw ExperimentError("--set \(path): no key \(key) at \(walked.isEmpty ? "the top level" : walked.joined(separator: "."))\(hint)")
            }
            walked.append(key)
            node = next
        }
        let value: Any
        if let data = raw.data(using: .utf8), let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) {
            value = parsed
        } else {
            value = raw
        }
        tree = setting(tree, keys[...], value)
        sources[path] = "--set \(path)"
    }

    package static func setting(_ tree: [String: Any], _ keys: ArraySlice<String>, _ value: Any) -> [String: Any] {
        guard let first = keys.first else { return tree }
        var out = tree
        if keys.count == 1 { out[first] = value } else {
            out[first] = setting(out[first] as? [String: Any] ?? [:], keys.dropFirst(), value)
        }
        return out
    }

    // MARK: - Unknown keys

    static func checkKeys(_ tree: [String: Any], against defaults: [String: Any], path: String, sources: [String: String],
                          defaultSource: String, problems: inout Problems) {
        for (key, value) in tree {
            let here = path.isEmpty ? key : path + "." + key
            guard let expected = defaults[key] else {
                let candidates = Array(defaults.keys)
                let hint = nearest(key, among: candidates).map { "; did you mean \"\($0)\"?" }
                    ?? "; valid keys: \(candidates.sorted().joined(separator: ", "))"
                problems.add(here, "\(sourceOf(here, sources, defaultSource)): \(here): unknown key\(hint)")
                continue
            }
            if let object = value as? [String: Any], let expectedObject = expected as? [String: Any] {
                checkKeys(object, against: expectedObject, path: here, sources: sources, defaultSource: defaultSource, problems: &problems)
            } else if let items = value as? [Any], let template = arrayItemTemplate(here, expected) {
                for (i, item) in items.enumerated() {
                    if let object = item as? [String: Any] {
                        checkKeys(object, against: template, path: "\(here).\(i)", sources: sources, defaultSource: defaultSource,
                                  problems: &problems)
                    }
                }
            }
        }
    }

    /// Keys allowed in the objects of a list of objects (`transfer.lr_multipliers`, `compare.axes`, ...).
    static func arrayItemTemplate(_ path: String, _ expected: Any) -> [String: Any]? {
        if let items = expected as? [Any], let first = items.first as? [String: Any] { return first }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let template: Data?
        switch path.split(separator: ".").last.map(String.init) {
        case "lr_multipliers": template = try? encoder.encode(LRMultiplier())
        case "remap": template = try? encoder.encode(KeyRemap())
        case "unfreeze": template = try? encoder.encode(UnfreezeStep())
        case "axes": template = try? encoder.encode(AxisConfig())
        case "compress": template = try? encoder.encode(CompressionSpec())
        default: template = nil
        }
        return template.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    /// The candidate closest to `key`, if it is a plausible typo of it (see `nearestName`).
    public static func nearest(_ key: String, among candidates: [String]) -> String? { nearestName(key, among: candidates) }

    static func describeDecoding(_ error: DecodingError) -> (String, String) {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map(String.init) ?? snakeCase($0.stringValue) }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let c): return (path(c.codingPath), "expected \(typeName(type))")
        case .valueNotFound(let type, let c): return (path(c.codingPath), "expected \(typeName(type)), found null")
        case .keyNotFound(let key, let c): return (path(c.codingPath + [key]), "missing")
        case .dataCorrupted(let c): return (path(c.codingPath), enumMessage(c.debugDescription) ?? c.debugDescription)
        @unknown default: return ("", "\(error)")
        }
    }

    /// The allowed values of every string-choice key, by dotted path (list keys apply to each item).
    static let choicePaths: [String: [String]] = Dictionary(
        ConfigSchema.entries().filter { !$0.allowed.isEmpty }.map { ($0.key, $0.allowed) }, uniquingKeysWith: { a, _ in a })

    /// Every string-choice value of `tree` that is not one of its key's values, all at once (the
    /// decoder would stop at the first).
    static func checkChoices(_ tree: [String: Any], path: String, sources: [String: String], defaultSource: String,
                             problems: inout Problems) {
        for (key, value) in tree.sorted(by: { $0.key < $1.key }) {
            let full = path.isEmpty ? key : path + "." + key
            if let nested = value as? [String: Any] {
                checkChoices(nested, path: full, sources: sources, defaultSource: defaultSource, problems: &problems)
                continue
            }
            guard let allowed = choicePaths[full] else { continue }
            let values = (value as? [Any]) ?? [value]
            for (i, item) in values.enumerated() {
                guard let text = item as? String, !allowed.contains(text) else { continue }
                let at = value is [Any] ? "\(full).\(i)" : full
                let hint = nearest(text, among: allowed).map { "; did you mean \"\($0)\"?" } ?? ""
                problems.add(full, "\(sourceOf(full, sources, defaultSource)): \(at): expected one of "
                                + allowed.map { "\"\($0)\"" }.joined(separator: ", ") + ", got \"\(text)\"\(hint)")
            }
        }
    }

    /// Swift's "Cannot initialize FusionKind from invalid String value attn" as the values the
    /// key takes, with the nearest one suggested.
    static func enumMessage(_ debug: String) -> String? {
        guard let match = debug.range(of: #"^Cannot initialize (\w+) from invalid String value (.*)$"#, options: .regularExpression) else { return nil }
        let text = String(debug[match])
        let parts = text.components(separatedBy: " from invalid String value ")
        guard parts.count == 2 else { return nil }
        let typeName = parts[0].replacingOccurrences(of: "Cannot initialize ", with: ""), value = parts[1]
        guard let allowed = ConfigSchema.choices[typeName] else { return "\"\(value)\" is not a valid value" }
        let hint = nearest(value, among: allowed).map { "; did you mean \"\($0)\"?" } ?? ""
        return "expected one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(value)\"\(hint)"
    }

    static func typeName(_ type: Any.Type) -> String {
        let name = "\(type)"
        if ["Int", "UInt64", "Int32"].contains(name) { return "an integer" }
        if ["Float", "Double"].contains(name) { return "a number" }
        if name == "Bool" { return "true or false" }
        if name == "String" { return "a string" }
        if name.hasPrefix("Array") { return "a list" }
        return "a value of type \(name)"
    }
}
