/* The baseline CNN of the seeds' notebooks (tests/ref/baseline.py is the same model in PyTorch):
 *
 *   features.{0,4,8,12}   Conv2d(c, k, 3, padding=1, bias=False), k = 16, 32, 64, 128
 *   features.{1,5,9,13}   BatchNorm2d(k)
 *   features.{2,6,10,14}  ReLU
 *   features.{3,7,11,15}  MaxPool2d(2)
 *   pool                  AdaptiveAvgPool2d(1) (global average)
 *   classifier.0          Linear(128, 64)
 *   classifier.1          ReLU
 *   classifier.2          Dropout(0.3)
 *   classifier.3          Linear(64, n_classes)
 *
 * Runs on either device: every buffer comes from nn_alloc of the context that runs the forward (device
 * memory under NN_CUDA), and every computation is a layer call (each dispatches to its CUDA twin); the
 * caller's x, logits and dlogits, and the parameter table, must then be device memory too.
 *
 * Buffers per block: the convolution's output (BN's input, kept for BN backward), the pooled output and
 * the pooling argmax. BN + ReLU's output lives in one shared buffer only until it is pooled (and not at
 * all in training on the CPU, where nn/bnpool.h pools it as it is made): ReLU's backward is taken on the
 * pooled side (see baseline_backward). */
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/bnpool.h"
#include "nn/conv2d.h"
#include "nn/convpool.h"
#include "nn/dropout.h"
#include "nn/halfkeep.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "nn/pool.h"

#include "core/error.h"
#include "core/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 4
#define HIDDEN 64
#define DROPOUT 0.3f
static const int WIDTH[BLOCKS] = {16, 32, 64, 128};

typedef struct {
    int n;                      /* batch the buffers are sized for */
    NnMode mode;                /* of the last forward */
    NnMode bn_mode;             /* its blocks' mode: eval when the backbone is frozen */
    const float *x;             /* the last forward's input */
    Conv2dShape conv[BLOCKS];
    BatchNorm2dShape bn[BLOCKS];
    Pool2dShape pool[BLOCKS];
    GlobalPoolShape gap;
    LinearShape fc1, fc2;
    DropoutShape drop;
    int pw[BLOCKS], pb[BLOCKS], pbw[BLOCKS], prm[BLOCKS], prv[BLOCKS], pnb[BLOCKS]; /* param indices */
    int pf1w, pf1b, pf2w, pf2b;
    float *conv_out[BLOCKS], *pooled[BLOCKS], *mean[BLOCKS], *invstd[BLOCKS];
    float *act;                 /* BN + ReLU output of the block being run, until it is pooled; backward
                                 * reuses the same memory for the gradient of a convolution's output */
    int32_t *argmax[BLOCKS];
    float *gap_out, *fc1_out, *drop_out;
    uint8_t *drop_mask;
    float *g_big, *g_small; /* gradients: one as large as the largest conv output, one as the largest pooled */
    float *scale[BLOCKS], *shift[BLOCKS]; /* NN_INFER: each block's eval BN as the conv epilogue's affine map */
    HalfKeep hk[BLOCKS];    /* each block's conv -> BN hand-over: floats, or AMP's halves (nn/halfkeep.h) */
    NnDevice dev;           /* where the buffers are (nn_alloc of the context that ran the forward) */
} Baseline;

