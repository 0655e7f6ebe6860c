/* tests/gpu/layers.c - every layer with a CUDA twin, on a real GPU against the CPU engine (tests/gpu/run.sh
 * runs it; every build builds it; tests/cli/simgpu.sh runs it on make SIMGPU=1's simulated GPU too, where
 * every difference is 0: that checks the program, not the GPU). Inputs are random on the host; the CPU
 * layer runs on a CPU context, the same call on a context moved to the GPU (nn_ctx_use_cuda) with device
 * copies of every array (nn_alloc), and the results come back to be compared:
 *   own kernels (activations, pooling, dropout, the optimiser, the conv epilogue, linear's bias): bit for
 *     bit (NaN's sign and payload aside), as tests/unit/test_kernels.c shows on the CPU;
 *   BatchNorm (a tree instead of the CPU's order): 2e-6 relative to the largest value;
 *   cuBLAS / cuDNN (fp32, FMA math, no TF32; another summation order): 1e-4 relative to the largest value.
 * Plus: the algorithm cache hits on a repeated shape; --deterministic repeats its bits; the convolution
 * epilogue with a residual and plane means (1e-4); the repeated stem's passes (stem.cu) and SE's scaling bit
 * for bit, SE's backward (cuBLAS inside) within 1e-4; one training step of resnet18 (plain, and the
 * repeated ImageNet-normalised stem) and efficientnet_b0 (repeated, normalised stem) against the CPU
 * engine: NN_TRAIN logits and BN running statistics within 1e-4 relative, parameter gradients, the
 * SGD-updated weights and the NN_INFER logits after the step within 1e-3 relative per tensor (train-mode
 * BN over a small batch divides each convolution's 1e-6-level rounding differences by the batch's std,
 * layer after layer: looser than a single layer's 1e-4; the figures are printed; not yet measured on a
 * GPU); resnet18's gradients and updates in norm over the whole table within 5e-2 instead (ReLU's flips:
 * model_step).
 * Depthwise convolutions (EfficientNet-B0's shapes) with conv2d.cu's own kernels and with cuDNN, each forced
 * (AUDIOCNN_DEPTHWISE), then as timed (each choice printed on stderr), within 1e-4; the own kernels'
 * --deterministic repeat, and the own kernels under AMP (bf16, fp16) within AMP's bounds below.
 * TF32 (the context's tf32 set, as cnntrain --tf32): every conv shape above forward and backward against the
 * CPU's fp32 within 4e-3 of the largest value. Operands keep a 10-bit mantissa and sums stay fp32: rounded
 * to nearest, errors of 2^-11 relative per operand that mostly cancel (some 3e-4 expected, as AMP's fp16
 * below without the result's rounding); truncated, as tensor cores do with operands not converted first, a
 * bias of about 2^-10 relative on every output (some 1e-3).
 * Mixed precision (nn/amp.h, the context's amp set): every conv shape above and the linear layer, forward and
 * backward (y, dx, the dw and db increments), in bf16 and fp16 on the GPU against the CPU's fp32 layer,
 * relative to each result's largest value: fp16 within 1e-2, bf16 within 5e-2. Why: each operand is rounded
 * to 2^-11 (fp16) / 2^-8 (bf16) relative, so a product is off by about twice that; over a sum of random-
 * signed terms these errors partly cancel, and the result's own rounding adds one more unit of its value:
 * expected some 1e-3 (fp16) and 1e-2 (bf16) of the largest value; the bounds leave 5-10x for unlucky
 * maxima and cuDNN's tensor-core paths. One AMP training step (NN_TRAIN forward, cross-entropy on the host,
 * backward) of the baseline, resnet18 and efficientnet_b0 in each type against the CPU's fp32 step: the
 * loss within 2e-2 (fp16) / 5e-2 (bf16) relative, the logits within 5e-2 / 2e-1 of their largest value
 * (train-mode BN renormalises each layer, so the per-layer error does not compound much over the depth),
 * every gradient finite; the worst gradient tensor's difference is printed (information only: a tensor of
 * near-zero gradients, such as a BN bias whose terms cancel, has no meaningful relative error). Not yet
 * measured on a GPU: the bounds are the argument above; the simulated GPU, which rounds exactly so but sums
 * in the CPU's order, measures layers at 3e-4..8e-4 (fp16) and 2e-3..5e-3 (bf16), losses within 1e-5 / 1e-2
 * and logits within 8e-3 / 7e-2 (efficientnet_b0's, the deepest).
 * Without a usable GPU every group prints one skip line and the program exits 0. */
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/device.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "nn/pool.h"
#include "nn/se.h"
#include "nn/stem.h"
#include "core/error.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static NnCtx cpu, gpu;
static Rng rng;

#define CHECK(cond, ...)                                                                                          \
    do {                                                                                                          \
        char n_[400];                                                                                             \
        snprintf(n_, sizeof n_, __VA_ARGS__);                                                                     \
        if (cond) printf("ok gpu: %s\n", n_);                                                                     \
        else { printf("not ok gpu: %s%s%s\n", n_, err_msg()[0] ? ": " : "", err_msg()); failures++; }             \
    } while (0)

static float *rnd(size_t n, float lo, float hi) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * (float)rng_uniform(&rng);
    return a;
}
/* a device copy of n bytes of host memory (NULL when host is NULL) */
static void *up(const void *host, size_t bytes) {
    if (!host) return NULL;
    void *d = nn_alloc(&gpu, bytes);
    if (d) nn_copy_to_device(&gpu, d, host, bytes);
    return d;
}
/* the device array back into a new host array */
static float *down(const void *dev, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (nn_sync(&gpu) < 0) memset(h, 0xff, n * sizeof *h);
    nn_copy_to_host(&gpu, h, dev, n * sizeof *h);
    return h;
}
static double rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > num || d != d) num = d;
        den = fmax(den, fabs((double)a[i]));
    }
    return num / den;
}
static int same(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}

/* gpu made again on GPU 0 (its own algorithm cache: the depthwise choice is made at its first search), in
 * mixed precision amp (NN_AMP_OFF: fp32). 0, or -1 with a failed CHECK naming what (who). */
static int fresh_gpu(const char *who, int amp) {
    nn_ctx_free(&gpu);
    nn_ctx_init(&gpu, 2);
    if (nn_ctx_use_cuda(&gpu, 0) == 0 && nn_ctx_set_amp(&gpu, (NnAmp)amp) == 0) return 0;
    CHECK(0, "%s: a fresh context on GPU 0: %s", who, err_msg());
    return -1;
}

static void activations(void) {
    size_t n = 3000017;
    float *a = rnd(n, -12, 12), *b = rnd(n, -3, 3), *r = malloc(n * 4);
    float *da = up(a, n * 4), *db = up(b, n * 4), *dr = nn_alloc(&gpu, n * 4);
    const char *names[] = {"relu", "relu backward", "sigmoid", "sigmoid backward", "silu", "silu backward", "add", "add + relu"};
    for (int op = 0; op < 8; op++) {
        NnCtx *cs[2] = {&cpu, &gpu};
        for (int k = 0; k < 2; k++) {
            NnCtx *c = cs[k];
            const float *x = k ? da : a, *y = k ? db : b;
            float *o = k ? dr : r;
            switch (op) {
            case 0: relu_forward(c, n, x, o); break;
            case 1: relu_backward(c, n, x, y, o); break;
            case 2: sigmoid_forward(c, n, x, o); break;
            case 3: sigmoid_backward(c, n, x, y, o); break;
            case 4: silu_forward(c, n, x, o); break;
            case 5: silu_backward(c, n, x, y, o); break;
            case 6: residual_add_forward(c, n, x, y, o); break;
            default: residual_add_relu_forward(c, n, x, y, o); break;
            }
        }
        float *g = down(dr, n);
        CHECK(same(r, g, n), "%s = CPU, bit for bit (%zu elements)", names[op], n);
        free(g);
    }
    nn_free(&gpu, da), nn_free(&gpu, db), nn_free(&gpu, dr), free(a), free(b), free(r);
}

