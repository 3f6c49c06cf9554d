// FusionInt8: int8 inference on oneDNN. Only modules that make or load int8 runs link it.
//
//   Quantization       per-channel int8 weights, activation quantization, calibration ranges
//   OneDNN             the oneDNN runtime and its errors
//   Int8Kernels        matmul/convolution/pooling kernels on codes, quantize/dequantize
//   QuantizedLayers    QuantizedLinear, QuantizedConv2d: swapped into float layers
//   Int8Quantization   calibrate and quantize a model; int8 checkpoints
//   Int8Stacks         `LayerStack.compileInt8`: int8 runs on codes end to end
