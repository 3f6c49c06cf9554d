import Foundation
import FusionTestSupport
import XCTest

/// One binary, every instruction set: a run with FusionLab's kernels capped at AVX2 or at the
/// baseline, and OpenBLAS's at Haswell, gives the numbers of the run at the CPU's widest, within
/// the goldens' tolerance (GEMM kernels sum in another order; FusionLab's own kernels give the
/// same bits).
final class InstructionSetTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("isa")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    func testRunsAgreeAcrossInstructionSets() throws {
        let experiment = tinyExperiment("isa", epochs: 2)
        func run(_ environment: [String: String]) throws -> [String: Any] {
            var env = ProcessInfo.processInfo.environment
            for (key, value) in environment { env[key] = value }
            let before = Set(runDirectories("isa"))
            let result = try runProcess(executable, ["run", experiment, "--quiet"], environment: env)
            XCTAssertEqual(result.status, 0, result.err)
            let folder = try XCTUnwrap(Set(runDirectories("isa")).subtracting(before).first)
            return try json(folder + "/metrics.json")
        }
        let widest = try run([:])
        for capped in [["FUSIONLAB_ISA": "avx2", "OPENBLAS_CORETYPE": "Haswell"], ["FUSIONLAB_ISA": "baseline", "OPENBLAS_CORETYPE": "Haswell"]] {
            let other = try run(capped)
            XCTAssertEqual(other["accuracy"] as? Double, widest["accuracy"] as? Double, "\(capped)")
            let (a, b) = (try XCTUnwrap(other["log_loss"] as? Double), try XCTUnwrap(widest["log_loss"] as? Double))
            XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "\(capped)")
        }
    }
}