static void set_batch_shapes(Model *m, Baseline *b, int n) {
    int c = m->in_c, h = m->in_h, w = m->in_w;
    for (int i = 0; i < BLOCKS; i++) {
        /* Winograd F(4x4, 3x3) from 16 input channels (conv2d.h: its parity test holds with it) */
        b->conv[i] = (Conv2dShape){.N = n, .C = c, .H = h, .W = w, .K = WIDTH[i], .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1,
                                   .algo = CONV2D_AUTO_WINOGRAD};
        conv2d_shape_init(&b->conv[i]);
        b->bn[i] = batchnorm2d_shape(n, WIDTH[i], h, w);
        b->bn[i].act = ACT_RELU; /* conv - BN - ReLU - max pool */
        b->pool[i] = (Pool2dShape){.N = n, .C = WIDTH[i], .H = h, .W = w, .KH = 2, .KW = 2};
        pool2d_shape_init(&b->pool[i]);
        c = WIDTH[i];
        h = b->pool[i].OH;
        w = b->pool[i].OW;
    }
    b->gap = (GlobalPoolShape){.N = n, .C = c, .H = h, .W = w};
    b->fc1 = (LinearShape){.N = n, .in = c, .out = HIDDEN};
    b->fc2 = (LinearShape){.N = n, .in = HIDDEN, .out = m->n_classes};
    b->drop = (DropoutShape){.n = (size_t)n * HIDDEN, .p = m->dropout, .training = 1};
}

static void free_buffers(Baseline *b) {
    NnDevice d = b->dev;
    for (int i = 0; i < BLOCKS; i++) {
        nn_free_on(d, b->conv_out[i]);
        halfkeep_free(&b->hk[i]);
        nn_free_on(d, b->pooled[i]);
        nn_free_on(d, b->argmax[i]);
        nn_free_on(d, b->mean[i]);
        nn_free_on(d, b->invstd[i]);
        nn_free_on(d, b->scale[i]);
        b->conv_out[i] = b->pooled[i] = b->mean[i] = b->invstd[i] = b->scale[i] = b->shift[i] = NULL;
        b->argmax[i] = NULL;
    }
    nn_free_on(d, b->gap_out);
    nn_free_on(d, b->fc1_out);
    nn_free_on(d, b->drop_out);
    nn_free_on(d, b->drop_mask);
    nn_free_on(d, b->act); /* g_big is the same memory */
    nn_free_on(d, b->g_small);
    b->gap_out = b->fc1_out = b->drop_out = b->act = b->g_big = b->g_small = NULL;
    b->drop_mask = NULL;
    b->n = 0;
}

/* Buffers for a batch of n in ctx's memory (nn_alloc: the GPU's under NN_CUDA), reallocated when the batch
 * grows or the device changes. */
static int ensure_batch(Model *m, Baseline *b, NnCtx *ctx, int n) {
    if (n <= b->n && b->dev == ctx->device) {
        set_batch_shapes(m, b, n);
        return 0;
    }
    free_buffers(b);
    b->dev = ctx->device;
    set_batch_shapes(m, b, n);
    size_t bigmax = 0, smallmax = (size_t)n * HIDDEN;
    int ok = 1;
    for (int i = 0; i < BLOCKS; i++) {
        size_t big = conv2d_y_numel(&b->conv[i]);
        size_t small = (size_t)n * WIDTH[i] * b->pool[i].OH * b->pool[i].OW;
        bigmax = big > bigmax ? big : bigmax;
        smallmax = small > smallmax ? small : smallmax;
        ok &= !!(b->conv_out[i] = nn_alloc(ctx, sizeof(float) * (big + HALFKEEP_SLACK)));
        ok &= !!(b->pooled[i] = nn_alloc(ctx, sizeof(float) * small));
        ok &= !!(b->argmax[i] = nn_alloc(ctx, sizeof(int32_t) * small));
        ok &= !!(b->mean[i] = nn_alloc(ctx, sizeof(float) * WIDTH[i]));
        ok &= !!(b->invstd[i] = nn_alloc(ctx, sizeof(float) * WIDTH[i]));
        ok &= !!(b->scale[i] = nn_alloc(ctx, sizeof(float) * 2 * WIDTH[i]));
        b->shift[i] = b->scale[i] ? b->scale[i] + WIDTH[i] : NULL;
    }
    ok &= !!(b->gap_out = nn_alloc(ctx, sizeof(float) * (size_t)n * WIDTH[BLOCKS - 1]));
    ok &= !!(b->fc1_out = nn_alloc(ctx, sizeof(float) * (size_t)n * HIDDEN));
    ok &= !!(b->drop_out = nn_alloc(ctx, sizeof(float) * (size_t)n * HIDDEN));
    ok &= !!(b->drop_mask = nn_alloc(ctx, (size_t)n * HIDDEN));
    ok &= !!(b->act = nn_alloc(ctx, sizeof(float) * bigmax));
    b->g_big = b->act; /* forward's temporary and backward's gradient are never live at once */
    ok &= !!(b->g_small = nn_alloc(ctx, sizeof(float) * smallmax));
    if (!ok) {
        free_buffers(b);
        err_set("out of memory for a batch of %d", n);
        return -1;
    }
    b->n = n;
    return 0;
}

