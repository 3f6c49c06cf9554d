import Foundation

/// Why an experiment could not go on: the message names the file (and line or JSON path) and
/// what was expected.
public struct ExperimentError: Error, CustomStringConvertible {
    /// The complete message.
    public let description: String
    /// An error with the given message.
    public init(_ description: String) { self.description = description }
}

/// Writes `data` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees a half-written file and a crash never leaves one behind.
public func writeFileAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent()
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
    do {
        try data.write(to: temporary)
    } catch {
        throw ExperimentError("\(path): cannot write (\(error.localizedDescription))")
    }
    if rename(temporary.path, url.path) != 0 {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: temporary)
        throw ExperimentError("\(path): cannot move the finished file into place (\(reason))")
    }
}

/// Writes UTF-8 text atomically.
public func writeTextAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Data(text.utf8), to: path)
}