static void pooling(void) {
    Pool2dShape ps[2] = {{.N = 8, .C = 16, .H = 64, .W = 200, .KH = 2, .KW = 2},
                         {.N = 8, .C = 64, .H = 63, .W = 201, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}};
    for (int i = 0; i < 2; i++) {
        Pool2dShape s = ps[i];
        pool2d_shape_init(&s);
        size_t ni = (size_t)s.N * s.C * s.H * s.W, no = (size_t)s.N * s.C * s.OH * s.OW;
        float *x = rnd(ni, -2, 2), *y = malloc(no * 4), *dy = rnd(no, -1, 1), *dx = malloc(ni * 4);
        int32_t *am = malloc(no * 4);
        maxpool2d_forward(&cpu, &s, x, y, am);
        maxpool2d_backward(&cpu, &s, dy, am, dx);
        float *gx = up(x, ni * 4), *gy = nn_alloc(&gpu, no * 4), *gdy = up(dy, no * 4), *gdx = nn_alloc(&gpu, ni * 4);
        int32_t *gam = nn_alloc(&gpu, no * 4), *ham = malloc(no * 4);
        maxpool2d_forward(&gpu, &s, gx, gy, gam);
        maxpool2d_backward(&gpu, &s, gdy, gam, gdx);
        float *hy = down(gy, no), *hdx = down(gdx, ni);
        nn_copy_to_host(&gpu, ham, gam, no * 4);
        CHECK(same(y, hy, no) && !memcmp(am, ham, no * 4) && same(dx, hdx, ni), "max pool %dx%d/%d: forward, argmax, backward = CPU",
              s.KH, s.KW, s.stride_h);
        avgpool2d_forward(&cpu, &s, x, y);
        avgpool2d_backward(&cpu, &s, y, dx);
        avgpool2d_forward(&gpu, &s, gx, gy);
        avgpool2d_backward(&gpu, &s, gy, gdx);
        float *ay = down(gy, no), *adx = down(gdx, ni);
        CHECK(same(y, ay, no) && same(dx, adx, ni), "avg pool %dx%d/%d: forward and backward = CPU", s.KH, s.KW, s.stride_h);
        free(ay), free(adx);
        GlobalPoolShape gs = {.N = s.N, .C = s.C, .H = s.H, .W = s.W};
        float *m = malloc((size_t)s.N * s.C * 4);
        global_avgpool_forward(&cpu, &gs, x, m);
        global_avgpool_forward(&gpu, &gs, gx, gy);
        float *hm = down(gy, (size_t)s.N * s.C);
        global_avgpool_backward(&cpu, &gs, m, dx);
        global_avgpool_backward(&gpu, &gs, gy, gdx);
        float *hdx2 = down(gdx, ni);
        CHECK(same(m, hm, (size_t)s.N * s.C) && same(dx, hdx2, ni), "global average pool %dx%d forward and backward = CPU", s.H, s.W);
        free(x), free(y), free(dy), free(dx), free(am), free(ham), free(hy), free(hdx), free(m), free(hm), free(hdx2);
        nn_free(&gpu, gx), nn_free(&gpu, gy), nn_free(&gpu, gdy), nn_free(&gpu, gdx), nn_free(&gpu, gam);
    }
}

static void linear(void) {
    LinearShape s = {.N = 64, .in = 1280, .out = 37};
    size_t nx = (size_t)s.N * s.in, nw = (size_t)s.out * s.in, ny = (size_t)s.N * s.out;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.1f, 0.1f), *b = rnd(s.out, -1, 1), *y = malloc(ny * 4), *dy = rnd(ny, -1, 1);
    float *dx = malloc(nx * 4), *dw = rnd(nw, -1, 1), *db = rnd(s.out, -1, 1);
    float *gx = up(x, nx * 4), *gw = up(w, nw * 4), *gb = up(b, s.out * 4), *gy = nn_alloc(&gpu, ny * 4), *gdy = up(dy, ny * 4);
    float *gdx = nn_alloc(&gpu, nx * 4), *gdw = up(dw, nw * 4), *gdb = up(db, s.out * 4);
    linear_forward(&cpu, &s, x, w, b, y);
    linear_backward(&cpu, &s, x, w, dy, dx, dw, db);
    linear_forward(&gpu, &s, gx, gw, gb, gy);
    linear_backward(&gpu, &s, gx, gw, gdy, gdx, gdw, gdb);
    float *hy = down(gy, ny), *hdx = down(gdx, nx), *hdw = down(gdw, nw), *hdb = down(gdb, s.out);
    double e = fmax(fmax(rel(y, hy, ny), rel(dx, hdx, nx)), fmax(rel(dw, hdw, nw), rel(db, hdb, s.out)));
    CHECK(e <= 1e-4, "linear %dx%d->%d (cuBLAS): y, dx, dw +=, db += within 1e-4 (%.1e)", s.N, s.in, s.out, e);
}

/* The convolutions both the fp32 and the AMP groups run, CPU against GPU. */
static const Conv2dShape conv_cases[] = {
    {.N = 16, .C = 1, .H = 128, .W = 200, .K = 16, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1},                  /* baseline's first */
    {.N = 16, .C = 3, .H = 128, .W = 200, .K = 64, .KH = 7, .KW = 7, .stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3}, /* stem */
    {.N = 16, .C = 64, .H = 32, .W = 50, .K = 128, .KH = 1, .KW = 1, .stride_h = 2, .stride_w = 2},           /* downsample */
    {.N = 16, .C = 96, .H = 32, .W = 50, .K = 96, .KH = 5, .KW = 5, .pad_h = 2, .pad_w = 2, .groups = 96},   /* depthwise */
    {.N = 8, .C = 32, .H = 20, .W = 30, .K = 32, .KH = 3, .KW = 3, .pad_h = 2, .pad_w = 2, .dil_h = 2, .dil_w = 2}, /* dilated */
};
static const char *const conv_case_names[] = {"3x3 1->16", "7x7/2 stem 3->64", "1x1/2 64->128", "5x5 depthwise 96",
                                              "3x3 dilation 2"};

/* tf32: the GPU context's fp32 convolutions on TF32 tensor cores, within 4e-3 instead of 1e-4; how: what
 * runs them ("cuDNN", or for depthwise shapes which AUDIOCNN_DEPTHWISE chose) */
static void conv_run(const Conv2dShape *cs, const char *const *names, size_t ncases, int deterministic, int tf32,
                     const char *how) {
    double bound = tf32 ? 4e-3 : 1e-4;
    gpu.deterministic = deterministic;
    gpu.tf32 = tf32;
    for (size_t i = 0; i < ncases; i++) {
        Conv2dShape s = cs[i];
        if (conv2d_shape_init(&s) < 0) {
            CHECK(0, "conv %s shape", names[i]);
            continue;
        }
        size_t nx = conv2d_x_numel(&s), nw = conv2d_w_numel(&s), ny = conv2d_y_numel(&s);
        float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.3f, 0.3f), *b = rnd(s.K, -1, 1), *y = malloc(ny * 4), *dy = rnd(ny, -1, 1);
        float *dx = malloc(nx * 4), *dw = rnd(nw, -1, 1), *db = rnd(s.K, -1, 1);
        float *gdw0 = up(dw, nw * 4); /* dw before any += (the CPU's dw accumulates below) */
        float *gx = up(x, nx * 4), *gw = up(w, nw * 4), *gb = up(b, s.K * 4), *gy = nn_alloc(&gpu, ny * 4), *gdy = up(dy, ny * 4);
        float *gdx = nn_alloc(&gpu, nx * 4), *gdw = up(dw, nw * 4), *gdb = up(db, s.K * 4);
        int rc = conv2d_forward(&cpu, &s, x, w, b, y) | conv2d_backward(&cpu, &s, x, w, dy, dx, dw, db);
        int grc = conv2d_forward(&gpu, &s, gx, gw, gb, gy) | conv2d_backward(&gpu, &s, gx, gw, gdy, gdx, gdw, gdb);
        float *hy = down(gy, ny), *hdx = down(gdx, nx), *hdw = down(gdw, nw), *hdb = down(gdb, s.K);
        double e = fmax(fmax(rel(y, hy, ny), rel(dx, hdx, nx)), fmax(rel(dw, hdw, nw), rel(db, hdb, s.K)));
        CHECK(!rc && !grc && e <= bound, "conv %s (%s%s%s): y, dx, dw +=, db += within %.0e (%.1e)", names[i], how,
              deterministic ? ", deterministic" : "", tf32 ? ", TF32" : "", bound, e);
        if (deterministic) { /* the same call again: the same bits */
            float *dw2 = gdw0; /* the first backward's starting dw, so that both add one gradient to it */
            conv2d_backward(&gpu, &s, gx, gw, gdy, gdx, dw2, NULL);
            float *h2 = down(gdx, nx), *hw2 = down(dw2, nw);
            CHECK(same(hdx, h2, nx) && same(hdw, hw2, nw), "conv %s --deterministic: a second backward repeats dx and dw", names[i]);
            free(h2), free(hw2);
        }
        nn_free(&gpu, gdw0);
        free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db), free(hy), free(hdx), free(hdw), free(hdb);
        nn_free(&gpu, gx), nn_free(&gpu, gw), nn_free(&gpu, gb), nn_free(&gpu, gy), nn_free(&gpu, gdy), nn_free(&gpu, gdx);
        nn_free(&gpu, gdw), nn_free(&gpu, gdb);
    }
    gpu.deterministic = 0;
    gpu.tf32 = 0;
}
static void conv(int deterministic, int tf32) {
    conv_run(conv_cases, conv_case_names, sizeof conv_cases / sizeof *conv_cases, deterministic, tf32, "cuDNN");
}

