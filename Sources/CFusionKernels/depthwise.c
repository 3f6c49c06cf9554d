// Depthwise convolution channels-last, forward and backward, as one primitive: for a run of
// channels, dst = init + Σ_p a[p] · b[p] over a list of (a, b) rows. The forward sums taps ×
// inputs per output pixel, ∂L/∂x sums taps × output gradients per input pixel (a gather, so
// every input pixel is written once), ∂L/∂taps sums output gradients × inputs per tap. Each
// lane accumulates its pairs in list order, so a result depends neither on the channel range
// nor on the thread count; only the instruction set (fused multiply-add or not) changes the
// last bits.
#include "fusion_kernels.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define FL_X86_64 1
#endif

typedef void (*fl_dot_pairs_fn)(float *dst, const float *init, const float *const *a, const float *const *b, int n, int c0, int c1);

static void dot_pairs_baseline(float *dst, const float *init, const float *const *a, const float *const *b, int n, int c0, int c1) {
    for (int c = c0; c < c1; c++) {
        float acc = init ? init[c] : 0.0f;
        for (int p = 0; p < n; p++) acc += a[p][c] * b[p][c];
        dst[c] = acc;
    }
}

#if FL_X86_64
// Four vectors of channels at a time keep four independent multiply-add chains in flight.
__attribute__((target("avx2,fma")))
static void dot_pairs_avx2(float *dst, const float *init, const float *const *a, const float *const *b, int n, int c0, int c1) {
    int c = c0;
    for (; c + 32 <= c1; c += 32) {
        __m256 s0 = init ? _mm256_loadu_ps(init + c) : _mm256_setzero_ps();
        __m256 s1 = init ? _mm256_loadu_ps(init + c + 8) : _mm256_setzero_ps();
        __m256 s2 = init ? _mm256_loadu_ps(init + c + 16) : _mm256_setzero_ps();
        __m256 s3 = init ? _mm256_loadu_ps(init + c + 24) : _mm256_setzero_ps();
        for (int p = 0; p < n; p++) {
            const float *x = a[p] + c, *y = b[p] + c;
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(y), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), _mm256_loadu_ps(y + 8), s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(y + 16), s2);
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), _mm256_loadu_ps(y + 24), s3);
        }
        _mm256_storeu_ps(dst + c, s0);
        _mm256_storeu_ps(dst + c + 8, s1);
        _mm256_storeu_ps(dst + c + 16, s2);
        _mm256_storeu_ps(dst + c + 24, s3);
    }
    for (; c + 8 <= c1; c += 8) {
        __m256 s = init ? _mm256_loadu_ps(init + c) : _mm256_setzero_ps();
        for (int p = 0; p < n; p++) s = _mm256_fmadd_ps(_mm256_loadu_ps(a[p] + c), _mm256_loadu_ps(b[p] + c), s);
        _mm256_storeu_ps(dst + c, s);
    }
    for (; c < c1; c++) {
        float acc = init ? init[c] : 0.0f;
        for (int p = 0; p < n; p++) acc = __builtin_fmaf(a[p][c], b[p][c], acc);
        dst[c] = acc;
    }
}

__attribute__((target("avx512f")))
static void dot_pairs_avx512(float *dst, const float *init, const float *const *a, const float *const *b, int n, int c0, int c1) {
    int c = c0;
    for (; c + 64 <= c1; c += 64) {
        __m512 s0 = init ? _mm512_loadu_ps(init + c) : _mm512_setzero_ps();
        __m512 s1 = init ? _mm512_loadu_ps(init + c + 16) : _mm512_setzero_ps();
        __m512 s2 = init ? _mm512_loadu_ps(init + c + 32) : _mm512_setzero_ps();
        __m512 s3 = init ? _mm512_loadu_ps(init + c + 48) : _mm512_setzero_ps();
        for (int p = 0; p < n; p++) {
            const float *x = a[p] + c, *y = b[p] + c;
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x), _mm512_loadu_ps(y), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(y + 16), s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 32), _mm512_loadu_ps(y + 32), s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 48), _mm512_loadu_ps(y + 48), s3);
        }
        _mm512_storeu_ps(dst + c, s0);
        _mm512_storeu_ps(dst + c + 16, s1);
        _mm512_storeu_ps(dst + c + 32, s2);
        _mm512_storeu_ps(dst + c + 48, s3);
    }
    for (; c < c1; c += 16) {
        int left = c1 - c;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512 s = init ? _mm512_maskz_loadu_ps(m, init + c) : _mm512_setzero_ps();
        for (int p = 0; p < n; p++) s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a[p] + c), _mm512_maskz_loadu_ps(m, b[p] + c), s);
        _mm512_mask_storeu_ps(dst + c, m, s);
    }
}
#endif

static fl_dot_pairs_fn dot_pairs = dot_pairs_baseline;
static const char *isa_name = "baseline";
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static void choose_isa(void) {
#if FL_X86_64
    const char *cap = getenv("FUSIONLAB_ISA");
    int allow512 = !cap || strcmp(cap, "avx512") == 0 || *cap == '\0';
    int allow2 = allow512 || (cap && strcmp(cap, "avx2") == 0);
    __builtin_cpu_init();
    if (allow512 && __builtin_cpu_supports("avx512f")) {
        dot_pairs = dot_pairs_avx512;
        isa_name = "avx512";
    } else if (allow2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        dot_pairs = dot_pairs_avx2;
        isa_name = "avx2";
    }
#endif
}

