#include "nn/depthwise.h"

#include "nn/nn.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/act_avx512.h"
#include "nn/lanes_avx512.h"
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

/* Lane l: row[base + sw*l] when that column is inside [0, n), else 0 (zero padding). sw is 1 or 2;
 * masked-off lanes are never read. `inside` says that all 16*sw columns from base are in the row, which
 * the callers know per vector of outputs (the interior of a row): then no mask is computed. */
AVX512 INLINE __m512 load_cols(const float *row, int64_t base, int64_t n, int sw, int inside) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    if (inside) {
        if (sw == 1) return _mm512_loadu_ps(row + base);
        return _mm512_permutex2var_ps(_mm512_loadu_ps(row + base), even, _mm512_loadu_ps(row + base + 16));
    }
    if (sw == 1) return _mm512_maskz_loadu_ps(lanes_between(-base, n - base), row + base);
    __m512 lo = _mm512_maskz_loadu_ps(lanes_between(-base, n - base), row + base);
    __m512 hi = _mm512_maskz_loadu_ps(lanes_between(-base - 16, n - base - 16), row + base + 16);
    return _mm512_permutex2var_ps(lo, even, hi);
}

/* Whether the columns [first, last + 16*sw) all lie in [0, n). */
INLINE int all_inside(int64_t first, int64_t last, int64_t n, int sw) { return first >= 0 && last + 16 * sw <= n; }

/* One row of outputs, 16*nb at a time from column ow0 (nb vectors with independent sums, so that the
 * FMA latency overlaps): the taps of kernel rows [i0, i1) are in the rows of x given by xrows (NULL: a
 * padding row). `in`: every load inside the row (no masks). sw is a constant where this is inlined. */
/* Output row of input row ih under tap row i, or -1 when none (stride skips it or out of range). */
static int64_t out_row(const Conv2dShape *s, int64_t ih, int i) {
    int64_t t = ih + s->pad_h - (int64_t)i * s->dil_h;
    if (t < 0 || t % s->stride_h) return -1;
    t /= s->stride_h;
    return t < s->OH ? t : -1;
}

/* dst (rows x cols) = src (h x w) shifted down by sr rows and right by sc columns, zero elsewhere (the
 * padded planes of the forward/dw input and of the stride-1 dx's dy). */
static void pad_copy(const float *src, int64_t h, int64_t w, int64_t sr, int64_t sc, int64_t rows, int64_t cols,
                     float *dst) {
    for (int64_t r = 0; r < rows; r++, dst += cols) {
        int64_t sr_row = r - sr, c = 0;
        if (sr_row >= 0 && sr_row < h) {
            for (; c < sc && c < cols; c++) dst[c] = 0.0f;
            int64_t n = w < cols - c ? w : cols - c;
            memcpy(dst + c, src + sr_row * w, sizeof(float) * (size_t)n);
            c += n;
        }
        for (; c < cols; c++) dst[c] = 0.0f;
    }
}

/* The padded copies keep a header in the scratch's first 16 floats (the copy itself follows, 64-byte
 * aligned as the scratch): the layout it holds and the caller's pass token. When both match, the zeros
 * around the data are still in place (only pad_copy writes the scratch during a pass), so only the data
 * rows are copied: EfficientNet's late planes (4x13 with a 5x5 kernel) are mostly padding. */
typedef struct {
    uint64_t magic, pass;
    int64_t rows, cols, sr, sc, h, w;
} PadHeader;
#define PAD_HEADER_FLOATS 16
#define PAD_MAGIC 0x31646564646170ull /* "padded1" */

static float *padded_copy(float *scratch, uint64_t pass, const float *src, int64_t h, int64_t w, int64_t sr,
                          int64_t sc, int64_t rows, int64_t cols) {
    PadHeader want = {PAD_MAGIC, pass, rows, cols, sr, sc, h, w}, have;
    float *dst = scratch + PAD_HEADER_FLOATS;
    memcpy(&have, scratch, sizeof have);
    if (pass != 0 && memcmp(&have, &want, sizeof want) == 0) { /* pad_copy's data rows only */
        int64_t n = w < cols - sc ? w : cols - sc;
        for (int64_t i = 0; i < h && sr + i < rows && n > 0; i++)
            memcpy(dst + (sr + i) * cols + sc, src + i * w, sizeof(float) * (size_t)n);
        return dst;
    }
    pad_copy(src, h, w, sr, sc, rows, cols, dst);
    memcpy(scratch, &want, sizeof want);
    return dst;
}

