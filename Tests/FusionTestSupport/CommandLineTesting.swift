import Foundation
import XCTest

/// Tests that run the built `fusionlab` executable on tiny generated datasets, as a researcher
/// would, each test class in its own workspace folder. A conforming class declares
/// `nonisolated(unsafe) static var workspace = makeWorkspace("name")` and removes it in
/// `override class func tearDown() { removeWorkspace() }`.
public protocol CommandLineTesting: XCTestCase {
    /// The folder every command of this class runs in.
    static var workspace: URL { get }
}

/// A fresh, created workspace folder under the temporary directory.
public func makeWorkspace(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fusionlab-\(name)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

extension CommandLineTesting {
    /// Deletes the workspace (from `tearDown`).
    public static func removeWorkspace() { try? FileManager.default.removeItem(at: workspace) }

    /// The `fusionlab` executable built beside the test bundle.
    public var executable: URL { Bundle.main.bundleURL.appendingPathComponent("fusionlab") }

    /// Runs fusionlab in the workspace; returns exit status, standard output and standard error.
    @discardableResult
    public func fusionlab(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, out: String, err: String) {
        try runProcess(executable, arguments)
    }

    /// Runs `executable arguments…` in the workspace (with `environment`, or this process's).
    public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.currentDirectoryURL = Self.workspace
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile(), errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Writes `text` to `name` in the workspace; returns `name`.
    @discardableResult
    public func write(_ name: String, _ text: String) -> String {
        let url = Self.workspace.appendingPathComponent(name)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8))
        return name
    }

    /// A tiny experiment on a tiny generated dataset, single-threaded for determinism.
    public func tinyExperiment(_ name: String, epochs: Int = 2, samples: Int = 80, extra: String = "") -> String {
        write("\(name).json", """
        {"name": "\(name)", "seed": 3,
         "dataset": {"path": "data-\(samples)", "generate": true, "generator": {"samples": \(samples), "image_size": 16, "audio_seconds": 0.25}},
         "preprocessing": {"image": {"height": 16, "width": 16}, "audio": {"duration": 0.25, "n_fft": 128, "hop_length": 64, "n_mels": 16, "n_mfcc": 8},
                           "text": {"max_length": 8}},
         "model": {"text": {"embedding_dim": 8, "dim": 8}, "image": {"channels": [4], "dim": 8}, "audio": {"channels": [4], "dim": 8},
                   "fusion": {"dim": 8}, "head": {"hidden": [8]}},
         "training": {"epochs": \(epochs), "batch_size": 16, "threads": 1}\(extra)}
        """)
    }

    /// The JSON object in file `path`.
    public func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// The run folders of `experiment`, oldest first.
    public func runDirectories(_ experiment: String) -> [String] {
        let folder = Self.workspace.appendingPathComponent("runs/\(experiment)").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { "\(folder)/\($0)" }
    }

    /// Checks that `path` is a notebook with markdown, embedded SVG figures and unique cell ids.
    public func checkNotebook(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        let nb = try XCTUnwrap(object as? [String: Any])
        XCTAssertEqual(nb["nbformat"] as? Int, 4, file: file, line: line)
        let cells = try XCTUnwrap(nb["cells"] as? [[String: Any]])
        XCTAssertTrue(cells.contains { $0["cell_type"] as? String == "markdown" }, file: file, line: line)
        XCTAssertTrue(cells.contains { (($0["source"] as? [String])?.joined() ?? "").contains("data:image/svg+xml;base64,") },
                      "figures embedded as SVG", file: file, line: line)
        let title = cells.first.map { ($0["source"] as? [String])?.joined() ?? "" } ?? ""
        XCTAssertFalse(title.contains("Comparison: Comparison:"), title, file: file, line: line)
        XCTAssertEqual(Set(cells.compactMap { $0["id"] as? String }).count, cells.count, "unique cell ids", file: file, line: line)
    }
}
