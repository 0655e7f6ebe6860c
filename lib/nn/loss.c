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

/* ---- binary cross-entropy with logits ------------------------------------------------------------ */

static int bce_check(const BceShape *s, const float *targets) {
    size_t nk = (size_t)s->N * (size_t)s->K;
    for (size_t i = 0; i < nk; i++)
        if (!(targets[i] >= 0.0f && targets[i] <= 1.0f)) {
            err_set("binary cross-entropy: target %g of sample %zu, class %zu is outside [0, 1]", (double)targets[i],
                    i / (size_t)s->K, i % (size_t)s->K);
            return -1;
        }
    return 0;
}

/* Per element: t (smoothed target) and lw = (p - 1) t + 1. */
static inline double bce_target(const BceShape *s, float y) {
    double e = s->label_smoothing;
    return e > 0 ? (double)y * (1.0 - e) + e / 2 : (double)y;
}

int bce_with_logits_forward(const BceShape *s, const float *logits, const float *targets, const float *pos_weight,
                            float *loss) {
    if (bce_check(s, targets) < 0) return -1;
    size_t nk = (size_t)s->N * (size_t)s->K;
    if (nk == 0) {
        *loss = s->reduction == LOSS_MEAN ? NAN : 0.0f; /* torch: mean of nothing is NaN */
        return 0;
    }
    double sum = 0;
    for (size_t i = 0; i < nk; i++) {
        double z = logits[i], t = bce_target(s, targets[i]);
        double lw = pos_weight ? ((double)pos_weight[i % (size_t)s->K] - 1.0) * t + 1.0 : 1.0;
        sum += (1.0 - t) * z + lw * (log1p(exp(-fabs(z))) + (z < 0 ? -z : 0.0));
    }
    *loss = (float)(s->reduction == LOSS_MEAN ? sum / (double)nk : sum);
    return 0;
}

void bce_with_logits_backward(const BceShape *s, float dloss, const float *logits, const float *targets,
                              const float *pos_weight, float *dlogits) {
    size_t nk = (size_t)s->N * (size_t)s->K;
    double scale = s->reduction == LOSS_MEAN && nk ? (double)dloss / (double)nk : (double)dloss;
    for (size_t i = 0; i < nk; i++) {
        double z = logits[i], t = bce_target(s, targets[i]);
        double p = pos_weight ? (double)pos_weight[i % (size_t)s->K] : 1.0, lw = (p - 1.0) * t + 1.0;
        double sg = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
        dlogits[i] = (float)(scale * (lw * sg - p * t));
    }
}

int pos_weight_balanced(const float *y, size_t n, int k, float *pw) {
    for (int c = 0; c < k; c++) {
        double pos = 0;
        for (size_t i = 0; i < n; i++) pos += (double)y[i * (size_t)k + (size_t)c];
        if (!(pos > 0) || !((double)n - pos > 0)) {
            err_set("balanced pos_weight: class %d has no %s sample", c, pos > 0 ? "negative" : "positive");
            return -1;
        }
        pw[c] = (float)(((double)n - pos) / pos);
    }
    return 0;
}