static void amp_conv_run(const Conv2dShape *cs, const char *const *names, size_t ncases, int amp, const char *how);

/* Depthwise convolutions (EfficientNet-B0's at 1x128x400, batch 16) with conv2d.cu's own kernels and with
 * cuDNN, each forced (AUDIOCNN_DEPTHWISE) on a fresh context (its own algorithm cache), then the timed
 * choice with each choice printed (AUDIOCNN_ALGO_LOG); the own kernels also with --deterministic, and in bf16
 * and fp16 within AMP's bounds. */
static void depthwise(void) {
    static const Conv2dShape cases[] = {
        {.N = 16, .C = 32, .H = 64, .W = 200, .K = 32, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1, .groups = 32},
        {.N = 16, .C = 96, .H = 64, .W = 200, .K = 96, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1,
         .groups = 96},
        {.N = 16, .C = 240, .H = 16, .W = 50, .K = 240, .KH = 5, .KW = 5, .pad_h = 2, .pad_w = 2, .groups = 240},
        {.N = 16, .C = 1152, .H = 4, .W = 13, .K = 1152, .KH = 5, .KW = 5, .pad_h = 2, .pad_w = 2, .groups = 1152},
    };
    static const char *const names[] = {"depthwise 3x3 32 at 64x200", "depthwise 3x3/2 96 at 64x200",
                                        "depthwise 5x5 240 at 16x50", "depthwise 5x5 1152 at 4x13"};
    static const char *const modes[] = {"own", "cudnn", "auto"};
    static const char *const hows[] = {"own kernels", "cuDNN grouped", "the faster, timed"};
    for (int m = 0; m < 3; m++) {
        if (m < 2) setenv("AUDIOCNN_DEPTHWISE", modes[m], 1);
        else unsetenv("AUDIOCNN_DEPTHWISE"), setenv("AUDIOCNN_ALGO_LOG", "1", 1);
        if (fresh_gpu("depthwise", NN_AMP_OFF) < 0) break;
        conv_run(cases, names, sizeof cases / sizeof *cases, m == 0, 0, hows[m]);
        if (m == 0) /* the own kernels under AMP: operands rounded as read, no half copies */
            for (int amp = NN_AMP_BF16; amp <= NN_AMP_FP16; amp++)
                if (nn_ctx_set_amp(&gpu, (NnAmp)amp) == 0) {
                    amp_conv_run(cases, names, sizeof cases / sizeof *cases, amp, "own kernels, half operands");
                    nn_ctx_set_amp(&gpu, NN_AMP_OFF);
                }
    }
    unsetenv("AUDIOCNN_DEPTHWISE"), unsetenv("AUDIOCNN_ALGO_LOG");
}

static void batchnorm(void) {
    int acts[3] = {ACT_NONE, ACT_RELU, ACT_SILU};
    for (int a = 0; a < 3; a++) {
        BatchNorm2dShape s = batchnorm2d_shape(16, 64, 32, 50);
        s.act = (ActKind)acts[a];
        size_t n = (size_t)s.N * s.C * s.H * s.W, C = (size_t)s.C;
        float *x = rnd(n, -2, 3), *dout = rnd(n, -1, 1), *w = rnd(C, 0.5f, 1.5f), *b = rnd(C, -0.5f, 0.5f), *rm = rnd(C, -1, 1);
        float *rv = rnd(C, 0.5f, 2), *out = malloc(n * 4), *mean = malloc(C * 4), *inv = malloc(C * 4), *dx = malloc(n * 4);
        float *dw = rnd(C, -1, 1), *db = rnd(C, -1, 1), nbt = 5;
        float *gx = up(x, n * 4), *gdo = up(dout, n * 4), *gw = up(w, C * 4), *gb = up(b, C * 4), *grm = up(rm, C * 4), *grv = up(rv, C * 4);
        float *gnbt = up(&nbt, 4), *gout = nn_alloc(&gpu, n * 4), *gmean = nn_alloc(&gpu, C * 4), *ginv = nn_alloc(&gpu, C * 4);
        float *gdx = nn_alloc(&gpu, n * 4), *gdw = up(dw, C * 4), *gdb = up(db, C * 4);
        batchnorm2d_forward_train(&cpu, &s, x, w, b, rm, rv, &nbt, out, mean, inv);
        batchnorm2d_backward_train(&cpu, &s, dout, x, w, b, mean, inv, dx, dw, db);
        batchnorm2d_forward_train(&gpu, &s, gx, gw, gb, grm, grv, gnbt, gout, gmean, ginv);
        batchnorm2d_backward_train(&gpu, &s, gdo, gx, gw, gb, gmean, ginv, gdx, gdw, gdb);
        float *h[8] = {down(gout, n), down(gmean, C), down(ginv, C), down(grm, C), down(grv, C), down(gdx, n), down(gdw, C), down(gdb, C)};
        float *c[8] = {out, mean, inv, rm, rv, dx, dw, db};
        size_t sz[8] = {n, C, C, C, C, n, C, C};
        double e = 0;
        for (int k = 0; k < 8; k++) e = fmax(e, rel(c[k], h[k], sz[k]));
        float *hn = down(gnbt, 1);
        const char *an[3] = {"", " + ReLU", " + SiLU"};
        CHECK(e <= 2e-6 && hn[0] == nbt, "BatchNorm%s train forward and backward (running stats, counter, dx, dweight, dbias) within 2e-6 (%.1e)",
              an[a], e);
        for (int k = 0; k < 8; k++) free(h[k]);
        free(hn);
    }
}

static void dropout(void) {
    DropoutShape s = {.n = 64 * 1280, .p = 0.3f, .training = 1};
    float *x = rnd(s.n, -1, 1), *o = malloc(s.n * 4);
    uint8_t *m = malloc(s.n), *hm = malloc(s.n);
    float *gx = up(x, s.n * 4), *go = nn_alloc(&gpu, s.n * 4);
    uint8_t *gm = nn_alloc(&gpu, s.n);
    dropout_forward(&cpu, &s, 42, 7, x, o, m);
    dropout_forward(&gpu, &s, 42, 7, gx, go, gm);
    float *ho = down(go, s.n);
    nn_copy_to_host(&gpu, hm, gm, s.n);
    CHECK(!memcmp(m, hm, s.n) && same(o, ho, s.n), "dropout: the CPU's mask and output, bit for bit");
}

static void optimiser(void) {
    for (int k = 0; k < 2; k++) {
        ParamTable t;
        params_init(&t);
        int64_t s1[2] = {512, 300}, s2[1] = {512};
        params_add(&t, "a.weight", PARAM_WEIGHT, 2, s1);
        params_add(&t, "a.bias", PARAM_WEIGHT, 1, s2);
        params_add(&t, "bn.running_mean", PARAM_BUFFER, 1, s2);
        params_alloc(&t);
        OptimConfig cfg = k ? optim_sgd_defaults(0.05) : optim_adamw_defaults();
        if (k) cfg.momentum = 0.9, cfg.nesterov = 1;
        Optim oc, og;
        optim_init(&oc, &cfg, &t);
        optim_init(&og, &cfg, &t);
        float *p0 = rnd(t.total, -1, 1);
        memcpy(t.data, p0, t.total * 4);
        /* the GPU's table: the same entries over device blocks */
        ParamTable tg = t;
        float *hostm = og.m;
        tg.data = up(p0, t.total * 4);
        tg.grad = nn_alloc(&gpu, t.total * 4);
        og.m = nn_alloc(&gpu, t.total * 4 * (k ? 1 : 2));
        og.v = k ? NULL : og.m + t.total;
        int ok = 1;
        for (int step = 0; step < 3; step++) {
            float *g = rnd(t.total, -0.5f, 0.5f);
            memcpy(t.grad, g, t.total * 4);
            nn_copy_to_device(&gpu, tg.grad, g, t.total * 4);
            ok &= optim_step(&cpu, &oc, &t) == 0 && optim_step(&gpu, &og, &tg) == 0;
            free(g);
        }
        float *hp = down(tg.data, t.total), *hmv = down(og.m, t.total * (k ? 1 : 2));
        CHECK(ok && same(t.data, hp, t.total) && same(oc.m, hmv, t.total * (k ? 1 : 2)),
              "%s fused step (3 steps): weights and moments = CPU, bit for bit", k ? "SGD Nesterov" : "AdamW");
        float n0 = clip_grad_norm(&cpu, &t, 0.5f), n1 = clip_grad_norm(&gpu, &tg, 0.5f);
        float *hg = down(tg.grad, t.total);
        CHECK(n0 == n1 && same(t.grad, hg, t.total), "clip_grad_norm: the CPU's norm (%g) and clipped gradients, bit for bit", n0);
        free(hg);
        nn_free(&gpu, tg.data), nn_free(&gpu, tg.grad), nn_free(&gpu, og.m);
        og.m = hostm; /* optim_free frees the host block */
        optim_free(&oc), optim_free(&og), params_free(&t);
    }
}

