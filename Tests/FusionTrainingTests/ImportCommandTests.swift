import Foundation
import FusionData
import FusionTensor
import FusionTestSupport
import XCTest

/// `fusionlab import` then `validate`, through the binary: a lab's table keeps its file names,
/// dataset.json records what the media are, and validate suggests defaults that suit them.
final class ImportCommandTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("import")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    func testImportRecordsMediaStatisticsAndValidateSuggestsDefaultsFromThem() throws {
        let raw = Self.workspace.appendingPathComponent("lab/photos").path
        try FileManager.default.createDirectory(atPath: raw, withIntermediateDirectories: true)
        var table = "class,caption,photo,recording\n"
        for i in 0..<24 {
            // Colour photos 12×10 and 16 kHz clips of 0.30 to 0.875 s, as a lab's recorder makes them.
            let label = i % 2 == 0 ? "yes" : "no"
            try PNGEncoder.write(Tensor((0..<(3 * 10 * 12)).map { Float(($0 * (i + 2)) % 17) / 16 }, shape: [3, 10, 12]), to: "\(raw)/take_\(i).png")
            let samples = (0..<(4800 + 400 * i)).map { Float(sin(Double($0) * (i % 2 == 0 ? 0.05 : 0.11))) * 0.3 }
            try AudioFile.write(AudioClip(sampleRate: 16000, samples: samples), to: "\(raw)/take_\(i).wav")
            table += "\(label),say \(label),photos/take_\(i).png,photos/take_\(i).wav\n"
        }
        write("lab/takes.csv", table)
        let imported = try fusionlab(["import", "lab/takes.csv", "-o", "takes"])
        XCTAssertEqual(imported.status, 0, imported.err)
        let info = try json(Self.workspace.appendingPathComponent("takes/dataset.json").path)
        let audio = try XCTUnwrap((info["media"] as? [String: Any])?["audio"] as? [String: Any], "\(info)")
        XCTAssertEqual(audio["common_sample_rate"] as? Int, 16000)
        let samples = try String(contentsOfFile: Self.workspace.appendingPathComponent("takes/samples.jsonl").path, encoding: .utf8)
        XCTAssertTrue(samples.contains(#""id":"take_7""#) && samples.contains(#""media/take_7.png""#), samples)
        XCTAssertTrue(samples.contains(#""line":9"#) && samples.contains("lab/photos/take_7.wav"), "each sample's source")

        write("takes.json", """
        {"name": "takes", "seed": 1, "dataset": {"path": "takes"},
         "preprocessing": {"image": {"height": 10, "width": 12}, "audio": {"duration": 0.5, "n_fft": 256, "hop_length": 128, "n_mels": 16, "n_mfcc": 8}},
         "model": {"text": {"embedding_dim": 8, "dim": 8}, "image": {"channels": [4], "dim": 8}, "audio": {"channels": [4], "dim": 8},
                   "fusion": {"dim": 8}, "head": {"hidden": [8]}},
         "training": {"epochs": 1, "batch_size": 8, "threads": 1}}
        """)
        let validated = try fusionlab(["validate", "takes.json"])
        XCTAssertEqual(validated.status, 0, validated.err)
        for expected in ["suggestion: preprocessing.audio.duration: 0.85 would keep 95 % of the clips whole (now 0.5 s",
                         "suggestion: preprocessing.audio.sample_rate: 16000, the clips' own rate",
                         #"suggestion: preprocessing.image.color: "rgb": 24 of 24 images are in colour"#] {
            XCTAssertTrue(validated.out.contains(expected), "\(expected) in:\n\(validated.out)")
        }
        // Taking them, nothing is left to suggest.
        let suited = try fusionlab(["validate", "takes.json", "--set", "preprocessing.audio.duration=0.85",
                                    "--set", "preprocessing.audio.sample_rate=16000", "--set", "preprocessing.image.color=rgb"])
        XCTAssertEqual(suited.status, 0, suited.err)
        XCTAssertFalse(suited.out.contains("suggestion:"), suited.out)
    }
}
