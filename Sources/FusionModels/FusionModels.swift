// FusionModels: the model a configuration describes. Inputs are FusionCore batches; it links no
// codec library and not oneDNN.
//
//   Configuration          the model half of the experiment format; `MultimodalClassifier.build` from it
//   Documented             `@Doc`: options documented on their declarations
//   Inputs                 `ModalityEncoder`
//   Stack/                 encoders as layer stacks: LayerSpec (kinds and settings) → LayerPlan (shapes,
//                          parameters) → LayerStack/StackEncoder (modules); Presets (incl. pretrained)
//   Encoders/BertEncoder   pretrained BERT-style text encoders
//   Fusions/               one file per fusion strategy (class, `make`, ONNX form); FusionStrategy holds
//                          the protocol and the registry (`FusionKind.strategy`)
//   Heads                  the shared MLP head
//   MultimodalClassifier   encoders + fusion + head, modality dropout, cost report
//   ReferenceNetwork       the convolutional reference encoder of the benchmarks
//   Naming                 snake_case keys