static void algo_cache(void) {
    /* conv() has run every shape once per mode: a repeat of the first shape must not search again */
    Conv2dShape s = {.N = 16, .C = 1, .H = 128, .W = 200, .K = 16, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
    conv2d_shape_init(&s);
    float *gx = nn_alloc(&gpu, conv2d_x_numel(&s) * 4), *gw = nn_alloc(&gpu, conv2d_w_numel(&s) * 4),
          *gy = nn_alloc(&gpu, conv2d_y_numel(&s) * 4);
    size_t entries = nn_cuda_algo_entries(&gpu);
    int rc = conv2d_forward(&gpu, &s, gx, gw, NULL, gy);
    CHECK(rc == 0 && nn_sync(&gpu) == 0 && nn_cuda_algo_entries(&gpu) == entries && entries > 0,
          "algorithm cache: a shape seen before is not searched again (%zu entries)", entries);
    nn_free(&gpu, gx), nn_free(&gpu, gw), nn_free(&gpu, gy);
}

/* conv2d_forward_ep with every epilogue option the models use: BN's affine map, a residual, ReLU / SiLU / none,
 * plane means (cuDNN's convolution, then kernels.h's epilogue) */
static void conv_epilogue(void) {
    Conv2dShape s = {.N = 8, .C = 32, .H = 24, .W = 40, .K = 48, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
    conv2d_shape_init(&s);
    size_t nx = conv2d_x_numel(&s), nw = conv2d_w_numel(&s), ny = conv2d_y_numel(&s), nm = (size_t)s.N * s.K;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.3f, 0.3f), *sc = rnd(s.K, 0.5f, 1.5f), *sh = rnd(s.K, -0.5f, 0.5f), *res = rnd(ny, -1, 1);
    float *y = malloc(ny * 4), *pm = malloc(nm * 4);
    float *gx = up(x, nx * 4), *gw = up(w, nw * 4), *gsc = up(sc, s.K * 4), *gsh = up(sh, s.K * 4), *gres = up(res, ny * 4);
    float *gy = nn_alloc(&gpu, ny * 4), *gpm = nn_alloc(&gpu, nm * 4);
    const char *an[3] = {"none", "ReLU", "SiLU"};
    for (int act = 0; act < 3; act++) {
        ConvEpilogue e = {.scale = sc, .shift = sh, .res = act == 1 ? res : NULL, .act = (ActKind)act, .plane_mean = pm};
        ConvEpilogue ge = {.scale = gsc, .shift = gsh, .res = act == 1 ? gres : NULL, .act = (ActKind)act, .plane_mean = gpm};
        int rc = conv2d_forward_ep(&cpu, &s, x, w, NULL, y, &e) | conv2d_forward_ep(&gpu, &s, gx, gw, NULL, gy, &ge);
        float *hy = down(gy, ny), *hm = down(gpm, nm);
        double err = fmax(rel(y, hy, ny), rel(pm, hm, nm));
        CHECK(!rc && err <= 1e-4, "conv epilogue: BN affine%s + %s + plane means within 1e-4 (%.1e)", act == 1 ? " + residual" : "", an[act], err);
        free(hy), free(hm);
    }
    free(x), free(w), free(sc), free(sh), free(res), free(y), free(pm);
    nn_free(&gpu, gx), nn_free(&gpu, gw), nn_free(&gpu, gsc), nn_free(&gpu, gsh), nn_free(&gpu, gres), nn_free(&gpu, gy), nn_free(&gpu, gpm);
}

/* stem.h's passes and SE's */
static void stem_se(void) {
    NnStemNorm sn = {{1 / 0.229f, 1 / 0.224f, 1 / 0.225f}, {0.485f / 0.229f, 0.456f / 0.224f, 0.406f / 0.225f}, 1};
    int K = 64, KK = 49;
    size_t n1 = (size_t)K * KK, n3 = 3 * n1;
    float *w = rnd(n3, -0.3f, 0.3f), *ws = malloc(n1 * 4), *wm = malloc(n1 * 4), *dw = rnd(n3, -1, 1);
    float *gw = up(w, n3 * 4), *gws = nn_alloc(&gpu, n1 * 4), *gwm = nn_alloc(&gpu, n1 * 4), *gdw = up(dw, n3 * 4);
    stem_weight_sum(&cpu, K, KK, &sn, w, ws, wm);
    stem_weight_sum(&gpu, K, KK, &sn, gw, gws, gwm);
    stem_weight_grad(&cpu, K, KK, &sn, ws, wm, dw);
    stem_weight_grad(&gpu, K, KK, &sn, gws, gwm, gdw);
    float *h1 = down(gws, n1), *h2 = down(gwm, n1), *h3 = down(gdw, n3);
    CHECK(same(ws, h1, n1) && same(wm, h2, n1) && same(dw, h3, n3), "stem: normalised weight sums and gradient spread = CPU, bit for bit");
    free(w), free(ws), free(wm), free(dw), free(h1), free(h2), free(h3);
    nn_free(&gpu, gw), nn_free(&gpu, gws), nn_free(&gpu, gwm), nn_free(&gpu, gdw);
    int64_t n = 16, per = 64 * 64 * 100;
    float *x = rnd((size_t)(n * per), -2, 2), *c = rnd((size_t)per, -1, 1), *y = malloc((size_t)(n * per) * 4), *bs = malloc((size_t)per * 4);
    float *gx = up(x, (size_t)(n * per) * 4), *gc = up(c, (size_t)per * 4), *gbs = nn_alloc(&gpu, (size_t)per * 4);
    memcpy(y, x, (size_t)(n * per) * 4);
    stem_sub_bcast(&cpu, n, per, c, y);
    stem_sub_bcast(&gpu, n, per, gc, gx);
    stem_batch_sum(&cpu, n, per, y, bs);
    stem_batch_sum(&gpu, n, per, gx, gbs);
    float *hy = down(gx, (size_t)(n * per)), *hb = down(gbs, (size_t)per);
    CHECK(same(y, hy, (size_t)(n * per)) && same(bs, hb, (size_t)per), "stem: ones-image correction and batch sum = CPU, bit for bit");
    stem_fill(&gpu, (size_t)per, 1.0f, gbs);
    float *hf = down(gbs, (size_t)per);
    int ones = 1;
    for (int64_t i = 0; i < per; i++) ones &= hf[i] == 1.0f;
    CHECK(ones, "stem: fill");
    free(x), free(c), free(y), free(bs), free(hy), free(hb), free(hf);
    nn_free(&gpu, gx), nn_free(&gpu, gc), nn_free(&gpu, gbs);

    SEShape ss = {.N = 16, .C = 240, .H = 16, .W = 25, .R = 10, .silu = 1};
    size_t nc = (size_t)ss.N * ss.C, nr = (size_t)ss.N * ss.R, nxs = nc * ss.H * ss.W, nw1 = (size_t)ss.R * ss.C;
    float *sx = rnd(nxs, -2, 2), *sdy = rnd(nxs, -1, 1), *w1 = rnd(nw1, -0.3f, 0.3f), *b1 = rnd(ss.R, -0.1f, 0.1f);
    float *w2 = rnd(nw1, -0.3f, 0.3f), *b2 = rnd(ss.C, -0.1f, 0.1f), *sy = malloc(nxs * 4), *sdx = malloc(nxs * 4);
    float *pool = malloc(nc * 4), *hh = malloc(nr * 4), *aa = malloc(nr * 4), *scs = malloc(nc * 4);
    float *g[4] = {calloc(nw1, 4), calloc(ss.R, 4), calloc(nw1, 4), calloc(ss.C, 4)};
    float *d_x = up(sx, nxs * 4), *d_dy = up(sdy, nxs * 4), *d_w1 = up(w1, nw1 * 4), *d_b1 = up(b1, ss.R * 4), *d_w2 = up(w2, nw1 * 4);
    float *d_b2 = up(b2, ss.C * 4), *d_y = nn_alloc(&gpu, nxs * 4), *d_dx = nn_alloc(&gpu, nxs * 4), *d_pool = nn_alloc(&gpu, nc * 4);
    float *d_h = nn_alloc(&gpu, nr * 4), *d_a = nn_alloc(&gpu, nr * 4), *d_sc = nn_alloc(&gpu, nc * 4);
    float *dg[4] = {nn_alloc(&gpu, nw1 * 4), nn_alloc(&gpu, ss.R * 4), nn_alloc(&gpu, nw1 * 4), nn_alloc(&gpu, ss.C * 4)};
    se_forward(&cpu, &ss, sx, w1, b1, w2, b2, sy, pool, hh, aa, scs);
    int rc = se_backward(&cpu, &ss, sdy, sx, w1, w2, pool, hh, aa, scs, sdx, g[0], g[1], g[2], g[3]);
    se_forward(&gpu, &ss, d_x, d_w1, d_b1, d_w2, d_b2, d_y, d_pool, d_h, d_a, d_sc);
    rc |= se_backward(&gpu, &ss, d_dy, d_x, d_w1, d_w2, d_pool, d_h, d_a, d_sc, d_dx, dg[0], dg[1], dg[2], dg[3]);
    float *hsy = down(d_y, nxs), *hsdx = down(d_dx, nxs);
    double err = fmax(rel(sy, hsy, nxs), rel(sdx, hsdx, nxs));
    size_t gn[4] = {nw1, (size_t)ss.R, nw1, (size_t)ss.C};
    for (int i = 0; i < 4; i++) {
        float *hg = down(dg[i], gn[i]);
        err = fmax(err, rel(g[i], hg, gn[i]));
        free(hg), free(g[i]), nn_free(&gpu, dg[i]);
    }
    CHECK(!rc && err <= 1e-4, "SE %dx%dx%dx%d (SiLU) forward and backward (cuBLAS inside): y, dx, 4 parameter gradients within 1e-4 (%.1e)",
          ss.N, ss.C, ss.H, ss.W, err);
    free(sx), free(sdy), free(w1), free(b1), free(w2), free(b2), free(sy), free(sdx), free(pool), free(hh), free(aa), free(scs);
    free(hsy), free(hsdx);
    float *dd[] = {d_x, d_dy, d_w1, d_b1, d_w2, d_b2, d_y, d_dx, d_pool, d_h, d_a, d_sc};
    for (size_t i = 0; i < sizeof dd / sizeof *dd; i++) nn_free(&gpu, dd[i]);
}

/* The worst relative difference of the table's tensors (each against its own largest value), and its name. */
static double table_rel(const ParamTable *t, const float *a, const float *b, int grads, const char **worst) {
    double e = 0;
    for (int i = 0; i < t->n; i++) {
        if (grads && t->e[i].kind != PARAM_WEIGHT) continue;
        double d = rel(a + t->e[i].offset, b + t->e[i].offset, t->e[i].numel);
        if (d > e || d != d) e = d, *worst = t->e[i].name;
    }
    return e;
}

/* ||a - b|| / ||a|| over the table's weights (grads: parameters alone, no running statistics); base, when
 * given, is subtracted from both first (a and b are then updated weights, compared as updates). */
static double table_l2(const ParamTable *t, const float *a, const float *b, const float *base, int grads) {
    double num = 0, den = 1e-300;
    for (int i = 0; i < t->n; i++) {
        if (grads && t->e[i].kind != PARAM_WEIGHT) continue;
        for (size_t j = t->e[i].offset; j < t->e[i].offset + t->e[i].numel; j++) {
            double u = a[j] - (base ? base[j] : 0), v = b[j] - (base ? base[j] : 0);
            num += (u - v) * (u - v), den += u * u;
        }
    }
    return sqrt(num / den);
}

/* One training step (forward NN_TRAIN, backward, SGD with momentum) of a whole network on the CPU and on the
 * GPU from the same weights and batch, then an NN_INFER forward of the updated network.
 * A ReLU network's gradients are compared as a whole: a pre-activation within the two engines' rounding
 * difference (some 1e-6) of zero passes the ReLU on one side and not on the other, and with some 2 million
 * ReLU outputs in resnet18's step a few such flips are expected. Each changes its gradient by a whole term: a
 * BN bias gradient summing 48 terms by some 5-15%, the tensor it feeds by about 1/sqrt(terms). So for ReLU
 * networks the gradients and the SGD updates must agree within 5e-2 in norm over the whole table (a wrong
 * backward is off by O(1)), and the worst tensor is printed; SiLU is smooth, so EfficientNet keeps the
 * per-tensor 1e-3. */
static void model_step(const char *arch, int repeat_norm) {
    const int N = 8, C = 1, H = 64, W = 96, K = 5;
    ModelOptions o = {.stem_repeat = repeat_norm, .in_norm = repeat_norm};
    Model mc, mg;
    memset(&mc, 0, sizeof mc);
    memset(&mg, 0, sizeof mg);
    char what[96];
    snprintf(what, sizeof what, "%s%s", arch, repeat_norm ? " (repeated stem, ImageNet normalisation)" : "");
    if (model_create_opts(&mc, arch, C, H, W, K, &o) < 0 || model_create_opts(&mg, arch, C, H, W, K, &o) < 0) {
        CHECK(0, "%s: model_create", what);
        return;
    }
    model_init_weights(&mc, 7);
    model_init_weights(&mg, 7);
    ParamTable *tc = &mc.params, *tg = &mg.params;
    if (model_to_device(&mg, &gpu) < 0) {
        CHECK(0, "%s: model_to_device", what);
        model_free(&mc), model_free(&mg);
        return;
    }
    size_t nx = (size_t)N * C * H * W, nl = (size_t)N * K;
    float *x = rnd(nx, -2, 2), *dl = rnd(nl, -0.2f, 0.2f), *lc = malloc(nl * 4);
    float *gx = up(x, nx * 4), *gdl = up(dl, nl * 4), *gl = nn_alloc(&gpu, nl * 4);
    int rc = mc.forward(&mc, &cpu, x, N, NN_TRAIN, 3, lc) | mc.backward(&mc, &cpu, dl);
    int grc = mg.forward(&mg, &gpu, gx, N, NN_TRAIN, 3, gl) | mg.backward(&mg, &gpu, gdl);
    grc |= nn_sync(&gpu);
    float *hl = down(gl, nl), *hg = down(tg->grad, tc->total), *hd = down(tg->data, tc->total);
    const char *wg = "", *wd = "";
    int relu = strncmp(arch, "resnet", 6) == 0;
    double el = rel(lc, hl, nl), eg = table_rel(tc, tc->grad, hg, 1, &wg), ed = table_rel(tc, tc->data, hd, 0, &wd);
    CHECK(!rc && !grc && el <= 1e-4 && ed <= 1e-4, "%s train step: logits (%.1e) and BN running statistics (%.1e, %s) within 1e-4", what,
          el, ed, wd);
    if (relu) {
        double g2 = table_l2(tc, tc->grad, hg, NULL, 1);
        CHECK(!rc && !grc && g2 <= 5e-2, "%s train step: parameter gradients within 5e-2 in norm (%.1e; worst tensor %.1e, %s)",
              what, g2, eg, wg);
    } else {
        CHECK(!rc && !grc && eg <= 1e-3, "%s train step: parameter gradients within 1e-3 per tensor (worst %.1e, %s)", what, eg, wg);
    }
    float *before = malloc(tc->total * sizeof *before);
    memcpy(before, tc->data, tc->total * sizeof *before);
    OptimConfig cfg = optim_sgd_defaults(0.01);
    cfg.momentum = 0.9;
    Optim oc, og;
    optim_init(&oc, &cfg, tc);
    optim_init(&og, &cfg, tg);
    rc = optim_to_device(&og, &gpu);
    rc |= optim_step(&cpu, &oc, tc);
    grc = optim_step(&gpu, &og, tg);
    free(hd);
    hd = down(tg->data, tc->total);
    ed = table_rel(tc, tc->data, hd, 0, &wd);
    if (relu) {
        double u2 = table_l2(tc, tc->data, hd, before, 1);
        CHECK(!rc && !grc && u2 <= 5e-2, "%s SGD step: the updates within 5e-2 in norm (%.1e; worst updated tensor %.1e, %s)", what,
              u2, ed, wd);
    } else {
        CHECK(!rc && !grc && ed <= 1e-3, "%s SGD step: updated weights within 1e-3 per tensor (worst %.1e, %s)", what, ed, wd);
    }
    free(before);
    rc = mc.forward(&mc, &cpu, x, N, NN_INFER, 0, lc);
    grc = mg.forward(&mg, &gpu, gx, N, NN_INFER, 0, gl);
    free(hl);
    hl = down(gl, nl);
    el = rel(lc, hl, nl);
    CHECK(!rc && !grc && el <= 1e-3, "%s NN_INFER (fused epilogues) after the step: logits within 1e-3 (%.1e)", what, el);
    free(x), free(dl), free(lc), free(hl), free(hg), free(hd);
    nn_free(&gpu, gx), nn_free(&gpu, gdl), nn_free(&gpu, gl);
    optim_free(&oc), optim_free(&og);
    model_free(&mc), model_free(&mg); /* the GPU model's buffers and parameters on the device they are on */
}

/* ---- mixed precision (nn/amp.h) ---------------------------------------------------------------------------- */

static const char *amp_name(int amp) { return amp == NN_AMP_BF16 ? "bf16" : "fp16"; }
static double amp_bound(int amp) { return amp == NN_AMP_BF16 ? 5e-2 : 1e-2; }

/* the linear layer and every conv shape of conv(): GPU in AMP against the CPU's fp32, y, dx, dw and db
 * increments (both start at zero) relative to their largest values */
static void amp_layers(int amp) {
    if (nn_ctx_set_amp(&gpu, (NnAmp)amp) < 0) {
        CHECK(0, "AMP %s: nn_ctx_set_amp", amp_name(amp));
        return;
    }
    {
        LinearShape s = {.N = 64, .in = 1280, .out = 37};
        size_t nx = (size_t)s.N * s.in, nw = (size_t)s.out * s.in, ny = (size_t)s.N * s.out;
        float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.1f, 0.1f), *b = rnd(s.out, -1, 1), *y = malloc(ny * 4), *dy = rnd(ny, -1, 1);
        float *dx = malloc(nx * 4), *dw = calloc(nw, 4), *db = calloc(s.out, 4);
        float *gx = up(x, nx * 4), *gw = up(w, nw * 4), *gb = up(b, s.out * 4), *gy = nn_alloc(&gpu, ny * 4), *gdy = up(dy, ny * 4);
        float *gdx = nn_alloc(&gpu, nx * 4), *gdw = nn_alloc(&gpu, nw * 4), *gdb = nn_alloc(&gpu, s.out * 4);
        linear_forward(&cpu, &s, x, w, b, y);
        linear_backward(&cpu, &s, x, w, dy, dx, dw, db);
        linear_forward(&gpu, &s, gx, gw, gb, gy);
        linear_backward(&gpu, &s, gx, gw, gdy, gdx, gdw, gdb);
        float *hy = down(gy, ny), *hdx = down(gdx, nx), *hdw = down(gdw, nw), *hdb = down(gdb, s.out);
        double e = fmax(fmax(rel(y, hy, ny), rel(dx, hdx, nx)), fmax(rel(dw, hdw, nw), rel(db, hdb, s.out)));
        CHECK(e <= amp_bound(amp), "AMP %s: linear %dx%d->%d (cublasGemmEx): y, dx, dw, db within %.0e of the CPU's fp32 (%.1e)",
              amp_name(amp), s.N, s.in, s.out, amp_bound(amp), e);
        free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db), free(hy), free(hdx), free(hdw), free(hdb);
        nn_free(&gpu, gx), nn_free(&gpu, gw), nn_free(&gpu, gb), nn_free(&gpu, gy), nn_free(&gpu, gdy), nn_free(&gpu, gdx);
        nn_free(&gpu, gdw), nn_free(&gpu, gdb);
    }
    amp_conv_run(conv_cases, conv_case_names, sizeof conv_cases / sizeof *conv_cases, amp, "cuDNN, half");
    nn_ctx_set_amp(&gpu, NN_AMP_OFF);
}

