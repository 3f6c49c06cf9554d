import FusionMedia
import Foundation
import FusionTensor

/// A byte trie over vocabulary pieces for greedy longest-match lookup, with children in one
/// open-addressing hash table keyed by (node, byte).
struct PieceTrie {
    private var keys: [UInt64]
    private var values: [Int32]
    private var mask: Int
    /// Token id ending at each node, or -1.
    private(set) var terminal: [Int32] = [-1, -1]
    /// Root of pieces that start a word, and of "##" continuation pieces (prefix removed).
    static let wordRoot: Int32 = 0, continuationRoot: Int32 = 1

    init(expectedBytes: Int) {
        var capacity = 1024
        while capacity < expectedBytes * 2 { capacity *= 2 }
        keys = [UInt64](repeating: 0, count: capacity)
        values = [Int32](repeating: -1, count: capacity)
        mask = capacity - 1
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    @inline(__always) func child(_ node: Int32, _ byte: UInt8) -> Int32 {
        let key = (UInt64(UInt32(bitPattern: node)) << 8 | UInt64(byte)) &+ 1
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == 0 { return -1 }
            i = (i + 1) & mask
        }
    }

    mutating func insert<S: Sequence>(_ bytes: S, root: Int32, id: Int32) where S.Element == UInt8 {
        var node = root
        for b in bytes {
            var next = child(node, b)
            if next < 0 {
                next = Int32(terminal.count)
                terminal.append(-1)
                let key = (UInt64(UInt32(bitPattern: node)) << 8 | UInt64(b)) &+ 1
                var i = slot(key)
                while keys[i] != 0 { i = (i + 1) & mask }
                keys[i] = key
                values[i] = next
            }
            node = next
        }
        if terminal[Int(node)] < 0 { terminal[Int(node)] = id }
    }
}

/// A BERT WordPiece tokenizer from a `vocab.txt` (one piece per line, the line number is the
/// id). It gives the ids of Hugging Face tokenizers' `BertWordPieceTokenizer`: BERT
/// normalisation and pre-tokenisation (`BasicTokenizer`), greedy longest-match-first WordPiece
/// with the `##` continuation prefix, `[UNK]` for words that cannot be spelled or are longer
/// than `maxInputCharsPerWord`, `[CLS] … [SEP]` around each text.
public final class WordPieceTokenizer: @unchecked Sendable {
    /// The pieces, indexed by id.
    public let vocabulary: [String]
    /// Normalisation and pre-tokenisation.
    public let basic: BasicTokenizer
    /// Words longer than this (in Unicode scalars) become `[UNK]`.
    public let maxInputCharsPerWord: Int
    /// Ids of the special tokens.
    public let unkID: Int32, clsID: Int32, sepID: Int32, padID: Int32
    private let trie: PieceTrie

    /// Loads `vocab.txt`. Errors name the file; a vocabulary without `[UNK]`, `[CLS]`, `[SEP]`
    /// and `[PAD]` is an error.
    public convenience init(vocabPath: String, lowercase: Bool = true, stripAccents: Bool? = nil,
                            maxInputCharsPerWord: Int = 100) throws {
        let data = try FileIO.read(vocabPath)
        guard let text = String(data: data, encoding: .utf8) else {
            throw FusionDataError(file: vocabPath, "vocabulary is not valid UTF-8")
        }
        var lines = text.components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        if lines.last == "" { lines.removeLast() }
        do {
            try self.init(vocabulary: lines, lowercase: lowercase, stripAccents: stripAccents,
                          maxInputCharsPerWord: maxInputCharsPerWord)
        } catch let error as FusionDataError {
            throw FusionDataError(file: vocabPath, error.message)
        }
    }

