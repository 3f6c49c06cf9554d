import FusionMedia
import Foundation

/// Anything that turns a text into a fixed number of token ids plus an attention mask.
public protocol TextEncoder: AnyObject, Sendable {
    /// Ids truncated/padded to `maxLength`, and the mask (1 real, 0 padding).
    func encode(_ text: String, maxLength: Int) -> (ids: [Int32], attentionMask: [Int32])
    /// The number of distinct ids.
    var vocabularySize: Int { get }
}

extension WordPieceTokenizer: TextEncoder {
    /// The number of pieces in the vocabulary.
    public var vocabularySize: Int { vocabulary.count }
}

/// A word-level vocabulary built from a training split, for datasets without a pretrained one.
/// Words come from `BasicTokenizer` (so punctuation is its own word); ids 0 and 1 are
/// `[PAD]` and `[UNK]`, then words by descending count (ties alphabetical).
public final class WordVocabulary: TextEncoder, @unchecked Sendable {
    /// The words, indexed by id.
    public let words: [String]
    /// The pre-tokenizer.
    public let basic: BasicTokenizer
    private let ids: [String: Int32]
    /// Id of `[PAD]`.
    public let padID: Int32 = 0
    /// Id of `[UNK]`.
    public let unkID: Int32 = 1

    /// A vocabulary of exactly `words` (the first two must be `[PAD]` and `[UNK]`).
    public init(words: [String], lowercase: Bool = true) throws {
        guard words.count >= 2, words[0] == "[PAD]", words[1] == "[UNK]" else {
            throw FusionDataError(file: "", "word vocabulary must start with [PAD] and [UNK]")
        }
        self.words = words
        basic = BasicTokenizer(lowercase: lowercase, stripAccents: false)
        ids = Dictionary(words.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Counts the words of `texts` and keeps those seen at least `minFrequency` times, at most
    /// `maxSize` entries in all (including the two special tokens).
    public static func build(from texts: [String], minFrequency: Int = 1, maxSize: Int? = nil,
                             lowercase: Bool = true) throws -> WordVocabulary {
        let basic = BasicTokenizer(lowercase: lowercase, stripAccents: false)
        var counts = [String: Int]()
        for text in texts { for w in basic.words(text) { counts[w, default: 0] += 1 } }
        var ranked = counts.filter { $0.value >= minFrequency }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
        ranked.removeAll { $0 == "[PAD]" || $0 == "[UNK]" }
        if let maxSize { ranked = Array(ranked.prefix(max(0, maxSize - 2))) }
        return try WordVocabulary(words: ["[PAD]", "[UNK]"] + ranked, lowercase: lowercase)
    }

    /// The vocabulary of one split's texts (the training split by default, so validation and
    /// test words stay unseen).
    public static func build(from dataset: Dataset, split: Split = .train, minFrequency: Int = 1, maxSize: Int? = nil,
                             lowercase: Bool = true) throws -> WordVocabulary {
        try build(from: dataset.samples(in: split).compactMap(\.text), minFrequency: minFrequency, maxSize: maxSize, lowercase: lowercase)
    }

    /// Loads a vocabulary saved by `save(to:)` (one word a line).
    public static func load(path: String, lowercase: Bool = true) throws -> WordVocabulary {
        guard let text = String(data: try FileIO.read(path), encoding: .utf8) else {
            throw FusionDataError(file: path, "vocabulary is not valid UTF-8")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        do { return try WordVocabulary(words: lines, lowercase: lowercase) } catch let error as FusionDataError {
            throw FusionDataError(file: path, error.message)
        }
    }

    /// Saves one word a line, atomically.
    public func save(to path: String) throws {
        try FileIO.writeAtomically(Data((words.joined(separator: "\n") + "\n").utf8), to: path)
    }

    /// The number of words including the special tokens.
    public var vocabularySize: Int { words.count }

    /// Word ids of `text` (unknown words → `[UNK]`), truncated and padded to `maxLength`.
    public func encode(_ text: String, maxLength: Int) -> (ids: [Int32], attentionMask: [Int32]) {
        var out = [Int32]()
        basic.forEachWord(in: text) { bytes, _ in
            if out.count < maxLength { out.append(ids[String(decoding: bytes, as: UTF8.self)] ?? unkID) }
        }
        var mask = [Int32](repeating: 1, count: out.count)
        if out.count < maxLength {
            mask += [Int32](repeating: 0, count: maxLength - out.count)
            out += [Int32](repeating: padID, count: maxLength - out.count)
        }
        return (out, mask)
    }
}