/* The convolutions cs, forward and backward in the context's AMP mode against the CPU's fp32 (how: what runs them) */
static void amp_conv_run(const Conv2dShape *cs, const char *const *names, size_t ncases, int amp, const char *how) {
    for (size_t i = 0; i < ncases; i++) {
        Conv2dShape s = cs[i];
        if (conv2d_shape_init(&s) < 0) {
            CHECK(0, "AMP conv %s shape", names[i]);
            continue;
        }
        size_t nx = conv2d_x_numel(&s), nw = conv2d_w_numel(&s), ny = conv2d_y_numel(&s);
        float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.3f, 0.3f), *b = rnd(s.K, -1, 1), *y = malloc(ny * 4), *dy = rnd(ny, -1, 1);
        float *dx = malloc(nx * 4), *dw = calloc(nw, 4), *db = calloc(s.K, 4);
        float *gx = up(x, nx * 4), *gw = up(w, nw * 4), *gb = up(b, s.K * 4), *gy = nn_alloc(&gpu, ny * 4), *gdy = up(dy, ny * 4);
        float *gdx = nn_alloc(&gpu, nx * 4), *gdw = nn_alloc(&gpu, nw * 4), *gdb = nn_alloc(&gpu, s.K * 4);
        int rc = conv2d_forward(&cpu, &s, x, w, b, y) | conv2d_backward(&cpu, &s, x, w, dy, dx, dw, db);
        int grc = conv2d_forward(&gpu, &s, gx, gw, gb, gy) | conv2d_backward(&gpu, &s, gx, gw, gdy, gdx, gdw, gdb);
        float *hy = down(gy, ny), *hdx = down(gdx, nx), *hdw = down(gdw, nw), *hdb = down(gdb, s.K);
        double ey = rel(y, hy, ny), ex = rel(dx, hdx, nx), ew = rel(dw, hdw, nw), eb = rel(db, hdb, s.K);
        double e = fmax(fmax(ey, ex), fmax(ew, eb));
        CHECK(!rc && !grc && e <= amp_bound(amp), "AMP %s: conv %s (%s): y %.1e, dx %.1e, dw %.1e, db %.1e within %.0e of the CPU's fp32",
              amp_name(amp), names[i], how, ey, ex, ew, eb, amp_bound(amp));
        free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db), free(hy), free(hdx), free(hdw), free(hdb);
        nn_free(&gpu, gx), nn_free(&gpu, gw), nn_free(&gpu, gb), nn_free(&gpu, gy), nn_free(&gpu, gdy), nn_free(&gpu, gdx);
        nn_free(&gpu, gdw), nn_free(&gpu, gdb);
    }
}

