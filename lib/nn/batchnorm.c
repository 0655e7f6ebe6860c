#include "nn/batchnorm.h"
#include "nn/kernels.h"

#include "core/cpu.h"
#include "core/error.h"
#include "core/prefetch.h"

#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/act_avx512.h"
#include "nn/lanes_avx512.h"
#endif

#define PAR_MIN 32768 /* elements below which threads cost more than they save */

BatchNorm2dShape batchnorm2d_shape(int N, int C, int H, int W) {
    BatchNorm2dShape s = {N, C, H, W, 1e-5, 0.1, ACT_NONE};
    return s;
}

/* sum(dy) and sum((x - mean) * dy) over one plane. */
CPU_INLINE void plane_dy_dot(const float *dy, const float *x, int64_t n, float mean, double *sum, double *dot) {
    vec8d as = {0}, ad = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vec8d g = VEC8_TOD(VEC8_LOADF(dy + i));
        as += g;
        ad += VEC8_TOD(VEC8_LOADF(x + i) - mean) * g;
    }
    double s = VEC8_HSUMD(as), d = VEC8_HSUMD(ad);
    for (; i < n; i++) {
        s += (double)dy[i];
        d += (double)(x[i] - mean) * (double)dy[i];
    }
    *sum += s;
    *dot += d;
}

typedef struct {
    const BatchNorm2dShape *s;
    const float *x, *weight, *bias, *dout;
    float *running_mean, *running_var, *out, *mean, *invstd, *dx, *dweight, *dbias;
    double m; /* momentum for this step */
    int train;
    BnPlaneConsumer consume; /* forward: takes each normalised plane instead of out (NULL: out) */
    void *consume_arg;
    BnPlaneProducer produce; /* backward: makes each plane of dout on demand (NULL: dout) */
    const void *produce_arg;
    float *bufs;   /* produce's per-worker plane buffers, nw of stride bstride floats */
    int64_t nw, bstride;
} BnArgs;

CPU_CLONES static void fwd_train_range(void *arg, int64_t c0, int64_t c1) {
    const BnArgs *a = arg;
    const BatchNorm2dShape *s = a->s;
    int64_t hw = (int64_t)s->H * s->W, cnt = (int64_t)s->N * hw;
    for (int64_t c = c0; c < c1; c++) {
        double sum = ordered_sum_planes_f64(a->x + c * hw, s->N, s->C * hw, hw);
        double mean = cnt > 0 ? sum / (double)cnt : 0.0;
        double sq = ordered_sum_sq_dev_planes_f64(a->x + c * hw, s->N, s->C * hw, hw, mean);
        double var = cnt > 0 ? sq / (double)cnt : 0.0;
        float meanf = (float)mean, invstdf = (float)(1.0 / sqrt(var + s->eps));
        a->mean[c] = meanf;
        a->invstd[c] = invstdf;
        if (a->running_mean)
            a->running_mean[c] = (float)(a->m * mean + (1.0 - a->m) * (double)a->running_mean[c]);
        if (a->running_var) {
            double unbiased = cnt > 1 ? sq / (double)(cnt - 1) : var;
            a->running_var[c] = (float)(a->m * unbiased + (1.0 - a->m) * (double)a->running_var[c]);
        }
        float alpha = (a->weight ? a->weight[c] : 1.0f) * invstdf;
        float beta = (a->bias ? a->bias[c] : 0.0f) - meanf * alpha;
        for (int64_t n = 0; n < s->N; n++) {
            int64_t o = (n * s->C + c) * hw;
            if (a->consume) a->consume(a->consume_arg, n, c, a->x + o, alpha, beta);
            else act_affine(a->x + o, a->out + o, hw, alpha, beta, NULL, s->act);
        }
    }
}

