/* lib/nn batchnorm, activations, dropout, loss, optimisers: central finite-difference gradient checks
 * (relative error printed), thread-count independence (1 vs 2 threads, bit-identical), the running
 * statistics, folding, masks, schedules and clipping. */
#include "check.h"
#include "core/error.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/dropout.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FD_TOL 1e-2 /* float forward, central differences: truncation + rounding stay well below this */

static Rng rng;

static float *randv(size_t n, float lo, float hi) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * (float)rng_uniform(&rng);
    return v;
}

static float *copyv(const float *a, size_t n) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    memcpy(v, a, n * sizeof *v);
    return v;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* max |analytic - numeric| / max(max |numeric|, 1e-3) over the first n elements of `param`, where the
 * numeric gradient is (f(p + h) - f(p - h)) / 2h. */
typedef double (*LossFn)(void *arg);
static double fd_err(float *param, size_t n, const float *analytic, LossFn f, void *arg, float h) {
    double maxdiff = 0, maxnum = 1e-3;
    for (size_t i = 0; i < n; i++) {
        float keep = param[i];
        param[i] = keep + h;
        double lp = f(arg);
        param[i] = keep - h;
        double lm = f(arg);
        param[i] = keep;
        double num = (lp - lm) / (2.0 * (double)h);
        double d = fabs(num - (double)analytic[i]);
        if (d > maxdiff) maxdiff = d;
        if (fabs(num) > maxnum) maxnum = fabs(num);
    }
    return maxdiff / maxnum;
}

static void check_fd(const char *name, float *param, size_t n, const float *analytic, LossFn f, void *arg, float h) {
    double e = fd_err(param, n, analytic, f, arg, h);
    CHECK(e < FD_TOL, "finite differences %s (rel err %.2e)", name, e);
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* ---- batchnorm ------------------------------------------------------------------------------ */

typedef struct {
    NnCtx *ctx;
    BatchNorm2dShape s;
    float *x, *w, *b, *rm, *rv, *r, *out, *mean, *invstd;
    int train;
} BnCase;

static double bn_loss(void *p) {
    BnCase *c = p;
    size_t n = (size_t)c->s.N * c->s.C * c->s.H * c->s.W;
    if (c->train)
        batchnorm2d_forward_train(c->ctx, &c->s, c->x, c->w, c->b, NULL, NULL, NULL, c->out, c->mean, c->invstd);
    else
        batchnorm2d_forward_eval(c->ctx, &c->s, c->x, c->w, c->b, c->rm, c->rv, c->out, c->mean, c->invstd);
    return dot(c->out, c->r, n);
}

static void test_batchnorm(NnCtx *ctx) {
    BnCase c = {.ctx = ctx, .s = batchnorm2d_shape(3, 4, 3, 5)};
    int C = c.s.C;
    size_t n = (size_t)c.s.N * C * c.s.H * c.s.W;
    c.x = randv(n, -2, 3);
    c.w = randv((size_t)C, 0.5f, 1.5f);
    c.b = randv((size_t)C, -0.5f, 0.5f);
    c.rm = randv((size_t)C, -0.3f, 0.3f);
    c.rv = randv((size_t)C, 0.5f, 2.0f);
    c.r = randv(n, -1, 1);
    c.out = malloc(n * sizeof(float));
    c.mean = malloc((size_t)C * sizeof(float));
    c.invstd = malloc((size_t)C * sizeof(float));
    float *dx = malloc(n * sizeof(float)), *dw = calloc((size_t)C, sizeof(float)), *db = calloc((size_t)C, sizeof(float));

    for (int train = 1; train >= 0; train--) {
        const char *mode = train ? "train" : "eval";
        c.train = train;
        bn_loss(&c);
        memset(dw, 0, (size_t)C * sizeof(float));
        memset(db, 0, (size_t)C * sizeof(float));
        if (train) batchnorm2d_backward_train(ctx, &c.s, c.r, c.x, c.w, c.b, c.mean, c.invstd, dx, dw, db);
        else batchnorm2d_backward_eval(ctx, &c.s, c.r, c.x, c.w, c.b, c.mean, c.invstd, dx, dw, db);
        char name[64];
        snprintf(name, sizeof name, "batchnorm %s dx", mode);
        check_fd(name, c.x, n, dx, bn_loss, &c, 1e-2f);
        snprintf(name, sizeof name, "batchnorm %s dweight", mode);
        check_fd(name, c.w, (size_t)C, dw, bn_loss, &c, 1e-2f);
        snprintf(name, sizeof name, "batchnorm %s dbias", mode);
        check_fd(name, c.b, (size_t)C, db, bn_loss, &c, 1e-2f);
    }

    /* accumulation: a second backward adds to dweight/dbias, rewrites dx */
    {
        c.train = 1;
        bn_loss(&c);
        float *dw2 = calloc((size_t)C, sizeof(float)), *db2 = calloc((size_t)C, sizeof(float));
        float *dx2 = malloc(n * sizeof(float));
        batchnorm2d_backward_train(ctx, &c.s, c.r, c.x, c.w, c.b, c.mean, c.invstd, dx, dw2, db2);
        memcpy(dx2, dx, n * sizeof(float));
        batchnorm2d_backward_train(ctx, &c.s, c.r, c.x, c.w, c.b, c.mean, c.invstd, dx, dw2, db2);
        memset(dw, 0, (size_t)C * sizeof(float));
        memset(db, 0, (size_t)C * sizeof(float));
        batchnorm2d_backward_train(ctx, &c.s, c.r, c.x, c.w, c.b, c.mean, c.invstd, NULL, dw, db);
        int ok = same_bits(dx, dx2, n);
        for (int k = 0; k < C; k++) ok &= dw2[k] == dw[k] + dw[k] && db2[k] == db[k] + db[k];
        CHECK(ok, "batchnorm backward: parameter gradients accumulate (+=), dx is written");
        free(dw2);
        free(db2);
        free(dx2);
    }

    /* frozen: eval backward without parameter gradients leaves them alone and gives the eval dx */
    {
        c.train = 0;
        bn_loss(&c);
        float *dxf = malloc(n * sizeof(float));
        for (int k = 0; k < C; k++) dw[k] = db[k] = 7.0f;
        batchnorm2d_backward_eval(ctx, &c.s, c.r, c.x, c.w, c.b, c.mean, c.invstd, dxf, NULL, NULL);
        float *dwe = calloc((size_t)C, sizeof(float)), *dbe = calloc((size_t)C, sizeof(float));
        batchnorm2d_backward_eval(ctx, &c.s, c.r, c.x, c.w, c.b, c.mean, c.invstd, dx, dwe, dbe);
        int ok = same_bits(dx, dxf, n);
        for (int k = 0; k < C; k++) ok &= dw[k] == 7.0f && db[k] == 7.0f;
        CHECK(ok, "batchnorm frozen (eval, no parameter gradients): dx as eval, weights' gradients untouched");
        free(dxf);
        free(dwe);
        free(dbe);
    }

    /* running statistics: momentum 0.1, unbiased variance, counter; momentum None = cumulative */
    {
        float rm[4], rv[4], nbt = 0;
        memcpy(rm, c.rm, sizeof rm);
        memcpy(rv, c.rv, sizeof rv);
        batchnorm2d_forward_train(ctx, &c.s, c.x, c.w, c.b, rm, rv, &nbt, c.out, c.mean, c.invstd);
        int64_t hw = (int64_t)c.s.H * c.s.W, cnt = c.s.N * hw;
        double worst = 0;
        for (int k = 0; k < C; k++) {
            double s = 0, sq = 0;
            for (int i = 0; i < c.s.N; i++)
                for (int64_t j = 0; j < hw; j++) s += c.x[(i * C + k) * hw + j];
            double m = s / (double)cnt;
            for (int i = 0; i < c.s.N; i++)
                for (int64_t j = 0; j < hw; j++) sq += pow(c.x[(i * C + k) * hw + j] - m, 2);
            double wm = 0.9 * c.rm[k] + 0.1 * m, wv = 0.9 * c.rv[k] + 0.1 * sq / (double)(cnt - 1);
            worst = fmax(worst, fmax(fabs(rm[k] - wm) / fabs(wm), fabs(rv[k] - wv) / wv));
            worst = fmax(worst, fabs(c.invstd[k] - 1 / sqrt(sq / (double)cnt + 1e-5)) * sqrt(sq / (double)cnt));
        }
        CHECK(worst < 1e-6 && nbt == 1.0f, "batchnorm running stats: (1-m)*r + m*batch, unbiased var, counter (rel err %.2e)", worst);
        BatchNorm2dShape cum = c.s;
        cum.momentum = -1;
        float rm2[4] = {5, 5, 5, 5}, rv2[4] = {5, 5, 5, 5}, nbt2 = 0;
        batchnorm2d_forward_train(ctx, &cum, c.x, c.w, c.b, rm2, rv2, &nbt2, c.out, c.mean, c.invstd);
        int ok = nbt2 == 1.0f;
        for (int k = 0; k < C; k++) ok &= fabsf(rm2[k] - c.mean[k]) < 1e-6f; /* 1/1: the batch itself */
        CHECK(ok, "batchnorm momentum None: cumulative average (first batch replaces the statistics)");
    }

    /* fold into a 1x1 convolution: conv then eval BN == folded conv */
    {
        int K = C, Cin = 3, HW = 6;
        float *cw = randv((size_t)K * Cin, -1, 1), *cb = randv((size_t)K, -1, 1), *xin = randv((size_t)Cin * HW, -1, 1);
        float *y = malloc((size_t)K * HW * sizeof(float)), *yb = malloc((size_t)K * HW * sizeof(float));
        for (int k = 0; k < K; k++)
            for (int j = 0; j < HW; j++) {
                float s = cb[k];
                for (int ci = 0; ci < Cin; ci++) s += cw[k * Cin + ci] * xin[ci * HW + j];
                y[k * HW + j] = s;
            }
        BatchNorm2dShape s1 = batchnorm2d_shape(1, K, 1, HW);
        batchnorm2d_forward_eval(ctx, &s1, y, c.w, c.b, c.rm, c.rv, yb, NULL, NULL);
        batchnorm2d_fold_into_conv(K, s1.eps, c.w, c.b, c.rm, c.rv, cw, (size_t)Cin, cb);
        double worst = 0;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < HW; j++) {
                float s = cb[k];
                for (int ci = 0; ci < Cin; ci++) s += cw[k * Cin + ci] * xin[ci * HW + j];
                worst = fmax(worst, fabs(s - yb[k * HW + j]));
            }
        CHECK(worst < 1e-5, "batchnorm folded into the preceding conv gives the same output (max abs err %.2e)", worst);
        float sc[4], sh[4];
        batchnorm2d_eval_affine(K, s1.eps, c.w, c.b, c.rm, c.rv, sc, sh);
        worst = 0;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < HW; j++) worst = fmax(worst, fabs(y[k * HW + j] * sc[k] + sh[k] - yb[k * HW + j]));
        CHECK(worst < 1e-6, "batchnorm eval affine map matches the eval forward (max abs err %.2e)", worst);
        free(cw); free(cb); free(xin); free(y); free(yb);
    }

    free(c.x); free(c.w); free(c.b); free(c.rm); free(c.rv); free(c.r); free(c.out); free(c.mean); free(c.invstd);
    free(dx); free(dw); free(db);
}

