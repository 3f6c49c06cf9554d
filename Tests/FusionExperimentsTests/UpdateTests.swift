import Foundation
import FusionNN
import FusionTestSupport
import XCTest

/// `fusionlab update`: new labels grow the head while the parent's rows stay, the lineage is
/// recorded across two updates, and bad parents, data and labels are refused before training.
final class UpdateTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("update")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    /// A copy of a generated dataset with `edit` applied to every samples.jsonl line and `labels` renamed in dataset.json.
    func editedDataset(_ name: String, from source: String, rename: [String: String] = [:], edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let fm = FileManager.default
        let target = Self.workspace.appendingPathComponent(name)
        try? fm.removeItem(at: target)
        try fm.copyItem(at: Self.workspace.appendingPathComponent(source), to: target)
        try? fm.removeItem(at: target.appendingPathComponent(".cache"))
        var info = try json(target.appendingPathComponent("dataset.json").path)
        info["labels"] = (info["labels"] as? [String] ?? []).map { rename[$0] ?? $0 }
        try JSONSerialization.data(withJSONObject: info).write(to: target.appendingPathComponent("dataset.json"))
        let lines = try String(contentsOf: target.appendingPathComponent("samples.jsonl"), encoding: .utf8).split(separator: "\n")
        var out: [String] = []
        for line in lines {
            var row = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if let label = row["label"] as? String, let renamed = rename[label] { row["label"] = renamed }
            edit(&row)
            out.append(String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self))
        }
        try (out.joined(separator: "\n") + "\n").write(to: target.appendingPathComponent("samples.jsonl"), atomically: true, encoding: .utf8)
        return name
    }

    func testUpdateGrowsTheHeadKeepsOldRowsAndRecordsTheLineage() throws {
        XCTAssertEqual(try fusionlab(["run", tinyExperiment("parent", epochs: 3), "--quiet"]).status, 0)
        let parent = try XCTUnwrap(runDirectories("parent").last)
        XCTAssertEqual(try fusionlab(["generate-dataset", "newdomain", "--samples", "80", "--shift", "0.6", "--quiet"]).status, 0)
        let grown = try editedDataset("newlabels", from: "newdomain", rename: ["circle-pure-agree": "hexagon-pure-agree"])
        let first = try fusionlab(["update", parent, "--data", grown, "--rehearsal", "16", "--lwf", "0.5", "--epochs", "2"])
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.out.contains("labels added: hexagon-pure-agree"), first.out)
        XCTAssertTrue(first.out.contains("parent's test split: parent"), first.out)
        let child = try XCTUnwrap(first.out.split(separator: "\n").first { $0.hasPrefix("run directory: ") }?.dropFirst("run directory: ".count)).description
        let manifest = try json(Self.workspace.appendingPathComponent(child).path + "/manifest.json")
        XCTAssertEqual(manifest["parent"] as? String, parent)
        XCTAssertEqual((manifest["lineage"] as? [String])?.count, 2)
        XCTAssertEqual(manifest["classes"] as? [String], (try json(parent + "/manifest.json")["classes"] as? [String] ?? []) + ["hexagon-pure-agree"])
        XCTAssertNotNil((manifest["update_results"] as? [String: Any])?["forgetting"])
        XCTAssertEqual(manifest["distilled_from"] as? [String], [parent])
        // The parent's 8 class rows of the last head layer moved only by 2 epochs of training.
        let before = try Safetensors.read(parent + "/checkpoints/best.safetensors").tensors
        let after = try Safetensors.read(Self.workspace.appendingPathComponent(child).path + "/checkpoints/best.safetensors").tensors
        let key = try XCTUnwrap(before.keys.filter { $0.hasPrefix("head.") && $0.hasSuffix(".weight") }.max { $0 < $1 })
        let (old, new) = (try XCTUnwrap(before[key]), try XCTUnwrap(after[key]))
        XCTAssertEqual(new.shape, [old.shape[0] + 1, old.shape[1]])
        let drift = zip(old.scalars, new.scalars.prefix(old.count)).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(drift, 0.1, "\(key): the parent's rows must be kept, not re-initialised")

        // An update of the update extends the lineage.
        let second = try fusionlab(["update", child, "--data", "newdomain", "--rehearsal", "0", "--epochs", "1", "--set", "training.lr=0.002"])
        XCTAssertEqual(second.status, 0, second.err)
        let grandchild = try XCTUnwrap(second.out.split(separator: "\n").first { $0.hasPrefix("run directory: ") }?.dropFirst("run directory: ".count)).description
        XCTAssertEqual((try json(Self.workspace.appendingPathComponent(grandchild).path + "/manifest.json")["lineage"] as? [String])?.count, 3)
        let resolved = try json(Self.workspace.appendingPathComponent(grandchild).path + "/config.resolved.json")
        XCTAssertEqual((resolved["training"] as? [String: Any])?["lr"] as? Double, 0.002, "update --set reaches the updated experiment")
        // The notebook of the last run shows the lineage.
        XCTAssertEqual(try fusionlab(["export-notebook", grandchild, "--output", "nb-lineage", "--name", "lineage"]).status, 0)
        let notebook = try String(contentsOfFile: Self.workspace.appendingPathComponent("nb-lineage/lineage.ipynb").path, encoding: .utf8)
        XCTAssertTrue(notebook.contains("Lineage") && notebook.contains(URL(fileURLWithPath: child).lastPathComponent), String(notebook.prefix(400)))
    }

    func testUpdateRefusesBadParentsDataAndLabelsBeforeTraining() throws {
        XCTAssertEqual(try fusionlab(["run", tinyExperiment("refused", epochs: 1), "--quiet"]).status, 0)
        let parent = try XCTUnwrap(runDirectories("refused").last)
        XCTAssertEqual(try fusionlab(["generate-dataset", "refdata", "--samples", "40", "--quiet"]).status, 0)
        func refused(_ arguments: [String], _ words: String, line: UInt = #line) throws {
            let before = runDirectories("refused-update")
            let result = try fusionlab(["update"] + arguments)
            XCTAssertEqual(result.status, 1, result.out, line: line)
            XCTAssertTrue(result.err.contains(words), result.err, line: line)
            XCTAssertEqual(runDirectories("refused-update").filter { !$0.contains("/data-") }, before.filter { !$0.contains("/data-") },
                           "no run was started", line: line)
        }
        // A failed parent.
        let failed = Self.workspace.appendingPathComponent("runs/refused/failed-copy").path
        try FileManager.default.copyItem(atPath: parent, toPath: failed)
        var manifest = try json(failed + "/manifest.json")
        manifest["status"] = "failed"
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: failed + "/manifest.json"))
        try refused([failed, "--data", "refdata"], "only a finished run can be updated")
        // Data without a modality the model reads.
        let silent = try editedDataset("silent", from: "refdata") { $0.removeValue(forKey: "audio") }
        try refused([parent, "--data", silent], "the model reads audio")
        // A label that differs from the parent's only in case.
        let clash = try editedDataset("clash", from: "refdata", rename: ["circle-pure-agree": "Circle-Pure-Agree"])
        try refused([parent, "--data", clash], "clashes with the parent's \"circle-pure-agree\"")
    }
}
