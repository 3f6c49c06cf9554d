import Foundation
import FusionTensor

/// Why an experiment could not go on: the message names the file (and line or JSON path) and
/// what was expected.
public struct ExperimentError: Error, CustomStringConvertible {
    /// The complete message.
    public let description: String
    /// An error with the given message.
    public init(_ description: String) { self.description = description }
}

/// Writes `data` to `path` atomically (see `AtomicFile`), with errors as `ExperimentError`.
public func writeFileAtomically(_ data: Data, to path: String) throws {
    do { try AtomicFile.write(data, to: path) } catch let error as AtomicFile.WriteError {
        throw ExperimentError(error.description)
    }
}

/// Writes UTF-8 text atomically.
public func writeTextAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Data(text.utf8), to: path)
}
