#include "nn/loss.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>

#define PAR_MIN 32768 /* elements below which threads cost more than they save */

typedef struct {
    const CrossEntropyShape *s;
    int C;
    const float *logits, *w;
    const int64_t *y;
    float *probs;
    double *row; /* per row: nll_i, smooth_i */
    /* backward */
    float *dz;
    float a_scale, b_scale, wsum, dloss; /* (1-e)*dloss/W, e*dloss/(C*W), S */
} CeArgs;

static void run(NnCtx *ctx, int64_t rows, int64_t work, nn_range_fn fn, void *a) {
    if (rows <= 0) return;
    if (work < PAR_MIN || ctx->threads <= 1) fn(a, 0, rows);
    else nn_parallel_for(ctx, rows, fn, a);
}

/* One row: max and log-sum-exp, in double for the sum. */
static double row_lse(const float *z, int C, float *maxp) {
    float m = z[0];
    for (int c = 1; c < C; c++)
        if (z[c] > m) m = z[c];
    double sum = 0;
    for (int c = 0; c < C; c++) sum += (double)expf(z[c] - m);
    *maxp = m;
    return log(sum);
}

static void softmax_rows(void *p, int64_t i0, int64_t i1) {
    const CeArgs *a = p;
    int C = a->C;
    for (int64_t i = i0; i < i1; i++) {
        const float *z = a->logits + i * C;
        float *q = a->probs + i * C;
        float m = z[0];
        for (int c = 1; c < C; c++)
            if (z[c] > m) m = z[c];
        double sum = 0;
        for (int c = 0; c < C; c++) {
            float e = expf(z[c] - m);
            q[c] = e;
            sum += (double)e;
        }
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++) q[c] *= inv;
    }
}

void softmax_forward(NnCtx *ctx, int N, int C, const float *logits, float *probs) {
    if (C <= 0) return;
    CeArgs a = {.C = C, .logits = logits, .probs = probs};
    run(ctx, N, (int64_t)N * C, softmax_rows, &a);
}

static void ce_rows(void *p, int64_t i0, int64_t i1) {
    const CeArgs *a = p;
    int C = a->C;
    int smooth = a->s->label_smoothing > 0.0f;
    for (int64_t i = i0; i < i1; i++) {
        const float *z = a->logits + i * C;
        float m;
        double lse = row_lse(z, C, &m);
        int64_t y = a->y[i];
        double lpy = (double)(z[y] - m) - lse;
        double wy = a->w ? (double)a->w[y] : 1.0;
        a->row[2 * i] = -wy * lpy;
        double sm = 0;
        if (smooth)
            for (int c = 0; c < C; c++) sm -= (a->w ? (double)a->w[c] : 1.0) * ((double)(z[c] - m) - lse);
        a->row[2 * i + 1] = sm;
        if (a->probs) {
            float *q = a->probs + i * C;
            for (int c = 0; c < C; c++) q[c] = (float)exp((double)(z[c] - m) - lse);
        }
    }
}

int cross_entropy_forward(NnCtx *ctx, const CrossEntropyShape *s, const float *logits, const int64_t *targets,
                          const float *class_weight, float *loss, float *probs) {
    int N = s->N, C = s->C;
    for (int i = 0; i < N; i++)
        if (targets[i] < 0 || targets[i] >= C) {
            err_set("cross-entropy: target %lld of sample %d is outside [0, %d)", (long long)targets[i], i, C);
            return -1;
        }
    if (N <= 0 || C <= 0) {
        *loss = s->reduction == LOSS_MEAN ? NAN : 0.0f; /* torch: mean of nothing is NaN */
        return 0;
    }
    /* per-row terms in the workspace (as doubles: two floats each) */
    double *row = (double *)nn_scratch(ctx, (size_t)N * 4);
    if (!row) return -1;
    CeArgs a = {.s = s, .C = C, .logits = logits, .w = class_weight, .y = targets, .probs = probs, .row = row};
    run(ctx, N, (int64_t)N * C, ce_rows, &a);
    double nll = 0, sm = 0, W = 0;
    for (int i = 0; i < N; i++) {
        nll += row[2 * i];
        sm += row[2 * i + 1];
        W += class_weight ? (double)class_weight[targets[i]] : 1.0;
    }
    if (s->reduction == LOSS_SUM) W = 1.0;
    double e = s->label_smoothing;
    double l = (1.0 - e) * nll / W;
    if (e > 0) l += e / C * sm / W;
    *loss = (float)l;
    return 0;
}

static void ce_bwd_rows(void *p, int64_t i0, int64_t i1) {
    const CeArgs *a = p;
    int C = a->C;
    for (int64_t i = i0; i < i1; i++) {
        const float *q = a->probs + i * C;
        float *d = a->dz + i * C;
        int64_t y = a->y[i];
        float ai = a->a_scale * (a->w ? a->w[y] : 1.0f);
        for (int c = 0; c < C; c++) {
            float g = ai * (q[c] - (c == y ? 1.0f : 0.0f));
            if (a->b_scale != 0.0f) g += a->b_scale * (q[c] * a->wsum - (a->w ? a->w[c] : 1.0f));
            d[c] = g;
        }
    }
}

void cross_entropy_backward(NnCtx *ctx, const CrossEntropyShape *s, float dloss, const float *probs,
                            const int64_t *targets, const float *class_weight, float *dlogits) {
    int N = s->N, C = s->C;
    if (N <= 0 || C <= 0) return;
    double W = 0, S = 0;
    if (s->reduction == LOSS_SUM) W = 1.0;
    else
        for (int i = 0; i < N; i++) W += class_weight ? (double)class_weight[targets[i]] : 1.0;
    for (int c = 0; c < C; c++) S += class_weight ? (double)class_weight[c] : 1.0;
    double e = s->label_smoothing;
    CeArgs a = {.s = s, .C = C, .w = class_weight, .y = targets, .probs = (float *)probs, .dz = dlogits,
                .a_scale = (float)((1.0 - e) * dloss / W), .b_scale = (float)(e > 0 ? e * dloss / (C * W) : 0.0),
                .wsum = (float)S};
    run(ctx, N, (int64_t)N * C, ce_bwd_rows, &a);
}

int class_weight_balanced(const int64_t *y, size_t n, int n_classes, float *w) {
    if (n_classes <= 0) {
        err_set("balanced class weights: no classes");
        return -1;
    }
    size_t *count = calloc((size_t)n_classes, sizeof *count);
    if (!count) {
        err_set("out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= n_classes) {
            err_set("balanced class weights: label %lld outside [0, %d)", (long long)y[i], n_classes);
            free(count);
            return -1;
        }
        count[y[i]]++;
    }
    for (int c = 0; c < n_classes; c++)
        if (count[c] == 0) {
            err_set("balanced class weights: class %d has no sample", c);
            free(count);
            return -1;
        }
    for (int c = 0; c < n_classes; c++) w[c] = (float)((double)n / ((double)n_classes * (double)count[c]));
    free(count);
    return 0;
}
