/* Driver for tests/py/test_nn_misc.py: runs batchnorm, activations, cross-entropy, BCE with logits, optimisers, schedules
 * and clipping on .npy fixtures that PyTorch made in DIR and writes the results there as .npy.
 * usage: nn_misc CMD DIR [ARGS...]   (see each command below for its files and arguments) */
#include "core/error.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/loss.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "formats/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static NnCtx ctx;

/* Everything allocated here is released at the end (the sanitizer build checks for leaks). */
static void *owned[256];
static int n_owned;
static void *own(void *p) {
    if (n_owned < 256) owned[n_owned++] = p;
    return p;
}

static void die(const char *what) {
    fprintf(stderr, "nn_misc: error: %s%s%s\n", what, what[0] ? ": " : "", err_msg());
    exit(1);
}

static void path(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s.npy", dir, name); }

static Tensor load(const char *name, int want) {
    char p[4096];
    path(p, sizeof p, name);
    Tensor t;
    if (npy_load(p, want, &t) < 0) die("");
    own(t.data);
    return t;
}

static void save(const char *name, const float *v, int ndim, const int64_t *shape) {
    char p[4096];
    path(p, sizeof p, name);
    Tensor t;
    int64_t none[1] = {1}; /* a scalar (ndim 0) still passes a shape pointer */
    if (tensor_alloc(&t, DT_F32, ndim, shape ? shape : none) < 0) die("");
    memcpy(t.data, v, (size_t)tensor_numel(&t) * sizeof(float));
    if (npy_save(p, &t) < 0) die("");
    tensor_free(&t);
}

static void save_like(const char *name, const float *v, const Tensor *like) { save(name, v, like->ndim, like->shape); }

static float *zeros(size_t n) {
    float *v = own(calloc(n ? n : 1, sizeof *v));
    if (!v) {
        err_set("out of memory");
        die("");
    }
    return v;
}

static double arg(int argc, char **argv, int i) {
    if (i >= argc) {
        err_set("missing argument %d", i);
        die("");
    }
    return strtod(argv[i], NULL);
}

/* bn DIR EPS MOMENTUM: two train steps (x1, dy1), (x2, dy2) from w, b, rm, rv; then eval on x1 with dy1.
 * Writes bn_y1, bn_y2, bn_dx1, bn_dx2, bn_dw, bn_db (accumulated over both steps), bn_rm_out, bn_rv_out,
 * bn_nbt, bn_ye, bn_dxe, bn_dwe, bn_dbe (eval), bn_dxf (frozen: eval without parameter gradients), and
 * the eval BN folded into conv_w/conv_b: fold_w, fold_b. */
static void cmd_bn(int argc, char **argv) {
    Tensor x1 = load("bn_x1", DT_F32), x2 = load("bn_x2", DT_F32), dy1 = load("bn_dy1", DT_F32),
           dy2 = load("bn_dy2", DT_F32), w = load("bn_w", DT_F32), b = load("bn_b", DT_F32),
           rm = load("bn_rm", DT_F32), rv = load("bn_rv", DT_F32), cw = load("conv_w", DT_F32),
           cb = load("conv_b", DT_F32);
    BatchNorm2dShape s = batchnorm2d_shape((int)x1.shape[0], (int)x1.shape[1], (int)x1.shape[2], (int)x1.shape[3]);
    s.eps = arg(argc, argv, 3);
    s.momentum = arg(argc, argv, 4);
    size_t n = (size_t)tensor_numel(&x1), C = (size_t)s.C;
    float *y = zeros(n), *dx = zeros(n), *mean = zeros(C), *invstd = zeros(C), *dw = zeros(C), *db = zeros(C);
    float nbt = 0;
    float *W = tensor_f32(&w), *B = tensor_f32(&b), *RM = tensor_f32(&rm), *RV = tensor_f32(&rv);
    const Tensor *xs[2] = {&x1, &x2}, *dys[2] = {&dy1, &dy2};
    for (int k = 0; k < 2; k++) {
        char name[32];
        batchnorm2d_forward_train(&ctx, &s, tensor_f32(xs[k]), W, B, RM, RV, &nbt, y, mean, invstd);
        batchnorm2d_backward_train(&ctx, &s, tensor_f32(dys[k]), tensor_f32(xs[k]), W, B, mean, invstd, dx, dw, db);
        snprintf(name, sizeof name, "bn_y%d", k + 1);
        save_like(name, y, &x1);
        snprintf(name, sizeof name, "bn_dx%d", k + 1);
        save_like(name, dx, &x1);
    }
    save_like("bn_dw", dw, &w);
    save_like("bn_db", db, &w);
    save_like("bn_rm_out", RM, &w);
    save_like("bn_rv_out", RV, &w);
    save("bn_nbt", &nbt, 0, NULL);
    memset(dw, 0, C * sizeof(float));
    memset(db, 0, C * sizeof(float));
    batchnorm2d_forward_eval(&ctx, &s, tensor_f32(&x1), W, B, RM, RV, y, mean, invstd);
    batchnorm2d_backward_eval(&ctx, &s, tensor_f32(&dy1), tensor_f32(&x1), W, B, mean, invstd, dx, dw, db);
    save_like("bn_ye", y, &x1);
    save_like("bn_dxe", dx, &x1);
    save_like("bn_dwe", dw, &w);
    save_like("bn_dbe", db, &w);
    batchnorm2d_backward_eval(&ctx, &s, tensor_f32(&dy1), tensor_f32(&x1), W, B, mean, invstd, dx, NULL, NULL);
    save_like("bn_dxf", dx, &x1);
    batchnorm2d_fold_into_conv(s.C, s.eps, W, B, RM, RV, tensor_f32(&cw), (size_t)(tensor_numel(&cw) / s.C),
                               tensor_f32(&cb));
    save_like("fold_w", tensor_f32(&cw), &cw);
    save_like("fold_b", tensor_f32(&cb), &cb);
}

/* act DIR: act_x, act_dy -> {relu,sigmoid,silu}_{y,dx}, add_y (act_x + act_dy). */
static void cmd_act(void) {
    Tensor x = load("act_x", DT_F32), dy = load("act_dy", DT_F32);
    size_t n = (size_t)tensor_numel(&x);
    float *X = tensor_f32(&x), *DY = tensor_f32(&dy), *y = zeros(n), *dx = zeros(n);
    relu_forward(&ctx, n, X, y);
    relu_backward(&ctx, n, DY, y, dx);
    save_like("relu_y", y, &x);
    save_like("relu_dx", dx, &x);
    sigmoid_forward(&ctx, n, X, y);
    sigmoid_backward(&ctx, n, DY, y, dx);
    save_like("sigmoid_y", y, &x);
    save_like("sigmoid_dx", dx, &x);
    silu_forward(&ctx, n, X, y);
    silu_backward(&ctx, n, DY, X, dx);
    save_like("silu_y", y, &x);
    save_like("silu_dx", dx, &x);
    residual_add_forward(&ctx, n, X, DY, y);
    save_like("add_y", y, &x);
}

/* ce DIR SMOOTHING WEIGHTED REDUCTION(0 mean, 1 sum): ce_z (N, C), ce_y (N), ce_w (C) -> ce_loss (),
 * ce_dz (N, C), ce_probs (N, C). */
static void cmd_ce(int argc, char **argv) {
    Tensor z = load("ce_z", DT_F32), y = load("ce_y", DT_I64), w = load("ce_w", DT_F32);
    CrossEntropyShape s = {(int)z.shape[0], (int)z.shape[1], (float)arg(argc, argv, 3),
                           (LossReduction)(int)arg(argc, argv, 5)};
    const float *W = arg(argc, argv, 4) != 0 ? tensor_f32(&w) : NULL;
    size_t n = (size_t)tensor_numel(&z);
    float *probs = zeros(n), *dz = zeros(n), loss;
    if (cross_entropy_forward(&ctx, &s, tensor_f32(&z), tensor_i64(&y), W, &loss, probs) < 0) die("cross-entropy");
    cross_entropy_backward(&ctx, &s, 1.0f, probs, tensor_i64(&y), W, dz);
    save("ce_loss", &loss, 0, NULL);
    save_like("ce_dz", dz, &z);
    softmax_forward(&ctx, s.N, s.C, tensor_f32(&z), probs);
    save_like("ce_probs", probs, &z);
}

/* bce DIR SMOOTHING POS_WEIGHTED REDUCTION(0 mean, 1 sum): bce_z (N, K), bce_y (N, K), bce_pw (K) -> bce_loss (),
 * bce_dz (N, K). */
static void cmd_bce(int argc, char **argv) {
    Tensor z = load("bce_z", DT_F32), y = load("bce_y", DT_F32), pw = load("bce_pw", DT_F32);
    BceShape s = {(int)z.shape[0], (int)z.shape[1], (float)arg(argc, argv, 3), (LossReduction)(int)arg(argc, argv, 5)};
    const float *P = arg(argc, argv, 4) != 0 ? tensor_f32(&pw) : NULL;
    float *dz = zeros((size_t)tensor_numel(&z)), loss;
    if (bce_with_logits_forward(&s, tensor_f32(&z), tensor_f32(&y), P, &loss) < 0) die("bce");
    bce_with_logits_backward(&s, 1.0f, tensor_f32(&z), tensor_f32(&y), P, dz);
    save("bce_loss", &loss, 0, NULL);
    save_like("bce_dz", dz, &z);
}

/* posweight DIR: bpw_y (N, K) -> bpw_w (K), negatives / positives per class. */
static void cmd_posweight(int argc, char **argv) {
    Tensor y = load("bpw_y", DT_F32);
    float *w = zeros((size_t)y.shape[1]);
    if (pos_weight_balanced(tensor_f32(&y), (size_t)y.shape[0], (int)y.shape[1], w) < 0) die("pos_weight");
    save("bpw_w", w, 1, &y.shape[1]);
}

/* balanced DIR NCLASSES: cw_y (N) -> cw_w (NCLASSES). */
static void cmd_balanced(int argc, char **argv) {
    Tensor y = load("cw_y", DT_I64);
    int k = (int)arg(argc, argv, 3);
    float *w = zeros((size_t)k);
    if (class_weight_balanced(tensor_i64(&y), (size_t)tensor_numel(&y), k, w) < 0) die("balanced");
    int64_t sh[1] = {k};
    save("cw_w", w, 1, sh);
}

/* Parameters opt_p0, opt_p1, opt_p2 (p2 frozen); gradients opt_g{step}_{k} for steps 0..STEPS-1;
 * group 1 (p1) runs at LR_MULT times the learning rate. Writes opt_out{k}. */
static void run_optim(OptimConfig *cfg, int steps, float lr_mult) {
    ParamTable t;
    params_init(&t);
    Tensor p[3];
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "opt_p%d", k);
        p[k] = load(name, DT_F32);
        if (params_add(&t, name, PARAM_WEIGHT, p[k].ndim, p[k].shape) < 0) die("params");
    }
    int64_t one[1] = {5};
    params_add(&t, "buffer", PARAM_BUFFER, 1, one);
    if (params_alloc(&t) < 0) die("params");
    t.e[2].frozen = 1;
    for (int k = 0; k < 3; k++) memcpy(params_data(&t, k), p[k].data, t.e[k].numel * sizeof(float));
    Optim o;
    if (optim_init(&o, cfg, &t) < 0) die("optimiser");
    optim_set_lr_mult(&o, &t, "opt_p1", lr_mult);
    for (int st = 0; st < steps; st++) {
        params_zero_grad(&t);
        for (int k = 0; k < 3; k++) {
            char name[32];
            snprintf(name, sizeof name, "opt_g%d_%d", st, k);
            Tensor g = load(name, DT_F32);
            memcpy(params_grad(&t, k), g.data, t.e[k].numel * sizeof(float));
        }
        if (optim_step(&ctx, &o, &t) < 0) die("optimiser");
    }
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "opt_out%d", k);
        save_like(name, params_data(&t, k), &p[k]);
    }
    optim_free(&o);
    params_free(&t);
}

