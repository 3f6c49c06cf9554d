import Foundation
import FusionData
import FusionTensor

/// The deterministic generator of FusionLab's default tri-modal dataset.
///
/// Each sample is a grey PNG of a filled circle or a square outline on a noisy background, a WAV of a rising or
/// falling chirp in noise, and a caption that names the shape half of the time and never the
/// sound. The label is shape × chirp direction (four classes), so the image alone or the audio
/// alone can reach only about half the accuracy and the caption less: fusion matters.
///
/// `domainShift` moves the domain (background and shape brightness, noise, tone frequencies,
/// caption vocabulary) for transfer-learning experiments; the same settings always write the
/// same files.
public enum DefaultDataset {
    /// Class names, index = class id.
    public static let labels = ["circle-rising", "circle-falling", "square-rising", "square-falling"]

    /// Writes the dataset into `folder` (dataset.json, samples.jsonl, images/, audio/).
    public static func generate(_ config: GeneratorConfig, into folder: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder + "/images", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: folder + "/audio", withIntermediateDirectories: true)
        var rng = SeededGenerator.derived(seed: config.seed, stream: "default-dataset")
        let n = config.samples
        var order = Array(0..<n)
        order.shuffle(using: &rng)
        var split = [Split](repeating: .train, count: n)
        for (rank, i) in order.enumerated() {
            split[i] = rank < n * 70 / 100 ? .train : (rank < n * 85 / 100 ? .val : .test)
        }
        var records: [DatasetWriter.Record] = []
        for i in 0..<n {
            let (shape, chirp) = (Int(rng.next() % 2), Int(rng.next() % 2))
            let id = String(format: "s%05d", i)
            let image = drawImage(square: shape == 1, size: config.imageSize, shift: config.domainShift, rng: &rng)
            try PNGEncoder.write(image, to: "\(folder)/images/\(id).png")
            let clip = chirpClip(rising: chirp == 0, seconds: config.audioSeconds, shift: config.domainShift, rng: &rng)
            try AudioFile.write(clip, to: "\(folder)/audio/\(id).wav")
            // One sample in twenty has no caption: missing modalities are part of the format.
            let caption = rng.nextUnitFloat() < 0.05 ? nil : caption(square: shape == 1, shift: config.domainShift, rng: &rng)
            records.append(DatasetWriter.Record(id: id, split: split[i], label: labels[shape * 2 + chirp], text: caption,
                                                image: "images/\(id).png", audio: "audio/\(id).wav"))
        }
        let source = "FusionLab default dataset generator (samples \(n), seed \(config.seed), domain shift \(config.domainShift))"
        try DatasetWriter.write(info: DatasetInfo(name: URL(fileURLWithPath: folder).lastPathComponent, labels: labels, source: source),
                                records: records, to: folder)
    }

    /// Generates the dataset unless `folder` already holds one.
    public static func ensure(_ config: GeneratorConfig, at folder: String, log: (String) -> Void) throws {
        guard !FileManager.default.fileExists(atPath: folder + "/dataset.json") else { return }
        log("generating the default dataset (\(config.samples) samples, domain shift \(config.domainShift)) into \(folder)")
        try generate(config, into: folder)
    }

    static func drawImage(square: Bool, size: Int, shift: Double, rng: inout SeededGenerator) -> Tensor {
        let s = Float(shift)
        let background = 0.2 + 0.15 * s, foreground: Float = 0.8 - 0.2 * s, noise: Float = 0.12 + 0.06 * s
        let radius = Float(size) * (0.15 + 0.1 * rng.nextUnitFloat())
        let margin = radius + 1
        let cx = margin + (Float(size) - 2 * margin) * rng.nextUnitFloat()
        let cy = margin + (Float(size) - 2 * margin) * rng.nextUnitFloat()
        let image = Tensor(uninitializedShape: [1, size, size])
        for y in 0..<size {
            for x in 0..<size {
                let (dx, dy) = (Float(x) + 0.5 - cx, Float(y) + 0.5 - cy)
                // A filled disc, or the outline of a square (2 px thick): a shape, not a size, decides.
                let edge = Swift.max(Swift.abs(dx), Swift.abs(dy))
                let inside = square ? edge <= radius && edge >= radius - 2 : dx * dx + dy * dy <= radius * radius
                image.data[y * size + x] = (inside ? foreground : background) + noise * rng.nextNormal()
            }
        }
        return image
    }

    static func chirpClip(rising: Bool, seconds: Double, shift: Double, rng: inout SeededGenerator) -> AudioClip {
        let rate = 8000, n = Int(seconds * Double(rate))
        let low = 400 * (1 + 0.3 * shift), high = 1600 * (1 + 0.3 * shift)
        let (f0, f1) = rising ? (low, high) : (high, low)
        let amplitude = 0.3 + 0.2 * Double(rng.nextUnitFloat()), noise = Float(0.05 + 0.05 * shift)
        var phase = 2 * Double.pi * Double(rng.nextUnitFloat())
        var samples = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let f = f0 + (f1 - f0) * Double(i) / Double(max(n - 1, 1))
            phase += 2 * Double.pi * f / Double(rate)
            samples[i] = Float(amplitude * sin(phase)) + noise * rng.nextNormal()
        }
        return AudioClip(sampleRate: rate, samples: samples)
    }

    static func caption(square: Bool, shift: Double, rng: inout SeededGenerator) -> String {
        let shifted = shift >= 0.5
        let openings = shifted ? ["an image showing", "this frame has", "look at"] : ["a picture of", "a photo with", "here is"]
        let fillers = shifted ? ["a thing", "some figure", "an item"] : ["something", "an object", "a form"]
        let shapeWords = square ? (shifted ? ["boxy", "cornered"] : ["square", "angular"]) : (shifted ? ["circular", "ring-like"] : ["round", "circle"])
        let tails = ["on a grey background", "in the dark", "near the middle", "with some noise", "today", ""]
        let named = rng.nextUnitFloat() < 0.5
        let opening = openings[Int(rng.next() % UInt64(openings.count))]
        let object = named ? "a \(shapeWords[Int(rng.next() % 2)]) shape" : fillers[Int(rng.next() % UInt64(fillers.count))]
        let tail = tails[Int(rng.next() % UInt64(tails.count))]
        return [opening, object, tail].filter { !$0.isEmpty }.joined(separator: " ")
    }
}
