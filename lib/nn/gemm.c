#include "nn/gemm.h"

#include "nn/nn.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX512_KERNEL 1
#include "nn/act_avx512.h"
#include "nn/lanes_avx512.h"
#include <immintrin.h>
#else
#define HAVE_AVX512_KERNEL 0
#endif

/* B's scaling while it is packed (gemm.h's b_scale and b_col_scale; at most one is set). */
typedef struct {
    const float *row, *col;
} BScale;

/* Which kernel this process runs: 2 avx512, 1 avx2, 0 openblas; decided once. */
static pthread_once_t kind_once = PTHREAD_ONCE_INIT;
static int kind;
static void choose_kind(void) {
#if HAVE_AVX512_KERNEL
    const char *e = getenv("AUDIOCNN_GEMM");
    if (e && strcmp(e, "openblas") == 0) kind = 0;
    else if (e && strcmp(e, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) kind = 1;
    else kind = nn_avx512() ? 2 : 0;
#endif
}
static int kernel_kind(void) {
    pthread_once(&kind_once, choose_kind);
    return kind;
}

const char *gemm_kernel_name(void) {
    static const char *names[] = {"openblas", "avx2", "avx512"};
    return names[kernel_kind()];
}

static void blas(GemmTrans ta, GemmTrans tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta == GEMM_T ? CblasTrans : CblasNoTrans, tb == GEMM_T ? CblasTrans : CblasNoTrans,
                M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

/* gemm.h's epilogue on rows [i0, i0+m) x columns [j0, j0+n) of C, element by element (the OpenBLAS path). */
CPU_CLONES static void epilogue_rows(const GemmEpilogue *ep, int i0, int m, int j0, int n, float *C, int ldc) {
    for (int i = i0; i < i0 + m; i++) {
        float *c = C + (size_t)i * ldc;
        const float *res = ep->res ? ep->res + (size_t)i * ep->ldr : NULL;
        for (int j = j0; j < j0 + n; j++) {
            float v = c[j];
            if (ep->bias) v = v + ep->bias[i];
            if (ep->scale) v = v * ep->scale[i] + ep->shift[i];
            if (res) v = v + res[j];
            c[j] = ep->act == ACT_RELU ? nn_relu_f(v) : ep->act == ACT_SILU ? nn_silu_f(v) : v;
        }
    }
}

#if HAVE_AVX512_KERNEL

#define AVX512_EP __attribute__((target("avx512f")))

/* The same on one finished MR x NR tile (rows [i0, i0+mr), columns [j0, j0+nr)), still in L1. */
AVX512_EP static void epilogue_tile(const GemmEpilogue *ep, int i0, int mr, int j0, int nr, float *C, int ldc) {
    for (int i = i0; i < i0 + mr; i++) {
        float *c = C + (size_t)i * ldc;
        const float *res = ep->res ? ep->res + (size_t)i * ep->ldr : NULL;
        __m512 bias = _mm512_set1_ps(ep->bias ? ep->bias[i] : 0.0f);
        __m512 scale = _mm512_set1_ps(ep->scale ? ep->scale[i] : 0.0f), shift = _mm512_set1_ps(ep->scale ? ep->shift[i] : 0.0f);
        for (int j = j0; j < j0 + nr; j += 16) {
            int left = j0 + nr - j;
            __mmask16 m = lanes_between(0, left);
            __m512 v = _mm512_maskz_loadu_ps(m, c + j);
            if (ep->bias) v = _mm512_add_ps(v, bias);
            if (ep->scale) v = _mm512_add_ps(_mm512_mul_ps(v, scale), shift);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + j));
            _mm512_mask_storeu_ps(c + j, m, nn_act_avx512(v, ep->act));
        }
    }
}

/* ---- blocking ------------------------------------------------------------------------------------------
 * C is cut into MC x NC blocks and K into KC slices. Per (KC slice, NC block) B is packed into panels
 * of NR columns (k-major: the NR values of one k are contiguous, 64-byte aligned); the micro-kernel
 * multiplies MR rows of A, read in place, by one B panel into an MR x NR tile of C held in 24 zmm
 * registers. The last B panel of a block is only as wide as needed (16, 32 or 48 columns); a last
 * partial group of A rows is packed (k-major, MR values per k) and zero-padded to MR rows. */
#define MR 8
#define NR 48
#define KC 256
#define MC 128
#define NC 960

