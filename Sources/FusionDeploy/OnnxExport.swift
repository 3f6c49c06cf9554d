import Foundation
import FusionConfig
import FusionCore
import FusionData
import FusionInt8
import FusionModels
import FusionNN
import FusionReports
import FusionTensor
import FusionTraining

/// A part of a model that has no ONNX export (yet), named so the researcher knows which.
public struct OnnxExportError: Error, CustomStringConvertible {
    /// What cannot be exported, and where it is in the experiment.
    public let description: String
}

/// `fusionlab export onnx`: the ONNX file, a JSON of what its inputs mean (preprocessing,
/// classes, names), and reference inputs with FusionLab's own probabilities for checking the file
/// in any runtime (`scripts/onnx_check.py` runs onnxruntime on them).
public enum OnnxExport {
    /// What was written.
    public struct Summary: Sendable {
        /// The .onnx file, the JSON beside it, and the reference safetensors (nil when not asked for).
        public var model: String, description: String, reference: String?
        /// Reference samples written.
        public var samples: Int
        /// Nodes by op type.
        public var ops: [String: Int]
    }

    /// Exports `run`'s best checkpoint to `output` (a path ending in .onnx); with `referenceSamples`
    /// > 0, also writes that many test-split samples (every other one with a seeded subset of
    /// modalities absent) and FusionLab's probabilities for them.
    public static func run(run: String, output: String, referenceSamples: Int, progress: FusionTraining.Progress) throws -> Summary {
        guard output.hasSuffix(".onnx") else { throw ExperimentError("export onnx: the output must end in .onnx, got \(output)") }
        guard referenceSamples >= 0 else { throw ExperimentError("export onnx: --reference-samples must be ≥ 0, got \(referenceSamples)") }
        // An int8 run's graph would be float: a different model from the one predict and serve run.
        if let checkpoint = try? RunDirectory.open(run).bestCheckpoint,
           let metadata = try? Safetensors.read(checkpoint).metadata, metadata[Int8Quantization.metadataKey] != nil {
            throw ExperimentError("export onnx \(run): an int8 run (fusionlab compress --quantize int8) has no ONNX export yet: "
                                  + "the graph would compute in float, not what predict and serve compute; export the float run it was made from")
        }
        let (model, data, config) = try ExperimentRunner.load(run: run, caches: referenceSamples > 0, progress: progress)
        if config.model.fusion.modalityDropout > 0 { progress.detail("modality dropout is a training-time setting: the export is the eval-mode model") }
        let exported: (bytes: [UInt8], ops: [String: Int])
        do { exported = try OnnxExporter.export(model, config: config, classes: data.classNames.count) } catch let error as OnnxExportError {
            throw ExperimentError("export onnx \(run): \(error.description)")
        }
        try FileIO.writeAtomically(Data(exported.bytes), to: output)
        // model.onnx.json, model.onnx.reference.safetensors: names no experiment or dataset file has.
        let description = output + ".json"
        var inputs: [[String: Any]] = []
        for m in model.modalities {
            switch m {
            case .text:
                inputs.append(["name": "text_ids", "type": "int64", "shape": ["batch", config.preprocessing.text.maxLength],
                               "meaning": "token ids of the caption, padded with 0 (the run's vocab.txt)"])
                inputs.append(["name": "text_mask", "type": "float32", "shape": ["batch", config.preprocessing.text.maxLength], "meaning": "1 for real tokens, 0 for padding"])
            case .image:
                inputs.append(["name": "image", "type": "float32", "shape": ["batch"] + (data.settings.image?.shape ?? []),
                               "meaning": "decoded image in [0, 1], resized, then (x - mean) / std per channel: see preprocessing.image"])
            case .audio:
                inputs.append(["name": "audio", "type": "float32", "shape": ["batch"] + (data.settings.audio?.shape ?? []), "meaning": "MFCCs of the real clip (trimmed to preprocessing.audio.samples), then zero frames: see preprocessing.audio"])
                inputs.append(["name": "audio_mask", "type": "float32", "shape": ["batch", data.settings.audio?.shape.last ?? 0], "meaning": "1 for frames of real audio"])
            }
            inputs.append(["name": "\(m.rawValue)_present", "type": "float32", "shape": ["batch"], "meaning": "1 when the sample has this modality, 0 when absent"])
        }
        let preprocessing = PreprocessingDescription.json(data.settings, config: config)
        var info: [String: Any] = [
            "format": "fusionlab-onnx", "opset": OnnxExporter.opset, "model": URL(fileURLWithPath: output).lastPathComponent,
            "run": run, "classes": data.classNames, "modalities": model.modalities.map(\.rawValue), "inputs": inputs,
            "outputs": [["name": "logits", "shape": ["batch", data.classNames.count]], ["name": "probabilities", "shape": ["batch", data.classNames.count]]],
            "preprocessing": preprocessing, "vocabulary": FileManager.default.fileExists(atPath: run + "/vocab.txt") ? run + "/vocab.txt" : "",
            "fusionlab_version": BuildInfo.version, "fusionlab_commit": BuildInfo.commit,
        ]
        // What predict and serve apply after the graph: the calibrated temperature and the conformal threshold.
        let calibrated = try InferenceModel.calibration(run: run, config: config)
        if config.evaluation.calibrate {
            info["calibration"] = ["temperature": Double(calibrated.temperature),
                                   "use": "probabilities = softmax(logits / temperature): what fusionlab predict and serve return"]
        }
        if let q = calibrated.conformalThreshold {
            info["conformal"] = ["alpha": config.evaluation.conformalAlpha, "threshold": q,
                                 "use": "prediction set = every class k with 1 - probabilities[k] <= threshold (probabilities as above)"]
        }
        try FileIO.writeAtomically(try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys]), to: description)
        guard referenceSamples > 0 else { return Summary(model: output, description: description, reference: nil, samples: 0, ops: exported.ops) }

        // Reference: test-split batches, every odd sample with a seeded non-empty subset of modalities.
        let split: Split = data.caches[.test].map { $0.count > 0 } == true ? .test : .val
        let loader = try data.loader(split)
        var columns: [String: [Float]] = [:], shapes: [String: [Int]] = [:]
        var probabilities: [Float] = []
        var rng = SeededGenerator(seed: 17)
        var count = 0
        let mods = model.modalities
        for batch in loader.epoch(0) where count < referenceSamples {
            let n = min(batch.size, referenceSamples - count)
            var b = batch
            if mods.count > 1 {
                var masks = mods.map { b.presence(of: $0).scalars }
                for i in 0..<batch.size where (count + i) % 2 == 1 {
                    let subset = Int.random(in: 1..<(1 << mods.count), using: &rng)
                    for k in mods.indices where subset & (1 << k) == 0 { masks[k][i] = 0 }
                }
                for (k, m) in mods.enumerated() { b.presence[m] = Tensor(masks[k], shape: [batch.size]) }
            }
            let p = withNoGrad { model(b) }.softmax(axis: 1)
            let c = data.classNames.count
            probabilities += Array(p.scalars.prefix(n * c))
            func add(_ name: String, _ values: [Float], _ rowShape: [Int]) {
                let size = shapeCount(rowShape)
                columns[name, default: []] += Array(values.prefix(n * size))
                shapes[name] = rowShape
            }
            for m in mods {
                guard let input = b.inputs[m] else { continue }
                switch m {
                case .text:
                    if let tokens = input.tokens { add("text_ids", tokens.values.map(Float.init), Array(tokens.shape.dropFirst())) }
                    if let mask = input.mask { add("text_mask", mask.scalars, Array(mask.shape.dropFirst())) }
                case .image:
                    if let f = input.features { add("image", f.scalars, Array(f.shape.dropFirst())) }
                case .audio:
                    if let f = input.features { add("audio", f.scalars, Array(f.shape.dropFirst())) }
                    if let mask = input.mask { add("audio_mask", mask.scalars, Array(mask.shape.dropFirst())) }
                }
                add("\(m.rawValue)_present", b.presence(of: m).scalars, [])
            }
            count += n
        }
        var tensors: [(String, Tensor)] = columns.keys.sorted().map { name in
            (name, Tensor(columns[name] ?? [], shape: [count] + (shapes[name] ?? [])))
        }
        tensors.append(("probabilities", Tensor(probabilities, shape: [count, data.classNames.count])))
        let reference = output + ".reference.safetensors"
        try Safetensors.write(tensors, metadata: ["split": split.rawValue, "run": run, "note": "text_ids are stored as float32; cast to int64"], to: reference)
        return Summary(model: output, description: description, reference: reference, samples: count, ops: exported.ops)
    }
}
