// Loops of training that are not GEMM, at the width of the CPU: 2×2 max pooling forward and
// backward (the backward writes every input gradient once, with no zeroing pass), also as a
// convolution's epilogue (bias, ReLU and pooling over the GEMM output in one pass), and the Adam
// update over a parameter in one pass. Every kernel gives the same bits under every instruction
// set: pooling only compares and copies, and Adam uses no fused multiply-add (contraction is off
// in this file), only IEEE-exact square root and division. (im2col and col2im in C, compiled per
// instruction set, measured no faster than the Swift loops: memory, not width, bounds them.)
#include "fusion_kernels.h"
#include "kernels_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define FL_X86_64 1
#endif

#pragma clang fp contract(off)

// MARK: - 2×2 max pooling, stride 2

// One row of windows at a time: the baseline's rows below in plain C, AVX2's and AVX-512's with
// intrinsics, and one plane loop around them (FL_POOL_VARIANTS) with the epilogue a constant in
// each copy. Ties go to the first maximum in row-major order, as PyTorch; NaN never wins a
// comparison. Every variant makes the same comparisons and selects in the same order, so the
// bits are the same on every instruction set.
//
// A convolution's epilogue runs the same rows over its GEMM output, with the bias added to each
// value before the comparisons (so ties are those of PyTorch's conv → ReLU → pool, rounding
// included) and ReLU on the window's maximum: max(relu(v)) = relu(max(v)), and when the maximum
// is positive its first position is the same either way.
enum { FL_POOL_PLAIN = 0, FL_POOL_BIAS = 1, FL_POOL_BIAS_RELU = 2 };

/// The windows of rows r0 and r1 (r1 = r0 + w) into `o` and, unless `ao` is NULL, their maxima's
/// plane positions (`base` is r0's) into `ao`.
static inline __attribute__((always_inline)) void
pool_row_forward_baseline(const float *r0, const float *r1, float *o, int32_t *ao, int32_t base, int w, int wo, float bias,
                          const int epilogue) {
    for (int ow = 0; ow < wo; ow++) {
        float x0 = r0[2 * ow], x1 = r0[2 * ow + 1], x2 = r1[2 * ow], x3 = r1[2 * ow + 1];
        if (epilogue != FL_POOL_PLAIN) { x0 += bias; x1 += bias; x2 += bias; x3 += bias; }
        int top = x1 > x0, bottom = x3 > x2;
        float m0 = top ? x1 : x0, m1 = bottom ? x3 : x2;
        int32_t j0 = base + 2 * ow + top, j1 = base + w + 2 * ow + bottom;
        int lower = m1 > m0;
        float m = lower ? m1 : m0;
        if (epilogue == FL_POOL_BIAS_RELU) m = m > 0.0f ? m : 0.0f;
        o[ow] = m;
        if (ao) ao[ow] = lower ? j1 : j0;
    }
}

/// A row of window gradients `g` back into rows r0 and r1, each value at its window's maximum
/// and 0 at the window's other three places; with `gated`, a window whose `open` (the
/// epilogue's ReLU output) is not positive passes nothing.
static inline __attribute__((always_inline)) void
pool_row_backward_baseline(const float *g, const float *open, const int32_t *ai, float *r0, float *r1, int32_t base, int w, int wo,
                           const int gated) {
    for (int ow = 0; ow < wo; ow++) {
        int32_t k = ai[ow] - base - 2 * ow;
        float v = g[ow];
        if (gated) v = open[ow] > 0.0f ? v : 0.0f;
        r0[2 * ow] = k == 0 ? v : 0.0f;
        r0[2 * ow + 1] = k == 1 ? v : 0.0f;
        r1[2 * ow] = k == w ? v : 0.0f;
        r1[2 * ow + 1] = k == w + 1 ? v : 0.0f;
    }
}

#define FL_POOL_FORWARD_ARGS                                                                                  \
    const float *x, long x_stride, float *y, long y_stride, int32_t *argmax, int p0, int p1, int h, int w,    \
        int ho, int wo, float bias, int relu