static pthread_key_t buf_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static void make_key(void) { (void)pthread_key_create(&buf_key, free); }

/* This thread's packing buffer: MC*KC floats for A (a block's panels, or only its last partial one), then
 * KC*NC for B, 64-byte aligned. */
static float *pack_buffer(void) {
    pthread_once(&key_once, make_key);
    float *p = pthread_getspecific(buf_key);
    if (p) return p;
    p = aligned_alloc(64, sizeof(float) * ((size_t)MC * KC + (size_t)KC * NC));
    if (p && pthread_setspecific(buf_key, p) != 0) {
        free(p);
        p = NULL;
    }
    return p;
}

/* A panel: rows [i0, i0+mrk) of op(A) (rows >= m zero), k in [k0, k0+kc), stored ap[k*mrk + r]. */
static void pack_a(GemmTrans ta, const float *A, int lda, int i0, int m, int k0, int kc, float *ap, int mrk) {
    int rows = m - i0 < mrk ? m - i0 : mrk;
    if (ta == GEMM_T) {
        for (int k = 0; k < kc; k++) {
            const float *src = A + (size_t)(k0 + k) * lda + i0;
            float *dst = ap + (size_t)k * mrk;
            int r = 0;
            for (; r < rows; r++) dst[r] = src[r];
            for (; r < mrk; r++) dst[r] = 0.0f;
        }
    } else {
        for (int r = 0; r < mrk; r++) {
            float *dst = ap + r;
            if (r < rows) {
                const float *src = A + (size_t)(i0 + r) * lda + k0;
                for (int k = 0; k < kc; k++) dst[(size_t)k * mrk] = src[k];
            } else {
                for (int k = 0; k < kc; k++) dst[(size_t)k * mrk] = 0.0f;
            }
        }
    }
}

#define AVX512 __attribute__((target("avx512f,fma")))
#define INLINE static inline __attribute__((always_inline))

/* One row of the tile: acc[r][v] += a[r] * b[v] for the nv vectors. */
#define FMA_ROW(r)                                                                                          \
    {                                                                                                       \
        __m512 ar = _mm512_set1_ps(a[(r) * ars]);                                                           \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                                                         \
        if (nv > 1) c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                                             \
        if (nv > 2) c##r##2 = _mm512_fmadd_ps(ar, b2, c##r##2);                                             \
    }

/* Row r of the tile plus C's old value (columns < nr). All rows are loaded before any is stored: a load
 * that overlaps the 64 bytes of an earlier masked store (the row before's tail, when ldc is not a multiple
 * of 16) waits for that store to retire instead of being forwarded. */
#define ADD_ROW(r)                                                                                          \
    if (r < mr) {                                                                                           \
        const float *cr = c + (size_t)(r) * ldc;                                                            \
        c##r##0 = add_vec(cr, c##r##0, nr);                                                                 \
        if (nv > 1) c##r##1 = add_vec(cr + 16, c##r##1, nr - 16);                                           \
        if (nv > 2) c##r##2 = add_vec(cr + 32, c##r##2, nr - 32);                                           \
    }

