import Foundation
import FusionData
import FusionModels
import FusionNN

/// An enumeration whose raw values a JSON Schema lists.
public protocol SchemaEnumerable {
    /// The allowed JSON strings.
    static var schemaValues: [String] { get }
}

extension FusionKind: SchemaEnumerable { public static var schemaValues: [String] { allCases.map { $0.rawValue } } }
extension Modality: SchemaEnumerable { public static var schemaValues: [String] { allCases.map { $0.rawValue } } }
extension Activation.Kind: SchemaEnumerable { public static var schemaValues: [String] { allCases.map { $0.rawValue } } }

/// Generates the JSON Schema of experiment files from the configuration types themselves
/// (property names, value types, enumerations and defaults), so editors can validate and
/// complete; `Experiments/experiment.schema.json` is its committed output.
public enum ConfigSchema {
    /// String fields whose values are restricted, by JSON path.
    static let stringChoices: [String: [String]] = [
        "dataset.bad_samples": ["fail", "skip"],
        "preprocessing.text.tokenizer": ["word", "wordpiece"],
        "preprocessing.image.color": ["grey", "rgb"],
        "training.optimizer": ["adam", "adamw", "sgd"],
        "training.schedule.kind": ["constant", "step", "cosine"],
        "training.non_finite": ["stop", "skip"],
        "training.early_stopping.metric": ConfigValidation.metricNames,
        "sweep.method": ["grid", "random"],
        "model.image.preset": ModelConfig.presets[.image] ?? [],
        "model.audio.preset": ModelConfig.presets[.audio] ?? [],
        "model.text.preset": ModelConfig.presets[.text] ?? [],
        "model.image.pooling": ["max", "avg", "none"],
        "model.text.pooling": ["mean", "max"],
        "sweep.metric": ConfigValidation.metricNames,
    ]

    /// One-line descriptions of the sections.
    static let descriptions: [String: String] = [
        "": "A FusionLab experiment: dataset, preprocessing, model (encoders, fusion, head), training, transfer, evaluation, comparison and sweep.",
        "extends": "Base experiment file(s), relative to this one; this file's keys win.",
        "name": "Runs are written to runs/<name>/<timestamp>-<hash>/.",
        "seed": "The experiment seed; data order, augmentation, initialisation and dropout seeds derive from it.",
        "dataset": "The dataset folder and, optionally, the generator of the default dataset.",
        "preprocessing": "How text, images and audio become tensors (cached once per split).",
        "model": "Encoders per modality, the fusion strategy and the classifier head.",
        "training": "Optimizer, schedule, epochs, batch size, early stopping, clipping, threads.",
        "transfer": "Initialise from a checkpoint or another experiment's run, freeze, per-group learning rates, gradual unfreezing.",
        "evaluation": "Metrics reported in tables.",
        "compare": "fusionlab compare: values of any key × seeds, plus unimodal baselines.",
        "sweep": "fusionlab sweep: grid or seeded random search over key paths.",
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
        if let text = descriptions[path] { out["description"] = text }
        return out
    }

    static func leafSchema(for value: Any, path: String) -> [String: Any] {
        if let e = value as? any SchemaEnumerable, let raw = value as? any RawRepresentable {
            return ["enum": type(of: e).schemaValues, "default": "\(raw.rawValue)"]
        }
        switch value {
        case let b as Bool: return ["type": "boolean", "default": b]
        case let i as Int: return ["type": "integer", "default": i]
        case let u as UInt64: return ["type": "integer", "minimum": 0, "default": u]
        case let f as Float: return ["type": "number", "default": Double(f)]
        case let d as Double: return ["type": "number", "default": d]
        case let s as String:
            if let choices = stringChoices[path] { return ["enum": choices, "default": s] }
            return ["type": "string", "default": s]
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
            let key = snakeCase(label)
            properties[key] = schema(for: child.value, path: path.isEmpty ? key : path + "." + key)
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
            case "op": settings[key] = ["enum": ["avg", "max", "attention"]]
            case "output": settings[key] = ["enum": ["last", "sequence"]]
            case "activation": settings[key] = ["enum": ["relu", "gelu"]]
            case "encoding": settings[key] = ["enum": ["sinusoidal", "learned"]]
            case "layers": settings[key] = ["type": "array", "items": ["$ref": "#/$defs/layer"]]
            default: settings[key] = ["type": "integer", "minimum": 1]
            }
        }
        return ["oneOf": [["enum": types], ["type": "object", "required": ["type"], "properties": settings, "additionalProperties": false]],
                "description": "An encoder layer: a type (\"relu\") or {\"type\": ..., settings}; see docs/experiment-format.md."]
    }
}