/* adamw DIR LR WD BETA1 BETA2 EPS STEPS LR_MULT */
static void cmd_adamw(int argc, char **argv) {
    OptimConfig c = optim_adamw_defaults();
    c.lr = arg(argc, argv, 3);
    c.weight_decay = arg(argc, argv, 4);
    c.beta1 = arg(argc, argv, 5);
    c.beta2 = arg(argc, argv, 6);
    c.eps = arg(argc, argv, 7);
    run_optim(&c, (int)arg(argc, argv, 8), (float)arg(argc, argv, 9));
}

/* sgd DIR LR MOMENTUM DAMPENING WD NESTEROV STEPS LR_MULT */
static void cmd_sgd(int argc, char **argv) {
    OptimConfig c = optim_sgd_defaults(arg(argc, argv, 3));
    c.momentum = arg(argc, argv, 4);
    c.dampening = arg(argc, argv, 5);
    c.weight_decay = arg(argc, argv, 6);
    c.nesterov = (int)arg(argc, argv, 7);
    run_optim(&c, (int)arg(argc, argv, 8), (float)arg(argc, argv, 9));
}

/* plateau DIR LR MODE_MAX FACTOR PATIENCE THRESHOLD THRESHOLD_ABS COOLDOWN MIN_LR EPS:
 * pl_metrics (E) -> pl_lr (E), the learning rate after each epoch's step. */
