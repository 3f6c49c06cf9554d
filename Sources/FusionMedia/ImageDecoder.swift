import CTurboJPEG
import Foundation
import FusionTensor

/// Image files by content, not by name: PNG through libpng, JPEG through libjpeg-turbo; any
/// other format (GIF, BMP, WebP, TIFF, …) is an error naming the file and its format.
public enum ImageDecoder {
    /// Decodes the image file at `path` into a `[C, H, W]` tensor with values in [0, 1].
    public static func decode(path: String, options: ImageDecodeOptions = ImageDecodeOptions()) throws -> Tensor {
        try decode(data: FileIO.read(path), name: path, options: options)
    }

    /// Decodes image bytes (PNG or JPEG) into a `[C, H, W]` tensor; `name` is used in errors.
    public static func decode(data: Data, name: String, options: ImageDecodeOptions = ImageDecodeOptions()) throws -> Tensor {
        let head = [UInt8](data.prefix(12))
        switch sniff(head) {
        case "JPEG": return try JPEGDecoder.decode(data: data, name: name, options: options)
        case "PNG", nil: return try PNGDecoder.decode(data: data, name: name, options: options)
        case let format?:
            throw FusionDataError(file: name, "the file is a \(format) image; FusionLab reads PNG and JPEG: convert it to PNG")
        }
    }

    /// The format the first bytes of a file announce, or nil when none is recognised.
    public static func sniff(_ head: [UInt8]) -> String? {
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "PNG" }
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { return "JPEG" }
        if head.starts(with: Array("GIF8".utf8)) { return "GIF" }
        if head.starts(with: Array("BM".utf8)) { return "BMP" }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        if head.count >= 12 && head[0..<4] == [0x52, 0x49, 0x46, 0x46] && head[8..<12] == Array("WEBP".utf8)[...] { return "WebP" }
        return nil
    }
}

/// JPEG decoding through libjpeg-turbo's TurboJPEG API with its defaults (accurate integer DCT,
/// fancy upsampling), as Pillow decodes: grey JPEGs decode to one channel, every other colour
/// space to RGB. Corrupt or truncated files give an error naming the file.
public enum JPEGDecoder {
    /// The largest side accepted (as for PNG): a forged header must not allocate gigabytes.
    public static let maxSide = 1 << 16
    /// The largest image in pixels: Pillow's decompression-bomb limit (2 × 89,478,485), far
    /// past any image a model reads, and what keeps a few hundred bytes from claiming a
    /// half-gigapixel image.
    public static let maxPixels = 178_956_970

    /// Decodes JPEG bytes into a `[C, H, W]` tensor with values in [0, 1].
    public static func decode(data: Data, name: String, options: ImageDecodeOptions = ImageDecodeOptions()) throws -> Tensor {
        guard let handle = tjInitDecompress() else { throw FusionDataError(file: name, "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        func failure(_ what: String) -> FusionDataError {
            FusionDataError(file: name, "invalid JPEG: \(what): \(String(cString: tjGetErrorStr2(handle)))")
        }
        let bytes = [UInt8](data)
        guard !bytes.isEmpty else { throw FusionDataError(file: name, "invalid JPEG: the file is empty") }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, bytes, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
            throw failure("cannot read the header")
        }
        guard width > 0, height > 0, Int(width) <= maxSide, Int(height) <= maxSide else {
            throw FusionDataError(file: name, "invalid JPEG: \(width) × \(height) pixels (at most \(maxSide) a side)")
        }
        let channels = colorspace == Int32(TJCS_GRAY.rawValue) ? 1 : 3
        let (w, h) = (Int(width), Int(height))
        guard w * h <= maxPixels else {
            throw FusionDataError(file: name, "invalid JPEG: \(w) × \(h) pixels is more than \(maxPixels) (a decompression bomb?)")
        }
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
        // Stop at the first warning: a truncated or corrupt file is an error (a half-grey image
        // would be a silently wrong sample), found before a tiny file claiming a huge image has
        // been decoded in full; and at most 500 progressive scans (a known slow-decoding attack).
        let flags = Int32(TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS)
        let status = pixels.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, bytes, UInt(bytes.count), out.baseAddress, width, 0, height, format.rawValue, flags)
        }
        guard status == 0 else { throw failure("cannot decode the image data") }
        return pixels.withUnsafeBufferPointer { buffer in
            InterleavedPixels(width: w, height: h, channels: channels, sixteenBit: false, pixels: buffer.baseAddress)
                .tensor(options: options)
        }
    }
}
