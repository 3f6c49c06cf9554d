// FusionLab's hand-vectorised kernels, compiled for several x86 instruction sets in one binary
// and chosen once at start-up from what the CPU supports (never -march=native): AVX-512F,
// AVX2 with FMA, or the baseline every x86-64 (and every other) CPU runs. The environment
// variable FUSIONLAB_ISA (avx512, avx2 or baseline) caps the choice, for measuring and testing
// each path on one machine.
#ifndef FUSION_KERNELS_H
#define FUSION_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The geometry of a depthwise convolution over one sample laid out channels-last: input
/// [h, w, channels], output [out_h, out_w, channels], taps [kernel_h · kernel_w, channels].
typedef struct {
    int h, w, channels;
    int out_h, out_w;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dilation_h, dilation_w;
} fl_depthwise_geometry;

/// The instruction set the kernels use: "avx512", "avx2" or "baseline".
const char *fl_kernels_isa(void);

/// Switches to the instruction set `name` ("avx512", "avx2" or "baseline") when the CPU has it:
/// returns 1, or 0 and changes nothing. For tests that compare the paths; not thread-safe.
int fl_kernels_use_isa(const char *name);

/// dst[c · rows + r] = src[r · columns + c] for rows r0 ..< r1 of a row-major rows × columns
/// matrix (8 × 8 blocks in registers with AVX2, inside 32 × 32 tiles that stay in cache).
void fl_transpose(const float *src, float *dst, int rows, int columns, int r0, int r1);

/// Forward over channels [c0, c1) of one sample: y = bias + Σ taps · x (bias may be NULL).
void fl_depthwise_nhwc_forward(const fl_depthwise_geometry *g, const float *x, const float *taps, const float *bias,
                               float *y, int c0, int c1);

/// Forward of planes first ..< end laid out channels-first: x [planes, h, w], taps [channels,
/// kernel_h · kernel_w], bias [channels] or NULL, y [planes, out_h, out_w]; plane p is channel
/// p % channels. Vectorised along output rows, or along whole planes for small "same" ones.
void fl_depthwise_planes_forward(const fl_depthwise_geometry *g, const float *x, const float *taps, const float *bias, float *y,
                                 int first, int end);

/// Whether `fl_depthwise_planes_backward` handles this geometry on this CPU: stride 1 with
/// "same" padding on planes of at most 256 pixels, with AVX-512.
int fl_depthwise_planes_flat(const fl_depthwise_geometry *g);

/// Backward, channels-first, for channels first ..< end over all `batch` samples: writes ∂L/∂x
/// (grad_x [batch, channels, h, w]) and adds ∂L/∂taps and ∂L/∂bias (each may be NULL), samples
/// summed in order. Returns 0 (doing nothing) when `fl_depthwise_planes_flat` is 0.
int fl_depthwise_planes_backward(const fl_depthwise_geometry *g, int batch, const float *x, const float *taps, const float *grad_y,
                                 float *grad_x, float *grad_taps, float *grad_bias, int first, int end);

/// Backward over channels [c0, c1) of one sample: adds ∂L/∂taps into grad_taps and ∂L/∂x into
/// grad_x (either may be NULL), given ∂L/∂y. Every sum runs in the same order whatever the
/// channel range, so splitting channels between threads never changes a result.
void fl_depthwise_nhwc_backward(const fl_depthwise_geometry *g, const float *x, const float *taps, const float *grad_y,
                                float *grad_x, float *grad_taps, int c0, int c1);

/// 2×2 max pooling with stride 2 over planes p0 ..< p1 of x [planes, h, w]: y [planes, ho, wo]
/// and the plane-relative index of each window's first maximum in `argmax`.
void fl_maxpool2x2_forward(const float *x, float *y, int32_t *argmax, int p0, int p1, int h, int w, int ho, int wo);

/// Its backward over planes p0 ..< p1: writes every value of grad_x [planes, h, w] (the
/// gradient at each window's maximum, 0 elsewhere), so grad_x need not be zeroed first.
void fl_maxpool2x2_backward(const float *grad_y, const int32_t *argmax, float *grad_x, int p0, int p1, int h, int w, int ho, int wo);

/// A convolution's epilogue, 2×2 max pooling over its GEMM output: for planes 0 ..< planes of x
/// (plane p at x + p·x_stride, [h, w]), y plane p (at y + p·y_stride, [ho, wo]) is the window
/// maximum of x + bias, through ReLU when `relu`; `argmax` (laid out as y) holds the
/// plane-relative index of each window's first maximum, or is NULL when no backward pass will
/// need it. The same values and positions as conv → bias → ReLU → `fl_maxpool2x2_forward`,
/// without writing the convolution's output.
void fl_conv_epilogue_pool2x2_forward(const float *x, long x_stride, float bias, int relu, float *y, int32_t *argmax, long y_stride,
                                      int planes, int h, int w, int ho, int wo);

/// Its backward: writes every value of grad_x's planes (plane p at grad_x + p·x_stride): the
/// window's gradient at its maximum and 0 elsewhere; with `gate` (the epilogue's ReLU output,
/// laid out as grad_y) a window whose output is not positive passes nothing.
void fl_conv_epilogue_pool2x2_backward(const float *grad_y, const float *gate, const int32_t *argmax, long y_stride, float *grad_x,
                                       long x_stride, int planes, int h, int w, int ho, int wo);

/// Floats of the `pack` scratch `fl_conv_gemm` needs for an m × k left operand.
long fl_conv_gemm_pack_size(int m, int k);

/// C = A·B for a convolution: C [m, n] and B [k, n] row-major (leading dimensions ldc, ldb),
/// A [m, k] with A[i, kk] at a[i·ars + kk·acs] (so a transposed A needs no copy). For a short
/// inner dimension (k up to a few hundred): B is read in place and only A is packed, into
/// `pack` (`fl_conv_gemm_pack_size` floats). Each C[i, j] is the fused multiply-add chain
/// over kk = 0, 1, … from 0: the same bits on every instruction set.
void fl_conv_gemm(int m, long n, int k, const float *a, long ars, long acs, const float *b, long ldb, float *c, long ldc,
                  float *pack);

/// Floats of the `partial` scratch `fl_conv_gemm_dots` needs for an m1 × m2 result.
long fl_conv_gemm_dots_scratch(int m1, int m2);

/// C += A·Bᵀ for a convolution's weight gradient: A [m1, k] and B [m2, k] row-major (leading
/// dimensions lda, ldb), a long k. Each C[i, j] gets Σₚ A[i, p]·B[j, p] summed in 16 lanes
/// (lane l takes p ≡ l mod 16 in order, by fused multiply-adds), the lanes then added
/// pairwise: the same bits on every instruction set.
void fl_conv_gemm_dots(int m1, int m2, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                       float *partial);

/// One Adam (or AdamW) step's constants, as torch.optim.Adam computes them.
typedef struct {
    float beta1, beta2, eps;
    /// L2 weight decay added to the gradient (Adam) and the factor the parameter shrinks by (AdamW; else 1).
    float l2, decay;
    /// lr / (1 − β1ᵗ) and √(1 − β2ᵗ).
    float step_size, bias_correction2_sqrt;
} fl_adam_step;

/// The Adam update of n parameters in one pass: g += l2·p; p *= decay; m = β1·m + (1−β1)·g;
/// v = β2·v + (1−β2)·g²; p −= step_size·m / (√v / bias_correction2_sqrt + eps). No fused
/// multiply-add, so every ISA gives the same bits.
void fl_adam(const fl_adam_step *step, float *p, const float *g, float *m, float *v, long n);

#ifdef __cplusplus
}
#endif

#endif
