// FusionTensor: float32 tensors, their ops with backward beside forward, and the compute plumbing.
//
//   Tensor            storage, shapes, creation, `backward()`
//   Autograd          the tape: recorded ops and gradient accumulation; `withNoGrad`
//   Elementwise       broadcasting arithmetic and activations (forward and backward)
//   Reductions        sums, means, maxima over axes
//   ShapeOps          reshape, transpose, concat, slicing
//   Indexing          integer tensors (token ids, labels), gather, embedding lookup
//   MatMul            GEMM on OpenBLAS, `linear`; `BLASCore` (the OpenBLAS core check)
//   Convolution       im2col conv1d/conv2d with fused bias and ReLU
//   Depthwise         depthwise convolution on CFusionKernels
//   Pooling           max/average pooling, global pools
//   Normalization     batch norm and layer norm
//   Softmax           softmax, log-softmax
//   Recurrent         GRU/LSTM over a whole sequence as one op
//   Vectorized        SIMD helpers (sums, axpy)
//   Parallel          `Threading`: the worker pool and the thread count
//   KernelISA         which instruction set the C kernels run with
//   Random            seeded xoshiro256** and the normal/uniform fills
//   Hash64, Locked, AtomicFile   hashing, a mutex-guarded value, atomic file writes