/* ---- activations ---------------------------------------------------------------------------- */

typedef struct {
    NnCtx *ctx;
    size_t n;
    float *x, *r, *out;
    int kind; /* 0 relu, 1 sigmoid, 2 silu */
} ActCase;

static double act_loss(void *p) {
    ActCase *a = p;
    if (a->kind == 0) relu_forward(a->ctx, a->n, a->x, a->out);
    else if (a->kind == 1) sigmoid_forward(a->ctx, a->n, a->x, a->out);
    else silu_forward(a->ctx, a->n, a->x, a->out);
    return dot(a->out, a->r, a->n);
}

static void test_activations(NnCtx *ctx) {
    const char *names[3] = {"relu", "sigmoid", "silu"};
    size_t n = 200;
    ActCase a = {.ctx = ctx, .n = n, .x = randv(n, -6, 6), .r = randv(n, -1, 1)};
    a.out = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) /* keep ReLU's kink out of reach of the differences */
        if (fabsf(a.x[i]) < 0.1f) a.x[i] = a.x[i] < 0 ? -0.1f - a.x[i] : 0.1f + a.x[i];
    float *dx = malloc(n * sizeof(float));
    for (int k = 0; k < 3; k++) {
        a.kind = k;
        act_loss(&a);
        if (k == 0) relu_backward(ctx, n, a.r, a.out, dx);
        else if (k == 1) sigmoid_backward(ctx, n, a.r, a.out, dx);
        else silu_backward(ctx, n, a.r, a.x, dx);
        char name[64];
        snprintf(name, sizeof name, "%s dx", names[k]);
        check_fd(name, a.x, n, dx, act_loss, &a, 1e-3f);
    }
    /* in place: out == x; backward in place: dx == dout */
    float *y = copyv(a.x, n), *y2 = malloc(n * sizeof(float)), *g = copyv(a.r, n), *g2 = malloc(n * sizeof(float));
    relu_forward(ctx, n, a.x, y2);
    relu_forward(ctx, n, y, y);
    relu_backward(ctx, n, a.r, y2, g2);
    relu_backward(ctx, n, g, y, g);
    int ok = same_bits(y, y2, n) && same_bits(g, g2, n);
    memcpy(y, a.x, n * sizeof(float));
    sigmoid_forward(ctx, n, a.x, y2);
    sigmoid_forward(ctx, n, y, y);
    ok &= same_bits(y, y2, n);
    CHECK(ok, "relu/sigmoid in place (out == x, dx == dout) give the same bits");
    float zero = 0.0f, nan = NAN, d1 = 1.0f, outz, outn, dz;
    relu_forward(ctx, 1, &zero, &outz);
    relu_forward(ctx, 1, &nan, &outn);
    relu_backward(ctx, 1, &d1, &outz, &dz);
    CHECK(outz == 0.0f && isnan(outn) && dz == 0.0f, "relu: 0 at 0 with zero gradient there, NaN propagates (torch)");
    float big[2] = {-200.0f, 200.0f}, sb[2], lb[2];
    sigmoid_forward(ctx, 2, big, sb);
    silu_forward(ctx, 2, big, lb);
    CHECK(sb[0] == 0.0f && sb[1] == 1.0f && lb[0] == 0.0f && lb[1] == 200.0f, "sigmoid/silu saturate without NaN");
    /* residual add */
    float *s = malloc(n * sizeof(float)), *da = malloc(n * sizeof(float));
    residual_add_forward(ctx, n, a.x, a.r, s);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= s[i] == a.x[i] + a.r[i];
    residual_add_backward(ctx, n, a.r, da, NULL);
    ok &= same_bits(da, a.r, n);
    grad_accumulate(ctx, n, a.r, da);
    for (size_t i = 0; i < n; i++) ok &= da[i] == 2 * a.r[i];
    CHECK(ok, "residual add forward, backward (gradient to both branches) and accumulate");
    free(a.x); free(a.r); free(a.out); free(dx); free(y); free(y2); free(g); free(g2); free(s); free(da);
}