static void run_channels(NnCtx *ctx, const BatchNorm2dShape *s, nn_range_fn fn, BnArgs *a) {
    int64_t total = (int64_t)s->N * s->C * s->H * s->W;
    if (total < PAR_MIN || ctx->threads <= 1) {
        if (s->C > 0) fn(a, 0, s->C);
    } else {
        nn_parallel_for(ctx, s->C, fn, a);
    }
}

static void forward_train(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                          const float *bias, float *running_mean, float *running_var, float *num_batches_tracked,
                          float *out, float *mean, float *invstd, BnPlaneConsumer consume, void *consume_arg) {
    double m = s->momentum;
    if (num_batches_tracked) {
        *num_batches_tracked += 1.0f;
        if (m < 0) m = 1.0 / (double)*num_batches_tracked;
    } else if (m < 0) {
        m = 0.0; /* PyTorch: momentum None without a counter leaves the statistics unchanged */
    }
    BnArgs a = {.s = s, .x = x, .weight = weight, .bias = bias, .running_mean = running_mean,
                .running_var = running_var, .out = out, .mean = mean, .invstd = invstd, .m = m,
                .consume = consume, .consume_arg = consume_arg};
    run_channels(ctx, s, fwd_train_range, &a);
}

void batchnorm2d_forward_train(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                               const float *bias, float *running_mean, float *running_var,
                               float *num_batches_tracked, float *out, float *mean, float *invstd) {
    NN_DISPATCH_CUDA_VOID(ctx, batchnorm2d_forward_train_cuda(ctx, s, x, weight, bias, running_mean, running_var,
                                                              num_batches_tracked, out, mean, invstd));
    forward_train(ctx, s, x, weight, bias, running_mean, running_var, num_batches_tracked, out, mean, invstd, NULL, NULL);
}

/* ---- half input (batchnorm.h): on the CPU, x widened into a copy ---- */

static const NnGrid HOST_GRID = {0, 0, 1, 1}; /* a kernels.h body over all its items, in order */

/* x's halves widened into a new array (free() it), or NULL with err_set() */
static float *widened(const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x) {
    if (xt != NN_AMP_BF16 && xt != NN_AMP_FP16) {
        err_set("batchnorm2d: a half input of type %d, not bf16 or fp16", (int)xt);
        return NULL;
    }
    size_t n = (size_t)s->N * s->C * s->H * s->W;
    float *f = malloc(sizeof(float) * (n ? n : 1));
    if (!f) {
        err_set("out of memory for BatchNorm's widened input (%zu floats)", n);
        return NULL;
    }
    kb_widen(HOST_GRID, (int64_t)n, x, f, (int)xt);
    return f;
}

int batchnorm2d_forward_train_half(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                   const float *weight, const float *bias, float *running_mean, float *running_var,
                                   float *num_batches_tracked, float *out, float *mean, float *invstd) {
    NN_DISPATCH_CUDA(ctx, batchnorm2d_forward_train_half_cuda(ctx, s, xt, x, weight, bias, running_mean, running_var,
                                                              num_batches_tracked, out, mean, invstd));
    float *f = widened(s, xt, x);
    if (!f) return -1;
    batchnorm2d_forward_train(ctx, s, f, weight, bias, running_mean, running_var, num_batches_tracked, out, mean, invstd);
    free(f);
    return 0;
}

int batchnorm2d_forward_eval_half(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                  const float *weight, const float *bias, const float *running_mean,
                                  const float *running_var, float *out, float *mean, float *invstd) {
    NN_DISPATCH_CUDA(ctx, batchnorm2d_forward_eval_half_cuda(ctx, s, xt, x, weight, bias, running_mean, running_var, out,
                                                             mean, invstd));
    float *f = widened(s, xt, x);
    if (!f) return -1;
    batchnorm2d_forward_eval(ctx, s, f, weight, bias, running_mean, running_var, out, mean, invstd);
    free(f);
    return 0;
}

