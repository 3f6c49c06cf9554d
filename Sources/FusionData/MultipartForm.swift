import FusionMedia
import Foundation

/// A `multipart/form-data` body (RFC 7578) split into its named parts: what `fusionlab serve`
/// reads uploads from. Untrusted input: every malformed body is a `FusionDataError` saying what
/// was expected, never a trap.
public struct MultipartForm: Sendable {
    /// One form field.
    public struct Part: Sendable {
        /// The field name (`Content-Disposition: form-data; name="…"`).
        public var name: String
        /// The uploaded file's name, when the part is a file.
        public var filename: String?
        /// The part's `Content-Type`, when given.
        public var contentType: String?
        /// The part's bytes.
        public var body: Data
    }

    /// The parts in body order.
    public var parts: [Part]

    /// The boundary of a `multipart/form-data` Content-Type value, or nil when the value is
    /// another type or names no boundary.
    public static func boundary(contentType: String) -> String? {
        let fields = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = fields.first, type.lowercased() == "multipart/form-data" else { return nil }
        for field in fields.dropFirst() {
            let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            // RFC 2046: 1 to 70 characters.
            return (1...70).contains(value.utf8.count) ? value : nil
        }
        return nil
    }

    /// Parses `body` delimited by `boundary`; `maxParts` bounds the number of parts.
    public init(body: Data, boundary: String, maxParts: Int = 16) throws {
        let bytes = [UInt8](body)
        let delimiter = Array("--\(boundary)".utf8)
        func fail(_ message: String) -> FusionDataError { FusionDataError(file: "multipart body", message) }
        guard var position = Self.find(delimiter, in: bytes, from: 0) else {
            throw fail("expected the boundary \"--\(boundary)\" from the Content-Type, found none")
        }
        var parts: [Part] = []
        let separator = Array("\r\n--\(boundary)".utf8)
        while true {
            position += delimiter.count
            // "--" after a delimiter closes the body.
            if position + 2 <= bytes.count, bytes[position] == 0x2D, bytes[position + 1] == 0x2D { break }
            // Transport padding, then CRLF.
            while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
            guard position + 2 <= bytes.count, bytes[position] == 0x0D, bytes[position + 1] == 0x0A else {
                throw fail("expected a line break after the boundary at byte \(position), or \"--\" closing the body")
            }
            position += 2
            guard let headerEnd = Self.find(Array("\r\n\r\n".utf8), in: bytes, from: position - 2) else {
                throw fail("part \(parts.count + 1): its headers never end (no blank line)")
            }
            let headerBytes = headerEnd >= position ? Array(bytes[position..<headerEnd]) : []
            guard let headers = String(bytes: headerBytes, encoding: .utf8) else {
                throw fail("part \(parts.count + 1): its headers are not UTF-8")
            }
            let bodyStart = headerEnd + 4
            guard let next = Self.find(separator, in: bytes, from: bodyStart) else {
                throw fail("part \(parts.count + 1): no closing boundary after it (a truncated upload?)")
            }
            guard parts.count < maxParts else { throw fail("more than \(maxParts) parts") }
            var part = try Self.part(headers: headers, index: parts.count + 1)
            part.body = Data(bytes[bodyStart..<next])
            parts.append(part)
            position = next + 2
        }
        self.parts = parts
    }

    /// The first part named `name`.
    public subscript(name: String) -> Part? { parts.first { $0.name == name } }

    static func part(headers: String, index: Int) throws -> Part {
        var name: String?, filename: String?, type: String?
        for line in headers.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw FusionDataError(file: "multipart body", "part \(index): header line \"\(line.prefix(80))\" has no \":\"")
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if key == "content-type" { type = value }
            guard key == "content-disposition" else { continue }
            let fields = Self.fields(value)
            guard fields.first?.key.lowercased() == "form-data" else {
                throw FusionDataError(file: "multipart body", "part \(index): expected Content-Disposition form-data, got \"\(value.prefix(80))\"")
            }
            for (k, v) in fields.dropFirst() {
                switch k.lowercased() {
                case "name": name = v
                case "filename": filename = v
                default: break
                }
            }
        }
        guard let name, !name.isEmpty else {
            throw FusionDataError(file: "multipart body", "part \(index): expected a Content-Disposition header with name=\"…\"")
        }
        return Part(name: name, filename: filename, contentType: type, body: Data())
    }

    /// `form-data; name="a;b"; filename=x` → [("form-data", ""), ("name", "a;b"), ("filename", "x")].
    static func fields(_ value: String) -> [(key: String, value: String)] {
        var result: [(String, String)] = []
        var key = "", current = "", inQuotes = false, escaped = false, sawEquals = false
        func flush() {
            let k = (sawEquals ? key : current).trimmingCharacters(in: .whitespaces)
            if !k.isEmpty { result.append((k, sawEquals ? current : "")) }
            key = ""; current = ""; sawEquals = false
        }
        for c in value {
            if escaped { current.append(c); escaped = false; continue }
            if inQuotes {
                if c == "\\" { escaped = true } else if c == "\"" { inQuotes = false } else { current.append(c) }
                continue
            }
            switch c {
            case "\"": inQuotes = true
            case ";": flush()
            case "=" where !sawEquals: key = current; current = ""; sawEquals = true
            default: if sawEquals || c != " " || !current.isEmpty { current.append(c) }
            }
        }
        flush()
        return result.map { (key: $0.0, value: $0.1.trimmingCharacters(in: .whitespaces)) }
    }

    /// The first index ≥ `start` where `needle` occurs in `haystack`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, needle.count <= haystack.count else { return nil }
        var i = max(0, start)
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count, haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
