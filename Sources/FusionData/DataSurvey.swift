import Foundation

/// What preprocessing does to a dataset's media, in a few lines: the sizes, rates and lengths
/// the files have (min, median, max, from their headers), what they become, and how many are
/// resized, resampled, padded or trimmed. `run` logs it and `validate -v` prints it; more than
/// 5 % of clips trimmed is a warning naming `preprocessing.audio.duration`.
public struct DataSurvey: Sendable {
    /// One line per modality.
    public var lines: [String] = []
    /// What deserves attention (each names the key to change).
    public var warnings: [String] = []

    /// Surveys at most `limit` samples of `dataset` (a seeded sample beyond that, said so).
    public static func survey(_ dataset: Dataset, settings: PreprocessingSettings, limit: Int = 2000) -> DataSurvey {
        var out = DataSurvey()
        var samples = dataset.samples
        var note = ""
        if samples.count > limit {
            var rng = SeededGenerator(seed: 17)
            samples.shuffle(using: &rng)
            samples = Array(samples.prefix(limit))
            note = " (a sample of \(limit) of \(dataset.samples.count))"
        }
        // The same order statistics dataset.json records (`MediaStatistics.Spread`: numpy's median).
        func range(_ xs: [Double], _ text: (Double) -> String) -> String {
            guard let s = MediaStatistics.Spread(xs) else { return "–" }
            return s.min == s.max ? text(s.min) : "\(text(s.min))–\(text(s.max)) (median \(text(s.median)))"
        }
        func count(_ x: Double) -> String { String(format: "%g", x) }
        if let image = settings.image {
            var headers: [ImageHeader] = [], unreadable = 0
            for s in samples { if let p = s.imagePath { if let h = try? MediaHeaders.image(path: p) { headers.append(h) } else { unreadable += 1 } } }
            if !headers.isEmpty {
                let target = image.colorMode == .grey ? 1 : 3
                let resized = headers.filter { $0.width != image.width || $0.height != image.height }.count
                let recoloured = headers.filter { $0.channels != target }.count
                let colours = Dictionary(grouping: headers, by: \.channels).map { "\($0.value.count) \($0.key == 1 ? "grey" : "colour")" }.sorted()
                let sizes = Set(headers.map { "\($0.width)×\($0.height)" })
                let size = sizes.count == 1 ? sizes.first ?? "" : "width " + range(headers.map { Double($0.width) }, count) + ", height " + range(headers.map { Double($0.height) }, count)
                var line = "image: \(headers.count) files\(note), " + size
                    + ", \(colours.joined(separator: ", ")) → \(image.width)×\(image.height) \(target == 1 ? "grey" : "RGB"): "
                    + "\(resized) resized, \(recoloured) converted to \(target == 1 ? "grey" : "colour")"
                if unreadable > 0 { line += "; \(unreadable) unreadable headers" }
                out.lines.append(line)
            }
        }
        if let audio = settings.audio {
            var infos: [AudioFileInfo] = []
            for s in samples { if let p = s.audioPath, let info = try? MediaHeaders.audio(path: p), info.sampleRate > 0 { infos.append(info) } }
            if !infos.isEmpty {
                let rate = audio.mfcc.sampleRate
                let seconds = infos.map { Double($0.frames) / Double($0.sampleRate) }
                let target = audio.durationSeconds
                let resampled = infos.filter { $0.sampleRate != rate }.count
                // Compared at the target rate, as the front end pads or trims.
                let lengths = infos.map { Int((Double($0.frames) * Double(rate) / Double($0.sampleRate)).rounded()) }
                let trimmed = lengths.filter { $0 > audio.sampleCount }.count, padded = lengths.filter { $0 < audio.sampleCount }.count
                let share = Double(trimmed) / Double(infos.count)
                out.lines.append("audio: \(infos.count) clips\(note), " + range(infos.map { Double($0.sampleRate) }) { count($0) + " Hz" } + ", "
                    + range(seconds) { String(format: "%.2f s", $0) } + ", " + range(infos.map { Double($0.channels) }) { count($0) + " ch" }
                    + " → \(rate) Hz mono, \(String(format: "%.2f", target)) s: \(resampled) resampled, \(padded) padded, "
                    + "\(trimmed) trimmed (\(String(format: "%.0f", 100 * share)) %)")
                if share > 0.05, let spread = MediaStatistics.Spread(seconds) {
                    // The suggestion validate prints too: the 95th percentile rounded up to 10 ms.
                    out.warnings.append(String(format: "preprocessing.audio.duration: %.2f s trims %.0f %% of the clips (the longest is %.2f s); "
                        + "%g s would keep 95 %% of them whole", target, 100 * share, seconds.max() ?? 0, spread.keep95))
                }
            }
        }
        if let text = settings.text {
            let words = samples.compactMap(\.text).map { $0.split(whereSeparator: \.isWhitespace).count }
            if !words.isEmpty {
                let over = words.filter { $0 > text.maxLength }.count
                out.lines.append("text: \(words.count) captions\(note), " + range(words.map(Double.init)) { count($0) + " words" }
                    + " → \(text.maxLength) tokens: \(over) have more words than tokens (truncated at least there)")
            }
        }
        return out
    }
}
