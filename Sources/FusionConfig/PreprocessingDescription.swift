import Foundation
import FusionData

/// Every setting a client needs to turn raw files into a model's inputs, under the experiment
/// format's key names (`n_fft`, not `nFft`), with the steps in order and the reference calls that
/// reproduce them. `model.onnx.json` and `fusionlab serve`'s `GET /v1/model` carry it;
/// `scripts/onnx_check.py --raw` builds inputs from it alone.
public enum PreprocessingDescription {
    /// The description of `settings` (the run's effective preprocessing) for `config`'s tokenizer.
    public static func json(_ settings: PreprocessingSettings, config: ExperimentConfig) -> [String: Any] {
        var out: [String: Any] = [:]
        if let image = settings.image {
            var entry: [String: Any] = [
                "color": image.colorMode.rawValue,
                "height": image.height, "width": image.width,
                "resize": image.resize.rawValue, "center_crop": image.centerCrop,
                "mean": image.mean ?? [], "std": image.std ?? [],
                "shape": image.shape,
                "steps": [
                    "decode the PNG or JPEG",
                    "convert colours: grey = Pillow's convert(\"L\") (8-bit ITU-R 601 luma, (19595 R + 38470 G + 7471 B + 32768) >> 16); rgb = convert(\"RGB\"); transparency composited onto white in float, luma unrounded",
                    "scale to [0, 1]: / 255 (16-bit PNG: / 65535)",
                    image.centerCrop > 0 && image.centerCrop < 1
                        ? "centre crop: a square of side int(center_crop * min(h, w)) at offset ((h - side + 1) // 2, (w - side + 1) // 2)"
                        : "no crop",
                    image.resize == .area
                        ? "resize to height x width by area averaging (OpenCV INTER_AREA), in float"
                        : "resize to height x width with Pillow's \(image.resize.rawValue.uppercased()) filter on the float image (Image.fromarray(x, mode=\"F\").resize((width, height), Image.\(image.resize.rawValue.uppercased()))), per channel",
                    image.mean == nil ? "no normalisation" : "normalise each channel: (x - mean[c]) / std[c]",
                    "lay out as [channels, height, width], float32",
                ],
            ]
            if image.mean == nil { entry["mean"] = []; entry["std"] = [] }
            out["image"] = entry
        }
        if let audio = settings.audio {
            let m = audio.mfcc
            out["audio"] = [
                "sample_rate": m.sampleRate, "resampling": "soxr HQ (librosa's res_type \"soxr_hq\")", "channels": "mean of the channels",
                "duration": audio.durationSeconds, "samples": audio.sampleCount,
                "n_fft": m.nFFT, "win_length": m.window, "hop_length": m.hopLength, "window": m.windowShape == .hann ? "hann (periodic)" : "hann (symmetric)",
                "center": m.center, "pad_mode": m.padMode.rawValue, "framing": m.framing.rawValue, "mel_triangles": m.melTriangles.rawValue,
                "n_mels": m.nMels, "mel_scale": m.melScale.rawValue, "mel_norm": m.melNorm.rawValue,
                "fmin": m.fMin, "fmax": m.fMax ?? Double(m.sampleRate) / 2, "power": 2.0,
                "compression": m.compression.rawValue, "log_gain": m.logGain,
                "ref": m.ref, "amin": m.amin, "top_db": m.topDB.map { $0 as Any } ?? NSNull(),
                "features": m.output.rawValue, "input_scale": m.inputScale, "log_scale": m.logScale, "log_offset": m.logOffset,
                "n_mfcc": m.nMFCC, "dct": "type 2, orthonormal (features mfcc)",
                "deltas": m.deltaOrder, "delta_width": m.deltaWidth, "delta_mode": "interp; nearest when the clip has fewer than delta_width frames",
                "standardize": m.standardize,
                "standardize_over": "each row over the clip's real frames (mean, population standard deviation; a row of variance below 1e-10 is only centred)",
                "frames": audio.shape[1], "shape": audio.shape,
                "padding": "features are computed on the real clip (trimmed to `samples`), then zero frames are appended up to `frames`; audio_mask is 1 for the real frames",
                "librosa": "y = librosa.load(path, sr=sample_rate, mono=True)[0][:samples]; m = librosa.feature.mfcc(y=y, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length, n_mels=n_mels, n_mfcc=n_mfcc, fmin=fmin, fmax=fmax, htk=(mel_scale == 'htk'), center=center, pad_mode=pad_mode, top_db=top_db, norm={'slaney': 'slaney', 'sum': 1, 'none': None}[mel_norm]); compression log10_1p: np.log10(1 + log_gain * librosa.feature.melspectrogram(...)) in place of power_to_db; then deltas (librosa.feature.delta), standardisation and padding as stated",
            ] as [String: Any]
        }
        if settings.text != nil {
            let t = config.preprocessing.text
            var entry: [String: Any] = ["tokenizer": t.tokenizer.rawValue, "max_length": t.maxLength, "pad_id": 0]
            switch t.tokenizer {
            case .word:
                entry["steps"] = [
                    "BERT's basic tokenizer (Hugging Face tokenizers: BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True), then BertPreTokenizer)",
                    "each word's line number in vocab.txt is its id ([PAD] = 0, [UNK] = 1 for unknown words)",
                    "keep the first max_length ids, pad with 0; text_mask is 1 for real tokens",
                ]
            case .wordpiece:
                entry["steps"] = [
                    "BertWordPieceTokenizer(vocab.txt, lowercase=True) with [CLS] and [SEP]",
                    "truncate to max_length tokens (specials included) and pad with [PAD]; text_mask is the attention mask",
                ]
            }
            out["text"] = entry
        }
        return out
    }
}
