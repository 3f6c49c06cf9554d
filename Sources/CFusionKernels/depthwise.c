// Depthwise convolution channels-last, forward and backward, as one primitive: for a run of
// channels, dst = init + Σ_p a[p] · b[p] over a list of (a, b) rows. The forward sums taps ×
// inputs per output pixel, ∂L/∂x sums taps × output gradients per input pixel (a gather, so
// every input pixel is written once), ∂L/∂taps sums output gradients × inputs per tap. Each
// lane accumulates its pairs in list order, so a result depends neither on the channel range
// nor on the thread count; only the instruction set (fused multiply-add or not) changes the
// last bits.
#include "fusion_kernels.h"
#include "kernels_internal.h"

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

typedef void (*fl_transpose_tile_fn)(const float *src, float *dst, int rows, int columns, int r0, int r1, int c0, int c1);

static void transpose_tile_baseline(const float *src, float *dst, int rows, int columns, int r0, int r1, int c0, int c1) {
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) dst[(size_t)c * rows + r] = src[(size_t)r * columns + c];
}

#if FL_X86_64
__attribute__((target("avx2,fma")))
static void transpose_tile_avx2(const float *src, float *dst, int rows, int columns, int r0, int r1, int c0, int c1) {
    int r = r0;
    for (; r + 8 <= r1; r += 8) {
        int c = c0;
        for (; c + 8 <= c1; c += 8) {
            const float *s = src + (size_t)r * columns + c;
            __m256 a0 = _mm256_loadu_ps(s), a1 = _mm256_loadu_ps(s + columns), a2 = _mm256_loadu_ps(s + 2 * (size_t)columns),
                   a3 = _mm256_loadu_ps(s + 3 * (size_t)columns), a4 = _mm256_loadu_ps(s + 4 * (size_t)columns),
                   a5 = _mm256_loadu_ps(s + 5 * (size_t)columns), a6 = _mm256_loadu_ps(s + 6 * (size_t)columns),
                   a7 = _mm256_loadu_ps(s + 7 * (size_t)columns);
            __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1), t2 = _mm256_unpacklo_ps(a2, a3),
                   t3 = _mm256_unpackhi_ps(a2, a3), t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5),
                   t6 = _mm256_unpacklo_ps(a6, a7), t7 = _mm256_unpackhi_ps(a6, a7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44),
                   u3 = _mm256_shuffle_ps(t1, t3, 0xEE), u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                   u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *d = dst + (size_t)c * rows + r;
            _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + rows, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * (size_t)rows, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * (size_t)rows, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * (size_t)rows, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * (size_t)rows, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * (size_t)rows, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * (size_t)rows, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        if (c < c1) transpose_tile_baseline(src, dst, rows, columns, r, r + 8, c, c1);
    }
    if (r < r1) transpose_tile_baseline(src, dst, rows, columns, r, r1, c0, c1);
}
#endif

// One plane channels-first: output rows in vectors of output columns, four rows at a time so
// four multiply-add chains are in flight. Which output columns a kernel column j reads inside
// the image depends only on j, so it is worked out once per plane.
typedef void (*fl_plane_fn)(const fl_depthwise_geometry *g, const float *x, const float *taps, float bias, float *y);

/// For kernel column j: the output columns lo ..< hi whose input column lies in the image.
static void column_span(const fl_depthwise_geometry *g, int j, int *lo, int *hi) {
    int sw = g->stride_w, off = g->pad_w - j * g->dilation_w;
    int a = (off + sw - 1) / sw, b = (g->w + off + sw - 1) / sw;
    if (off + sw - 1 < 0) a = 0;
    *lo = a < 0 ? 0 : (a > g->out_w ? g->out_w : a);
    *hi = b < 0 ? 0 : (b > g->out_w ? g->out_w : b);
}

