#include "nn/convpool.h"

#include "nn/activation.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/lanes_avx512.h"
#include <immintrin.h>
#define HAVE_AVX512_CONVPOOL 1
#else
#define HAVE_AVX512_CONVPOOL 0
#endif

/* ps is a 2x2/2 max pool (no padding) of cs's whole output */
static int pools_output(const Conv2dShape *cs, const Pool2dShape *ps) {
    return pool2d_is_2x2(ps) && ps->N == cs->N && ps->C == cs->K && ps->H == cs->OH && ps->W == cs->OW;
}

int conv_pool_fused(const NnCtx *ctx, const Conv2dShape *cs, const Pool2dShape *ps) {
#if HAVE_AVX512_CONVPOOL
    return ctx->device == NN_CPU && nn_avx512() && cs->C == 1 && cs->groups == 1 && cs->KH == 3 && cs->KW == 3 &&
           cs->stride_h == 1 && cs->stride_w == 1 && cs->pad_h == 1 && cs->pad_w == 1 && cs->dil_h == 1 &&
           cs->dil_w == 1 && (cs->algo == CONV2D_AUTO || cs->algo == CONV2D_AUTO_WINOGRAD || cs->algo == CONV2D_GEMM) &&
           pools_output(cs, ps);
#else
    (void)ctx, (void)cs, (void)ps;
    return 0;
#endif
}

#if HAVE_AVX512_CONVPOOL
#define AVX512 __attribute__((target("avx512f,fma")))

typedef struct {
    const Conv2dShape *cs;
    const Pool2dShape *ps;
    const float *x, *w, *scale, *shift;
    float *pooled;
} Job;

/* Row r of the plane, columns [c0, c0 + 16) (zero outside the row, and for rows outside the plane: the
 * padding im2col writes). */
AVX512 static inline __m512 load_row(const float *xn, int H, int W, int r, int c0) {
    if (r < 0 || r >= H) return _mm512_setzero_ps();
    int lo = c0 < 0 ? -c0 : 0, hi = W - c0 > 16 ? 16 : W - c0;
    if (hi <= lo) return _mm512_setzero_ps();
    __mmask16 m = lanes_between(lo, hi);
    const float *row = xn + (size_t)r * W;
    /* lanes [lo, hi) from columns c0 + lo on; before the row's start (c0 < 0) an expanding load, so that
     * no address outside the row is formed */
    return lo ? _mm512_maskz_expandloadu_ps(m, row + c0 + lo) : _mm512_maskz_loadu_ps(m, row + c0);
}

/* relu(v * a + b) as act_affine does it: a product and a sum, each rounded (no contraction), x < 0 ? 0 : x */
AVX512 static inline __m512 affine_relu(__m512 v, __m512 a, __m512 b) {
    __m512 p = _mm512_add_ps(_mm512_mul_ps(v, a), b);
    return _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(p, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps());
}

/* The pool's rule: take v when v > m or v is NaN. */
AVX512 static inline __m512 pool_step(__m512 m, __m512 v) {
    __mmask16 t = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_mask_mov_ps(m, t, v);
}

/* Items (image n, pooled row ph): the four input rows 2ph-1 .. 2ph+2 are split into even and odd
 * columns once per run of 16 pooled columns (E_j[t] = x[2c+2t+j-1], j = 0..3: the taps of the even and
 * odd output columns), then every output channel takes its nine products per output from registers. */
AVX512 static void rows(void *arg, int64_t begin, int64_t end) {
    const Job *jb = arg;
    const Conv2dShape *cs = jb->cs;
    const Pool2dShape *ps = jb->ps;
    const int H = cs->H, W = cs->W, K = cs->K, PH = ps->OH, PW = ps->OW;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int64_t item = begin; item < end; item++) {
        int n = (int)(item / PH), ph = (int)(item % PH);
        const float *xn = jb->x + (size_t)n * H * W;
        for (int c = 0; c < PW; c += 16) {
            /* t[i][j]: input row 2ph-1+i, the values x[2(c+l) + j - 1] for lanes l (j = 0..3) */
            __m512 t[4][4];
            for (int i = 0; i < 4; i++) {
                int r = 2 * ph - 1 + i;
                __m512 a0 = load_row(xn, H, W, r, 2 * c - 1), a1 = load_row(xn, H, W, r, 2 * c + 15);
                __m512 b0 = load_row(xn, H, W, r, 2 * c + 1), b1 = load_row(xn, H, W, r, 2 * c + 17);
                t[i][0] = _mm512_permutex2var_ps(a0, even, a1);
                t[i][1] = _mm512_permutex2var_ps(a0, odd, a1);
                t[i][2] = _mm512_permutex2var_ps(b0, even, b1);
                t[i][3] = _mm512_permutex2var_ps(b0, odd, b1);
            }
            int left = PW - c;
            __mmask16 sm = lanes_between(0, left);
            for (int k = 0; k < K; k++) {
                const float *wk = jb->w + (size_t)k * 9;
                /* conv rows 2ph (q = 0) and 2ph+1 (q = 1), even and odd columns: the sum over taps
                 * (i, j) in im2col's order of w[i][j] * x[row + i - 1][col + j - 1] */
                __m512 ce0 = _mm512_setzero_ps(), co0 = ce0, ce1 = ce0, co1 = ce0;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        __m512 wv = _mm512_set1_ps(wk[i * 3 + j]);
                        ce0 = _mm512_fmadd_ps(wv, t[i][j], ce0);
                        co0 = _mm512_fmadd_ps(wv, t[i][j + 1], co0);
                        ce1 = _mm512_fmadd_ps(wv, t[i + 1][j], ce1);
                        co1 = _mm512_fmadd_ps(wv, t[i + 1][j + 1], co1);
                    }
                __m512 a = _mm512_set1_ps(jb->scale[k]), b = _mm512_set1_ps(jb->shift[k]);
                __m512 m = affine_relu(ce0, a, b);
                m = pool_step(m, affine_relu(co0, a, b));
                m = pool_step(m, affine_relu(ce1, a, b));
                m = pool_step(m, affine_relu(co1, a, b));
                _mm512_mask_storeu_ps(jb->pooled + (((size_t)n * K + k) * PH + ph) * PW + c, sm, m);
            }
        }
    }
}
#endif

int conv_pool_winograd(const NnCtx *ctx, const Conv2dShape *cs, const Pool2dShape *ps) {
    return !conv_pool_fused(ctx, cs, ps) && pools_output(cs, ps) && conv2d_pool2_supported(ctx, cs);
}

int conv_pool_infer(NnCtx *ctx, const Conv2dShape *cs, const Pool2dShape *ps, const float *x, const float *w,
                    const float *scale, const float *shift, float *conv_out, float *pooled, int32_t *argmax) {
#if HAVE_AVX512_CONVPOOL
    if (conv_pool_fused(ctx, cs, ps)) {
        Job jb = {cs, ps, x, w, scale, shift, pooled};
        nn_parallel_for(ctx, (int64_t)ps->N * ps->OH, rows, &jb);
        return 0;
    }
#endif
    ConvEpilogue ep = {.scale = scale, .shift = shift, .act = ACT_RELU};
    if (conv_pool_winograd(ctx, cs, ps)) { /* pooled from each output tile (conv2d.h: ConvEpilogue.pool2) */
        ep.pool2 = pooled;
        return conv2d_forward_ep(ctx, cs, x, w, NULL, NULL, &ep);
    }
    if (conv2d_forward_ep(ctx, cs, x, w, NULL, conv_out, &ep) < 0) return -1;
    maxpool2d_forward(ctx, ps, conv_out, pooled, argmax);
    return 0;
}
