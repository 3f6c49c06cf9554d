import CPNG
import Foundation
import FusionTensor

/// How a decoded image becomes a tensor.
public struct ImageDecodeOptions: Equatable, Sendable {
    /// The channels of the output tensor.
    public enum ColorMode: String, Equatable, ConfigChoice {
        /// One channel: grey images as they are, colour images by ITU-R 601 luma
        /// (0.299 R + 0.587 G + 0.114 B; for 8-bit colour without transparency, rounded to 8
        /// bits exactly as Pillow's `convert("L")`).
        case grey
        /// Three channels: grey images replicated into R, G and B.
        case rgb
        /// Four channels: RGB plus alpha (1 where the file has no transparency).
        case rgba
    }

    /// What to do with transparency when the output has no alpha channel.
    public enum Alpha: Equatable, Sendable {
        /// Ignore alpha: colours are taken as stored.
        case drop
        /// Blend over a background colour given as RGB in [0, 1]: `a * colour + (1 - a) * background`.
        case composite(background: [Float])
    }

    /// The output channels.
    public var colorMode: ColorMode
    /// Alpha handling for `.grey` and `.rgb` output.
    public var alpha: Alpha

    /// Options with RGB output and alpha composited onto white by default.
    public init(colorMode: ColorMode = .rgb, alpha: Alpha = .composite(background: [1, 1, 1])) {
        self.colorMode = colorMode
        self.alpha = alpha
    }

    /// The number of output channels.
    public var channelCount: Int {
        switch colorMode {
        case .grey: return 1
        case .rgb: return 3
        case .rgba: return 4
        }
    }
}

/// The pixels of a PNG after libpng's expansion (palette → RGB, low bit depths → 8 bits,
/// tRNS → alpha), as integer samples, interleaved.
public struct DecodedPNG: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Samples per pixel: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
    public let channels: Int
    /// Bits per sample after expansion: 8 or 16.
    public let bitDepth: Int
    /// The file's IHDR colour type (0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA).
    public let colorType: Int
    /// The file's IHDR bit depth (1, 2, 4, 8 or 16).
    public let fileBitDepth: Int
    /// Whether the file is Adam7-interlaced.
    public let interlaced: Bool
    /// `height * width * channels` samples, row-major and interleaved.
    public let samples: [UInt16]

    /// The largest sample value (255 or 65535).
    public var maxValue: Int { bitDepth == 16 ? 65535 : 255 }

    /// The image as 8-bit RGBA bytes (grey replicated, opaque alpha added where absent,
    /// 16-bit samples reduced to their high byte), the form Pillow's `convert("RGBA")` gives.
    public func rgba8() -> [UInt8] {
        var out = [UInt8](repeating: 255, count: width * height * 4)
        let shift = bitDepth == 16 ? 8 : 0
        for p in 0..<(width * height) {
            let s = p * channels
            let v = { (i: Int) -> UInt8 in UInt8(truncatingIfNeeded: Int(self.samples[s + i]) >> shift) }
            switch channels {
            case 1: out[4 * p] = v(0); out[4 * p + 1] = v(0); out[4 * p + 2] = v(0)
            case 2: out[4 * p] = v(0); out[4 * p + 1] = v(0); out[4 * p + 2] = v(0); out[4 * p + 3] = v(1)
            case 3: out[4 * p] = v(0); out[4 * p + 1] = v(1); out[4 * p + 2] = v(2)
            default: out[4 * p] = v(0); out[4 * p + 1] = v(1); out[4 * p + 2] = v(2); out[4 * p + 3] = v(3)
            }
        }
        return out
    }
}

/// PNG decoding through libpng: every colour type, bit depth and interlacing; corrupt files
/// (bad signature, bad CRC, truncated data, invalid header) give a `FusionDataError` naming the file.
public enum PNGDecoder {
    /// Decodes the PNG file at `path` into a `[C, H, W]` tensor with values in [0, 1].
    public static func decode(path: String, options: ImageDecodeOptions = ImageDecodeOptions()) throws -> Tensor {
        try decode(data: FileIO.read(path), name: path, options: options)
    }

    /// Decodes PNG bytes into a `[C, H, W]` tensor with values in [0, 1]; `name` is used in errors.
    public static func decode(data: Data, name: String, options: ImageDecodeOptions = ImageDecodeOptions()) throws -> Tensor {
        try withDecoded(data: data, name: name, reduce16: false) { image in
            InterleavedPixels(width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
                              sixteenBit: image.bitDepth == 16, pixels: image.pixels.map { UnsafePointer($0) }).tensor(options: options)
        }
    }

    /// Decodes PNG bytes into integer samples (16-bit samples kept unless `reduce16`).
    public static func decodeSamples(data: Data, name: String, reduce16: Bool = false) throws -> DecodedPNG {
        try withDecoded(data: data, name: name, reduce16: reduce16) { image in
            let n = Int(image.width) * Int(image.height) * Int(image.channels)
            var samples = [UInt16](repeating: 0, count: n)
            if image.bitDepth == 16 {
                for i in 0..<n { samples[i] = UInt16(image.pixels[2 * i]) << 8 | UInt16(image.pixels[2 * i + 1]) }
            } else {
                for i in 0..<n { samples[i] = UInt16(image.pixels[i]) }
            }
            return DecodedPNG(width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
                              bitDepth: Int(image.bitDepth), colorType: Int(image.colorType),
                              fileBitDepth: Int(image.fileBitDepth), interlaced: image.interlaced != 0, samples: samples)
        }
    }