static inline __attribute__((always_inline)) void plane_generic(const fl_depthwise_geometry *g, const float *x, const float *taps, float bias, float *y) {
    for (int oh = 0; oh < g->out_h; oh++) {
        float *row = y + (size_t)oh * g->out_w;
        for (int ow = 0; ow < g->out_w; ow++) row[ow] = bias;
        for (int i = 0; i < g->kernel_h; i++) {
            int ih = oh * g->stride_h - g->pad_h + i * g->dilation_h;
            if (ih < 0 || ih >= g->h) continue;
            const float *line = x + (size_t)ih * g->w;
            for (int j = 0; j < g->kernel_w; j++) {
                int lo, hi;
                column_span(g, j, &lo, &hi);
                float k = taps[i * g->kernel_w + j];
                int off = j * g->dilation_w - g->pad_w;
                for (int ow = lo; ow < hi; ow++) row[ow] += k * line[ow * g->stride_w + off];
            }
        }
    }
}

static void plane_baseline(const fl_depthwise_geometry *g, const float *x, const float *taps, float bias, float *y) {
    plane_generic(g, x, taps, bias, y);
}

#if FL_X86_64
// The generic loops compiled for AVX2 (the compiler vectorises the row updates 8 wide).
__attribute__((target("avx2,fma")))
static void plane_avx2(const fl_depthwise_geometry *g, const float *x, const float *taps, float bias, float *y) {
    plane_generic(g, x, taps, bias, y);
}

/// Rows of one plane for stride 2 split into even and odd columns, per thread, grown as needed.
static __thread float *split_rows;
static __thread size_t split_capacity;

__attribute__((target("avx512f")))
static void plane_avx512(const fl_depthwise_geometry *g, const float *x, const float *taps, float bias, float *y) {
    enum { ROWS = 8, MAXK = 64 };
    const int kh = g->kernel_h, kw = g->kernel_w, sw = g->stride_w, wo = g->out_w, w = g->w;
    if (kw > MAXK || sw > 2) {
        plane_generic(g, x, taps, bias, y);
        return;
    }
    // Stride 2 reads every other column: split each row into its even and odd columns once, so
    // every tap reads 16 consecutive values. Stride 1 reads the plane as it is.
    const float *src = x;
    int pitch = w, half = (w + 1) / 2;
    if (sw == 2) {
        size_t need = (size_t)g->h * 2 * half;
        if (need > split_capacity) {
            float *grown = realloc(split_rows, need * sizeof(float));
            if (!grown) {
                plane_generic(g, x, taps, bias, y);
                return;
            }
            split_rows = grown;
            split_capacity = need;
        }
        const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odds = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
        for (int r = 0; r < g->h; r++) {
            const float *line = x + (size_t)r * w;
            float *even = split_rows + (size_t)r * 2 * half, *odd = even + half;
            int c = 0;
            for (; c + 32 <= w; c += 32) {
                __m512 a = _mm512_loadu_ps(line + c), b = _mm512_loadu_ps(line + c + 16);
                _mm512_storeu_ps(even + c / 2, _mm512_permutex2var_ps(a, evens, b));
                _mm512_storeu_ps(odd + c / 2, _mm512_permutex2var_ps(a, odds, b));
            }
            for (; c < w; c++) (c & 1 ? odd : even)[c >> 1] = line[c];
        }
        src = split_rows;
        pitch = 2 * half;
    }
    for (int ow0 = 0; ow0 < wo; ow0 += 16) {
        int n = wo - ow0 < 16 ? wo - ow0 : 16;
        __mmask16 store = (__mmask16)((1u << n) - 1u);
        // Per kernel column: the lanes that read inside the image, and where lane 0 reads in `src`'s row.
        __mmask16 valid[MAXK];
        int offset[MAXK];
        for (int j = 0; j < kw; j++) {
            int lo, hi;
            column_span(g, j, &lo, &hi);
            __mmask16 m = 0;
            for (int l = 0; l < n; l++)
                if (ow0 + l >= lo && ow0 + l < hi) m |= (__mmask16)(1u << l);
            valid[j] = m;
            int b = ow0 * sw - g->pad_w + j * g->dilation_w;
            if (sw == 2) {
                int parity = b & 1;  // two's complement: also right for negative b
                offset[j] = parity * half + (b - parity) / 2;
            } else {
                offset[j] = b;
            }
        }
        for (int oh0 = 0; oh0 < g->out_h; oh0 += ROWS) {
            int rows = g->out_h - oh0 < ROWS ? g->out_h - oh0 : ROWS;
            __m512 acc[ROWS];
            for (int r = 0; r < ROWS; r++) acc[r] = _mm512_set1_ps(bias);
            for (int i = 0; i < kh; i++) {
                const float *line[ROWS];
                int inside = 0;
                for (int r = 0; r < ROWS; r++) {
                    int ih = (oh0 + r) * g->stride_h - g->pad_h + i * g->dilation_h;
                    int ok = r < rows && ih >= 0 && ih < g->h;
                    inside |= ok << r;
                    line[r] = src + (size_t)(ok ? ih : 0) * pitch;
                }
                for (int j = 0; j < kw; j++) {
                    __m512 k = _mm512_set1_ps(taps[i * kw + j]);
                    __mmask16 m = valid[j];
                    int o = offset[j];
                    if (inside == (1 << ROWS) - 1) {
                        for (int r = 0; r < ROWS; r++) acc[r] = _mm512_fmadd_ps(k, _mm512_maskz_loadu_ps(m, line[r] + o), acc[r]);
                    } else {
                        for (int r = 0; r < ROWS; r++)
                            if (inside >> r & 1) acc[r] = _mm512_fmadd_ps(k, _mm512_maskz_loadu_ps(m, line[r] + o), acc[r]);
                    }
                }
            }
            for (int r = 0; r < rows; r++) _mm512_mask_storeu_ps(y + (size_t)(oh0 + r) * wo + ow0, store, acc[r]);
        }
    }
}

