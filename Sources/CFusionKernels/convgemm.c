// The GEMMs of a convolution over its im2col columns, for the shapes convolutions have: one
// small side (the output channels, or C·kh·kw rows) and one long side (the positions of a chunk
// of samples). OpenBLAS packs both operands before every call, and the long one is the whole
// im2col buffer; these kernels read the columns where im2col wrote them (row-major, one cache
// line of each row per tile) and pack only the small side.
//
// - `fl_conv_gemm`: C = A·B with a short inner dimension (the forward, and the input gradient).
//   Each element of C is one chain of fused multiply-adds over the inner index in order,
//   starting from 0.
// - `fl_conv_gemm_dots`: C += A·Bᵀ with a long inner dimension (the weight gradient). Each
//   element is summed in 16 lanes (lane l takes the indices ≡ l mod 16, in order, by fused
//   multiply-adds), then the lanes are added in a fixed tree.
//
// Both orders are written into the arithmetic, not left to the vector width: the baseline,
// AVX2 and AVX-512 variants give the same bits (tested). The baseline's `fmaf` is glibc's, which
// uses the FMA instruction where the CPU has one and is correctly rounded in software where not.
#include "fusion_kernels.h"
#include "kernels_internal.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define FL_X86_64 1
#endif

#pragma clang fp contract(off)

enum {
    /// Rows of A per register tile (the widest ISA's) and so the padding of the packed A.
    FL_GEMM_MR = 8,
    /// Columns of B per cache block: a block of B (k × 256 floats) is swept by every row tile
    /// before the next, while it is in L1 or L2.
    FL_GEMM_NB = 256,
    /// Inner indices per block of the dot kernel: its partial sums are stored between blocks.
    FL_DOTS_KB = 1024,
    /// The dot kernel's lanes.
    FL_DOTS_LANES = 16,
};

long fl_conv_gemm_pack_size(int m, int k) {
    // Rows padded to a whole number of tiles, 8 rows (AVX-512) or 6 (AVX2).
    const long by8 = (m + 7) / 8 * 8, by6 = (m + 5) / 6 * 6;
    return (by8 > by6 ? by8 : by6) * k;
}

long fl_conv_gemm_dots_scratch(int m1, int m2) { return (long)m1 * m2 * FL_DOTS_LANES; }

/// pack[i0·k + kk·mr + ii] = A[i0 + ii, kk] for row tiles of `mr` rows, zeros past row m.
static void pack_rows(int m, int k, const float *a, long ars, long acs, float *pack, int mr) {
    for (int i0 = 0; i0 < m; i0 += mr) {
        float *dst = pack + (long)i0 * k;
        for (int kk = 0; kk < k; kk++) {
            for (int ii = 0; ii < mr; ii++) {
                dst[kk * mr + ii] = i0 + ii < m ? a[(long)(i0 + ii) * ars + (long)kk * acs] : 0.0f;
            }
        }
    }
}

// MARK: - C = A·B, baseline

static void gemm_baseline(int m, long n, int k, const float *a, long ars, long acs, const float *b, long ldb, float *c, long ldc) {
    for (int i = 0; i < m; i++) {
        float *row = c + (long)i * ldc;
        for (long j = 0; j < n; j++) row[j] = 0.0f;
        for (int kk = 0; kk < k; kk++) {
            const float av = a[(long)i * ars + (long)kk * acs], *brow = b + (long)kk * ldb;
            for (long j = 0; j < n; j++) row[j] = fmaf(av, brow[j], row[j]);
        }
    }
}

#if FL_X86_64