AVX512 INLINE __m512 load_padded(const float *at, int sw) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    if (sw == 1) return _mm512_loadu_ps(at);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(at), even, _mm512_loadu_ps(at + 16));
}

/* Columns j..j+15 of the 32 in (lo, hi), 0 <= j < 16: valignd's shift (j a constant once unrolled). */
AVX512 INLINE __m512 shifted(__m512i lo, __m512i hi, int j) {
    switch (j) {
    case 0: return _mm512_castsi512_ps(lo);
    case 1: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 1));
    case 2: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 2));
    case 3: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 3));
    case 4: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 4));
    case 5: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 5));
    case 6: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 6));
    case 7: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 7));
    case 8: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 8));
    case 9: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 9));
    case 10: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 10));
    case 11: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 11));
    case 12: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 12));
    case 13: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 13));
    case 14: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 14));
    default: return _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 15));
    }
}

/* The positions (row, first column) of output vectors v0..v0+3 of a plane with nvec vectors per row, from
 * *row, *col: vector v0's, advanced here for the next call (no division per vector). Past the last
 * vector (nv), the last again. */
INLINE void four_positions(int v0, int nv, int nvec, int *row, int *col, int *r, int *c) {
    for (int q = 0; q < 4; q++) {
        if (v0 + q < nv) {
            r[q] = *row, c[q] = *col;
            if ((*col += 16) >= 16 * nvec) *col = 0, ++*row;
        } else {
            r[q] = r[q - 1], c[q] = c[q - 1];
        }
    }
}

/* Columns 0..31 of tap row o of each of the four bases, as aligned pairs (lo, hi) for shifted(). */
AVX512 INLINE void load_rows4(const float *const *base, int64_t o, __m512i *lo, __m512i *hi) {
    for (int q = 0; q < 4; q++) {
        lo[q] = _mm512_load_si512(base[q] + o);
        hi[q] = _mm512_load_si512(base[q] + o + 16);
    }
}

/* acc[q] += w[i*KW + j] * the plane at base[q] + the tap's offset, over the taps (i, j) in order, for four
 * output vectors: the forward's correlation (flip 0: offset i*dil_h*ld + j*dil_w, 16 columns sw apart) or
 * stride 1's dx, a correlation with the flipped taps (flip 1: offset (KH-1-i)*dil_h*ld + (KW-1-j)*dil_w).
 * KH, KW are constants where the caller specialises them (3x3, 5x5: the tap loops unrolled). `aligned`
 * (stride 1, no column dilation, bases 64-byte aligned, ld a multiple of 16): each tap row is two aligned
 * loads and the taps' shifts by valignd instead of split unaligned loads; the same values, the same bits. */