/// Stride 1 with as many output columns as input columns ("same" padding) on small planes: the
/// plane read as one flat run of pixels, so output pixel q's tap t reads input q + offset[t],
/// and a precomputed lane mask zeroes the taps that fall outside the image. The masks depend
/// only on the geometry, so they are built once for all planes. `sign` −1 builds the plan of
/// the input gradient: pixel q gathers output pixel q − offset[t] when its tap t was inside.
enum { FLAT_MAXV = 16, FLAT_MAXT = 64, FLAT_GROUP = 4 };
typedef struct {
    int pixels, vectors, taps;
    int offset[FLAT_MAXT];
    __mmask16 mask[FLAT_MAXT][FLAT_MAXV];
} flat_plan;

static int flat_eligible(const fl_depthwise_geometry *g) {
    int pixels = g->h * g->w;
    return g->stride_h == 1 && g->stride_w == 1 && g->out_w == g->w && g->out_h == g->h && (pixels + 15) / 16 <= FLAT_MAXV &&
           g->kernel_h * g->kernel_w <= FLAT_MAXT;
}

static void flat_plan_build(const fl_depthwise_geometry *g, int sign, flat_plan *plan) {
    const int h = g->h, w = g->w;
    plan->pixels = h * w;
    plan->vectors = (plan->pixels + 15) / 16;
    plan->taps = g->kernel_h * g->kernel_w;
    for (int i = 0; i < g->kernel_h; i++) {
        for (int j = 0; j < g->kernel_w; j++) {
            int t = i * g->kernel_w + j;
            int dy = sign * (i * g->dilation_h - g->pad_h), dx = sign * (j * g->dilation_w - g->pad_w);
            plan->offset[t] = dy * w + dx;
            for (int v = 0; v < plan->vectors; v++) {
                __mmask16 m = 0;
                for (int l = 0; l < 16; l++) {
                    int q = v * 16 + l;
                    if (q >= plan->pixels) break;
                    int oy = q / w + dy, ox = q % w + dx;
                    if (oy >= 0 && oy < h && ox >= 0 && ox < w) m |= (__mmask16)(1u << l);
                }
                plan->mask[t][v] = m;
            }
        }
    }
}

