#include "nn/se.h"

#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/pool.h"

#include <string.h>

void se_excite(NnCtx *ctx, const SEShape *s, const float *pooled, const float *w1, const float *b1, const float *w2,
               const float *b2, float *h, float *a, float *sc) {
    LinearShape l1 = {.N = s->N, .in = s->C, .out = s->R}, l2 = {.N = s->N, .in = s->R, .out = s->C};
    linear_forward(ctx, &l1, pooled, w1, b1, h);
    if (s->silu) silu_forward(ctx, (size_t)s->N * s->R, h, a);
    else relu_forward(ctx, (size_t)s->N * s->R, h, a);
    linear_forward(ctx, &l2, a, w2, b2, sc);
    sigmoid_forward(ctx, (size_t)s->N * s->C, sc, sc);
}

typedef struct {
    size_t hw;
    const float *x, *sc;
    float *y;
} ScaleArgs;

CPU_CLONES static void scale_planes(void *arg, int64_t p0, int64_t p1) {
    const ScaleArgs *a = arg;
    for (size_t p = (size_t)p0; p < (size_t)p1; p++)
        for (size_t q = 0; q < a->hw; q++) a->y[p * a->hw + q] = a->x[p * a->hw + q] * a->sc[p];
}

/* se_backward's two passes over the planes: the gate's gradient ds[p] = sum of dy * x (ordered_dot_f64),
 * and dx = the squeeze's gradient (global_avgpool_backward's value, dpool[p] / hw) + dy * sc[p] */
typedef struct {
    size_t hw;
    const float *dy, *x, *sc, *dpool;
    float *ds, *dx;
} SeBwdArgs;

static void gate_dot_planes(void *arg, int64_t p0, int64_t p1) {
    const SeBwdArgs *a = arg;
    int64_t hw = (int64_t)a->hw, p = p0;
    for (double o[4]; p + 4 <= p1; p += 4) { /* four planes' sums at once: each plane's own bits */
        ordered_dot4_f64(a->dy + p * hw, a->x + p * hw, hw, hw, o);
        for (int j = 0; j < 4; j++) a->ds[p + j] = (float)o[j];
    }
    for (; p < p1; p++) a->ds[p] = (float)ordered_dot_f64(a->dy + p * hw, a->x + p * hw, hw);
}

CPU_CLONES static void dx_planes(void *arg, int64_t p0, int64_t p1) {
    const SeBwdArgs *a = arg;
    for (size_t p = (size_t)p0; p < (size_t)p1; p++) {
        float g = (float)(a->dpool[p] / (double)a->hw);
        for (size_t q = 0; q < a->hw; q++) a->dx[p * a->hw + q] = g + a->dy[p * a->hw + q] * a->sc[p];
    }
}

/* f over the N*C planes, on the context's threads when there is enough to share */
static void over_planes(NnCtx *ctx, int64_t planes, size_t hw, void (*f)(void *, int64_t, int64_t), void *arg) {
    if (ctx->threads > 1 && (size_t)planes * hw >= 65536) nn_parallel_for(ctx, planes, f, arg);
    else f(arg, 0, planes);
}

void se_scale(NnCtx *ctx, const SEShape *s, const float *x, const float *sc, float *y) {
    NN_DISPATCH_CUDA_VOID(ctx, se_scale_cuda(ctx, s, x, sc, y));
    ScaleArgs a = {(size_t)s->H * s->W, x, sc, y};
    over_planes(ctx, (int64_t)s->N * s->C, a.hw, scale_planes, &a);
}

void se_squeeze_excite(NnCtx *ctx, const SEShape *s, const float *x, const float *w1, const float *b1, const float *w2,
                       const float *b2, float *pooled, float *h, float *a, float *sc) {
    GlobalPoolShape gp = {.N = s->N, .C = s->C, .H = s->H, .W = s->W};
    global_avgpool_forward(ctx, &gp, x, pooled);
    se_excite(ctx, s, pooled, w1, b1, w2, b2, h, a, sc);
}

void se_forward(NnCtx *ctx, const SEShape *s, const float *x, const float *w1, const float *b1, const float *w2,
                const float *b2, float *y, float *pooled, float *h, float *a, float *sc) {
    se_squeeze_excite(ctx, s, x, w1, b1, w2, b2, pooled, h, a, sc);
    se_scale(ctx, s, x, sc, y);
}

int se_backward(NnCtx *ctx, const SEShape *s, const float *dy, const float *x, const float *w1, const float *w2,
                const float *pooled, const float *h, const float *a, const float *sc, float *dx, float *dw1, float *db1,
                float *dw2, float *db2) {
    NN_DISPATCH_CUDA(ctx, se_backward_cuda(ctx, s, dy, x, w1, w2, pooled, h, a, sc, dx, dw1, db1, dw2, db2));
    size_t nc = (size_t)s->N * s->C, nr = (size_t)s->N * s->R, hw = (size_t)s->H * s->W;
    float *ws = nn_scratch(ctx, 2 * nc + 2 * nr);
    if (!ws) return -1;
    float *ds = ws, *dpool = ws + nc, *da = ws + 2 * nc, *dh = ws + 2 * nc + nr;
    SeBwdArgs ba = {hw, dy, x, sc, dpool, ds, dx};
    over_planes(ctx, (int64_t)nc, hw, gate_dot_planes, &ba);
    sigmoid_backward(ctx, nc, ds, sc, ds); /* now d(pre-sigmoid) */
    LinearShape l1 = {.N = s->N, .in = s->C, .out = s->R}, l2 = {.N = s->N, .in = s->R, .out = s->C};
    linear_backward(ctx, &l2, a, w2, ds, da, dw2, db2);
    if (s->silu) silu_backward(ctx, nr, da, h, dh);
    else relu_backward(ctx, nr, da, a, dh);
    linear_backward(ctx, &l1, pooled, w1, dh, dpool, dw1, db1);
    over_planes(ctx, (int64_t)nc, hw, dx_planes, &ba); /* the pool's backward and the scaling's, one pass */
    return 0;
}
