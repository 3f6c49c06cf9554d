import CSndFile
import CSoxr
import Foundation
import FusionTensor

/// Audio samples in memory: mono Float32 at a known sample rate.
public struct AudioClip: Sendable {
    /// Samples per second.
    public var sampleRate: Int
    /// Mono samples, nominally in [-1, 1].
    public var samples: [Float]

    /// A clip of `samples` at `sampleRate`.
    public init(sampleRate: Int, samples: [Float]) {
        self.sampleRate = sampleRate
        self.samples = samples
    }

    /// The duration in seconds.
    public var duration: Double { Double(samples.count) / Double(sampleRate) }
}

/// What a file holds, as libsndfile reports it.
public struct AudioFileInfo: Equatable, Sendable {
    /// Samples per second.
    public let sampleRate: Int
    /// Interleaved channels.
    public let channels: Int
    /// Frames (samples per channel).
    public let frames: Int
    /// libsndfile's major format and subtype bits (`SF_FORMAT_*`).
    public let format: Int32
}

/// Reading and writing audio through libsndfile: WAV (PCM 8/16/24/32, float, double, µ-law),
/// FLAC, OGG Vorbis, AIFF and whatever else the installed libsndfile reads.
public enum AudioFile {
    /// Reads `path` as interleaved Float32 frames and its header. Errors name the file.
    public static func readInterleaved(path: String) throws -> (info: AudioFileInfo, samples: [Float]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw FusionDataError(file: path, "no such audio file")
        }
        var sfInfo = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &sfInfo) else {
            let reason = String(cString: sf_strerror(nil))
            throw FusionDataError(file: path, "cannot read audio: \(reason)")
        }
        defer { sf_close(handle) }
        return try readFrames(handle, sfInfo, name: path)
    }

    /// Reads an audio file held in memory (an upload, an archive member) as interleaved
    /// Float32 frames and its header; `name` is what errors call it. Any format libsndfile
    /// reads from a file it reads here.
    public static func readInterleaved(data: Data, name: String) throws -> (info: AudioFileInfo, samples: [Float]) {
        let bytes = [UInt8](data)
        return try bytes.withUnsafeBytes { raw -> (info: AudioFileInfo, samples: [Float]) in
            let source = MemorySource(bytes: raw)
            return try withExtendedLifetime(source) {
                var io = SF_VIRTUAL_IO(
                    get_filelen: { user in MemorySource.from(user)?.length ?? 0 },
                    seek: { offset, whence, user in MemorySource.from(user)?.seek(offset, whence) ?? -1 },
                    read: { pointer, count, user in MemorySource.from(user)?.read(pointer, count) ?? 0 },
                    write: { _, _, _ in 0 },
                    tell: { user in MemorySource.from(user)?.position ?? -1 })
                var sfInfo = SF_INFO()
                guard let handle = sf_open_virtual(&io, Int32(SFM_READ), &sfInfo, Unmanaged.passUnretained(source).toOpaque()) else {
                    throw FusionDataError(file: name, "cannot read audio: \(String(cString: sf_strerror(nil)))")
                }
                defer { sf_close(handle) }
                return try readFrames(handle, sfInfo, name: name)
            }
        }
    }

    /// Reads `data` (an audio file's bytes), mixed down to mono and resampled like `read(path:)`.
    public static func read(data: Data, name: String, sampleRate: Int? = nil) throws -> AudioClip {
        let (info, interleaved) = try readInterleaved(data: data, name: name)
        return try monoClip(info, interleaved, sampleRate: sampleRate, name: name)
    }

    /// The bytes libsndfile's virtual I/O reads from; `bytes` outlives every call (the caller
    /// keeps the array alive for the handle's whole life).
    private final class MemorySource {
        let bytes: UnsafeRawBufferPointer
        var position: sf_count_t = 0
        var length: sf_count_t { sf_count_t(bytes.count) }
        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        /// The source behind libsndfile's `user_data` (the pointer given to sf_open_virtual).
        static func from(_ user: UnsafeMutableRawPointer?) -> MemorySource? {
            user.map { Unmanaged<MemorySource>.fromOpaque($0).takeUnretainedValue() }
        }

        func seek(_ offset: sf_count_t, _ whence: Int32) -> sf_count_t {
            let base: sf_count_t
            switch whence {
            case SEEK_CUR: base = position
            case SEEK_END: base = length
            default: base = 0
            }
            let (target, overflow) = base.addingReportingOverflow(offset)
            guard !overflow, target >= 0 else { return -1 }
            position = target
            return position
        }

        func read(_ pointer: UnsafeMutableRawPointer?, _ count: sf_count_t) -> sf_count_t {
            guard let pointer, count > 0, position < length else { return 0 }
            let n = min(count, length - position)
            if let base = bytes.baseAddress {
                pointer.copyMemory(from: base + Int(position), byteCount: Int(n))
            }
            position += n
            return n
        }
    }

    /// Reads every frame from an open handle, in blocks: a corrupt header must not make a
    /// small file allocate gigabytes.
    private static func readFrames(_ handle: OpaquePointer, _ sfInfo: SF_INFO, name path: String) throws -> (info: AudioFileInfo, samples: [Float]) {
        let channels = Int(sfInfo.channels)
        let frames = Int(sfInfo.frames)
        guard channels >= 1, channels <= 1024, sfInfo.samplerate > 0, frames >= 0 else {
            throw FusionDataError(file: path, "invalid audio header: \(channels) channels at \(sfInfo.samplerate) Hz")
        }
        guard frames <= (1 << 31) / channels else {
            throw FusionDataError(file: path, "audio too long: \(frames) frames of \(channels) channels")
        }
        var samples = [Float]()
        samples.reserveCapacity(min(frames, 1 << 20) * channels)
        let block = 1 << 16
        var chunk = [Float](repeating: 0, count: min(block, max(frames, 1)) * channels)
        var read = 0
        while read < frames {
            let want = min(block, frames - read)
            let got = chunk.withUnsafeMutableBufferPointer { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Int(sf_readf_float(handle, base, sf_count_t(want)))
            }
            if got > 0 { samples.append(contentsOf: chunk[0..<(got * channels)]) }
            read += max(got, 0)
            if got < want { break }
        }
        if read < frames && sf_error(handle) != 0 {
            throw FusionDataError(file: path, "audio data unreadable after \(read) of \(frames) frames: \(String(cString: sf_strerror(handle)))")
        }
        let info = AudioFileInfo(sampleRate: Int(sfInfo.samplerate), channels: channels, frames: read, format: sfInfo.format)
        return (info, samples)
    }

    /// Reads `path`, mixes it down to mono (the mean of the channels, as librosa does) and,
    /// when `sampleRate` is given and differs, resamples it with libsoxr.
    public static func read(path: String, sampleRate: Int? = nil) throws -> AudioClip {
        let (info, interleaved) = try readInterleaved(path: path)
        return try monoClip(info, interleaved, sampleRate: sampleRate, name: path)
    }

    private static func monoClip(_ info: AudioFileInfo, _ interleaved: [Float], sampleRate: Int?, name: String) throws -> AudioClip {
        var mono: [Float]
        if info.channels == 1 {
            mono = interleaved
        } else {
            mono = [Float](repeating: 0, count: info.frames)
            let scale = 1 / Float(info.channels)
            for f in 0..<info.frames {
                var sum: Float = 0
                for c in 0..<info.channels { sum += interleaved[f * info.channels + c] }
                mono[f] = sum * scale
            }
        }
        // A float file can hold NaN or infinities; the spectrum would turn them into silence.
        if let bad = mono.firstIndex(where: { !$0.isFinite }) {
            throw FusionDataError(file: name, "sample \(bad) of the clip is not finite (\(mono[bad])): the file is damaged")
        }
        let clip = AudioClip(sampleRate: info.sampleRate, samples: mono)
        guard let sampleRate, sampleRate != info.sampleRate else { return clip }
        do {
            return try Resampler.resample(clip, to: sampleRate)
        } catch let error as FusionDataError {
            throw FusionDataError(file: name, error.message)
        }
    }

    /// Container and sample formats for writing.
    public enum WriteFormat: String, CaseIterable, Sendable {
        /// WAV, unsigned 8-bit PCM.
        case wavPCM8, wavPCM16, wavPCM24, wavPCM32, wavFloat, wavDouble, wavULaw
        /// FLAC, 16-bit.
        case flac16
        /// OGG Vorbis (lossy).
        case oggVorbis
        /// AIFF, 16-bit PCM.
        case aiffPCM16

        var sndfileFormat: Int32 {
            let f: Int
            switch self {
            case .wavPCM8: f = SF_FORMAT_WAV | SF_FORMAT_PCM_U8
            case .wavPCM16: f = SF_FORMAT_WAV | SF_FORMAT_PCM_16
            case .wavPCM24: f = SF_FORMAT_WAV | SF_FORMAT_PCM_24
            case .wavPCM32: f = SF_FORMAT_WAV | SF_FORMAT_PCM_32
            case .wavFloat: f = SF_FORMAT_WAV | SF_FORMAT_FLOAT
            case .wavDouble: f = SF_FORMAT_WAV | SF_FORMAT_DOUBLE
            case .wavULaw: f = SF_FORMAT_WAV | SF_FORMAT_ULAW
            case .flac16: f = SF_FORMAT_FLAC | SF_FORMAT_PCM_16
            case .oggVorbis: f = SF_FORMAT_OGG | SF_FORMAT_VORBIS
            case .aiffPCM16: f = SF_FORMAT_AIFF | SF_FORMAT_PCM_16
            }
            return Int32(f)
        }
    }

    /// Writes interleaved samples to `path` in `format`, atomically (temporary file, then rename).
    public static func write(interleaved samples: [Float], channels: Int, sampleRate: Int,
                             format: WriteFormat = .wavPCM16, to path: String) throws {
        guard channels >= 1, samples.count % channels == 0 else {
            throw FusionDataError(file: path, "audio write: \(samples.count) samples do not divide into \(channels) channels")
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = directory + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var sfInfo = SF_INFO()
        sfInfo.samplerate = Int32(sampleRate)
        sfInfo.channels = Int32(channels)
        sfInfo.format = format.sndfileFormat
        guard sf_format_check(&sfInfo) != 0 else {
            throw FusionDataError(file: path, "audio write: libsndfile cannot write \(format) with \(channels) channels at \(sampleRate) Hz")
        }
        guard let handle = sf_open(temporary, Int32(SFM_WRITE), &sfInfo) else {
            throw FusionDataError(file: path, "cannot write audio: \(String(cString: sf_strerror(nil)))")
        }
        let frames = samples.count / channels
        let written = samples.withUnsafeBufferPointer { buffer -> Int in
            guard let base = buffer.baseAddress else { return 0 }
            return Int(sf_writef_float(handle, base, sf_count_t(frames)))
        }
        sf_close(handle)
        guard written == frames, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw FusionDataError(file: path, "cannot write audio: wrote \(written) of \(frames) frames")
        }
    }

    /// Writes a mono clip to `path` (see `write(interleaved:channels:sampleRate:format:to:)`).
    public static func write(_ clip: AudioClip, format: WriteFormat = .wavPCM16, to path: String) throws {
        try write(interleaved: clip.samples, channels: 1, sampleRate: clip.sampleRate, format: format, to: path)
    }
}

