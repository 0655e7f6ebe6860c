#include "nn/depthwise.h"

#include "nn/nn.h"

#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

/* Lanes l with lo <= l < hi (clamped to [0, 16)). */
AVX512 INLINE __mmask16 lanes(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    uint32_t m = (hi == 16 ? 0xFFFFu : (1u << hi) - 1u) & ~((1u << lo) - 1u);
    return (__mmask16)m;
}

/* Lane l: row[base + sw*l] when that column is inside [0, n), else 0 (zero padding). sw is 1 or 2;
 * masked-off lanes are never read. `inside` says that all 16*sw columns from base are in the row, which
 * the callers know per vector of outputs (the interior of a row): then no mask is computed. */
AVX512 INLINE __m512 load_cols(const float *row, int64_t base, int64_t n, int sw, int inside) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    if (inside) {
        if (sw == 1) return _mm512_loadu_ps(row + base);
        return _mm512_permutex2var_ps(_mm512_loadu_ps(row + base), even, _mm512_loadu_ps(row + base + 16));
    }
    if (sw == 1) return _mm512_maskz_loadu_ps(lanes(-base, n - base), row + base);
    __m512 lo = _mm512_maskz_loadu_ps(lanes(-base, n - base), row + base);
    __m512 hi = _mm512_maskz_loadu_ps(lanes(-base - 16, n - base - 16), row + base + 16);
    return _mm512_permutex2var_ps(lo, even, hi);
}

/* Whether the columns [first, last + 16*sw) all lie in [0, n). */
INLINE int all_inside(int64_t first, int64_t last, int64_t n, int sw) { return first >= 0 && last + 16 * sw <= n; }

/* One row of outputs, 16*nb at a time from column ow0 (nb vectors with independent sums, so that the
 * FMA latency overlaps): the taps of kernel rows [i0, i1) are in the rows of x given by xrows (NULL: a
 * padding row). `in`: every load inside the row (no masks). sw is a constant where this is inlined. */
AVX512 INLINE void fwd_vectors(const Conv2dShape *s, const float *const *xrows, const float *w, int ow0, int nb,
                               int in, int sw, __m512 bias, float *yrow) {
    const int KH = s->KH, KW = s->KW;
    __m512 acc[4] = {bias, bias, bias, bias};
    __m512 alt = _mm512_setzero_ps(); /* single vectors: taps alternate between two sums */
    int64_t b0 = (int64_t)ow0 * sw - s->pad_w;
    int t = 0;
    for (int i = 0; i < KH; i++) {
        const float *xrow = xrows[i];
        if (!xrow) {
            t += KW;
            continue;
        }
        for (int j = 0; j < KW; j++, t++) {
            __m512 wv = _mm512_set1_ps(w[i * KW + j]);
            int64_t base = b0 + (int64_t)j * s->dil_w;
            if (nb == 4) {
                for (int q = 0; q < 4; q++)
                    acc[q] = _mm512_fmadd_ps(wv, load_cols(xrow, base + 16 * sw * q, s->W, sw, 1), acc[q]);
            } else if (t & 1) {
                alt = _mm512_fmadd_ps(wv, load_cols(xrow, base, s->W, sw, in), alt);
            } else {
                acc[0] = _mm512_fmadd_ps(wv, load_cols(xrow, base, s->W, sw, in), acc[0]);
            }
        }
    }
    if (nb == 4) {
        for (int q = 0; q < 4; q++) _mm512_storeu_ps(yrow + ow0 + 16 * q, acc[q]);
    } else {
        _mm512_mask_storeu_ps(yrow + ow0, lanes(0, s->OW - ow0), _mm512_add_ps(acc[0], alt));
    }
}

AVX512 INLINE void fwd_plane_sw(const Conv2dShape *s, const float *x, const float *w, float bias, float *y, int sw) {
    const int KH = s->KH, KW = s->KW, OW = s->OW;
    const int64_t reach = (int64_t)(KW - 1) * s->dil_w; /* columns the taps span */
    const __m512 bv = _mm512_set1_ps(bias);
    const float *xrows[64];
    for (int oh = 0; oh < s->OH; oh++) {
        for (int i = 0; i < KH; i++) {
            int64_t ih = (int64_t)oh * s->stride_h - s->pad_h + (int64_t)i * s->dil_h;
            xrows[i] = ih < 0 || ih >= s->H ? NULL : x + ih * s->W;
        }
        float *yrow = y + (size_t)oh * OW;
        int ow0 = 0;
        while (ow0 < OW) {
            int64_t b0 = (int64_t)ow0 * sw - s->pad_w;
            if (ow0 + 64 <= OW && all_inside(b0, b0 + reach + 48 * sw, s->W, sw)) {
                fwd_vectors(s, xrows, w, ow0, 4, 1, sw, bv, yrow);
                ow0 += 64;
            } else {
                int in = ow0 + 16 <= OW && all_inside(b0, b0 + reach, s->W, sw);
                fwd_vectors(s, xrows, w, ow0, 1, in, sw, bv, yrow);
                ow0 += 16;
            }
        }
    }
}

