import Foundation
import FusionData
import FusionTensor
import XCTest

/// The survey of what preprocessing does to a dataset's media, from the files' headers.
final class DataSurveyTests: XCTestCase {
    func testSurveyCountsResizedResampledPaddedAndTrimmedMediaAndWarnsAboutTrimming() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/media", withIntermediateDirectories: true)
        var lines: [String] = []
        // 10 samples: images 8×6 grey and 12×10 colour; clips at 16 kHz of 0.1 to 1.0 s.
        for i in 0..<10 {
            let colour = i % 2 == 1
            let (h, w) = colour ? (10, 12) : (6, 8)
            try PNGEncoder.write(Tensor([Float](repeating: 0.5, count: (colour ? 3 : 1) * h * w), shape: [colour ? 3 : 1, h, w]), to: "\(dir)/media/\(i).png")
            try AudioFile.write(AudioClip(sampleRate: 16000, samples: [Float](repeating: 0.1, count: 1600 * (i + 1))), to: "\(dir)/media/\(i).wav")
            lines.append("{\"id\": \"s\(i)\", \"label\": \"\(i % 2)\", \"split\": \"train\", \"image\": \"media/\(i).png\", \"audio\": \"media/\(i).wav\", \"text\": \"one two three\"}")
        }
        try #"{"name": "survey", "labels": ["0", "1"]}"#.write(toFile: dir + "/dataset.json", atomically: true, encoding: .utf8)
        try lines.joined(separator: "\n").write(toFile: dir + "/samples.jsonl", atomically: true, encoding: .utf8)
        let dataset = try Dataset.load(path: dir)
        var mfcc = MFCCSettings()
        mfcc.sampleRate = 8000
        let settings = PreprocessingSettings(image: ImagePreprocessing(height: 6, width: 8, colorMode: .grey),
                                             audio: AudioPreprocessing(durationSeconds: 0.45, mfcc: mfcc), text: TextPreprocessing(maxLength: 2))
        let survey = DataSurvey.survey(dataset, settings: settings)
        let text = survey.lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("image: 10 files, width 8–12"), text)
        XCTAssertTrue(text.contains("5 colour, 5 grey → 8×6 grey: 5 resized, 5 converted to grey"), text)
        XCTAssertTrue(text.contains("audio: 10 clips, 16000 Hz, 0.10 s–1.00 s"), text)
        XCTAssertTrue(text.contains("10 resampled, 4 padded, 6 trimmed (60 %)"), text)
        XCTAssertTrue(text.contains("10 have more words than tokens"), text)
        XCTAssertEqual(survey.warnings.count, 1)
        XCTAssertTrue(survey.warnings[0].hasPrefix("preprocessing.audio.duration: 0.45 s trims 60 %"), survey.warnings[0])
        XCTAssertTrue(survey.warnings[0].hasSuffix("; 1 s would keep 95 % of them whole"), "the value validate suggests: \(survey.warnings[0])")

        // The statistics import records, and the defaults suggested from them.
        let media = MediaStatistics.measure(images: dataset.samples.compactMap(\.imagePath), audio: dataset.samples.compactMap(\.audioPath))
        XCTAssertEqual(media.image?.files, 10)
        XCTAssertEqual(media.image?.colour, 5)
        XCTAssertEqual(media.image?.width.max, 12)
        XCTAssertEqual(media.audio?.commonSampleRate, 16000)
        XCTAssertEqual(try XCTUnwrap(media.audio?.seconds.p95), 1.0, accuracy: 1e-9, "the nearest rank: the 10th of 10")
        XCTAssertEqual(try XCTUnwrap(media.audio?.seconds.median), 0.55, accuracy: 1e-9, "numpy's median of an even count")
        let suggestions = media.suggestions(for: settings)
        XCTAssertEqual(suggestions.count, 2, "\(suggestions)")
        XCTAssertTrue(suggestions[0].hasPrefix("preprocessing.audio.duration: 1 would keep 95 % of the clips whole (now 0.45 s"), suggestions[0])
        XCTAssertTrue(suggestions[1].hasPrefix("preprocessing.audio.sample_rate: 16000, the clips' own rate (now 8000, which downsamples"), suggestions[1])
        var suited = settings
        var native = MFCCSettings()
        native.sampleRate = 16000
        suited.audio = AudioPreprocessing(durationSeconds: 1.0, mfcc: native)
        XCTAssertEqual(media.suggestions(for: suited), [], "16 kHz and 1 s suit these clips")
    }
}