static int baseline_forward(Model *m, NnCtx *ctx, const float *x, int n, NnMode mode, uint64_t stream, float *logits) {
    Baseline *b = m->impl;
    if (ensure_batch(m, b, ctx, n) < 0) return -1;
    ParamTable *t = &m->params;
    b->x = x;
    b->mode = mode;
    /* a frozen backbone (everything but classifier.*) runs in eval mode: its BN statistics keep their
     * values, and backward stops at the head */
    NnMode bm = b->bn_mode = m->frozen_backbone && mode == NN_TRAIN ? NN_EVAL_GRAD : mode;
    const float *in = x;
    for (int i = 0; i < BLOCKS; i++) {
        if (bm == NN_INFER) { /* BN and ReLU in the convolution's epilogue, nothing kept */
            batchnorm2d_eval_affine_ctx(ctx, WIDTH[i], b->bn[i].eps, params_data(t, b->pbw[i]), params_data(t, b->pb[i]),
                                        params_data(t, b->prm[i]), params_data(t, b->prv[i]), b->scale[i], b->shift[i]);
            /* the first block (one input channel) runs as one fused pass (nn/convpool.h), the same bits */
            if (conv_pool_infer(ctx, &b->conv[i], &b->pool[i], in, params_data(t, b->pw[i]), b->scale[i], b->shift[i],
                                b->act, b->pooled[i], b->argmax[i]) < 0)
                return -1;
            in = b->pooled[i];
            continue;
        }
        /* the convolution, its result kept for BN as floats or (AMP on a GPU) as halves: nn/halfkeep.h */
        if (halfkeep_conv_forward(ctx, &b->hk[i], &b->conv[i], in, NULL, params_data(t, b->pw[i]), b->conv_out[i]) < 0)
            return -1;
        if (bm == NN_TRAIN && !b->hk[i].type) { /* BN, ReLU and the pool (fused on the CPU: nn/bnpool.h) */
            bn_relu_pool_forward_train(ctx, &b->bn[i], &b->pool[i], b->conv_out[i], params_data(t, b->pbw[i]),
                                       params_data(t, b->pb[i]), params_data(t, b->prm[i]), params_data(t, b->prv[i]),
                                       params_data(t, b->pnb[i]), b->act, b->pooled[i], b->argmax[i], b->mean[i],
                                       b->invstd[i]);
        } else {
            if (halfkeep_bn_forward(ctx, &b->hk[i], bm == NN_TRAIN, &b->bn[i], b->conv_out[i], params_data(t, b->pbw[i]),
                                    params_data(t, b->pb[i]), params_data(t, b->prm[i]), params_data(t, b->prv[i]),
                                    params_data(t, b->pnb[i]), b->act, b->mean[i], b->invstd[i]) < 0)
                return -1;
            maxpool2d_forward(ctx, &b->pool[i], b->act, b->pooled[i], b->argmax[i]);
        }
        in = b->pooled[i];
    }
    global_avgpool_forward(ctx, &b->gap, in, b->gap_out);
    linear_forward(ctx, &b->fc1, b->gap_out, params_data(t, b->pf1w), params_data(t, b->pf1b), b->fc1_out);
    relu_forward(ctx, (size_t)n * HIDDEN, b->fc1_out, b->fc1_out);
    b->drop.training = mode == NN_TRAIN;
    dropout_forward(ctx, &b->drop, m->dropout_seed, stream, b->fc1_out, b->drop_out, b->drop_mask);
    linear_forward(ctx, &b->fc2, b->drop_out, params_data(t, b->pf2w), params_data(t, b->pf2b), logits);
    return 0;
}

