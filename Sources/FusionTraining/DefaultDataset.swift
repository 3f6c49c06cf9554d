import FusionReports
import FusionConfig
import Foundation
import FusionData
import FusionTensor

/// The deterministic generator of FusionLab's default tri-modal dataset, built so that the
/// answers tell encoders and fusion strategies apart.
///
/// Each sample is a grey PNG with one shape (a filled disc or a square outline) in the top or
/// the bottom half, a WAV of two beeps (low then high, or high then low; pure tones or buzzing
/// ones), and a caption that names the shape or the sound half of the time. Eight classes:
/// `shape × timbre × agreement`, where agreement is (shape in the top half) XOR (low beep
/// first). So:
/// - the shape and the timbre are local cues any encoder finds, but agreement needs the image's
///   spatial layout AND the audio's temporal order: an encoder that pools them away loses it;
/// - agreement is an interaction between modalities, which decision-level (late) fusion — a sum
///   of per-modality scores — cannot represent; late fusion still gets shape and timbre (about
///   half), one modality alone about a quarter, and joint (feature-level) fusion nearly all.
///
/// `domainShift` moves the domain (background and shape brightness, noise, tone frequencies,
/// caption vocabulary) for transfer-learning experiments; the same settings always write the
/// same files.
public enum DefaultDataset {
    /// Class names, index = class id: `<shape>-<timbre>-<agreement>`.
    public static let labels = ["circle-pure-agree", "circle-buzz-agree", "square-pure-agree", "square-buzz-agree",
                                "circle-pure-differ", "circle-buzz-differ", "square-pure-differ", "square-buzz-differ"]

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
            let (shape, buzz, top, lowFirst) = (Int(rng.next() % 2), Int(rng.next() % 2), rng.next() % 2 == 0, rng.next() % 2 == 0)
            let differ = top != lowFirst ? 1 : 0
            let id = String(format: "s%05d", i)
            let image = drawImage(square: shape == 1, top: top, size: config.imageSize, shift: config.domainShift, rng: &rng)
            try PNGEncoder.write(image, to: "\(folder)/images/\(id).png")
            let clip = beepClip(lowFirst: lowFirst, buzz: buzz == 1, seconds: config.audioSeconds, shift: config.domainShift, rng: &rng)
            try AudioFile.write(clip, to: "\(folder)/audio/\(id).wav")
            // One sample in twenty has no caption: missing modalities are part of the format.
            let caption = rng.nextUnitFloat() < 0.05 ? nil : caption(square: shape == 1, buzz: buzz == 1, shift: config.domainShift, rng: &rng)
            records.append(DatasetWriter.Record(id: id, split: split[i], label: labels[differ * 4 + shape * 2 + buzz], text: caption,
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

    static func drawImage(square: Bool, top: Bool, size: Int, shift: Double, rng: inout SeededGenerator) -> Tensor {
        let s = Float(shift)
        let background = 0.2 + 0.15 * s, foreground: Float = 0.8 - 0.2 * s, noise: Float = 0.15 + 0.06 * s
        let radius = Float(size) * (0.12 + 0.06 * rng.nextUnitFloat())
        let margin = radius + 1
        let half = Float(size) / 2
        let cx = margin + (Float(size) - 2 * margin) * rng.nextUnitFloat()
        // Anywhere in its half: the half, not the exact place, decides.
        let cy = (top ? 0 : half) + margin + Swift.max(half - 2 * margin, 0) * rng.nextUnitFloat()
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

    /// Two beeps with a silent gap between them, so no short window hears both: which comes
    /// first is only in the order of the frames. A buzzing beep adds odd harmonics.
    static func beepClip(lowFirst: Bool, buzz: Bool, seconds: Double, shift: Double, rng: inout SeededGenerator) -> AudioClip {
        let rate = 8000, n = Int(seconds * Double(rate))
        let low = (500 + 100 * Double(rng.nextUnitFloat())) * (1 + 0.3 * shift)
        let high = (1500 + 200 * Double(rng.nextUnitFloat())) * (1 + 0.3 * shift)
        let amplitude = 0.3 + 0.2 * Double(rng.nextUnitFloat()), noise = Float(0.05 + 0.05 * shift)
        let jitter = Int(Double(n) * 0.04 * Double(rng.nextUnitFloat()))
        let first = (n / 20 + jitter)..<(n * 2 / 5 + jitter), second = (n * 3 / 5 - jitter)..<(n * 19 / 20 - jitter)
        var samples = [Float](repeating: 0, count: n)
        for (range, f) in [(first, lowFirst ? low : high), (second, lowFirst ? high : low)] {
            let phase = 2 * Double.pi * Double(rng.nextUnitFloat())
            for i in range where i >= 0 && i < n {
                let w = phase + 2 * Double.pi * f * Double(i - range.lowerBound) / Double(rate)
                var v = sin(w)
                if buzz { v = 0.6 * (v + sin(3 * w) / 2 + sin(5 * w) / 3) }
                samples[i] = Float(amplitude * v)
            }
        }
        for i in 0..<n { samples[i] += noise * rng.nextNormal() }
        return AudioClip(sampleRate: rate, samples: samples)
    }

    static func caption(square: Bool, buzz: Bool, shift: Double, rng: inout SeededGenerator) -> String {
        let shifted = shift >= 0.5
        let openings = shifted ? ["an image showing", "this frame has", "look at"] : ["a picture of", "a photo with", "here is"]
        let fillers = shifted ? ["a thing", "some figure", "an item"] : ["something", "an object", "a form"]
        let shapeWords = square ? (shifted ? ["boxy", "cornered"] : ["square", "angular"]) : (shifted ? ["circular", "ring-like"] : ["round", "circle"])
        let soundWords = buzz ? (shifted ? ["rasping", "harsh"] : ["buzzing", "rough"]) : (shifted ? ["clean", "soft"] : ["pure", "smooth"])
        let tails = ["on a grey background", "in the dark", "with some noise", "today", ""]
        let roll = rng.nextUnitFloat()
        let opening = openings[Int(rng.next() % UInt64(openings.count))]
        // Half the captions name the shape or the sound; none says where the shape is or which beep comes first.
        let filler = fillers[Int(rng.next() % UInt64(fillers.count))]
        let object = roll < 0.25 ? "a \(shapeWords[Int(rng.next() % 2)]) shape"
            : roll < 0.5 ? "\(filler) and a \(soundWords[Int(rng.next() % 2)]) sound" : filler
        let tail = tails[Int(rng.next() % UInt64(tails.count))]
        return [opening, object, tail].filter { !$0.isEmpty }.joined(separator: " ")
    }
}
