import FusionMedia
import Foundation

/// BERT's normalisation and pre-tokenisation, as Hugging Face tokenizers' `BertNormalizer` +
/// `BertPreTokenizer`: drop control characters, turn whitespace into separators, put spaces
/// around CJK ideographs, optionally strip accents (NFD, then drop non-spacing marks) and
/// lowercase, then split on whitespace and make every punctuation character its own word.
public struct BasicTokenizer: Sendable {
    /// Lowercase every character.
    public var lowercase: Bool
    /// Strip accents (defaults to `lowercase`, as in BERT).
    public var stripAccents: Bool
    /// Remove control characters and map every whitespace character to a space.
    public var cleanText: Bool
    /// Split CJK ideographs into single-character words.
    public var handleChineseChars: Bool

    /// A tokenizer with BERT's uncased defaults.
    public init(lowercase: Bool = true, stripAccents: Bool? = nil, cleanText: Bool = true, handleChineseChars: Bool = true) {
        self.lowercase = lowercase
        self.stripAccents = stripAccents ?? lowercase
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
    }

    /// Calls `body` with each word's UTF-8 bytes (valid only during the call) and its length in
    /// Unicode scalars.
    public func forEachWord(in text: String, _ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        var word = [UInt8]()
        word.reserveCapacity(64)
        var scalars = 0
        func flush() {
            if !word.isEmpty { word.withUnsafeBufferPointer { body($0, scalars) } }
            word.removeAll(keepingCapacity: true)
            scalars = 0
        }
        func emitAlone(_ s: Unicode.Scalar) {
            flush()
            append(s)
            flush()
        }
        func append(_ s: Unicode.Scalar) {
            let v = s.value
            if v < 0x80 {
                word.append(UInt8(v))
            } else if v < 0x800 {
                word.append(UInt8(0xC0 | (v >> 6))); word.append(UInt8(0x80 | (v & 0x3F)))
            } else if v < 0x10000 {
                word.append(UInt8(0xE0 | (v >> 12))); word.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                word.append(UInt8(0x80 | (v & 0x3F)))
            } else {
                word.append(UInt8(0xF0 | (v >> 18))); word.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
                word.append(UInt8(0x80 | ((v >> 6) & 0x3F))); word.append(UInt8(0x80 | (v & 0x3F)))
            }
            scalars += 1
        }
        // A normalised scalar goes to the pre-tokenizer: separator, lone punctuation, or word part.
        func pretokenize(_ s: Unicode.Scalar) {
            let v = s.value
            if v < 0x80 {
                if v == 0x20 || (v >= 0x09 && v <= 0x0D) { flush(); return }
                if Self.asciiPunctuation(v) { emitAlone(s); return }
                append(s)
                return
            }
            if s.properties.isWhitespace { flush(); return }
            if Self.isPunctuation(s) { emitAlone(s); return }
            append(s)
        }
        for s in text.unicodeScalars {
            let v = s.value
            if v < 0x80 {
                // ASCII fast path: controls other than \t \n \r (and DEL) are dropped.
                if cleanText && (v < 0x20 || v == 0x7F) && v != 0x09 && v != 0x0A && v != 0x0D { continue }
                if lowercase && v >= 0x41 && v <= 0x5A {
                    pretokenize(Unicode.Scalar(UInt8(v + 32)))
                } else {
                    pretokenize(s)
                }
                continue
            }
            if cleanText {
                if v == 0xFFFD { continue }
                switch s.properties.generalCategory {
                case .control, .format, .unassigned, .privateUse, .surrogate: continue
                default: break
                }
            }
            if handleChineseChars && Self.isCJK(v) {
                flush()
                for n in normalized(s) { append(n) }
                flush()
                continue
            }
            for n in normalized(s) { pretokenize(n) }
        }
        flush()
    }

    /// The words of `text` as strings (for inspection and the word-level vocabulary).
    public func words(_ text: String) -> [String] {
        var out = [String]()
        forEachWord(in: text) { bytes, _ in out.append(String(decoding: bytes, as: UTF8.self)) }
        return out
    }

    /// Accent stripping and lowercasing of one non-ASCII scalar.
    private func normalized(_ s: Unicode.Scalar) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = [s]
        if stripAccents {
            scalars = String(s).decomposedStringWithCanonicalMapping.unicodeScalars
                .filter { $0.properties.generalCategory != .nonspacingMark }
        }
        if lowercase {
            scalars = scalars.flatMap { Array($0.properties.lowercaseMapping.unicodeScalars) }
        }
        return scalars
    }

    @inline(__always) static func asciiPunctuation(_ v: UInt32) -> Bool {
        (v >= 33 && v <= 47) || (v >= 58 && v <= 64) || (v >= 91 && v <= 96) || (v >= 123 && v <= 126)
    }

    /// ASCII punctuation (which includes symbols such as `$` and `^`) or any Unicode P* category.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 { return asciiPunctuation(s.value) }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .closePunctuation, .finalPunctuation,
             .initialPunctuation, .otherPunctuation, .openPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK Unified Ideograph blocks BERT treats as single-character words.
    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B920...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}
