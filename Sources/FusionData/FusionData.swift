// FusionData: turns dataset folders of text, PNG images and audio into tensors.
//
// The path of one sample, and the file for each step (the decoders and signal front ends it
// calls live in FusionMedia, which this module re-exports):
//   Dataset.swift           dataset.json + samples.jsonl, validated line by line; DatasetWriter
//   DatasetImporter         `fusionlab import`: tables and class folders into a dataset folder
//   CSV                     RFC 4180 reading (the importer's tables, predictions.csv read back)
//   BasicTokenizer          BERT normalisation and pre-tokenisation
//   WordPiece               BERT WordPiece (Hugging Face-compatible ids); WordVocabulary
//   Preprocessing           per-modality settings (part of the cache key; hashed with FusionTensor.Hash64);
//                           image centre crop + resize, audio trimming + fitted features
//   FeatureCache(+Builder)  one binary file per split, memory-mapped, checked, rebuilt when stale
//   BatchLoader             seeded shuffling, drop-last, on-the-fly augmentation, prefetch
//   MultipartForm           multipart/form-data bodies (uploads to `fusionlab serve`)

@_exported import FusionCore
@_exported import FusionMedia
