import FusionCore
import FusionReports
import FusionConfig
import FusionTraining
import Foundation
import FusionData
import FusionNN
import FusionTensor

/// `fusionlab export-features`: the preprocessed features of every split exactly as the model
/// reads them, for a PyTorch twin (or any other tool) to train on the same numbers.
///
/// Writes `<split>.safetensors` per split — `labels [N]`, `image [N, C, H, W]` (normalised),
/// `audio [N, coefficients, frames]` with `audio_mask [N, frames]`, `text [N, L]` (token ids)
/// with `text_mask [N, L]`, and `presence.<modality> [N]`, all float32 — and `features.json`
/// (class names, vocabulary size, input shapes, each encoder's layers with presets expanded,
/// sample ids per split, the resolved experiment).
public enum FeatureExport {
    /// Writes the features of `data`'s splits into `directory`; returns the files written.
    @discardableResult
    public static func write(_ data: ExperimentData, to directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written: [String] = []
        var ids: [String: [String]] = [:]
        for split in Split.allCases where data.caches[split] != nil {
            let loader = try data.loader(split, training: false)
            var parts: [String: [Tensor]] = [:]
            var labels: [Float] = []
            var splitIDs: [String] = []
            for b in loader.epoch(0) {
                labels += b.labels.map(Float.init)
                splitIDs += b.ids
                for (m, input) in b.inputs {
                    if let f = input.features { parts[m.rawValue, default: []].append(f) }
                    if let t = input.tokens {
                        parts[m.rawValue, default: []].append(Tensor(t.values.map(Float.init), shape: t.shape))
                    }
                    if let mask = input.mask { parts[m.rawValue + "_mask", default: []].append(mask) }
                    parts["presence." + m.rawValue, default: []].append(b.presence(of: m))
                }
            }
            var tensors: [(String, Tensor)] = [("labels", Tensor(labels, shape: [labels.count]))]
            for key in parts.keys.sorted() {
                guard let list = parts[key] else { continue }
                let joined = Tensor.concat(list, axis: 0)
                for i in 0..<joined.count where !joined.data[i].isFinite {
                    throw ExperimentError("\(split.rawValue): feature \(key) of sample \(splitIDs[i / Swift.max(joined.count / Swift.max(labels.count, 1), 1)]) is not finite")
                }
                tensors.append((key, joined))
            }
            let path = directory + "/\(split.rawValue).safetensors"
            try Safetensors.write(tensors, metadata: ["split": split.rawValue, "generator": "fusionlab export-features"], to: path)
            written.append(path)
            ids[split.rawValue] = splitIDs
        }
        let inputs = data.modelInputs
        // Each encoder's layers with its preset expanded, so a twin needs no preset table.
        var layers: [String: Any] = [:]
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        for m in data.config.model.modalities {
            if let specs = try data.config.model.layerSpecs(for: m) {
                layers[m.rawValue] = try JSONSerialization.jsonObject(with: encoder.encode(specs))
            }
        }
        let info: [String: Any] = [
            "layers": layers,
            "classes": data.classNames,
            "vocabulary": inputs.vocabulary,
            "inputs": ["image": inputs.image, "audio": inputs.audio, "text_length": inputs.textLength],
            "modalities": data.config.model.modalities.map { $0.rawValue },
            "ids": ids,
            "experiment": (try? JSONSerialization.jsonObject(with: Data(ConfigLoader.resolvedJSON(data.config).utf8))) ?? [:],
        ]
        let json = try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
        try writeFileAtomically(json, to: directory + "/features.json")
        written.append(directory + "/features.json")
        return written
    }
}
