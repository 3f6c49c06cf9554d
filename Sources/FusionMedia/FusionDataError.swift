import Foundation
import FusionTensor

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
    /// The bytes of `path`, or an error naming it (missing, unreadable, a directory, or larger
    /// than `limit` bytes: 1 GiB by default, far past any JSON, JSONL or vocabulary file).
    public static func read(_ path: String, limit: Int = 1 << 30) throws -> Data {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = errno == ENOENT ? "no such file" : "cannot open: \(String(cString: strerror(errno)))"
            throw FusionDataError(file: path, reason)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FusionDataError(file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw FusionDataError(file: path, "expected a file, found a directory") }
        guard st.st_size >= 0, st.st_size <= limit else {
            throw FusionDataError(file: path, "file is \(st.st_size) bytes, over the \(limit)-byte limit for this kind of file")
        }
        var data = Data(count: Int(st.st_size))
        var total = 0
        var failure: Int32 = 0
        data.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            while total < raw.count {
                let n = Foundation.read(fd, base + total, raw.count - total)
                if n < 0 { if errno == EINTR { continue }; failure = errno; return }
                if n == 0 { break }
                total += n
            }
        }
        if failure != 0 { throw FusionDataError(file: path, "cannot read: \(String(cString: strerror(failure)))") }
        if total < data.count { data.removeSubrange(total...) }
        return data
    }

    /// Writes `data` to `path` atomically: to a temporary file in the same directory, flushed,
    /// then renamed over `path`, so a reader never sees a half-written file.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        do { try AtomicFile.write(data, to: path) } catch let error as AtomicFile.WriteError {
            throw FusionDataError(file: path, error.reason)
        }
    }
}
