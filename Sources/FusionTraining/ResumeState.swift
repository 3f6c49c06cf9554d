import FusionCore
import FusionReports
import FusionConfig
import Foundation
import FusionModels
import FusionNN
import FusionOptim
import FusionTensor

/// Everything needed to continue a run after its last finished epoch: weights, optimizer
/// moments and step count, history and early-stopping state — one safetensors file written
/// atomically, so a run killed at any moment resumes from a consistent state.
public struct ResumeState {
    /// The last finished epoch (1-based).
    public var epoch: Int
    /// History up to it.
    public var history: [EpochRecord]
    /// Early-stopping bookkeeping.
    public var bestValue: Double, bestEpoch: Int, epochsSinceBest: Int
    /// Training time so far.
    public var trainSeconds: Double

    /// Saves the state with the model's and optimizer's tensors.
    func save(model: Module, optimizer: Optimizer, to path: String) throws {
        var tensors: [(String, Tensor)] = model.stateDict().map { ("model." + $0.key, $0.tensor) }
        for key in optimizer.state.keys.sorted() {
            for (i, t) in (optimizer.state[key] ?? []).enumerated() { tensors.append(("optimizer.\(key).\(i)", t)) }
        }
        let state: [String: Any] = [
            "epoch": epoch, "best_value": bestValue.isFinite ? bestValue : 0, "best_finite": bestValue.isFinite,
            "best_epoch": bestEpoch, "epochs_since_best": epochsSinceBest, "train_seconds": trainSeconds,
            "optimizer_steps": optimizer.stepCount,
            "optimizer_parameter_steps": optimizer.parameterSteps,
            "history": history.map { $0.csvRow },
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: state, options: [.sortedKeys]), as: UTF8.self)
        try Safetensors.write(tensors, metadata: ["fusionlab_resume": json], to: path)
    }

    /// Loads the state into `model` and `optimizer`. A missing, truncated or inconsistent file is
    /// an error naming it.
    static func load(from path: String, model: Module, optimizer: Optimizer) throws -> ResumeState {
        let file: (tensors: [String: Tensor], metadata: [String: String])
        do { file = try Safetensors.read(path) } catch { throw ExperimentError("cannot resume: \(error)") }
        guard let json = file.metadata["fusionlab_resume"], let data = json.data(using: .utf8),
              let state = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let epoch = state["epoch"] as? Int, let rows = state["history"] as? [String] else {
            throw ExperimentError("\(path): not a FusionLab resume state (metadata fusionlab_resume missing or malformed)")
        }
        var weights: [String: Tensor] = [:]
        var moments: [String: [(Int, Tensor)]] = [:]
        for (name, t) in file.tensors {
            if name.hasPrefix("model.") { weights[String(name.dropFirst(6))] = t } else if name.hasPrefix("optimizer.") {
                let rest = name.dropFirst(10)
                guard let dot = rest.lastIndex(of: "."), let index = Int(rest[rest.index(after: dot)...]) else { continue }
                moments[String(rest[..<dot]), default: []].append((index, t))
            }
        }
        try model.load(weights, strict: true, source: path)
        optimizer.state = moments.mapValues { $0.sorted { $0.0 < $1.0 }.map { $0.1 } }
        optimizer.restoreStepCount(state["optimizer_steps"] as? Int ?? 0)
        optimizer.parameterSteps = state["optimizer_parameter_steps"] as? [String: Int]
            ?? optimizer.state.keys.reduce(into: [:]) { $0[$1] = optimizer.stepCount }
        let finite = state["best_finite"] as? Bool ?? true
        return ResumeState(epoch: epoch, history: rows.compactMap { EpochRecord(csvRow: $0) },
                           bestValue: finite ? (state["best_value"] as? Double ?? 0) : .nan,
                           bestEpoch: state["best_epoch"] as? Int ?? 0, epochsSinceBest: state["epochs_since_best"] as? Int ?? 0,
                           trainSeconds: state["train_seconds"] as? Double ?? 0)
    }
}
