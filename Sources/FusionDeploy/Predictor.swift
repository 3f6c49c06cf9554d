import FusionCore
import FusionReports
import FusionConfig
import FusionTraining
import Foundation
import FusionData
import FusionModels
import FusionTensor

/// One sample's raw inputs, as files or uploads carry them; any modality may be absent.
public struct RawSample: Sendable {
    /// PNG or JPEG bytes.
    public var image: Data?
    /// Audio bytes in any format the audio reader takes.
    public var audio: Data?
    /// The caption.
    public var text: String?
    /// Names used in error messages ("image upload photo.png", a file path).
    public var imageName = "image", audioName = "audio"

    /// A sample from bytes; names say where the bytes came from in errors.
    public init(image: Data? = nil, imageName: String = "image", audio: Data? = nil, audioName: String = "audio", text: String? = nil) {
        self.image = image
        self.imageName = imageName
        self.audio = audio
        self.audioName = audioName
        self.text = text
    }

    /// A sample from files on disk (read here; a missing file is an error naming it).
    public static func files(image: String?, audio: String?, text: String?) throws -> RawSample {
        func read(_ path: String) throws -> Data {
            do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw InferenceInputError(field: path, "cannot read the file: \(error.localizedDescription)")
            }
        }
        return RawSample(image: try image.map(read), imageName: image ?? "image", audio: try audio.map(read),
                         audioName: audio ?? "audio", text: text)
    }
}

/// A sample's input that cannot be used (an undecodable upload, a missing file): the caller's
/// fault, never the model's. `field` names the upload or file.
public struct InferenceInputError: Error, CustomStringConvertible, Sendable {
    /// The field or file at fault.
    public let field: String
    /// What is wrong with it.
    public let message: String
    /// An error for `field`.
    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }
    /// "`field`: `message`" (the message alone when it names the field already, as decoder errors do).
    public var description: String { message.hasPrefix(field) ? message : "\(field): \(message)" }
}

/// One sample decoded into the model's features (Sendable plain arrays, so decoding can run on
/// any thread and batching on another).
public struct PreparedSample: Sendable {
    /// `[C·H·W]` normalised image, or nil when absent.
    var image: [Float]?
    /// `[rows·frames]` MFCC matrix and the frames that hold real audio, or nil when absent.
    var audio: (features: [Float], valid: Int)?
    /// Token ids and attention mask, or nil when absent.
    var text: (ids: [Int32], mask: [Int32])?
}

/// A finished run's model, loaded once, with its preprocessing: decode samples (thread-safe),
/// then predict batches of them (one caller at a time). `fusionlab predict` and `fusionlab serve`
/// both use it, so a served answer is the one `predict` prints.
public final class InferenceModel: @unchecked Sendable {
    /// Class names, in the order of the probabilities.
    public let classNames: [String]
    /// The modalities the model takes.
    public let modalities: [Modality]
    /// The run folder's name and a hash of its checkpoint: what answered a request.
    public let version: String
    /// The run folder.
    public let run: String
    /// The temperature the logits are divided by: the run's fitted one with
    /// `evaluation.calibrate`, else 1.
    public let temperature: Float
    /// The conformal score threshold `q̂` (metrics.json `conformal.threshold`) with
    /// `evaluation.conformal_alpha`, for prediction sets.
    public let conformalThreshold: Double?
    let model: MultimodalClassifier
    let data: ExperimentData
    let config: ExperimentConfig
    private let extractors = ExtractorPool()

    /// What a client must do to raw files to build this model's inputs (`PreprocessingDescription`).
    public var preprocessing: [String: Any] { PreprocessingDescription.json(data.settings, config: config) }

