#include "nn/pool.h"

#ifdef __SSE4_1__
#include <smmintrin.h> /* the 2x2 max pool compares four windows at once (x86-64-v2 has SSE4.1) */
#endif

#include "core/error.h"
#include "nn/nn.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_POOL 1
#else
#define HAVE_AVX512_POOL 0
#endif

#include <limits.h>
#include <math.h>
#include <string.h>

int pool2d_is_2x2(const Pool2dShape *s) {
    return s->KH == 2 && s->KW == 2 && s->stride_h == 2 && s->stride_w == 2 && s->pad_h == 0 && s->pad_w == 0;
}

int pool2d_shape_init(Pool2dShape *s) {
    if (s->stride_h == 0) s->stride_h = s->KH;
    if (s->stride_w == 0) s->stride_w = s->KW;
    const int lim = 1 << 24;
    if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->KH < 1 || s->KW < 1 || s->stride_h < 1 ||
        s->stride_w < 1 || s->N > lim || s->C > lim || s->H > lim || s->W > lim || s->KH > lim || s->KW > lim ||
        s->stride_h > lim || s->stride_w > lim) {
        err_set("pool2d: sizes must be positive (N=%d C=%d H=%d W=%d kernel %dx%d stride %dx%d)", s->N, s->C, s->H,
                s->W, s->KH, s->KW, s->stride_h, s->stride_w);
        return -1;
    }
    if (s->pad_h < 0 || s->pad_w < 0 || s->pad_h > s->KH / 2 || s->pad_w > s->KW / 2) {
        err_set("pool2d: padding %dx%d must be between 0 and half the kernel %dx%d", s->pad_h, s->pad_w, s->KH,
                s->KW);
        return -1;
    }
    if ((int64_t)s->H * s->W > INT32_MAX) {
        err_set("pool2d: plane %dx%d too large for int32 indices", s->H, s->W);
        return -1;
    }
    int64_t hp = (int64_t)s->H + 2 * s->pad_h, wp = (int64_t)s->W + 2 * s->pad_w;
    if (hp < s->KH || wp < s->KW) {
        err_set("pool2d: kernel %dx%d larger than the padded input %lldx%lld", s->KH, s->KW, (long long)hp,
                (long long)wp);
        return -1;
    }
    s->OH = (int)((hp - s->KH) / s->stride_h + 1);
    s->OW = (int)((wp - s->KW) / s->stride_w + 1);
    return 0;
}

typedef struct {
    const Pool2dShape *s;
    const float *x, *dy;
    float *y, *dx;
    int32_t *argmax;
    const int32_t *argmax_in;
} Job;

#if HAVE_AVX512_POOL
/* pre's map on 16 inputs: act_affine's relu(x * a + b), as products and sums (see maxpool2x2_row) */
__attribute__((target("avx512f"))) static inline __m512 pre_avx512(__m512 v, const PoolPre *pre) {
    if (!pre) return v;
    v = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(pre->a)), _mm512_set1_ps(pre->b));
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps());
}

/* 2x2/2 max pool of one output row, 16 outputs at a time (nn_avx512()): the same scan order (r0[2ow],
 * r0[2ow+1], r1[2ow], r1[2ow+1]) and NaN rule (v > m or v is NaN: take v) as the scalar loop, as masked
 * moves; the even and odd columns of 32 inputs split by two permutes. Returns the outputs it wrote. */
__attribute__((target("avx512f"))) static int max2x2_row_avx512(const float *r0, const float *r1, int W, int OW,
                                                                int oh, float *yr, int32_t *ar, const PoolPre *pre) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i wv = _mm512_set1_epi32(W), one = _mm512_set1_epi32(1);
    __m512i base = _mm512_add_epi32(_mm512_set1_epi32(2 * oh * W), even);
    int ow = 0;
    for (; ow + 16 <= OW; ow += 16) {
        __m512 a0 = pre_avx512(_mm512_loadu_ps(r0 + 2 * ow), pre), a1 = pre_avx512(_mm512_loadu_ps(r0 + 2 * ow + 16), pre);
        __m512 b0 = pre_avx512(_mm512_loadu_ps(r1 + 2 * ow), pre), b1 = pre_avx512(_mm512_loadu_ps(r1 + 2 * ow + 16), pre);
        __m512 m = _mm512_permutex2var_ps(a0, even, a1), v;
        __m512i best = base;
        __mmask16 t;
#define STEP(V, IDX)                                                                                        \
    v = (V);                                                                                                \
    t = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);                      \
    m = _mm512_mask_mov_ps(m, t, v);                                                                        \
    best = _mm512_mask_mov_epi32(best, t, (IDX));
        STEP(_mm512_permutex2var_ps(a0, odd, a1), _mm512_add_epi32(base, one))
        STEP(_mm512_permutex2var_ps(b0, even, b1), _mm512_add_epi32(base, wv))
        STEP(_mm512_permutex2var_ps(b0, odd, b1), _mm512_add_epi32(_mm512_add_epi32(base, wv), one))
