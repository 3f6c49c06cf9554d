// FusionData: turns dataset folders of text, PNG images and audio into tensors.
//
// The path of one sample, and the file for each step:
//   Dataset.swift           dataset.json + samples.jsonl, validated line by line; DatasetWriter
//   PNGDecoder/PNGEncoder   libpng through CPNG (setjmp kept inside C), [C, H, W] in [0, 1]
//   ImageTransforms         resize (Pillow's bilinear / bicubic / box in float, OpenCV's area), crops, normalise, flip, rotate
//   ImageAugmentation       seeded random crop/flip/rotation/jitter/noise
//   AudioFile               libsndfile read/write, mono mix-down, libsoxr resampling, pad/trim/mask
//   AudioAugmentation       seeded gain/shift/noise at an SNR, SpecAugment masking
//   MelFilterbank, MFCC     librosa-compatible MFCC or log-mel (libavutil real FFT), Deltas; `fitted` lays a
//                           clip's features (computed on the real clip) into a fixed window, padding 0
//   BasicTokenizer          BERT normalisation and pre-tokenisation
//   WordPiece               BERT WordPiece (Hugging Face-compatible ids); WordVocabulary
//   Preprocessing           per-modality settings (part of the cache key; hashed with FusionTensor.Hash64);
//                           image centre crop + resize, audio trimming + fitted features
//   FeatureCache(+Builder)  one binary file per split, memory-mapped, checked, rebuilt when stale
//   BatchLoader             seeded shuffling, drop-last, on-the-fly augmentation, prefetch
//   FusionDataError         errors naming file and line; FileIO (reads, atomic writes)

@_exported import FusionCore
