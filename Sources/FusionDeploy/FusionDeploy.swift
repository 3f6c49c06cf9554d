// FusionDeploy: a finished run's model outside training.
//
//   OnnxExport              `fusionlab export onnx`: model.onnx, model.onnx.json (the preprocessing a
//                           client repeats) and reference inputs and outputs for onnx_check.py
//   OnnxExporter            the whole fused model (encoders, fusion, head) as ONNX opset 17
//   OnnxFusion              the graph operations each fusion strategy writes its ONNX form with
//   OnnxGraph               a hand-written protobuf writer for ModelProto
//   FeatureExport           encoder outputs of every sample, for analysis outside FusionLab
//   Predictor               InferenceModel: raw files or uploads to probabilities (predict, serve)
