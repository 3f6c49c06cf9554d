import CAVUtil
import Dispatch
import Foundation
import FusionCore
import FusionTensor

/// Settings of the MFCC front end; the defaults are `librosa.feature.mfcc`'s.
public struct MFCCSettings: Codable, Equatable, Sendable {
    /// What the front end outputs.
    public enum Output: String, ConfigChoice {
        /// Cepstral coefficients (`nMFCC` rows).
        case mfcc
        /// The log-mel spectrogram in dB itself (`nMels` rows), times `logScale` plus `logOffset`.
        case logMel = "log_mel"
    }

    /// How mel power becomes the log-mel value.
    public enum Compression: String, ConfigChoice {
        /// `power_to_db`: 10 log10(max(amin, power)) with `ref`, `amin` and the `topDB` floor.
        case db
        /// log10(1 + logGain · power) (Essentia's "shift_scale_log", as aisfx's front end).
        case log10Plus1 = "log10_1p"
    }

    /// The analysis window, `window` samples long, centred in nFFT.
    public enum Window: String, ConfigChoice {
        /// Periodic Hann, 0.5 − 0.5 cos(2π i / N) (librosa's and scipy's `fftbins=True`).
        case hann
        /// Symmetric Hann, 0.5 − 0.5 cos(2π i / (N − 1)) (Essentia's "hann").
        case hannSymmetric = "hann_symmetric"
    }

    /// How many centred frames a clip of n samples gives (frame t is centred on sample t · hop).
    public enum Framing: String, ConfigChoice {
        /// 1 + n / hop (librosa's `center=True`).
        case librosa
        /// Every frame that starts before the clip ends, ceil((n + nFFT / 2) / hop) (Essentia's
        /// FrameCutter with startFromZero false).
        case essentia
    }

    /// How the signal is padded at both ends when `center` is true.
    public enum PadMode: String, ConfigChoice {
        /// Zeros (librosa ≥ 0.10's default for `stft`).
        case constant
        /// Mirror without repeating the edge sample (numpy's "reflect").
        case reflect
    }

    /// Sample rate of the input in Hz.
    public var sampleRate = 22050
    /// FFT size (even).
    public var nFFT = 2048
    /// Window length (≤ nFFT); nil means nFFT.
    public var winLength: Int? = nil
    /// Hop between frames in samples.
    public var hopLength = 512
    /// Number of mel bands.
    public var nMels = 128
    /// Number of cepstral coefficients kept.
    public var nMFCC = 20
    /// Lowest filter edge in Hz.
    public var fMin = 0.0
    /// Highest filter edge in Hz; nil means sampleRate / 2.
    public var fMax: Double? = nil
    /// The mel scale.
    public var melScale = MelScale.slaney
    /// How each mel filter is scaled.
    public var melNorm = MelNorm.slaney
    /// Centre frames on their sample (pad nFFT/2 at both ends).
    public var center = true
    /// Padding used when centring.
    public var padMode = PadMode.constant
    /// How mel power is compressed.
    public var compression = Compression.db
    /// `.log10_1p`: the power's gain inside the logarithm.
    public var logGain = 10_000.0
    /// Triangles of the mel filters: linear in hertz (librosa) or in mels (Essentia's "warping").
    public var melTriangles = MelFilterbank.Triangles.hz
    /// The analysis window.
    public var windowShape = Window.hann
    /// How many centred frames a clip gives.
    public var framing = Framing.librosa
    /// `power_to_db` reference power.
    public var ref = 1.0
    /// `power_to_db` floor applied before the logarithm.
    public var amin = 1e-10
    /// `power_to_db` dynamic range below the clip's maximum; nil disables the clamp.
    public var topDB: Double? = 80
    /// Delta orders appended as extra rows: 0 none, 1 deltas, 2 deltas and delta-deltas.
    public var deltaOrder = 0
    /// Width of the delta (Savitzky–Golay) window, odd, as `librosa.feature.delta(width=)`.
    public var deltaWidth = 9
    /// MFCCs or the log-mel spectrogram.
    public var output = Output.mfcc
    /// Samples are multiplied by this before the STFT (32768: the 16-bit integer scale some
    /// pretrained front ends were trained on).
    public var inputScale = 1.0
    /// `.logMel`: the compressed values are multiplied by this…
    public var logScale = 1.0
    /// …and this is added (openWakeWord's speech embedding reads dB / 10 + 2).
    public var logOffset = 0.0
    /// Standardise every output row to zero mean and unit variance over the clip's frames
    /// (`fitted` computes them on the real clip only, so padding never enters the statistics).
    public var standardize = false

