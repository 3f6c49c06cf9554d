import FusionCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes scalars to a TensorBoard event file, `events.out.tfevents.<unix seconds>.<hostname>`.
///
/// The file is a sequence of TFRecords — `uint64 LE length`, `uint32 LE masked CRC-32C of the
/// length bytes`, the bytes of one `Event` protobuf, `uint32 LE masked CRC-32C of those bytes` —
/// starting with an event whose `file_version` is "brain.Event:2". Scalars are `simple_value`
/// summaries, which TensorBoard's scalar dashboard and `EventAccumulator` read.
///
/// The file is created atomically holding its first record; later records are appended (an
/// event file is an append-only log: a reader stops at a torn last record). Scalars are
/// buffered until `flush()`, `close()`, or 64 KiB have accumulated.
///
/// ```swift
/// let events = try TensorBoardWriter(directory: runDirectory)
/// try events.scalar("loss/train", 0.42, step: epoch)
/// try events.flush()
/// ```
public final class TensorBoardWriter {
    /// The event file's full path.
    public let path: String
    /// How every event file's name begins; TensorBoard reads the files so named.
    public static let filePrefix = "events.out.tfevents."

    /// The event files directly in `directory`, sorted by name (oldest first); none when it is missing.
    public static func files(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix(filePrefix) }.sorted().map { directory + "/" + $0 }
    }
    private var handle: FileHandle?
    private var pending = Data()
    private let flushThreshold = 64 * 1024

    /// Creates the event file in `directory` (created if missing). When a file of the same
    /// second and host exists already, a numeric suffix keeps both.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let seconds = Int(Date().timeIntervalSince1970)
        let base = "\(directory)/\(TensorBoardWriter.filePrefix)\(seconds).\(TensorBoardWriter.hostname())"
        var candidate = base
        var suffix = 1
        while FileManager.default.fileExists(atPath: candidate) {
            suffix += 1
            candidate = "\(base).\(suffix)"
        }
        path = candidate
        let first = TensorBoardEvent(wallTime: Date().timeIntervalSince1970, fileVersion: "brain.Event:2")
        try writeFileAtomically(TensorBoardWriter.record(first.encoded()), to: path)
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ExperimentError("\(path): cannot open the new event file for appending")
        }
        self.handle = handle
        do {
            try handle.seekToEnd()
        } catch {
            throw ExperimentError("\(path): cannot seek to the end of the event file (\(error))")
        }
    }

    deinit {
        try? close()
    }

    /// Records `value` under `tag` (e.g. "loss/val") at `step`, stamped with the current time.
    public func scalar(_ tag: String, _ value: Float, step: Int) throws {
        let event = TensorBoardEvent(wallTime: Date().timeIntervalSince1970, step: Int64(step),
                                     scalars: [(tag, value)])
        pending.append(TensorBoardWriter.record(event.encoded()))
        if pending.count >= flushThreshold { try flush() }
    }

    /// Buffers one encoded event.
    func record(_ event: [UInt8]) {
        pending.append(TensorBoardWriter.record(event))
    }

    /// Writes the buffered records to the file.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        guard let handle else { throw ExperimentError("\(path): the event writer is closed") }
        do {
            try handle.write(contentsOf: pending)
        } catch {
            throw ExperimentError("\(path): cannot append \(pending.count) bytes of events (\(error))")
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes the file; later writes throw. Closing twice does nothing.
    public func close() throws {
        guard let handle else { return }
        try flush()
        self.handle = nil
        do {
            try handle.close()
        } catch {
            throw ExperimentError("\(path): cannot close the event file (\(error))")
        }
    }

    /// One TFRecord around `payload`.
    static func record(_ payload: [UInt8]) -> Data {
        var length = [UInt8]()
        for shift in stride(from: 0, to: 64, by: 8) { length.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> UInt64(shift))) }
        var out = Data(length)
        appendLittleEndian(CRC32C.masked(length), to: &out)
        out.append(contentsOf: payload)
        appendLittleEndian(CRC32C.masked(payload), to: &out)
        return out
    }

    private static func appendLittleEndian(_ value: UInt32, to data: inout Data) {
        for shift in stride(from: 0, to: 32, by: 8) { data.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    /// The host name as gethostname(2) reports it, or "localhost".
    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name.replacingOccurrences(of: "/", with: "_")
    }
}

// MARK: - Reading

extension TensorBoardWriter {
    /// The payloads of every record in a TFRecord file, each checked against both of its CRCs.
    ///
    /// Throws an `ExperimentError` naming the file and the record index (0-based) for a
    /// truncated record or a CRC mismatch.
    public static func readRecords(path: String) throws -> [[UInt8]] {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else {
            throw ExperimentError("\(path): cannot read the event file")
        }
        let bytes = [UInt8](data)
        var records: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            let index = records.count
            guard bytes.count - offset >= 12 else {
                throw ExperimentError("\(path): record \(index) at byte \(offset) is truncated: expected a 12-byte header, found \(bytes.count - offset) bytes")
            }
            let lengthBytes = bytes[offset..<offset + 8]
            let length = littleEndian(lengthBytes, as: UInt64.self)
            let lengthCRC = littleEndian(bytes[offset + 8..<offset + 12], as: UInt32.self)
            guard CRC32C.masked(lengthBytes) == lengthCRC else {
                throw ExperimentError("\(path): record \(index) at byte \(offset): the length's CRC does not match (expected \(hex(CRC32C.masked(lengthBytes))), stored \(hex(lengthCRC)))")
            }
            let start = offset + 12
            guard length <= UInt64(bytes.count - start), bytes.count - start - Int(length) >= 4 else {
                throw ExperimentError("\(path): record \(index) at byte \(offset) is truncated: expected \(length) bytes of data and a 4-byte CRC, found \(bytes.count - start) bytes")
            }
            let end = start + Int(length)
            let payload = bytes[start..<end]
            let dataCRC = littleEndian(bytes[end..<end + 4], as: UInt32.self)
            guard CRC32C.masked(payload) == dataCRC else {
                throw ExperimentError("\(path): record \(index) at byte \(offset): the data's CRC does not match (expected \(hex(CRC32C.masked(payload))), stored \(hex(dataCRC)))")
            }
            records.append(Array(payload))
            offset = end + 4
        }
        return records
    }

    /// Every `simple_value` scalar in an event file, in file order, after checking each
    /// record's CRCs (see `readRecords(path:)`).
    public static func readScalars(path: String) throws -> [(tag: String, step: Int, value: Float)] {
        var scalars: [(tag: String, step: Int, value: Float)] = []
        for (index, record) in try readRecords(path: path).enumerated() {
            let event: TensorBoardEvent
            do {
                event = try TensorBoardEvent.decode(record)
            } catch {
                throw ExperimentError("\(path): record \(index) is not a valid Event protobuf: \(error)")
            }
            for scalar in event.scalars { scalars.append((scalar.tag, Int(event.step), scalar.value)) }
        }
        return scalars
    }

    /// The `file_version` of the first record ("brain.Event:2" for files this writer makes).
    public static func fileVersion(path: String) throws -> String? {
        guard let first = try readRecords(path: path).first else { return nil }
        do {
            return try TensorBoardEvent.decode(first).fileVersion
        } catch {
            throw ExperimentError("\(path): record 0 is not a valid Event protobuf: \(error)")
        }
    }
}

private func littleEndian<T: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>, as: T.Type) -> T {
    bytes.reversed().reduce(T.zero) { $0 << 8 | T($1) }
}

private func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