/* ---- dropout -------------------------------------------------------------------------------- */

typedef struct {
    NnCtx *ctx;
    DropoutShape s;
    float *x, *r, *out;
    uint8_t *mask;
} DropCase;

static double drop_loss(void *p) {
    DropCase *d = p;
    dropout_forward(d->ctx, &d->s, 1234, 7, d->x, d->out, d->mask); /* same seed: the mask is fixed */
    return dot(d->out, d->r, d->s.n);
}

static void test_dropout(NnCtx *ctx) {
    size_t n = 300;
    DropCase d = {.ctx = ctx, .s = {n, 0.3f, 1}, .x = randv(n, -1, 1), .r = randv(n, -1, 1)};
    d.out = malloc(n * sizeof(float));
    d.mask = malloc(n);
    float *dx = malloc(n * sizeof(float));
    drop_loss(&d);
    dropout_backward(ctx, &d.s, d.r, d.mask, dx);
    check_fd("dropout dx (fixed mask)", d.x, n, dx, drop_loss, &d, 1e-2f);

    /* keep rate and scale over many elements */
    size_t big = 200000;
    float *x = randv(big, 0.5f, 1.5f), *o = malloc(big * sizeof(float));
    uint8_t *m = malloc(big);
    DropoutShape s = {big, 0.3f, 1};
    dropout_forward(ctx, &s, 42, 0, x, o, m);
    size_t kept = 0;
    int ok = 1;
    float scale = 1.0f / (float)(1.0 - 0.3f);
    for (size_t i = 0; i < big; i++) {
        kept += m[i];
        ok &= o[i] == (m[i] ? x[i] * scale : 0.0f);
    }
    double rate = (double)kept / (double)big;
    CHECK(ok && fabs(rate - 0.7) < 0.005, "dropout p=0.3: keep rate %.4f, kept elements scaled by 1/(1-p), others 0", rate);
    uint8_t *m2 = malloc(big);
    dropout_forward(ctx, &s, 42, 1, x, o, m2);
    CHECK(memcmp(m, m2, big) != 0, "dropout: another stream gives another mask");
    dropout_forward(ctx, &s, 42, 0, x, o, m2);
    CHECK(memcmp(m, m2, big) == 0, "dropout: the same seed and stream give the same mask");
    DropoutShape ev = {big, 0.3f, 0}, p0 = {big, 0.0f, 1}, p1 = {big, 1.0f, 1};
    dropout_forward(ctx, &ev, 42, 0, x, o, m2);
    ok = same_bits(o, x, big);
    dropout_forward(ctx, &p0, 42, 0, x, o, m2);
    ok &= same_bits(o, x, big);
    dropout_forward(ctx, &p1, 42, 0, x, o, m2);
    for (size_t i = 0; i < big; i++) ok &= o[i] == 0.0f;
    CHECK(ok, "dropout: identity in eval and for p=0, zeros for p=1");

    /* drop path, row mode: whole samples dropped or scaled */
    int N = 2000;
    size_t per = 50;
    float *xs = randv((size_t)N * per, 0.5f, 1.5f), *os = malloc((size_t)N * per * sizeof(float));
    float *gs = malloc((size_t)N * per * sizeof(float));
    uint8_t *ms = malloc((size_t)N);
    DropPathShape ps = {N, per, 0.2f, 1, DROP_PATH_ROW};
    drop_path_forward(ctx, &ps, 9, 3, xs, os, ms);
    drop_path_backward(ctx, &ps, xs, ms, gs);
    float sc = 1.0f / (float)(1.0 - 0.2f);
    ok = 1;
    kept = 0;
    for (int i = 0; i < N; i++) {
        kept += ms[i];
        for (size_t j = 0; j < per; j++) {
            size_t k = (size_t)i * per + j;
            ok &= os[k] == (ms[i] ? xs[k] * sc : 0.0f) && gs[k] == os[k];
        }
    }
    rate = (double)kept / N;
    CHECK(ok && fabs(rate - 0.8) < 0.03, "drop path (row): one Bernoulli per sample, survival %.3f, scale 1/(1-p), backward by the mask", rate);
    DropPathShape pb = {N, per, 0.5f, 1, DROP_PATH_BATCH};
    uint8_t mb;
    drop_path_forward(ctx, &pb, 9, 4, xs, os, &mb);
    ok = 1;
    for (size_t k = 0; k < (size_t)N * per; k++) ok &= os[k] == (mb ? xs[k] * 2.0f : 0.0f);
    CHECK(ok, "drop path (batch): one Bernoulli for the whole batch");
    DropPathShape pall = {N, per, 1.0f, 1, DROP_PATH_ROW};
    drop_path_forward(ctx, &pall, 9, 3, xs, os, ms);
    ok = 1;
    for (size_t k = 0; k < (size_t)N * per; k++) ok &= os[k] == 0.0f;
    CHECK(ok, "drop path p=1 drops every sample");
    free(d.x); free(d.r); free(d.out); free(d.mask); free(dx); free(x); free(o); free(m); free(m2);
    free(xs); free(os); free(gs); free(ms);
}

