import FusionData
import FusionModels

// The `preprocessing` section of the experiment format: how text, images and audio become the
// encoders' inputs (the settings FusionData's Preprocessing types are built from by ExperimentData).

/// Text preprocessing.
public struct TextPreprocessingConfig: Codable, Equatable, Sendable {
    @Doc("word: lower-cased words with a vocabulary built from the training split; wordpiece: BERT WordPiece with the vocab file (as Hugging Face tokenizers).")
    public var tokenizer: TokenizerKind = .word
    @Doc("vocab.txt of the wordpiece tokenizer, relative to this file (a pretrained model's folder holds one); for the word tokenizer, a fixed vocabulary (one word a line, [PAD] and [UNK] first) instead of one built from the training split.")
    public var vocab = ""
    @Doc("Tokens per text: longer texts are truncated, shorter ones padded (padding is masked).")
    public var maxLength = 16
    @Doc("Word tokenizer: a word enters the vocabulary when it occurs at least this often in the training split.")
    public var minFrequency = 1
    @Doc("Word tokenizer: the most frequent words kept (the rest map to the unknown token).")
    public var maxVocabulary = 5000
    /// A configuration with every default.
    public init() {}
}

/// Image preprocessing and augmentation.
public struct ImagePreprocessingConfig: Codable, Equatable, Sendable {
    @Doc("Height in pixels images are resized to (with the resize filter).")
    public var height = 32
    @Doc("Width in pixels images are resized to.")
    public var width = 32
    @Doc("Resize filter: bilinear, bicubic or box as Pillow's Image.resize (antialiased when shrinking, in floating point; bilinear is torchvision's Resize default), or area (OpenCV's INTER_AREA). Applied to the decoded image in [0, 1], before normalisation.")
    public var resize: ImageTransforms.ResizeMethod = .bilinear
    @Doc("Before resizing, keep a centred square of this fraction of the shorter side (0: the whole image), as the TensorFlow EfficientNet evaluation crop: side int(f · min(h, w)), offset (h − side + 1) / 2.")
    public var centerCrop = 0.0
    @Doc("Channels images are decoded to: grey (ITU-R 601 luma) or rgb, with transparency composited onto white; or rgba, alpha kept as a fourth channel.")
    public var color: ImageDecodeOptions.ColorMode = .grey
    @Doc("Per-channel mean subtracted after augmentation (one value for grey, three for RGB; empty: no normalisation).")
    public var mean: [Float] = [0.5]
    @Doc("Per-channel standard deviation divided by after subtracting the mean (as many values as mean).")
    public var std: [Float] = [0.25]
    @Doc("Seeded image augmentation applied on the fly to training batches (validation and test images are never augmented).")
    public var augment = ImageAugmentConfig()
    /// A configuration with every default.
    public init() {}
}

/// Image augmentation (all off by default).
public struct ImageAugmentConfig: Codable, Equatable, Sendable {
    @Doc("Random crop back to the image size after zero padding of this many pixels on each side (0: off).")
    public var cropPadding = 0
    @Doc("Probability of flipping a training image horizontally.")
    public var flip: Float = 0
    @Doc("Largest random rotation in degrees, either way (bilinear, zero fill).")
    public var rotation: Float = 0
    @Doc("Brightness jitter: a random offset in [-b, b] added to every pixel of a training image.")
    public var brightness: Float = 0
    @Doc("Contrast jitter: pixels scaled about their mean by a random factor in [1 - c, 1 + c].")
    public var contrast: Float = 0
    @Doc("Standard deviation of Gaussian noise added to training images (pixel values are in [0, 1]).")
    public var noise: Float = 0
    /// A configuration with every default.
    public init() {}
}