/// dst = init + Σ_t k[t] · src[q + offset[t]] over one plane (init: a broadcast value, or dst itself).
__attribute__((target("avx512f")))
static void flat_plane_avx512(const flat_plan *plan, const float *src, const float *k, float start, int accumulate, float *dst) {
    const int vectors = plan->vectors;
    for (int v0 = 0; v0 < vectors; v0 += FLAT_GROUP) {
        int group = vectors - v0 < FLAT_GROUP ? vectors - v0 : FLAT_GROUP;
        __m512 acc[FLAT_GROUP];
        for (int a = 0; a < FLAT_GROUP; a++) {
            int left = plan->pixels - (v0 + a) * 16;
            __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
            acc[a] = accumulate ? _mm512_maskz_loadu_ps(m, dst + (v0 + a) * 16) : _mm512_set1_ps(start);
        }
        if (group == FLAT_GROUP) {
            for (int t = 0; t < plan->taps; t++) {
                __m512 kt = _mm512_set1_ps(k[t]);
                const float *s = src + plan->offset[t] + v0 * 16;
                for (int a = 0; a < FLAT_GROUP; a++) acc[a] = _mm512_fmadd_ps(kt, _mm512_maskz_loadu_ps(plan->mask[t][v0 + a], s + a * 16), acc[a]);
            }
        } else {
            for (int t = 0; t < plan->taps; t++) {
                __m512 kt = _mm512_set1_ps(k[t]);
                const float *s = src + plan->offset[t] + v0 * 16;
                for (int a = 0; a < group; a++) acc[a] = _mm512_fmadd_ps(kt, _mm512_maskz_loadu_ps(plan->mask[t][v0 + a], s + a * 16), acc[a]);
            }
        }
        for (int a = 0; a < group; a++) {
            int left = plan->pixels - (v0 + a) * 16;
            __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
            _mm512_mask_storeu_ps(dst + (v0 + a) * 16, m, acc[a]);
        }
    }
}

__attribute__((target("avx512f")))
static int planes_flat_avx512(const fl_depthwise_geometry *g, const float *x, const float *taps, const float *bias, float *y,
                              int first, int end) {
    if (!flat_eligible(g)) return 0;
    flat_plan plan;
    flat_plan_build(g, 1, &plan);
    for (int p = first; p < end; p++) {
        int ch = p % g->channels;
        flat_plane_avx512(&plan, x + (size_t)p * plan.pixels, taps + (size_t)ch * plan.taps, bias ? bias[ch] : 0.0f, 0,
                          y + (size_t)p * plan.pixels);
    }
    return 1;
}

/// The flat plan's backward for channels first ..< end over every sample: ∂L/∂x (a gather with
/// the negated plan), ∂L/∂taps (per tap, Σ over the plane of ∂L/∂y · the input it read, samples
/// in order) and ∂L/∂bias.
__attribute__((target("avx512f")))
static int planes_flat_backward_avx512(const fl_depthwise_geometry *g, int batch, const float *x, const float *taps, const float *gy,
                                       float *gx, float *gtaps, float *gbias, int first, int end) {
    if (!flat_eligible(g)) return 0;
    flat_plan forward, backward;
    flat_plan_build(g, 1, &forward);
    flat_plan_build(g, -1, &backward);
    const int channels = g->channels, pixels = forward.pixels, taps_n = forward.taps;
    for (int ch = first; ch < end; ch++) {
        for (int n = 0; n < batch; n++) {
            size_t p = (size_t)n * channels + ch;
            const float *dy = gy + p * pixels, *src = x + p * pixels;
            if (gx) flat_plane_avx512(&backward, dy, taps + (size_t)ch * taps_n, 0.0f, 0, gx + p * pixels);
            if (gbias) {
                __m512 acc = _mm512_setzero_ps();
                for (int v = 0; v < forward.vectors; v++) {
                    int left = pixels - v * 16;
                    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
                    acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, dy + v * 16));
                }
                gbias[ch] += _mm512_reduce_add_ps(acc);
            }
            if (gtaps) {
                for (int t = 0; t < taps_n; t++) {
                    __m512 acc = _mm512_setzero_ps();
                    const float *s = src + forward.offset[t];
                    for (int v = 0; v < forward.vectors; v++)
                        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(forward.mask[t][v], dy + v * 16), _mm512_maskz_loadu_ps(forward.mask[t][v], s + v * 16), acc);
                    gtaps[(size_t)ch * taps_n + t] += _mm512_reduce_add_ps(acc);
                }
            }
        }
    }
    return 1;
}
#endif

