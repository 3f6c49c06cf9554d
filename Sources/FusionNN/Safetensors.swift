import Foundation
import FusionTensor

/// Why a safetensors file could not be read or written; the message names the file and the problem.
public struct SafetensorsError: Error, CustomStringConvertible {
    /// The file concerned.
    public let path: String
    /// What was wrong and what was expected.
    public let message: String
    /// `path: message`.
    public var description: String { "\(path): \(message)" }

    /// An error about the file at `path`.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

/// Reads and writes the safetensors format (Hugging Face): an 8-byte little-endian header length,
/// a JSON header mapping each name to `{dtype, shape, data_offsets}` (plus an optional
/// `__metadata__` map of strings), then the raw little-endian tensor bytes.
///
/// F32 tensors are written, or I8 and I32 for tensors named in `dtypes` (their values must be
/// integers in range); F32, F16, BF16, F64 and the integer types are read and converted to Float32.
public enum Safetensors {
    /// The header may not exceed this many bytes (as the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    /// Writes `tensors` (in the given order, names unique) with `metadata` to `path`, atomically:
    /// a temporary file in the same folder, then a rename.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], dtypes: [String: String] = [:],
                             to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var seen = Set<String>()
        let ranges: [String: (width: Int, range: ClosedRange<Float>)] = ["F32": (4, -Float.infinity...Float.infinity),
                                                                          "I8": (1, -128...127), "I32": (4, -2_147_483_648...2_147_483_520)]
        for (name, t) in tensors {
            guard seen.insert(name).inserted else { throw SafetensorsError(path: path, message: "duplicate tensor name \"\(name)\"") }
            let dtype = dtypes[name] ?? "F32"
            guard let (width, range) = ranges[dtype] else { throw SafetensorsError(path: path, message: "\(name): cannot write dtype \(dtype)") }
            if dtype != "F32", let bad = t.scalars.first(where: { !range.contains($0) || $0 != $0.rounded() }) {
                throw SafetensorsError(path: path, message: "\(name): \(bad) is not an \(dtype) value")
            }
            header[name] = ["dtype": dtype, "shape": t.shape, "data_offsets": [offset, offset + width * t.count]] as [String: Any]
            offset += width * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }  // pad with spaces to 8-byte alignment
        var file = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { file.append(contentsOf: $0) }
        file.append(json)
        for (name, t) in tensors {
            // Every platform Swift runs on Linux is little-endian already.
            switch dtypes[name] ?? "F32" {
            case "I8": file.append(contentsOf: t.scalars.map { UInt8(bitPattern: Int8($0)) })
            case "I32": t.scalars.map { Int32($0) }.withUnsafeBufferPointer { file.append($0) }
            default: file.append(UnsafeBufferPointer(start: t.data, count: t.count))
            }
        }
        do { try AtomicFile.write(file, to: path) } catch let error as AtomicFile.WriteError {
            throw SafetensorsError(path: path, message: error.reason)
        }
    }

    /// Reads every tensor of the file at `path`, with its metadata.
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw SafetensorsError(path: path, message: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(data, path: path)
    }