#undef STEP
        _mm512_storeu_ps(yr + ow, m);
        if (ar) _mm512_storeu_si512((void *)(ar + ow), best);
        base = _mm512_add_epi32(base, _mm512_set1_epi32(32));
    }
    return ow;
}

/* Stride-2 windows (ResNet's 3x3/2 stem pool) of output row oh (input rows [h0, h1)), 16 outputs at a time
 * from column ow on, while the windows are unclipped and every load stays inside the row: the general
 * loop's scan order and NaN rule, as selects. Returns the first column left to the caller. */
__attribute__((target("avx512f"))) static int max_s2_row_avx512(const Pool2dShape *s, const float *xp, int h0, int h1,
                                                                int ow, float *yr, int32_t *ar) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (; ow + 16 <= s->OW; ow += 16) {
        int w0 = 2 * ow - s->pad_w;
        if (w0 < 0 || w0 + s->KW - 1 + 31 >= s->W) break;
        __m512 m = _mm512_set1_ps(-INFINITY);
        __m512i best = _mm512_add_epi32(_mm512_set1_epi32(h0 * s->W + w0), even);
        for (int h = h0; h < h1; h++)
            for (int kw = 0; kw < s->KW; kw++) {
                const float *p = xp + (size_t)h * s->W + w0 + kw;
                __m512 v = _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p + 16));
                __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(h * s->W + w0 + kw), even);
                __mmask16 t = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                m = _mm512_mask_mov_ps(m, t, v);
                best = _mm512_mask_mov_epi32(best, t, idx);
            }
        _mm512_storeu_ps(yr + ow, m);
        _mm512_storeu_si512((void *)(ar + ow), best);
    }
    return ow;
}
#endif

/* pre's map on one input: act_affine's relu(x * a + b) */
static inline float pre_f(float x, const PoolPre *pre) { return pre ? nn_relu_f(x * pre->a + pre->b) : x; }
#ifdef __SSE4_1__
static inline __m128 pre_sse(__m128 v, const PoolPre *pre) {
    if (!pre) return v;
    v = _mm_add_ps(_mm_mul_ps(v, _mm_set1_ps(pre->a)), _mm_set1_ps(pre->b));
    return _mm_blendv_ps(v, _mm_setzero_ps(), _mm_cmplt_ps(v, _mm_setzero_ps()));
}
#endif

void maxpool2x2_row(const float *r0, const float *r1, int W, int OW, int oh, float *yr, int32_t *ar, const PoolPre *pre) {
    int ow = 0;
#if HAVE_AVX512_POOL
    if (nn_avx512()) ow = max2x2_row_avx512(r0, r1, W, OW, oh, yr, ar, pre);
#endif
#ifdef __SSE4_1__
    const __m128i four = _mm_set1_epi32(8), one = _mm_set1_epi32(1), wv = _mm_set1_epi32(W);
    __m128i base = _mm_add_epi32(_mm_set1_epi32(2 * oh * W + 2 * ow), _mm_setr_epi32(0, 2, 4, 6));
    for (; ow + 4 <= OW; ow += 4) { /* 4 outputs: the same order and NaN rule, as selects */
        __m128 a0 = pre_sse(_mm_loadu_ps(r0 + 2 * ow), pre), a1 = pre_sse(_mm_loadu_ps(r0 + 2 * ow + 4), pre);
        __m128 b0 = pre_sse(_mm_loadu_ps(r1 + 2 * ow), pre), b1 = pre_sse(_mm_loadu_ps(r1 + 2 * ow + 4), pre);
        __m128 m = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0)), v;
        __m128i best = base, idx;
        __m128 t;
