import Foundation
import FusionData
import XCTest

/// WordPiece against Hugging Face tokenizers' BertWordPieceTokenizer (golden from
/// scripts/golden/frontend_goldens.py).
final class WordPieceTests: XCTestCase {
    func testMatchesHuggingFaceOnCorpus() throws {
        let golden = try TestSupport.goldenJSON("wordpiece_hf.json")
        let vocab = try TestSupport.golden("wordpiece_vocab.txt")
        let uncased = try WordPieceTokenizer(vocabPath: vocab, lowercase: true)
        let cased = try WordPieceTokenizer(vocabPath: vocab, lowercase: false)
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 20)
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            let lowercase = try XCTUnwrap(c["lowercase"] as? Bool)
            let expected = try XCTUnwrap(c["ids"] as? [Int]).map(Int32.init)
            let got = (lowercase ? uncased : cased).encode(text)
            XCTAssertEqual(got, expected, "lowercase=\(lowercase) \(text.debugDescription): ours \((lowercase ? uncased : cased).tokens(got)) vs \(c["tokens"] ?? "")")
        }
        for c in try XCTUnwrap(golden["max_length_16"] as? [[String: Any]]) {
            let text = try XCTUnwrap(c["text"] as? String)
            let got = uncased.encode(text, maxLength: 16)
            XCTAssertEqual(got.ids, try XCTUnwrap(c["ids"] as? [Int]).map(Int32.init), text.debugDescription)
            XCTAssertEqual(got.attentionMask, try XCTUnwrap(c["attention_mask"] as? [Int]).map(Int32.init))
        }
    }

    func testBatchShapesAndMissingSpecialTokens() throws {
        let tokenizer = try WordPieceTokenizer(vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "##s", "world"])
        let batch = tokenizer.encodeBatch(["hellos world", "unknown"], maxLength: 6)
        XCTAssertEqual(batch.ids.shape, [2, 6])
        XCTAssertEqual(batch.ids.values, [2, 4, 5, 6, 3, 0, 2, 1, 3, 0, 0, 0])
        XCTAssertEqual(batch.attentionMask.scalars, [1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0])
        XCTAssertThrowsError(try WordPieceTokenizer(vocabulary: ["a", "b"]))
        XCTAssertThrowsError(try WordPieceTokenizer(vocabPath: "/nonexistent/vocab.txt")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/vocab.txt"))
        }
    }
}
