import FusionCore
import Foundation

/// Serialises JSON objects the way Jupyter saves notebooks — Python's
/// `json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False)` plus a final newline — so
/// an exported notebook diffs cleanly against the same notebook saved by Jupyter.
///
/// Accepts `[String: Any]`, `[Any]`, `String`, `Bool`, `Int`, finite `Double`, `NSNull` and
/// `NSNumber` (as `JSONSerialization` produces); anything else is an error naming its JSON path.
enum NotebookJSON {
    static func serialize(_ value: Any, file: String) throws -> String {
        var out = ""
        try write(value, indent: 0, path: "$", file: file, into: &out)
        return out + "\n"
    }

    private static func write(_ value: Any, indent: Int, path: String, file: String, into out: inout String) throws {
        let type = type(of: value)
        if value is NSNull {
            out += "null"
        } else if let string = value as? String {
            out += quoted(string)
        } else if type == Bool.self, let bool = value as? Bool {
            out += bool ? "true" : "false"
        } else if type == Int.self, let int = value as? Int {
            out += String(int)
        } else if type == Double.self, let double = value as? Double {
            guard double.isFinite else { throw ExperimentError("\(file): \(path) is \(double), which JSON cannot hold") }
            out += double == double.rounded() && abs(double) < 1e16 ? String(format: "%.1f", double) : "\(double)"
        } else if let number = value as? NSNumber {
            out += try numberText(number, path: path, file: file)
        } else if let object = value as? [String: Any] {
            guard !object.isEmpty else { out += "{}"; return }
            out += "{\n"
            let keys = object.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            for (index, key) in keys.enumerated() {
                out += String(repeating: " ", count: indent + 1) + quoted(key) + ": "
                try write(object[key] ?? NSNull(), indent: indent + 1, path: "\(path).\(key)", file: file, into: &out)
                out += index + 1 < keys.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        } else if let array = value as? [Any] {
            guard !array.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (index, element) in array.enumerated() {
                out += String(repeating: " ", count: indent + 1)
                try write(element, indent: indent + 1, path: "\(path)[\(index)]", file: file, into: &out)
                out += index + 1 < array.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        } else {
            throw ExperimentError("\(file): \(path) holds a \(type), expected a JSON value (object, array, string, number, bool or null)")
        }
    }

    private static func numberText(_ number: NSNumber, path: String, file: String) throws -> String {
        switch String(cString: number.objCType) {
        case "c", "B": return number.boolValue ? "true" : "false"
        case "f", "d":
            guard number.doubleValue.isFinite else { throw ExperimentError("\(file): \(path) is not a finite number") }
            return "\(number.doubleValue)"
        default: return "\(number.int64Value)"
        }
    }

    /// A JSON string literal; non-ASCII characters stay as they are (UTF-8 file).
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