/* Row r of the tile to C (columns < nr). */
#define STORE_ROW(r)                                                                                        \
    if (r < mr) {                                                                                           \
        float *cr = c + (size_t)(r) * ldc;                                                                  \
        _mm512_mask_storeu_ps(cr, lanes_between(0, nr), c##r##0);                                           \
        if (nv > 1) _mm512_mask_storeu_ps(cr + 16, lanes_between(0, nr - 16), c##r##1);                    \
        if (nv > 2) _mm512_mask_storeu_ps(cr + 32, lanes_between(0, nr - 32), c##r##2);                    \
    }

AVX512 INLINE __m512 add_vec(const float *src, __m512 v, int left) {
    return _mm512_add_ps(_mm512_maskz_loadu_ps(lanes_between(0, left), src), v);
}

/* 16 x 16 transpose in registers: r[i][j] -> r[j][i] (unpack pairs, then 4x4 blocks, then 128-bit
 * lanes). */
AVX512 INLINE void transpose16(__m512 r[16]) {
    __m512 t[16], s[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* s[4i+c], lane L: rows 4i..4i+3 of column 4L+c */
        s[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        s[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        s[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        s[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) { /* 4 x 4 transpose of the lanes of s[c], s[4+c], s[8+c], s[12+c] */
        __m512 p = _mm512_shuffle_f32x4(s[c], s[4 + c], 0x44), q = _mm512_shuffle_f32x4(s[8 + c], s[12 + c], 0x44);
        __m512 u = _mm512_shuffle_f32x4(s[c], s[4 + c], 0xEE), v = _mm512_shuffle_f32x4(s[8 + c], s[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(p, q, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(p, q, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(u, v, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(u, v, 0xDD);
    }
}

/* B panel: columns [j0, j0+w) of op(B) (columns >= n zero), k in [k0, k0+kc), stored bp[k*w + j]
 * (w a multiple of 16, bp 64-byte aligned), row k times bs->row[k] or column j times bs->col[j] where bs
 * is given (gemm.h's b_scale, b_col_scale). op(B) = B^T is transposed 16 x 16 at a time. */
AVX512 static void pack_b(GemmTrans tb, const float *B, int ldb, int j0, int n, int w, int k0, int kc,
                          const BScale *bs, float *bp) {
    int cols = n - j0 < w ? n - j0 : w;
    if (tb == GEMM_N) {
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)(k0 + k) * ldb + j0;
            float *dst = bp + (size_t)k * w;
            if (bs) {
                __m512 f = bs->row ? _mm512_set1_ps(bs->row[k0 + k]) : _mm512_setzero_ps();
                for (int j = 0; j < cols; j += 16) {
                    __mmask16 m = lanes_between(0, cols - j);
                    if (!bs->row) f = _mm512_maskz_loadu_ps(m, bs->col + j0 + j);
                    _mm512_mask_storeu_ps(dst + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + j), f));
                }
            } else {
                memcpy(dst, src, sizeof(float) * (size_t)cols);
            }
            for (int j = cols; j < w; j++) dst[j] = 0.0f;
        }
        return;
    }
    for (int g = 0; g < w; g += 16) {
        for (int k = 0; k < kc; k += 16) {
            int kk = kc - k < 16 ? kc - k : 16;
            __mmask16 km = lanes_between(0, kk);
            __m512 r[16];
            for (int j = 0; j < 16; j++) {
                r[j] = g + j < cols ? _mm512_maskz_loadu_ps(km, B + (size_t)(j0 + g + j) * ldb + k0 + k)
                                    : _mm512_setzero_ps();
                if (bs && bs->col && g + j < cols) r[j] = _mm512_mul_ps(r[j], _mm512_set1_ps(bs->col[j0 + g + j]));
            }
            transpose16(r);
            if (bs && bs->row)
                for (int q = 0; q < kk; q++) r[q] = _mm512_mul_ps(r[q], _mm512_set1_ps(bs->row[k0 + k + q]));
            float *dst = bp + (size_t)k * w + g;
            if (kk == 16)
                for (int q = 0; q < 16; q++) _mm512_store_ps(dst + (size_t)q * w, r[q]);
            else
                for (int q = 0; q < kk; q++) _mm512_store_ps(dst + (size_t)q * w, r[q]);
        }
    }
}

/* The MR x (16*nv) tile: C[0..mr, 0..nr) (=|+=) sum over k of a[k*MR + r] * b[k*16nv + j]. */
AVX512 INLINE void tile(int nv, int kc, const float *restrict a, int64_t ars, int64_t aks, const float *restrict b,
                        int64_t bks, float *c, int ldc, int mr, int nr, int add) {
    __m512 z = _mm512_setzero_ps();
    __m512 c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z, c30 = z, c31 = z,
           c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z, c60 = z, c61 = z, c62 = z, c70 = z,
           c71 = z, c72 = z;
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b), b1 = z, b2 = z;
        if (nv > 1) b1 = _mm512_load_ps(b + 16);
        if (nv > 2) b2 = _mm512_load_ps(b + 32);
        FMA_ROW(0) FMA_ROW(1) FMA_ROW(2) FMA_ROW(3) FMA_ROW(4) FMA_ROW(5) FMA_ROW(6) FMA_ROW(7)
        a += aks;
        b += bks;
    }
    if (add) { ADD_ROW(0) ADD_ROW(1) ADD_ROW(2) ADD_ROW(3) ADD_ROW(4) ADD_ROW(5) ADD_ROW(6) ADD_ROW(7) }
    STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3) STORE_ROW(4) STORE_ROW(5) STORE_ROW(6) STORE_ROW(7)
}

AVX512 static void tile1(int kc, const float *a, int64_t ars, int64_t aks, const float *b, int64_t bks, float *c,
                       int ldc, int mr, int nr, int add) {
    tile(1, kc, a, ars, aks, b, bks, c, ldc, mr, nr, add);
}
AVX512 static void tile2(int kc, const float *a, int64_t ars, int64_t aks, const float *b, int64_t bks, float *c,
                       int ldc, int mr, int nr, int add) {
    tile(2, kc, a, ars, aks, b, bks, c, ldc, mr, nr, add);
}
AVX512 static void tile3(int kc, const float *a, int64_t ars, int64_t aks, const float *b, int64_t bks, float *c,
                       int ldc, int mr, int nr, int add) {
    tile(3, kc, a, ars, aks, b, bks, c, ldc, mr, nr, add);
}

AVX512 static void tile_avx512(int kc, const float *a, int64_t ars, int64_t aks, const float *b, int64_t bks, float *c,
                               int ldc, int mr, int nr, int add) {
    if (nr > 32) tile3(kc, a, ars, aks, b, bks, c, ldc, mr, nr, add);
    else if (nr > 16) tile2(kc, a, ars, aks, b, bks, c, ldc, mr, nr, add);
    else tile1(kc, a, ars, aks, b, bks, c, ldc, mr, nr, add);
}

/* The MR x nr tile in t (rows [0, mr) valid, row stride NR) added to (add) or stored in C^T: t[r][j] to
 * c[j*ldc + r]. 16 columns at a time: an 8 x 16 transpose in registers leaves columns j and j+4 (rows 0-7)
 * in the two halves of one vector, each half stored with its own mask (the upper one from 8 floats before
 * its row, so that the mask's lanes 8-15 land on it). */
AVX512 static void store_transposed(const float *t, int mr, int nr, float *c, int ldc, int add) {
    __mmask16 lo = (__mmask16)((1u << mr) - 1), hi = (__mmask16)(lo << 8);
    for (int g = 0; g < nr; g += 16) {
        __m512 v[8], u[8], w[8];
        for (int r = 0; r < 8; r++) v[r] = _mm512_load_ps(t + r * NR + g);
        for (int r = 0; r < 8; r += 2) { /* per 128-bit lane L: rows r, r+1 of columns 4L.. */
            u[r] = _mm512_unpacklo_ps(v[r], v[r + 1]);
            u[r + 1] = _mm512_unpackhi_ps(v[r], v[r + 1]);
        }
        for (int h = 0; h < 2; h++) { /* w[4h+q], lane L: rows 4h..4h+3 of column 4L+q */
            w[4 * h] = _mm512_shuffle_ps(u[4 * h], u[4 * h + 2], 0x44);
            w[4 * h + 1] = _mm512_shuffle_ps(u[4 * h], u[4 * h + 2], 0xEE);
            w[4 * h + 2] = _mm512_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0x44);
            w[4 * h + 3] = _mm512_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0xEE);
        }
        for (int q = 0; q < 4; q++) {
            /* after the lane permute (0xD8): (L0 of w[q], L0 of w[4+q], L1 of w[q], L1 of w[4+q]) from p0, the
             * same of L2, L3 from p1: columns q and 4+q, then 8+q and 12+q, rows 0-7 each */
            __m512 p0 = _mm512_shuffle_f32x4(w[q], w[4 + q], 0x44), p1 = _mm512_shuffle_f32x4(w[q], w[4 + q], 0xEE);
            __m512 col[2] = {_mm512_shuffle_f32x4(p0, p0, 0xD8), _mm512_shuffle_f32x4(p1, p1, 0xD8)};
            for (int x = 0; x < 2; x++) { /* columns g+8x+q (low half) and g+8x+q+4 (high half) */
                int j0 = g + 8 * x + q, j1 = j0 + 4;
                if (j0 >= nr) break;
                float *d0 = c + (size_t)j0 * ldc, *d1 = c + (size_t)j1 * ldc - 8;
                __mmask16 m1 = j1 < nr ? hi : 0;
                __m512 y = col[x];
                if (add) y = _mm512_add_ps(_mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(lo, d0), m1, d1), y);
                _mm512_mask_storeu_ps(d0, lo, y);
                _mm512_mask_storeu_ps(d1, m1, y);
            }
        }
    }
}

/* ---- the AVX2 twin: a 6 x 16 tile in 12 ymm registers ------------------------------------------------
 * For CPUs without AVX-512 (AMD Zen 2/3, Intel client cores), on request (AUDIOCNN_GEMM=avx2, gemm.h).
 * Every element of C is the same chain of FMAs in the same k order as in the AVX-512 kernel, each K slice
 * added to C the same way, so both give the same bits (test_gemm). B is packed in 16-column panels;
 * op(B) = B^T by a plain loop. */
#define AVX2 __attribute__((target("avx2,fma")))
#define MR2 6

static void pack_b_plain(GemmTrans tb, const float *B, int ldb, int j0, int n, int w, int k0, int kc,
                         const BScale *bs, float *bp) {
    int cols = n - j0 < w ? n - j0 : w;
    for (int k = 0; k < kc; k++) {
        float *dst = bp + (size_t)k * w;
        if (tb == GEMM_N) {
            memcpy(dst, B + (size_t)(k0 + k) * ldb + j0, sizeof(float) * (size_t)cols);
        } else {
            for (int j = 0; j < cols; j++) dst[j] = B[(size_t)(j0 + j) * ldb + k0 + k];
        }
        if (bs && bs->row)
            for (int j = 0; j < cols; j++) dst[j] = dst[j] * bs->row[k0 + k];
        else if (bs)
            for (int j = 0; j < cols; j++) dst[j] = dst[j] * bs->col[j0 + j];
        for (int j = cols; j < w; j++) dst[j] = 0.0f;
    }
}

#define FMA_ROW2(r)                                                                                         \
    {                                                                                                       \
        __m256 ar = _mm256_broadcast_ss(a + (r) * ars);                                                     \
        c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);                                                         \
        c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);                                                         \
    }
