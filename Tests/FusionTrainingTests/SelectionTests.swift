import Foundation
import FusionConfig
import FusionData
import FusionTraining
import XCTest

/// The best-epoch rule.
final class EpochSelectionTests: XCTestCase {
    /// The trainer's best-epoch hook alone: improvements, ties to the lower validation loss,
    /// epochs that pruning makes ineligible, and the patience count early stopping reads.
    func testBestSelectionKeepsTheBestEligibleEpochAndCountsPatience() {
        var early = EarlyStoppingConfig()
        early.metric = .accuracy
        var selection = BestSelection(early, hasValidation: true, resumed: nil)
        var history: [EpochRecord] = []
        func epoch(_ n: Int, accuracy: Double, valLoss: Double, eligible: Bool = true) -> Bool {
            history.append(EpochRecord(epoch: n, trainLoss: 1, trainAccuracy: 0.5, valLoss: valLoss, valAccuracy: accuracy, valF1Macro: accuracy,
                                       lrScale: 1, seconds: 1))
            return selection.consider(epoch: n, score: accuracy, history: history, eligible: eligible)
        }
        XCTAssertTrue(epoch(1, accuracy: 0.6, valLoss: 0.9))
        XCTAssertFalse(epoch(2, accuracy: 0.9, valLoss: 0.5, eligible: false), "pruning not at its final sparsity yet")
        XCTAssertEqual(selection.sinceBest, 1)
        XCTAssertTrue(epoch(3, accuracy: 0.8, valLoss: 0.7))
        XCTAssertTrue(epoch(4, accuracy: 0.8, valLoss: 0.6), "a tie with a lower validation loss replaces the best")
        XCTAssertFalse(epoch(5, accuracy: 0.8, valLoss: 0.65), "a tie with a higher validation loss does not")
        XCTAssertFalse(epoch(6, accuracy: .nan, valLoss: .nan))
        XCTAssertEqual([selection.bestEpoch, selection.sinceBest], [4, 2])
        XCTAssertEqual(selection.best, 0.8)
    }

    func testTiesGoToTheLowerValidationLossThenTheLaterEpoch() {
        let accuracy = EpochSelection(lowerIsBetter: false, minDelta: 0)
        XCTAssertEqual(accuracy.compare(score: 0.9, valLoss: 0.5, best: 0.8, bestLoss: 0.1).replaces, true, "a better score wins")
        XCTAssertEqual(accuracy.compare(score: 0.7, valLoss: 0.01, best: 0.8, bestLoss: 0.1).replaces, false, "a worse score loses")
        XCTAssertEqual(accuracy.compare(score: 0.8, valLoss: 0.05, best: 0.8, bestLoss: 0.1).replaces, true, "a tie with lower loss wins")
        XCTAssertEqual(accuracy.compare(score: 0.8, valLoss: 0.2, best: 0.8, bestLoss: 0.1).replaces, false, "a tie with higher loss loses")
        let tie = accuracy.compare(score: 0.8, valLoss: 0.1, best: 0.8, bestLoss: 0.1)
        XCTAssertEqual(tie.replaces, true, "an exact tie goes to the later epoch")
        XCTAssertEqual(tie.improved, false, "a tie is not an improvement of the score")
        XCTAssertEqual(accuracy.compare(score: .nan, valLoss: .nan, best: 0.8, bestLoss: 0.1).replaces, false, "a non-finite epoch is never best")
        let loss = EpochSelection(lowerIsBetter: true, minDelta: 0.01)
        XCTAssertEqual(loss.compare(score: 0.305, valLoss: 0.305, best: 0.31, bestLoss: 0.31).replaces, true, "within min_delta: a tie, lower loss")
        XCTAssertEqual(loss.compare(score: 0.305, valLoss: 0.305, best: 0.31, bestLoss: 0.31).improved, false)
    }
}

/// A dataset without a fixed split is split by `dataset.split_seed`, never by the run seed.
final class SplitSeedTests: XCTestCase {
    func testEverySeedOfAComparisonSeesTheSameTestSamples() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("split-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let records = (0..<40).map { DatasetWriter.Record(id: "t\($0)", split: .train, label: $0 % 2 == 0 ? "a" : "b", text: "word \($0 % 5)") }
        try DatasetWriter.write(info: DatasetInfo(name: "flat", labels: ["a", "b"]), records: records, to: dir)
        func testIDs(seed: UInt64, splitSeed: UInt64) throws -> [String] {
            var config = ExperimentConfig()
            (config.dataset.path, config.seed, config.dataset.splitSeed) = (dir, seed, splitSeed)
            config.model.modalities = [.text]
            let data = try ExperimentData.prepare(config, vocabularyPath: nil, caches: false) { _ in }
            return data.dataset.samples(in: .test).map { $0.id }.sorted()
        }
        let first = try testIDs(seed: 0, splitSeed: 0)
        XCTAssertEqual(first.count, 6)
        XCTAssertEqual(try testIDs(seed: 7, splitSeed: 0), first, "the run seed does not move the split")
        XCTAssertNotEqual(try testIDs(seed: 0, splitSeed: 3), first, "split_seed does")
    }
}
