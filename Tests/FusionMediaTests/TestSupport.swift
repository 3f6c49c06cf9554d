import Foundation
import FusionTestSupport
import XCTest

/// This target's golden files, and the shared helpers.
enum TestSupport {
    /// The path of a committed golden file.
    static func golden(_ name: String) throws -> String { try GoldenFiles.path(name, in: .module) }
    /// Parses a committed golden JSON file.
    static func goldenJSON(_ name: String) throws -> [String: Any] { try GoldenFiles.json(name, in: .module) }
    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> String { try GoldenFiles.temporaryDirectory(test) }
    /// The largest absolute difference between two equal-length arrays.
    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float { GoldenFiles.maxAbsDiff(a, b) }
}