int batchnorm2d_backward_half(NnCtx *ctx, const BatchNorm2dShape *s, int train, const void *dout, int dout_half, NnAmp xt,
                              const uint16_t *x, const float *weight, const float *bias, const float *mean,
                              const float *invstd, float *dx, uint16_t *dx_half, float *dweight, float *dbias) {
    NN_DISPATCH_CUDA(ctx, batchnorm2d_backward_half_cuda(ctx, s, train, dout, dout_half, xt, x, weight, bias, mean, invstd,
                                                         dx, dx_half, dweight, dbias));
    size_t n = (size_t)s->N * s->C * s->H * s->W;
    float *f = widened(s, xt, x), *g = NULL, *d = NULL; /* x widened; dout widened; dx before its cast */
    int rc = -1;
    if (!f || (dout_half && !(g = widened(s, xt, dout)))) goto done;
    if (dx_half && !(d = malloc(sizeof(float) * (n ? n : 1)))) {
        err_set("out of memory for BatchNorm's dx (%zu floats)", n);
        goto done;
    }
    (train ? batchnorm2d_backward_train : batchnorm2d_backward_eval)(ctx, s, g ? g : dout, f, weight, bias, mean, invstd,
                                                                     dx_half ? d : dx, dweight, dbias);
    if (dx_half) kb_cast_half(HOST_GRID, (int64_t)n, d, dx_half, (int)xt);
    rc = 0;
done:
    free(f), free(g), free(d);
    return rc;
}

void batchnorm2d_forward_train_to(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                  const float *bias, float *running_mean, float *running_var, float *num_batches_tracked,
                                  float *mean, float *invstd, BnPlaneConsumer consume, void *consume_arg) {
    forward_train(ctx, s, x, weight, bias, running_mean, running_var, num_batches_tracked, NULL, mean, invstd, consume,
                  consume_arg);
}

void batchnorm2d_eval_affine(int C, double eps, const float *weight, const float *bias,
                             const float *running_mean, const float *running_var, float *scale,
                             float *shift) {
    for (int c = 0; c < C; c++) {
        float r = 1.0f / sqrtf(running_var[c] + (float)eps);
        float a = (weight ? weight[c] : 1.0f) * r;
        scale[c] = a;
        shift[c] = (bias ? bias[c] : 0.0f) - running_mean[c] * a;
    }
}

void batchnorm2d_eval_affine_ctx(NnCtx *ctx, int C, double eps, const float *weight, const float *bias,
                                 const float *running_mean, const float *running_var, float *scale, float *shift) {
    NN_DISPATCH_CUDA_VOID(ctx, batchnorm2d_eval_affine_cuda(ctx, C, eps, weight, bias, running_mean, running_var, scale,
                                                            shift));
    (void)ctx;
    batchnorm2d_eval_affine(C, eps, weight, bias, running_mean, running_var, scale, shift);
}

CPU_CLONES static void fwd_eval_range(void *arg, int64_t c0, int64_t c1) {
    const BnArgs *a = arg;
    const BatchNorm2dShape *s = a->s;
    int64_t hw = (int64_t)s->H * s->W;
    for (int64_t c = c0; c < c1; c++) {
        float r = 1.0f / sqrtf(a->running_var[c] + (float)s->eps);
        float alpha = (a->weight ? a->weight[c] : 1.0f) * r;
        float beta = (a->bias ? a->bias[c] : 0.0f) - a->running_mean[c] * alpha;
        if (a->mean) a->mean[c] = a->running_mean[c];
        if (a->invstd) a->invstd[c] = r;
        for (int64_t n = 0; n < s->N; n++) {
            int64_t o = (n * s->C + c) * hw;
            act_affine(a->x + o, a->out + o, hw, alpha, beta, NULL, s->act);
        }
    }
}

void batchnorm2d_forward_eval(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                              const float *bias, const float *running_mean, const float *running_var,
                              float *out, float *mean, float *invstd) {
    NN_DISPATCH_CUDA_VOID(ctx, batchnorm2d_forward_eval_cuda(ctx, s, x, weight, bias, running_mean, running_var, out,
                                                             mean, invstd));
    BnArgs a = {.s = s, .x = x, .weight = weight, .bias = bias, .running_mean = (float *)running_mean,
                .running_var = (float *)running_var, .out = out, .mean = mean, .invstd = invstd};
    run_channels(ctx, s, fwd_eval_range, &a);
}