/* convbn.h under AMP, the halves kept between a unit's passes: conv2d_forward_half's y widens to
 * conv2d_forward's AMP output and its x_half is x cast; BatchNorm reading the halves (train forward,
 * backward, eval forward) gives the float layer's bits on their widened copy, and its dx as halves the float
 * dx rounded; conv2d_backward_half from those halves and x_half gives conv2d_backward's dx and dW. The same
 * cached algorithms on both sides, deterministic ones (--deterministic) so that the bits can be compared;
 * cuDNN's and the own depthwise kernels'. */
static void amp_half_bn(int amp) {
    static const Conv2dShape cs[] = {
        {.N = 16, .C = 64, .H = 32, .W = 100, .K = 64, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1},
        {.N = 16, .C = 96, .H = 32, .W = 100, .K = 96, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1, .groups = 96},
    };
    static const char *const names[] = {"3x3 64->64", "3x3 depthwise 96"};
    for (int own = 0; own < 2; own++)
        for (size_t i = 0; i < 2; i++) {
            if (own && i == 0) continue;
            if (i == 1) setenv("AUDIOCNN_DEPTHWISE", own ? "own" : "cudnn", 1);
            if (fresh_gpu(amp == NN_AMP_BF16 ? "AMP bf16" : "AMP fp16", amp) < 0) break;
            gpu.deterministic = 1;
            Conv2dShape s = cs[i];
            conv2d_shape_init(&s);
            size_t nx = conv2d_x_numel(&s), nw = conv2d_w_numel(&s), ny = conv2d_y_numel(&s), C = (size_t)s.K;
            float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.3f, 0.3f), *dout = rnd(ny, -1, 1), *bw = rnd(C, 0.5f, 1.5f);
            float *bb = rnd(C, -0.5f, 0.5f), *rm = rnd(C, -1, 1), *rv = rnd(C, 0.5f, 2), nbt = 3;
            float *gx = up(x, nx * 4), *gw = up(w, nw * 4), *gy = nn_alloc(&gpu, ny * 4), *gbw = up(bw, C * 4), *gbb = up(bb, C * 4);
            uint16_t *gh = nn_alloc(&gpu, ny * 2), *gxh = nn_alloc(&gpu, nx * 2), *gdyh = nn_alloc(&gpu, ny * 2);
            float *grm[2], *grv[2], *gn[2], *gout[2], *gm[2], *gi[2], *gdx[2], *gdw[2], *gdb[2], *gev[2], *gcx[2], *gcw[2];
            for (int k = 0; k < 2; k++) {
                grm[k] = up(rm, C * 4), grv[k] = up(rv, C * 4), gn[k] = up(&nbt, 4), gout[k] = nn_alloc(&gpu, ny * 4);
                gm[k] = nn_alloc(&gpu, C * 4), gi[k] = nn_alloc(&gpu, C * 4), gdx[k] = nn_alloc(&gpu, ny * 4);
                gdw[k] = up(bw, C * 4), gdb[k] = up(bb, C * 4), gev[k] = nn_alloc(&gpu, ny * 4);
                gcx[k] = nn_alloc(&gpu, nx * 4), gcw[k] = up(w, nw * 4);
            }
            uint16_t *doh = malloc(ny * 2), *gcxh = nn_alloc(&gpu, nx * 2); /* dout in halves; the conv's dx as halves */
            for (size_t j = 0; j < ny; j++) doh[j] = kb_to_half(dout[j], amp), dout[j] = kb_from_half(doh[j], amp);
            float *gdo = up(dout, ny * 4);
            uint16_t *gdoh = up(doh, ny * 2);
            int made = 0;
            int rc = conv2d_forward(&gpu, &s, gx, gw, NULL, gy) | conv2d_forward_half(&gpu, &s, gx, NULL, gw, gh, gxh, &made);
            BatchNorm2dShape bs = batchnorm2d_shape(s.N, s.K, s.OH, s.OW);
            bs.act = ACT_SILU;
            batchnorm2d_forward_train(&gpu, &bs, gy, gbw, gbb, grm[0], grv[0], gn[0], gout[0], gm[0], gi[0]);
            rc |= batchnorm2d_forward_train_half(&gpu, &bs, (NnAmp)amp, gh, gbw, gbb, grm[1], grv[1], gn[1], gout[1], gm[1], gi[1]);
            batchnorm2d_backward_train(&gpu, &bs, gdo, gy, gbw, gbb, gm[0], gi[0], gdx[0], gdw[0], gdb[0]);
            rc |= batchnorm2d_backward_half(&gpu, &bs, 1, gdoh, 1, (NnAmp)amp, gh, gbw, gbb, gm[1], gi[1], gdx[1], NULL, gdw[1],
                                            gdb[1]);
            rc |= batchnorm2d_backward_half(&gpu, &bs, 1, gdo, 0, (NnAmp)amp, gh, gbw, gbb, gm[1], gi[1], NULL, gdyh, NULL, NULL);
            batchnorm2d_forward_eval(&gpu, &bs, gy, gbw, gbb, grm[0], grv[0], gev[0], NULL, NULL);
            rc |= batchnorm2d_forward_eval_half(&gpu, &bs, (NnAmp)amp, gh, gbw, gbb, grm[1], grv[1], gev[1], NULL, NULL);
            /* the convolution's backward: from BN's float dx (cast inside), and from its halves with x's; the dx-as-halves
             * call first, so that the dx pass's algorithm search (and the own kernels' timing) runs with it */
            rc |= conv2d_backward_half(&gpu, &s, gx, NULL, made ? gxh : NULL, gw, gdyh, NULL, gcxh, NULL);
            rc |= conv2d_backward(&gpu, &s, gx, gw, gdx[0], gcx[0], gcw[0], NULL);
            rc |= conv2d_backward_half(&gpu, &s, gx, NULL, made ? gxh : NULL, gw, gdyh, gcx[1], NULL, gcw[1]);
            rc |= nn_sync(&gpu);
            uint16_t *hcxh = malloc(nx * 2);
            nn_copy_to_host(&gpu, hcxh, gcxh, nx * 2);
            float *hcx0 = down(gcx[0], nx);
            size_t bad_cxh = 0;
            for (size_t j = 0; j < nx; j++) bad_cxh += hcxh[j] != kb_to_half(hcx0[j], amp);
            free(hcxh), free(hcx0), free(doh);
            nn_free(&gpu, gcxh), nn_free(&gpu, gdoh);
            float *hy = down(gy, ny);
            uint16_t *hh = malloc(ny * 2), *hxh = malloc(nx * 2), *hdyh = malloc(ny * 2);
            nn_copy_to_host(&gpu, hh, gh, ny * 2), nn_copy_to_host(&gpu, hxh, gxh, nx * 2), nn_copy_to_host(&gpu, hdyh, gdyh, ny * 2);
            size_t bad_y = 0, bad_x = 0, bad_dy = 0;
            float *hdx0 = down(gdx[0], ny);
            for (size_t j = 0; j < ny; j++) bad_y += kb_from_half(hh[j], amp) != hy[j], bad_dy += hdyh[j] != kb_to_half(hdx0[j], amp);
            for (size_t j = 0; j < nx && made; j++) bad_x += hxh[j] != kb_to_half(x[j], amp);
            int same_all = 1;
            size_t nbig = 0;
            float *big[2][5], *small[2][6];
            size_t bigsz[5] = {ny, ny, ny, nx, nw};
            for (int k = 0; k < 2; k++) {
                big[k][0] = down(gout[k], ny), big[k][1] = down(gdx[k], ny), big[k][2] = down(gev[k], ny);
                big[k][3] = down(gcx[k], nx), big[k][4] = down(gcw[k], nw);
                small[k][0] = down(grm[k], C), small[k][1] = down(grv[k], C), small[k][2] = down(gm[k], C);
                small[k][3] = down(gi[k], C), small[k][4] = down(gdw[k], C), small[k][5] = down(gdb[k], C);
            }
            for (int j = 0; j < 5; j++) same_all &= same(big[0][j], big[1][j], bigsz[j]), nbig += !same(big[0][j], big[1][j], bigsz[j]);
            for (int j = 0; j < 6; j++) same_all &= same(small[0][j], small[1][j], C);
            const char *how = i == 0 ? "cuDNN" : own ? "own kernels" : "cuDNN";
            CHECK(!rc && !bad_y && !bad_x && (made || own), "AMP %s: conv %s (%s): conv2d_forward_half's y widens to "
                  "conv2d_forward's (%zu differ), its x_half is x cast (%zu differ; made %d: not needed by the own kernels)", amp_name(amp), names[i], how, bad_y,
                  bad_x, made);
            CHECK(!rc && !bad_dy && same_all && !bad_cxh, "AMP %s: conv %s (%s): BatchNorm + SiLU on its halves (train, backward "
                  "from dout's halves, eval) = on the widened floats, dx as halves = the float dx rounded (%zu differ), "
                  "conv2d_backward_half = conv2d_backward (%zu of 5 tensors differ), its dx as halves = its float dx rounded "
                  "(%zu differ), bit for bit", amp_name(amp), names[i], how, bad_dy, nbig, bad_cxh);
            for (int k = 0; k < 2; k++) {
                for (int j = 0; j < 5; j++) free(big[k][j]);
                for (int j = 0; j < 6; j++) free(small[k][j]);
                void *g[] = {grm[k], grv[k], gn[k], gout[k], gm[k], gi[k], gdx[k], gdw[k], gdb[k], gev[k], gcx[k], gcw[k]};
                for (size_t j = 0; j < sizeof g / sizeof *g; j++) nn_free(&gpu, g[j]);
            }
            free(x), free(w), free(dout), free(bw), free(bb), free(rm), free(rv), free(hy), free(hh), free(hxh), free(hdyh), free(hdx0);
            nn_free(&gpu, gx), nn_free(&gpu, gw), nn_free(&gpu, gy), nn_free(&gpu, gbw), nn_free(&gpu, gbb), nn_free(&gpu, gh);
            nn_free(&gpu, gxh), nn_free(&gpu, gdyh), nn_free(&gpu, gdo);
        }
    unsetenv("AUDIOCNN_DEPTHWISE");
    gpu.deterministic = 0;
    nn_ctx_set_amp(&gpu, NN_AMP_OFF);
}

