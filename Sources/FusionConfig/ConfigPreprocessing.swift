import FusionData
import FusionModels

// What the experiment format's preprocessing section means for FusionData's front ends and the
// encoders' input shapes: decided by the configuration alone, before any data is read.

extension ExperimentConfig {
    /// The preprocessing `config` describes, for the modalities its model uses.
    public var preprocessingSettings: PreprocessingSettings {
        let p = preprocessing, modalities = Set(model.modalities)
        var image: ImagePreprocessing?
        if modalities.contains(.image) {
            var settings = ImagePreprocessing(height: p.image.height, width: p.image.width, colorMode: p.image.color)
            settings.resize = p.image.resize
            settings.centerCrop = p.image.centerCrop
            settings.mean = p.image.mean.isEmpty ? nil : p.image.mean
            settings.std = p.image.std.isEmpty ? nil : p.image.std
            image = settings
        }
        var audio: AudioPreprocessing?
        if modalities.contains(.audio) {
            var mfcc = MFCCSettings()
            mfcc.sampleRate = p.audio.sampleRate
            mfcc.nFFT = p.audio.nFft
            mfcc.hopLength = p.audio.hopLength
            mfcc.nMels = p.audio.nMels
            mfcc.nMFCC = p.audio.nMfcc
            mfcc.deltaOrder = p.audio.deltas
            mfcc.standardize = p.audio.standardize
            mfcc.output = p.audio.features
            mfcc.winLength = p.audio.winLength > 0 ? p.audio.winLength : nil
            mfcc.fMin = p.audio.fmin
            mfcc.fMax = p.audio.fmax > 0 ? p.audio.fmax : nil
            mfcc.center = p.audio.center
            mfcc.topDB = p.audio.topDb > 0 ? p.audio.topDb : nil
            mfcc.inputScale = p.audio.inputScale
            mfcc.logScale = p.audio.logScale
            mfcc.logOffset = p.audio.logOffset
            mfcc.padMode = p.audio.padMode
            mfcc.melScale = p.audio.melScale
            mfcc.melNorm = p.audio.melNorm
            mfcc.compression = p.audio.compression
            mfcc.logGain = p.audio.logGain
            mfcc.windowShape = p.audio.window
            mfcc.framing = p.audio.framing
            mfcc.melTriangles = p.audio.melTriangles
            audio = AudioPreprocessing(durationSeconds: p.audio.duration, mfcc: mfcc)
        }
        let text = modalities.contains(.text) ? TextPreprocessing(maxLength: p.text.maxLength) : nil
        return PreprocessingSettings(image: image, audio: audio, text: text)
    }

    /// The encoders' input shapes for `config` before any data is read (the vocabulary is the
    /// configured maximum until the tokenizer is known).
    public func modelInputs(vocabulary: Int? = nil) -> ModelInputs {
        let settings = preprocessingSettings
        var inputs = ModelInputs()
        if let image = settings.image { inputs.image = image.shape }
        if let audio = settings.audio { inputs.audio = audio.shape }
        inputs.textLength = preprocessing.text.maxLength
        inputs.vocabulary = vocabulary ?? preprocessing.text.maxVocabulary
        return inputs
    }
}
