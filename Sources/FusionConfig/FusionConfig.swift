// FusionConfig: the experiment format. A JSON file becomes a typed, validated ExperimentConfig
// before any data is read; this module knows no trainer.
//
//   ExperimentConfig        the typed format: dataset, model (from FusionModels), training, transfer,
//                           distillation, evaluation, comparison and sweep sections, each option with its @Doc
//   PreprocessingConfig     the preprocessing section (text, image, audio and their augmentation)
//   ConfigPreprocessing     what that section means for FusionData's front ends and the encoders' inputs
//   ConfigLoader            files, `extends`, `--set`, preset defaults, strict JSON with line and column
//   ConfigValidation        every check with its JSON path: ranges, shapes (LayerPlan), files, memory
//   ConfigSchema            JSON Schema and docs/experiment-format.md, generated from the types
//   PreprocessingDescription what a client must do to raw files (model.onnx.json, GET /v1/model)
