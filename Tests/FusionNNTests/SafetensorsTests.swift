import Foundation
import FusionNN
import FusionTensor
import FusionTestSupport
import XCTest

final class SafetensorsTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// The tensors of Golden/from_swift.safetensors, which the golden script loads in PyTorch.
    func interopTensors() -> [(String, Tensor)] {
        [("arange", Tensor.arange(0, 12).reshaped([3, 4])), ("neg", Tensor.arange(0, 6).reshaped([2, 3]) * -0.5)]
    }

    func testRoundTripKeepsValuesShapesAndMetadata() throws {
        var rng = SeededGenerator(seed: 1)
        let a = Tensor.randn([3, 4, 5], using: &rng), b = Tensor(scalar: 2.5), c = Tensor.zeros([0, 3])
        try Safetensors.write([("a", a), ("b", b), ("empty", c)], metadata: ["epoch": "3"], to: path("x.safetensors"))
        let read = try Safetensors.read(path("x.safetensors"))
        XCTAssertEqual(read.metadata, ["epoch": "3"])
        XCTAssertEqual(read.tensors["a"]?.scalars, a.scalars)
        XCTAssertEqual(read.tensors["a"]?.shape, [3, 4, 5])
        XCTAssertEqual(read.tensors["b"]?.shape, [])
        XCTAssertEqual(read.tensors["empty"]?.shape, [0, 3])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp") }
        XCTAssertEqual(leftovers, [], "the temporary file was renamed into place")
    }

    func testReadsFileWrittenByPythonSafetensors() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "from_python", withExtension: "safetensors", subdirectory: "Golden"))
        let file = try Safetensors.read(url.path)
        XCTAssertEqual(file.metadata["producer"], "python-safetensors")
        let f32 = try XCTUnwrap(file.tensors["f32"])
        XCTAssertEqual(f32.shape, [3, 4])
        XCTAssertEqual(f32.scalars.first, -2)
        XCTAssertEqual(f32.scalars.last, 2)
        for (key, expected) in [("f16", "f16_expected"), ("bf16", "bf16_expected"), ("f16_special", "f16_special_expected")] {
            let got = try XCTUnwrap(file.tensors[key]), want = try XCTUnwrap(file.tensors[expected])
            XCTAssertEqual(got.shape, want.shape, key)
            for (x, y) in zip(got.scalars, want.scalars) {
                XCTAssertTrue(x == y || (x.isNaN && y.isNaN), "\(key): \(x) vs \(y)")
                XCTAssertEqual(x.sign, y.sign, "\(key): sign of \(x)")
            }
        }
    }

    /// The committed from_swift.safetensors is what this writer produces, byte for byte; the golden
    /// script checks that PyTorch reads it. `FUSIONLAB_WRITE_GOLDEN=1` rewrites it.
    func testWritesTheCommittedInteropFile() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/from_swift.safetensors")
        if ProcessInfo.processInfo.environment["FUSIONLAB_WRITE_GOLDEN"] == "1" {
            try Safetensors.write(interopTensors(), metadata: ["producer": "FusionLab"], to: source.path)
        }
        try Safetensors.write(interopTensors(), metadata: ["producer": "FusionLab"], to: path("mine.safetensors"))
        let url = try XCTUnwrap(Bundle.module.url(forResource: "from_swift", withExtension: "safetensors", subdirectory: "Golden"))
        XCTAssertEqual(try Data(contentsOf: url), try Data(contentsOf: URL(fileURLWithPath: path("mine.safetensors"))))
    }

    func expectError(_ bytes: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let p = path("bad-\(UUID().uuidString).safetensors")
        FileManager.default.createFile(atPath: p, contents: bytes)
        XCTAssertThrowsError(try Safetensors.read(p), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(p), "error names the file: \(message)", file: file, line: line)
            XCTAssertTrue(message.contains(fragment), "error says \"\(fragment)\": \(message)", file: file, line: line)
        }
    }

    func header(_ json: String, extra: Int = 0) -> Data {
        var d = Data()
        var n = UInt64(json.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(Data(json.utf8))
        d.append(Data(repeating: 0, count: extra))
        return d
    }

    func testMalformedFilesGiveClearErrors() throws {
        expectError(Data([1, 2, 3]), "8-byte header length")
        var huge = Data(repeating: 0xFF, count: 8)
        huge.append(Data("{}".utf8))
        expectError(huge, "exceeds the limit")
        var claims = Data([200, 0, 0, 0, 0, 0, 0, 0])
        claims.append(Data("{}".utf8))
        expectError(claims, "header claims 200 bytes")
        expectError(header("not json"), "not a JSON object")
        expectError(header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, extra: 4), "outside the 4-byte data section")
        expectError(header(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, extra: 8), "needs 12 bytes")
        expectError(header(#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, extra: 8), "supported are")
        expectError(header(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, extra: 4), "non-negative integers")
        expectError(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, extra: 8), "data_offsets")
        expectError(header(#"{"__metadata__":{"k":3}}"#), "must be a string")
        // A forged shape whose element count times the dtype width overflows (a trap before).
        expectError(header(#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, extra: 4), "more than")
        expectError(header(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, extra: 4), "overflows")
    }

    func testACheckpointWithNonFiniteValuesIsRefused() throws {
        var rng = SeededGenerator(seed: 0)
        let layer = Linear(2, 2, rng: &rng)
        let weight = Tensor([1, .nan, 3, 4], shape: [2, 2])
        try Safetensors.write([("weight", weight), ("bias", Tensor([0, 0], shape: [2]))], to: path("nan.safetensors"))
        XCTAssertThrowsError(try layer.load(from: path("nan.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("non-finite") && "\(error)".contains("weight"), "\(error)")
        }
    }

    func testEveryTruncationOfAValidFileFailsCleanly() throws {
        try Safetensors.write(interopTensors(), metadata: ["k": "v"], to: path("whole.safetensors"))
        let whole = try Data(contentsOf: URL(fileURLWithPath: path("whole.safetensors")))
        for length in 0..<whole.count {
            XCTAssertThrowsError(try Safetensors.parse(whole.prefix(length), path: "cut-\(length)"), "truncated at \(length)")
        }
    }

    func testModuleCheckpointRoundTripAndShapeMismatch() throws {
        var rng = SeededGenerator(seed: 2)
        let a = Sequential([Linear(4, 3, rng: &rng), Activation(.relu), Linear(3, 2, rng: &rng)])
        let b = Sequential([Linear(4, 3, rng: &rng), Activation(.relu), Linear(3, 2, rng: &rng)])
        try a.save(to: path("model.safetensors"))
        try b.load(from: path("model.safetensors"))
        for ((ka, ta), (kb, tb)) in zip(a.stateDict(), b.stateDict()) {
            XCTAssertEqual(ka, kb)
            XCTAssertEqual(ta.scalars, tb.scalars)
        }
        let wrong = Sequential([Linear(4, 5, rng: &rng), Activation(.relu), Linear(5, 2, rng: &rng)])
        XCTAssertThrowsError(try wrong.load(from: path("model.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("\"0.weight\" has shape [3, 4] but the model expects [5, 4]"), "\(error)")
        }
        let bigger = Sequential([Linear(4, 3, rng: &rng), Activation(.relu), Linear(3, 2, rng: &rng), Activation(.relu), Linear(2, 2, rng: &rng)])
        XCTAssertThrowsError(try bigger.load(from: path("model.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("missing tensors for 2 model keys: 4.weight, 4.bias"), "\(error)")
        }
    }
}
