#include "nn/se.h"

#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/pool.h"

#include <string.h>

void se_forward(NnCtx *ctx, const SEShape *s, const float *x, const float *w1, const float *b1, const float *w2,
                const float *b2, float *y, float *pooled, float *h, float *a, float *sc) {
    GlobalPoolShape gp = {.N = s->N, .C = s->C, .H = s->H, .W = s->W};
    LinearShape l1 = {.N = s->N, .in = s->C, .out = s->R}, l2 = {.N = s->N, .in = s->R, .out = s->C};
    global_avgpool_forward(ctx, &gp, x, pooled);
    linear_forward(ctx, &l1, pooled, w1, b1, h);
    if (s->silu) silu_forward(ctx, (size_t)s->N * s->R, h, a);
    else relu_forward(ctx, (size_t)s->N * s->R, h, a);
    linear_forward(ctx, &l2, a, w2, b2, sc);
    sigmoid_forward(ctx, (size_t)s->N * s->C, sc, sc);
    size_t hw = (size_t)s->H * s->W;
    for (size_t p = 0; p < (size_t)s->N * s->C; p++)
        for (size_t q = 0; q < hw; q++) y[p * hw + q] = x[p * hw + q] * sc[p];
}

int se_backward(NnCtx *ctx, const SEShape *s, const float *dy, const float *x, const float *w1, const float *w2,
                const float *pooled, const float *h, const float *a, const float *sc, float *dx, float *dw1, float *db1,
                float *dw2, float *db2) {
    size_t nc = (size_t)s->N * s->C, nr = (size_t)s->N * s->R, hw = (size_t)s->H * s->W;
    float *ws = nn_scratch(ctx, 2 * nc + 2 * nr);
    if (!ws) return -1;
    float *ds = ws, *dpool = ws + nc, *da = ws + 2 * nc, *dh = ws + 2 * nc + nr;
    for (size_t p = 0; p < nc; p++) { /* ds = sum over the plane of dy * x */
        double acc = 0;
        for (size_t q = 0; q < hw; q++) acc += (double)dy[p * hw + q] * x[p * hw + q];
        ds[p] = (float)acc;
    }
    sigmoid_backward(ctx, nc, ds, sc, ds); /* now d(pre-sigmoid) */
    LinearShape l1 = {.N = s->N, .in = s->C, .out = s->R}, l2 = {.N = s->N, .in = s->R, .out = s->C};
    linear_backward(ctx, &l2, a, w2, ds, da, dw2, db2);
    if (s->silu) silu_backward(ctx, nr, da, h, dh);
    else relu_backward(ctx, nr, da, a, dh);
    linear_backward(ctx, &l1, pooled, w1, dh, dpool, dw1, db1);
    GlobalPoolShape gp = {.N = s->N, .C = s->C, .H = s->H, .W = s->W};
    global_avgpool_backward(ctx, &gp, dpool, dx);
    for (size_t p = 0; p < nc; p++)
        for (size_t q = 0; q < hw; q++) dx[p * hw + q] += dy[p * hw + q] * sc[p];
    return 0;
}
