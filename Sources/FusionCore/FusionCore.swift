// FusionCore: the vocabulary every module shares.
//
//   Errors       ExperimentError (errors that name the file, line or JSON path), atomic writes
//   Vocabulary   Modality, Split, ConfigChoice, and the batch type (MultimodalBatch, ModalityInput)
