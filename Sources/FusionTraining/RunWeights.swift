import Foundation
import FusionConfig
import FusionInt8
import FusionModels
import FusionNN
import FusionReports
import FusionTensor

/// A run's checkpoints: `training.save_frozen` and int8 checkpoints handled in one place.
enum RunWeights {
    /// The metadata entry naming the frozen parameters a checkpoint leaves out (comma-separated keys).
    static let frozenKey = "fusionlab.frozen_left_out"
    /// The metadata entry naming the checkpoint `transfer.init_from` resolved to in training.
    static let sourceKey = "fusionlab.initialised_from"

    /// Saves `model`'s parameters and buffers; without `saveFrozen`, the parameters that do not
    /// train are left out and named in the metadata.
    static func save(_ model: Module, to path: String, metadata: [String: String], saveFrozen: Bool) throws {
        let frozen = saveFrozen ? [] : Set(model.namedParameters().filter { !$0.tensor.requiresGrad }.map(\.key))
        guard !frozen.isEmpty else { return try model.save(to: path, metadata: metadata) }
        var meta = metadata
        meta[frozenKey] = frozen.sorted().joined(separator: ",")
        try Safetensors.write(model.stateDict().filter { !frozen.contains($0.key) }.map { ($0.key, $0.tensor) }, metadata: meta, to: path)
    }

    /// The frozen parameters the checkpoint at `path` leaves out.
    static func leftOut(_ metadata: [String: String]) -> Set<String> {
        Set((metadata[frozenKey] ?? "").split(separator: ",").map(String.init))
    }

    /// Loads a run checkpoint into `model`: int8 through `Int8Quantization`, float strictly but
    /// for the frozen parameters it names as left out, which keep the values `model` has.
    /// Returns whether it was int8.
    @discardableResult
    static func load(_ model: Module, from path: String) throws -> Bool {
        let (tensors, metadata) = try Safetensors.read(path)
        if metadata[Int8Quantization.metadataKey] != nil {
            try Int8Quantization.load(model, tensors: tensors, metadata: metadata, source: path)
            return true
        }
        let skipped = leftOut(metadata)
        let (missing, _) = try model.load(tensors, strict: skipped.isEmpty, source: path)
        let unexplained = Set(missing).subtracting(skipped)
        guard unexplained.isEmpty else {
            throw SafetensorsError(path: path, message: "missing tensors for \(unexplained.count) model keys: \(unexplained.sorted().prefix(5).joined(separator: ", "))")
        }
        return false
    }
}