/* ---- cross-entropy -------------------------------------------------------------------------- */

typedef struct {
    NnCtx *ctx;
    CrossEntropyShape s;
    float *z;
    int64_t *y;
    const float *w;
} CeCase;

static double ce_loss(void *p) {
    CeCase *c = p;
    float l;
    cross_entropy_forward(c->ctx, &c->s, c->z, c->y, c->w, &l, NULL);
    return l;
}

/* The loss in double from the definition, for a direct value check. */
static double ce_ref(const CeCase *c) {
    int N = c->s.N, C = c->s.C;
    double e = c->s.label_smoothing, nll = 0, sm = 0, W = 0;
    for (int i = 0; i < N; i++) {
        double m = -INFINITY, s = 0;
        for (int k = 0; k < C; k++) m = fmax(m, c->z[i * C + k]);
        for (int k = 0; k < C; k++) s += exp(c->z[i * C + k] - m);
        double lse = m + log(s);
        double wy = c->w ? c->w[c->y[i]] : 1.0;
        nll -= wy * (c->z[i * C + c->y[i]] - lse);
        for (int k = 0; k < C; k++) sm -= (c->w ? c->w[k] : 1.0) * (c->z[i * C + k] - lse);
        W += wy;
    }
    if (c->s.reduction == LOSS_SUM) W = 1;
    return (1 - e) * nll / W + e / C * sm / W;
}

static void test_cross_entropy(NnCtx *ctx) {
    int N = 6, C = 5;
    float *z = randv((size_t)N * C, -3, 3), *w = randv((size_t)C, 0.2f, 2.0f);
    int64_t y[6];
    for (int i = 0; i < N; i++) y[i] = (int64_t)rng_below(&rng, (uint64_t)C);
    float *probs = malloc((size_t)N * C * sizeof(float)), *dz = malloc((size_t)N * C * sizeof(float));
    const struct { const char *name; int weighted; float e; LossReduction red; } cases[] = {
        {"plain", 0, 0.0f, LOSS_MEAN},           {"weighted", 1, 0.0f, LOSS_MEAN},
        {"label smoothing 0.1", 0, 0.1f, LOSS_MEAN}, {"weighted + label smoothing 0.1", 1, 0.1f, LOSS_MEAN},
        {"weighted + smoothing 0.2, sum", 1, 0.2f, LOSS_SUM},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CeCase c = {ctx, {N, C, cases[k].e, cases[k].red}, z, y, cases[k].weighted ? w : NULL};
        float l;
        int rc = cross_entropy_forward(ctx, &c.s, z, y, c.w, &l, probs);
        double ref = ce_ref(&c), rel = fabs(l - ref) / fabs(ref);
        CHECK(rc == 0 && rel < 1e-6, "cross-entropy %s: loss %.6f vs definition (rel err %.2e)", cases[k].name, l, rel);
        cross_entropy_backward(ctx, &c.s, 1.0f, probs, y, c.w, dz);
        char name[96];
        snprintf(name, sizeof name, "cross-entropy %s dlogits", cases[k].name);
        check_fd(name, z, (size_t)N * C, dz, ce_loss, &c, 1e-2f);
    }
    /* dloss scales the gradient */
    {
        CeCase c = {ctx, {N, C, 0.1f, LOSS_MEAN}, z, y, w};
        float l, *dz2 = malloc((size_t)N * C * sizeof(float));
        cross_entropy_forward(ctx, &c.s, z, y, w, &l, probs);
        cross_entropy_backward(ctx, &c.s, 1.0f, probs, y, w, dz);
        cross_entropy_backward(ctx, &c.s, 0.25f, probs, y, w, dz2);
        double worst = 0;
        for (int i = 0; i < N * C; i++) worst = fmax(worst, fabs(dz2[i] - 0.25 * dz[i]));
        CHECK(worst < 1e-7, "cross-entropy backward scales with dloss");
        free(dz2);
    }
    int64_t bad[6] = {0, 1, 5, 0, 0, 0};
    float l = 123;
    CrossEntropyShape s = {N, C, 0, LOSS_MEAN};
    CHECK(cross_entropy_forward(ctx, &s, z, bad, NULL, &l, NULL) == -1 && strstr(err_msg(), "outside") && l == 123,
          "cross-entropy: a target outside [0, C) is an error");
    /* softmax: rows sum to 1, stable for large logits */
    float zz[6] = {1000, 0, -1000, 1, 2, 3}, pp[6];
    softmax_forward(ctx, 2, 3, zz, pp);
    double s2 = pp[3] + pp[4] + pp[5];
    CHECK(pp[0] == 1.0f && pp[1] == 0.0f && fabs(s2 - 1) < 1e-6 && fabsf(pp[5] - 0.66524096f) < 1e-6f,
          "softmax: stable for large logits, rows sum to 1");
    float zl[2] = {1000, -1000};
    int64_t yl[1] = {1};
    CrossEntropyShape s1 = {1, 2, 0, LOSS_MEAN};
    cross_entropy_forward(ctx, &s1, zl, yl, NULL, &l, NULL);
    CHECK(l == 2000.0f, "cross-entropy: log-softmax is stable (loss 2000 for a 2000 margin, got %g)", l);
    /* balanced class weights (sklearn's docstring example: y = [1,1,1,1,0,0] -> [1.5, 0.75]) */
    int64_t yb[6] = {1, 1, 1, 1, 0, 0};
    float wb[2];
    int rc = class_weight_balanced(yb, 6, 2, wb);
    CHECK(rc == 0 && wb[0] == 1.5f && wb[1] == 0.75f,
          "balanced class weights n/(k*count): [%g, %g]", wb[0], wb[1]);
    float wc[3];
    CHECK(class_weight_balanced(yb, 6, 3, wc) == -1 && strstr(err_msg(), "no sample"),
          "balanced class weights: a class without samples is an error (as sklearn)");
    free(z); free(w); free(probs); free(dz);
}

/* ---- binary cross-entropy with logits ------------------------------------------------------- */

typedef struct {
    BceShape s;
    float *z, *y;
    const float *pw;
} BceCase;

static double bce_loss(void *p) {
    BceCase *c = p;
    float l;
    bce_with_logits_forward(&c->s, c->z, c->y, c->pw, &l);
    return l;
}

