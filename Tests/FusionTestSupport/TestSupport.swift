import Foundation
import FusionTensor
import XCTest

/// Asserts that two tensors have the same shape and close values: |a − b| ≤ atol + rtol·|b|.
public func assertClose(_ a: Tensor, _ b: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5, _ message: String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "shape differs \(message)", file: file, line: line)
    guard a.shape == b.shape else { return }
    var worst: Float = 0, worstIndex = 0
    for i in 0..<a.count {
        let excess = Swift.abs(a.data[i] - b.data[i]) - (atol + rtol * Swift.abs(b.data[i]))
        if excess > worst || a.data[i].isNaN { worst = a.data[i].isNaN ? .infinity : excess; worstIndex = i }
    }
    XCTAssertLessThanOrEqual(worst, 0, "value \(a.data[worstIndex]) vs expected \(b.data[worstIndex]) at flat index \(worstIndex) \(message)",
                             file: file, line: line)
}

/// Asserts arrays of floats are close.
public func assertClose(_ a: [Float], _ b: [Float], rtol: Float = 1e-4, atol: Float = 1e-5, _ message: String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    assertClose(Tensor(a, shape: [a.count]), Tensor(b, shape: [b.count]), rtol: rtol, atol: atol, message, file: file, line: line)
}

/// Checks the recorded backward of `f` against central finite differences.
///
/// The scalar checked is Σ f(inputs) · R for a fixed random R, so every output element's
/// gradient path is exercised. Inputs are perturbed one value at a time by ±`eps`.
public func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, rtol: Float = 2e-2, atol: Float = 2e-3, _ name: String = "",
                      file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    var rng = SeededGenerator(seed: 1234)
    for t in inputs { t.requiresGrad = true; t.grad = nil }
    let probe = f(inputs)
    let r = Tensor.uniform(probe.shape, low: -1, high: 1, using: &rng)
    let loss = (probe * r).sum()
    loss.backward()
    for (k, t) in inputs.enumerated() {
        guard let analytic = t.grad else {
            XCTFail("\(name): input \(k) got no gradient", file: file, line: line)
            continue
        }
        let numeric = Tensor.zeros(t.shape)
        withNoGrad {
            for i in 0..<t.count {
                let saved = t.data[i]
                t.data[i] = saved + eps
                let plus = (f(inputs) * r).sum().item
                t.data[i] = saved - eps
                let minus = (f(inputs) * r).sum().item
                t.data[i] = saved
                numeric.data[i] = (plus - minus) / (2 * eps)
            }
        }
        assertClose(analytic, numeric, rtol: rtol, atol: atol, "\(name): gradient of input \(k)", file: file, line: line)
    }
}

/// A tensor of values uniform in `[low, high)` from a fixed seed.
public func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, using: &rng)
}

/// Golden files, temporary folders and array comparisons shared by the test targets.
public enum GoldenFiles {
    /// The path of committed golden file `name` in `bundle`'s `Golden` folder (a skip when missing).
    public static func path(_ name: String, in bundle: Bundle) throws -> String {
        guard let url = bundle.url(forResource: "Golden/" + name, withExtension: nil)
            ?? bundle.resourceURL?.appendingPathComponent("Golden/" + name) else {
            throw XCTSkip("golden file \(name) missing")
        }
        return url.path
    }

    /// Parses committed golden JSON file `name` of `bundle`.
    public static func json(_ name: String, in bundle: Bundle) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(name, in: bundle)))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NSError(domain: "golden", code: 1)
        }
        return object
    }

    /// A fresh temporary directory, removed when `test` ends.
    public static func temporaryDirectory(_ test: XCTestCase) throws -> String {
        let path = NSTemporaryDirectory() + "fusionlab-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The largest absolute difference between two equal-length arrays.
    public static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count) values")
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }
}

/// A fresh folder for one test's files: under $FUSIONLAB_TEST_OUTPUT when set (kept, so that
/// scripts/check_notebook.py and scripts/check_tensorboard.py can inspect them), else a
/// temporary folder that `removeTestOutput` deletes.
public func makeTestOutputDirectory(_ name: String) -> String {
    if let root = ProcessInfo.processInfo.environment["FUSIONLAB_TEST_OUTPUT"], !root.isEmpty {
        let path = "\(root)/\(name)"
        try? FileManager.default.removeItem(atPath: path)
        return path
    }
    return FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
}

/// Deletes a test folder unless $FUSIONLAB_TEST_OUTPUT asks to keep it.
public func removeTestOutput(_ path: String) {
    guard ProcessInfo.processInfo.environment["FUSIONLAB_TEST_OUTPUT"] == nil else { return }
    try? FileManager.default.removeItem(atPath: path)
}
