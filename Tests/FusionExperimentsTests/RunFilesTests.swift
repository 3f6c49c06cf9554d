import Foundation
import FusionExperiments
import XCTest

final class RunFilesTests: XCTestCase {
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