AVX512 static void fwd_plane(const Conv2dShape *s, const float *x, const float *w, float bias, float *y) {
    if (s->stride_w == 1) fwd_plane_sw(s, x, w, bias, y, 1);
    else fwd_plane_sw(s, x, w, bias, y, 2);
}

/* Output row of input row ih under tap row i, or -1 when none (stride skips it or out of range). */
static int64_t out_row(const Conv2dShape *s, int64_t ih, int i) {
    int64_t t = ih + s->pad_h - (int64_t)i * s->dil_h;
    if (t < 0 || t % s->stride_h) return -1;
    t /= s->stride_h;
    return t < s->OH ? t : -1;
}

/* dx as a gather: each input column collects the taps that read it. Stride 2 splits the columns by
 * parity (each parity meets every other tap at consecutive output columns) and interleaves the two
 * sums back. */
AVX512 static void dx_plane(const Conv2dShape *s, const float *dy, const float *w, float *dx) {
    const int KH = s->KH, KW = s->KW, OW = s->OW, W = s->W;
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int64_t ih = 0; ih < s->H; ih++) {
        float *dxrow = dx + ih * W;
        if (s->stride_w == 1) {
            for (int iw0 = 0; iw0 < W; iw0 += 16) {
                __m512 acc = _mm512_setzero_ps();
                int64_t b0 = (int64_t)iw0 + s->pad_w; /* tap j reads from b0 - j*dil */
                int in = all_inside(b0 - (int64_t)(KW - 1) * s->dil_w, b0, OW, 1);
                for (int i = 0; i < KH; i++) {
                    int64_t oh = out_row(s, ih, i);
                    if (oh < 0) continue;
                    const float *dyrow = dy + oh * OW;
                    for (int j = 0; j < KW; j++)
                        acc = _mm512_fmadd_ps(_mm512_set1_ps(w[i * KW + j]),
                                              load_cols(dyrow, b0 - (int64_t)j * s->dil_w, OW, 1, in), acc);
                }
                _mm512_mask_storeu_ps(dxrow + iw0, lanes(0, W - iw0), acc);
            }
            continue;
        }
        for (int iw0 = 0; iw0 < W; iw0 += 32) {
            __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}; /* columns iw0 + 2m + q */
            for (int i = 0; i < KH; i++) {
                int64_t oh = out_row(s, ih, i);
                if (oh < 0) continue;
                const float *dyrow = dy + oh * OW;
                for (int j = 0; j < KW; j++) {
                    for (int q = 0; q < 2; q++) {
                        int64_t t = (int64_t)iw0 + q + s->pad_w - (int64_t)j * s->dil_w;
                        if (t & 1) continue; /* this parity's columns are not read by tap j */
                        acc[q] = _mm512_fmadd_ps(_mm512_set1_ps(w[i * KW + j]), load_cols(dyrow, t / 2, OW, 1, 0),
                                                 acc[q]);
                    }
                }
            }
            _mm512_mask_storeu_ps(dxrow + iw0, lanes(0, W - iw0), _mm512_permutex2var_ps(acc[0], ilo, acc[1]));
            _mm512_mask_storeu_ps(dxrow + iw0 + 16, lanes(0, W - iw0 - 16), _mm512_permutex2var_ps(acc[0], ihi, acc[1]));
        }
    }
}

/* 16 lanes summed in double, in a fixed order. */
AVX512 INLINE double sum_lanes(__m512 v) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

/* Sum over the row of dy[ow] * x[ow*sw + base] (zero outside the row): four vectors at a time into four
 * partial sums, so that the FMA latency overlaps; then the rest one vector at a time. */
