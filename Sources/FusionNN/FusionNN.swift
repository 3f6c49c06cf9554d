// FusionNN: modules with PyTorch's parameter names, and their checkpoints.
//
//   Module        parameters, buffers and children by reflection under dotted keys; freeze, train/eval
//   Layers        Linear, Conv1d/2d, BatchNorm, LayerNorm, Embedding, Dropout; `SwappedLayer` (int8 plugs in here)
//   Attention     multi-head attention as torch.nn.MultiheadAttention
//   Transformer   the Transformer encoder layer
//   Recurrent     multi-layer, bidirectional GRU and LSTM
//   Losses        cross-entropy, binary cross-entropy, MSE, KL divergence (distillation)
//   Pruning       the Zhu–Gupta magnitude pruner
//   Safetensors   reading and writing .safetensors (sizes checked)