int fl_kernels_use_isa(const char *name) {
    pthread_once(&isa_once, choose_isa);
    if (strcmp(name, "baseline") == 0) {
        dot_pairs = dot_pairs_baseline;
        isa_name = "baseline";
        return 1;
    }
#if FL_X86_64
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        dot_pairs = dot_pairs_avx2;
        isa_name = "avx2";
        return 1;
    }
    if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx512f")) {
        dot_pairs = dot_pairs_avx512;
        isa_name = "avx512";
        return 1;
    }
#endif
    return 0;
}

const char *fl_kernels_isa(void) {
    pthread_once(&isa_once, choose_isa);
    return isa_name;
}

/// Room for `n` pairs of row pointers (on the stack when small).
typedef struct {
    const float **a, **b;
    const float *stack_a[64], *stack_b[64];
} pair_list;

static int pairs_init(pair_list *l, size_t n) {
    if (n <= 64) {
        l->a = l->stack_a;
        l->b = l->stack_b;
        return 1;
    }
    l->a = malloc(n * sizeof(float *));
    l->b = malloc(n * sizeof(float *));
    if (!l->a || !l->b) {
        free(l->a);
        free(l->b);
        return 0;
    }
    return 1;
}

static void pairs_free(pair_list *l) {
    if (l->a != l->stack_a) {
        free(l->a);
        free(l->b);
    }
}

void fl_depthwise_nhwc_forward(const fl_depthwise_geometry *g, const float *x, const float *taps, const float *bias,
                               float *y, int c0, int c1) {
    pthread_once(&isa_once, choose_isa);
    const size_t C = (size_t)g->channels;
    pair_list l;
    if (!pairs_init(&l, (size_t)g->kernel_h * g->kernel_w)) abort();
    for (int oh = 0; oh < g->out_h; oh++) {
        for (int ow = 0; ow < g->out_w; ow++) {
            int n = 0;
            for (int i = 0; i < g->kernel_h; i++) {
                int ih = oh * g->stride_h - g->pad_h + i * g->dilation_h;
                if (ih < 0 || ih >= g->h) continue;
                for (int j = 0; j < g->kernel_w; j++) {
                    int iw = ow * g->stride_w - g->pad_w + j * g->dilation_w;
                    if (iw < 0 || iw >= g->w) continue;
                    l.a[n] = taps + (size_t)(i * g->kernel_w + j) * C;
                    l.b[n] = x + ((size_t)ih * g->w + iw) * C;
                    n++;
                }
            }
            dot_pairs(y + ((size_t)oh * g->out_w + ow) * C, bias, (const float *const *)l.a, (const float *const *)l.b, n, c0, c1);
        }
    }
    pairs_free(&l);
}

void fl_depthwise_nhwc_backward(const fl_depthwise_geometry *g, const float *x, const float *taps, const float *grad_y,
                                float *grad_x, float *grad_taps, int c0, int c1) {
    pthread_once(&isa_once, choose_isa);
    const size_t C = (size_t)g->channels;
    const int kh = g->kernel_h, kw = g->kernel_w;
    pair_list l;
    size_t room = (size_t)g->out_h * g->out_w;
    if (room < (size_t)kh * kw) room = (size_t)kh * kw;
    if (!pairs_init(&l, room)) abort();
    if (grad_taps) {
        // Per tap: Σ over the output pixels whose window holds it of ∂L/∂y · x.
        for (int i = 0; i < kh; i++) {
            for (int j = 0; j < kw; j++) {
                int n = 0;
                for (int oh = 0; oh < g->out_h; oh++) {
                    int ih = oh * g->stride_h - g->pad_h + i * g->dilation_h;
                    if (ih < 0 || ih >= g->h) continue;
                    for (int ow = 0; ow < g->out_w; ow++) {
                        int iw = ow * g->stride_w - g->pad_w + j * g->dilation_w;
                        if (iw < 0 || iw >= g->w) continue;
                        l.a[n] = grad_y + ((size_t)oh * g->out_w + ow) * C;
                        l.b[n] = x + ((size_t)ih * g->w + iw) * C;
                        n++;
                    }
                }
                float *dst = grad_taps + (size_t)(i * kw + j) * C;
                dot_pairs(dst, dst, (const float *const *)l.a, (const float *const *)l.b, n, c0, c1);
            }
        }
    }
    if (grad_x) {
        // Per input pixel: Σ over the taps and output pixels that read it of tap · ∂L/∂y.
        for (int ih = 0; ih < g->h; ih++) {
            for (int iw = 0; iw < g->w; iw++) {
                int n = 0;
                for (int i = 0; i < kh; i++) {
                    int rh = ih + g->pad_h - i * g->dilation_h;
                    if (rh < 0 || rh % g->stride_h != 0 || rh / g->stride_h >= g->out_h) continue;
                    for (int j = 0; j < kw; j++) {
                        int rw = iw + g->pad_w - j * g->dilation_w;
                        if (rw < 0 || rw % g->stride_w != 0 || rw / g->stride_w >= g->out_w) continue;
                        l.a[n] = taps + (size_t)(i * kw + j) * C;
                        l.b[n] = grad_y + ((size_t)(rh / g->stride_h) * g->out_w + rw / g->stride_w) * C;
                        n++;
                    }
                }
                float *dst = grad_x + ((size_t)ih * g->w + iw) * C;
                if (n) dot_pairs(dst, dst, (const float *const *)l.a, (const float *const *)l.b, n, c0, c1);
            }
        }
    }
    pairs_free(&l);
}