/* The loss in double from the definition -[p t log s(z) + (1 - t) log(1 - s(z))]. */
static double bce_ref(const BceCase *c) {
    int n = c->s.N * c->s.K;
    double sum = 0, e = c->s.label_smoothing;
    for (int i = 0; i < n; i++) {
        double z = c->z[i], t = c->y[i] * (1 - e) + e / 2, p = c->pw ? c->pw[i % c->s.K] : 1;
        double s = 1 / (1 + exp(-z));
        sum -= p * t * log(s) + (1 - t) * log(1 - s);
    }
    return c->s.reduction == LOSS_SUM ? sum : sum / n;
}

static void test_bce(void) {
    int N = 5, K = 4;
    float *z = randv((size_t)N * K, -3, 3), *y = randv((size_t)N * K, 0, 1), *pw = randv((size_t)K, 0.3f, 4.0f);
    float *dz = malloc((size_t)N * K * sizeof(float));
    for (int i = 0; i < N * K; i += 3) y[i] = (float)(i % 2); /* some hard 0/1 targets among the soft ones */
    const struct { const char *name; int weighted; float e; LossReduction red; } cases[] = {
        {"plain", 0, 0.0f, LOSS_MEAN}, {"pos_weight", 1, 0.0f, LOSS_MEAN},
        {"label smoothing 0.1", 0, 0.1f, LOSS_MEAN}, {"pos_weight + smoothing 0.2, sum", 1, 0.2f, LOSS_SUM},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        BceCase c = {{N, K, cases[k].e, cases[k].red}, z, y, cases[k].weighted ? pw : NULL};
        float l;
        int rc = bce_with_logits_forward(&c.s, z, y, c.pw, &l);
        double ref = bce_ref(&c), rel = fabs(l - ref) / fabs(ref);
        CHECK(rc == 0 && rel < 1e-6, "BCE with logits %s: loss %.6f vs definition (rel err %.2e)", cases[k].name, l, rel);
        bce_with_logits_backward(&c.s, 1.0f, z, y, c.pw, dz);
        char name[96];
        snprintf(name, sizeof name, "BCE with logits %s dlogits", cases[k].name);
        check_fd(name, z, (size_t)N * K, dz, bce_loss, &c, 1e-2f);
    }
    float zl[4] = {1000, -1000, 1000, -1000}, yl[4] = {1, 0, 0, 1}, dl[4], l = 0;
    BceShape s1 = {1, 4, 0, LOSS_SUM};
    int rc = bce_with_logits_forward(&s1, zl, yl, NULL, &l);
    bce_with_logits_backward(&s1, 1.0f, zl, yl, NULL, dl);
    CHECK(rc == 0 && l == 2000.0f && dl[0] == 0 && dl[1] == 0 && dl[2] == 1 && dl[3] == -1,
          "BCE with logits: stable for |z| = 1000 (loss %g, gradients 0, 0, 1, -1)", l);
    float ybad[4] = {0, 1.5f, 0, 0}, ynan[4] = {0, 0, NAN, 0};
    l = 123;
    CHECK(bce_with_logits_forward(&s1, zl, ybad, NULL, &l) == -1 && strstr(err_msg(), "outside [0, 1]") && l == 123,
          "BCE with logits: a target outside [0, 1] is an error");
    CHECK(bce_with_logits_forward(&s1, zl, ynan, NULL, &l) == -1 && strstr(err_msg(), "sample 0, class 2"),
          "BCE with logits: a NaN target is an error naming sample and class");
    float yb[8] = {1, 0, 1, 0, 0, 1, 1, 1}, w[2]; /* (4, 2): class 0 3 positives of 4, class 1 2 of 4 */
    rc = pos_weight_balanced(yb, 4, 2, w);
    CHECK(rc == 0 && w[0] == 1.0f / 3 && w[1] == 1.0f, "balanced pos_weight negatives/positives: [%g, %g]", w[0], w[1]);
    float yc[4] = {1, 0, 0, 0};
    CHECK(pos_weight_balanced(yc, 2, 2, w) == -1 && strstr(err_msg(), "class 1 has no positive"),
          "balanced pos_weight: a class without positives is an error");
    float yd[4] = {1, 1, 1, 0};
    CHECK(pos_weight_balanced(yd, 2, 2, w) == -1 && strstr(err_msg(), "class 0 has no negative"),
          "balanced pos_weight: a class without negatives is an error");
    free(z); free(y); free(pw); free(dz);
}

/* ---- optimisers ----------------------------------------------------------------------------- */

static void make_table(ParamTable *t) {
    params_init(t);
    int64_t s1[2] = {3, 4}, s2[1] = {4}, s0[1] = {1};
    params_add(t, "a.weight", PARAM_WEIGHT, 2, s1);
    params_add(t, "a.bias", PARAM_WEIGHT, 1, s2);
    params_add(t, "bn.running_mean", PARAM_BUFFER, 1, s2);
    params_add(t, "bn.num_batches_tracked", PARAM_COUNT, 0, s0);
    params_add(t, "frozen.weight", PARAM_WEIGHT, 1, s2);
    params_alloc(t);
    t->e[4].frozen = 1;
    for (size_t i = 0; i < t->total; i++) {
        t->data[i] = (float)rng_uniform(&rng) * 2 - 1;
        t->grad[i] = (float)rng_uniform(&rng) * 2 - 1;
    }
}