#define FL_POOL_BACKWARD_ARGS                                                                                 \
    const float *grad_y, long y_stride, const float *gate, const int32_t *argmax, float *grad_x, long x_stride, \
        int p0, int p1, int h, int w, int ho, int wo

#if FL_X86_64
// The same rows with intrinsics. Rows are short (3 to 16 windows in the usual networks), too
// short for the vectoriser's loops, whose set-up and scalar tails cost more than the work: here
// the even and odd columns are split with permutes, and a row's tail is a masked load and store.
// Every comparison and select is the scalar body's, in its order, so the bits are the same.

/// Lanes `0 ..< count` (clamped to 0 ... 8) set, for AVX2's masked loads and stores.
__attribute__((target("avx2,fma"))) static inline __m256i lanes_avx2(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// [a0 a2 a4 a6 b0 b2 b4 b6] (`odd`: the odd lanes) of two vectors of 8.
__attribute__((target("avx2,fma"))) static inline __m256 split_avx2(__m256 a, __m256 b, int odd) {
    __m256 t = odd ? _mm256_shuffle_ps(a, b, 0xDD) : _mm256_shuffle_ps(a, b, 0x88);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0xD8));
}

__attribute__((target("avx2,fma"))) static inline void
pool_row_forward_avx2(const float *r0, const float *r1, float *o, int32_t *ao, int32_t base, int w, int wo, float bias, int epilogue) {
    const __m256 vbias = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
    const __m256i twice_lane = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for (int ow = 0; ow < wo; ow += 8) {
        const int n = wo - ow < 8 ? wo - ow : 8;
        const __m256i lo = lanes_avx2(2 * n), hi = lanes_avx2(2 * n - 8), out = lanes_avx2(n);
        __m256 a0 = _mm256_maskload_ps(r0 + 2 * ow, lo), b0 = _mm256_maskload_ps(r0 + 2 * ow + 8, hi);
        __m256 a1 = _mm256_maskload_ps(r1 + 2 * ow, lo), b1 = _mm256_maskload_ps(r1 + 2 * ow + 8, hi);
        __m256 x0 = split_avx2(a0, b0, 0), x1 = split_avx2(a0, b0, 1), x2 = split_avx2(a1, b1, 0), x3 = split_avx2(a1, b1, 1);
        if (epilogue != FL_POOL_PLAIN) {
            x0 = _mm256_add_ps(x0, vbias); x1 = _mm256_add_ps(x1, vbias);
            x2 = _mm256_add_ps(x2, vbias); x3 = _mm256_add_ps(x3, vbias);
        }
        __m256 top = _mm256_cmp_ps(x1, x0, _CMP_GT_OQ), bottom = _mm256_cmp_ps(x3, x2, _CMP_GT_OQ);
        __m256 m0 = _mm256_blendv_ps(x0, x1, top), m1 = _mm256_blendv_ps(x2, x3, bottom);
        __m256 lower = _mm256_cmp_ps(m1, m0, _CMP_GT_OQ);
        __m256 m = _mm256_blendv_ps(m0, m1, lower);
        if (epilogue == FL_POOL_BIAS_RELU) m = _mm256_max_ps(m, zero);  // m > 0 ? m : 0
        // The comparisons' all-ones lanes are −1: subtracting them adds the column offset.
        __m256i j = _mm256_add_epi32(_mm256_set1_epi32(base + 2 * ow), twice_lane);
        __m256i j0 = _mm256_sub_epi32(j, _mm256_castps_si256(top));
        __m256i j1 = _mm256_sub_epi32(_mm256_add_epi32(j, _mm256_set1_epi32(w)), _mm256_castps_si256(bottom));
        __m256i jm = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(j0), _mm256_castsi256_ps(j1), lower));
        _mm256_maskstore_ps(o + ow, out, m);
        if (ao) _mm256_maskstore_epi32(ao + ow, out, jm);
    }
}

