import Foundation
import FusionConfig
import FusionCore
import FusionInt8
import FusionModels
import FusionNN
import FusionReports
import FusionTensor

/// Initialising a model from another run's weights.
public enum Transfer {
    /// The checkpoint `initFrom` names: a .safetensors file, a run folder (its best checkpoint),
    /// or an experiment file (the best checkpoint of its latest run under `runsRoot`).
    public static func resolveCheckpoint(_ initFrom: String, runsRoot: String = "runs") throws -> String {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: initFrom, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue && initFrom.hasSuffix(".safetensors") { return initFrom }
        if exists && isDirectory.boolValue {
            let best = initFrom + "/checkpoints/best.safetensors"
            guard FileManager.default.fileExists(atPath: best) else { throw ExperimentError("transfer.init_from: \(initFrom) has no checkpoints/best.safetensors") }
            return best
        }
        if exists && initFrom.hasSuffix(".json") {
            let name = try ConfigLoader.load(initFrom).config.name
            let folder = "\(runsRoot)/\(name)"
            // Only finished runs: a run killed after a few epochs has a best checkpoint too.
            let runs = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
                .filter { FileManager.default.fileExists(atPath: "\(folder)/\($0)/checkpoints/best.safetensors")
                    && RunDirectory(path: "\(folder)/\($0)").status == .finished }.sorted()
            guard let latest = runs.last else {
                throw ExperimentError("transfer.init_from: experiment \(initFrom) (\"\(name)\") has no finished run under \(folder); run it first")
            }
            return "\(folder)/\(latest)/checkpoints/best.safetensors"
        }
        throw ExperimentError("transfer.init_from: \(initFrom) is not a .safetensors file, a run folder or an experiment file")
    }

    /// Loads the checkpoint into `model`: keys renamed by `transfer.remap`, restricted to
    /// `transfer.include` prefixes, and copied where the model has a tensor of the same shape.
    /// An experiment file named by `init_from` is looked up under `runsRoot` (the fine-tune
    /// run's own root, as `--runs` set it) and then under `runs`.
    static func initialize(_ model: Module, config: ExperimentConfig, runsRoot: String = "runs", log: (String) -> Void) throws {
        let path: String
        do { path = try resolveCheckpoint(config.transfer.initFrom, runsRoot: runsRoot) } catch where runsRoot != "runs" {
            path = try resolveCheckpoint(config.transfer.initFrom, runsRoot: "runs")
        }
        let file = try Safetensors.read(path)
        if file.metadata[Int8Quantization.metadataKey] != nil {
            throw ExperimentError("transfer.init_from: \(path) is an int8-quantized checkpoint; initialise from its float source run instead")
        }
        var renamed: [String: Tensor] = [:]
        for (key, t) in file.tensors {
            var k = key
            // The same rule as every other key pattern: a prefix counts at a dot boundary only.
            for r in config.transfer.remap where !r.from.isEmpty && keyMatches(k, pattern: r.from) {
                k = r.to + k.dropFirst(r.from.count)
                break
            }
            renamed[k] = t
        }
        var loaded = 0, skipped: [String] = []
        for (key, t) in model.stateDict() {
            let included = config.transfer.include.isEmpty || config.transfer.include.contains { keyMatches(key, pattern: $0) }
            guard included, let source = renamed[key] else { continue }
            if source.shape == t.shape { t.assign(source); loaded += 1 } else { skipped.append("\(key) \(source.shape)→\(t.shape)") }
        }
        guard loaded > 0 else { throw ExperimentError("transfer.init_from: no tensor of \(path) matches the model (check transfer.remap and transfer.include)") }
        log("initialised \(loaded) tensors from \(path)" + (skipped.isEmpty ? "" : "; kept \(skipped.count) with other shapes: \(skipped.prefix(3).joined(separator: ", "))"))
    }
}