static void cmd_plateau(int argc, char **argv) {
    Tensor m = load("pl_metrics", DT_F32);
    double lr = arg(argc, argv, 3);
    LrPlateau p;
    lr_plateau_init(&p, (int)arg(argc, argv, 4));
    p.factor = arg(argc, argv, 5);
    p.patience = (int)arg(argc, argv, 6);
    p.threshold = arg(argc, argv, 7);
    p.threshold_abs = (int)arg(argc, argv, 8);
    p.cooldown = (int)arg(argc, argv, 9);
    p.min_lr = arg(argc, argv, 10);
    p.eps = arg(argc, argv, 11);
    size_t n = (size_t)tensor_numel(&m);
    float *out = zeros(n);
    for (size_t i = 0; i < n; i++) {
        lr_plateau_step(&p, (double)tensor_f32(&m)[i], &lr);
        out[i] = (float)lr;
    }
    save_like("pl_lr", out, &m);
}

/* cosine DIR BASE MIN WARMUP TOTAL LAST: cos_lr (LAST + 1) for t = 0..LAST. */
static void cmd_cosine(int argc, char **argv) {
    double base = arg(argc, argv, 3), mn = arg(argc, argv, 4);
    int64_t warm = (int64_t)arg(argc, argv, 5), total = (int64_t)arg(argc, argv, 6), last = (int64_t)arg(argc, argv, 7);
    float *out = zeros((size_t)last + 1);
    for (int64_t t = 0; t <= last; t++) out[t] = (float)lr_cosine_warmup(base, mn, warm, total, t);
    int64_t sh[1] = {last + 1};
    save("cos_lr", out, 1, sh);
}

