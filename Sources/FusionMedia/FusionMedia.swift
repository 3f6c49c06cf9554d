// FusionMedia: media files to tensors, and the signal front ends, below the dataset layer.
//
//   PNGDecoder/PNGEncoder   libpng through CPNG (setjmp kept inside C), [C, H, W] in [0, 1]
//   ImageDecoder            PNG or JPEG (libjpeg-turbo) by content
//   ImageTransforms         resize (Pillow's bilinear / bicubic / box in float, OpenCV's area), crops, normalise, flip, rotate
//   ImageAugmentation       seeded random crop/flip/rotation/jitter/noise
//   AudioFile               libsndfile read/write, mono mix-down, libsoxr resampling, pad/trim/mask
//   AudioAugmentation       seeded gain/shift/noise at an SNR, SpecAugment masking
//   MelFilterbank, MFCC     librosa-compatible MFCC or log-mel (libavutil real FFT), Essentia's front end
//                           options; Deltas; `fitted` lays a clip's features into a fixed window, padding 0
//   Corruptions             the robustness protocol's noise per modality
//   FusionDataError         errors naming file and line; FileIO (reads, atomic writes)

@_exported import FusionCore
