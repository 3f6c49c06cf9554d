import Foundation
import FusionData
import FusionTensor
import XCTest

/// Dataset folders: reading, validation errors, policies, writing.
final class DatasetTests: XCTestCase {
    /// Writes a small three-modality dataset (some samples lack modalities) and returns its folder.
    static func makeDataset(in dir: String, count: Int = 12) throws -> String {
        let root = dir + "/ds"
        var records = [DatasetWriter.Record]()
        for i in 0..<count {
            let label = i % 2 == 0 ? "cat" : "dog"
            var r = DatasetWriter.Record(id: "s\(i)", split: i < count - 4 ? .train : (i < count - 2 ? .val : .test), label: label)
            if i % 3 != 0 { r.text = "a \(label) sample number \(i)" }
            if i % 4 != 1 {
                let image = Tensor((0..<(3 * 10 * 12)).map { Float(($0 * (i + 1)) % 17) / 16 }, shape: [3, 10, 12])
                try PNGEncoder.write(image, to: root + "/images/s\(i).png")
                r.image = "images/s\(i).png"
            }
            if i % 5 != 2 {
                let samples = (0..<4000).map { Float(sin(Double($0) * 0.05 * Double(i + 1))) * 0.3 }
                try AudioFile.write(AudioClip(sampleRate: 8000, samples: samples), to: root + "/audio/s\(i).wav")
                r.audio = "audio/s\(i).wav"
            }
            records.append(r)
        }
        try DatasetWriter.write(info: DatasetInfo(name: "toy", labels: ["cat", "dog"], source: "tests"), records: records, to: root)
        return root
    }

    func testReadsWhatItWrites() throws {
        let root = try Self.makeDataset(in: TestSupport.temporaryDirectory(self))
        let ds = try Dataset.load(path: root)
        XCTAssertEqual(ds.info.labels, ["cat", "dog"])
        XCTAssertEqual(ds.samples.count, 12)
        XCTAssertEqual(ds.samples(in: .train).count, 8)
        XCTAssertEqual(ds.samples(in: .test).count, 2)
        XCTAssertNil(ds.samples[0].text)
        XCTAssertNil(ds.samples[1].imagePath)
        XCTAssertNil(ds.samples[2].audioPath)
        XCTAssertEqual(ds.samples[3].label, 1)
        XCTAssertTrue(ds.warnings.isEmpty)
    }

    func testWindowsLineEndsReadLineByLine() throws {
        let root = try Self.makeDataset(in: TestSupport.temporaryDirectory(self))
        let path = root + "/samples.jsonl"
        let unix = try String(contentsOfFile: path, encoding: .utf8)
        try unix.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        let ds = try Dataset.load(path: root)
        XCTAssertEqual(ds.samples.count, 12)
        XCTAssertEqual(ds.samples.map(\.line), Array(1...12))
        XCTAssertTrue(ds.warnings.isEmpty)
    }

    func testEveryBadLineIsNamedAndPoliciesApply() throws {
        let root = try Self.makeDataset(in: TestSupport.temporaryDirectory(self))
        let samplesPath = root + "/samples.jsonl"
        let good = try String(contentsOfFile: samplesPath, encoding: .utf8)
        let bad: [(String, String)] = [
            ("{not json", "malformed JSON"),
            (#"{"id":"x1","split":"train","label":"cow","text":"t"}"#, "unknown label \"cow\""),
            (#"{"id":"x2","split":"training","label":"cat","text":"t"}"#, "unknown split \"training\""),
            (#"{"id":"x3","split":"train","label":"cat","image":"../outside.png"}"#, "leaves the dataset folder"),
            (#"{"id":"x4","split":"train","label":"cat","image":"/etc/passwd"}"#, "relative"),
            (#"{"id":"x5","split":"train","label":"cat","audio":"audio/missing.wav"}"#, "does not exist"),
            (#"{"id":"s0","split":"train","label":"cat","text":"dup"}"#, "duplicate id"),
            (#"{"id":"x6","split":"train","label":"cat","colour":"red","text":"t"}"#, "unknown key \"colour\""),
            (#"{"id":"x7","split":"train","label":"cat"}"#, "no text, image or audio"),
            (#"{"id":"x8","split":"train","label":3,"text":"t"}"#, "\"label\": expected a string"),
        ]
        let lineNumber = good.split(separator: "\n").count + 1
        for (line, expected) in bad {
            try (good + line + "\n").write(toFile: samplesPath, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Dataset.load(path: root)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("samples.jsonl:\(lineNumber)"), text)
                XCTAssertTrue(text.contains(expected), "expected “\(expected)” in \(text)")
            }
        }
        try (good + bad.map(\.0).joined(separator: "\n") + "\n").write(toFile: samplesPath, atomically: true, encoding: .utf8)
        var logged = [String]()
        let ds = try Dataset.load(path: root, policy: .skip) { logged.append($0) }
        XCTAssertEqual(ds.samples.count, 12)
        XCTAssertEqual(ds.warnings.count, bad.count)
        XCTAssertTrue(logged.last?.contains("skipped \(bad.count)") ?? false)
    }

    func testDatasetJSONErrors() throws {
        let root = try Self.makeDataset(in: TestSupport.temporaryDirectory(self))
        let cases = [("{", "malformed JSON"), (#"{"name":"x","labels":[]}"#, "labels"), (#"{"name":"x","labels":["a"],"task":"regression"}"#, "classification"),
                     (#"{"name":"x","labels":["a"],"lables":1}"#, "unknown key")]
        for (content, expected) in cases {
            try content.write(toFile: root + "/dataset.json", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Dataset.load(path: root)) { error in
                XCTAssertTrue("\(error)".contains("dataset.json") && "\(error)".contains(expected), "\(error)")
            }
        }
        XCTAssertThrowsError(try DatasetWriter.write(info: DatasetInfo(name: "x", labels: ["a"]),
                                                     records: [.init(id: "1", split: .train, label: "b", text: "t")], to: root + "/new"))
    }

    func testWordVocabularyBuildSaveLoad() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let vocab = try WordVocabulary.build(from: ["the cat sat", "the dog sat", "the end!"], minFrequency: 2, maxSize: 10)
        XCTAssertEqual(vocab.words, ["[PAD]", "[UNK]", "the", "sat"])
        XCTAssertEqual(vocab.encode("The cat sat", maxLength: 5).ids, [2, 1, 3, 0, 0])
        XCTAssertEqual(vocab.encode("The cat sat", maxLength: 5).attentionMask, [1, 1, 1, 0, 0])
        try vocab.save(to: dir + "/vocab.txt")
        XCTAssertEqual(try WordVocabulary.load(path: dir + "/vocab.txt").words, vocab.words)
        let fromSplit = try WordVocabulary.build(from: Dataset.load(path: Self.makeDataset(in: dir)), minFrequency: 2)
        XCTAssertEqual(Array(fromSplit.words.prefix(5)), ["[PAD]", "[UNK]", "a", "number", "sample"])
        let everyTrainingWord = try WordVocabulary.build(from: Dataset.load(path: dir + "/ds"))
        XCTAssertTrue(everyTrainingWord.words.contains("7"))
        XCTAssertFalse(everyTrainingWord.words.contains("10"), "only training texts (s10 is a validation sample)")
        let capped = try WordVocabulary.build(from: ["a b c d e f"], maxSize: 4)
        XCTAssertEqual(capped.words.count, 4)
    }
}