__attribute__((target("avx2,fma"))) static inline void
pool_row_backward_avx2(const float *g, const float *open, const int32_t *ai, float *r0, float *r1, int32_t base, int w, int wo, int gated) {
    const __m256i twice_lane = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for (int ow = 0; ow < wo; ow += 8) {
        const int n = wo - ow < 8 ? wo - ow : 8;
        const __m256i in = lanes_avx2(n), lo = lanes_avx2(2 * n), hi = lanes_avx2(2 * n - 8);
        __m256 v = _mm256_maskload_ps(g + ow, in);
        if (gated) v = _mm256_and_ps(v, _mm256_cmp_ps(_mm256_maskload_ps(open + ow, in), _mm256_setzero_ps(), _CMP_GT_OQ));
        __m256i k = _mm256_sub_epi32(_mm256_maskload_epi32(ai + ow, in), _mm256_add_epi32(_mm256_set1_epi32(base + 2 * ow), twice_lane));
        __m256 v0 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_setzero_si256())));
        __m256 v1 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(1))));
        __m256 v2 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(w))));
        __m256 v3 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(w + 1))));
        // Interleave back: [v0_0 v1_0 v0_1 v1_1 …].
        __m256 l01 = _mm256_unpacklo_ps(v0, v1), h01 = _mm256_unpackhi_ps(v0, v1);
        __m256 l23 = _mm256_unpacklo_ps(v2, v3), h23 = _mm256_unpackhi_ps(v2, v3);
        _mm256_maskstore_ps(r0 + 2 * ow, lo, _mm256_permute2f128_ps(l01, h01, 0x20));
        _mm256_maskstore_ps(r0 + 2 * ow + 8, hi, _mm256_permute2f128_ps(l01, h01, 0x31));
        _mm256_maskstore_ps(r1 + 2 * ow, lo, _mm256_permute2f128_ps(l23, h23, 0x20));
        _mm256_maskstore_ps(r1 + 2 * ow + 8, hi, _mm256_permute2f128_ps(l23, h23, 0x31));
    }
}

/// Lanes `0 ..< count` (clamped to 0 ... 16) set.
static inline __mmask16 lanes_avx512(int count) {
    return count <= 0 ? 0 : count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
}

__attribute__((target("avx512f"))) static inline void
pool_row_forward_avx512(const float *r0, const float *r1, float *o, int32_t *ao, int32_t base, int w, int wo, float bias, int epilogue) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512 vbias = _mm512_set1_ps(bias), zero = _mm512_setzero_ps();
    const __m512i one = _mm512_set1_epi32(1);
    for (int ow = 0; ow < wo; ow += 16) {
        const int n = wo - ow < 16 ? wo - ow : 16;
        const __mmask16 lo = lanes_avx512(2 * n), hi = lanes_avx512(2 * n - 16), out = lanes_avx512(n);
        __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ow), b0 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ow + 16);
        __m512 a1 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ow), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ow + 16);
        __m512 x0 = _mm512_permutex2var_ps(a0, even, b0), x1 = _mm512_permutex2var_ps(a0, odd, b0);
        __m512 x2 = _mm512_permutex2var_ps(a1, even, b1), x3 = _mm512_permutex2var_ps(a1, odd, b1);
        if (epilogue != FL_POOL_PLAIN) {
            x0 = _mm512_add_ps(x0, vbias); x1 = _mm512_add_ps(x1, vbias);
            x2 = _mm512_add_ps(x2, vbias); x3 = _mm512_add_ps(x3, vbias);
        }
        __mmask16 top = _mm512_cmp_ps_mask(x1, x0, _CMP_GT_OQ), bottom = _mm512_cmp_ps_mask(x3, x2, _CMP_GT_OQ);
        __m512 m0 = _mm512_mask_blend_ps(top, x0, x1), m1 = _mm512_mask_blend_ps(bottom, x2, x3);
        __mmask16 lower = _mm512_cmp_ps_mask(m1, m0, _CMP_GT_OQ);
        __m512 m = _mm512_mask_blend_ps(lower, m0, m1);
        if (epilogue == FL_POOL_BIAS_RELU) m = _mm512_max_ps(m, zero);  // m > 0 ? m : 0
        __m512i j = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * ow), even);
        __m512i j0 = _mm512_mask_add_epi32(j, top, j, one);
        __m512i jw = _mm512_add_epi32(j, _mm512_set1_epi32(w));
        __m512i j1 = _mm512_mask_add_epi32(jw, bottom, jw, one);
        _mm512_mask_storeu_ps(o + ow, out, m);
        if (ao) _mm512_mask_storeu_epi32(ao + ow, out, _mm512_mask_blend_epi32(lower, j0, j1));
    }
}

