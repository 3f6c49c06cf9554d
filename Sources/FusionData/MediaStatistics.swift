import Foundation
import FusionMedia

/// What a dataset's media are, from their headers: `fusionlab import` records it in
/// dataset.json (`"media"`), and `validate` suggests preprocessing defaults from it (an audio
/// duration that keeps 95 % of the clips whole, the clips' own rate, the images' colour mode).
public struct MediaStatistics: Codable, Equatable, Sendable {
    /// Smallest, median, 95th percentile and largest of a quantity.
    public struct Spread: Codable, Equatable, Sendable {
        /// The order statistics. The median is numpy's (the mean of the middle two of an even
        /// count); the 95th percentile is the nearest rank, the smallest value that at least 95 %
        /// of the values do not exceed (numpy's `method="inverted_cdf"`), so a duration of
        /// `p95` keeps 95 % of clips whole.
        public var min: Double, median: Double, p95: Double, max: Double

        /// The spread of `values` (nil when empty).
        public init?(_ values: [Double]) {
            let sorted = values.sorted()
            guard let first = sorted.first, let last = sorted.last else { return nil }
            let n = sorted.count
            let rank = sorted[Swift.min(n - 1, Swift.max(0, Int((0.95 * Double(n)).rounded(.up)) - 1))]
            let median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
            (min, self.median, p95, max) = (first, median, rank, last)
        }

        /// `p95` rounded up to 10 ms (or hundredths): the setting that keeps 95 % whole.
        public var keep95: Double { (p95 * 100).rounded(.up) / 100 }
    }

    /// The images: how many, their sizes, and how many are grey or colour.
    public struct Images: Codable, Equatable, Sendable {
        /// Files whose headers were read.
        public var files: Int
        /// Width and height in pixels.
        public var width: Spread, height: Spread
        /// Grey and colour files.
        public var grey: Int, colour: Int
    }

    /// The audio clips: how many, their rates, lengths and channels.
    public struct Audio: Codable, Equatable, Sendable {
        /// Files whose headers were read.
        public var files: Int
        /// Samples per second, seconds and channels.
        public var sampleRate: Spread, seconds: Spread, channels: Spread
        /// The rate most clips have.
        public var commonSampleRate: Int
        enum CodingKeys: String, CodingKey { case files, sampleRate = "sample_rate", seconds, channels, commonSampleRate = "common_sample_rate" }
    }

    /// Image and audio statistics, nil for a modality without readable files.
    public var image: Images?, audio: Audio?

    /// Reads the headers of the files at `images` and `audio` (unreadable ones are left out).
    public static func measure(images: [String], audio: [String]) -> MediaStatistics {
        var out = MediaStatistics()
        let headers = images.compactMap { try? MediaHeaders.image(path: $0) }
        if let width = Spread(headers.map { Double($0.width) }), let height = Spread(headers.map { Double($0.height) }) {
            let grey = headers.filter { $0.channels == 1 }.count
            out.image = Images(files: headers.count, width: width, height: height, grey: grey, colour: headers.count - grey)
        }
        let infos = audio.compactMap { try? MediaHeaders.audio(path: $0) }.filter { $0.sampleRate > 0 }
        if let rate = Spread(infos.map { Double($0.sampleRate) }), let seconds = Spread(infos.map { Double($0.frames) / Double($0.sampleRate) }),
           let channels = Spread(infos.map { Double($0.channels) }) {
            let counts = Dictionary(grouping: infos, by: \.sampleRate).mapValues(\.count)
            let common = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? Int(rate.median)
            out.audio = Audio(files: infos.count, sampleRate: rate, seconds: seconds, channels: channels, commonSampleRate: common)
        }
        return out
    }

    /// Keys worth changing for these media, each as `key: suggestion (why)`; empty when the
    /// settings already suit them.
    public func suggestions(for settings: PreprocessingSettings) -> [String] {
        var out: [String] = []
        if let audio, let a = settings.audio {
            let keep = audio.seconds.keep95
            if a.durationSeconds + 1e-9 < audio.seconds.p95 {
                out.append(String(format: "preprocessing.audio.duration: %g would keep 95 %% of the clips whole (now %g s; clips are %.2f–%.2f s, median %.2f s)",
                                  keep, a.durationSeconds, audio.seconds.min, audio.seconds.max, audio.seconds.median))
            }
            if a.mfcc.sampleRate != audio.commonSampleRate {
                let direction = a.mfcc.sampleRate < audio.commonSampleRate ? "downsamples them, dropping what lies above \(a.mfcc.sampleRate / 2) Hz"
                    : "upsamples them, adding no detail"
                out.append("preprocessing.audio.sample_rate: \(audio.commonSampleRate), the clips' own rate (now \(a.mfcc.sampleRate), which \(direction))")
            }
        }
        if let image, let i = settings.image {
            if i.colorMode == .grey && image.colour * 2 > image.files {
                out.append("preprocessing.image.color: \"rgb\": \(image.colour) of \(image.files) images are in colour (now grey)")
            } else if i.colorMode != .grey && image.grey == image.files {
                out.append("preprocessing.image.color: \"grey\": every image is grey (now \"rgb\", three copies of one channel)")
            }
        }
        return out
    }
}