static void test_optim(NnCtx *ctx) {
    ParamTable t;
    make_table(&t);
    float *before = copyv(t.data, t.total);
    Optim o;
    OptimConfig cfg = optim_adamw_defaults();
    CHECK(cfg.lr == 1e-3 && cfg.beta1 == 0.9 && cfg.beta2 == 0.999 && cfg.eps == 1e-8 && cfg.weight_decay == 0.01,
          "AdamW defaults are PyTorch's");
    cfg.lr = 0.1;
    CHECK(optim_init(&o, &cfg, &t) == 0, "optimiser init");
    CHECK(optim_set_lr_mult(&o, &t, "a.bias", 0.5f) == 1, "lr multiplier by name prefix");
    optim_step(ctx, &o, &t);
    /* first AdamW step: m^ = g, v^ = g^2, so p1 = p0 * (1 - lr*wd) - lr * g / (|g| + eps) */
    double worst = 0;
    for (int i = 0; i < 2; i++) {
        double lr = i == 0 ? 0.1 : 0.05;
        for (size_t j = 0; j < t.e[i].numel; j++) {
            size_t k = t.e[i].offset + j;
            double g = t.grad[k];
            double want = before[k] * (1 - lr * 0.01) - lr * g / (fabs(g) + 1e-8);
            worst = fmax(worst, fabs(t.data[k] - want));
        }
    }
    CHECK(worst < 1e-6, "AdamW first step by hand, with an lr group (max abs err %.2e)", worst);
    int ok = 1;
    for (int i = 2; i < 5; i++)
        ok &= memcmp(t.data + t.e[i].offset, before + t.e[i].offset, t.e[i].numel * sizeof(float)) == 0 && o.step[i] == 0;
    CHECK(ok && o.step[0] == 1 && o.step[1] == 1, "optimiser skips buffers, counters and frozen weights");
    t.n--; /* a changed table is refused */
    CHECK(optim_step(ctx, &o, &t) == -1, "optimiser refuses a table that changed");
    t.n++;
    optim_free(&o);

    /* SGD: momentum, nesterov, coupled decay, by hand over two steps */
    memcpy(t.data, before, t.total * sizeof(float));
    cfg = optim_sgd_defaults(0.1);
    cfg.momentum = 0.9;
    cfg.nesterov = 1;
    cfg.weight_decay = 0.01;
    optim_init(&o, &cfg, &t);
    optim_set_wd_mult(&o, &t, "a.bias", 0.0f);
    optim_step(ctx, &o, &t);
    optim_step(ctx, &o, &t);
    worst = 0;
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < t.e[i].numel; j++) {
            size_t k = t.e[i].offset + j;
            double wd = i == 0 ? 0.01 : 0, g = t.grad[k], p = before[k];
            double d = g + wd * p, buf = d;
            p -= 0.1 * (d + 0.9 * buf);
            d = g + wd * p;
            buf = 0.9 * buf + d;
            p -= 0.1 * (d + 0.9 * buf);
            worst = fmax(worst, fabs(t.data[k] - p));
        }
    CHECK(worst < 1e-6, "SGD nesterov momentum + coupled decay (with a no-decay group), two steps by hand (max abs err %.2e)", worst);
    optim_free(&o);
    cfg.momentum = 0.9;
    cfg.dampening = 0.1;
    CHECK(optim_init(&o, &cfg, &t) == -1, "nesterov with dampening is refused (as PyTorch)");

    /* clipping */
    memcpy(t.data, before, t.total * sizeof(float));
    float *g0 = copyv(t.grad, t.total);
    double ss = 0;
    for (int i = 0; i < 2; i++)
        for (size_t j = 0; j < t.e[i].numel; j++) ss += pow(t.grad[t.e[i].offset + j], 2);
    double norm = sqrt(ss);
    float tot = clip_grad_norm(ctx, &t, 0.5f);
    float coef = 0.5f / ((float)norm + 1e-6f);
    ok = fabs(tot - norm) < 1e-6 * norm;
    for (int i = 0; i < 5; i++)
        for (size_t j = 0; j < t.e[i].numel; j++) {
            size_t k = t.e[i].offset + j;
            ok &= t.grad[k] == (i < 2 ? g0[k] * coef : g0[k]);
        }
    CHECK(ok, "clip_grad_norm: total %.6f (want %.6f), scaled by max/(total+1e-6), others untouched", tot, norm);
    memcpy(t.grad, g0, t.total * sizeof(float));
    tot = clip_grad_norm(ctx, &t, 100.0f);
    CHECK(same_bits(t.grad, g0, t.total) && fabs(tot - norm) < 1e-6 * norm, "clip_grad_norm below max_norm leaves gradients alone");
    free(g0);
    free(before);
    params_free(&t);
}

/* ---- schedules ------------------------------------------------------------------------------ */

static int lr_seq(LrPlateau *p, double lr, const double *metrics, int n, const double *want, char *got, size_t cap) {
    int ok = 1;
    size_t len = 0;
    got[0] = 0;
    for (int i = 0; i < n; i++) {
        lr_plateau_step(p, metrics[i], &lr);
        ok &= fabs(lr - want[i]) <= 1e-12 * want[i];
        len += (size_t)snprintf(got + len, len < cap ? cap - len : 0, "%s%g", i ? " " : "", lr);
    }
    return ok;
}

static void test_schedules(void) {
    char got[200];
    int ok;
    LrPlateau p;
    lr_plateau_init(&p, 0);
    CHECK(p.factor == 0.1 && p.patience == 10 && p.threshold == 1e-4 && !p.threshold_abs && p.cooldown == 0 &&
              p.min_lr == 0 && p.eps == 1e-8 && isinf(p.best) && p.best > 0,
          "ReduceLROnPlateau defaults are PyTorch's");
    {
        p.patience = 2;
        double m[] = {10, 9, 9, 9, 9, 8, 8, 8, 8, 8, 8, 8};
        double w[] = {1, 1, 1, 1, .1, .1, .1, .1, .01, .01, .01, .001};
        ok = lr_seq(&p, 1.0, m, 12, w, got, sizeof got);
        CHECK(ok, "plateau min, patience 2: %s", got);
    }
    {
        lr_plateau_init(&p, 1);
        p.patience = 1;
        p.cooldown = 1;
        p.min_lr = 0.05;
        double m[] = {.5, .5, .5, .5, .5, .5, .5, .5, .5};
        double w[] = {1, 1, .1, .1, .1, .05, .05, .05, .05};
        ok = lr_seq(&p, 1.0, m, 9, w, got, sizeof got);
        CHECK(ok, "plateau max, patience 1, cooldown 1, min_lr 0.05: %s", got);
    }
    {
        lr_plateau_init(&p, 0);
        p.patience = 0;
        double m[] = {1.0, 0.99995, 0.9};
        double w[] = {1, .1, .1};
        ok = lr_seq(&p, 1.0, m, 3, w, got, sizeof got);
        CHECK(ok, "plateau rel threshold: 0.99995 is no improvement on 1: %s", got);
        lr_plateau_init(&p, 0);
        p.patience = 0;
        p.threshold_abs = 1;
        p.threshold = 0.1;
        double m2[] = {1.0, 0.95, 0.85, NAN};
        double w2[] = {1, .1, .1, .01};
        ok = lr_seq(&p, 1.0, m2, 4, w2, got, sizeof got);
        CHECK(ok, "plateau abs threshold 0.1, NaN counts as bad: %s", got);
        lr_plateau_init(&p, 0);
        p.patience = 0;
        double m3[] = {1, 2, 3};
        double w3b[] = {1e-7, 1e-8, 1e-8}; /* 1e-7 - 1e-8 > eps: reduce; then 1e-8 - 1e-9 < eps: no */
        ok = lr_seq(&p, 1e-7, m3, 3, w3b, got, sizeof got);
        CHECK(ok, "plateau stops reducing below eps: %s", got);
    }
    double a = lr_cosine_warmup(1.0, 0.0, 10, 110, 0), b = lr_cosine_warmup(1.0, 0.0, 10, 110, 5),
           c = lr_cosine_warmup(1.0, 0.0, 10, 110, 10), d = lr_cosine_warmup(1.0, 0.0, 10, 110, 60),
           e = lr_cosine_warmup(1.0, 0.1, 10, 110, 110), f = lr_cosine_warmup(1.0, 0.1, 10, 110, 500);
    CHECK(a == 0 && b == 0.5 && c == 1 && fabs(d - 0.5) < 1e-15 && fabs(e - 0.1) < 1e-15 && fabs(f - 0.1) < 1e-15,
          "cosine with warm-up: 0, 0.5, 1 over warm-up; 0.5 half-way; min_lr at and after the end");
}