#define STORE_ROW2(r)                                                                                       \
    if (r < mr) {                                                                                           \
        float t[16], *cr = c + (size_t)(r) * ldc;                                                           \
        if (nr == 16) {                                                                                     \
            if (add) {                                                                                      \
                c##r##0 = _mm256_add_ps(_mm256_loadu_ps(cr), c##r##0);                                      \
                c##r##1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), c##r##1);                                  \
            }                                                                                               \
            _mm256_storeu_ps(cr, c##r##0);                                                                  \
            _mm256_storeu_ps(cr + 8, c##r##1);                                                              \
        } else {                                                                                            \
            _mm256_storeu_ps(t, c##r##0);                                                                   \
            _mm256_storeu_ps(t + 8, c##r##1);                                                               \
            if (add)                                                                                        \
                for (int j = 0; j < nr; j++) cr[j] = cr[j] + t[j];                                          \
            else                                                                                            \
                for (int j = 0; j < nr; j++) cr[j] = t[j];                                                  \
        }                                                                                                   \
    }

AVX2 static void tile_avx2(int kc, const float *restrict a, int64_t ars, int64_t aks, const float *restrict b,
                           int64_t bks, float *c, int ldc, int mr, int nr, int add) {
    __m256 z = _mm256_setzero_ps();
    __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        FMA_ROW2(0) FMA_ROW2(1) FMA_ROW2(2) FMA_ROW2(3) FMA_ROW2(4) FMA_ROW2(5)
        a += aks;
        b += bks;
    }
    STORE_ROW2(0) STORE_ROW2(1) STORE_ROW2(2) STORE_ROW2(3) STORE_ROW2(4) STORE_ROW2(5)
}

/* ---- the loops around either tile ------------------------------------------------------------------- */

typedef struct {
    int mr, nr, mc; /* rows of a tile, widest B panel, rows of a block of C (a multiple of mr, <= MC) */
    int pack_a_from; /* from this many columns of C on, every panel of A is packed (else full panels are read in
                      * place and only a last partial one is packed); 0: never */
    int b_in_place;  /* 1: small, aligned B read in place (use_b_in_place) */
    void (*pack_b)(GemmTrans tb, const float *B, int ldb, int j0, int n, int w, int k0, int kc, const BScale *bs,
                   float *bp);
    void (*tile)(int kc, const float *a, int64_t ars, int64_t aks, const float *b, int64_t bks, float *c, int ldc, int mr,
                 int nr, int add); /* b: B's panel, k steps bks floats apart */
    void (*epilogue)(const GemmEpilogue *ep, int i0, int mr, int j0, int nr, float *C, int ldc);
} Kernel;

static const Kernel kernel_avx512 = {MR, NR, MC, 0, 1, pack_b, tile_avx512, epilogue_tile};
/* AVX2 packs A when C is wide enough to repay it: with 2 B vectors per 6 broadcasts, broadcasts from 6
 * rows far apart cost more than packing there (64 x 1600 x 576: 0.75x OpenBLAS's Haswell kernel in place,
 * 0.83x packed), while 52 columns do not repay it (1152 x 52 x 192: 1.05x in place, 0.82x packed). B is
 * read in place where use_b_in_place allows, as by the AVX-512 kernel (resnet18's products 0.96x -> 1.00x
 * OpenBLAS's Haswell kernel, EfficientNet-B0's 0.94x -> 0.97x; at least as fast on 17 of 44 and 44 of 123
 * shapes, was 8 and 15). */
static const Kernel kernel_avx2 = {MR2, 16, 16 * MR2, 128, 1, pack_b_plain, tile_avx2, epilogue_rows};

static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

/* A hint to bring rows [0, m) x columns [0, n) of p (row stride ld) into L1. */
static inline void prefetch_rows(const float *p, size_t ld, int m, int n) {
    for (int r = 0; r < m; r++)
        for (int q = 0; q < n; q += 16) __builtin_prefetch(p + (size_t)r * ld + q, 0, 3);
}

/* 1 when the tile can read B where it is instead of from packed panels: B not transposed, its rows whole
 * vectors (N and ldb multiples of 16, B 64-byte aligned) and within B_IN_PLACE_FLOATS (2 MiB, a core's L2 on
 * the build machine). Packing copies all of B once per K slice for only M/MR row tiles, which for the
 * engine's few-row products costs more than the tile's strided reads of B (bench/gemm, Intel AVX-512, 2 MiB
 * of L2 per core: Winograd's 36 products per block, which packing copied again, 9% of a baseline scan's
 * network; 64 x 400 x 576 (resnet18's layer1 over a pixel block) 162 -> 197 GFLOP/s, 16 x 1152 x 48
 * 96 -> 193, 16 x 10240 x 9 88 -> 135, 24 x 1056 x 144 130 -> 195; none of the 58 such shapes of the three
 * models slower, nor 64 x 1024 x 576 with its 4 KiB row stride, nor 48 x 16384 x 128, 8 MiB). The same
 * bits: packing moves values, the tile's sums are the same. */
#define B_IN_PLACE_FLOATS (512 * 1024)
static int use_b_in_place(const Kernel *kn, GemmTrans tb, int N, int K, const float *B, int ldb) {
    return kn->b_in_place && tb == GEMM_N && N % 16 == 0 && ldb % 16 == 0 && ((uintptr_t)B & 63) == 0 &&
           (int64_t)K * ldb <= B_IN_PLACE_FLOATS;
}

/* The width of the B panel that starts `cols` columns before the block's end: knr, or the rest rounded up
 * to whole vectors (its k steps lie that many floats apart when packed). */
static int panel_width(int cols, int knr) { return cols >= knr ? knr : (cols + 15) / 16 * 16; }

/* 1 when C^T = op(B)^T op(A)^T runs clearly faster (bench/gemm on the engine's shapes, Intel AVX-512):
 *  - TN with few columns and a long K (the dx of ResNet's and EfficientNet's last, 4 x 13 stage): when the
 *    columns are not whole vectors (52: 12 of the last 16-column panel's lanes idle), C^T's 52 rows fill
 *    52 of 56 tile rows and A, now B', is read in place (use_b_in_place): 192 x 52 x 1152 1.31x,
 *    1152 x 52 x 192 1.37x, 320 x 52 x 1280 1.26x; with many rows op(A) = A^T read in place steps lda
 *    floats per k, each step a new page and, with lda a multiple of 256, the same few L1 sets, while
 *    swapped A is packed into contiguous panels (2304 x 52 x 512 1.47x);
 *  - NT with few rows and a long K (the weight gradients of small layers, 32 x 144 x 1424 1.29x, 16 x 48 x
 *    1152 1.25x), or with at most 64 rows and many columns (resnet18's layer1 64 x 576 x 400 1.08x, the
 *    baseline's 64 x 288 x 640 1.06x): B^T is packed by 16 x 16 transposes for only M/8 tiles; swapped, the
 *    small A is packed and B, now A', read in place.
 * Elsewhere swapping loses (Winograd's 16 x 112 x 32 0.57x, N = 48 shapes 0.6-0.7x, NN with 52 columns
 * 0.9x: swapped, B' = A^T must be packed by transposes): the tile is right where it is. */
static int transpose_pays(GemmTrans ta, GemmTrans tb, int M, int N, int K) {
    if (ta == GEMM_T && tb == GEMM_N) return N <= 64 && K >= 192 && (M >= 1024 || N % 16 != 0);
    if (ta == GEMM_N && tb == GEMM_T) return (M <= 32 && N >= 32 && K >= 1024) || (M <= 64 && N >= 256 && K >= 256);
    return 0;
}

/* ct: C is stored transposed (C[i][j] at C[j*ldc + i]; the AVX-512 kernel only, no epilogue). */
static int packed_gemm(const Kernel *kn, GemmTrans ta, GemmTrans tb, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, const BScale *bs, float beta, float *C, int ldc, const GemmEpilogue *ep,
                       int ct) {
    float *abuf = pack_buffer();
    if (!abuf) return -1;
    float *bbuf = abuf + (size_t)MC * KC;
    if (beta != 0.0f && beta != 1.0f) {
        scale_c(ct ? N : M, ct ? M : N, beta, C, ldc); /* C as stored */
        beta = 1.0f;
    }
    const int kmr = kn->mr, knr = kn->nr;
    float ctile[MR * NR] __attribute__((aligned(64))); /* a tile of C^T on its way (ct) */
    if (ct) memset(ctile, 0, sizeof ctile); /* rows past a partial tile's mr are read (masked off) below */
    const int b_in_place = !bs && use_b_in_place(kn, tb, N, K, B, ldb);
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            int add = pc > 0 || beta != 0.0f;
            const GemmEpilogue *last = pc + kc == K ? ep : NULL; /* the sums are complete in this slice */
            for (int jr = 0; jr < nc && !b_in_place; jr += knr) {
                kn->pack_b(tb, B, ldb, jc + jr, N, panel_width(nc - jr, knr), pc, kc, bs, bbuf + (size_t)jr * kc);
            }
            for (int ic = 0; ic < M; ic += kn->mc) {
                int mc = M - ic < kn->mc ? M - ic : kn->mc;
                /* Full panels of A are read in place (row r of the panel at a + r*ars, k steps of aks);
                 * only a last partial panel is packed, zero-padded to mr rows. */
                int mfull = kn->pack_a_from && N >= kn->pack_a_from ? 0 : mc / kmr * kmr;
                for (int ir = mfull; ir < mc; ir += kmr) pack_a(ta, A, lda, ic + ir, M, pc, kc, abuf + (size_t)(ir - mfull) * kc, kmr);
                for (int jr = 0; jr < nc; jr += knr) {
                    int nr = nc - jr < knr ? nc - jr : knr;
                    const float *bp = b_in_place ? B + (size_t)pc * ldb + jc + jr : bbuf + (size_t)jr * kc;
                    int64_t bks = b_in_place ? ldb : panel_width(nc - jr, knr);
                    for (int ir = 0; ir < mc; ir += kmr) {
                        int mr = mc - ir < kmr ? mc - ir : kmr;
                        const float *ap;
                        int64_t ars, aks;
                        if (ir < mfull) {
                            ap = ta == GEMM_N ? A + (size_t)(ic + ir) * lda + pc : A + (size_t)pc * lda + ic + ir;
                            ars = ta == GEMM_N ? lda : 1;
                            aks = ta == GEMM_N ? 1 : lda;
                        } else {
                            ap = abuf + (size_t)(ir - mfull) * kc;
                            ars = 1;
                            aks = kmr;
                        }
                        if (ct) {
                            kn->tile(kc, ap, ars, aks, bp, bks, ctile, NR, mr, nr, 0);
                            store_transposed(ctile, mr, nr, C + (size_t)(jc + jr) * ldc + ic + ir, ldc, add);
                            continue;
                        }
                        float *c = C + (size_t)(ic + ir) * ldc + jc + jr;
                        /* the epilogue's residual tile comes from memory: ask for it now, the tile's kc
                         * steps hide the wait (ResNet-152 inference: the epilogue 10% -> 4.6% of the time) */
                        if (last && last->res)
                            prefetch_rows(last->res + (size_t)(ic + ir) * last->ldr + jc + jr, last->ldr, mr, nr);
                        kn->tile(kc, ap, ars, aks, bp, bks, c, ldc, mr, nr, add);
                        if (last) kn->epilogue(last, ic + ir, mr, jc + jr, nr, C, ldc);
                    }
                }
            }
        }
    }
    return 0;
}

#endif /* HAVE_AVX512_KERNEL */

/* AUDIOCNN_GEMM_LOG=FILE: each call's shape appended to FILE, for bench/gemm (see gemm.h). */
static FILE *gemm_log;
static pthread_once_t gemm_log_once = PTHREAD_ONCE_INIT;
static void gemm_log_open(void) {
    const char *p = getenv("AUDIOCNN_GEMM_LOG");
    if (p && *p) gemm_log = fopen(p, "a");
}

void gemm_f32(GemmTrans ta, GemmTrans tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    gemm_f32_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL);
}