#define STEP(V, IDX) v = (V); idx = (IDX); t = _mm_or_ps(_mm_cmpgt_ps(v, m), _mm_cmpunord_ps(v, v)); \
        m = _mm_blendv_ps(m, v, t); best = _mm_castps_si128(_mm_blendv_ps(_mm_castsi128_ps(best), _mm_castsi128_ps(idx), t));
        STEP(_mm_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1)), _mm_add_epi32(base, one))
        STEP(_mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)), _mm_add_epi32(base, wv))
        STEP(_mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1)), _mm_add_epi32(_mm_add_epi32(base, wv), one))
#undef STEP
        _mm_storeu_ps(yr + ow, m);
        if (ar) _mm_storeu_si128((__m128i *)(ar + ow), best);
        base = _mm_add_epi32(base, four);
    }
#endif
    for (; ow < OW; ow++) {
        int32_t b = 2 * oh * W + 2 * ow, best = b;
        float m = pre_f(r0[2 * ow], pre), v;
        v = pre_f(r0[2 * ow + 1], pre);
        if (v > m || isnan(v)) { m = v; best = b + 1; }
        v = pre_f(r1[2 * ow], pre);
        if (v > m || isnan(v)) { m = v; best = b + W; }
        v = pre_f(r1[2 * ow + 1], pre);
        if (v > m || isnan(v)) { m = v; best = b + W + 1; }
        yr[ow] = m;
        if (ar) ar[ow] = best;
    }
}

static void max_fwd_range(void *arg, int64_t begin, int64_t end) {
    Job *jb = arg;
    const Pool2dShape *s = jb->s;
    const size_t HW = (size_t)s->H * s->W, OHW = (size_t)s->OH * s->OW;
#if HAVE_AVX512_POOL
    const int avx512 = nn_avx512();
#endif
    for (int64_t pl = begin; pl < end; pl++) {
        const float *xp = jb->x + (size_t)pl * HW;
        float *yp = jb->y + (size_t)pl * OHW;
        int32_t *ap = jb->argmax + (size_t)pl * OHW;
        if (pool2d_is_2x2(s)) {
            /* the common 2x2/2 case, same scan order and NaN rule as the general loop below */
            for (int oh = 0; oh < s->OH; oh++) {
                const float *r0 = xp + (size_t)(2 * oh) * s->W;
                maxpool2x2_row(r0, r0 + s->W, s->W, s->OW, oh, yp + (size_t)oh * s->OW, ap + (size_t)oh * s->OW, NULL);
            }
            continue;
        }
        for (int oh = 0; oh < s->OH; oh++) {
            int h0 = oh * s->stride_h - s->pad_h, h1 = h0 + s->KH < s->H ? h0 + s->KH : s->H;
            if (h0 < 0) h0 = 0;
#if HAVE_AVX512_POOL
            int s2_left = s->stride_w == 2 && avx512; /* the 16-wide run not tried yet on this row */
#endif
            for (int ow = 0; ow < s->OW; ow++) {
#if HAVE_AVX512_POOL
                if (s2_left && 2 * ow - s->pad_w >= 0) { /* from the first unclipped window, once a row */
                    s2_left = 0;
                    int next = max_s2_row_avx512(s, xp, h0, h1, ow, yp + (size_t)oh * s->OW, ap + (size_t)oh * s->OW);
                    if (next > ow) {
                        ow = next - 1;
                        continue;
                    }
                }
#endif
#ifdef __SSE4_1__
                /* stride 2 (ResNet's 3x3/2 stem pool): four unclipped windows at once, in the scalar loop's
                 * order with its NaN rule, as selects; every load stays inside the row. */
                if (s->stride_w == 2 && ow + 4 <= s->OW && 2 * ow - s->pad_w >= 0 &&
                    2 * ow - s->pad_w + s->KW + 6 < s->W) {
                    int w0 = 2 * ow - s->pad_w;
                    __m128 m = _mm_set1_ps(-INFINITY);
                    const __m128i lanes = _mm_setr_epi32(0, 2, 4, 6);
                    __m128i best = _mm_add_epi32(_mm_set1_epi32(h0 * s->W + w0), lanes);
                    for (int h = h0; h < h1; h++)
                        for (int kw = 0; kw < s->KW; kw++) {
                            const float *p = xp + (size_t)h * s->W + w0 + kw;
                            __m128 a0 = _mm_loadu_ps(p), a1 = _mm_loadu_ps(p + 4);
                            __m128 v = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0));
                            __m128i idx = _mm_add_epi32(_mm_set1_epi32(h * s->W + w0 + kw), lanes);
                            __m128 t = _mm_or_ps(_mm_cmpgt_ps(v, m), _mm_cmpunord_ps(v, v));
                            m = _mm_blendv_ps(m, v, t);
                            best = _mm_castps_si128(_mm_blendv_ps(_mm_castsi128_ps(best), _mm_castsi128_ps(idx), t));
                        }
                    _mm_storeu_ps(yp + (size_t)oh * s->OW + ow, m);
                    _mm_storeu_si128((__m128i *)(ap + (size_t)oh * s->OW + ow), best);
                    ow += 3;
                    continue;
                }
#endif
                int w0 = ow * s->stride_w - s->pad_w, w1 = w0 + s->KW < s->W ? w0 + s->KW : s->W;
                if (w0 < 0) w0 = 0;
                int32_t best = h0 * s->W + w0;
                float m = -INFINITY;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        float v = xp[(size_t)h * s->W + w];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = h * s->W + w;
                        }
                    }
                yp[(size_t)oh * s->OW + ow] = m;
                ap[(size_t)oh * s->OW + ow] = best;
            }
        }
    }
}