AVX512 INLINE __m512 dw_row(const Conv2dShape *s, const float *dyrow, const float *xrow, int64_t b0, int sw) {
    const int OW = s->OW;
    __m512 p0 = _mm512_setzero_ps(), p1 = p0, p2 = p0, p3 = p0;
    int ow0 = 0;
    for (; ow0 + 64 <= OW; ow0 += 64) {
        int64_t base = (int64_t)ow0 * sw + b0;
        if (!all_inside(base, base + 48 * sw, s->W, sw)) break;
        p0 = _mm512_fmadd_ps(_mm512_loadu_ps(dyrow + ow0), load_cols(xrow, base, s->W, sw, 1), p0);
        p1 = _mm512_fmadd_ps(_mm512_loadu_ps(dyrow + ow0 + 16), load_cols(xrow, base + 16 * sw, s->W, sw, 1), p1);
        p2 = _mm512_fmadd_ps(_mm512_loadu_ps(dyrow + ow0 + 32), load_cols(xrow, base + 32 * sw, s->W, sw, 1), p2);
        p3 = _mm512_fmadd_ps(_mm512_loadu_ps(dyrow + ow0 + 48), load_cols(xrow, base + 48 * sw, s->W, sw, 1), p3);
    }
    for (; ow0 < OW; ow0 += 16) {
        int64_t base = (int64_t)ow0 * sw + b0;
        int full = ow0 + 16 <= OW;
        __m512 d = full ? _mm512_loadu_ps(dyrow + ow0) : _mm512_maskz_loadu_ps(lanes(0, OW - ow0), dyrow + ow0);
        p0 = _mm512_fmadd_ps(d, load_cols(xrow, base, s->W, sw, full && all_inside(base, base, s->W, sw)), p0);
    }
    return _mm512_add_ps(_mm512_add_ps(p0, p1), _mm512_add_ps(p2, p3));
}

AVX512 INLINE void dw_plane_sw(const Conv2dShape *s, const float *x, const float *dy, double *acc, int sw) {
    const int KH = s->KH, KW = s->KW, OW = s->OW;
    __m512 a[49];
    for (int t = 0; t < KH * KW; t++) a[t] = _mm512_setzero_ps();
    for (int oh = 0; oh < s->OH; oh++) {
        const float *dyrow = dy + (size_t)oh * OW;
        for (int i = 0; i < KH; i++) {
            int64_t ih = (int64_t)oh * s->stride_h - s->pad_h + (int64_t)i * s->dil_h;
            if (ih < 0 || ih >= s->H) continue;
            const float *xrow = x + ih * s->W;
            for (int j = 0; j < KW; j++)
                a[i * KW + j] = _mm512_add_ps(a[i * KW + j],
                                              dw_row(s, dyrow, xrow, (int64_t)j * s->dil_w - s->pad_w, sw));
        }
    }
    for (int t = 0; t < KH * KW; t++) acc[t] += sum_lanes(a[t]);
}

AVX512 static void dw_plane(const Conv2dShape *s, const float *x, const float *dy, double *acc) {
    if (s->stride_w == 1) dw_plane_sw(s, x, dy, acc, 1);
    else dw_plane_sw(s, x, dy, acc, 2);
}

static int handles(const Conv2dShape *s) {
    return nn_avx512() && (s->stride_w == 1 || s->stride_w == 2) && s->KH <= 64 && s->KH * s->KW <= 49;
}

int depthwise_avx512(void) { return nn_avx512(); }

int depthwise_fwd_plane(const Conv2dShape *s, const float *x, const float *w, float bias, float *y) {
    if (!handles(s)) return 0;
    fwd_plane(s, x, w, bias, y);
    return 1;
}

int depthwise_dx_plane(const Conv2dShape *s, const float *dy, const float *w, float *dx) {
    if (!handles(s) || s->K != s->C) return 0;
    dx_plane(s, dy, w, dx);
    return 1;
}

int depthwise_dw_plane(const Conv2dShape *s, const float *x, const float *dy, double *acc) {
    if (!handles(s)) return 0;
    dw_plane(s, x, dy, acc);
    return 1;
}

#else /* not x86-64 with GCC/clang: the portable loops run */

int depthwise_avx512(void) { return 0; }
int depthwise_fwd_plane(const Conv2dShape *s, const float *x, const float *w, float bias, float *y) { return 0; }
int depthwise_dx_plane(const Conv2dShape *s, const float *dy, const float *w, float *dx) { return 0; }
int depthwise_dw_plane(const Conv2dShape *s, const float *x, const float *dy, double *acc) { return 0; }

#endif