AVX512 INLINE void taps4(const float *const *base, int64_t ld, const float *w, const int KH, const int KW, int dil_h,
                         int dil_w, int sw, int flip, int aligned, __m512 *acc) {
    __m512 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    if (aligned) {
        for (int i = 0; i < KH; i++) {
            __m512i l[4], h[4];
            load_rows4(base, (int64_t)(flip ? KH - 1 - i : i) * dil_h * ld, l, h);
            for (int j = 0; j < KW; j++) {
                __m512 wv = _mm512_set1_ps(w[i * KW + j]);
                int c = flip ? KW - 1 - j : j;
                a0 = _mm512_fmadd_ps(wv, shifted(l[0], h[0], c), a0);
                a1 = _mm512_fmadd_ps(wv, shifted(l[1], h[1], c), a1);
                a2 = _mm512_fmadd_ps(wv, shifted(l[2], h[2], c), a2);
                a3 = _mm512_fmadd_ps(wv, shifted(l[3], h[3], c), a3);
            }
        }
    } else {
        for (int i = 0; i < KH; i++)
            for (int j = 0; j < KW; j++) {
                int64_t o = (int64_t)(flip ? KH - 1 - i : i) * dil_h * ld + (int64_t)(flip ? KW - 1 - j : j) * dil_w;
                __m512 wv = _mm512_set1_ps(w[i * KW + j]);
                a0 = _mm512_fmadd_ps(wv, load_padded(base[0] + o, sw), a0);
                a1 = _mm512_fmadd_ps(wv, load_padded(base[1] + o, sw), a1);
                a2 = _mm512_fmadd_ps(wv, load_padded(base[2] + o, sw), a2);
                a3 = _mm512_fmadd_ps(wv, load_padded(base[3] + o, sw), a3);
            }
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* f(..., KH, KW) with the kernel's size as constants for EfficientNet's 3x3 and 5x5, else s's. */
#define WITH_KERNEL_SIZE(s, call)                                                                            \
    do {                                                                                                     \
        if ((s)->KH == 3 && (s)->KW == 3) { const int KHc = 3, KWc = 3; call; }                             \
        else if ((s)->KH == 5 && (s)->KW == 5) { const int KHc = 5, KWc = 5; call; }                        \
        else { const int KHc = (s)->KH, KWc = (s)->KW; call; }                                               \
    } while (0)

/* dx for stride 1 as a forward correlation of the zero-padded dy with the flipped taps:
 * dx[ih][iw] = sum w[i][j] * dyp[ih + (KH-1-i)*dil_h][iw + (KW-1-j)*dil_w], where dyp is dy shifted by
 * ((KH-1)*dil_h - pad_h, (KW-1)*dil_w - pad_w); four output vectors at a time through taps4. */
typedef struct {
    int64_t rows, cols, sh, sw; /* padded dy and dy's shift into it */
    int nvec;
} PaddedDy;

static int dx_padded_ok(const Conv2dShape *s) {
    return s->stride_h == 1 && s->stride_w == 1 && (int64_t)(s->KH - 1) * s->dil_h >= s->pad_h &&
           (int64_t)(s->KW - 1) * s->dil_w >= s->pad_w;
}

static PaddedDy padded_dy(const Conv2dShape *s) {
    PaddedDy p;
    p.nvec = (s->W + 15) / 16;
    p.sh = (int64_t)(s->KH - 1) * s->dil_h - s->pad_h;
    p.sw = (int64_t)(s->KW - 1) * s->dil_w - s->pad_w;
    p.rows = s->H + (int64_t)(s->KH - 1) * s->dil_h;
    p.cols = ((int64_t)p.nvec * 16 + (int64_t)(s->KW - 1) * s->dil_w + 16 + 15) & ~(int64_t)15;
    return p;
}

AVX512 INLINE void dx_padded_k(const Conv2dShape *s, const float *dy, const float *w, float *dx, float *scratch,
                               uint64_t pass, const int KH, const int KW) {
    const PaddedDy p = padded_dy(s);
    const int nv = s->H * p.nvec;
    const float *dyp = padded_copy(scratch, pass, dy, s->OH, s->OW, p.sh, p.sw, p.rows, p.cols);
    const int aligned = s->dil_w == 1 && KW <= 16 && ((uintptr_t)dyp & 63) == 0;
    int next_ih = 0, next_iw0 = 0;
    for (int v0 = 0; v0 < nv; v0 += 4) {
        const float *base[4];
        int ih[4], iw0[4];
        four_positions(v0, nv, p.nvec, &next_ih, &next_iw0, ih, iw0);
        for (int q = 0; q < 4; q++) base[q] = dyp + (int64_t)ih[q] * p.cols + iw0[q];
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        taps4(base, p.cols, w, KH, KW, s->dil_h, s->dil_w, 1, 1, aligned, acc);
        for (int q = 0; q < 4; q++)
            _mm512_mask_storeu_ps(dx + (size_t)ih[q] * s->W + iw0[q], lanes_between(0, s->W - iw0[q]), acc[q]);
    }
}

AVX512 static void dx_padded(const Conv2dShape *s, const float *dy, const float *w, float *dx, float *scratch,
                             uint64_t pass) {
    WITH_KERNEL_SIZE(s, dx_padded_k(s, dy, w, dx, scratch, pass, KHc, KWc));
}

/* dx as a gather: each input column collects the taps that read it. Stride 2 splits the columns by
 * parity (each parity meets every other tap at consecutive output columns) and interleaves the two
 * sums back. */
AVX512 INLINE void dx_plane_k(const Conv2dShape *s, const float *dy, const float *w, float *dx, const int KH,
                              const int KW) {
    const int OW = s->OW, W = s->W;
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int64_t ih = 0; ih < s->H; ih++) {
        float *dxrow = dx + ih * W;
        const float *dyrows[49]; /* the dy row each tap row reads for this input row, NULL: none */
        for (int i = 0; i < KH; i++) {
            int64_t oh = out_row(s, ih, i);
            dyrows[i] = oh < 0 ? NULL : dy + oh * OW;
        }
        if (s->stride_w == 1) {
            for (int iw0 = 0; iw0 < W; iw0 += 16) {
                __m512 acc = _mm512_setzero_ps();
                int64_t b0 = (int64_t)iw0 + s->pad_w; /* tap j reads from b0 - j*dil */
                int in = all_inside(b0 - (int64_t)(KW - 1) * s->dil_w, b0, OW, 1);
                for (int i = 0; i < KH; i++) {
                    if (!dyrows[i]) continue;
                    for (int j = 0; j < KW; j++)
                        acc = _mm512_fmadd_ps(_mm512_set1_ps(w[i * KW + j]),
                                              load_cols(dyrows[i], b0 - (int64_t)j * s->dil_w, OW, 1, in), acc);
                }
                _mm512_mask_storeu_ps(dxrow + iw0, lanes_between(0, W - iw0), acc);
            }
            continue;
        }
        /* stride 2: columns iw0 + 2m + q, q = 0, 1; tap j reads dy column (iw0 + q + pad - j*dil) / 2 + m
         * for the one parity q that makes it even */
        for (int iw0 = 0; iw0 < W; iw0 += 32) {
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
            for (int i = 0; i < KH; i++) {
                if (!dyrows[i]) continue;
                for (int j = 0; j < KW; j++) {
                    int64_t t = (int64_t)iw0 + s->pad_w - (int64_t)j * s->dil_w, q = t & 1, c = (t + q) / 2;
                    __m512 v = load_cols(dyrows[i], c, OW, 1, c >= 0 && c + 16 <= OW);
                    __m512 wv = _mm512_set1_ps(w[i * KW + j]);
                    if (q) a1 = _mm512_fmadd_ps(wv, v, a1);
                    else a0 = _mm512_fmadd_ps(wv, v, a0);
                }
            }
            _mm512_mask_storeu_ps(dxrow + iw0, lanes_between(0, W - iw0), _mm512_permutex2var_ps(a0, ilo, a1));
            _mm512_mask_storeu_ps(dxrow + iw0 + 16, lanes_between(0, W - iw0 - 16), _mm512_permutex2var_ps(a0, ihi, a1));
        }
    }
}

AVX512 static void dx_plane(const Conv2dShape *s, const float *dy, const float *w, float *dx) {
    WITH_KERNEL_SIZE(s, dx_plane_k(s, dy, w, dx, KHc, KWc));
}

/* 16 lanes summed in double, in a fixed order. */
AVX512 INLINE double sum_lanes(__m512 v) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

/* ---- forward and dw on a zero-padded copy of the input plane ----------------------------------------
 * The plane is copied once into the workspace with its zero padding and enough slack on the right that
 * every load of every output vector is a plain (unmasked) load: rows ih in [-pad_h, last tap row],
 * columns from -pad_w to past the last vector's reach. Output vectors (16 columns of one output row) are
 * then taken four at a time across row ends, each with its own base pointer, so that four independent
 * sums hide the FMA latency even on planes a few columns wide (EfficientNet's late 8x25 and 4x13). */
typedef struct {
    int64_t rows, cols; /* padded plane */
    int nvec;           /* output vectors per row */
} Padded;

static Padded padded(const Conv2dShape *s) {
    Padded p;
    p.nvec = (s->OW + 15) / 16;
    p.rows = (int64_t)(s->OH - 1) * s->stride_h + (int64_t)(s->KH - 1) * s->dil_h + 1;
    p.cols = ((int64_t)p.nvec * 16 - 1) * s->stride_w + (int64_t)(s->KW - 1) * s->dil_w + 33;
    p.cols = (p.cols + 15) & ~(int64_t)15;
    return p;
}

static const float *pad_plane(const Conv2dShape *s, const Padded *p, const float *x, float *scratch, uint64_t pass) {
    return padded_copy(scratch, pass, x, s->H, s->W, s->pad_h, s->pad_w, p->rows, p->cols);
}


AVX512 INLINE void fwd_padded(const Conv2dShape *s, const float *xp, const float *w, float bias, float *y, int sw,
                              const DwPlaneEpilogue *ep, const int KH, const int KW) {
    const Padded p = padded(s);
    const int nv = s->OH * p.nvec;
    const __m512 bv = _mm512_set1_ps(bias);
    /* stride 1, no column dilation: every base is 64-byte aligned (whole vectors of output columns, rows of
     * whole vectors, the copy aligned) and the taps of a row are the shifts 0..KW-1 of two vectors */
    const int aligned = sw == 1 && s->dil_w == 1 && KW <= 16 && ((uintptr_t)xp & 63) == 0;
    int next_oh = 0, next_ow0 = 0;
    for (int v0 = 0; v0 < nv; v0 += 4) {
        const float *base[4];
        int oh[4], ow0[4];
        four_positions(v0, nv, p.nvec, &next_oh, &next_ow0, oh, ow0);
        for (int q = 0; q < 4; q++) base[q] = xp + (int64_t)oh[q] * s->stride_h * p.cols + (int64_t)ow0[q] * sw;
        __m512 acc[4] = {bv, bv, bv, bv};
        taps4(base, p.cols, w, KH, KW, s->dil_h, s->dil_w, sw, 0, aligned, acc);
        for (int q = 0; q < 4; q++) {
            size_t o = (size_t)oh[q] * s->OW + ow0[q];
            __mmask16 m = lanes_between(0, s->OW - ow0[q]);
            if (ep)
                acc[q] = nn_affine_act_avx512(acc[q], _mm512_set1_ps(ep->scale), _mm512_set1_ps(ep->shift),
                                              ep->res ? ep->res + o : NULL, m, ep->act);
            _mm512_mask_storeu_ps(y + o, m, acc[q]);
        }
    }
}

AVX512 INLINE void fwd_sized(const Conv2dShape *s, const float *xp, const float *w, float bias, float *y, int sw,
                             const DwPlaneEpilogue *ep) {
    WITH_KERNEL_SIZE(s, fwd_padded(s, xp, w, bias, y, sw, ep, KHc, KWc));
}

AVX512 static void fwd_plane(const Conv2dShape *s, const float *x, const float *w, float bias, float *y,
                             float *scratch, uint64_t pass, const DwPlaneEpilogue *ep) {
    Padded p = padded(s);
    const float *xp = pad_plane(s, &p, x, scratch, pass);
    /* the loop without an epilogue compiled apart (a constant NULL), so that it stays as lean as before */
    if (!ep) {
        if (s->stride_w == 1) fwd_sized(s, xp, w, bias, y, 1, NULL);
        else fwd_sized(s, xp, w, bias, y, 2, NULL);
    } else if (s->stride_w == 1) {
        fwd_sized(s, xp, w, bias, y, 1, ep);
    } else {
        fwd_sized(s, xp, w, bias, y, 2, ep);
    }
}

/* dw: per tap, the sum over output vectors of dy times the shifted input; four vectors per step (dummy
 * vectors past the end have dy = 0), each tap's sum in its own register-sized slot of a[]. */
/* One tap's sum over four vectors: (d0 x0 + d2 x2) + (d1 x1 + d3 x3), added to the tap's slot. */
AVX512 INLINE __m512 dw_tap(__m512 a, const __m512 *d, __m512 x0, __m512 x1, __m512 x2, __m512 x3) {
    __m512 t0 = _mm512_mul_ps(d[0], x0), t1 = _mm512_mul_ps(d[1], x1);
    t0 = _mm512_fmadd_ps(d[2], x2, t0);
    t1 = _mm512_fmadd_ps(d[3], x3, t1);
    return _mm512_add_ps(a, _mm512_add_ps(t0, t1));
}

AVX512 INLINE void dw_padded(const Conv2dShape *s, const float *xp, const float *dy, double *acc, int sw, const int KH,
                             const int KW) {
    const Padded p = padded(s);
    const int KK = KH * KW, nv = s->OH * p.nvec;
    const int aligned = sw == 1 && s->dil_w == 1 && KW <= 16 && ((uintptr_t)xp & 63) == 0; /* as fwd_padded's */
    __m512 a[49];
    for (int t = 0; t < KK; t++) a[t] = _mm512_setzero_ps();
    int next_oh = 0, next_ow0 = 0;
    for (int v0 = 0; v0 < nv; v0 += 4) {
        const float *base[4];
        __m512 d[4];
        int oh[4], ow0[4];
        four_positions(v0, nv, p.nvec, &next_oh, &next_ow0, oh, ow0); /* past the end: dy = 0 below */
        for (int q = 0; q < 4; q++) {
            base[q] = xp + (int64_t)oh[q] * s->stride_h * p.cols + (int64_t)ow0[q] * sw;
            d[q] = v0 + q < nv ? _mm512_maskz_loadu_ps(lanes_between(0, s->OW - ow0[q]), dy + (size_t)oh[q] * s->OW + ow0[q])
                               : _mm512_setzero_ps();
        }
        if (aligned) {
            for (int i = 0; i < KH; i++) {
                __m512i l[4], h[4];
                load_rows4(base, (int64_t)i * s->dil_h * p.cols, l, h);
                for (int j = 0; j < KW; j++)
                    a[i * KW + j] = dw_tap(a[i * KW + j], d, shifted(l[0], h[0], j), shifted(l[1], h[1], j),
                                           shifted(l[2], h[2], j), shifted(l[3], h[3], j));
            }
            continue;
        }
        for (int i = 0; i < KH; i++)
            for (int j = 0; j < KW; j++) {
                int64_t o = (int64_t)i * s->dil_h * p.cols + (int64_t)j * s->dil_w;
                a[i * KW + j] = dw_tap(a[i * KW + j], d, load_padded(base[0] + o, sw), load_padded(base[1] + o, sw),
                                       load_padded(base[2] + o, sw), load_padded(base[3] + o, sw));
            }
    }
    for (int t = 0; t < KK; t++) acc[t] += sum_lanes(a[t]);
}

AVX512 static void dw_plane(const Conv2dShape *s, const float *x, const float *dy, double *acc, float *scratch,
                            uint64_t pass) {
    Padded p = padded(s);
    const float *xp = pad_plane(s, &p, x, scratch, pass);
    if (s->stride_w == 1) WITH_KERNEL_SIZE(s, dw_padded(s, xp, dy, acc, 1, KHc, KWc));
    else WITH_KERNEL_SIZE(s, dw_padded(s, xp, dy, acc, 2, KHc, KWc));
}

static int handles(const Conv2dShape *s) {
    return nn_avx512() && (s->stride_w == 1 || s->stride_w == 2) && s->KH * s->KW <= 49;
}

size_t depthwise_scratch_floats(const Conv2dShape *s) {
    if (!handles(s)) return 0;
    Padded p = padded(s);
    size_t n = (size_t)(p.rows * p.cols);
    if (dx_padded_ok(s)) {
        PaddedDy q = padded_dy(s);
        if ((size_t)(q.rows * q.cols) > n) n = (size_t)(q.rows * q.cols);
    }
    return PAD_HEADER_FLOATS + n;
}

int depthwise_fwd_plane(const Conv2dShape *s, const float *x, const float *w, float bias, float *y, float *scratch) {
    return depthwise_fwd_plane_ep(s, x, w, bias, y, scratch, 0, NULL);
}
int depthwise_fwd_plane_ep(const Conv2dShape *s, const float *x, const float *w, float bias, float *y, float *scratch,
                           uint64_t pass, const DwPlaneEpilogue *ep) {
    if (!handles(s)) return 0;
    fwd_plane(s, x, w, bias, y, scratch, pass, ep);
    return 1;
}

int depthwise_dx_plane(const Conv2dShape *s, const float *dy, const float *w, float *dx, float *scratch, uint64_t pass) {
    if (!handles(s) || s->K != s->C) return 0;
    if (dx_padded_ok(s)) dx_padded(s, dy, w, dx, scratch, pass);
    else dx_plane(s, dy, w, dx);
    return 1;
}

int depthwise_dw_plane(const Conv2dShape *s, const float *x, const float *dy, double *acc, float *scratch,
                       uint64_t pass) {
    if (!handles(s)) return 0;
    dw_plane(s, x, dy, acc, scratch, pass);
    return 1;
}

#else /* not x86-64 with GCC/clang: the portable loops run */

size_t depthwise_scratch_floats(const Conv2dShape *s) { return 0; }
int depthwise_fwd_plane(const Conv2dShape *s, const float *x, const float *w, float bias, float *y, float *scratch) {
    return 0;
}
int depthwise_fwd_plane_ep(const Conv2dShape *s, const float *x, const float *w, float bias, float *y, float *scratch,
                           uint64_t pass, const DwPlaneEpilogue *ep) {
    return 0;
}
int depthwise_dx_plane(const Conv2dShape *s, const float *dy, const float *w, float *dx, float *scratch, uint64_t pass) {
    return 0;
}
int depthwise_dw_plane(const Conv2dShape *s, const float *x, const float *dy, double *acc, float *scratch,
                       uint64_t pass) {
    return 0;
}

#endif