/* The fused activation's backward at one element: d(pre) from d(act(pre)), pre = x * alpha + beta
 * recomputed with the forward's operations. ReLU: y = relu(pre) <= 0 exactly when pre <= 0 (NaN passes
 * either way), so the mask is relu_backward's; SiLU: the expression silu_backward uses. */
CPU_INLINE float act_grad(float d, float x, float alpha, float beta, ActKind act) {
    float p = x * alpha + beta;
    if (act == ACT_RELU) return p <= 0.0f ? 0.0f : d;
    float sg = 1.0f / (1.0f + nn_expf(-p));
    return d * sg * (1.0f + p * (1.0f - sg));
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The first pass's sums (and g) on 16 lanes: g = act_grad(dy) (dy itself for ACT_NONE; SiLU through
 * act_avx512.h, the same bits), stored when g_out, and sum(g), sum((x - mean) * g) in plane_act_dy_dot's
 * lanes: element i into double lane i % 8 (a vector's low half, then its high half), the tail after n
 * rounded down to 8 in scalar code. The product of two floats is exact in double, so the fused
 * multiply-add rounds as plane_dy_dot's product and sum do. GCC's vectorisation of the vec8 loops converts
 * float to double in two halves and an insert; this runs 1.3-2x faster. */
__attribute__((always_inline, target("avx512f"))) static inline __m256 high8(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

__attribute__((always_inline, target("avx512f"))) static inline void act_dy_dot_avx512(
    const float *dy, const float *x, float *g_out, int64_t n, float mean, float alpha, float beta, ActKind act,
    double *sum, double *dot) {
    const __m512 a = _mm512_set1_ps(alpha), b = _mm512_set1_ps(beta), mv = _mm512_set1_ps(mean);
    __m512d as = _mm512_setzero_pd(), ad = _mm512_setzero_pd();
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 16) {
        __mmask16 k = lanes_between(0, n8 - i);
        stream_prefetch(x + i);
        stream_prefetch(dy + i);
        __m512 xv = _mm512_maskz_loadu_ps(k, x + i), g = _mm512_maskz_loadu_ps(k, dy + i);
        if (act != ACT_NONE) {
            __m512 p = _mm512_add_ps(_mm512_mul_ps(xv, a), b);
            if (act == ACT_SILU) g = nn_silu_grad_avx512(g, p);
            else g = _mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(p, _mm512_setzero_ps(), _CMP_LE_OQ), g);
            if (g_out) _mm512_mask_storeu_ps(g_out + i, k, g);
        }
        __m512 xm = _mm512_sub_ps(xv, mv);
        __m512d glo = _mm512_cvtps_pd(_mm512_castps512_ps256(g));
        as = _mm512_add_pd(as, glo);
        ad = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(xm)), glo, ad);
        if (k == 0xFFFF) { /* the high half: elements i + 8 .. i + 15 (past n8 only in a last half vector) */
            __m512d ghi = _mm512_cvtps_pd(high8(g));
            as = _mm512_add_pd(as, ghi);
            ad = _mm512_fmadd_pd(_mm512_cvtps_pd(high8(xm)), ghi, ad);
        }
    }
    double s = VEC8_HSUMD(as), d = VEC8_HSUMD(ad); /* __m512d is a vec8d: the lanes in plane_dy_dot's order */
    for (int64_t i = n8; i < n; i++) {
        float g = act == ACT_NONE ? dy[i] : act_grad(dy[i], x[i], alpha, beta, act);
        if (g_out && act != ACT_NONE) g_out[i] = g;
        s += (double)g;
        d += (double)(x[i] - mean) * (double)g;
    }
    *sum += s;
    *dot += d;
}