/* EfficientNet's projection under AMP reads SE's scaled input as it casts it (conv2d.h's in_scale on a GPU):
 * forward, backward and the half forward's x_half against se_scale then the plain calls, bit for bit
 * (--deterministic algorithms, the same on both sides); EfficientNet-B0's last projection shape. */
static void amp_scaled_input(int amp) {
    if (fresh_gpu(amp == NN_AMP_BF16 ? "AMP bf16" : "AMP fp16", amp) < 0) return;
    gpu.deterministic = 1;
    Conv2dShape s = {.N = 16, .C = 1152, .H = 4, .W = 13, .K = 320, .KH = 1, .KW = 1};
    conv2d_shape_init(&s);
    SEShape ss = {.N = s.N, .C = s.C, .H = s.H, .W = s.W};
    size_t nx = conv2d_x_numel(&s), nw = conv2d_w_numel(&s), ny = conv2d_y_numel(&s), np = (size_t)s.N * s.C;
    float *x = rnd(nx, -2, 2), *w = rnd(nw, -0.1f, 0.1f), *sc = rnd(np, 0, 1), *dy = rnd(ny, -1, 1);
    float *gx = up(x, nx * 4), *gw = up(w, nw * 4), *gsc = up(sc, np * 4), *gdy = up(dy, ny * 4), *gxs = nn_alloc(&gpu, nx * 4);
    float *gy[2], *gdx[2], *gdw[2];
    for (int k = 0; k < 2; k++) gy[k] = nn_alloc(&gpu, ny * 4), gdx[k] = nn_alloc(&gpu, nx * 4), gdw[k] = nn_alloc(&gpu, nw * 4);
    uint16_t *gh = nn_alloc(&gpu, ny * 2), *gxh = nn_alloc(&gpu, nx * 2);
    int supported = conv2d_in_scale_supported(&gpu, &s), made = 0;
    se_scale(&gpu, &ss, gx, gsc, gxs);
    ConvEpilogue ep = {.in_scale = gsc};
    int rc = conv2d_forward(&gpu, &s, gxs, gw, NULL, gy[0]) | conv2d_forward_ep(&gpu, &s, gx, gw, NULL, gy[1], &ep);
    rc |= conv2d_forward_half(&gpu, &s, gx, gsc, gw, gh, gxh, &made);
    float *z = calloc(nw, 4);
    nn_copy_to_device(&gpu, gdw[0], z, nw * 4), nn_copy_to_device(&gpu, gdw[1], z, nw * 4);
    rc |= conv2d_backward(&gpu, &s, gxs, gw, gdy, gdx[0], gdw[0], NULL) |
          conv2d_backward_in_scale(&gpu, &s, gx, gsc, gw, gdy, gdx[1], gdw[1], NULL) | nn_sync(&gpu);
    float *h[2][3];
    for (int k = 0; k < 2; k++) h[k][0] = down(gy[k], ny), h[k][1] = down(gdx[k], nx), h[k][2] = down(gdw[k], nw);
    float *hxs = down(gxs, nx);
    uint16_t *hxh = malloc(nx * 2);
    nn_copy_to_host(&gpu, hxh, gxh, nx * 2);
    size_t bad = 0;
    for (size_t j = 0; j < nx; j++) bad += hxh[j] != kb_to_half(hxs[j], amp);
    int eq = same(h[0][0], h[1][0], ny) && same(h[0][1], h[1][1], nx) && same(h[0][2], h[1][2], nw);
    CHECK(supported && !rc && made && !bad && eq, "AMP %s: a 1x1 1152->320 convolution reading SE's scaled input as it casts "
          "it: y, dx, dW = se_scale then the plain calls, x_half = the scaled input cast (%zu differ), bit for bit",
          amp_name(amp), bad);
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 3; j++) free(h[k][j]);
        nn_free(&gpu, gy[k]), nn_free(&gpu, gdx[k]), nn_free(&gpu, gdw[k]);
    }
    free(x), free(w), free(sc), free(dy), free(z), free(hxs), free(hxh);
    nn_free(&gpu, gx), nn_free(&gpu, gw), nn_free(&gpu, gsc), nn_free(&gpu, gdy), nn_free(&gpu, gxs), nn_free(&gpu, gh);
    nn_free(&gpu, gxh);
    gpu.deterministic = 0;
    nn_ctx_set_amp(&gpu, NN_AMP_OFF);
}

