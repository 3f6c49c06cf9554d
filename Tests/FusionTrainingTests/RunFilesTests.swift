import Foundation
import FusionConfig
import FusionTensor
import FusionTraining
import XCTest

final class RunFilesTests: XCTestCase {
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
