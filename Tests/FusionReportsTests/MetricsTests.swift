import Foundation
import FusionCore
import FusionReports
import XCTest

/// Expected values come from scikit-learn 1.9.1: `python scripts/golden/metrics_goldens.py`
/// (the inputs below are copied from that script).
final class MetricsTests: XCTestCase {
    // Example A: class "d" is predicted but never true, "e" neither; ties in the scores.
    let aLabels = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 1]
    let aPredictions = [0, 1, 0, 1, 1, 3, 1, 2, 0, 2, 0, 3]
    let aProbabilities: [[Float]] = [
        [0.6, 0.2, 0.1, 0.1, 0.0], [0.3, 0.4, 0.1, 0.2, 0.0], [0.5, 0.2, 0.2, 0.1, 0.0],
        [0.2, 0.5, 0.2, 0.1, 0.0], [0.1, 0.6, 0.2, 0.1, 0.0], [0.2, 0.2, 0.2, 0.4, 0.0],
        [0.3, 0.4, 0.2, 0.1, 0.0], [0.1, 0.2, 0.5, 0.2, 0.0], [0.4, 0.2, 0.3, 0.1, 0.0],
        [0.2, 0.2, 0.5, 0.1, 0.0], [0.5, 0.3, 0.1, 0.1, 0.0], [0.1, 0.3, 0.2, 0.4, 0.0],
    ]
    let aNames = ["a", "b", "c", "d", "e"]

    func exampleA() -> ClassificationMetrics {
        ClassificationMetrics.compute(labels: aLabels, predictions: aPredictions, probabilities: aProbabilities,
                                      classNames: aNames)
    }

    func testAveragesMatchScikitLearnWithAbsentClasses() {
        let m = exampleA()
        XCTAssertEqual(m.samples, 12)
        XCTAssertEqual(m.accuracy, 0.6666666666666666, accuracy: 1e-12)
        XCTAssertEqual(m.precisionMacro, 0.5, accuracy: 1e-12)
        XCTAssertEqual(m.recallMacro, 0.4033333333333333, accuracy: 1e-12)
        XCTAssertEqual(m.f1Macro, 0.44333333333333336, accuracy: 1e-12)
        XCTAssertEqual(m.precisionMicro, 0.6666666666666666, accuracy: 1e-12)
        XCTAssertEqual(m.recallMicro, 0.6666666666666666, accuracy: 1e-12)
        XCTAssertEqual(m.f1Micro, 0.6666666666666666, accuracy: 1e-12)
        XCTAssertEqual(m.precisionWeighted, 0.8125, accuracy: 1e-12)
        XCTAssertEqual(m.recallWeighted, 0.6666666666666666, accuracy: 1e-12)
        XCTAssertEqual(m.f1Weighted, 0.7277777777777779, accuracy: 1e-12)
    }

    func testPerClassAndConfusionMatrixMatchScikitLearn() {
        let m = exampleA()
        XCTAssertEqual(m.perClass.map(\.name), aNames)
        assertClose(m.perClass.map(\.precision), [0.75, 0.75, 1.0, 0.0, 0.0])
        assertClose(m.perClass.map(\.recall), [0.75, 0.6, 0.6666666666666666, 0.0, 0.0])
        assertClose(m.perClass.map(\.f1), [0.75, 0.6666666666666666, 0.8, 0.0, 0.0])
        XCTAssertEqual(m.perClass.map(\.support), [4, 5, 3, 0, 0])
        XCTAssertEqual(m.confusionMatrix, [
            [3, 1, 0, 0, 0], [0, 3, 0, 2, 0], [1, 0, 2, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0],
        ])
    }

    func testRocAucWithTiesAndUndefinedClasses() {
        let m = exampleA()
        let aucs = m.perClass.map(\.rocAuc)
        XCTAssertEqual(aucs[0] ?? -1, 0.953125, accuracy: 1e-12)
        XCTAssertEqual(aucs[1] ?? -1, 0.8142857142857144, accuracy: 1e-12)
        XCTAssertEqual(aucs[2] ?? -1, 1.0, accuracy: 1e-12)
        XCTAssertNil(aucs[3], "no positives: undefined")
        XCTAssertNil(aucs[4], "no positives: undefined")
        XCTAssertEqual(m.rocAucMacro ?? -1, 0.9224702380952382, accuracy: 1e-12)
        XCTAssertEqual(m.logLoss ?? -1, 0.8854196071624756, accuracy: 1e-6)  // sklearn computes in float32
    }

    func testMacroRocAucEqualsScikitLearnMulticlassOvr() {
        // Example B: all classes present; roc_auc_score(average="macro", multi_class="ovr").
        let probabilities: [[Float]] = [
            [0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5], [0.25, 0.5, 0.25], [0.25, 0.5, 0.25],
            [0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.25, 0.5, 0.25],
        ]
        let m = ClassificationMetrics.compute(labels: [0, 1, 2, 0, 1, 2, 0, 1, 2, 1],
                                              predictions: [0, 1, 2, 1, 1, 0, 0, 2, 2, 1],
                                              probabilities: probabilities, classNames: ["x", "y", "z"])
        XCTAssertEqual(m.accuracy, 0.7, accuracy: 1e-12)
        XCTAssertEqual(m.f1Macro, 0.6944444444444443, accuracy: 1e-12)
        assertClose(m.perClass.compactMap(\.rocAuc), [0.7619047619047619, 0.7916666666666667, 0.7619047619047619])
        XCTAssertEqual(m.rocAucMacro ?? -1, 0.7718253968253969, accuracy: 1e-12)
        XCTAssertEqual(m.logLoss ?? -1, 0.9010913968086243, accuracy: 1e-6)
        XCTAssertEqual(m.confusionMatrix, [[2, 1, 0], [0, 3, 1], [1, 0, 2]])
    }

    func testWithoutProbabilitiesAucAndLossAreNil() {
        let m = ClassificationMetrics.compute(labels: aLabels, predictions: aPredictions, probabilities: nil,
                                              classNames: aNames)
        XCTAssertNil(m.rocAucMacro)
        XCTAssertNil(m.logLoss)
        XCTAssertNil(m.value(named: "loss"))
        XCTAssertEqual(m.value(named: "f1_macro") ?? -1, 0.44333333333333336, accuracy: 1e-12)
    }

    func testValueByName() {
        let m = exampleA()
        for name in ClassificationMetrics.valueNames {
            XCTAssertNotNil(m.value(named: name), name)
        }
        XCTAssertEqual(m.value(named: "accuracy"), m.accuracy)
        XCTAssertEqual(m.value(named: "f1_weighted"), m.f1Weighted)
        XCTAssertEqual(m.value(named: "loss"), m.logLoss)
        XCTAssertNil(m.value(named: "f1-macro"))
    }

    func testJSONHasSnakeCaseKeysNullsAndRoundTripsThroughAFile() throws {
        let m = exampleA()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("metrics.json").path
        try writeFileAtomically(try m.jsonData(), to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let text = String(decoding: data, as: UTF8.self)
        for key in ["\"f1_macro\"", "\"precision_weighted\"", "\"per_class\"", "\"confusion_matrix\"",
                    "\"roc_auc_macro\"", "\"log_loss\"", "\"roc_auc\" : null"] {
            XCTAssertTrue(text.contains(key), "metrics.json lacks \(key)")
        }
        XCTAssertFalse(text.contains("f1Macro"))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object.count, 15)
        let accuracyAt = try XCTUnwrap(text.range(of: "\"accuracy\""))
        let samplesAt = try XCTUnwrap(text.range(of: "\"samples\""))
        XCTAssertLessThan(accuracyAt.lowerBound, samplesAt.lowerBound, "keys are sorted")
        XCTAssertEqual(try ClassificationMetrics.decode(data, path: path), m)
        XCTAssertThrowsError(try ClassificationMetrics.decode(Data("{}".utf8), path: "/x/metrics.json")) { error in
            XCTAssertTrue("\(error)".contains("/x/metrics.json"), "\(error)")
        }
    }

    func testEmptyEvaluationIsAllZeros() {
        let m = ClassificationMetrics.compute(labels: [], predictions: [], probabilities: [], classNames: ["a", "b"])
        XCTAssertEqual(m.accuracy, 0)
        XCTAssertEqual(m.f1Macro, 0)
        XCTAssertNil(m.rocAucMacro)
        XCTAssertNil(m.logLoss)
    }
}

private func assertClose(_ a: [Double], _ b: [Double], accuracy: Double = 1e-12,
                         file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count", file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