    /// librosa's defaults.
    public init() {}

    /// The effective window length.
    public var window: Int { winLength ?? nFFT }

    /// The number of frames a clip of `sampleCount` samples gives.
    public func frameCount(sampleCount: Int) -> Int {
        guard center else { return max(0, 1 + (sampleCount - nFFT) / hopLength) }
        switch framing {
        case .librosa: return 1 + sampleCount / hopLength
        case .essentia: return sampleCount > 0 ? (sampleCount + nFFT / 2 + hopLength - 1) / hopLength : 0
        }
    }

    /// Rows of the output: nMFCC (or nMels for the log-mel output) times (1 + deltaOrder).
    public var featureRows: Int { (output == .mfcc ? nMFCC : nMels) * (1 + deltaOrder) }

    /// Checks the settings, naming the first bad one.
    public func validate() throws {
        func bad(_ text: String) -> FusionDataError { FusionDataError(file: "", "MFCC settings: \(text)") }
        guard nFFT >= 2, nFFT % 2 == 0 else { throw bad("n_fft must be even and ≥ 2, got \(nFFT)") }
        guard window >= 1, window <= nFFT else { throw bad("win_length must be in 1...\(nFFT), got \(window)") }
        guard hopLength >= 1 else { throw bad("hop_length must be ≥ 1, got \(hopLength)") }
        guard nMels >= 1, nMFCC >= 1, nMFCC <= nMels else { throw bad("need 1 ≤ n_mfcc (\(nMFCC)) ≤ n_mels (\(nMels))") }
        guard sampleRate > 0 else { throw bad("sample rate must be positive, got \(sampleRate)") }
        guard (0...2).contains(deltaOrder) else { throw bad("delta order must be 0, 1 or 2, got \(deltaOrder)") }
        guard deltaWidth >= 3, deltaWidth % 2 == 1 else { throw bad("delta width must be odd and ≥ 3, got \(deltaWidth)") }
        guard amin > 0 else { throw bad("amin must be positive, got \(amin)") }
        guard logGain > 0, logGain.isFinite else { throw bad("log_gain must be positive, got \(logGain)") }
        guard inputScale > 0, inputScale.isFinite else { throw bad("input_scale must be positive, got \(inputScale)") }
        guard logScale.isFinite, logOffset.isFinite, logScale != 0 else { throw bad("log_scale must be finite and non-zero, log_offset finite") }
        guard fMin >= 0, fMin < (fMax ?? Double(sampleRate) / 2), (fMax ?? 0) <= Double(sampleRate) / 2 else {
            throw bad("need 0 ≤ fmin < fmax ≤ sample_rate / 2, got fmin \(fMin), fmax \(fMax ?? Double(sampleRate) / 2)")
        }
    }
}

/// MFCC extraction that reproduces `librosa.feature.mfcc`: centred framing, periodic Hann
/// window, power spectrum through libavutil's real FFT (`av_tx`, SIMD), mel filterbank, `power_to_db`, and an
/// orthonormal DCT-II, keeping `nMFCC` coefficients.
///
/// An instance holds an FFT plan and scratch buffers, so it is not safe to share between
/// threads: give each thread its own (they are cheap to make).
public final class MFCC {
    /// The settings this extractor was built with.
    public let settings: MFCCSettings
    /// The mel filterbank.
    public let filterbank: MelFilterbank
    private var fft: OpaquePointer?
    private let transform: av_tx_fn
    private let window: [Float]
    private let dct: [Float]
    // SIMD-aligned buffers for the transform (av_malloc), owned by this instance.
    private let frame: UnsafeMutablePointer<Float>
    private let spectrum: UnsafeMutablePointer<AVComplexFloat>
    private var power: [Float]