// MARK: - C = A·B, AVX-512: 8 rows × 32 columns of C in 16 registers

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
gemm_tile_avx512(int k, const float *pa, const float *b, long ldb, float *c, long ldc, int rows, long cols, const int masked) {
    const __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xFFFF : (1u << cols) - 1);
    const __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
    __m512 acc[FL_GEMM_MR][2];
    for (int ii = 0; ii < FL_GEMM_MR; ii++) acc[ii][0] = acc[ii][1] = _mm512_setzero_ps();
    for (int kk = 0; kk < k; kk++) {
        const float *bp = b + (long)kk * ldb;
        __m512 b0 = masked ? _mm512_maskz_loadu_ps(m0, bp) : _mm512_loadu_ps(bp);
        __m512 b1 = masked ? _mm512_maskz_loadu_ps(m1, bp + 16) : _mm512_loadu_ps(bp + 16);
        for (int ii = 0; ii < FL_GEMM_MR; ii++) {
            __m512 av = _mm512_set1_ps(pa[kk * FL_GEMM_MR + ii]);
            acc[ii][0] = _mm512_fmadd_ps(av, b0, acc[ii][0]);
            acc[ii][1] = _mm512_fmadd_ps(av, b1, acc[ii][1]);
        }
    }
    for (int ii = 0; ii < FL_GEMM_MR; ii++) {
        if (ii >= rows) break;
        float *cp = c + (long)ii * ldc;
        if (masked) {
            _mm512_mask_storeu_ps(cp, m0, acc[ii][0]);
            _mm512_mask_storeu_ps(cp + 16, m1, acc[ii][1]);
        } else {
            _mm512_storeu_ps(cp, acc[ii][0]);
            _mm512_storeu_ps(cp + 16, acc[ii][1]);
        }
    }
}

// MARK: - C = A·B, AVX2: 6 rows × 16 columns of C in 12 registers

__attribute__((target("avx2,fma"))) static inline __m256i lanes8(long count) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int n = count < 0 ? 0 : count > 8 ? 8 : (int)count;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), index);
}

enum { FL_GEMM_MR_AVX2 = 6 };

__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
gemm_tile_avx2(int k, const float *pa, const float *b, long ldb, float *c, long ldc, int rows, long cols, const int masked) {
    __m256 acc[FL_GEMM_MR_AVX2][2];
    const __m256i mask0 = masked ? lanes8(cols) : _mm256_set1_epi32(-1), mask1 = masked ? lanes8(cols - 8) : mask0;
    for (int ii = 0; ii < FL_GEMM_MR_AVX2; ii++) acc[ii][0] = acc[ii][1] = _mm256_setzero_ps();
    for (int kk = 0; kk < k; kk++) {
        const float *bp = b + (long)kk * ldb;
        const __m256 b0 = masked ? _mm256_maskload_ps(bp, mask0) : _mm256_loadu_ps(bp);
        const __m256 b1 = masked ? _mm256_maskload_ps(bp + 8, mask1) : _mm256_loadu_ps(bp + 8);
        for (int ii = 0; ii < FL_GEMM_MR_AVX2; ii++) {
            const __m256 av = _mm256_broadcast_ss(pa + kk * FL_GEMM_MR_AVX2 + ii);
            acc[ii][0] = _mm256_fmadd_ps(av, b0, acc[ii][0]);
            acc[ii][1] = _mm256_fmadd_ps(av, b1, acc[ii][1]);
        }
    }
    for (int ii = 0; ii < FL_GEMM_MR_AVX2; ii++) {
        if (ii >= rows) break;
        float *cp = c + (long)ii * ldc;
        if (masked) {
            _mm256_maskstore_ps(cp, mask0, acc[ii][0]);
            _mm256_maskstore_ps(cp + 8, mask1, acc[ii][1]);
        } else {
            _mm256_storeu_ps(cp, acc[ii][0]);
            _mm256_storeu_ps(cp + 8, acc[ii][1]);
        }
    }
}

// Column blocks of FL_GEMM_NB, swept by every row tile of MR rows while they are in cache, in
// tiles of NR columns; the last tile of a block is masked.
#define FL_GEMM_DRIVER(ISA, TARGET, MR, NR)                                                                          \
    TARGET static void gemm_##ISA(int m, long n, int k, const float *pack, const float *b, long ldb, float *c, long ldc) { \
        for (long jb = 0; jb < n; jb += FL_GEMM_NB) {                                                                 \
            const long je = jb + FL_GEMM_NB < n ? jb + FL_GEMM_NB : n;                                                \
            for (int i0 = 0; i0 < m; i0 += MR) {                                                                      \
                const float *pa = pack + (long)i0 * k;                                                                \
                float *ci = c + (long)i0 * ldc;                                                                       \
                long j0 = jb;                                                                                         \
                for (; j0 + NR <= je; j0 += NR) gemm_tile_##ISA(k, pa, b + j0, ldb, ci + j0, ldc, m - i0, NR, 0);     \
                if (j0 < je) gemm_tile_##ISA(k, pa, b + j0, ldb, ci + j0, ldc, m - i0, je - j0, 1);                   \
            }                                                                                                         \
        }                                                                                                             \
    }
