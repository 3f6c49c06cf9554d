import Foundation
@testable import FusionReports
import FusionTestSupport
import XCTest

final class TensorBoardTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = makeTestOutputDirectory("tensorboard-" + name.filter { $0.isLetter || $0.isNumber })
    }

    override func tearDownWithError() throws {
        removeTestOutput(directory)
    }

    func testCRC32CCheckValueAndMaskMatchTensorBoard() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)  // the published check value
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)  // RFC 3720 B.4
        // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c (scripts/check_tensorboard.py --goldens)
        XCTAssertEqual(CRC32C.masked(Array("123456789".utf8)), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.masked([24, 0, 0, 0, 0, 0, 0, 0]), 0x224B_7FA3)
    }

    func testEventBytesEqualTensorBoardsProtobuf() throws {
        // event_pb2.Event(...).SerializeToString().hex() (scripts/check_tensorboard.py --goldens)
        let scalar = TensorBoardEvent(wallTime: 1.5, step: 3, scalars: [("loss/train", 0.25)])
        XCTAssertEqual(hex(scalar.encoded()), "09000000000000f83f10032a130a110a0a6c6f73732f747261696e150000803e")
        let header = TensorBoardEvent(wallTime: 1_700_000_000.25, fileVersion: "brain.Event:2")
        XCTAssertEqual(hex(header.encoded()), "0900001040fc54d9411a0d627261696e2e4576656e743a32")
        let negative = TensorBoardEvent(wallTime: 1, step: -1)
        XCTAssertEqual(hex(negative.encoded()), "09000000000000f03f10ffffffffffffffffff01")
        for event in [scalar, header, negative] {
            XCTAssertEqual(try TensorBoardEvent.decode(event.encoded()), event)
        }
    }

    func testWriteThenReadBack() throws {
        let writer = try TensorBoardWriter(directory: directory)
        let name = URL(fileURLWithPath: writer.path).lastPathComponent
        XCTAssertTrue(name.hasPrefix("events.out.tfevents."), name)
        XCTAssertTrue(name.hasSuffix("." + TensorBoardWriter.hostname()), name)
        for epoch in 0..<5 {
            try writer.scalar("loss/train", 1 / Float(epoch + 1), step: epoch)
            try writer.scalar("accuracy/val", Float(epoch) / 10, step: epoch)
        }
        try writer.flush()
        try writer.scalar("loss/train", -0.5, step: 1_000_000_000_000)
        try writer.close()

        XCTAssertEqual(try TensorBoardWriter.fileVersion(path: writer.path), "brain.Event:2")
        let scalars = try TensorBoardWriter.readScalars(path: writer.path)
        XCTAssertEqual(scalars.count, 11)
        XCTAssertEqual(scalars.filter { $0.tag == "loss/train" }.map(\.step), [0, 1, 2, 3, 4, 1_000_000_000_000])
        XCTAssertEqual(scalars.filter { $0.tag == "loss/train" }.map(\.value), [1, 0.5, 1 / Float(3), 0.25, 0.2, -0.5])
        XCTAssertEqual(scalars.filter { $0.tag == "accuracy/val" }.map(\.value), [0, 0.1, 0.2, 0.3, 0.4])
        XCTAssertEqual(try TensorBoardWriter.readRecords(path: writer.path).count, 12)
    }

    func testTwoWritersInOneSecondGetTwoFiles() throws {
        let a = try TensorBoardWriter(directory: directory)
        let b = try TensorBoardWriter(directory: directory)
        XCTAssertNotEqual(a.path, b.path)
        try a.close()
        try b.close()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).count, 2)
    }

    func testCorruptedByteIsReportedWithFileAndRecord() throws {
        let writer = try TensorBoardWriter(directory: directory)
        for step in 0..<3 { try writer.scalar("loss", Float(step), step: step) }
        try writer.close()
        let original = try Data(contentsOf: URL(fileURLWithPath: writer.path))
        let records = try TensorBoardWriter.readRecords(path: writer.path)
        // Byte offset of record 2's payload: each record is 12 + payload + 4 bytes.
        let recordTwo = records[0..<2].reduce(0) { $0 + 16 + $1.count }

        var corrupted = original
        corrupted[recordTwo + 14] ^= 0x01  // inside record 2's data
        try corrupted.write(to: URL(fileURLWithPath: writer.path))
        XCTAssertThrowsError(try TensorBoardWriter.readScalars(path: writer.path)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(writer.path), message)
            XCTAssertTrue(message.contains("record 2"), message)
            XCTAssertTrue(message.contains("data's CRC"), message)
        }

        corrupted = original
        corrupted[recordTwo + 1] ^= 0x40  // record 2's length
        try corrupted.write(to: URL(fileURLWithPath: writer.path))
        XCTAssertThrowsError(try TensorBoardWriter.readScalars(path: writer.path)) { error in
            XCTAssertTrue("\(error)".contains("record 2") && "\(error)".contains("length's CRC"), "\(error)")
        }

        try original.prefix(original.count - 3).write(to: URL(fileURLWithPath: writer.path))
        XCTAssertThrowsError(try TensorBoardWriter.readScalars(path: writer.path)) { error in
            XCTAssertTrue("\(error)".contains("record 3") && "\(error)".contains("truncated"), "\(error)")
        }
    }

    func testWritingAfterCloseThrows() throws {
        let writer = try TensorBoardWriter(directory: directory)
        try writer.close()
        try writer.scalar("loss", 1, step: 0)
        XCTAssertThrowsError(try writer.flush())
    }
}


private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

extension TensorBoardTests {
    /// The HParams plugin's messages byte for byte against TensorBoard's own protos
    /// (scripts/golden/hparams_goldens.py).
    func testHParamsPluginDataMatchesTensorBoardsProtos() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let experiment = HParams.experimentContent(hparams: [("model.fusion.kind", .string("concat")), ("seed", .number(0))],
                                                   metrics: ["test/accuracy", "test/f1_macro"])
        XCTAssertEqual(hex(experiment), "124722150a116d6f64656c2e667573696f6e2e6b696e64200122080a047365656420032a110a0f120d746573742f61636375726163792a110a0f120d746573742f66315f6d6163726f")
        let start = HParams.sessionStartContent(["model.fusion.kind": .string("concat"), "seed": .number(1), "x.flag": .bool(true)],
                                                group: "fusion=concat", startTime: 1_700_000_000.5)
        XCTAssertEqual(hex(start), "1a580a1d0a116d6f64656c2e667573696f6e2e6b696e6412081a06636f6e6361740a110a0473656564120911000000000000f03f0a0c0a06782e666c616712022001220d667573696f6e3d636f6e6361742900002040fc54d941")
        XCTAssertEqual(hex(HParams.sessionEndContent(endTime: 1_700_000_100.25)), "220b08011100001059fc54d941")
        XCTAssertEqual(hex(HParams.event(tag: "_hparams_/experiment", content: experiment, wallTime: 1_700_000_000.5)),
                       "0900002040fc54d9412a780a760a145f68706172616d735f2f6578706572696d656e7442060801120212004a560a540a0768706172616d731249124722150a116d6f64656c2e667573696f6e2e6b696e64200122080a047365656420032a110a0f120d746573742f61636375726163792a110a0f120d746573742f66315f6d6163726f")
    }
}
