import Foundation
import FusionData
import FusionModels
import FusionNN

/// Generates the JSON Schema of experiment files from the configuration types themselves
/// (property names, value types, enumerations and defaults), so editors can validate and
/// complete; `Experiments/experiment.schema.json` is its committed output.
public enum ConfigSchema {
    /// Every string choice of the experiment format: the enums the decoder, this schema, the
    /// reference page and the error messages read (by Swift type name, as decoding errors name them).
    public static let choices: [String: [String]] = {
        let types: [any ConfigChoice.Type] = [
            Modality.self, FusionKind.self, Activation.Kind.self, ImagePreset.self, AudioPreset.self, TextPreset.self,
            ImagePooling.self, TextPooling.self, BadSamplePolicy.self, ImageDecodeOptions.ColorMode.self, ImageTransforms.ResizeMethod.self, MFCCSettings.Output.self, TokenizerKind.self,
            OptimizerKind.self, ScheduleKind.self, NonFinitePolicy.self, MetricName.self, SweepMethod.self,
            PoolOp.self, RecurrentOutput.self, FeedForwardActivation.self, PositionEncoding.self, CompressionKind.self, CheckpointRetention.self,
        ]
        return Dictionary(types.map { ("\($0)".split(separator: ".").last.map(String.init) ?? "\($0)", $0.spellings) },
                          uniquingKeysWith: { a, _ in a })
    }()

    /// The descriptions that belong to no option: the file itself and `extends` (every option's
    /// own is its `@Doc` text).
    static let descriptions: [String: String] = [
        "": "A FusionLab experiment: dataset, preprocessing, model (encoders, fusion, head), training, transfer, evaluation, comparison and sweep.",
        "extends": "Base experiment file(s), relative to this one; this file's keys win.",
    ]

    /// The schema as a JSON object.
    public static func jsonSchema() -> [String: Any] {
        var root = schema(for: ExperimentConfig(), path: "")
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        root["title"] = "FusionLab experiment"
        root["$defs"] = ["layer": layerSchema()]
        if var properties = root["properties"] as? [String: Any] {
            properties["extends"] = ["description": descriptions["extends"] ?? "",
                                     "oneOf": [["type": "string"], ["type": "array", "items": ["type": "string"]]]]
            // What editors use to find this schema ("$schema": "experiment.schema.json"); not a setting.
            properties["$schema"] = ["type": "string", "description": "The JSON Schema this file follows (for editors); FusionLab ignores it."]
            // distill.teacher: one path or a list of them.
            if var distill = properties["distill"] as? [String: Any], var options = distill["properties"] as? [String: Any],
               var teacher = options["teacher"] as? [String: Any] {
                teacher.removeValue(forKey: "type")
                teacher.removeValue(forKey: "items")
                teacher["oneOf"] = [["type": "string"], ["type": "array", "items": ["type": "string"]]]
                options["teacher"] = teacher
                distill["properties"] = options
                properties["distill"] = distill
            }
            root["properties"] = properties
        }
        return root
    }