FL_GEMM_DRIVER(avx512, __attribute__((target("avx512f"))), FL_GEMM_MR, 32)
FL_GEMM_DRIVER(avx2, __attribute__((target("avx2,fma"))), FL_GEMM_MR_AVX2, 16)
#endif

void fl_conv_gemm(int m, long n, int k, const float *a, long ars, long acs, const float *b, long ldb, float *c, long ldc,
                  float *pack) {
    if (m <= 0 || n <= 0) return;
    fl_ensure_isa();
#if FL_X86_64
    if (fl_isa_level == 2) {
        pack_rows(m, k, a, ars, acs, pack, FL_GEMM_MR);
        gemm_avx512(m, n, k, pack, b, ldb, c, ldc);
        return;
    }
    if (fl_isa_level == 1) {
        pack_rows(m, k, a, ars, acs, pack, FL_GEMM_MR_AVX2);
        gemm_avx2(m, n, k, pack, b, ldb, c, ldc);
        return;
    }
#endif
    gemm_baseline(m, n, k, a, ars, acs, b, ldb, c, ldc);
}

// MARK: - C += A·Bᵀ in 16 lanes

// The inner indices go in blocks of FL_DOTS_KB: a tile of rows of A (4 × 1024 floats) stays
// in L1 while the rows of B stream past it. With more than one block, the lanes of each sum are
// kept in `partial` between blocks, partial[(i·m2 + j)·16 + l]; after the last block the lanes
// are added (l + 8, then + 4, + 2, + 1) into C.

/// The lanes' tree: s[l] + s[l + 8], then + 4, + 2, + 1.
static inline float tree16(const float *s) {
    float t[8];
    for (int l = 0; l < 8; l++) t[l] = s[l] + s[l + 8];
    for (int l = 0; l < 4; l++) t[l] += t[l + 4];
    for (int l = 0; l < 2; l++) t[l] += t[l + 2];
    return t[0] + t[1];
}

static void dots_baseline(int m1, int m2, long kb, long ke, const float *a, long lda, const float *b, long ldb, float *c,
                          long ldc, float *partial, int load, int finish) {
    for (int i = 0; i < m1; i++) {
        for (int j = 0; j < m2; j++) {
            float *keep = partial + ((long)i * m2 + j) * FL_DOTS_LANES, lane[FL_DOTS_LANES];
            for (int l = 0; l < FL_DOTS_LANES; l++) lane[l] = load ? keep[l] : 0.0f;
            const float *ar = a + (long)i * lda, *br = b + (long)j * ldb;
            for (long p = kb; p < ke; p++) lane[(p - kb) & (FL_DOTS_LANES - 1)] = fmaf(ar[p], br[p], lane[(p - kb) & (FL_DOTS_LANES - 1)]);
            if (finish) c[(long)i * ldc + j] += tree16(lane);
            else memcpy(keep, lane, sizeof lane);
        }
    }
}

#if FL_X86_64
/// tree16 of the lanes [lo, hi] of a sum, in registers.
__attribute__((target("avx2,fma"))) static inline float tree16_avx2(__m256 lo, __m256 hi) {
    const __m256 s = _mm256_add_ps(lo, hi);
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));
}

__attribute__((target("avx512f"))) static inline float tree16_avx512(__m512 v) {
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m256 s = _mm256_add_ps(_mm512_castps512_ps256(v), hi);
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));
}