/* One specialisation per activation and store (the constant arguments fold the branches). */
#define ACT_DY_DOT(name, act, store)                                                                             \
    __attribute__((target("avx512f"))) static void name(const float *dy, const float *x, float *g_out, int64_t n, \
                                                        float mean, float alpha, float beta, double *sum,         \
                                                        double *dot) {                                            \
        act_dy_dot_avx512(dy, x, store ? g_out : NULL, n, mean, alpha, beta, act, sum, dot);                      \
    }
ACT_DY_DOT(dy_dot_avx512, ACT_NONE, 0)
ACT_DY_DOT(relu_dy_dot_avx512, ACT_RELU, 0)
ACT_DY_DOT(relu_dy_dot_store_avx512, ACT_RELU, 1)
ACT_DY_DOT(silu_dy_dot_avx512, ACT_SILU, 0)
ACT_DY_DOT(silu_dy_dot_store_avx512, ACT_SILU, 1)
#define HAVE_DY_DOT_AVX512 1
#else
#define HAVE_DY_DOT_AVX512 0
#endif

/* g = act_grad(dy) over m elements: an element-wise loop the compiler vectorises (g may be dy). */
CPU_INLINE void act_grad_run(const float *dy, const float *x, float *g, int64_t m, float alpha, float beta,
                            ActKind act) {
    for (int64_t i = 0; i < m; i++) g[i] = act_grad(dy[i], x[i], alpha, beta, act);
}

/* plane_dy_dot on g = act_grad(dy): the same sums in the same order (element i into lane i % 8, the tail
 * last), g stored into g_out when store. g is made a chunk at a time, so that both loops vectorise. */
CPU_INLINE void plane_act_dy_dot(const float *dy, const float *x, float *g_out, int64_t n, float mean, float alpha,
                                float beta, ActKind act, int store, double *sum, double *dot) {
    enum { CHUNK = 256 }; /* a multiple of 8: lanes stay as in one sweep */
    vec8d as = {0}, ad = {0};
    float buf[CHUNK];
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i0 = 0; i0 < n8; i0 += CHUNK) {
        int64_t m = n8 - i0 < CHUNK ? n8 - i0 : CHUNK;
        float *g = store ? g_out + i0 : buf;
        const float *xc = x + i0;
        act_grad_run(dy + i0, xc, g, m, alpha, beta, act);
        for (int64_t i = 0; i < m; i += 8) {
            vec8d gv = VEC8_TOD(VEC8_LOADF(g + i));
            as += gv;
            ad += VEC8_TOD(VEC8_LOADF(xc + i) - mean) * gv;
        }
    }
    double s = VEC8_HSUMD(as), d = VEC8_HSUMD(ad);
    for (int64_t i = n8; i < n; i++) {
        float g = act_grad(dy[i], x[i], alpha, beta, act);
        if (store) g_out[i] = g;
        s += (double)g;
        d += (double)(x[i] - mean) * (double)g;
    }
    *sum += s;
    *dot += d;
}

/* The first pass over one plane: the sums, through the activation's backward when there is one (its
 * result kept in g_out, NULL: not needed). The constant arguments specialise the inlined loops. */