    /// A tokenizer over `vocabulary` (index = id).
    public init(vocabulary: [String], lowercase: Bool = true, stripAccents: Bool? = nil,
                maxInputCharsPerWord: Int = 100) throws {
        self.vocabulary = vocabulary
        basic = BasicTokenizer(lowercase: lowercase, stripAccents: stripAccents)
        self.maxInputCharsPerWord = maxInputCharsPerWord
        var trie = PieceTrie(expectedBytes: vocabulary.reduce(0) { $0 + $1.utf8.count })
        var ids = [String: Int32]()
        for (i, piece) in vocabulary.enumerated() {
            if ids[piece] == nil { ids[piece] = Int32(i) }
            if piece.hasPrefix("##") && piece.utf8.count > 2 {
                trie.insert(piece.utf8.dropFirst(2), root: PieceTrie.continuationRoot, id: Int32(i))
            } else if !piece.isEmpty {
                trie.insert(piece.utf8, root: PieceTrie.wordRoot, id: Int32(i))
            }
        }
        self.trie = trie
        func special(_ name: String) throws -> Int32 {
            guard let id = ids[name] else { throw FusionDataError(file: "", "vocabulary has no \(name) token") }
            return id
        }
        unkID = try special("[UNK]")
        clsID = try special("[CLS]")
        sepID = try special("[SEP]")
        padID = try special("[PAD]")
    }

    /// Appends the WordPiece ids of one word (UTF-8 bytes, `scalars` long) to `ids`.
    @inline(__always)
    private func appendWord(_ word: UnsafeBufferPointer<UInt8>, scalars: Int, to ids: inout [Int32]) {
        if scalars > maxInputCharsPerWord { ids.append(unkID); return }
        let mark = ids.count
        var start = 0
        let n = word.count
        while start < n {
            var node = start == 0 ? PieceTrie.wordRoot : PieceTrie.continuationRoot
            var best: Int32 = -1, bestEnd = start
            var i = start
            while i < n {
                node = trie.child(node, word[i])
                if node < 0 { break }
                i += 1
                // A match may only end on a character boundary.
                if i == n || word[i] & 0xC0 != 0x80 {
                    let id = trie.terminal[Int(node)]
                    if id >= 0 { best = id; bestEnd = i }
                }
            }
            if best < 0 {
                ids.removeSubrange(mark...)
                ids.append(unkID)
                return
            }
            ids.append(best)
            start = bestEnd
        }
    }

    /// The ids of `text`, with `[CLS]` and `[SEP]` around them when `addSpecialTokens`.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        var ids = [Int32]()
        ids.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecialTokens { ids.append(clsID) }
        basic.forEachWord(in: text) { word, scalars in appendWord(word, scalars: scalars, to: &ids) }
        if addSpecialTokens { ids.append(sepID) }
        return ids
    }

    /// The ids of `text` truncated (keeping the start) and padded with `[PAD]` to exactly
    /// `maxLength`, with `[CLS]`/`[SEP]`, and the attention mask (1 real, 0 padding).
    public func encode(_ text: String, maxLength: Int) -> (ids: [Int32], attentionMask: [Int32]) {
        var body = encode(text, addSpecialTokens: false)
        let room = max(0, maxLength - 2)
        if body.count > room { body.removeLast(body.count - room) }
        var ids = [clsID] + body + [sepID]
        if ids.count > maxLength { ids.removeLast(ids.count - maxLength) }
        var mask = [Int32](repeating: 1, count: ids.count)
        if ids.count < maxLength {
            mask += [Int32](repeating: 0, count: maxLength - ids.count)
            ids += [Int32](repeating: padID, count: maxLength - ids.count)
        }
        return (ids, mask)
    }

    /// A batch of texts as `[B, maxLength]` ids and a `[B, maxLength]` Float attention mask.
    public func encodeBatch(_ texts: [String], maxLength: Int) -> (ids: IndexTensor, attentionMask: Tensor) {
        var ids = [Int32]()
        ids.reserveCapacity(texts.count * maxLength)
        let mask = Tensor(uninitializedShape: [texts.count, maxLength])
        for (b, text) in texts.enumerated() {
            let one = encode(text, maxLength: maxLength)
            ids += one.ids
            for t in 0..<maxLength { mask.data[b * maxLength + t] = Float(one.attentionMask[t]) }
        }
        return (IndexTensor(ids, shape: [texts.count, maxLength]), mask)
    }

    /// The pieces of `ids` (unknown ids as `[UNK]`).
    public func tokens(_ ids: [Int32]) -> [String] {
        ids.map { Int($0) >= 0 && Int($0) < vocabulary.count ? vocabulary[Int($0)] : "[UNK]" }
    }
}