#if HAVE_AVX512_POOL
/* The 2x2/2 backward of one plane without the zeroing and the scatter: every input of a window is written
 * once, 0 + dy where the argmax points and 0 elsewhere (the scatter's 0 + dy: the same bits, -0 made +0);
 * columns and rows no window covers (odd W, H) are zeroed. 16 windows per step, then one at a time. */
__attribute__((target("avx512f"))) static void max2x2_bwd_plane_avx512(const Pool2dShape *s, const float *dyp,
                                                                      const int32_t *ap, float *dxp) {
    const int W = s->W, OW = s->OW;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const __m512 zero = _mm512_setzero_ps();
    for (int oh = 0; oh < s->OH; oh++) {
        float *r0 = dxp + (size_t)(2 * oh) * W, *r1 = r0 + W;
        const float *dy = dyp + (size_t)oh * OW;
        const int32_t *a = ap + (size_t)oh * OW;
        int ow = 0;
        for (; ow + 16 <= OW; ow += 16) {
            __m512 v = _mm512_add_ps(zero, _mm512_loadu_ps(dy + ow));
            __m512i av = _mm512_loadu_si512((const void *)(a + ow));
            __m512i b = _mm512_add_epi32(_mm512_set1_epi32(2 * oh * W + 2 * ow), even);
            __m512 e0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(av, b), v);
            __m512 o0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(av, _mm512_add_epi32(b, _mm512_set1_epi32(1))), v);
            b = _mm512_add_epi32(b, _mm512_set1_epi32(W));
            __m512 e1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(av, b), v);
            __m512 o1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(av, _mm512_add_epi32(b, _mm512_set1_epi32(1))), v);
            _mm512_storeu_ps(r0 + 2 * ow, _mm512_permutex2var_ps(e0, lo, o0));
            _mm512_storeu_ps(r0 + 2 * ow + 16, _mm512_permutex2var_ps(e0, hi, o0));
            _mm512_storeu_ps(r1 + 2 * ow, _mm512_permutex2var_ps(e1, lo, o1));
            _mm512_storeu_ps(r1 + 2 * ow + 16, _mm512_permutex2var_ps(e1, hi, o1));
        }
        for (; ow < OW; ow++) {
            int32_t b = 2 * oh * W + 2 * ow;
            float v = 0.0f + dy[ow];
            r0[2 * ow] = a[ow] == b ? v : 0.0f;
            r0[2 * ow + 1] = a[ow] == b + 1 ? v : 0.0f;
            r1[2 * ow] = a[ow] == b + W ? v : 0.0f;
            r1[2 * ow + 1] = a[ow] == b + W + 1 ? v : 0.0f;
        }
        for (int w = 2 * OW; w < W; w++) r0[w] = r1[w] = 0.0f;
    }
    if (2 * s->OH < s->H) memset(dxp + (size_t)(2 * s->OH) * W, 0, sizeof(float) * (size_t)(s->H - 2 * s->OH) * W);
}
#endif