// AVX-512: a tile of TI rows of A × TJ rows of B, one register per sum.
#define FL_DOTS_TILE_AVX512(TI, TJ)                                                                                  \
    __attribute__((target("avx512f"))) static inline void dots_tile_avx512_##TI##x##TJ(                                \
        long kb, long ke, const float *a, long lda, const float *b, long ldb, float *c, long ldc, float *partial,     \
        int m2, int load, int finish) {                                                                               \
        __m512 acc[TI][TJ];                                                                                           \
        for (int i = 0; i < TI; i++)                                                                                  \
            for (int j = 0; j < TJ; j++)                                                                              \
                acc[i][j] = load ? _mm512_loadu_ps(partial + ((long)i * m2 + j) * FL_DOTS_LANES) : _mm512_setzero_ps(); \
        long p = kb;                                                                                                  \
        for (; p + FL_DOTS_LANES <= ke; p += FL_DOTS_LANES) {                                                         \
            __m512 av[TI];                                                                                            \
            for (int i = 0; i < TI; i++) av[i] = _mm512_loadu_ps(a + (long)i * lda + p);                              \
            for (int j = 0; j < TJ; j++) {                                                                            \
                const __m512 bv = _mm512_loadu_ps(b + (long)j * ldb + p);                                             \
                for (int i = 0; i < TI; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);                       \
            }                                                                                                         \
        }                                                                                                             \
        if (p < ke) {                                                                                                 \
            /* The last indices: masked lanes add 0·0, which leaves a sum unchanged. */                               \
            const __mmask16 mask = (__mmask16)((1u << (ke - p)) - 1);                                                 \
            __m512 av[TI];                                                                                            \
            for (int i = 0; i < TI; i++) av[i] = _mm512_maskz_loadu_ps(mask, a + (long)i * lda + p);                  \
            for (int j = 0; j < TJ; j++) {                                                                            \
                const __m512 bv = _mm512_maskz_loadu_ps(mask, b + (long)j * ldb + p);                                 \
                for (int i = 0; i < TI; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);                       \
            }                                                                                                         \
        }                                                                                                             \
        for (int i = 0; i < TI; i++)                                                                                  \
            for (int j = 0; j < TJ; j++) {                                                                            \
                if (finish) c[(long)i * ldc + j] += tree16_avx512(acc[i][j]);                                         \
                else _mm512_storeu_ps(partial + ((long)i * m2 + j) * FL_DOTS_LANES, acc[i][j]);                       \
            }                                                                                                         \
    }
FL_DOTS_TILE_AVX512(4, 4)
FL_DOTS_TILE_AVX512(4, 1)
FL_DOTS_TILE_AVX512(1, 4)
FL_DOTS_TILE_AVX512(1, 1)

// AVX2: each 16-lane sum is two registers (lanes 0–7 and 8–15), so the lanes are AVX-512's.
#define FL_DOTS_TILE_AVX2(TI, TJ)                                                                                     \
    __attribute__((target("avx2,fma"))) static inline void dots_tile_avx2_##TI##x##TJ(                                 \
        long kb, long ke, const float *a, long lda, const float *b, long ldb, float *c, long ldc, float *partial,     \
        int m2, int load, int finish) {                                                                               \
        __m256 acc[TI][TJ][2];                                                                                        \
        for (int i = 0; i < TI; i++)                                                                                  \
            for (int j = 0; j < TJ; j++)                                                                              \
                for (int h = 0; h < 2; h++)                                                                           \
                    acc[i][j][h] = load ? _mm256_loadu_ps(partial + ((long)i * m2 + j) * FL_DOTS_LANES + 8 * h)       \
                                        : _mm256_setzero_ps();                                                        \
        long p = kb;                                                                                                  \
        for (; p + FL_DOTS_LANES <= ke; p += FL_DOTS_LANES) {                                                         \
            for (int h = 0; h < 2; h++) {                                                                             \
                __m256 av[TI];                                                                                        \
                for (int i = 0; i < TI; i++) av[i] = _mm256_loadu_ps(a + (long)i * lda + p + 8 * h);                  \
                for (int j = 0; j < TJ; j++) {                                                                        \
                    const __m256 bv = _mm256_loadu_ps(b + (long)j * ldb + p + 8 * h);                                 \
                    for (int i = 0; i < TI; i++) acc[i][j][h] = _mm256_fmadd_ps(av[i], bv, acc[i][j][h]);             \
                }                                                                                                     \
            }                                                                                                         \
        }                                                                                                             \
        for (int h = 0; h < 2 && p < ke; h++) {                                                                       \
            const __m256i mask = lanes8(ke - p - 8 * h);                                                              \
            __m256 av[TI];                                                                                            \
            for (int i = 0; i < TI; i++) av[i] = _mm256_maskload_ps(a + (long)i * lda + p + 8 * h, mask);             \
            for (int j = 0; j < TJ; j++) {                                                                            \
                const __m256 bv = _mm256_maskload_ps(b + (long)j * ldb + p + 8 * h, mask);                            \
                for (int i = 0; i < TI; i++) acc[i][j][h] = _mm256_fmadd_ps(av[i], bv, acc[i][j][h]);                 \
            }                                                                                                         \
        }                                                                                                             \
        for (int i = 0; i < TI; i++)                                                                                  \
            for (int j = 0; j < TJ; j++) {                                                                            \
                if (finish) {                                                                                         \
                    c[(long)i * ldc + j] += tree16_avx2(acc[i][j][0], acc[i][j][1]);                                  \
                } else {                                                                                              \
                    for (int h = 0; h < 2; h++)                                                                       \
                        _mm256_storeu_ps(partial + ((long)i * m2 + j) * FL_DOTS_LANES + 8 * h, acc[i][j][h]);         \
                }                                                                                                     \
            }                                                                                                         \
    }
