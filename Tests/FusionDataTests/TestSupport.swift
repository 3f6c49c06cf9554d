import Foundation
import XCTest

/// Shared helpers for FusionData's tests.
enum TestSupport {
    /// The path of a committed golden file.
    static func golden(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: "Golden/" + name, withExtension: nil)
            ?? Bundle.module.resourceURL?.appendingPathComponent("Golden/" + name) else {
            throw XCTSkip("golden file \(name) missing")
        }
        return url.path
    }

    /// Parses a committed golden JSON file.
    static func goldenJSON(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: golden(name)))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NSError(domain: "golden", code: 1)
        }
        return object
    }

    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> String {
        let path = NSTemporaryDirectory() + "fusiondata-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The largest absolute difference between two equal-length arrays.
    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count) values")
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }
}
