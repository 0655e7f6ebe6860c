#include "nn/activation.h"

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
static void relu_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    for (int64_t i = i0; i < i1; i++) a->out[i] = a->a[i] < 0.0f ? 0.0f : a->a[i];
}

void relu_forward(NnCtx *ctx, size_t n, const float *x, float *out) {
    EwArgs a = {x, NULL, out};
    run(ctx, n, relu_fwd, &a);
}

static void relu_bwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p; /* a = dout, b = y; torch's threshold_backward: y <= 0 ? 0 : dout */
    for (int64_t i = i0; i < i1; i++) a->out[i] = a->b[i] <= 0.0f ? 0.0f : a->a[i];
}

void relu_backward(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx) {
    EwArgs a = {dout, y, dx};
    run(ctx, n, relu_bwd, &a);
}

static void sigmoid_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    for (int64_t i = i0; i < i1; i++) a->out[i] = 1.0f / (1.0f + expf(-a->a[i]));
}

void sigmoid_forward(NnCtx *ctx, size_t n, const float *x, float *out) {
    EwArgs a = {x, NULL, out};
    run(ctx, n, sigmoid_fwd, &a);
}

static void sigmoid_bwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p; /* a = dout, b = y */
    for (int64_t i = i0; i < i1; i++) a->out[i] = a->a[i] * (1.0f - a->b[i]) * a->b[i];
}

void sigmoid_backward(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx) {
    EwArgs a = {dout, y, dx};
    run(ctx, n, sigmoid_bwd, &a);
}

static void silu_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    for (int64_t i = i0; i < i1; i++) a->out[i] = a->a[i] / (1.0f + expf(-a->a[i]));
}

void silu_forward(NnCtx *ctx, size_t n, const float *x, float *out) {
    EwArgs a = {x, NULL, out};
    run(ctx, n, silu_fwd, &a);
}

static void silu_bwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p; /* a = dout, b = x */
    for (int64_t i = i0; i < i1; i++) {
        float x = a->b[i];
        float s = 1.0f / (1.0f + expf(-x));
        a->out[i] = a->a[i] * s * (1.0f + x * (1.0f - s));
    }
}

void silu_backward(NnCtx *ctx, size_t n, const float *dout, const float *x, float *dx) {
    EwArgs a = {dout, x, dx};
    run(ctx, n, silu_bwd, &a);
}

static void add_fwd(void *p, int64_t i0, int64_t i1) {
    const EwArgs *a = p;
    for (int64_t i = i0; i < i1; i++) a->out[i] = a->a[i] + a->b[i];
}

void residual_add_forward(NnCtx *ctx, size_t n, const float *a, const float *b, float *out) {
    EwArgs e = {a, b, out};
    run(ctx, n, add_fwd, &e);
}

void residual_add_backward(NnCtx *ctx, size_t n, const float *dout, float *da, float *db) {
    (void)ctx;
    if (da && da != dout) memcpy(da, dout, n * sizeof(float));
    if (db && db != dout) memcpy(db, dout, n * sizeof(float));
}

void grad_accumulate(NnCtx *ctx, size_t n, const float *src, float *dst) {
    EwArgs e = {dst, src, dst};
    run(ctx, n, add_fwd, &e);
}