static int baseline_backward(Model *m, NnCtx *ctx, const float *dlogits) {
    Baseline *b = m->impl;
    ParamTable *t = &m->params;
    if (b->mode == NN_INFER) {
        err_set("backward after an inference-only forward (nothing was kept for it)");
        return -1;
    }
    int n = b->conv[0].N;
    float *g = b->g_small, *h = b->g_big;
    /* classifier: dlogits -> d(drop_out) -> d(fc1_out) -> d(gap_out) */
    linear_backward(ctx, &b->fc2, b->drop_out, params_data(t, b->pf2w), dlogits, g, params_grad(t, b->pf2w),
                    params_grad(t, b->pf2b));
    dropout_backward(ctx, &b->drop, g, b->drop_mask, g);
    relu_backward(ctx, (size_t)n * HIDDEN, g, b->fc1_out, g);
    linear_backward(ctx, &b->fc1, b->gap_out, params_data(t, b->pf1w), g, h, params_grad(t, b->pf1w),
                    params_grad(t, b->pf1b));
    if (m->frozen_backbone) return 0;
    global_avgpool_backward(ctx, &b->gap, h, g);
    for (int i = BLOCKS - 1; i >= 0; i--) {
        /* g holds d(pooled[i]); max-pooling sends each gradient to its window's argmax, and BN's backward
         * (bn[i].act = ReLU) applies ReLU's from the pre-activation it recomputes, so the block's ReLU
         * output need not be kept. */
        if (b->bn_mode == NN_TRAIN && !b->hk[i].type) { /* the pool's gradient remade inside BN's passes on the CPU (nn/bnpool.h) */
            if (maxpool_bn_backward_train(ctx, &b->pool[i], &b->bn[i], g, b->argmax[i], b->conv_out[i],
                                          params_data(t, b->pbw[i]), params_data(t, b->pb[i]), b->mean[i], b->invstd[i], h,
                                          params_grad(t, b->pbw[i]), params_grad(t, b->pb[i])) < 0)
                return -1;
        } else {
            maxpool2d_backward(ctx, &b->pool[i], g, b->argmax[i], h);
            if (halfkeep_bn_backward(ctx, &b->hk[i], b->bn_mode == NN_TRAIN, &b->bn[i], h, 0, b->conv_out[i],
                                     params_data(t, b->pbw[i]), params_data(t, b->pb[i]), b->mean[i], b->invstd[i],
                                     params_grad(t, b->pbw[i]), params_grad(t, b->pb[i])) < 0)
                return -1;
        }
        const float *in = i ? b->pooled[i - 1] : b->x;
        if (halfkeep_conv_backward(ctx, &b->hk[i], &b->conv[i], in, NULL, params_data(t, b->pw[i]), h, b->conv_out[i],
                                   i ? g : NULL, 0, params_grad(t, b->pw[i])) < 0)
            return -1;
    }
    return 0;
}