    private static func withDecoded<T>(data: Data, name: String, reduce16: Bool, _ body: (fl_png_decoded) -> T) throws -> T {
        var decoded = fl_png_decoded()
        let status = data.withUnsafeBytes { raw -> Int32 in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else {
                return fl_png_decode(nil, 0, reduce16 ? 1 : 0, &decoded)
            }
            return fl_png_decode(base, raw.count, reduce16 ? 1 : 0, &decoded)
        }
        guard status == 0 else {
            let message = withUnsafeBytes(of: decoded.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let head = [UInt8](data.prefix(12))
            let kind: String
            if let format = ImageDecoder.sniff(head), format != "PNG" {
                kind = format == "JPEG" ? " (the file is a JPEG: read it with ImageDecoder, which dispatches on content)"
                    : " (the file is a \(format); FusionLab reads PNG and JPEG images: convert it to PNG)"
            } else { kind = "" }
            throw FusionDataError(file: name, "invalid PNG: \(message)\(kind)")
        }
        defer { fl_png_free(decoded.pixels) }
        return body(decoded)
    }

}

/// Decoded pixels, interleaved (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA samples per pixel; 8-bit,
/// or 16-bit big-endian): what the PNG and JPEG decoders hand to the tensor conversion.
struct InterleavedPixels {
    let width: Int, height: Int, channels: Int, sixteenBit: Bool
    let pixels: UnsafePointer<UInt8>?

    private static let unitTable: [Float] = (0..<256).map { Float($0) / 255 }

    /// The pixels as a planar `[C, H, W]` float tensor in [0, 1], converted to `options`' colours.
    func tensor(options: ImageDecodeOptions) -> Tensor {
        let (w, h, c) = (width, height, channels)
        let plane = w * h
        let outChannels = options.channelCount
        let out = Tensor(uninitializedShape: [outChannels, h, w])
        let dst = out.data
        let hasAlpha = c == 2 || c == 4
        let colour = c >= 3
        var background: (Float, Float, Float) = (0, 0, 0)
        var composite = false
        if case .composite(let bg) = options.alpha, hasAlpha, options.colorMode != .rgba {
            composite = true
            background = (bg.count > 0 ? bg[0] : 0, bg.count > 1 ? bg[1] : 0, bg.count > 2 ? bg[2] : 0)
        }
        let greyBackground = 0.299 * background.0 + 0.587 * background.1 + 0.114 * background.2
        let sixteen = sixteenBit
        let scale: Float = sixteen ? 1 / 65535 : 1 / 255
        guard let src = pixels else { return out }
        // Fast paths for the common 8-bit cases without alpha work: plain loops the compiler vectorises.
        if !sixteen && !hasAlpha || (!sixteen && options.alpha == .drop && options.colorMode != .rgba) {
            if c == 1 && options.colorMode == .grey {
                for p in 0..<plane { dst[p] = Float(src[p]) * scale }
                return out
            }
            if c >= 3 && options.colorMode == .grey {
                // Pillow's convert("L") to 8 bits: (19595 R + 38470 G + 7471 B + 2^15) >> 16.
                for p in 0..<plane {
                    let q = c * p
                    let y = (19595 * UInt32(src[q]) + 38470 * UInt32(src[q + 1]) + 7471 * UInt32(src[q + 2]) + 0x8000) >> 16
                    dst[p] = Float(y) * scale
                }
                return out
            }
            if c == 3 && options.colorMode == .rgb {
                for p in 0..<plane {
                    dst[p] = Float(src[3 * p]) * scale
                    dst[plane + p] = Float(src[3 * p + 1]) * scale
                    dst[2 * plane + p] = Float(src[3 * p + 2]) * scale
                }
                return out
            }
        }
        // A lookup table turns every 8-bit sample into its float value.
        Self.unitTable.withUnsafeBufferPointer { lut in
            @inline(__always) func sample(_ i: Int) -> Float {
                sixteen ? Float(Int(src[2 * i]) << 8 | Int(src[2 * i + 1])) * scale : lut[Int(src[i])]
            }
            for p in 0..<plane {
                let s = p * c
                var r: Float, g: Float, b: Float
                if colour { r = sample(s); g = sample(s + 1); b = sample(s + 2) } else { r = sample(s); g = r; b = r }
                let a: Float = hasAlpha ? sample(s + c - 1) : 1
                switch options.colorMode {
                case .grey:
                    var y = colour ? 0.299 * r + 0.587 * g + 0.114 * b : r
                    if composite { y = a * y + (1 - a) * greyBackground }
                    dst[p] = y
                case .rgb:
                    if composite {
                        r = a * r + (1 - a) * background.0
                        g = a * g + (1 - a) * background.1
                        b = a * b + (1 - a) * background.2
                    }
                    dst[p] = r; dst[plane + p] = g; dst[2 * plane + p] = b
                case .rgba:
                    dst[p] = r; dst[plane + p] = g; dst[2 * plane + p] = b; dst[3 * plane + p] = a
                }
            }
        }
        return out
    }
}