/// Sample-rate conversion with libsoxr at its "high quality" setting (librosa's default `soxr_hq`).
public enum Resampler {
    /// `clip` resampled to `sampleRate`; the output has `ceil(count * to / from)` samples,
    /// the length librosa gives.
    public static func resample(_ clip: AudioClip, to sampleRate: Int) throws -> AudioClip {
        guard sampleRate > 0 else { throw FusionDataError(file: "", "resample: target rate must be positive, got \(sampleRate)") }
        if sampleRate == clip.sampleRate || clip.samples.isEmpty { return AudioClip(sampleRate: sampleRate, samples: clip.samples) }
        let outCount = Int((Double(clip.samples.count) * Double(sampleRate) / Double(clip.sampleRate)).rounded(.up))
        var out = [Float](repeating: 0, count: outCount)
        var inputDone = 0
        var outputDone = 0
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        let error: soxr_error_t? = clip.samples.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                soxr_oneshot(Double(clip.sampleRate), Double(sampleRate), 1,
                             input.baseAddress, input.count, &inputDone,
                             output.baseAddress, output.count, &outputDone,
                             &io, &quality, nil)
            }
        }
        if let error {
            throw FusionDataError(file: "", "resample \(clip.sampleRate) → \(sampleRate) Hz failed: \(String(cString: error))")
        }
        // Like librosa, the output has exactly ceil(count * ratio) samples: a shortfall stays zero.
        if outputDone < outCount { for i in outputDone..<outCount { out[i] = 0 } }
        return AudioClip(sampleRate: sampleRate, samples: out)
    }
}

/// Fixing a clip's length: pad with zeros or trim to a number of samples, or keep the variable
/// length and record which samples are real.
public enum AudioLength {
    /// `samples` padded with zeros at the end or trimmed to exactly `count` samples.
    public static func padOrTrim(_ samples: [Float], to count: Int) -> [Float] {
        if samples.count >= count { return Array(samples.prefix(count)) }
        return samples + [Float](repeating: 0, count: count - samples.count)
    }

    /// Pads a batch of variable-length clips to the longest (capped at `maxCount` when given):
    /// returns `[B, T]` samples and a `[B, T]` mask, 1 where a sample is real, 0 where padded.
    public static func batch(_ clips: [[Float]], maxCount: Int? = nil) -> (samples: Tensor, mask: Tensor) {
        var longest = clips.map(\.count).max() ?? 0
        if let maxCount { longest = min(longest, maxCount) }
        let samples = Tensor.zeros([clips.count, longest])
        let mask = Tensor.zeros([clips.count, longest])
        for (b, clip) in clips.enumerated() {
            let n = min(clip.count, longest)
            for t in 0..<n {
                samples.data[b * longest + t] = clip[t]
                mask.data[b * longest + t] = 1
            }
        }
        return (samples, mask)
    }
}