/* OpenBLAS on op(B) scaled by rows or columns (gemm.h's b_scale, b_col_scale): the scaled rows copied a block
 * at a time into a buffer on the stack (no allocation that could fail), each block's product added to C. */
static void blas_b_scaled(GemmTrans ta, GemmTrans tb, int M, int N, int K, const float *A, int lda, const float *B,
                          int ldb, const BScale *bs, float beta, float *C, int ldc) {
    enum { KB = 32, NB = 128 };
    float buf[KB * NB];
    for (int j0 = 0; j0 < N; j0 += NB) {
        int nb = N - j0 < NB ? N - j0 : NB;
        for (int k0 = 0; k0 < K; k0 += KB) {
            int kb = K - k0 < KB ? K - k0 : KB;
            for (int k = 0; k < kb; k++)
                for (int j = 0; j < nb; j++) {
                    float b = tb == GEMM_N ? B[(size_t)(k0 + k) * ldb + j0 + j] : B[(size_t)(j0 + j) * ldb + k0 + k];
                    buf[k * NB + j] = b * (bs->row ? bs->row[k0 + k] : bs->col[j0 + j]);
                }
            const float *a = ta == GEMM_N ? A + k0 : A + (size_t)k0 * lda;
            blas(ta, GEMM_N, M, nb, kb, a, lda, buf, NB, k0 == 0 ? beta : 1.0f, C + j0, ldc);
        }
    }
}