/// Audio preprocessing (MFCC) and augmentation.
public struct AudioPreprocessingConfig: Codable, Equatable, Sendable {
    @Doc("Rate in Hz every clip is resampled to (libsoxr) before its MFCCs are computed.")
    public var sampleRate = 8000
    @Doc("Clip length in seconds: longer clips are trimmed; the features of shorter ones are computed on the real clip, then padded with zero frames, which are masked.")
    public var duration = 0.5
    @Doc("STFT FFT size in samples (and the window's length unless win_length says otherwise).")
    public var nFft = 256
    @Doc("Samples between the starts of successive STFT frames.")
    public var hopLength = 128
    @Doc("Mel filters between fmin and fmax, on `mel_scale` and scaled as `mel_norm` (librosa's defaults: Slaney's scale and area normalisation); log power compressed as `compression`.")
    public var nMels = 32
    @Doc("MFCC coefficients kept (DCT-II of the log-mel spectrum, orthonormal); at most n_mels.")
    public var nMfcc = 13
    @Doc("Delta features appended to the MFCCs: 0 none, 1 deltas, 2 deltas and delta-deltas (librosa.feature.delta, width 9, mode interp over the real frames; a clip of fewer than 9 frames uses mode nearest).")
    public var deltas = 0
    @Doc("Standardise each coefficient (and delta) of each clip over its real frames (zero mean, unit population variance); padded frames stay 0.")
    public var standardize = true
    @Doc("What the front end outputs: mfcc (n_mfcc cepstral coefficients) or log_mel (the n_mels log-mel spectrogram in dB, times log_scale plus log_offset).")
    public var features: MFCCSettings.Output = .mfcc
    @Doc("Hann window length in samples, centred in n_fft (0: n_fft).")
    public var winLength = 0
    @Doc("Lowest mel filter edge in Hz.")
    public var fmin = 0.0
    @Doc("Highest mel filter edge in Hz (0: sample_rate / 2).")
    public var fmax = 0.0
    @Doc("Centre frames on their sample with n_fft/2 zeros at both ends (librosa's center=True); false: frames start at 0 and stop before the clip ends.")
    public var center = true
    @Doc("How frames are padded at both ends when `center` is true: constant (zeros; librosa ≥ 0.9) or reflect (numpy's mirror; librosa < 0.9).")
    public var padMode: MFCCSettings.PadMode = .constant
    @Doc("The mel scale: slaney (Auditory Toolbox: linear below 1 kHz; librosa's htk=False) or htk (2595 log10(1 + f / 700)).")
    public var melScale: MelScale = .slaney
    @Doc("How each mel filter is scaled: slaney (area normalisation; librosa's norm=\"slaney\"), sum (weights sum to 1; librosa's norm=1, Essentia's unit_sum) or none (peak 1).")
    public var melNorm: MelNorm = .slaney
    @Doc("How mel power becomes a log value: db (10 log10(max(1e-10, power)), then the top_db floor; librosa's power_to_db) or log10_1p (log10(1 + log_gain × power); Essentia's shift_scale_log).")
    public var compression: MFCCSettings.Compression = .db
    @Doc("compression log10_1p: the power's gain inside the logarithm.")
    public var logGain = 10_000.0
    @Doc("The analysis window: hann (periodic; librosa, scipy) or hann_symmetric (Essentia's \"hann\").")
    public var window: MFCCSettings.Window = .hann
    @Doc("With center true, how many frames a clip of n samples gives (frame t centred on sample t × hop_length): librosa (1 + n // hop_length) or essentia (every frame that starts before the clip ends: ceil((n + n_fft / 2) / hop_length), Essentia's FrameCutter).")
    public var framing: MFCCSettings.Framing = .librosa
    @Doc("Where the mel filters are triangles: hz (linear in hertz between mel-spaced edges; librosa) or mel (linear in mels; Essentia's MelBands with weighting \"warping\").")
    public var melTriangles: MelFilterbank.Triangles = .hz
    @Doc("compression db: dynamic range kept below the clip's loudest mel bin, in dB (0: no floor).")
    public var topDb = 80.0
    @Doc("Samples are multiplied by this before the STFT (32768: 16-bit integer scale, as openWakeWord's front end).")
    public var inputScale = 1.0
    @Doc("log_mel: the compressed values (dB, or log10_1p's) are multiplied by this…")
    public var logScale = 1.0
    @Doc("log_mel: …and this is added.")
    public var logOffset = 0.0
    @Doc("SpecAugment: time masks (runs of frames set to zero) per training clip.")
    public var timeMasks = 0
    @Doc("SpecAugment: the longest time mask, in frames.")
    public var maxTimeWidth = 0
    @Doc("SpecAugment: frequency masks (runs of coefficients set to zero) per training clip.")
    public var frequencyMasks = 0
    @Doc("SpecAugment: the widest frequency mask, in coefficients.")
    public var maxFrequencyWidth = 0
    /// A configuration with every default.
    public init() {}
}

/// All preprocessing.
public struct PreprocessingConfig: Codable, Equatable, Sendable {
    @Doc("How text becomes token ids.")
    public var text = TextPreprocessingConfig()
    @Doc("How images become [C, H, W] tensors, and their augmentation.")
    public var image = ImagePreprocessingConfig()
    @Doc("How audio becomes an MFCC matrix [coefficients, frames], and its augmentation.")
    public var audio = AudioPreprocessingConfig()
    /// A configuration with every default.
    public init() {}
}
