#include "nn/activation.h"

#include "core/prefetch.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/act_avx512.h"
#include "nn/lanes_avx512.h"
#define HAVE_ACT_AVX512 1

/* act_affine in AVX-512 with act_avx512.h's activations (the scalar bits; GCC's own vectorisation of
 * nn_expf runs 25% slower): a product, a sum, the residual, the activation, 16 lanes at a time. */
__attribute__((target("avx512f"))) static void act_affine_avx512(const float *x, float *y, int64_t n, float scale,
                                                                 float shift, const float *res, ActKind act) {
    const __m512 a = _mm512_set1_ps(scale), b = _mm512_set1_ps(shift);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = lanes_between(0, n - i);
        stream_prefetch(x + i);
        if (res) stream_prefetch(res + i);
        __m512 v = nn_affine_act_avx512(_mm512_maskz_loadu_ps(m, x + i), a, b, res ? res + i : NULL, m, act);
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}
#else
#define HAVE_ACT_AVX512 0
#endif

#include <math.h>
#include <string.h>

#define PAR_MIN 65536 /* elements below which threads cost more than they save */

typedef struct {
    const float *a, *b;
    float *out;
} EwArgs;

static void run(NnCtx *ctx, size_t n, nn_range_fn fn, EwArgs *a) {
    if (n == 0) return;
    if (n < PAR_MIN || ctx->threads <= 1) fn(a, 0, (int64_t)n);
    else nn_parallel_for(ctx, (int64_t)n, fn, a);
}

/* NaN propagates as in torch.relu (x < 0 is false for NaN). */
static void relu_in_place(float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];
}
static void relu_to(const float *restrict x, float *restrict y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

CPU_CLONES static void relu_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    if (a->out == a->a) relu_in_place(a->out + i0, i1 - i0);
    else relu_to(a->a + i0, a->out + i0, i1 - i0);
}

void relu_forward(NnCtx *ctx, size_t n, const float *x, float *out) {
    NN_DISPATCH_CUDA_VOID(ctx, relu_forward_cuda(ctx, n, x, out));
    EwArgs a = {x, NULL, out};
    run(ctx, n, relu_fwd, &a);
}

/* torch's threshold_backward: y <= 0 ? 0 : dout. In place (dx == dout: the networks' case) and out of
 * place, each with pointers the compiler may treat as unaliased, so that both vectorise. */
static void relu_bwd_in_place(float *restrict g, const float *restrict y, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = y[i] <= 0.0f ? 0.0f : g[i];
}
static void relu_bwd_to(const float *restrict g, const float *restrict y, float *restrict dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] <= 0.0f ? 0.0f : g[i];
}

CPU_CLONES static void relu_bwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p; /* a = dout, b = y */
    if (a->out == a->a) relu_bwd_in_place(a->out + i0, a->b + i0, i1 - i0);
    else relu_bwd_to(a->a + i0, a->b + i0, a->out + i0, i1 - i0);
}

void relu_backward(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx) {
    NN_DISPATCH_CUDA_VOID(ctx, relu_backward_cuda(ctx, n, dout, y, dx));
    EwArgs a = {dout, y, dx};
    run(ctx, n, relu_bwd, &a);
}

/* The exp-based maps in two forms each, in place and out of place with restrict pointers, so that the
 * compiler vectorises both (with one pointer that may alias, it would fall back to scalar code for the
 * in-place calls the networks make). Same operations, so the same bits, either way. */
static void sigmoid_in_place(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + nn_expf(-x[i]));
}
static void sigmoid_to(const float *restrict x, float *restrict y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + nn_expf(-x[i]));
}
static void silu_in_place(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + nn_expf(-x[i]));
}
static void silu_to(const float *restrict x, float *restrict y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + nn_expf(-x[i]));
}

CPU_CLONES static void sigmoid_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    if (a->out == a->a) sigmoid_in_place(a->out + i0, i1 - i0);
    else sigmoid_to(a->a + i0, a->out + i0, i1 - i0);
}

void sigmoid_forward(NnCtx *ctx, size_t n, const float *x, float *out) {
    NN_DISPATCH_CUDA_VOID(ctx, sigmoid_forward_cuda(ctx, n, x, out));
    EwArgs a = {x, NULL, out};
    run(ctx, n, sigmoid_fwd, &a);
}

CPU_CLONES static void sigmoid_bwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p; /* a = dout, b = y */
    for (int64_t i = i0; i < i1; i++) a->out[i] = a->a[i] * (1.0f - a->b[i]) * a->b[i];
}

void sigmoid_backward(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx) {
    NN_DISPATCH_CUDA_VOID(ctx, sigmoid_backward_cuda(ctx, n, dout, y, dx));
    EwArgs a = {dout, y, dx};
    run(ctx, n, sigmoid_bwd, &a);
}

CPU_CLONES static void silu_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    if (a->out == a->a) silu_in_place(a->out + i0, i1 - i0);
    else silu_to(a->a + i0, a->out + i0, i1 - i0);
}