static int flat_planes_enabled = 0;
static fl_plane_fn plane_forward = plane_baseline;
static fl_transpose_tile_fn transpose_tile = transpose_tile_baseline;
static fl_dot_pairs_fn dot_pairs = dot_pairs_baseline;
static const char *isa_name = "baseline";
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
int fl_isa_level = 0;

/// Switches every kernel to `name` when this CPU runs it; 0 (and no change) otherwise.
static int install(const char *name) {
    if (strcmp(name, "baseline") == 0) {
        dot_pairs = dot_pairs_baseline;
        transpose_tile = transpose_tile_baseline;
        plane_forward = plane_baseline;
        flat_planes_enabled = 0;
        isa_name = "baseline";
        fl_isa_level = 0;
        return 1;
    }
#if FL_X86_64
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        dot_pairs = dot_pairs_avx2;
        transpose_tile = transpose_tile_avx2;
        plane_forward = plane_avx2;
        flat_planes_enabled = 0;
        isa_name = "avx2";
        fl_isa_level = 1;
        return 1;
    }
    if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx512f")) {
        dot_pairs = dot_pairs_avx512;
        transpose_tile = transpose_tile_avx2;
        plane_forward = plane_avx512;
        flat_planes_enabled = 1;
        isa_name = "avx512";
        fl_isa_level = 2;
        return 1;
    }
#endif
    return 0;
}

/// The widest instruction set the CPU has, capped by FUSIONLAB_ISA.
static void choose_isa(void) {
    const char *cap = getenv("FUSIONLAB_ISA");
    int allow512 = !cap || *cap == '\0' || strcmp(cap, "avx512") == 0;
    int allow2 = allow512 || strcmp(cap, "avx2") == 0;
    if (allow512 && install("avx512")) return;
    if (allow2 && install("avx2")) return;
    install("baseline");
}

void fl_ensure_isa(void) { pthread_once(&isa_once, choose_isa); }

int fl_kernels_use_isa(const char *name) {
    pthread_once(&isa_once, choose_isa);
    return install(name);
}

const char *fl_kernels_isa(void) {
    pthread_once(&isa_once, choose_isa);
    return isa_name;
}

void fl_depthwise_planes_forward(const fl_depthwise_geometry *g, const float *x, const float *taps, const float *bias, float *y,
                                 int first, int end) {
    pthread_once(&isa_once, choose_isa);
#if FL_X86_64
    if (flat_planes_enabled && planes_flat_avx512(g, x, taps, bias, y, first, end)) return;
#endif
    const size_t in = (size_t)g->h * g->w, out = (size_t)g->out_h * g->out_w, t = (size_t)g->kernel_h * g->kernel_w;
    for (int p = first; p < end; p++) {
        int ch = p % g->channels;
        plane_forward(g, x + p * in, taps + ch * t, bias ? bias[ch] : 0.0f, y + p * out);
    }
}

int fl_depthwise_planes_backward(const fl_depthwise_geometry *g, int batch, const float *x, const float *taps, const float *grad_y,
                                 float *grad_x, float *grad_taps, float *grad_bias, int first, int end) {
    pthread_once(&isa_once, choose_isa);
#if FL_X86_64
    if (flat_planes_enabled) return planes_flat_backward_avx512(g, batch, x, taps, grad_y, grad_x, grad_taps, grad_bias, first, end);
#endif
    return 0;
}

int fl_depthwise_planes_flat(const fl_depthwise_geometry *g) {
    pthread_once(&isa_once, choose_isa);
#if FL_X86_64
    if (flat_planes_enabled) return flat_eligible(g);
#endif
    return 0;
}

void fl_transpose(const float *src, float *dst, int rows, int columns, int first, int end) {
    pthread_once(&isa_once, choose_isa);
    enum { TILE = 32 };
    for (int r0 = first; r0 < end; r0 += TILE) {
        int r1 = r0 + TILE < end ? r0 + TILE : end;
        for (int c0 = 0; c0 < columns; c0 += TILE) {
            int c1 = c0 + TILE < columns ? c0 + TILE : columns;
            transpose_tile(src, dst, rows, columns, r0, r1, c0, c1);
        }
    }
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