    /// Builds the extractor (filterbank, window, DCT matrix, FFT plan) for `settings`.
    public init(_ settings: MFCCSettings = MFCCSettings()) throws {
        try settings.validate()
        self.settings = settings
        let n = settings.nFFT
        var context: OpaquePointer? = nil
        var function: av_tx_fn? = nil
        var scale: Float = 1
        let status = av_tx_init(&context, &function, AV_TX_FLOAT_RDFT, 0, Int32(n), &scale, 0)
        guard status == 0, let context, let function,
              let frameMemory = av_malloc(MemoryLayout<Float>.stride * n),
              let spectrumMemory = av_malloc(MemoryLayout<AVComplexFloat>.stride * (n / 2 + 1)) else {
            throw FusionDataError(file: "", "MFCC: libavutil could not plan a real FFT of size \(n) (error \(status))")
        }
        fft = context
        transform = function
        frame = frameMemory.bindMemory(to: Float.self, capacity: n)
        spectrum = spectrumMemory.bindMemory(to: AVComplexFloat.self, capacity: n / 2 + 1)
        filterbank = MelFilterbank(sampleRate: settings.sampleRate, nFFT: n, melCount: settings.nMels,
                                   fMin: settings.fMin, fMax: settings.fMax, scale: settings.melScale,
                                   norm: settings.melNorm, triangles: settings.melTriangles)
        // Hann window of win_length samples, centred inside n_fft (librosa's pad_center).
        var w = [Float](repeating: 0, count: n)
        let length = settings.window, left = (n - length) / 2
        let period = Double(settings.windowShape == .hann ? length : max(1, length - 1))
        // The input scale rides on the window (the STFT is linear).
        for i in 0..<length { w[left + i] = Float((0.5 - 0.5 * cos(2 * Double.pi * Double(i) / period)) * settings.inputScale) }
        window = w
        // Orthonormal DCT-II rows: c_k = s_k Σ_m x_m cos(π k (2m + 1) / 2M).
        let mels = settings.nMels
        var d = [Float](repeating: 0, count: settings.nMFCC * mels)
        for k in 0..<settings.nMFCC {
            let s = k == 0 ? (1 / Double(mels)).squareRoot() : (2 / Double(mels)).squareRoot()
            for m in 0..<mels { d[k * mels + m] = Float(s * cos(Double.pi * Double(k) * Double(2 * m + 1) / Double(2 * mels))) }
        }
        dct = d
        frame.initialize(repeating: 0, count: n)
        spectrum.initialize(repeating: AVComplexFloat(), count: n / 2 + 1)
        power = [Float](repeating: 0, count: n / 2 + 1)
    }

    deinit {
        av_tx_uninit(&fft)
        av_free(frame)
        av_free(spectrum)
    }

