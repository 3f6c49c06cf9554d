import FusionMedia
import Foundation
import FusionTensor

/// How images become fixed-size tensors before caching.
public struct ImagePreprocessing: Codable, Equatable, Sendable {
    /// Output height.
    public var height: Int
    /// Output width.
    public var width: Int
    /// Grey, RGB or RGBA output.
    public var colorMode: ImageDecodeOptions.ColorMode = .rgb
    /// Resize filter (Pillow's bilinear by default, as torchvision's `Resize`).
    public var resize: ImageTransforms.ResizeMethod = .bilinear
    /// Before resizing, a centred square of this fraction of the shorter side (0: none).
    public var centerCrop = 0.0
    /// Per-channel mean subtracted when batches are made (after augmentation).
    public var mean: [Float]? = nil
    /// Per-channel standard deviation divided by when batches are made.
    public var std: [Float]? = nil

    /// Images resized to `height × width`.
    public init(height: Int, width: Int, colorMode: ImageDecodeOptions.ColorMode = .rgb) {
        self.height = height
        self.width = width
        self.colorMode = colorMode
    }

    /// `[C, H, W]` of the cached tensor.
    public var shape: [Int] { [ImageDecodeOptions(colorMode: colorMode).channelCount, height, width] }

    /// Decodes (PNG or JPEG), crops and resizes one image file (values in [0, 1], not yet normalised).
    public func load(path: String) throws -> Tensor {
        fitted(try ImageDecoder.decode(path: path, options: ImageDecodeOptions(colorMode: colorMode)))
    }

    /// A decoded `[C, H, W]` image cropped (`centerCrop`) and resized to `height × width`. The
    /// crop is TensorFlow's EfficientNet evaluation crop: a square of side int(f · min(H, W)) at
    /// offset ((H − side + 1) / 2, (W − side + 1) / 2).
    public func fitted(_ decoded: Tensor) -> Tensor {
        var image = decoded
        if centerCrop > 0 && centerCrop < 1 {
            let (h, w) = (image.shape[1], image.shape[2])
            let side = max(1, Int(centerCrop * Double(min(h, w))))
            image = ImageTransforms.crop(image, top: (h - side + 1) / 2, left: (w - side + 1) / 2, height: side, width: side)
        }
        return ImageTransforms.resize(image, height: height, width: width, method: resize)
    }
}

/// How audio becomes a fixed-size MFCC matrix before caching.
public struct AudioPreprocessing: Codable, Equatable, Sendable {
    /// Clip length in seconds after padding/trimming (at `mfcc.sampleRate`).
    public var durationSeconds: Double
    /// MFCC settings; `mfcc.sampleRate` is the rate audio is resampled to.
    public var mfcc: MFCCSettings

    /// Audio padded/trimmed to `durationSeconds`, then MFCCs with `mfcc`.
    public init(durationSeconds: Double, mfcc: MFCCSettings) {
        self.durationSeconds = durationSeconds
        self.mfcc = mfcc
    }

    /// Samples per clip.
    public var sampleCount: Int { Int((durationSeconds * Double(mfcc.sampleRate)).rounded()) }

    /// `[featureRows, frames]` of the cached matrix.
    public var shape: [Int] { [mfcc.featureRows, mfcc.frameCount(sampleCount: sampleCount)] }

    /// Reads and resamples one file, then computes its MFCCs with `extractor` (see `features`).
    public func load(path: String, extractor: MFCC) throws -> (features: Tensor, validFrames: Int) {
        features(of: try AudioFile.read(path: path, sampleRate: mfcc.sampleRate).samples, extractor: extractor)
    }

    /// The `[featureRows, frames]` matrix of one clip at `mfcc.sampleRate`: the clip is trimmed
    /// to `sampleCount` samples, its MFCCs (with the `topDB` floor, deltas and standardisation)
    /// are computed over its real frames only, and the frames that cover padding are 0. Also
    /// returns how many frames are real, for the frame mask of variable-length clips.
    public func features(of samples: [Float], extractor: MFCC) -> (features: Tensor, validFrames: Int) {
        let frames = mfcc.frameCount(sampleCount: sampleCount)
        return extractor.fitted(samples.count > sampleCount ? Array(samples.prefix(sampleCount)) : samples, frames: frames)
    }
}

/// How text becomes ids before caching.
public struct TextPreprocessing: Codable, Equatable, Sendable {
    /// Ids per text after truncation/padding.
    public var maxLength: Int

    /// Texts as `maxLength` ids.
    public init(maxLength: Int) { self.maxLength = maxLength }
}

/// Everything that decides a sample's cached features; part of the cache key.
public struct PreprocessingSettings: Codable, Equatable, Sendable {
    /// Image preprocessing, or nil to ignore images.
    public var image: ImagePreprocessing?
    /// Audio preprocessing, or nil to ignore audio.
    public var audio: AudioPreprocessing?
    /// Text preprocessing, or nil to ignore text.
    public var text: TextPreprocessing?

    /// The settings that shape cached features: everything but the image normalisation, which
    /// is applied once when batches are made, so changing it never rebuilds a cache.
    public var cached: PreprocessingSettings {
        var copy = self
        copy.image?.mean = nil
        copy.image?.std = nil
        return copy
    }

    /// Settings for the given modalities.
    public init(image: ImagePreprocessing? = nil, audio: AudioPreprocessing? = nil, text: TextPreprocessing? = nil) {
        self.image = image
        self.audio = audio
        self.text = text
    }
}