/* clip DIR MAX_NORM: clip_g0, clip_g1 (gradients of two weights) -> clip_out0, clip_out1, clip_total (). */
static void cmd_clip(int argc, char **argv) {
    ParamTable t;
    params_init(&t);
    Tensor g[2] = {load("clip_g0", DT_F32), load("clip_g1", DT_F32)};
    params_add(&t, "a", PARAM_WEIGHT, g[0].ndim, g[0].shape);
    params_add(&t, "b", PARAM_WEIGHT, g[1].ndim, g[1].shape);
    if (params_alloc(&t) < 0) die("params");
    for (int k = 0; k < 2; k++) memcpy(params_grad(&t, k), g[k].data, t.e[k].numel * sizeof(float));
    float total = clip_grad_norm(&ctx, &t, (float)arg(argc, argv, 3));
    save_like("clip_out0", params_grad(&t, 0), &g[0]);
    save_like("clip_out1", params_grad(&t, 1), &g[1]);
    save("clip_total", &total, 0, NULL);
    params_free(&t);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: nn_misc bn|act|ce|balanced|bce|posweight|adamw|sgd|plateau|cosine|clip DIR [ARGS...]\n");
        return 2;
    }
    dir = argv[2];
    const char *threads = getenv("NN_THREADS");
    nn_ctx_init(&ctx, threads ? atoi(threads) : 2);
    const char *c = argv[1];
    if (!strcmp(c, "bn")) cmd_bn(argc, argv);
    else if (!strcmp(c, "act")) cmd_act();
    else if (!strcmp(c, "ce")) cmd_ce(argc, argv);
    else if (!strcmp(c, "balanced")) cmd_balanced(argc, argv);
    else if (!strcmp(c, "bce")) cmd_bce(argc, argv);
    else if (!strcmp(c, "posweight")) cmd_posweight(argc, argv);
    else if (!strcmp(c, "adamw")) cmd_adamw(argc, argv);
    else if (!strcmp(c, "sgd")) cmd_sgd(argc, argv);
    else if (!strcmp(c, "plateau")) cmd_plateau(argc, argv);
    else if (!strcmp(c, "cosine")) cmd_cosine(argc, argv);
    else if (!strcmp(c, "clip")) cmd_clip(argc, argv);
    else {
        fprintf(stderr, "nn_misc: error: unknown command '%s'\n", c);
        return 2;
    }
    nn_ctx_free(&ctx);
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    return 0;
}