__attribute__((target("avx512f"))) static inline void
pool_row_backward_avx512(const float *g, const float *open, const int32_t *ai, float *r0, float *r1, int32_t base, int w, int wo, int gated) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(8));
    const __m512 zero = _mm512_setzero_ps();
    for (int ow = 0; ow < wo; ow += 16) {
        const int n = wo - ow < 16 ? wo - ow : 16;
        const __mmask16 in = lanes_avx512(n), lo = lanes_avx512(2 * n), hi = lanes_avx512(2 * n - 16);
        __m512 v = _mm512_maskz_loadu_ps(in, g + ow);
        if (gated) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(in, open + ow), zero, _CMP_GT_OQ), v);
        __m512i k = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(in, ai + ow), _mm512_add_epi32(_mm512_set1_epi32(base + 2 * ow), even));
        __m512 v0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_setzero_si512()), v);
        __m512 v1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(1)), v);
        __m512 v2 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(w)), v);
        __m512 v3 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(w + 1)), v);
        _mm512_mask_storeu_ps(r0 + 2 * ow, lo, _mm512_permutex2var_ps(v0, first, v1));
        _mm512_mask_storeu_ps(r0 + 2 * ow + 16, hi, _mm512_permutex2var_ps(v0, second, v1));
        _mm512_mask_storeu_ps(r1 + 2 * ow, lo, _mm512_permutex2var_ps(v2, first, v3));
        _mm512_mask_storeu_ps(r1 + 2 * ow + 16, hi, _mm512_permutex2var_ps(v2, second, v3));
    }
}

#endif

// The plane loops around the rows, with the epilogue a constant in each copy.
#define FL_POOL_PLANES_FORWARD(ROW)                                                                           \
    for (int p = p0; p < p1; p++) {                                                                           \
        const float *src = x + (size_t)p * x_stride;                                                          \
        for (int oh = 0; oh < ho; oh++) {                                                                     \
            const float *r0 = src + (size_t)2 * oh * w;                                                       \
            const size_t at = (size_t)p * y_stride + (size_t)oh * wo;                                           \
            ROW(r0, r0 + w, y + at, argmax ? argmax + at : NULL,                                              \
                2 * oh * w, w, wo, bias, EPILOGUE);                                                           \
        }                                                                                                     \
    }
#define FL_POOL_PLANES_BACKWARD(ROW)                                                                          \
    for (int p = p0; p < p1; p++) {                                                                           \
        float *gx = grad_x + (size_t)p * x_stride;                                                            \
        const size_t at = (size_t)p * y_stride;                                                               \
        for (int oh = 0; oh < ho; oh++) {                                                                     \
            float *r0 = gx + (size_t)2 * oh * w, *r1 = r0 + w;                                                \
            const size_t row = at + (size_t)oh * wo;                                                          \
            ROW(grad_y + row, gate ? gate + row : NULL, argmax + row, r0, r1, 2 * oh * w, w, wo, GATED);     \
            if (w > 2 * wo) { r0[w - 1] = 0; r1[w - 1] = 0; }                                                 \
        }                                                                                                     \
        if (h > 2 * ho) memset(gx + (size_t)(h - 1) * w, 0, sizeof(float) * (size_t)w);                        \
    }