void silu_forward(NnCtx *ctx, size_t n, const float *x, float *out) {
    NN_DISPATCH_CUDA_VOID(ctx, silu_forward_cuda(ctx, n, x, out));
    EwArgs a = {x, NULL, out};
    run(ctx, n, silu_fwd, &a);
}

/* d = dout * silu'(x); d may be dout (in place) but not x. */
static void silu_grad(float *d, const float *dout, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + nn_expf(-x[i]));
        d[i] = dout[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

CPU_CLONES static void silu_bwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p; /* a = dout, b = x */
    silu_grad(a->out + i0, a->a + i0, a->b + i0, i1 - i0);
}

void silu_backward(NnCtx *ctx, size_t n, const float *dout, const float *x, float *dx) {
    NN_DISPATCH_CUDA_VOID(ctx, silu_backward_cuda(ctx, n, dout, x, dx));
    EwArgs a = {dout, x, dx};
    run(ctx, n, silu_bwd, &a);
}

CPU_CLONES static void add_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    for (int64_t i = i0; i < i1; i++) a->out[i] = a->a[i] + a->b[i];
}

void residual_add_forward(NnCtx *ctx, size_t n, const float *a, const float *b, float *out) {
    NN_DISPATCH_CUDA_VOID(ctx, residual_add_forward_cuda(ctx, n, a, b, out));
    EwArgs e = {a, b, out};
    run(ctx, n, add_fwd, &e);
}

CPU_CLONES static void add_relu_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    for (int64_t i = i0; i < i1; i++) {
        float v = a->a[i] + a->b[i];
        a->out[i] = v < 0.0f ? 0.0f : v;
    }
}

void residual_add_relu_forward(NnCtx *ctx, size_t n, const float *a, const float *b, float *out) {
    NN_DISPATCH_CUDA_VOID(ctx, residual_add_relu_forward_cuda(ctx, n, a, b, out));
    EwArgs e = {a, b, out};
    run(ctx, n, add_relu_fwd, &e);
}

/* act_affine's loops, specialised by the compiler for each (activation, residual) pair it is called
 * with; one pointer in place and restrict pointers out of place, so that both vectorise. */
CPU_INLINE float act_apply(float p, ActKind act) {
    if (act == ACT_RELU) return p < 0.0f ? 0.0f : p;
    if (act == ACT_SILU) return p / (1.0f + nn_expf(-p));
    return p;
}
CPU_INLINE void affine_in_place(float *y, int64_t n, float a, float b, const float *restrict res, ActKind act) {
    if (res)
        for (int64_t i = 0; i < n; i++) {
            float p = y[i] * a + b;
            p = p + res[i];
            y[i] = act_apply(p, act);
        }
    else
        for (int64_t i = 0; i < n; i++) y[i] = act_apply(y[i] * a + b, act);
}
CPU_INLINE void affine_to(const float *restrict x, float *restrict y, int64_t n, float a, float b,
                         const float *restrict res, ActKind act) {
    if (res)
        for (int64_t i = 0; i < n; i++) {
            float p = x[i] * a + b;
            p = p + res[i];
            y[i] = act_apply(p, act);
        }
    else
        for (int64_t i = 0; i < n; i++) y[i] = act_apply(x[i] * a + b, act);
}

CPU_CLONES void act_affine(const float *x, float *y, int64_t n, float scale, float shift, const float *res, ActKind act) {
#if HAVE_ACT_AVX512
    if (act == ACT_SILU && nn_avx512()) {
        act_affine_avx512(x, y, n, scale, shift, res, act);
        return;
    }
#endif
    switch (act) {
    case ACT_RELU:
        if (x == y) affine_in_place(y, n, scale, shift, res, ACT_RELU);
        else affine_to(x, y, n, scale, shift, res, ACT_RELU);
        break;
    case ACT_SILU:
        if (x == y) affine_in_place(y, n, scale, shift, res, ACT_SILU);
        else affine_to(x, y, n, scale, shift, res, ACT_SILU);
        break;
    default:
        if (x == y) affine_in_place(y, n, scale, shift, res, ACT_NONE);
        else affine_to(x, y, n, scale, shift, res, ACT_NONE);
    }
}

void residual_add_backward(NnCtx *ctx, size_t n, const float *dout, float *da, float *db) {
    NN_DISPATCH_CUDA_VOID(ctx, residual_add_backward_cuda(ctx, n, dout, da, db));
    (void)ctx;
    if (da && da != dout) memcpy(da, dout, n * sizeof(float));
    if (db && db != dout) memcpy(db, dout, n * sizeof(float));
}

void grad_accumulate(NnCtx *ctx, size_t n, const float *src, float *dst) {
    NN_DISPATCH_CUDA_VOID(ctx, grad_accumulate_cuda(ctx, n, src, dst));
    EwArgs e = {dst, src, dst};
    run(ctx, n, add_fwd, &e);
}
