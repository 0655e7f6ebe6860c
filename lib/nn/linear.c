#include "nn/linear.h"

#include "core/error.h"
#include "nn/gemm.h"
#include "nn/conv2d.h" /* nn_fill_uniform */

#include <cblas.h>
#include <math.h>
#include <string.h>

int linear_shape_init(LinearShape *s) {
    const int lim = 1 << 28;
    if (s->N < 1 || s->in < 1 || s->out < 1 || s->N > lim || s->in > lim || s->out > lim) {
        err_set("linear: sizes must be positive (N=%d in=%d out=%d)", s->N, s->in, s->out);
        return -1;
    }
    return 0;
}

/* Fixed tiles: TILE rows of x/dy (forward, dx) or of w (dw); independent of the thread count. */
#define TILE 64

typedef struct {
    const LinearShape *s;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db;
    int64_t ntiles;
} Job;

static void run(NnCtx *ctx, int64_t n, nn_range_fn fn, Job *jb) {
    openblas_set_num_threads(1);
    nn_parallel_for(ctx, n, fn, jb);
    openblas_set_num_threads(ctx->threads);
}

static void fwd_range(void *arg, int64_t begin, int64_t end) {
    Job *jb = arg;
    const LinearShape *s = jb->s;
    for (int64_t t = begin; t < end; t++) {
        int r0 = (int)t * TILE, r1 = r0 + TILE < s->N ? r0 + TILE : s->N;
        float *y = jb->y + (size_t)r0 * s->out;
        gemm_f32(GEMM_N, GEMM_T, r1 - r0, s->out, s->in, jb->x + (size_t)r0 * s->in, s->in, jb->w, s->in, 0.0f, y,
                 s->out);
        if (jb->b)
            for (int r = r0; r < r1; r++, y += s->out)
                for (int o = 0; o < s->out; o++) y[o] += jb->b[o];
    }
}

static void dx_range(void *arg, int64_t begin, int64_t end) {
    Job *jb = arg;
    const LinearShape *s = jb->s;
    for (int64_t t = begin; t < end; t++) {
        int r0 = (int)t * TILE, r1 = r0 + TILE < s->N ? r0 + TILE : s->N;
        gemm_f32(GEMM_N, GEMM_N, r1 - r0, s->in, s->out, jb->dy + (size_t)r0 * s->out, s->out, jb->w, s->in, 0.0f,
                 jb->dx + (size_t)r0 * s->in, s->in);
    }
}

/* dw rows [o0, o1) += dy[:, o0:o1]^T x; db[o0:o1] += sums over the batch in order. */
static void dw_range(void *arg, int64_t begin, int64_t end) {
    Job *jb = arg;
    const LinearShape *s = jb->s;
    for (int64_t t = begin; t < end; t++) {
        int o0 = (int)t * TILE, o1 = o0 + TILE < s->out ? o0 + TILE : s->out;
        gemm_f32(GEMM_T, GEMM_N, o1 - o0, s->in, s->N, jb->dy + o0, s->out, jb->x, s->in, 1.0f,
                 jb->dw + (size_t)o0 * s->in, s->in);
        if (jb->db)
            for (int o = o0; o < o1; o++) {
                double acc = 0.0;
                for (int n = 0; n < s->N; n++) acc += jb->dy[(size_t)n * s->out + o];
                jb->db[o] += (float)acc;
            }
    }
}

void linear_forward(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *b, float *y) {
    NN_DISPATCH_CUDA_VOID(ctx, linear_forward_cuda(ctx, s, x, w, b, y));
    Job jb = {.s = s, .x = x, .w = w, .b = b, .y = y};
    run(ctx, (s->N + TILE - 1) / TILE, fwd_range, &jb);
}

void linear_backward(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *dy, float *dx,
                     float *dw, float *db) {
    NN_DISPATCH_CUDA_VOID(ctx, linear_backward_cuda(ctx, s, x, w, dy, dx, dw, db));
    Job jb = {.s = s, .x = x, .w = w, .dy = dy, .dx = dx, .dw = dw, .db = db};
    if (dx) run(ctx, (s->N + TILE - 1) / TILE, dx_range, &jb);
    run(ctx, (s->out + TILE - 1) / TILE, dw_range, &jb);
}

void linear_init_default(Rng *r, const LinearShape *s, float *w, float *b) {
    double bound = 1.0 / sqrt((double)s->in);
    nn_fill_uniform(r, w, (size_t)s->out * s->in, bound);
    if (b) nn_fill_uniform(r, b, (size_t)s->out, bound);
}