#define FL_POOL_VARIANTS(ISA, TARGET)                                                                         \
    TARGET static void pool_forward_##ISA##_plain(FL_POOL_FORWARD_ARGS) {                                     \
        (void)relu; enum { EPILOGUE = FL_POOL_PLAIN }; FL_POOL_PLANES_FORWARD(pool_row_forward_##ISA) }       \
    TARGET static void pool_forward_##ISA##_bias(FL_POOL_FORWARD_ARGS) {                                      \
        (void)relu; enum { EPILOGUE = FL_POOL_BIAS }; FL_POOL_PLANES_FORWARD(pool_row_forward_##ISA) }        \
    TARGET static void pool_forward_##ISA##_relu(FL_POOL_FORWARD_ARGS) {                                      \
        (void)relu; enum { EPILOGUE = FL_POOL_BIAS_RELU }; FL_POOL_PLANES_FORWARD(pool_row_forward_##ISA) }   \
    TARGET static void pool_forward_##ISA(FL_POOL_FORWARD_ARGS) {                                             \
        if (relu) pool_forward_##ISA##_relu(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, bias, relu); \
        else if (bias != 0.0f) pool_forward_##ISA##_bias(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, bias, relu); \
        else pool_forward_##ISA##_plain(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, bias, relu);  \
    }                                                                                                         \
    TARGET static void pool_backward_##ISA##_gated(FL_POOL_BACKWARD_ARGS) {                                   \
        enum { GATED = 1 }; FL_POOL_PLANES_BACKWARD(pool_row_backward_##ISA) }                                \
    TARGET static void pool_backward_##ISA##_open(FL_POOL_BACKWARD_ARGS) {                                    \
        enum { GATED = 0 }; FL_POOL_PLANES_BACKWARD(pool_row_backward_##ISA) }                                 \
    TARGET static void pool_backward_##ISA(FL_POOL_BACKWARD_ARGS) {                                           \
        if (gate) pool_backward_##ISA##_gated(grad_y, y_stride, gate, argmax, grad_x, x_stride, p0, p1, h, w, ho, wo); \
        else pool_backward_##ISA##_open(grad_y, y_stride, gate, argmax, grad_x, x_stride, p0, p1, h, w, ho, wo); \
    }

FL_POOL_VARIANTS(baseline, )
#if FL_X86_64
FL_POOL_VARIANTS(avx2, __attribute__((target("avx2,fma"))))
FL_POOL_VARIANTS(avx512, __attribute__((target("avx512f"))))
#endif

static void pool_forward_any(FL_POOL_FORWARD_ARGS) {
    fl_ensure_isa();
#if FL_X86_64
    if (fl_isa_level == 2) { pool_forward_avx512(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, bias, relu); return; }
    if (fl_isa_level == 1) { pool_forward_avx2(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, bias, relu); return; }
#endif
    pool_forward_baseline(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, bias, relu);
}

static void pool_backward_any(FL_POOL_BACKWARD_ARGS) {
    fl_ensure_isa();
#if FL_X86_64
    if (fl_isa_level == 2) { pool_backward_avx512(grad_y, y_stride, gate, argmax, grad_x, x_stride, p0, p1, h, w, ho, wo); return; }
    if (fl_isa_level == 1) { pool_backward_avx2(grad_y, y_stride, gate, argmax, grad_x, x_stride, p0, p1, h, w, ho, wo); return; }
#endif
    pool_backward_baseline(grad_y, y_stride, gate, argmax, grad_x, x_stride, p0, p1, h, w, ho, wo);
}

void fl_maxpool2x2_forward(const float *x, float *y, int32_t *argmax, int p0, int p1, int h, int w, int ho, int wo) {
    pool_forward_any(x, (long)h * w, y, (long)ho * wo, argmax, p0, p1, h, w, ho, wo, 0.0f, 0);
}

void fl_maxpool2x2_backward(const float *grad_y, const int32_t *argmax, float *grad_x, int p0, int p1, int h, int w, int ho, int wo) {
    pool_backward_any(grad_y, (long)ho * wo, NULL, argmax, grad_x, (long)h * w, p0, p1, h, w, ho, wo);
}

void fl_conv_epilogue_pool2x2_forward(const float *x, long x_stride, float bias, int relu, float *y, int32_t *argmax, long y_stride,
                                      int planes, int h, int w, int ho, int wo) {
    pool_forward_any(x, x_stride, y, y_stride, argmax, 0, planes, h, w, ho, wo, bias, relu);
}

void fl_conv_epilogue_pool2x2_backward(const float *grad_y, const float *gate, const int32_t *argmax, long y_stride, float *grad_x,
                                       long x_stride, int planes, int h, int w, int ho, int wo) {
    pool_backward_any(grad_y, y_stride, gate, argmax, grad_x, x_stride, 0, planes, h, w, ho, wo);
}

// MARK: - Adam

static void adam_scalar(const fl_adam_step *s, float *p, const float *g, float *m, float *v, long i0, long i1) {
    const float a1 = 1 - s->beta1, a2 = 1 - s->beta2;
    for (long i = i0; i < i1; i++) {
        float gi = g[i] + s->l2 * p[i];
        p[i] *= s->decay;
        m[i] = s->beta1 * m[i] + a1 * gi;
        v[i] = s->beta2 * v[i] + a2 * gi * gi;
        p[i] -= s->step_size * m[i] / (sqrtf(v[i]) / s->bias_correction2_sqrt + s->eps);
    }
}

#if FL_X86_64
__attribute__((target("avx512f")))
static long adam_avx512(const fl_adam_step *s, float *p, const float *g, float *m, float *v, long n) {
    const __m512 l2 = _mm512_set1_ps(s->l2), decay = _mm512_set1_ps(s->decay), b1 = _mm512_set1_ps(s->beta1),
                 b2 = _mm512_set1_ps(s->beta2), a1 = _mm512_set1_ps(1 - s->beta1), a2 = _mm512_set1_ps(1 - s->beta2),
                 step = _mm512_set1_ps(s->step_size), bc2 = _mm512_set1_ps(s->bias_correction2_sqrt), eps = _mm512_set1_ps(s->eps);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 pi = _mm512_loadu_ps(p + i), gi = _mm512_add_ps(_mm512_loadu_ps(g + i), _mm512_mul_ps(l2, pi));
        pi = _mm512_mul_ps(pi, decay);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(a1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(a2, gi), gi));
        __m512 denominator = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
        pi = _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(step, mi), denominator));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        _mm512_storeu_ps(p + i, pi);
    }
    return i;
}

