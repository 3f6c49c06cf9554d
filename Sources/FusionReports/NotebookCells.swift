import Foundation

/// Collects nbformat 4.5 cells with unique, deterministic ids (`cell-1`, `cell-2`, …).
struct NotebookBuilder {
    private(set) var cells: [[String: Any]] = []

    private var nextID: String { "cell-\(cells.count + 1)" }

    /// A Markdown cell.
    mutating func markdown(_ text: String) {
        cells.append(["cell_type": "markdown", "id": nextID, "metadata": [String: Any](), "source": sourceLines(text)])
    }

    /// A code cell that has not been run.
    mutating func code(_ source: String) {
        cells.append(["cell_type": "code", "id": nextID, "metadata": [String: Any](), "source": sourceLines(source),
                      "execution_count": NSNull(), "outputs": [Any]()])
    }

    /// Figures as Markdown cells holding the SVG as a base64 data URI (`<img src="data:image/svg+xml;base64,…">`,
    /// which JupyterLab, Notebook 7 and nbconvert all render; their attachment resolvers take
    /// raster images only): they show without a kernel and survive "Run All", which clears
    /// code-cell outputs; `note` says which code cells redraw them from the CSV files.
    mutating func figures(note: String, _ figures: [(title: String, svg: String)]) {
        for figure in figures {
            let data = Data(figure.svg.utf8).base64EncodedString()
            let alt = figure.title.replacingOccurrences(of: "\"", with: "'").replacingOccurrences(of: "<", with: "(").replacingOccurrences(of: ">", with: ")")
            cells.append(["cell_type": "markdown", "id": nextID, "metadata": ["tags": ["figure"]],
                          "source": sourceLines("**\(markdownEscape(figure.title))** (\(note))\n\n<img alt=\"\(alt)\" src=\"data:image/svg+xml;base64,\(data)\"/>")])
        }
    }

    /// The notebook: cells plus Python 3 kernel metadata and FusionLab provenance.
    func notebook(fusionlab: [String: Any]) -> [String: Any] {
        [
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": [
                "kernelspec": ["display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"],
                "language_info": ["name": "python", "file_extension": ".py", "mimetype": "text/x-python"],
                "fusionlab": fusionlab,
            ] as [String: Any],
            "cells": cells,
        ]
    }
}

/// Splits text into Jupyter's multiline-string form: lines that keep their "\n", the last without.
func sourceLines(_ text: String) -> [String] {
    var lines = text.components(separatedBy: "\n").map { $0 + "\n" }
    if let last = lines.popLast(), last != "\n" { lines.append(String(last.dropLast())) }
    return lines
}

// MARK: - Markdown helpers

/// Escapes text for a Markdown table cell or list item: backslash, pipe, emphasis and code
/// marks, and angle brackets (which would open HTML).
func markdownEscape(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "\\", "|", "*", "_", "`", "[", "]", "#": out += "\\\(character)"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\n", "\r": out += " "
        default: out.append(character)
        }
    }
    return out
}

/// A Markdown table; cells are used as given (escape them first), the first column left-aligned
/// and the others right-aligned.
package func markdownTable(header: [String], rows: [[String]]) -> String {
    let alignment = header.indices.map { $0 == 0 ? ":---" : "---:" }
    return ([header, alignment] + rows).map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n")
}

/// A metric value with four decimals, "–" when undefined.
func metricText(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "–" }
    return String(format: "%.4f", value)
}

/// The path of `target` as seen from the folder `base` (both made absolute first); `target`
/// unchanged when `base` is nil.
func relativePath(to target: String, from base: String?) -> String {
    guard let base else { return target }
    let targetParts = URL(fileURLWithPath: target).standardizedFileURL.pathComponents
    let baseParts = URL(fileURLWithPath: base).standardizedFileURL.pathComponents
    var common = 0
    while common < min(targetParts.count, baseParts.count), targetParts[common] == baseParts[common] { common += 1 }
    let ups = [String](repeating: "..", count: baseParts.count - common)
    let path = (ups + targetParts[common...]).joined(separator: "/")
    return path.isEmpty ? "." : path
}

/// A Python string literal (double-quoted, escaped).
func pythonString(_ text: String) -> String {
    NotebookJSON.quoted(text)
}