/* ---- thread-count independence -------------------------------------------------------------- */

static void test_threads(void) {
    NnCtx c1, c2;
    nn_ctx_init(&c1, 1);
    nn_ctx_init(&c2, 2);
    BatchNorm2dShape s = batchnorm2d_shape(4, 8, 32, 64);
    size_t n = (size_t)s.N * s.C * s.H * s.W;
    float *x = randv(n, -1, 2), *w = randv(8, .5f, 1.5f), *b = randv(8, -1, 1), *dy = randv(n, -1, 1);
    size_t cap = n > 2048 * 40 ? n : 2048 * 40; /* also the cross-entropy below */
    float *o1 = malloc(cap * 4), *o2 = malloc(cap * 4), *dx1 = malloc(cap * 4), *dx2 = malloc(cap * 4);
    float m1[8], m2[8], i1[8], i2[8], rm1[8] = {0}, rm2[8] = {0}, rv1[8] = {1}, rv2[8] = {1}, dw1[8] = {0},
          dw2[8] = {0}, db1[8] = {0}, db2[8] = {0}, nb1 = 0, nb2 = 0;
    batchnorm2d_forward_train(&c1, &s, x, w, b, rm1, rv1, &nb1, o1, m1, i1);
    batchnorm2d_forward_train(&c2, &s, x, w, b, rm2, rv2, &nb2, o2, m2, i2);
    batchnorm2d_backward_train(&c1, &s, dy, x, w, b, m1, i1, dx1, dw1, db1);
    batchnorm2d_backward_train(&c2, &s, dy, x, w, b, m2, i2, dx2, dw2, db2);
    int ok = same_bits(o1, o2, n) && same_bits(dx1, dx2, n) && same_bits(m1, m2, 8) && same_bits(i1, i2, 8) &&
             same_bits(rm1, rm2, 8) && same_bits(rv1, rv2, 8) && same_bits(dw1, dw2, 8) && same_bits(db1, db2, 8);
    CHECK(ok, "threads 1 vs 2: batchnorm train forward/backward bit-identical (%zu elements)", n);
    batchnorm2d_forward_eval(&c1, &s, x, w, b, rm1, rv1, o1, m1, i1);
    batchnorm2d_forward_eval(&c2, &s, x, w, b, rm2, rv2, o2, m2, i2);
    batchnorm2d_backward_eval(&c1, &s, dy, x, w, b, m1, i1, dx1, dw1, db1);
    batchnorm2d_backward_eval(&c2, &s, dy, x, w, b, m2, i2, dx2, dw2, db2);
    CHECK(same_bits(o1, o2, n) && same_bits(dx1, dx2, n) && same_bits(dw1, dw2, 8) && same_bits(db1, db2, 8),
          "threads 1 vs 2: batchnorm eval forward/backward bit-identical");
    silu_forward(&c1, n, x, o1);
    silu_forward(&c2, n, x, o2);
    silu_backward(&c1, n, dy, x, dx1);
    silu_backward(&c2, n, dy, x, dx2);
    ok = same_bits(o1, o2, n) && same_bits(dx1, dx2, n);
    sigmoid_forward(&c1, n, x, o1);
    sigmoid_forward(&c2, n, x, o2);
    relu_backward(&c1, n, dy, x, dx1);
    relu_backward(&c2, n, dy, x, dx2);
    CHECK(ok && same_bits(o1, o2, n) && same_bits(dx1, dx2, n), "threads 1 vs 2: activations bit-identical");
    uint8_t *k1 = malloc(n), *k2 = malloc(n);
    DropoutShape ds = {n, 0.25f, 1};
    dropout_forward(&c1, &ds, 5, 11, x, o1, k1);
    dropout_forward(&c2, &ds, 5, 11, x, o2, k2);
    dropout_backward(&c1, &ds, dy, k1, dx1);
    dropout_backward(&c2, &ds, dy, k2, dx2);
    CHECK(same_bits(o1, o2, n) && same_bits(dx1, dx2, n) && memcmp(k1, k2, n) == 0,
          "threads 1 vs 2: dropout mask, output and gradient bit-identical");
    DropPathShape ps = {s.N, n / (size_t)s.N, 0.5f, 1, DROP_PATH_ROW};
    drop_path_forward(&c1, &ps, 5, 12, x, o1, k1);
    drop_path_forward(&c2, &ps, 5, 12, x, o2, k2);
    CHECK(same_bits(o1, o2, n) && memcmp(k1, k2, (size_t)s.N) == 0, "threads 1 vs 2: drop path bit-identical");
    /* cross-entropy on 2048 x 40 */
    int N = 2048, C = 40;
    float *z = randv((size_t)N * C, -4, 4), *cw = randv((size_t)C, .5f, 2);
    int64_t *y = malloc((size_t)N * sizeof *y);
    for (int i = 0; i < N; i++) y[i] = (int64_t)rng_below(&rng, (uint64_t)C);
    CrossEntropyShape cs = {N, C, 0.1f, LOSS_MEAN};
    float l1, l2;
    cross_entropy_forward(&c1, &cs, z, y, cw, &l1, o1);
    cross_entropy_forward(&c2, &cs, z, y, cw, &l2, o2);
    cross_entropy_backward(&c1, &cs, 1.0f, o1, y, cw, dx1);
    cross_entropy_backward(&c2, &cs, 1.0f, o2, y, cw, dx2);
    ok = l1 == l2 && same_bits(o1, o2, (size_t)N * C) && same_bits(dx1, dx2, (size_t)N * C);
    softmax_forward(&c1, N, C, z, o1);
    softmax_forward(&c2, N, C, z, o2);
    CHECK(ok && same_bits(o1, o2, (size_t)N * C), "threads 1 vs 2: cross-entropy loss, dlogits and softmax bit-identical");
    /* optimiser + clipping over a table of 200k floats */
    ParamTable t1, t2;
    params_init(&t1);
    int64_t big[2] = {400, 500}, sm[1] = {7};
    params_add(&t1, "big", PARAM_WEIGHT, 2, big);
    params_add(&t1, "small", PARAM_WEIGHT, 1, sm);
    params_add(&t1, "big2", PARAM_WEIGHT, 2, big);
    params_alloc(&t1);
    for (size_t i = 0; i < t1.total; i++) {
        t1.data[i] = (float)rng_uniform(&rng) - 0.5f;
        t1.grad[i] = (float)rng_uniform(&rng) - 0.5f;
    }
    params_init(&t2);
    params_add(&t2, "big", PARAM_WEIGHT, 2, big);
    params_add(&t2, "small", PARAM_WEIGHT, 1, sm);
    params_add(&t2, "big2", PARAM_WEIGHT, 2, big);
    params_alloc(&t2);
    memcpy(t2.data, t1.data, t1.total * 4);
    memcpy(t2.grad, t1.grad, t1.total * 4);
    float n1 = clip_grad_norm(&c1, &t1, 1.0f), n2 = clip_grad_norm(&c2, &t2, 1.0f);
    ok = n1 == n2 && same_bits(t1.grad, t2.grad, t1.total);
    Optim op1, op2;
    OptimConfig cfg = optim_adamw_defaults();
    optim_init(&op1, &cfg, &t1);
    optim_init(&op2, &cfg, &t2);
    for (int k = 0; k < 3; k++) {
        optim_step(&c1, &op1, &t1);
        optim_step(&c2, &op2, &t2);
    }
    ok &= same_bits(t1.data, t2.data, t1.total) && same_bits(op1.m, op2.m, t1.total) && same_bits(op1.v, op2.v, t1.total);
    CHECK(ok, "threads 1 vs 2: clip_grad_norm and AdamW bit-identical (%zu floats)", t1.total);
    optim_free(&op1);
    optim_free(&op2);
    params_free(&t1);
    params_free(&t2);
    free(x); free(w); free(b); free(dy); free(o1); free(o2); free(dx1); free(dx2); free(k1); free(k2);
    free(z); free(cw); free(y);
    nn_ctx_free(&c1);
    nn_ctx_free(&c2);
}