    /// Loads `run`'s best checkpoint (no feature caches are built).
    public init(run: String, progress: FusionTraining.Progress) throws {
        (model, data, config) = try ExperimentRunner.load(run: run, caches: false, progress: progress)
        self.run = run
        classNames = data.classNames
        modalities = config.model.modalities
        let checkpoint = try RunDirectory.open(run).bestCheckpoint
        let bytes = (try? Data(contentsOf: URL(fileURLWithPath: checkpoint))) ?? Data()
        let hash = bytes.withUnsafeBytes { Hash64.checksum($0) }
        version = "\(URL(fileURLWithPath: run).standardizedFileURL.lastPathComponent)@\(String(hash, radix: 16).prefix(12))"
        (temperature, conformalThreshold) = try InferenceModel.calibration(run: run, config: config)
    }

    /// The temperature (1 unless `evaluation.calibrate`) and the conformal threshold (with
    /// `evaluation.conformal_alpha`) the run's metrics.json recorded.
    public static func calibration(run: String, config: ExperimentConfig) throws -> (temperature: Float, conformalThreshold: Double?) {
        let metricsPath = run + "/" + RunFile.metrics
        let metrics = (try? Data(contentsOf: URL(fileURLWithPath: metricsPath))).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        var temperature: Float = 1
        if config.evaluation.calibrate {
            guard let t = ((metrics?["calibration"] as? [String: Any])?["temperature"] as? NSNumber)?.doubleValue, t.isFinite, t > 0 else {
                throw ExperimentError("\(metricsPath): evaluation.calibrate is set but there is no calibration.temperature (a run from before calibration was measured?)")
            }
            temperature = Float(t)
        }
        let threshold = config.evaluation.conformalAlpha > 0
            ? ((metrics?["conformal"] as? [String: Any])?["threshold"] as? NSNumber)?.doubleValue : nil
        return (temperature, threshold)
    }

    /// The conformal prediction set of probabilities `p` (class names, most probable first), or
    /// nil when the run has no conformal calibration.
    public func predictionSet(_ p: [Float]) -> [String]? {
        guard let q = conformalThreshold else { return nil }
        return ConformalSets.set(p.map(Double.init), threshold: q).sorted { p[$0] > p[$1] }.map { classNames[$0] }
    }

    /// Decodes one sample the way training decoded its split (resize, MFCC, tokenizer,
    /// normalisation). Safe to call from several threads at once.
    public func prepare(_ raw: RawSample) throws -> PreparedSample {
        var sample = PreparedSample()
        if modalities.contains(.image), let settings = data.settings.image, let bytes = raw.image {
            var tensor: Tensor
            do {
                let decoded = try ImageDecoder.decode(data: bytes, name: raw.imageName, options: ImageDecodeOptions(colorMode: settings.colorMode))
                tensor = settings.fitted(decoded)
            } catch { throw InferenceInputError(field: raw.imageName, "\(error)") }
            if let mean = settings.mean, let std = settings.std { tensor = ImageTransforms.normalize(tensor, mean: mean, std: std) }
            sample.image = tensor.scalars
        }
        if modalities.contains(.audio), let settings = data.settings.audio, let bytes = raw.audio {
            let clip: AudioClip
            do { clip = try AudioFile.read(data: bytes, name: raw.audioName, sampleRate: settings.mfcc.sampleRate) } catch {
                throw InferenceInputError(field: raw.audioName, "\(error)")
            }
            let (matrix, valid) = try extractors.with(settings.mfcc) { settings.features(of: clip.samples, extractor: $0) }
            let features = matrix.scalars
            guard features.allSatisfy({ $0.isFinite }) else {
                throw InferenceInputError(field: raw.audioName, "its MFCC features are not finite (a sample is infinite or NaN, or far outside [-1, 1])")
            }
            sample.audio = (features, valid)
        }
        if modalities.contains(.text), let encoder = data.textEncoder, let text = raw.text {
            let encoded = encoder.encode(text, maxLength: config.preprocessing.text.maxLength)
            sample.text = (encoded.ids, encoded.attentionMask)
        }
        return sample
    }