void maxpool2x2_backward_plane(const Pool2dShape *s, const float *dy, const int32_t *argmax, float *dx) {
#if HAVE_AVX512_POOL
    if (nn_avx512()) {
        max2x2_bwd_plane_avx512(s, dy, argmax, dx);
        return;
    }
#endif
    const size_t OHW = (size_t)s->OH * s->OW;
    memset(dx, 0, sizeof(float) * (size_t)s->H * s->W);
    for (size_t o = 0; o < OHW; o++) dx[argmax[o]] += dy[o];
}

static void max_bwd_range(void *arg, int64_t begin, int64_t end) {
    Job *jb = arg;
    const Pool2dShape *s = jb->s;
    const size_t HW = (size_t)s->H * s->W, OHW = (size_t)s->OH * s->OW;
    const int two_by_two = pool2d_is_2x2(s);
    for (int64_t pl = begin; pl < end; pl++) {
        float *dxp = jb->dx + (size_t)pl * HW;
        const float *dyp = jb->dy + (size_t)pl * OHW;
        const int32_t *ap = jb->argmax_in + (size_t)pl * OHW;
        if (two_by_two) {
            maxpool2x2_backward_plane(s, dyp, ap, dxp);
            continue;
        }
        memset(dxp, 0, sizeof(float) * HW);
        for (size_t o = 0; o < OHW; o++) dxp[ap[o]] += dyp[o];
    }
}

void maxpool2d_forward(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y, int32_t *argmax) {
    NN_DISPATCH_CUDA_VOID(ctx, maxpool2d_forward_cuda(ctx, s, x, y, argmax));
    Job jb = {.s = s, .x = x, .y = y, .argmax = argmax};
    nn_parallel_for(ctx, (int64_t)s->N * s->C, max_fwd_range, &jb);
}

void maxpool2d_backward(NnCtx *ctx, const Pool2dShape *s, const float *dy, const int32_t *argmax, float *dx) {
    NN_DISPATCH_CUDA_VOID(ctx, maxpool2d_backward_cuda(ctx, s, dy, argmax, dx));
    Job jb = {.s = s, .dy = dy, .dx = dx, .argmax_in = argmax};
    nn_parallel_for(ctx, (int64_t)s->N * s->C, max_bwd_range, &jb);
}

/* Window of output (oh, ow) clipped to the input, and its divisor (ATen's avg_pool2d). */
typedef struct {
    int h0, h1, w0, w1;
    double div;
} Window;

static Window avg_window(const Pool2dShape *s, int oh, int ow) {
    Window v;
    int h0 = oh * s->stride_h - s->pad_h, w0 = ow * s->stride_w - s->pad_w;
    int h1 = h0 + s->KH, w1 = w0 + s->KW;
    if (h1 > s->H + s->pad_h) h1 = s->H + s->pad_h;
    if (w1 > s->W + s->pad_w) w1 = s->W + s->pad_w;
    int pool = (h1 - h0) * (w1 - w0);
    v.h0 = h0 < 0 ? 0 : h0;
    v.w0 = w0 < 0 ? 0 : w0;
    v.h1 = h1 < s->H ? h1 : s->H;
    v.w1 = w1 < s->W ? w1 : s->W;
    v.div = s->exclude_pad ? (double)(v.h1 - v.h0) * (v.w1 - v.w0) : (double)pool;
    return v;
}

CPU_CLONES static void avg_fwd_range(void *arg, int64_t begin, int64_t end) {
    Job *jb = arg;
    const Pool2dShape *s = jb->s;
    const size_t HW = (size_t)s->H * s->W, OHW = (size_t)s->OH * s->OW;
    for (int64_t pl = begin; pl < end; pl++) {
        const float *xp = jb->x + (size_t)pl * HW;
        float *yp = jb->y + (size_t)pl * OHW;
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++) {
                Window v = avg_window(s, oh, ow);
                double acc = 0.0;
                for (int h = v.h0; h < v.h1; h++)
                    for (int w = v.w0; w < v.w1; w++) acc += xp[(size_t)h * s->W + w];
                yp[(size_t)oh * s->OW + ow] = v.h0 < v.h1 && v.w0 < v.w1 ? (float)(acc / v.div) : 0.0f;
            }
    }
}