/* nn_expf against libm's expf (in double for the reference) over the whole range it serves. */
static void test_expf(void) {
    double worst = 0;
    float wx = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.00173f) {
        double ref = exp((double)x), e = fabs((double)nn_expf(x) - ref) / ref;
        if (e > worst) { worst = e; wx = x; }
    }
    CHECK(worst < 2.5e-7, "nn_expf within 2 ulp of exp on [-87, 88] (worst rel err %.2e at %g)", worst, wx);
    CHECK(nn_expf(-200.0f) == 0.0f && isinf(nn_expf(200.0f)) && isfinite(nn_expf(88.2f)),
          "nn_expf: 0 below -87.3, inf above 88.3, finite up to there");
    CHECK(isnan(nn_expf(NAN)) && nn_expf(0.0f) == 1.0f, "nn_expf(NaN) is NaN, exp(0) is exactly 1");
}

/* nn_parallel_for on the persistent workers: every index covered exactly once, by the fixed ranges
 * (range r = [n*r/t, n*(r+1)/t)), for many sizes and thread counts, thousands of calls in a row (the
 * workers' spin and sleep paths), a nested call (run serially, not deadlocked), a ctx freed and made
 * again, and a thread count changed on a live ctx. */
typedef struct {
    int *hits;
    int64_t n;
    int t;
    int bad;     /* a range that is not one of the fixed ones */
    NnCtx *ctx;  /* for the nested call */
    int nested;
} PoolProbe;

static void probe_range(void *arg, int64_t b, int64_t e) {
    PoolProbe *p = arg;
    int ok = 0;
    for (int r = 0; r < p->t; r++)
        if (b == p->n * r / p->t && e == p->n * (r + 1) / p->t) ok = 1;
    if (!ok) __atomic_store_n(&p->bad, 1, __ATOMIC_RELAXED);
    for (int64_t i = b; i < e; i++) __atomic_fetch_add(&p->hits[i], 1, __ATOMIC_RELAXED);
}

static void nested_range(void *arg, int64_t b, int64_t e) {
    PoolProbe *p = arg;
    PoolProbe inner = {.hits = p->hits + b, .n = e - b, .t = 1};
    nn_parallel_for(p->ctx, e - b, probe_range, &inner); /* inside a range: serial, one range */
    if (inner.bad) __atomic_store_n(&p->bad, 1, __ATOMIC_RELAXED);
}

static int probe(NnCtx *ctx, int64_t n, int nested) {
    int *hits = calloc((size_t)(n ? n : 1), sizeof *hits);
    int t = ctx->threads < n ? ctx->threads : (int)n;
    PoolProbe p = {.hits = hits, .n = n, .t = t < 1 ? 1 : t, .ctx = ctx};
    nn_parallel_for(ctx, n, nested ? nested_range : probe_range, &p);
    int ok = !p.bad;
    for (int64_t i = 0; i < n; i++) ok &= hits[i] == 1;
    free(hits);
    return ok;
}

static void test_pool(void) {
    int ok = 1;
    for (int threads = 1; threads <= 5; threads++) {
        NnCtx c;
        nn_ctx_init(&c, threads);
        for (int64_t n = 0; n <= 40; n++) ok &= probe(&c, n, 0);
        ok &= probe(&c, 100003, 0);
        nn_ctx_free(&c);
    }
    CHECK(ok, "nn_parallel_for: every index once, in the fixed ranges, for 1-5 threads and n = 0..40, 100003");
    NnCtx c;
    nn_ctx_init(&c, 3);
    ok = 1;
    for (int k = 0; k < 5000; k++) ok &= probe(&c, 7 + k % 13, 0);
    CHECK(ok, "nn_parallel_for: 5000 calls in a row on one pool");
    ok = 1;
    for (int k = 0; k < 20; k++) {
        ok &= probe(&c, 50, 0);
        struct timespec ts = {0, 2000000}; /* 2 ms: the workers go to sleep between calls */
        nanosleep(&ts, NULL);
    }
    CHECK(ok, "nn_parallel_for: calls after the workers slept");
    CHECK(probe(&c, 64, 1), "nn_parallel_for: a range function's own nn_parallel_for runs serially (no deadlock)");
    c.threads = 2; /* a changed thread count: the pool is made again */
    CHECK(probe(&c, 33, 0), "nn_parallel_for: the thread count changed on a live ctx");
    nn_ctx_free(&c);
    nn_ctx_init(&c, 4);
    CHECK(probe(&c, 1000, 0), "nn_parallel_for: a ctx freed and initialised again");
    nn_ctx_free(&c);
}

int main(void) {
    rng_seed(&rng, 20240611);
    test_pool();
    test_expf();
    NnCtx ctx;
    nn_ctx_init(&ctx, 1);
    test_batchnorm(&ctx);
    test_activations(&ctx);
    test_dropout(&ctx);
    test_cross_entropy(&ctx);
    test_bce();
    test_optim(&ctx);
    test_schedules();
    test_threads();
    nn_ctx_free(&ctx);
    return check_failures ? 1 : 0;
}
