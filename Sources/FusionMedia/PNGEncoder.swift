import CPNG
import Foundation
import FusionTensor

/// A PNG to write, described at the level of the file format: any colour type and bit
/// depth, optional palette and tRNS transparency, optional Adam7 interlacing.
///
/// Tests use it to produce every kind of PNG the decoder must read; `PNGEncoder.encode`
/// covers the everyday case of writing a tensor.
public struct PNGWriteRequest: Sendable {
    /// IHDR colour types.
    public enum ColorType: Int32, Sendable, CaseIterable {
        /// Grey (bit depths 1, 2, 4, 8, 16).
        case grey = 0
        /// RGB (8, 16).
        case rgb = 2
        /// Palette indices (1, 2, 4, 8).
        case palette = 3
        /// Grey + alpha (8, 16).
        case greyAlpha = 4
        /// RGBA (8, 16).
        case rgba = 6

        /// Samples per pixel in the file.
        public var channels: Int {
            switch self {
            case .grey, .palette: return 1
            case .greyAlpha: return 2
            case .rgb: return 3
            case .rgba: return 4
            }
        }
    }

    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// The colour type.
    public var colorType: ColorType
    /// Bits per sample.
    public var bitDepth: Int
    /// Whether to write Adam7-interlaced.
    public var interlaced: Bool = false
    /// `height * width * colorType.channels` samples, each below `2^bitDepth`.
    public var samples: [UInt16]
    /// Palette entries as RGB triples (palette images only).
    public var palette: [(UInt8, UInt8, UInt8)] = []
    /// Palette alpha values (tRNS), possibly fewer than the palette entries.
    public var paletteAlpha: [UInt8] = []
    /// A fully transparent grey value or RGB colour (tRNS for grey and RGB images).
    public var transparentColor: [UInt16]? = nil
    /// zlib level 0...9, or nil for libpng's default.
    public var compressionLevel: Int? = nil

    /// A request with the required fields.
    public init(width: Int, height: Int, colorType: ColorType, bitDepth: Int, samples: [UInt16]) {
        self.width = width
        self.height = height
        self.colorType = colorType
        self.bitDepth = bitDepth
        self.samples = samples
    }
}

/// PNG encoding through libpng.
public enum PNGEncoder {
    /// Encodes a `[C, H, W]` tensor with values in [0, 1] (C = 1 grey, 3 RGB, 4 RGBA) as an
    /// 8-bit (or 16-bit) PNG. Values are clamped to [0, 1] and rounded.
    public static func encode(_ image: Tensor, bitDepth: Int = 8) throws -> Data {
        guard image.rank == 3, [1, 3, 4].contains(image.shape[0]) else {
            throw FusionDataError(file: "", "PNG encode: expected a [C, H, W] tensor with C = 1, 3 or 4, got \(image.shape)")
        }
        guard bitDepth == 8 || bitDepth == 16 else {
            throw FusionDataError(file: "", "PNG encode: bit depth must be 8 or 16, got \(bitDepth)")
        }
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        let plane = h * w
        let maxValue = Float(bitDepth == 16 ? 65535 : 255)
        var samples = [UInt16](repeating: 0, count: plane * c)
        let src = image.data
        for p in 0..<plane {
            for k in 0..<c {
                let v = src[k * plane + p]
                let clamped = v.isNaN ? 0 : min(max(v, 0), 1)
                samples[p * c + k] = UInt16((clamped * maxValue).rounded())
            }
        }
        let type: PNGWriteRequest.ColorType = c == 1 ? .grey : (c == 3 ? .rgb : .rgba)
        return try encode(PNGWriteRequest(width: w, height: h, colorType: type, bitDepth: bitDepth, samples: samples))
    }

    /// Encodes a tensor and writes it atomically to `path`.
    public static func write(_ image: Tensor, to path: String, bitDepth: Int = 8) throws {
        do {
            try FileIO.writeAtomically(encode(image, bitDepth: bitDepth), to: path)
        } catch let error as FusionDataError where error.file.isEmpty {
            throw FusionDataError(file: path, error.message)
        }
    }

    /// Encodes a file-level request (any colour type, bit depth, palette, transparency, interlacing).
    public static func encode(_ request: PNGWriteRequest) throws -> Data {
        guard request.width > 0, request.height > 0,
              request.samples.count == request.width * request.height * request.colorType.channels else {
            throw FusionDataError(file: "", "PNG encode: expected \(request.width)×\(request.height)×\(request.colorType.channels) samples, got \(request.samples.count)")
        }
        let paletteBytes = request.palette.flatMap { [$0.0, $0.1, $0.2] }
        var message = [CChar](repeating: 0, count: 256)
        var bytes: UnsafeMutablePointer<UInt8>? = nil
        var count = 0
        let status: Int32 = request.samples.withUnsafeBufferPointer { samples in
            paletteBytes.withUnsafeBufferPointer { palette in
                request.paletteAlpha.withUnsafeBufferPointer { alpha in
                    var req = fl_png_encode_request()
                    req.width = UInt32(request.width)
                    req.height = UInt32(request.height)
                    req.colorType = request.colorType.rawValue
                    req.bitDepth = Int32(request.bitDepth)
                    req.interlaced = request.interlaced ? 1 : 0
                    req.samples = samples.baseAddress
                    req.paletteRGB = palette.baseAddress
                    req.paletteCount = Int32(request.palette.count)
                    req.paletteAlpha = alpha.baseAddress
                    req.paletteAlphaCount = Int32(request.paletteAlpha.count)
                    if let t = request.transparentColor {
                        req.hasTransparentColor = 1
                        req.transparentGrey = t.first ?? 0
                        req.transparentRed = t.first ?? 0
                        req.transparentGreen = t.count > 1 ? t[1] : 0
                        req.transparentBlue = t.count > 2 ? t[2] : 0
                    }
                    req.compressionLevel = Int32(request.compressionLevel ?? -1)
                    return fl_png_encode(&req, &bytes, &count, &message)
                }
            }
        }
        guard status == 0, let bytes else {
            let text = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw FusionDataError(file: "", "PNG encode failed: \(text)")
        }
        defer { fl_png_free(bytes) }
        return Data(bytes: bytes, count: count)
    }
}
