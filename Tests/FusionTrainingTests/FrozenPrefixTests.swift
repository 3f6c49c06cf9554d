import Foundation
import FusionTestSupport
import XCTest

/// The frozen-prefix cache: a frozen image backbone runs once per sample, and the run it gives is
/// the run without the cache (training.cache_frozen_prefix: false), through an unfreeze schedule.
final class FrozenPrefixTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("frozen")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    func frozenPrefixExperiment(_ name: String) -> String {
        write("\(name).json", """
        {"name": "\(name)", "seed": 3,
         "dataset": {"path": "data-80", "generate": true, "generator": {"samples": 80, "image_size": 16, "audio_seconds": 0.25}},
         "preprocessing": {"image": {"height": 16, "width": 16}, "text": {"max_length": 8}},
         "model": {"modalities": ["image", "text"], "text": {"embedding_dim": 8, "dim": 8},
                   "image": {"layers": [
                     {"type": "conv2d", "name": "stem", "channels": 6, "kernel": 3, "stride": 2, "padding": "same", "bias": false},
                     {"type": "batch_norm", "name": "stem_bn", "eps": 0.001}, "relu6",
                     {"type": "conv2d", "name": "dw", "channels": 6, "kernel": 3, "padding": "same", "groups": 6},
                     {"type": "batch_norm", "name": "dw_bn"}, "relu",
                     {"type": "conv2d", "name": "project", "channels": 8, "kernel": 1}, "global_pool", {"type": "dropout", "p": 0.2},
                     {"type": "linear", "units": 8}]},
                   "fusion": {"dim": 8}, "head": {"hidden": [8]}},
         "training": {"epochs": 3, "batch_size": 16, "threads": 1},
         "transfer": {"freeze": ["encoders.image.layers.stem", "encoders.image.layers.stem_bn", "encoders.image.layers.dw",
                                 "encoders.image.layers.dw_bn", "encoders.image.layers.project"],
                      "unfreeze": [{"epoch": 3, "patterns": ["encoders.image.layers.project"]}]}}
        """)
    }

    func testFrozenPrefixCacheGivesTheRunWithoutIt() throws {
        let experiment = frozenPrefixExperiment("prefix")
        let cached = try fusionlab(["run", experiment])
        XCTAssertEqual(cached.status, 0, cached.err)
        // Layers 1–8 hold nothing to train (the dropout ends the prefix); at epoch 3 `project` trains, so layers 1–6 stay cached.
        XCTAssertTrue(cached.err.contains("frozen prefix cache: image layers 1–8 of 10"), cached.err)
        XCTAssertTrue(cached.err.contains("epoch 3: frozen prefix cache: image layers 1–6 of 10"), cached.err)
        let plain = try fusionlab(["run", experiment, "--set", "training.cache_frozen_prefix=false"])
        XCTAssertEqual(plain.status, 0, plain.err)
        XCTAssertFalse(plain.err.contains("frozen prefix cache"), plain.err)
        let runs = runDirectories("prefix")
        XCTAssertEqual(runs.count, 2)
        func column(_ run: String, _ index: Int) throws -> [Double] {
            try String(contentsOfFile: run + "/history.csv", encoding: .utf8).split(separator: "\n").dropFirst()
                .map { try XCTUnwrap(Double(String($0.split(separator: ",")[index]))) }
        }
        for index in [1, 3] {  // training loss, validation loss
            let (a, b) = (try column(runs[0], index), try column(runs[1], index))
            XCTAssertEqual(a.count, 3)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-4, "history column \(index): \(a) vs \(b)") }
        }
        let metrics = try runs.map { try json($0 + "/metrics.json") }
        XCTAssertEqual(metrics[0]["accuracy"] as? Double ?? -1, metrics[1]["accuracy"] as? Double ?? -2, accuracy: 1e-9)
    }

    func testImageAugmentationTurnsTheFrozenPrefixCacheOff() throws {
        let result = try fusionlab(["run", frozenPrefixExperiment("prefix-augment"), "--set", "preprocessing.image.augment.flip=0.5"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertFalse(result.err.contains("frozen prefix cache"), result.err)
    }

    /// An audio experiment whose stack is conv, relu, pool, conv ("same"), global pool `pool`, linear, with `frozen` layers frozen.
    func audioPrefixExperiment(_ name: String, pool: String, frozen: [String]) -> String {
        write("\(name).json", """
        {"name": "\(name)", "seed": 4,
         "dataset": {"path": "data-80", "generate": true, "generator": {"samples": 80, "image_size": 16, "audio_seconds": 0.25}},
         "preprocessing": {"audio": {"duration": 0.5, "n_fft": 128, "hop_length": 64, "n_mels": 16, "n_mfcc": 8}, "text": {"max_length": 8}},
         "model": {"modalities": ["audio", "text"], "text": {"embedding_dim": 8, "dim": 8},
                   "audio": {"layers": [{"type": "conv2d", "name": "c1", "channels": 4, "kernel": 3, "padding": 1}, "relu",
                                        {"type": "max_pool2d", "kernel": 2}, {"type": "conv2d", "name": "c2", "channels": 6, "kernel": 3, "padding": "same"},
                                        {"type": "global_pool", "op": "\(pool)"}, {"type": "linear", "units": 8}]},
                   "fusion": {"dim": 8}, "head": {"hidden": [8]}},
         "training": {"epochs": 2, "batch_size": 16, "threads": 1},
         "transfer": {"freeze": [\(frozen.map { "\"encoders.audio.layers.\($0)\"" }.joined(separator: ", "))]}}
        """)
    }

    /// Runs `experiment` with and without the cache: the log names `cached`, and history column `column` agrees.
    func checkCacheChangesNothing(_ experiment: String, name: String, cached line: String, column: Int) throws {
        let cached = try fusionlab(["run", experiment])
        XCTAssertEqual(cached.status, 0, cached.err)
        XCTAssertTrue(cached.err.contains(line), cached.err)
        let plain = try fusionlab(["run", experiment, "--set", "training.cache_frozen_prefix=false"])
        XCTAssertEqual(plain.status, 0, plain.err)
        let histories = try runDirectories(name).map { try String(contentsOfFile: $0 + "/history.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            .map { try XCTUnwrap(Double(String($0.split(separator: ",")[column]))) } }
        XCTAssertEqual(histories.count, 2)
        for (x, y) in zip(histories[0], histories[1]) { XCTAssertEqual(x, y, accuracy: 1e-4, "history column \(column): \(histories)") }
    }

    func testFrozenAudioPrefixKeepsTheFrameMasks() throws {
        // The masked mean over the valid frames is frozen too: layers 1–5 are cached with each clip's valid length.
        try checkCacheChangesNothing(audioPrefixExperiment("prefix-audio", pool: "avg", frozen: ["c1", "c2"]), name: "prefix-audio",
                                     cached: "frozen prefix cache: audio layers 1–5 of 6", column: 1)
    }

    func testFrozenAudioPrefixUpToItsLastConvolutionKeepsMasks() throws {
        // The boundary inside the time-reducing layers: lengths after a pooling carry on into the next layer.
        try checkCacheChangesNothing(audioPrefixExperiment("prefix-audio2", pool: "max", frozen: ["c1"]), name: "prefix-audio2",
                                     cached: "frozen prefix cache: audio layers 1–3 of 6", column: 3)
    }
}