    /// Class probabilities `[samples][classes]` for a batch of decoded samples; absent
    /// modalities are masked out by the presence mask. Not reentrant: one caller at a time.
    public func predict(_ samples: [PreparedSample]) -> [[Float]] {
        guard !samples.isEmpty else { return [] }
        let n = samples.count
        var inputs: [Modality: ModalityInput] = [:], presence: [Modality: Tensor] = [:]
        if modalities.contains(.image), let settings = data.settings.image {
            let size = shapeCount(settings.shape)
            var values = [Float](repeating: 0, count: n * size)
            for (i, s) in samples.enumerated() { if let image = s.image { values.replaceSubrange(i * size..<(i + 1) * size, with: image) } }
            inputs[.image] = ModalityInput(features: Tensor(values, shape: [n] + settings.shape))
            presence[.image] = Tensor(samples.map { $0.image == nil ? 0 : 1 }, shape: [n])
        }
        if modalities.contains(.audio), let settings = data.settings.audio {
            let size = shapeCount(settings.shape), frames = settings.shape[1]
            var values = [Float](repeating: 0, count: n * size), mask = [Float](repeating: 0, count: n * frames)
            for (i, s) in samples.enumerated() {
                // An absent clip keeps a full mask, as `predict` always gave the model.
                let valid = s.audio?.valid ?? frames
                for t in 0..<valid { mask[i * frames + t] = 1 }
                if let audio = s.audio { values.replaceSubrange(i * size..<(i + 1) * size, with: audio.features) }
            }
            inputs[.audio] = ModalityInput(features: Tensor(values, shape: [n] + settings.shape), mask: Tensor(mask, shape: [n, frames]))
            presence[.audio] = Tensor(samples.map { $0.audio == nil ? 0 : 1 }, shape: [n])
        }
        if modalities.contains(.text), let encoder = data.textEncoder {
            let length = config.preprocessing.text.maxLength
            let empty = encoder.encode("", maxLength: length)
            var ids = [Int32](), mask = [Float]()
            for s in samples {
                let t = s.text ?? (empty.ids, empty.attentionMask)
                ids += t.ids
                mask += t.mask.map(Float.init)
            }
            inputs[.text] = ModalityInput(tokens: IndexTensor(ids, shape: [n, length]), mask: Tensor(mask, shape: [n, length]))
            presence[.text] = Tensor(samples.map { $0.text == nil ? 0 : 1 }, shape: [n])
        }
        let logits = withNoGrad { model(MultimodalBatch(inputs: inputs, presence: presence, labels: [Int](repeating: 0, count: n))) }
        let probabilities = (temperature == 1 ? logits : logits * (1 / temperature)).softmax(axis: 1).scalars
        let c = classNames.count
        return (0..<n).map { Array(probabilities[$0 * c..<($0 + 1) * c]) }
    }
}

/// MFCC extractors hold FFT scratch buffers, so each is used by one thread at a time: threads
/// take one from the pool (or make one) and give it back.
final class ExtractorPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [MFCC] = []

    func with<T>(_ settings: MFCCSettings, _ body: (MFCC) throws -> T) throws -> T {
        lock.lock()
        let taken = free.popLast()
        lock.unlock()
        let extractor = try taken ?? MFCC(settings)
        defer { lock.lock(); if free.count < 16 { free.append(extractor) }; lock.unlock() }
        return try body(extractor)
    }
}

/// Predictions for single files with a finished run's model and preprocessing.
public enum Predictor {
    /// Class probabilities for one sample given as files and text (any modality may be absent),
    /// and its conformal prediction set when the run has one.
    public static func predict(run: String, image: String?, audio: String?, text: String?, progress: FusionTraining.Progress) throws
        -> (classNames: [String], probabilities: [Float], set: [String]?) {
        let model = try InferenceModel(run: run, progress: progress)
        let sample: PreparedSample
        do { sample = try model.prepare(try RawSample.files(image: image, audio: audio, text: text)) } catch let error as InferenceInputError {
            throw ExperimentError(error.description)
        }
        let probabilities = model.predict([sample])[0]
        return (model.classNames, probabilities, model.predictionSet(probabilities))
    }
}
