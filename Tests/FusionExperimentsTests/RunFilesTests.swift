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

    func testRunsStartedTogetherNeverShareAFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("runs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var named = ExperimentConfig()
        named.name = "same"
        let config = named
        let made = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            guard let run = try? RunDirectory.create(root: root, config: config) else { return }
            made.update { $0.append(run.path) }
        }
        let paths = made.value
        XCTAssertEqual(paths.count, 16)
        XCTAssertEqual(Set(paths).count, 16, "two runs got one folder: \(paths.sorted())")
    }
}