CPU_INLINE void first_pass(const float *dy, const float *x, float *g_out, int64_t n, float mean, float alpha,
                          float beta, ActKind act, double *sum, double *dot) {
#if HAVE_DY_DOT_AVX512
    if (cpu_avx512()) {
        if (act == ACT_NONE) dy_dot_avx512(dy, x, NULL, n, mean, alpha, beta, sum, dot);
        else if (act == ACT_RELU && g_out) relu_dy_dot_store_avx512(dy, x, g_out, n, mean, alpha, beta, sum, dot);
        else if (act == ACT_RELU) relu_dy_dot_avx512(dy, x, NULL, n, mean, alpha, beta, sum, dot);
        else if (g_out) silu_dy_dot_store_avx512(dy, x, g_out, n, mean, alpha, beta, sum, dot);
        else silu_dy_dot_avx512(dy, x, NULL, n, mean, alpha, beta, sum, dot);
        return;
    }
#endif
    if (act == ACT_NONE) plane_dy_dot(dy, x, n, mean, sum, dot);
    else if (act == ACT_RELU && g_out) plane_act_dy_dot(dy, x, g_out, n, mean, alpha, beta, ACT_RELU, 1, sum, dot);
    else if (act == ACT_RELU) plane_act_dy_dot(dy, x, NULL, n, mean, alpha, beta, ACT_RELU, 0, sum, dot);
    else if (g_out) plane_act_dy_dot(dy, x, g_out, n, mean, alpha, beta, ACT_SILU, 1, sum, dot);
    else plane_act_dy_dot(dy, x, NULL, n, mean, alpha, beta, ACT_SILU, 0, sum, dot);
}

/* One channel's backward. buf: NULL, or a plane buffer for a->produce, which then makes each plane of
 * dout in it in place of a->dout: once, when the activation's backward g is kept in dx between the passes
 * (an activation and dx wanted), else once per pass; the same operations on the same values. */
CPU_INLINE void bwd_channel(const BnArgs *a, int64_t c, float *buf) {
    const BatchNorm2dShape *s = a->s;
    int64_t hw = (int64_t)s->H * s->W, cnt = (int64_t)s->N * hw;
    ActKind act = s->act;
    int need_sums = a->dweight || a->dbias || (a->train && a->dx);
    float meanf = a->mean[c], invstdf = a->invstd[c];
    float w = a->weight ? a->weight[c] : 1.0f;
    /* the forward's affine map, for the pre-activation (as fwd_*_range compute it) */
    float alpha = w * invstdf, beta = (a->bias ? a->bias[c] : 0.0f) - meanf * alpha;
    double sum = 0, dot = 0;
    int keep_g = act != ACT_NONE && a->dx; /* g = the activation's backward of dout, kept in dx */
    if (need_sums || keep_g)
        for (int64_t n = 0; n < s->N; n++) {
            int64_t o = (n * s->C + c) * hw;
            if (buf) {
                a->produce(a->produce_arg, n, c, buf);
                first_pass(buf, a->x + o, keep_g ? a->dx + o : NULL, hw, meanf, alpha, beta, act, &sum, &dot);
            } else {
                first_pass(a->dout + o, a->x + o, a->dx ? a->dx + o : NULL, hw, meanf, alpha, beta, act, &sum, &dot);
            }
        }
    /* the gradient of BN's output: dout, or the activation's backward of it (now in dx), or dout remade in buf */
    const float *gsrc = act != ACT_NONE ? a->dx : a->dout;
    if (a->dx) {
        float iw = invstdf * w;
        float k = (float)(dot * (double)invstdf * (double)invstdf / (double)cnt);
        float gm = (float)(sum / (double)cnt);
        for (int64_t n = 0; n < s->N; n++) {
            int64_t o = (n * s->C + c) * hw;
            const float *xp = a->x + o, *dy;
            float *dxp = a->dx + o;
            if (buf && !keep_g) { /* dout remade (no activation: g is dout) */
                a->produce(a->produce_arg, n, c, buf);
                dy = buf;
            } else {
                dy = gsrc + o;
            }
            if (a->train)
                for (int64_t i = 0; i < hw; i++) dxp[i] = (dy[i] - gm - (xp[i] - meanf) * k) * iw;
            else
                for (int64_t i = 0; i < hw; i++) dxp[i] = dy[i] * iw;
        }
    }
    if (a->dweight) a->dweight[c] += (float)(dot * (double)invstdf);
    if (a->dbias) a->dbias[c] += (float)sum;
}

CPU_CLONES static void bwd_range(void *arg, int64_t c0, int64_t c1) {
    const BnArgs *a = arg;
    for (int64_t c = c0; c < c1; c++) bwd_channel(a, c, NULL);
}

