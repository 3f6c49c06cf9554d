import Foundation
import FusionCore
import XCTest

/// The shared vocabulary: modality order, choices as spelled in JSON, batches without a
/// modality, errors that print as written, and atomic writes.
final class CoreTests: XCTestCase {
    func testModalitiesSortInTheFixedOrderAndChoicesSpellAsInJSON() throws {
        XCTAssertEqual([Modality.audio, .text, .image].sorted(), [.text, .image, .audio])
        XCTAssertEqual(Modality.spellings, ["text", "image", "audio"])
        XCTAssertEqual(Split.spellings, ["train", "val", "test"])
        XCTAssertEqual(try JSONDecoder().decode([Modality].self, from: Data(#"["audio","text"]"#.utf8)), [.audio, .text])
        XCTAssertThrowsError(try JSONDecoder().decode([Modality].self, from: Data(#"["video"]"#.utf8)))
    }

    func testRemovingAModalityMarksItAbsentForEverySampleAndKeepsTheRest() {
        let batch = MultimodalBatch(inputs: [.image: ModalityInput(features: Tensor.ones([3, 1, 2, 2])),
                                             .text: ModalityInput(features: Tensor.ones([3, 4]))],
                                    presence: [.text: Tensor([1, 0, 1], shape: [3])], labels: [0, 1, 2])
        XCTAssertEqual(batch.size, 3)
        XCTAssertEqual(batch.presence(of: .image).scalars, [1, 1, 1], "absent from the mask means present")
        let without = batch.removing(.image)
        XCTAssertEqual(without.presence(of: .image).scalars, [0, 0, 0])
        XCTAssertEqual(without.presence(of: .text).scalars, [1, 0, 1])
        XCTAssertEqual(without.labels, [0, 1, 2])
    }

    func testExperimentErrorsPrintTheirMessage() {
        let error: Error = ExperimentError("exp.json: model.fusion.kind: expected one of concat, late")
        XCTAssertEqual("\(error)", "exp.json: model.fusion.kind: expected one of concat, late")
    }

    func testAtomicWriteReplacesAndLeavesNoTemporaryFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("runfiles-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sub/metrics.json").path
        try writeTextAtomically("{\"a\": 1}", to: path)
        try writeTextAtomically("{\"a\": 2}", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "{\"a\": 2}")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("sub").path), ["metrics.json"])
    }
}