    /// The log-mel spectrogram, `[nMels, frames]`: in dB as `librosa.power_to_db(melspectrogram(...))`,
    /// or `log10(1 + logGain · power)` (`compression`).
    public func logMel(_ samples: [Float]) -> Tensor {
        let s = settings
        let frames = s.frameCount(sampleCount: samples.count)
        let mels = s.nMels, n = s.nFFT, half = n / 2, bins = half + 1
        let out = Tensor(uninitializedShape: [mels, frames])
        let dst = out.data
        let pad = s.center ? half : 0
        let count = samples.count
        let logRef = 10 * log10(max(s.amin, abs(s.ref)))
        var peak = -Float.infinity
        let hop = s.hopLength, reflect = s.padMode == .reflect && count >= 2
        samples.withUnsafeBufferPointer { xBuffer in
        window.withUnsafeBufferPointer { winBuffer in
        power.withUnsafeMutableBufferPointer { powerBuffer in
        filterbank.weights.withUnsafeBufferPointer { weightBuffer in
        filterbank.starts.withUnsafeBufferPointer { startBuffer in
        filterbank.lengths.withUnsafeBufferPointer { lengthBuffer in
        filterbank.offsets.withUnsafeBufferPointer { offsetBuffer in
            let (buf, spec) = (frame, spectrum)
            guard let win = winBuffer.baseAddress, let pw = powerBuffer.baseAddress, let fw = weightBuffer.baseAddress, let starts = startBuffer.baseAddress,
                  let lengths = lengthBuffer.baseAddress, let offsets = offsetBuffer.baseAddress else { return }
            let x = xBuffer.baseAddress
            for t in 0..<frames {
                let origin = t * hop - pad
                if let x, origin >= 0 && origin + n <= count {
                    // Interior frame: a straight multiply the compiler vectorises.
                    let src = x + origin
                    for i in 0..<n { buf[i] = src[i] * win[i] }
                } else {
                    for i in 0..<n {
                        var j = origin + i
                        if j < 0 || j >= count {
                            guard reflect, x != nil else { buf[i] = 0; continue }
                            // numpy "reflect": mirror about the end samples.
                            let period = 2 * (count - 1)
                            j = ((j % period) + period) % period
                            if j >= count { j = period - j }
                        }
                        buf[i] = (x.map { $0[j] } ?? 0) * win[i]
                    }
                }
                transform(fft, spec, buf, MemoryLayout<Float>.stride)
                for k in 0..<bins { pw[k] = spec[k].re * spec[k].re + spec[k].im * spec[k].im }
                for m in 0..<mels {
                    let w = fw + offsets[m], p = pw + starts[m]
                    var acc: Float = 0
                    for j in 0..<lengths[m] { acc += w[j] * p[j] }
                    dst[m * frames + t] = acc
                }
            }
        }}}}}}}
        let total = mels * frames
        if s.compression == .log10Plus1 {
            let gain = Float(s.logGain)
            for i in 0..<total { dst[i] = log10f(1 + gain * dst[i]) }
            return out
        }
        // power_to_db: 10 log10(max(amin, S)) − 10 log10(max(amin, |ref|)), over the whole matrix at once.
        let amin = Float(s.amin)
        for i in 0..<total {
            let db = 10 * log10f(max(amin, dst[i])) - Float(logRef)
            dst[i] = db
            peak = max(peak, db)
        }
        if let topDB = s.topDB, frames > 0 {
            let floor = peak - Float(topDB)
            for i in 0..<out.count where dst[i] < floor { dst[i] = floor }
        }
        return out
    }

    /// MFCCs of one mono clip: `[featureRows, frames]` (coefficients, then deltas if asked,
    /// then per-row standardisation if asked), every statistic over all of `samples`. For a
    /// clip padded to a fixed length use `fitted(_:frames:)`, which keeps padding out of them.
    public func callAsFunction(_ samples: [Float]) -> Tensor {
        let s = settings
        let logMel = logMel(samples)
        if s.output == .logMel { return logMelFeatures(logMel) }
        let frames = logMel.shape[1], mels = s.nMels
        let rows = s.featureRows
        let out = Tensor(uninitializedShape: [rows, frames])
        let dst = out.data, src = logMel.data
        dct.withUnsafeBufferPointer { d in
            for k in 0..<s.nMFCC {
                let row = dst + k * frames
                for t in 0..<frames { row[t] = 0 }
                for m in 0..<mels {
                    let c = d[k * mels + m]
                    let srcRow = src + m * frames
                    for t in 0..<frames { row[t] += c * srcRow[t] }
                }
            }
        }
        if s.deltaOrder >= 1 {
            for order in 1...s.deltaOrder {
                for k in 0..<s.nMFCC {
                    Deltas.savitzkyGolay(dst + k * frames, count: frames, width: s.deltaWidth, order: order,
                                         into: dst + (order * s.nMFCC + k) * frames)
                }
            }
        }
        if s.standardize { Deltas.standardizeRows(dst, rows: rows, columns: frames) }
        return out
    }