    /// Parses a safetensors image held in memory; `path` only names it in errors.
    public static func parse(_ data: Data, path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        func fail(_ m: String) -> SafetensorsError { SafetensorsError(path: path, message: m) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes; a safetensors file starts with an 8-byte header length") }
        let headerLength = data.withUnsafeBytes { raw -> UInt64 in
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(raw[i]) << (8 * UInt64(i)) }
            return v
        }
        guard headerLength <= UInt64(maxHeaderBytes) else { throw fail("header length \(headerLength) exceeds the limit of \(maxHeaderBytes) bytes") }
        guard headerLength <= UInt64(data.count - 8) else {
            throw fail("header claims \(headerLength) bytes but the file holds only \(data.count - 8) after the length field (truncated?)")
        }
        let headerEnd = 8 + Int(headerLength)
        let headerData = data.subdata(in: 8..<headerEnd)
        guard let object = try? JSONSerialization.jsonObject(with: headerData), let header = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let bufferSize = data.count - headerEnd
        var metadata: [String: String] = [:]
        var tensors: [String: Tensor] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ must be an object of strings") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__.\(k) must be a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any] else { throw fail("entry \"\(name)\" must be an object") }
            guard let dtype = entry["dtype"] as? String else { throw fail("\(name).dtype is missing or not a string") }
            guard let shapeAny = entry["shape"] as? [Any], let shape = intArray(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("\(name).shape must be an array of non-negative integers")
            }
            guard let offsetsAny = entry["data_offsets"] as? [Any], let offsets = intArray(offsetsAny), offsets.count == 2 else {
                throw fail("\(name).data_offsets must be two integers [begin, end]")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0 && begin <= end && end <= bufferSize else {
                throw fail("\(name).data_offsets [\(begin), \(end)] lie outside the \(bufferSize)-byte data section (truncated file?)")
            }
            guard let width = dtypeWidths[dtype] else {
                throw fail("\(name) has dtype \(dtype); supported are \(dtypeWidths.keys.sorted().joined(separator: ", "))")
            }
            var elements = 1
            for d in shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("\(name).shape \(shape) overflows") }
                elements = p
            }
            let (bytes, bytesOverflow) = elements.multipliedReportingOverflow(by: width)
            guard !bytesOverflow && bytes == end - begin else {
                throw fail("\(name): shape \(shape) of \(dtype) needs \(bytesOverflow ? "more than \(Int.max)" : "\(bytes)") bytes "
                           + "but data_offsets span \(end - begin)")
            }
            let t = Tensor(uninitializedShape: shape)
            data.withUnsafeBytes { raw in
                let base = raw.baseAddress.map { $0 + headerEnd + begin }
                guard let base else { return }
                decode(base, dtype: dtype, count: elements, into: t.data)
            }
            tensors[name] = t
        }
        return (tensors, metadata)
    }

    private static func intArray(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            if let i = v as? Int {
                out.append(i)
            } else if let d = v as? Double, d == d.rounded(), Swift.abs(d) < 9.0e15 {
                out.append(Int(d))
            } else {
                return nil
            }
        }
        return out
    }

    /// Bytes per element of each readable dtype (integers and booleans are read as Float32 too,
    /// e.g. the `position_ids` buffers of Hugging Face checkpoints).
    static let dtypeWidths: [String: Int] = ["F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    private static func decode(_ src: UnsafeRawPointer, dtype: String, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch dtype {
        case "I64":
            for i in 0..<count { dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case "I32":
            for i in 0..<count { dst[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case "I16":
            for i in 0..<count { dst[i] = Float(Int16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
        case "I8":
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        case "U8", "BOOL":
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case "F32":
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case "F64":
            for i in 0..<count { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case "BF16":
            for i in 0..<count {
                let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                dst[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        default:  // F16
            for i in 0..<count {
                dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        }
    }

    /// IEEE 754 binary16 → binary32, including subnormals, infinities and NaN.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
    }
}

extension Module {
    /// Saves parameters and buffers under their dotted keys.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try Safetensors.write(stateDict().map { ($0.key, $0.tensor) }, metadata: metadata, to: path)
    }

    /// Loads tensors into this module's parameters and buffers by key. A key of the module that
    /// the file lacks, or a shape that differs, is an error naming both; with `strict` false,
    /// missing keys are skipped and reported in the result. Tensors in the file that the module
    /// lacks are listed as unexpected.
    @discardableResult
    public func load(_ tensors: [String: Tensor], strict: Bool = true, source: String = "checkpoint")
        throws -> (missing: [String], unexpected: [String]) {
        var missing: [String] = []
        let state = stateDict()
        for (key, t) in state {
            guard let src = tensors[key] else { missing.append(key); continue }
            guard src.shape == t.shape else {
                throw SafetensorsError(path: source, message: "tensor \"\(key)\" has shape \(src.shape) but the model expects \(t.shape)")
            }
            for i in 0..<src.count where !src.data[i].isFinite {
                throw SafetensorsError(path: source, message: "tensor \"\(key)\" holds a non-finite value (\(src.data[i]) at element \(i))")
            }
            t.assign(src)
        }
        if strict && !missing.isEmpty {
            throw SafetensorsError(path: source, message: "missing tensors for \(missing.count) model keys: \(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", ..." : "")")
        }
        let known = Set(state.map { $0.key })
        return (missing, tensors.keys.filter { !known.contains($0) }.sorted())
    }

    /// Loads a safetensors file into this module (see `load(_:strict:source:)`).
    @discardableResult
    public func load(from path: String, strict: Bool = true) throws -> (missing: [String], unexpected: [String]) {
        try load(Safetensors.read(path).tensors, strict: strict, source: path)
    }
}
