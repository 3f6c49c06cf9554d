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

// One body, compiled once per instruction set (inlined into each target-attributed wrapper, with
// the epilogue a constant): the vectoriser turns the even/odd columns into interleaved loads and
// the comparisons into selects. Ties go to the first maximum in row-major order, as PyTorch; NaN
// never wins a comparison.
//
// A convolution's epilogue runs the same body over its GEMM output, with the bias added to each
// value before the comparisons (so ties are those of PyTorch's conv → ReLU → pool, rounding
// included) and ReLU on the window's maximum: max(relu(v)) = relu(max(v)), and when the maximum
// is positive its first position is the same either way.
enum { FL_POOL_PLAIN = 0, FL_POOL_BIAS = 1, FL_POOL_BIAS_RELU = 2 };

static inline __attribute__((always_inline)) void
pool_forward(const float *x, long x_stride, float *y, long y_stride, int32_t *argmax, int p0, int p1,
             int h, int w, int ho, int wo, float bias, const int epilogue) {
    for (int p = p0; p < p1; p++) {
        const float *src = x + (size_t)p * x_stride;
        float *dst = y + (size_t)p * y_stride;
        int32_t *a = argmax + (size_t)p * y_stride;
        for (int oh = 0; oh < ho; oh++) {
            const float *r0 = src + (size_t)2 * oh * w, *r1 = r0 + w;
            const int32_t base = 2 * oh * w;
            float *o = dst + (size_t)oh * wo;
            int32_t *ao = a + (size_t)oh * wo;
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
                ao[ow] = lower ? j1 : j0;
            }
        }
    }
}

// Windows tile the plane when h and w are even; an odd last row or column belongs to no window
// and gets a zero gradient. With `gate` (the pooled output of a ReLU epilogue), a window whose
// output is not positive passes no gradient.
static inline __attribute__((always_inline)) void
pool_backward(const float *grad_y, long y_stride, const float *gate, const int32_t *argmax, float *grad_x, long x_stride,
              int p0, int p1, int h, int w, int ho, int wo, const int gated) {
    for (int p = p0; p < p1; p++) {
        const float *gy = grad_y + (size_t)p * y_stride;
        const float *gt = gated ? gate + (size_t)p * y_stride : gy;
        const int32_t *a = argmax + (size_t)p * y_stride;
        float *gx = grad_x + (size_t)p * x_stride;
        for (int oh = 0; oh < ho; oh++) {
            float *r0 = gx + (size_t)2 * oh * w, *r1 = r0 + w;
            const int32_t base = 2 * oh * w;
            const float *g = gy + (size_t)oh * wo, *open = gt + (size_t)oh * wo;
            const int32_t *ai = a + (size_t)oh * wo;
            for (int ow = 0; ow < wo; ow++) {
                int32_t k = ai[ow] - base - 2 * ow;
                float v = g[ow];
                if (gated) v = open[ow] > 0.0f ? v : 0.0f;
                r0[2 * ow] = k == 0 ? v : 0.0f;
                r0[2 * ow + 1] = k == 1 ? v : 0.0f;
                r1[2 * ow] = k == w ? v : 0.0f;
                r1[2 * ow + 1] = k == w + 1 ? v : 0.0f;
            }
            if (w > 2 * wo) { r0[w - 1] = 0; r1[w - 1] = 0; }
        }
        if (h > 2 * ho) memset(gx + (size_t)(h - 1) * w, 0, sizeof(float) * (size_t)w);
    }
}

#define FL_POOL_FORWARD_ARGS                                                                                  \
    const float *x, long x_stride, float *y, long y_stride, int32_t *argmax, int p0, int p1, int h, int w,    \
        int ho, int wo, float bias, int relu
#define FL_POOL_FORWARD_BODY                                                                                  \
    if (relu) pool_forward(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, bias, FL_POOL_BIAS_RELU);  \
    else if (bias != 0.0f) pool_forward(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, bias, FL_POOL_BIAS); \
    else pool_forward(x, x_stride, y, y_stride, argmax, p0, p1, h, w, ho, wo, 0.0f, FL_POOL_PLAIN);
#define FL_POOL_BACKWARD_ARGS                                                                                 \
    const float *grad_y, long y_stride, const float *gate, const int32_t *argmax, float *grad_x, long x_stride, \
        int p0, int p1, int h, int w, int ho, int wo
#define FL_POOL_BACKWARD_BODY                                                                                 \
    if (gate) pool_backward(grad_y, y_stride, gate, argmax, grad_x, x_stride, p0, p1, h, w, ho, wo, 1);       \
    else pool_backward(grad_y, y_stride, gate, argmax, grad_x, x_stride, p0, p1, h, w, ho, wo, 0);

static void pool_forward_baseline(FL_POOL_FORWARD_ARGS) { FL_POOL_FORWARD_BODY }
static void pool_backward_baseline(FL_POOL_BACKWARD_ARGS) { FL_POOL_BACKWARD_BODY }
#if FL_X86_64
__attribute__((target("avx2,fma"))) static void pool_forward_avx2(FL_POOL_FORWARD_ARGS) { FL_POOL_FORWARD_BODY }
__attribute__((target("avx2,fma"))) static void pool_backward_avx2(FL_POOL_BACKWARD_ARGS) { FL_POOL_BACKWARD_BODY }
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void pool_forward_avx512(FL_POOL_FORWARD_ARGS) { FL_POOL_FORWARD_BODY }
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void pool_backward_avx512(FL_POOL_BACKWARD_ARGS) { FL_POOL_BACKWARD_BODY }
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
