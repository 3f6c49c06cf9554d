import Foundation

/// Builds an SVG document element by element; coordinates are written with one decimal and
/// every text and attribute value is XML-escaped.
struct SVGDocument {
    private var body: [String] = []
    let width: Double
    let height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
        rect(x: 0, y: 0, width: width, height: height, fill: "#ffffff", stroke: "none")
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double) {
        body.append("<line x1=\"\(c(x1))\" y1=\"\(c(y1))\" x2=\"\(c(x2))\" y2=\"\(c(y2))\" stroke=\"\(xmlEscape(stroke))\" stroke-width=\"\(c(width))\"/>")
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String) {
        let list = points.map { "\(c($0.0)),\(c($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(xmlEscape(stroke))\" stroke-width=\"2\" stroke-linejoin=\"round\"/>")
    }

    mutating func circle(x: Double, y: Double, r: Double, fill: String) {
        body.append("<circle cx=\"\(c(x))\" cy=\"\(c(y))\" r=\"\(c(r))\" fill=\"\(xmlEscape(fill))\"/>")
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String,
                       opacity: Double? = nil) {
        let opacityAttribute = opacity.map { " fill-opacity=\"\(c($0))\"" } ?? ""
        body.append("<rect x=\"\(c(x))\" y=\"\(c(y))\" width=\"\(c(max(width, 0)))\" height=\"\(c(max(height, 0)))\" fill=\"\(xmlEscape(fill))\" stroke=\"\(xmlEscape(stroke))\"\(opacityAttribute)/>")
    }

    /// Text anchored at (x, y) ("start", "middle" or "end"), optionally rotated about that point.
    mutating func text(_ content: String, x: Double, y: Double, size: Double, anchor: String = "start",
                       fill: String = "#222222", rotate: Double? = nil, weight: String? = nil) {
        var attributes = "x=\"\(c(x))\" y=\"\(c(y))\" font-size=\"\(c(size))\" text-anchor=\"\(xmlEscape(anchor))\" fill=\"\(xmlEscape(fill))\""
        if let rotate { attributes += " transform=\"rotate(\(c(rotate)) \(c(x)) \(c(y)))\"" }
        if let weight { attributes += " font-weight=\"\(xmlEscape(weight))\"" }
        body.append("<text \(attributes)>\(xmlEscape(content))</text>")
    }

    /// The complete document, one element per line.
    func finished() -> String {
        let open = "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(c(width))\" height=\"\(c(height))\" viewBox=\"0 0 \(c(width)) \(c(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">"
        return ([open] + body.map { "  " + $0 } + ["</svg>"]).joined(separator: "\n") + "\n"
    }

    /// A coordinate with at most one decimal.
    private func c(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.1f", rounded)
    }
}

/// Escapes the five XML special characters and drops control characters XML 1.0 forbids.
func xmlEscape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        default:
            if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