/* Workers [w0, w1) of batchnorm2d_backward_train_from: worker w takes channels w, w + nw, ... with its
 * own plane buffer (each channel by one worker, in order: the same bits for any thread count). */
CPU_CLONES static void bwd_workers(void *arg, int64_t w0, int64_t w1) {
    const BnArgs *a = arg;
    for (int64_t wk = w0; wk < w1; wk++)
        for (int64_t c = wk; c < a->s->C; c += a->nw) bwd_channel(a, c, a->bufs + wk * a->bstride);
}

void batchnorm2d_backward_train(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                const float *weight, const float *bias, const float *mean, const float *invstd, float *dx,
                                float *dweight, float *dbias) {
    NN_DISPATCH_CUDA_VOID(ctx, batchnorm2d_backward_train_cuda(ctx, s, dout, x, weight, bias, mean, invstd, dx, dweight,
                                                               dbias));
    BnArgs a = {.s = s, .x = x, .weight = weight, .bias = bias, .dout = dout, .mean = (float *)mean,
                .invstd = (float *)invstd, .dx = dx, .dweight = dweight, .dbias = dbias, .train = 1};
    run_channels(ctx, s, bwd_range, &a);
}

int batchnorm2d_backward_train_from(NnCtx *ctx, const BatchNorm2dShape *s, BnPlaneProducer produce,
                                    const void *produce_arg, const float *x, const float *weight, const float *bias,
                                    const float *mean, const float *invstd, float *dx, float *dweight, float *dbias) {
    int64_t hw = (int64_t)s->H * s->W, total = (int64_t)s->N * s->C * hw;
    int64_t nw = total < PAR_MIN || ctx->threads <= 1 ? 1 : ctx->threads < s->C ? ctx->threads : s->C;
    int64_t stride = (hw + 15) / 16 * 16; /* 64-byte aligned planes */
    float *bufs = nn_scratch(ctx, (size_t)(nw * stride));
    if (!bufs) return -1;
    BnArgs a = {.s = s, .x = x, .weight = weight, .bias = bias, .mean = (float *)mean, .invstd = (float *)invstd,
                .dx = dx, .dweight = dweight, .dbias = dbias, .train = 1, .produce = produce,
                .produce_arg = produce_arg, .bufs = bufs, .nw = nw, .bstride = stride};
    if (nw == 1) bwd_workers(&a, 0, 1);
    else nn_parallel_for(ctx, nw, bwd_workers, &a);
    return 0;
}

void batchnorm2d_backward_eval(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                               const float *weight, const float *bias, const float *mean, const float *invstd, float *dx,
                               float *dweight, float *dbias) {
    NN_DISPATCH_CUDA_VOID(ctx, batchnorm2d_backward_eval_cuda(ctx, s, dout, x, weight, bias, mean, invstd, dx, dweight,
                                                              dbias));
    BnArgs a = {.s = s, .x = x, .weight = weight, .bias = bias, .dout = dout, .mean = (float *)mean,
                .invstd = (float *)invstd, .dx = dx, .dweight = dweight, .dbias = dbias, .train = 0};
    run_channels(ctx, s, bwd_range, &a);
}

void batchnorm2d_fold_into_conv(int C, double eps, const float *weight, const float *bias,
                                const float *running_mean, const float *running_var, float *conv_weight,
                                size_t per_channel, float *conv_bias) {
    for (int c = 0; c < C; c++) {
        float r = 1.0f / sqrtf(running_var[c] + (float)eps);
        float w = weight ? weight[c] : 1.0f;
        float scale = w * r;
        float *cw = conv_weight + (size_t)c * per_channel;
        for (size_t i = 0; i < per_channel; i++) cw[i] *= scale;
        conv_bias[c] = (conv_bias[c] - running_mean[c]) * r * w + (bias ? bias[c] : 0.0f);
    }
}