FL_DOTS_TILE_AVX2(2, 3)
FL_DOTS_TILE_AVX2(2, 1)
FL_DOTS_TILE_AVX2(1, 3)
FL_DOTS_TILE_AVX2(1, 1)

// One block of inner indices over all of C: full tiles, then the rows and columns left over.
#define FL_DOTS_TILE_CALL(ISA, TI, TJ, i, j)                                                                          \
    dots_tile_##ISA##_##TI##x##TJ(kb, ke, a + (long)(i) * lda, lda, b + (long)(j) * ldb, ldb, c + (long)(i) * ldc + (j), ldc, \
                                  partial + ((long)(i) * m2 + (j)) * FL_DOTS_LANES, m2, load, finish)
#define FL_DOTS_BLOCK(ISA, TI, TJ)                                                                                    \
    static void dots_##ISA(int m1, int m2, long kb, long ke, const float *a, long lda, const float *b, long ldb,       \
                           float *c, long ldc, float *partial, int load, int finish) {                                \
        const int i1 = m1 - m1 % TI, j1 = m2 - m2 % TJ;                                                               \
        for (int i = 0; i < i1; i += TI) {                                                                            \
            for (int j = 0; j < j1; j += TJ) FL_DOTS_TILE_CALL(ISA, TI, TJ, i, j);                                    \
            for (int j = j1; j < m2; j++) FL_DOTS_TILE_CALL(ISA, TI, 1, i, j);                                        \
        }                                                                                                             \
        for (int i = i1; i < m1; i++) {                                                                               \
            for (int j = 0; j < j1; j += TJ) FL_DOTS_TILE_CALL(ISA, 1, TJ, i, j);                                     \
            for (int j = j1; j < m2; j++) FL_DOTS_TILE_CALL(ISA, 1, 1, i, j);                                         \
        }                                                                                                             \
    }
FL_DOTS_BLOCK(avx512, 4, 4)
FL_DOTS_BLOCK(avx2, 2, 3)
#endif

void fl_conv_gemm_dots(int m1, int m2, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                       float *partial) {
    if (m1 <= 0 || m2 <= 0) return;
    fl_ensure_isa();
    // An empty sum still goes through the tree once (adding 0 to C), as every other does.
    for (long kb = 0; kb < k || kb == 0; kb += FL_DOTS_KB) {
        const long ke = kb + FL_DOTS_KB < k ? kb + FL_DOTS_KB : k;
        const int load = kb > 0, finish = ke == k;
#if FL_X86_64
        if (fl_isa_level == 2) { dots_avx512(m1, m2, kb, ke, a, lda, b, ldb, c, ldc, partial, load, finish); continue; }
        if (fl_isa_level == 1) { dots_avx2(m1, m2, kb, ke, a, lda, b, ldb, c, ldc, partial, load, finish); continue; }
#endif
        dots_baseline(m1, m2, kb, ke, a, lda, b, ldb, c, ldc, partial, load, finish);
    }
}
