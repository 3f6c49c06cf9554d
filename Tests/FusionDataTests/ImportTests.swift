import Foundation
import FusionData
import FusionTensor
import XCTest

/// `fusionlab import`: tables and class folders in, validated dataset folders out.
final class ImportTests: XCTestCase {
    /// Media files for `count` samples in `dir/raw`: PNGs, JPEGs (the committed golden) and WAVs.
    private func writeMedia(_ dir: String, count: Int) throws {
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: try TestSupport.golden("digit_scan.jpg")))
        try FileManager.default.createDirectory(atPath: dir + "/raw", withIntermediateDirectories: true)
        for i in 0..<count {
            if i % 2 == 0 {
                try PNGEncoder.write(Tensor((0..<(3 * 6 * 5)).map { Float(($0 + i) % 11) / 10 }, shape: [3, 6, 5]), to: "\(dir)/raw/\(i).png")
            } else {
                try jpeg.write(to: URL(fileURLWithPath: "\(dir)/raw/\(i).jpg"))
            }
            let samples = (0..<800).map { Float(sin(Double($0) * 0.03 * Double(i + 1))) * 0.4 }
            try AudioFile.write(AudioClip(sampleRate: 8000, samples: samples), to: "\(dir)/raw/\(i).wav")
        }
    }

    private func csv(_ count: Int) -> String {
        var text = "sample_id,category,caption,image,audio,comment\r\n"
        for i in 0..<count {
            let image = i % 2 == 0 ? "raw/\(i).png" : "raw/\(i).jpg"
            text += "s\(i),\(["cat", "dog", "bird"][i % 3]),\"a \"\"quoted\"\", comma, and\nnewline \(i)\",\(image),raw/\(i).wav,x\r\n"
        }
        return text
    }

    func testCSVWithoutSplitGetsASeededStratifiedSplit() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        try writeMedia(dir, count: 60)
        try csv(60).write(toFile: dir + "/table.csv", atomically: true, encoding: .utf8)
        var log = [String]()
        let report = try DatasetImporter.run(source: dir + "/table.csv", to: dir + "/ds") { log.append($0) }
        XCTAssertTrue(log.contains { $0.contains("ignoring column(s) comment") }, "\(log)")
        let ds = try Dataset.load(path: dir + "/ds")
        XCTAssertEqual(ds.info.labels, ["bird", "cat", "dog"])
        XCTAssertEqual(ds.samples.count, 60)
        // 20 per label: 3 test, 3 val, 14 train in each, so every split keeps the proportions.
        for label in 0..<3 {
            XCTAssertEqual(ds.samples(in: .test).filter { $0.label == label }.count, 3)
            XCTAssertEqual(ds.samples(in: .val).filter { $0.label == label }.count, 3)
        }
        XCTAssertEqual(report.splits[.train], 42)
        XCTAssertFalse(report.splitFromSource)
        let first = try XCTUnwrap(ds.samples.first { $0.id == "s1" })
        XCTAssertEqual(first.text, "a \"quoted\", comma, and\nnewline 1")
        XCTAssertEqual(first.imagePath.map { URL(fileURLWithPath: $0).lastPathComponent }, "s1.jpg")
        // The copied media decode to what the sources decode to.
        XCTAssertEqual(try ImageDecoder.decode(path: first.imagePath ?? "").scalars, try ImageDecoder.decode(path: dir + "/raw/1.jpg").scalars)
        // The same seed draws the same split; another seed another one.
        let again = try DatasetImporter.run(source: dir + "/table.csv", to: dir + "/again")
        XCTAssertEqual(try Dataset.load(path: dir + "/again").samples.map(\.split), ds.samples.map(\.split))
        XCTAssertEqual(again.splits, report.splits)
        var other = DatasetImporter.Options()
        other.splitSeed = 9
        _ = try DatasetImporter.run(source: dir + "/table.csv", to: dir + "/other", options: other)
        XCTAssertNotEqual(try Dataset.load(path: dir + "/other").samples.map(\.split), ds.samples.map(\.split))
        // An existing dataset is never overwritten without force; with it, it is replaced whole.
        XCTAssertThrowsError(try DatasetImporter.run(source: dir + "/table.csv", to: dir + "/ds")) {
            XCTAssertTrue("\($0)".contains("pass --force"), "\($0)")
        }
        var force = DatasetImporter.Options()
        force.force = true
        force.valFraction = 0
        _ = try DatasetImporter.run(source: dir + "/table.csv", to: dir + "/ds", options: force)
        XCTAssertEqual(try Dataset.load(path: dir + "/ds").samples(in: .val).count, 0)
        // Nothing is left beside it (no staging or replaced copy), and --force never replaces a folder that is not a dataset.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("ds.") }, [])
        try FileManager.default.createDirectory(atPath: dir + "/notes", withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: dir + "/notes/thesis.txt"))
        XCTAssertThrowsError(try DatasetImporter.run(source: dir + "/table.csv", to: dir + "/notes", options: force)) {
            XCTAssertTrue("\($0)".contains("not a dataset folder"), "\($0)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/notes/thesis.txt"))
    }

    func testWithoutAnIdColumnSamplesKeepTheirFileNamesAndTheirSources() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        try writeMedia(dir, count: 12)
        var table = "label,image,audio\n"
        for i in 0..<12 { table += "\(["cat", "dog"][i % 2]),raw/\(i).\(i % 2 == 0 ? "png" : "jpg"),raw/\(i).wav\n" }
        try table.write(toFile: dir + "/lab.csv", atomically: true, encoding: .utf8)
        var log = [String]()
        _ = try DatasetImporter.run(source: dir + "/lab.csv", to: dir + "/ds") { log.append($0) }
        XCTAssertTrue(log.contains { $0.contains("named by their media file names") }, "\(log)")
        let ds = try Dataset.load(path: dir + "/ds")
        XCTAssertEqual(Set(ds.samples.map(\.id)), Set((0..<12).map(String.init)), "the file stems, not row<N>")
        XCTAssertEqual(ds.samples.first { $0.id == "3" }?.imagePath.map { URL(fileURLWithPath: $0).lastPathComponent }, "3.jpg")
        // Each sample line records where it came from: the table, its line, the original files.
        let lines = try String(contentsOfFile: dir + "/ds/samples.jsonl", encoding: .utf8).split(separator: "\n")
        let three = try XCTUnwrap(lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.first { $0["id"] as? String == "3" })
        let source = try XCTUnwrap(three["source"] as? [String: Any])
        XCTAssertEqual(source["line"] as? Int, 5)
        XCTAssertEqual(source["table"] as? String, URL(fileURLWithPath: dir + "/lab.csv").standardizedFileURL.path)
        XCTAssertEqual(source["image"] as? String, URL(fileURLWithPath: dir + "/raw/3.jpg").standardizedFileURL.path)
        // dataset.json records the media's statistics.
        let media = try XCTUnwrap(ds.info.media)
        XCTAssertEqual(media.image?.files, 12)
        XCTAssertEqual(media.audio?.commonSampleRate, 8000)
        XCTAssertEqual(try XCTUnwrap(media.audio?.seconds.max), 0.1, accuracy: 1e-9)
        // Repeated file names cannot name samples: line numbers then, and the log says why.
        try (table + "cat,raw/0.png,raw/1.wav\n").write(toFile: dir + "/lab.csv", atomically: true, encoding: .utf8)
        log = []
        _ = try DatasetImporter.run(source: dir + "/lab.csv", to: dir + "/ds2") { log.append($0) }
        XCTAssertTrue(log.contains { $0.contains("file name \"0\" repeats") }, "\(log)")
        XCTAssertTrue(try Dataset.load(path: dir + "/ds2").samples.contains { $0.id == "row14" })
    }

    func testBadRowsAreNamedByTableLine() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        try writeMedia(dir, count: 4)
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/raw/bad.png"))
        let header = "id,label,text,image,split\n"
        let cases: [(String, String)] = [
            ("a,cat,hi,raw/0.png,train\nb,dog,yo,raw/missing.png,test\n", "table.csv:3: image:"),
            ("a,cat,hi,raw/bad.png,train\n", "table.csv:2: image:"),
            ("a,cat,hi,raw/0.png,holdout\n", "unknown split \"holdout\""),
            ("a,cat,hi,raw/0.png,train\na,dog,yo,raw/2.png,test\n", "duplicate id \"a\""),
            ("a,cat,hi \"there\",raw/0.png,train\n", "a quote inside an unquoted field"),
            ("a,cat,hi,raw/0.png\n", "table.csv:2: 4 fields, the header has 5"),
            ("a,cat,\"never closed,raw/0.png,train\n", "never closed"),
            ("a,,hi,raw/0.png,train\n", "the label is empty"),
        ]
        for (k, (rows, message)) in cases.enumerated() {
            try (header + rows).write(toFile: dir + "/table.csv", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try DatasetImporter.run(source: dir + "/table.csv", to: dir + "/ds\(k)")) {
                XCTAssertTrue("\($0)".contains(message), "case \(k): \($0)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ds\(k)"), "nothing is left behind")
        }
        XCTAssertThrowsError(try DatasetImporter.run(source: dir + "/raw/0.wav", to: dir + "/x")) {
            XCTAssertTrue("\($0)".contains("expected a .csv, .tsv or .jsonl table"), "\($0)")
        }
        // Skipping bad rows imports the rest and counts what it skipped.
        try (header + "a,cat,hi,raw/0.png,train\nb,dog,yo,raw/bad.png,test\nc,dog,ok,raw/2.png,test\n")
            .write(toFile: dir + "/table.csv", atomically: true, encoding: .utf8)
        var skip = DatasetImporter.Options()
        skip.badRows = .skip
        let report = try DatasetImporter.run(source: dir + "/table.csv", to: dir + "/skipped", options: skip)
        XCTAssertEqual(report.skipped.count, 1)
        XCTAssertTrue(report.splitFromSource)
        XCTAssertEqual(try Dataset.load(path: dir + "/skipped").samples.map(\.id), ["a", "c"])
    }

    func testJSONLTablesWithCRLFLineEndsReadLineByLine() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        try writeMedia(dir, count: 4)
        let lines = (0..<4).map { "{\"id\": \"s\($0)\", \"label\": \"\(["cat", "dog"][$0 % 2])\", \"audio\": \"raw/\($0).wav\"}" }
        try (lines.joined(separator: "\r\n") + "\r\n").write(toFile: dir + "/table.jsonl", atomically: true, encoding: .utf8)
        let report = try DatasetImporter.run(source: dir + "/table.jsonl", to: dir + "/ds")
        XCTAssertEqual(report.splits.values.reduce(0, +), 4)
        XCTAssertEqual(Set(try Dataset.load(path: dir + "/ds").samples.map(\.id)), ["s0", "s1", "s2", "s3"])
    }

    func testJSONLTableWithSplitsAndHardLinks() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        try writeMedia(dir, count: 3)
        let lines = [#"{"id": "x", "class": 3, "audio": "raw/0.wav", "split": "training"}"#,
                     #"{"id": "y", "class": 4, "audio": "raw/1.wav", "text": "hello", "split": "dev"}"#,
                     #"{"id": "z", "class": 3, "audio": "raw/2.wav", "split": "test", "image": null}"#]
        try lines.joined(separator: "\n").write(toFile: dir + "/table.jsonl", atomically: true, encoding: .utf8)
        var options = DatasetImporter.Options()
        options.media = .link
        let report = try DatasetImporter.run(source: dir + "/table.jsonl", to: dir + "/ds", options: options)
        XCTAssertEqual(report.splits, [.train: 1, .val: 1, .test: 1])
        let ds = try Dataset.load(path: dir + "/ds")
        XCTAssertEqual(ds.info.labels, ["3", "4"])
        let linked = try XCTUnwrap(ds.samples.first?.audioPath)
        func inode(_ path: String) throws -> UInt64 {
            try XCTUnwrap((try FileManager.default.attributesOfItem(atPath: path))[.systemFileNumber] as? UInt64)
        }
        XCTAssertEqual(try inode(linked), try inode(dir + "/raw/0.wav"), "a hard link, not a copy")
    }

    func testFolderPerClassGroupsFilesBySampleStem() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        try writeMedia(dir, count: 4)
        let fm = FileManager.default
        for (split, label, i) in [("train", "cat", 0), ("train", "cat", 1), ("train", "dog", 2), ("test", "dog", 3)] {
            let folder = "\(dir)/tree/\(split)/\(label)"
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let ext = i % 2 == 0 ? "png" : "jpg"
            try fm.copyItem(atPath: "\(dir)/raw/\(i).\(ext)", toPath: "\(folder)/clip\(i).\(ext)")
            try fm.copyItem(atPath: "\(dir)/raw/\(i).wav", toPath: "\(folder)/clip\(i).wav")
            try "caption \(i)\n".write(toFile: "\(folder)/clip\(i).txt", atomically: true, encoding: .utf8)
        }
        try "notes".write(toFile: "\(dir)/tree/train/cat/README.md", atomically: true, encoding: .utf8)
        var log = [String]()
        let report = try DatasetImporter.run(source: dir + "/tree", to: dir + "/ds") { log.append($0) }
        XCTAssertTrue(report.splitFromSource)
        XCTAssertTrue(log.contains { $0.contains("README.md") }, "\(log)")
        let ds = try Dataset.load(path: dir + "/ds")
        XCTAssertEqual(ds.samples.map(\.id), ["test/dog/clip3", "train/cat/clip0", "train/cat/clip1", "train/dog/clip2"])
        XCTAssertEqual(ds.samples.map(\.split), [.test, .train, .train, .train])
        let sample = try XCTUnwrap(ds.samples.first)
        XCTAssertEqual(sample.text, "caption 3")
        XCTAssertNotNil(sample.imagePath)
        XCTAssertNotNil(sample.audioPath)
        // Class folders straight under the root: the split is drawn.
        let flat = try DatasetImporter.run(source: dir + "/tree/train", to: dir + "/flat")
        XCTAssertFalse(flat.splitFromSource)
        XCTAssertEqual(try Dataset.load(path: dir + "/flat").info.labels, ["cat", "dog"])
    }

    func testSymbolicLinksAreFollowedOutsidePathsReportedAndKilledImportsCleanedUp() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        try writeMedia(dir, count: 6)
        let fm = FileManager.default
        // A table beside its media, naming a symlinked image, one outside its folder (../) and one by absolute path.
        try fm.createDirectory(atPath: dir + "/lab", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: dir + "/lab/linked.png", withDestinationPath: dir + "/raw/0.png")
        try fm.copyItem(atPath: dir + "/raw/2.png", toPath: dir + "/lab/local.png")
        var table = "id,label,image\n"
        table += "a,cat,linked.png\nb,dog,../raw/4.png\nc,cat,\(dir)/raw/2.png\nd,dog,local.png\ne,cat,local.png\nf,dog,local.png\n"
        try table.write(toFile: dir + "/lab/table.csv", atomically: true, encoding: .utf8)
        // What a killed import leaves: a staging folder and a dataset set aside, of a dead process.
        let dead: Int32 = 999_999
        try fm.createDirectory(atPath: dir + "/ds.importing-\(dead)/media", withIntermediateDirectories: true)
        var log = [String]()
        _ = try DatasetImporter.run(source: dir + "/lab/table.csv", to: dir + "/ds") { log.append($0) }
        XCTAssertFalse(fm.fileExists(atPath: dir + "/ds.importing-\(dead)"), "the killed import's staging folder is removed")
        XCTAssertTrue(log.contains { $0.contains("left by an import that was killed") }, "\(log)")
        XCTAssertTrue(log.contains { $0.contains("2 media path(s) lie outside") }, "\(log)")
        let ds = try Dataset.load(path: dir + "/ds")
        let linked = try XCTUnwrap(ds.samples.first { $0.id == "a" }?.imagePath)
        XCTAssertFalse((try? fm.destinationOfSymbolicLink(atPath: linked)) != nil, "the file is imported, not the link")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: linked)), try Data(contentsOf: URL(fileURLWithPath: dir + "/raw/0.png")))

        // A dataset set aside by an import killed between its two renames is restored.
        try fm.moveItem(atPath: dir + "/ds", toPath: dir + "/ds.replaced-\(dead)")
        var force = DatasetImporter.Options()
        force.force = true
        log = []
        _ = try DatasetImporter.run(source: dir + "/lab/table.csv", to: dir + "/ds", options: force) { log.append($0) }
        XCTAssertTrue(log.contains { $0.contains("restored") }, "\(log)")
        XCTAssertFalse(fm.fileExists(atPath: dir + "/ds.replaced-\(dead)"))

        // A class folder that is a symbolic link is followed and said so, never dropped.
        for label in ["cat", "dog"] { try fm.createDirectory(atPath: dir + "/elsewhere/\(label)", withIntermediateDirectories: true) }
        try fm.createDirectory(atPath: dir + "/tree", withIntermediateDirectories: true)
        for i in 0..<3 { try fm.copyItem(atPath: dir + "/raw/\(2 * i).png", toPath: dir + "/elsewhere/dog/d\(i).png") }
        try fm.createDirectory(atPath: dir + "/tree/cat", withIntermediateDirectories: true)
        for i in 0..<3 { try fm.copyItem(atPath: dir + "/raw/\(2 * i).png", toPath: dir + "/tree/cat/c\(i).png") }
        try fm.createSymbolicLink(atPath: dir + "/tree/dog", withDestinationPath: "../elsewhere/dog")
        log = []
        let report = try DatasetImporter.run(source: dir + "/tree", to: dir + "/classes") { log.append($0) }
        XCTAssertEqual(report.labels.map(\.0), ["cat", "dog"])
        XCTAssertTrue(log.contains { $0.contains("is a symbolic link") }, "\(log)")
    }
}
