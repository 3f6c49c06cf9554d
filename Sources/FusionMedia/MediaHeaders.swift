import CSndFile
import Foundation

/// An image's size and colour as its header declares them (no pixels decoded).
public struct ImageHeader: Equatable, Sendable {
    /// Pixels.
    public var width: Int, height: Int
    /// Colour channels without alpha: 1 (grey) or 3 (colour).
    public var channels: Int
}

/// Headers of media files, read without decoding them: what a dataset's files are before
/// preprocessing changes them (`DataSurvey`).
public enum MediaHeaders {
    /// The header of a PNG or JPEG file (the first 256 KiB are read). Errors name the file.
    public static func image(path: String) throws -> ImageHeader {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw FusionDataError(file: path, "cannot open the image") }
        defer { try? handle.close() }
        let head = [UInt8](handle.readData(ofLength: 256 << 10))
        if head.count >= 26, head.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            func u32(_ i: Int) -> Int { Int(head[i]) << 24 | Int(head[i + 1]) << 16 | Int(head[i + 2]) << 8 | Int(head[i + 3]) }
            // IHDR: width, height, bit depth, colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA).
            let colour = head[25]
            return ImageHeader(width: u32(16), height: u32(20), channels: colour == 0 || colour == 4 ? 1 : 3)
        }
        if head.count >= 4, head[0] == 0xFF, head[1] == 0xD8 {
            var i = 2
            while i + 9 < head.count {
                guard head[i] == 0xFF else { i += 1; continue }
                let marker = head[i + 1]
                if marker == 0xFF { i += 1; continue }
                let length = Int(head[i + 2]) << 8 | Int(head[i + 3])
                // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width, components.
                if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                    let height = Int(head[i + 5]) << 8 | Int(head[i + 6]), width = Int(head[i + 7]) << 8 | Int(head[i + 8])
                    return ImageHeader(width: width, height: height, channels: head[i + 9] == 1 ? 1 : 3)
                }
                guard length >= 2 else { break }
                i += 2 + length
            }
            throw FusionDataError(file: path, "no JPEG frame header in the first 256 KiB")
        }
        throw FusionDataError(file: path, "not a PNG or JPEG file")
    }

    /// The header of an audio file (libsndfile reads no samples). Errors name the file.
    public static func audio(path: String) throws -> AudioFileInfo {
        var info = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &info) else {
            throw FusionDataError(file: path, "cannot read audio: \(String(cString: sf_strerror(nil)))")
        }
        sf_close(handle)
        return AudioFileInfo(sampleRate: Int(info.samplerate), channels: Int(info.channels), frames: Int(info.frames), format: info.format)
    }
}