static void avg_bwd_range(void *arg, int64_t begin, int64_t end) {
    Job *jb = arg;
    const Pool2dShape *s = jb->s;
    const size_t HW = (size_t)s->H * s->W, OHW = (size_t)s->OH * s->OW;
    for (int64_t pl = begin; pl < end; pl++) {
        float *dxp = jb->dx + (size_t)pl * HW;
        const float *dyp = jb->dy + (size_t)pl * OHW;
        memset(dxp, 0, sizeof(float) * HW);
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++) {
                Window v = avg_window(s, oh, ow);
                if (v.h0 >= v.h1 || v.w0 >= v.w1) continue;
                float g = (float)(dyp[(size_t)oh * s->OW + ow] / v.div);
                for (int h = v.h0; h < v.h1; h++)
                    for (int w = v.w0; w < v.w1; w++) dxp[(size_t)h * s->W + w] += g;
            }
    }
}

void avgpool2d_forward(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y) {
    NN_DISPATCH_CUDA_VOID(ctx, avgpool2d_forward_cuda(ctx, s, x, y));
    Job jb = {.s = s, .x = x, .y = y};
    nn_parallel_for(ctx, (int64_t)s->N * s->C, avg_fwd_range, &jb);
}

void avgpool2d_backward(NnCtx *ctx, const Pool2dShape *s, const float *dy, float *dx) {
    NN_DISPATCH_CUDA_VOID(ctx, avgpool2d_backward_cuda(ctx, s, dy, dx));
    Job jb = {.s = s, .dy = dy, .dx = dx};
    nn_parallel_for(ctx, (int64_t)s->N * s->C, avg_bwd_range, &jb);
}

/* ---- global average pool ----------------------------------------------------------------------------- */

int global_avgpool_shape_init(GlobalPoolShape *s) {
    if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1) {
        err_set("global_avgpool: sizes must be positive (N=%d C=%d H=%d W=%d)", s->N, s->C, s->H, s->W);
        return -1;
    }
    return 0;
}

typedef struct {
    const GlobalPoolShape *s;
    const float *x, *dy;
    float *y, *dx;
} GJob;

static void gap_fwd_range(void *arg, int64_t begin, int64_t end) {
    GJob *jb = arg;
    const int64_t HW = (int64_t)jb->s->H * jb->s->W;
    int64_t pl = begin;
    for (double o[4]; pl + 4 <= end; pl += 4) { /* four planes' sums at once: each plane's own bits */
        ordered_sum4_f64(jb->x + pl * HW, HW, HW, o);
        for (int j = 0; j < 4; j++) jb->y[pl + j] = (float)(o[j] / (double)HW);
    }
    for (; pl < end; pl++) jb->y[pl] = (float)(ordered_sum_f64(jb->x + pl * HW, HW) / (double)HW);
}

CPU_CLONES static void gap_bwd_range(void *arg, int64_t begin, int64_t end) {
    GJob *jb = arg;
    const size_t HW = (size_t)jb->s->H * jb->s->W;
    for (int64_t pl = begin; pl < end; pl++) {
        float g = (float)(jb->dy[pl] / (double)HW);
        float *dxp = jb->dx + (size_t)pl * HW;
        for (size_t i = 0; i < HW; i++) dxp[i] = g;
    }
}

void global_avgpool_forward(NnCtx *ctx, const GlobalPoolShape *s, const float *x, float *y) {
    NN_DISPATCH_CUDA_VOID(ctx, global_avgpool_forward_cuda(ctx, s, x, y));
    GJob jb = {.s = s, .x = x, .y = y};
    nn_parallel_for(ctx, (int64_t)s->N * s->C, gap_fwd_range, &jb);
}

void global_avgpool_backward(NnCtx *ctx, const GlobalPoolShape *s, const float *dy, float *dx) {
    NN_DISPATCH_CUDA_VOID(ctx, global_avgpool_backward_cuda(ctx, s, dy, dx));
    GJob jb = {.s = s, .dy = dy, .dx = dx};
    nn_parallel_for(ctx, (int64_t)s->N * s->C, gap_bwd_range, &jb);
}