    /// The schema as pretty, key-sorted JSON text.
    public static func jsonText() -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: jsonSchema(), options: [.prettyPrinted, .sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func schema(for value: Any, path: String) -> [String: Any] {
        var out = leafSchema(for: value, path: path)
        for (key, bound) in ConfigRanges.schemaKeywords(path) { out[key] = bound }
        if let text = descriptions[path] { out["description"] = text }
        return out
    }

    static func leafSchema(for value: Any, path: String) -> [String: Any] {
        if let choice = value as? any ConfigChoice {
            return ["enum": type(of: choice).spellings, "default": choice.rawValue]
        }
        switch value {
        case let b as Bool: return ["type": "boolean", "default": b]
        case let i as Int: return ["type": "integer", "default": i]
        case let u as UInt64: return ["type": "integer", "minimum": 0, "default": u]
        case let f as Float: return ["type": "number", "default": Double(f)]
        case let d as Double: return ["type": "number", "default": d]
        case let s as String: return ["type": "string", "default": s]
        case is ConfigValue: return ["type": ["string", "number", "boolean"]]
        default: break
        }
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .collection {
            return ["type": "array", "items": itemSchema(value, path: path)]
        }
        var properties: [String: Any] = [:]
        for child in mirror.children {
            guard let label = child.label else { continue }
            // A `@Doc` option reflects as `_name`: its value and documentation.
            let option = child.value as? any DocumentedOption
            let key = snakeCase(option == nil ? label : String(label.drop(while: { $0 == "_" })))
            let childPath = path.isEmpty ? key : path + "." + key
            var entry = schema(for: option?.documentedValue ?? child.value, path: childPath)
            if let text = option?.documentation, !text.isEmpty { entry["description"] = text }
            properties[key] = entry
        }
        return ["type": "object", "properties": properties, "additionalProperties": false]
    }

    /// The schema of a list's items, from an element or, for an empty list, from its type.
    static func itemSchema(_ list: Any, path: String) -> [String: Any] {
        if let first = Mirror(reflecting: list).children.first { return leafSchema(for: first.value, path: path + ".*") }
        let name = "\(type(of: list))"
        if name.contains("LayerSpec") { return layerSchema() }
        let template: Any?
        switch name {
        case "Array<Float>", "Array<Double>": template = Double(0)
        case "Array<Int>": template = 0
        case "Array<UInt64>": template = UInt64(0)
        case "Array<String>": template = ""
        case _ where name.contains("LRMultiplier"): template = LRMultiplier()
        case _ where name.contains("KeyRemap"): template = KeyRemap()
        case _ where name.contains("UnfreezeStep"): template = UnfreezeStep()
        case _ where name.contains("AxisConfig"): template = AxisConfig()
        case _ where name.contains("CompressionSpec"): template = CompressionSpec()
        default: template = nil
        }
        guard let template else { return [:] }
        var item = leafSchema(for: template, path: path + ".*")
        item.removeValue(forKey: "default")
        return item
    }

    /// A layer of an encoder stack: a type name, or an object with a `type` and its settings.
    static func layerSchema() -> [String: Any] {
        let types = LayerSpec.types.keys.sorted()
        var settings: [String: Any] = ["type": ["enum": types], "name": ["type": "string"]]
        for key in Set(LayerSpec.types.values.flatMap { $0 }) {
            switch key {
            case "kernel", "stride", "padding", "dilation":
                settings[key] = ["oneOf": [["type": "integer"], ["type": "array", "items": ["type": "integer"], "minItems": 1, "maxItems": 2]]]
            case "bias", "bidirectional", "norm_first", "binary": settings[key] = ["type": "boolean"]
            case "p", "slope": settings[key] = ["type": "number"]
            case "op": settings[key] = ["enum": PoolOp.spellings]
            case "output": settings[key] = ["enum": RecurrentOutput.spellings]
            case "activation": settings[key] = ["enum": FeedForwardActivation.spellings]
            case "encoding": settings[key] = ["enum": PositionEncoding.spellings]
            case "layers": settings[key] = ["type": "array", "items": ["$ref": "#/$defs/layer"]]
            default: settings[key] = ["type": "integer", "minimum": 1]
            }
        }
        for (key, text) in LayerSpec.settingDocumentation {
            if var entry = settings[key] as? [String: Any] { entry["description"] = text; settings[key] = entry }
        }
        return ["oneOf": [["enum": types], ["type": "object", "required": ["type"], "properties": settings, "additionalProperties": false]],
                "description": "An encoder layer: a type (\"relu\") or {\"type\": ..., settings}; see docs/experiment-format.md."]
    }
}

// MARK: - The experiment-format reference

extension ConfigSchema {
    /// One option of the reference: its dotted key, type, default, allowed values and text.
    public struct Entry: Sendable {
        /// Dotted JSON path (`training.batch_size`; list items as `*`).
        public var key: String
        /// JSON type(s).
        public var type: String
        /// The default as JSON text (empty for sections and list items).
        public var defaultValue: String
        /// Allowed values, when restricted.
        public var allowed: [String]
        /// What the option does.
        public var description: String
    }