void gemm_f32_ep(GemmTrans ta, GemmTrans tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc, const GemmEpilogue *ep) {
    BScale scaled = {ep ? ep->b_scale : NULL, ep ? ep->b_col_scale : NULL};
    const BScale *bs = scaled.row || scaled.col ? &scaled : NULL;
    if (ep && !ep->bias && !ep->scale && !ep->res && ep->act == ACT_NONE) ep = NULL;
    pthread_once(&gemm_log_once, gemm_log_open);
    if (gemm_log) fprintf(gemm_log, "%c%c %d %d %d %d\n", ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, beta != 0.0f);
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int i = 0; i < M; i++) {
            float *c = C + (size_t)i * ldc;
            for (int j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : c[j] * beta;
        }
        if (ep) epilogue_rows(ep, 0, M, 0, N, C, ldc);
        return;
    }
#if HAVE_AVX512_KERNEL
    int k = kernel_kind();
    if (k == 2 && !ep && !bs && transpose_pays(ta, tb, M, N, K)) {
        /* C^T = op(B)^T op(A)^T: each element the same products summed in the same order, so the same bits */
        if (packed_gemm(&kernel_avx512, !tb, !ta, N, M, K, B, ldb, A, lda, NULL, beta, C, ldc, NULL, 1) == 0) return;
    }
    if (k && packed_gemm(k == 2 ? &kernel_avx512 : &kernel_avx2, ta, tb, M, N, K, A, lda, B, ldb, bs, beta, C, ldc,
                         ep, 0) == 0)
        return;
#endif
    if (bs) blas_b_scaled(ta, tb, M, N, K, A, lda, B, ldb, bs, beta, C, ldc);
    else blas(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    if (ep) epilogue_rows(ep, 0, M, 0, N, C, ldc);
}
