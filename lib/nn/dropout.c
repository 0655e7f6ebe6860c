#include "nn/dropout.h"

#include "core/rng.h"

#include <string.h>

#define PAR_MIN 65536 /* elements below which threads cost more than they save */

static int active(int training, float p) { return training && p > 0.0f; }
static float keep_scale(float p) { return p < 1.0f ? 1.0f / (float)(1.0 - (double)p) : 0.0f; }

static uint64_t mask_key(uint64_t seed, uint64_t stream) {
    Rng r;
    rng_derive(&r, seed, stream);
    return rng_next(&r);
}

typedef struct {
    const float *x;
    float *out;
    const uint8_t *mask_in;
    uint8_t *mask;
    size_t n, per; /* per: elements per mask byte (1 for dropout) */
    uint64_t key;
    double keep_p;
    float scale;
} DropArgs;

static void run(NnCtx *ctx, size_t work, int64_t ranges, nn_range_fn fn, DropArgs *a) {
    if (ranges <= 0) return;
    if (work < PAR_MIN || ctx->threads <= 1) fn(a, 0, ranges);
    else nn_parallel_for(ctx, ranges, fn, a);
}

/* Over blocks of DROPOUT_BLOCK elements: draw the mask and apply it. */
static void dropout_blocks(void *p, int64_t b0, int64_t b1) {
    const DropArgs *a = p;
    for (int64_t b = b0; b < b1; b++) {
        Rng r;
        rng_derive(&r, a->key, (uint64_t)b);
        size_t i0 = (size_t)b * DROPOUT_BLOCK, i1 = i0 + DROPOUT_BLOCK < a->n ? i0 + DROPOUT_BLOCK : a->n;
        for (size_t i = i0; i < i1; i++) {
            uint8_t k = rng_uniform(&r) < a->keep_p;
            a->mask[i] = k;
            a->out[i] = a->x[i] * (k ? a->scale : 0.0f);
        }
    }
}

/* Over elements: out = x * (mask[i / per] ? scale : 0), a run of constant factor per mask byte (no
 * division per element: a drop-path row is one multiplier for per_sample elements). */
CPU_CLONES static void apply_mask(void *p, int64_t i0, int64_t i1) {
    const DropArgs *a = p;
    size_t per = a->per;
    if (per == 1) { /* dropout's element mask */
        for (int64_t i = i0; i < i1; i++) a->out[i] = a->x[i] * (a->mask_in[i] ? a->scale : 0.0f);
        return;
    }
    for (size_t i = (size_t)i0; i < (size_t)i1;) {
        size_t run_end = (i / per + 1) * per;
        if (run_end > (size_t)i1) run_end = (size_t)i1;
        float f = a->mask_in[i / per] ? a->scale : 0.0f;
        for (; i < run_end; i++) a->out[i] = a->x[i] * f;
    }
}

static void copy_if_needed(size_t n, const float *x, float *out) {
    if (out != x) memmove(out, x, n * sizeof(float));
}

void dropout_forward(NnCtx *ctx, const DropoutShape *s, uint64_t seed, uint64_t stream, const float *x,
                     float *out, uint8_t *mask) {
    NN_DISPATCH_CUDA_VOID(ctx, dropout_forward_cuda(ctx, s, seed, stream, x, out, mask));
    if (!active(s->training, s->p)) {
        copy_if_needed(s->n, x, out);
        memset(mask, 1, s->n);
        return;
    }
    DropArgs a = {.x = x, .out = out, .mask = mask, .n = s->n, .per = 1, .key = mask_key(seed, stream),
                  .keep_p = 1.0 - (double)s->p, .scale = keep_scale(s->p)};
    run(ctx, s->n, (int64_t)((s->n + DROPOUT_BLOCK - 1) / DROPOUT_BLOCK), dropout_blocks, &a);
}

void dropout_backward(NnCtx *ctx, const DropoutShape *s, const float *dout, const uint8_t *mask, float *dx) {
    NN_DISPATCH_CUDA_VOID(ctx, dropout_backward_cuda(ctx, s, dout, mask, dx));
    if (!active(s->training, s->p)) {
        copy_if_needed(s->n, dout, dx);
        return;
    }
    DropArgs a = {.x = dout, .out = dx, .mask_in = mask, .n = s->n, .per = 1, .scale = keep_scale(s->p)};
    run(ctx, s->n, (int64_t)s->n, apply_mask, &a);
}

void drop_path_forward(NnCtx *ctx, const DropPathShape *s, uint64_t seed, uint64_t stream, const float *x,
                       float *out, uint8_t *mask) {
    NN_DISPATCH_CUDA_VOID(ctx, drop_path_forward_cuda(ctx, s, seed, stream, x, out, mask));
    size_t n = (size_t)s->N * s->per_sample;
    size_t nmask = s->mode == DROP_PATH_ROW ? (size_t)s->N : 1;
    if (!active(s->training, s->p)) {
        copy_if_needed(n, x, out);
        memset(mask, 1, nmask);
        return;
    }
    Rng r;
    rng_derive(&r, mask_key(seed, stream), 0);
    double keep_p = 1.0 - (double)s->p;
    for (size_t i = 0; i < nmask; i++) mask[i] = rng_uniform(&r) < keep_p;
    if (n == 0) return;
    DropArgs a = {.x = x, .out = out, .mask_in = mask, .n = n,
                  .per = s->mode == DROP_PATH_ROW ? (s->per_sample ? s->per_sample : 1) : n,
                  .scale = keep_scale(s->p)};
    run(ctx, n, (int64_t)n, apply_mask, &a);
}

void drop_path_backward(NnCtx *ctx, const DropPathShape *s, const float *dout, const uint8_t *mask, float *dx) {
    NN_DISPATCH_CUDA_VOID(ctx, drop_path_backward_cuda(ctx, s, dout, mask, dx));
    size_t n = (size_t)s->N * s->per_sample;
    if (!active(s->training, s->p)) {
        copy_if_needed(n, dout, dx);
        return;
    }
    if (n == 0) return;
    DropArgs a = {.x = dout, .out = dx, .mask_in = mask, .n = n,
                  .per = s->mode == DROP_PATH_ROW ? s->per_sample : n, .scale = keep_scale(s->p)};
    run(ctx, n, (int64_t)n, apply_mask, &a);
}