/* One AMP training step of a whole network (NN_TRAIN forward, the loss on the host, backward) against the
 * CPU's fp32 step from the same weights and batch. */
static void amp_model_step(const char *arch, int amp) {
    const int N = 8, C = 1, H = 64, W = 96, K = 5;
    Model mc, mg;
    memset(&mc, 0, sizeof mc);
    memset(&mg, 0, sizeof mg);
    if (model_create(&mc, arch, C, H, W, K) < 0 || model_create(&mg, arch, C, H, W, K) < 0) {
        CHECK(0, "AMP %s: %s: model_create", amp_name(amp), arch);
        return;
    }
    model_init_weights(&mc, 7);
    model_init_weights(&mg, 7);
    ParamTable *tc = &mc.params, *tg = &mg.params;
    if (model_to_device(&mg, &gpu) < 0 || nn_ctx_set_amp(&gpu, (NnAmp)amp) < 0) {
        CHECK(0, "AMP %s: %s: model_to_device", amp_name(amp), arch);
        model_free(&mc), model_free(&mg);
        return;
    }
    size_t nx = (size_t)N * C * H * W, nl = (size_t)N * K;
    float *x = rnd(nx, -2, 2), *lc = malloc(nl * 4), *lg = malloc(nl * 4), *pc = malloc(nl * 4), *pg = malloc(nl * 4);
    float *dc = malloc(nl * 4), *dg = malloc(nl * 4);
    int64_t y[8];
    for (int i = 0; i < N; i++) y[i] = i % K;
    float *gx = up(x, nx * 4), *gdl = nn_alloc(&gpu, nl * 4), *gl = nn_alloc(&gpu, nl * 4);
    CrossEntropyShape ce = {.N = N, .C = K};
    float loss_c = NAN, loss_g = NAN;
    int rc = mc.forward(&mc, &cpu, x, N, NN_TRAIN, 3, lc) | cross_entropy_forward(&cpu, &ce, lc, y, NULL, &loss_c, pc);
    cross_entropy_backward(&cpu, &ce, 1.0f, pc, y, NULL, dc);
    rc |= mc.backward(&mc, &cpu, dc);
    int grc = mg.forward(&mg, &gpu, gx, N, NN_TRAIN, 3, gl) | nn_sync(&gpu);
    free(lg);
    lg = down(gl, nl);
    grc |= cross_entropy_forward(&cpu, &ce, lg, y, NULL, &loss_g, pg);
    cross_entropy_backward(&cpu, &ce, 1.0f, pg, y, NULL, dg);
    grc |= nn_copy_to_device(&gpu, gdl, dg, nl * 4) | mg.backward(&mg, &gpu, gdl) | nn_sync(&gpu);
    float *hg = down(tg->grad, tc->total);
    int finite = 1;
    for (size_t i = 0; i < tc->total; i++) finite &= isfinite(hg[i]) != 0;
    const char *wg = "";
    double el = rel(lc, lg, nl), dl = fabs((double)loss_g - loss_c) / fabs((double)loss_c), eg = table_rel(tc, tc->grad, hg, 1, &wg);
    double bl = amp == NN_AMP_BF16 ? 5e-2 : 2e-2, blog = amp == NN_AMP_BF16 ? 2e-1 : 5e-2;
    CHECK(!rc && !grc && dl <= bl && el <= blog && finite,
          "AMP %s: %s train step: loss %.5f vs the CPU's fp32 %.5f (%.1e, bound %.0e), logits %.1e (bound %.0e), every "
          "gradient finite (worst tensor %.1e, %s)", amp_name(amp), arch, loss_g, loss_c, dl, bl, el, blog, eg, wg);
    nn_ctx_set_amp(&gpu, NN_AMP_OFF);
    free(x), free(lc), free(lg), free(pc), free(pg), free(dc), free(dg), free(hg);
    nn_free(&gpu, gx), nn_free(&gpu, gdl), nn_free(&gpu, gl);
    model_free(&mc), model_free(&mg);
}

static const char *GROUPS[] = {"layers: activations", "layers: pooling", "layers: linear (cuBLAS)", "layers: conv2d (cuDNN)",
                               "layers: conv2d on TF32 tensor cores (--tf32) against the CPU's fp32",
                               "layers: BatchNorm", "layers: dropout", "optimiser", "algorithm cache and --deterministic",
                               "layers: depthwise conv2d, own kernels and cuDNN",
                               "layers: conv epilogue (residual, plane means)", "layers: repeated stem and SE",
                               "one training step of resnet18 and efficientnet_b0 against the CPU engine",
                               "AMP: conv/linear forward and backward in bf16 and fp16 against the CPU's fp32",
                               "AMP: the halves a Conv-BN unit keeps between its passes (nn/halfkeep.h), SE's scaling applied as the projection casts its input",
                               "AMP: one training step of baseline, resnet18 and efficientnet_b0 in bf16 and fp16"};

int main(void) {
    NnGpuList l;
    nn_gpu_probe(&l);
    size_t ng = sizeof GROUPS / sizeof *GROUPS;
    if (!l.built || l.count == 0) {
        for (size_t i = 0; i < ng; i++) printf("skip gpu %s: %s\n", GROUPS[i], l.built ? l.why : "this build has no CUDA");
        return 0;
    }
    rng_seed(&rng, 16);
    nn_ctx_init(&cpu, 2);
    nn_ctx_init(&gpu, 2);
    if (nn_ctx_use_cuda(&gpu, 0) < 0) {
        printf("not ok gpu: a context on GPU 0: %s\n", err_msg());
        return 1;
    }
    char desc[256];
    NnDeviceChoice ch = {.device = NN_CUDA, .index = 0, .gpu = l.gpu[0]};
    nn_device_describe(&ch, desc, sizeof desc);
    printf("# %s\n", desc);
    activations();
    pooling();
    linear();
    conv(0, 0);
    conv(1, 0);
    conv(0, 1);
    algo_cache();
    depthwise(); /* after algo_cache, which needs conv()'s context: this one makes fresh ones */
    batchnorm();
    dropout();
    optimiser();
    conv_epilogue();
    stem_se();
    model_step("resnet18", 0);
    model_step("resnet18", 1);
    model_step("efficientnet_b0", 1);
    for (int amp = NN_AMP_BF16; amp <= NN_AMP_FP16; amp++) {
        amp_layers(amp);
        amp_half_bn(amp);
        amp_scaled_input(amp);
        amp_model_step("baseline", amp);
        amp_model_step("resnet18", amp);
        amp_model_step("efficientnet_b0", amp);
    }
    nn_ctx_free(&gpu);
    nn_ctx_free(&cpu);
    return failures != 0;
}