__attribute__((target("avx2,fma")))
static long adam_avx2(const fl_adam_step *s, float *p, const float *g, float *m, float *v, long n) {
    const __m256 l2 = _mm256_set1_ps(s->l2), decay = _mm256_set1_ps(s->decay), b1 = _mm256_set1_ps(s->beta1),
                 b2 = _mm256_set1_ps(s->beta2), a1 = _mm256_set1_ps(1 - s->beta1), a2 = _mm256_set1_ps(1 - s->beta2),
                 step = _mm256_set1_ps(s->step_size), bc2 = _mm256_set1_ps(s->bias_correction2_sqrt), eps = _mm256_set1_ps(s->eps);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 pi = _mm256_loadu_ps(p + i), gi = _mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_mul_ps(l2, pi));
        pi = _mm256_mul_ps(pi, decay);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(a1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(a2, gi), gi));
        __m256 denominator = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
        pi = _mm256_sub_ps(pi, _mm256_div_ps(_mm256_mul_ps(step, mi), denominator));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, pi);
    }
    return i;
}
#endif

void fl_adam(const fl_adam_step *step, float *p, const float *g, float *m, float *v, long n) {
    fl_ensure_isa();
    long done = 0;
#if FL_X86_64
    if (fl_isa_level == 2) done = adam_avx512(step, p, g, m, v, n);
    else if (fl_isa_level == 1) done = adam_avx2(step, p, g, m, v, n);
#endif
    adam_scalar(step, p, g, m, v, done, n);
}