    /// Every option of the experiment format, in file order of sections, keys sorted within them.
    public static func entries() -> [Entry] {
        var out = [Entry]()
        func json(_ value: Any) -> String {
            if let s = value as? String { return "\"\(s)\"" }
            guard JSONSerialization.isValidJSONObject([value]),
                  let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys, .withoutEscapingSlashes]) else { return "\(value)" }
            return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
        }
        func walk(_ node: [String: Any], _ path: String) {
            guard let properties = node["properties"] as? [String: Any] else { return }
            let order = ["name", "seed", "extends", "dataset", "preprocessing", "model", "training", "transfer", "evaluation", "compare", "sweep"]
            let keys = properties.keys.sorted { a, b in
                let (ia, ib) = (order.firstIndex(of: a) ?? order.count, order.firstIndex(of: b) ?? order.count)
                return ia != ib ? ia < ib : a < b
            }
            for key in keys {
                guard let child = properties[key] as? [String: Any] else { continue }
                let full = path.isEmpty ? key : path + "." + key
                var type = (child["type"] as? String) ?? (child["type"] as? [String])?.joined(separator: " | ") ?? ""
                if child["enum"] != nil { type = "string" }
                if child["oneOf"] != nil { type = "string | array" }
                if type == "array", let items = child["items"] as? [String: Any] {
                    type = "array of " + ((items["type"] as? String) ?? (items["enum"] != nil ? "string" : (items["$ref"] != nil || items["oneOf"] != nil ? "layers" : "values")))
                }
                let allowed = (child["enum"] as? [String]) ?? ((child["items"] as? [String: Any])?["enum"] as? [String]) ?? []
                let defaultValue = child["default"].map(json) ?? ""
                out.append(Entry(key: full, type: type, defaultValue: type == "object" ? "" : defaultValue, allowed: allowed,
                                 description: (child["description"] as? String) ?? ""))
                walk(child, full)
                if let items = child["items"] as? [String: Any], items["properties"] != nil { walk(items, full + ".*") }
            }
        }
        walk(jsonSchema(), "")
        return out
    }

    /// docs/experiment-format.md: the whole reference, generated from the same declarations as
    /// the schema (`fusionlab schema --markdown`), so it cannot drift from the code.
    public static func markdown() -> String {
        func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var lines = [String]()
        lines.append("""
        # Experiment format

        <!-- Generated by `fusionlab schema --markdown > docs/experiment-format.md` from the @Doc texts of the
             configuration types; a test fails when this file and the code disagree. Edit the code, not this file. -->

        An experiment is one JSON file. Every key has a default, so a file names only what it changes:

        ```json
        {
          "$schema": "experiment.schema.json",
          "name": "my-first",
          "dataset": {"path": "../Datasets/default", "generate": true},
          "model": {"fusion": {"kind": "gated"}, "image": {"preset": "lenet"}},
          "training": {"epochs": 3, "lr": 0.001}
        }
        ```

        Saved as `Experiments/my-first.json`, it runs with `fusionlab run Experiments/my-first.json`
        (generating the default dataset the first time); check it without running with
        `fusionlab validate Experiments/my-first.json` (add `--print` to see every key after `extends`,
        `--set` and the defaults). Any key can be overridden on the command line: `--set training.epochs=5`.
        `fusionlab schema --key model.fusion` explains a key and everything under it.

        - **`extends`** names base files (relative to this one); this file's keys win, objects merge
          key by key, lists are replaced whole.
        - **Paths** in a file (`dataset.path`, `dataset.cache_dir`, `transfer.init_from`,
          `preprocessing.text.vocab`, `model.text.pretrained`) are relative to the file that names them;
          a path given with `--set` is relative to the folder fusionlab runs in.
        - **Errors** name the file and the JSON path, list the allowed values and suggest the nearest
          key or value: `exp.json: model.fusion.kind: expected one of "concat", "late", … got "attn"; did you mean "attention"?`
        - **Editors:** `Experiments/experiment.schema.json` is the JSON Schema of this format
          (`fusionlab schema` prints it). Point a file at it with a `"$schema"` key, as above (VS Code,
          JetBrains IDEs and any editor with a JSON language server then complete keys, show these
          descriptions and mark wrong values), or map `Experiments/**/*.json` to it in the editor's
          settings (`json.schemas` in VS Code).

        Encoder layer stacks (`model.<modality>.layers`) are described in [encoders.md](encoders.md);
        their settings are listed at the end of this page.

        """)
        let all = entries()
        lines.append("## Top level\n\n| key | type | default | what it does |\n|---|---|---|---|")
        func row(_ entry: Entry) -> String {
            let allowed = entry.allowed.isEmpty ? "" : " One of: " + entry.allowed.map { "`\($0)`" }.joined(separator: ", ") + "."
            let value = entry.defaultValue.isEmpty ? "" : "`\(cell(entry.defaultValue))`"
            return "| `\(entry.key)` | \(cell(entry.type)) | \(value) | \(cell(entry.description))\(allowed) |"
        }
        for entry in all where !entry.key.contains(".") && entry.type != "object" { lines.append(row(entry)) }
        for section in all where !section.key.contains(".") && section.type == "object" {
            lines.append("\n## `\(section.key)`\n\n\(section.description)\n\n| key | type | default | what it does |\n|---|---|---|---|")
            for entry in all where entry.key.hasPrefix(section.key + ".") { lines.append(row(entry)) }
        }
        lines.append("""

        ## Layer settings

        A layer is a type name (`"relu"`) or an object with `type` and the settings its type accepts:

        | type | settings |
        |---|---|
        """)
        for type in LayerSpec.types.keys.sorted() {
            let keys = LayerSpec.types[type] ?? []
            lines.append("| `\(type)` | \(keys.isEmpty ? "—" : keys.map { "`\($0)`" }.joined(separator: ", ")) |")
        }
        lines.append("\n| setting | what it does |\n|---|---|")
        for (key, text) in LayerSpec.settingDocumentation.sorted(by: { $0.key < $1.key }) {
            lines.append("| `\(key)` | \(cell(text)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