    /// The log-mel output: dB · logScale + logOffset, then deltas and standardisation as for MFCCs.
    private func logMelFeatures(_ logMel: Tensor) -> Tensor {
        let s = settings
        let frames = logMel.shape[1], mels = s.nMels
        let out = Tensor(uninitializedShape: [s.featureRows, frames])
        let dst = out.data, src = logMel.data
        let (scale, offset) = (Float(s.logScale), Float(s.logOffset))
        for i in 0..<(mels * frames) { dst[i] = src[i] * scale + offset }
        if s.deltaOrder >= 1 {
            for order in 1...s.deltaOrder {
                for k in 0..<mels {
                    Deltas.savitzkyGolay(dst + k * frames, count: frames, width: s.deltaWidth, order: order, into: dst + (order * mels + k) * frames)
                }
            }
        }
        if s.standardize { Deltas.standardizeRows(dst, rows: s.featureRows, columns: frames) }
        return withExtendedLifetime(logMel) { out }
    }

    /// MFCCs of one clip laid into a fixed `[featureRows, frames]` matrix, as a pipeline that
    /// computes features on the real clip and pads them afterwards: the coefficients, the
    /// `topDB` floor, the deltas (at the edge of the real audio) and the standardisation all
    /// see only the clip's own frames, and the padded frames are exactly 0. Frames beyond
    /// `frames` are dropped (the caller trims the clip to the length `frames` covers). Returns
    /// the matrix and how many leading frames are real.
    public func fitted(_ samples: [Float], frames: Int) -> (features: Tensor, validFrames: Int) {
        let rows = settings.featureRows
        let out = Tensor.zeros([rows, frames])
        guard !samples.isEmpty, frames > 0 else { return (out, 0) }
        let own = self(samples)
        let ownFrames = own.shape[1], valid = min(frames, ownFrames)
        guard valid > 0 else { return (out, 0) }
        if valid == ownFrames && valid == frames { return (own, valid) }
        withExtendedLifetime(own) {
            for r in 0..<rows { (out.data + r * frames).update(from: own.data + r * ownFrames, count: valid) }
        }
        return (out, valid)
    }

    /// MFCCs of a batch of equal-length clips, `[B, featureRows, frames]`, spread over
    /// `Threading.threads` threads (each with its own extractor). The `topDB` floor is applied
    /// per clip (librosa, given a 2-D array, applies it over the whole batch).
    public static func batch(_ clips: [[Float]], settings: MFCCSettings) throws -> Tensor {
        try settings.validate()
        let length = clips.first?.count ?? 0
        guard clips.allSatisfy({ $0.count == length }) else {
            throw FusionDataError(file: "", "MFCC batch: clips differ in length; pad or trim them first")
        }
        let frames = settings.frameCount(sampleCount: length), rows = settings.featureRows
        let out = Tensor(uninitializedShape: [clips.count, rows, frames])
        let per = rows * frames
        let base = out.data
        let chunks = max(1, min(Threading.threads, clips.count))
        let extractors = try (0..<chunks).map { _ in try MFCC(settings) }
        let work = { (c: Int) in
            for b in (clips.count * c / chunks)..<(clips.count * (c + 1) / chunks) {
                let features = extractors[c](clips[b])
                withExtendedLifetime(features) { (base + b * per).update(from: features.data, count: per) }
            }
        }
        // Each chunk has its own extractor and writes its own rows; concurrentPerform waits for all.
        nonisolated(unsafe) let chunk = work
        if chunks == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: chunks) { chunk($0) } }
        return out
    }
}
