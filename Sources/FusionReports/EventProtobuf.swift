import Foundation

/// The few protobuf messages of a TensorBoard event file, encoded and decoded by hand:
///
/// ```
/// message Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
/// message Summary { repeated Value value = 1; }
/// message Value   { string tag = 1; float simple_value = 2; }
/// ```
/// Unknown fields are skipped when decoding, so files from other writers read too.
struct TensorBoardEvent: Equatable {
    var wallTime: Double = 0
    var step: Int64 = 0
    var fileVersion: String?
    /// (tag, simple_value) pairs of the summary; values without a simple_value are left out.
    var scalars: [(tag: String, value: Float)] = []

    static func == (a: TensorBoardEvent, b: TensorBoardEvent) -> Bool {
        a.wallTime.bitPattern == b.wallTime.bitPattern && a.step == b.step && a.fileVersion == b.fileVersion
            && a.scalars.map(\.tag) == b.scalars.map(\.tag)
            && a.scalars.map(\.value.bitPattern) == b.scalars.map(\.value.bitPattern)
    }

    /// The protobuf wire bytes of the event.
    func encoded() -> [UInt8] {
        var out = ProtobufWriter()
        out.fixed64(field: 1, wallTime.bitPattern)
        if step != 0 { out.varint(field: 2, UInt64(bitPattern: step)) }
        if let fileVersion { out.bytes(field: 3, Array(fileVersion.utf8)) }
        if !scalars.isEmpty {
            var summary = ProtobufWriter()
            for scalar in scalars {
                var value = ProtobufWriter()
                value.bytes(field: 1, Array(scalar.tag.utf8))
                value.fixed32(field: 2, scalar.value.bitPattern)
                summary.bytes(field: 1, value.bytes)
            }
            out.bytes(field: 5, summary.bytes)
        }
        return out.bytes
    }

    /// Decodes an event; throws a message saying which field was malformed.
    static func decode(_ bytes: [UInt8]) throws -> TensorBoardEvent {
        var event = TensorBoardEvent()
        var reader = ProtobufReader(bytes[...])
        while let (field, wire) = try reader.nextKey() {
            switch (field, wire) {
            case (1, 1): event.wallTime = Double(bitPattern: try reader.fixed64())
            case (2, 0): event.step = Int64(bitPattern: try reader.varint())
            case (3, 2): event.fileVersion = String(decoding: try reader.lengthDelimited(), as: UTF8.self)
            case (5, 2): event.scalars += try decodeSummary(try reader.lengthDelimited())
            default: try reader.skip(wire: wire)
            }
        }
        return event
    }

    private static func decodeSummary(_ bytes: ArraySlice<UInt8>) throws -> [(tag: String, value: Float)] {
        var scalars: [(tag: String, value: Float)] = []
        var summary = ProtobufReader(bytes)
        while let (field, wire) = try summary.nextKey() {
            guard field == 1, wire == 2 else { try summary.skip(wire: wire); continue }
            var value = ProtobufReader(try summary.lengthDelimited())
            var tag = ""
            var simpleValue: Float?
            while let (valueField, valueWire) = try value.nextKey() {
                switch (valueField, valueWire) {
                case (1, 2): tag = String(decoding: try value.lengthDelimited(), as: UTF8.self)
                case (2, 5): simpleValue = Float(bitPattern: try value.fixed32())
                default: try value.skip(wire: valueWire)
                }
            }
            if let simpleValue { scalars.append((tag, simpleValue)) }
        }
        return scalars
    }
}

/// Appends protobuf fields (proto3 wire format) to a byte array.
/// Protocol-buffer wire format, written field by field (TensorBoard events, ONNX models).
public struct ProtobufWriter {
    /// The encoded message so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty message.
    public init() {}

    private mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wire: UInt64) { rawVarint(UInt64(field) << 3 | wire) }

    /// Wire type 0.
    public mutating func varint(field: Int, _ value: UInt64) {
        key(field, 0)
        rawVarint(value)
    }

    /// Wire type 1, little-endian.
    public mutating func fixed64(field: Int, _ value: UInt64) {
        key(field, 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// Wire type 2: length, then the bytes.
    public mutating func bytes(field: Int, _ payload: [UInt8]) {
        key(field, 2)
        rawVarint(UInt64(payload.count))
        bytes += payload
    }

    /// Wire type 5, little-endian.
    public mutating func fixed32(field: Int, _ value: UInt32) {
        key(field, 5)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}

/// Why protobuf bytes could not be decoded (wrapped by the caller with the file and record).
struct ProtobufError: Error, CustomStringConvertible {
    let description: String
}

/// Reads protobuf fields from a byte slice, checking every length against what is left.
struct ProtobufReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    /// The next field number and wire type, or nil at the end.
    mutating func nextKey() throws -> (Int, UInt64)? {
        guard !bytes.isEmpty else { return nil }
        let key = try varint()
        guard key >> 3 > 0, key >> 3 <= UInt64(Int32.max) else { throw ProtobufError(description: "invalid field number \(key >> 3)") }
        return (Int(key >> 3), key & 7)
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard let byte = bytes.popFirst() else { throw ProtobufError(description: "varint runs past the end") }
            if shift == 63, byte > 1 { throw ProtobufError(description: "varint longer than 64 bits") }
            result |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return result }
        }
        throw ProtobufError(description: "varint longer than 10 bytes")
    }

    private mutating func take(_ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard count <= bytes.count else {
            throw ProtobufError(description: "\(what) needs \(count) bytes but only \(bytes.count) are left")
        }
        let taken = bytes.prefix(count)
        bytes = bytes.dropFirst(count)
        return taken
    }

    mutating func fixed64() throws -> UInt64 {
        try take(8, "fixed64").reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func fixed32() throws -> UInt32 {
        try take(4, "fixed32").reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
        let length = try varint()
        guard length <= UInt64(bytes.count) else {
            throw ProtobufError(description: "length-delimited field of \(length) bytes but only \(bytes.count) are left")
        }
        return try take(Int(length), "length-delimited field")
    }

    /// Skips one field's value of the given wire type.
    mutating func skip(wire: UInt64) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: _ = try take(8, "fixed64")
        case 2: _ = try lengthDelimited()
        case 5: _ = try take(4, "fixed32")
        default: throw ProtobufError(description: "unsupported wire type \(wire)")
        }
    }
}
