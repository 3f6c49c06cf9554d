import Foundation

/// Every failure FusionData reports: each names the file (and line or JSON path where there is
/// one) and says what was expected.
public struct FusionDataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file the error is about (empty when there is none).
    public let file: String
    /// The 1-based line in `file`, when the error is about one line of a text file.
    public let line: Int?
    /// What went wrong and what was expected.
    public let message: String

    /// Makes an error about `file` (and optionally one `line` of it).
    public init(file: String, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`, the form compilers use, so editors can jump to it.
    public var description: String {
        var where_ = file
        if let line { where_ += ":\(line)" }
        return where_.isEmpty ? message : "\(where_): \(message)"
    }
}

/// Helpers for reading and writing whole files with errors that name the file.
public enum FileIO {
    /// The bytes of `path`, or an error naming it (missing, unreadable, a directory).
    public static func read(_ path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FusionDataError(file: path, "no such file")
        }
        if isDirectory.boolValue { throw FusionDataError(file: path, "expected a file, found a directory") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw FusionDataError(file: path, "cannot read: \(error.localizedDescription)")
        }
    }

    /// Writes `data` to `path` atomically: to a temporary file in the same directory, flushed,
    /// then renamed over `path`, so a reader never sees a half-written file.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw FusionDataError(file: path, "cannot create directory \(directory): \(error.localizedDescription)")
        }
        let temporary = directory + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw FusionDataError(file: path, "cannot create temporary file: \(String(cString: strerror(errno)))") }
        var ok = true
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let n = write(fd, base + offset, raw.count - offset)
                if n <= 0 { ok = false; return }
                offset += n
            }
        }
        if ok && fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FusionDataError(file: path, "cannot write: \(reason)")
        }
    }
}
