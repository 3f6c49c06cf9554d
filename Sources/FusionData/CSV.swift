import Foundation

/// RFC 4180 CSV: a header row, quoted fields with doubled quotes, commas and newlines inside
/// quotes, CRLF or LF line ends; errors name the line.
package enum CSV {
    /// Every row, the header included, with the line it starts on and its fields in order.
    package static func rows(_ text: String, delimiter: Character, file: String) throws -> [(line: Int, values: [String])] {
        var rows = [(line: Int, values: [String])]()
        var field = "", values = [String](), inQuotes = false, line = 1, rowStart = 1, afterQuote = false
        var iterator = text.makeIterator()
        var pending: Character? = nil
        func endRow() {
            values.append(field)
            if !(values.count == 1 && values[0].isEmpty) { rows.append((rowStart, values)) }
            values = []; field = ""
        }
        while let ch = pending ?? iterator.next() {
            pending = nil
            if inQuotes {
                if ch == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { inQuotes = false; afterQuote = true; pending = next }
                    } else { inQuotes = false }
                } else {
                    if ch == "\n" || ch == "\r\n" { line += 1 }
                    field.append(ch)
                }
                continue
            }
            switch ch {
            case "\"":
                guard field.isEmpty && !afterQuote else {
                    throw FusionDataError(file: file, line: line, "a quote inside an unquoted field (quote the whole field and double inner quotes)")
                }
                inQuotes = true
            case delimiter:
                values.append(field); field = ""; afterQuote = false
            case "\n", "\r\n", "\r":
                endRow(); afterQuote = false
                line += 1; rowStart = line
            default:
                guard !afterQuote else { throw FusionDataError(file: file, line: line, "text after a closing quote") }
                field.append(ch)
            }
        }
        if inQuotes { throw FusionDataError(file: file, line: rowStart, "a quoted field is never closed") }
        if !field.isEmpty || !values.isEmpty { endRow() }
        return rows
    }

    /// The rows after the header, each with the line it starts on and its fields by column name.
    package static func records(_ text: String, delimiter: Character, file: String) throws -> [(line: Int, fields: [String: String])] {
        let rows = try rows(text, delimiter: delimiter, file: file)
        guard let header = rows.first else { return [] }
        let names = header.values.map { $0.trimmingCharacters(in: .whitespaces) }
        if let duplicate = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 && !$0.key.isEmpty })?.key {
            throw FusionDataError(file: file, line: 1, "column \"\(duplicate)\" appears twice in the header")
        }
        return try rows.dropFirst().map { row in
            guard row.values.count == names.count else {
                throw FusionDataError(file: file, line: row.line, "\(row.values.count) fields, the header has \(names.count)")
            }
            var fields = [String: String]()
            for (name, value) in zip(names, row.values) where !name.isEmpty { fields[name] = value }
            return (row.line, fields)
        }
    }
}