static void baseline_init(Model *m, uint64_t seed) {
    Baseline *b = m->impl;
    ParamTable *t = &m->params;
    Rng r;
    rng_derive(&r, seed, 0x1417);
    set_batch_shapes(m, b, 1);
    for (int i = 0; i < BLOCKS; i++) {
        conv2d_init_default(&r, &b->conv[i], params_data(t, b->pw[i]), NULL);
        for (int k = 0; k < WIDTH[i]; k++) {
            params_data(t, b->pbw[i])[k] = 1;
            params_data(t, b->pb[i])[k] = 0;
            params_data(t, b->prm[i])[k] = 0;
            params_data(t, b->prv[i])[k] = 1;
        }
        params_data(t, b->pnb[i])[0] = 0;
    }
    linear_init_default(&r, &b->fc1, params_data(t, b->pf1w), params_data(t, b->pf1b));
    linear_init_default(&r, &b->fc2, params_data(t, b->pf2w), params_data(t, b->pf2b));
    m->dropout_seed = seed ^ 0xd20b0u;
}

static void baseline_destroy(Model *m) {
    Baseline *b = m->impl;
    if (b) free_buffers(b);
    free(b);
    m->impl = NULL;
}

int baseline_create(Model *m) {
    int h = m->in_h, w = m->in_w;
    for (int i = 0; i < BLOCKS; i++) {
        h /= 2;
        w /= 2;
    }
    if (h < 1 || w < 1) {
        err_set("input %dx%d is too small for the baseline's four 2x2 poolings (at least 16x16)", m->in_h, m->in_w);
        return -1;
    }
    Baseline *b = calloc(1, sizeof *b);
    if (!b) {
        err_set("out of memory");
        return -1;
    }
    m->impl = b;
    m->cuda_ready = 1; /* device-agnostic: see the top of this file */
    m->dropout = DROPOUT;
    m->forward = baseline_forward;
    m->backward = baseline_backward;
    m->init = baseline_init;
    m->destroy = baseline_destroy;
    ParamTable *t = &m->params;
    int c = m->in_c, ok = 1;
    char name[PARAM_NAME_MAX];
    for (int i = 0; i < BLOCKS; i++) {
        int64_t ws[4] = {WIDTH[i], c, 3, 3}, vs[1] = {WIDTH[i]};
        snprintf(name, sizeof name, "features.%d.weight", 4 * i);
        ok &= (b->pw[i] = params_add(t, name, PARAM_WEIGHT, 4, ws)) >= 0;
        snprintf(name, sizeof name, "features.%d.weight", 4 * i + 1);
        ok &= (b->pbw[i] = params_add(t, name, PARAM_WEIGHT, 1, vs)) >= 0;
        snprintf(name, sizeof name, "features.%d.bias", 4 * i + 1);
        ok &= (b->pb[i] = params_add(t, name, PARAM_WEIGHT, 1, vs)) >= 0;
        snprintf(name, sizeof name, "features.%d.running_mean", 4 * i + 1);
        ok &= (b->prm[i] = params_add(t, name, PARAM_BUFFER, 1, vs)) >= 0;
        snprintf(name, sizeof name, "features.%d.running_var", 4 * i + 1);
        ok &= (b->prv[i] = params_add(t, name, PARAM_BUFFER, 1, vs)) >= 0;
        snprintf(name, sizeof name, "features.%d.num_batches_tracked", 4 * i + 1);
        ok &= (b->pnb[i] = params_add(t, name, PARAM_COUNT, 0, vs)) >= 0;
        c = WIDTH[i];
    }
    int64_t f1w[2] = {HIDDEN, c}, f1b[1] = {HIDDEN}, f2w[2] = {m->n_classes, HIDDEN}, f2b[1] = {m->n_classes};
    ok &= (b->pf1w = params_add(t, "classifier.0.weight", PARAM_WEIGHT, 2, f1w)) >= 0;
    ok &= (b->pf1b = params_add(t, "classifier.0.bias", PARAM_WEIGHT, 1, f1b)) >= 0;
    ok &= (b->pf2w = params_add(t, "classifier.3.weight", PARAM_WEIGHT, 2, f2w)) >= 0;
    ok &= (b->pf2b = params_add(t, "classifier.3.bias", PARAM_WEIGHT, 1, f2b)) >= 0;
    if (!ok || params_alloc(t) < 0) return -1;
    return 0;
}
