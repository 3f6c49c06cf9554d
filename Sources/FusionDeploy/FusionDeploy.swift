// FusionDeploy: a finished run's model outside training.
//
//   OnnxExport              `fusionlab export onnx`: model.onnx, model.onnx.json (the preprocessing a
//                           client repeats) and reference inputs and outputs for onnx_check.py
//   OnnxExporter, OnnxFusion the whole fused model (encoders, fusion, head) as ONNX opset 17
//   OnnxGraph               a hand-written protobuf writer for ModelProto
//   FeatureExport           encoder outputs of every sample, for analysis outside FusionLab
//   Predictor               InferenceModel: raw files or uploads to probabilities (predict, serve)
