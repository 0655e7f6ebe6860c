/* EfficientNet-B0..B7, structurally identical to torchvision.models.efficientnet_bN, with
 * torchvision's parameter names and initialisation:
 *
 *   features.0            Conv 3x3/2 (3 or 1 input channels) - BN - SiLU
 *   features.1..7         stages of MBConv blocks (B0: expand ratio, kernel, stride, in, out, blocks:
 *                         1,3,1,32,16,1  6,3,2,16,24,2  6,5,2,24,40,2  6,3,2,40,80,3  6,5,1,80,112,3
 *                         6,5,2,112,192,4  6,3,1,192,320,1; B1..B7 scale channels (to multiples of 8)
 *                         and block counts (rounded up) by torchvision's width/depth factors)
 *     MBConv  block.0     expand Conv 1x1 - BN - SiLU (only when the expand ratio is not 1)
 *             block.1     depthwise Conv kxk/s - BN - SiLU
 *             block.2     squeeze-and-excitation (fc1, fc2: 1x1 convs with bias; squeeze = in/4, SiLU)
 *             block.3     project Conv 1x1 - BN (no activation)
 *             (+ input, through stochastic depth "row" with p = 0.2 * block index / blocks, when the
 *              stride is 1 and in == out)
 *   features.8            Conv 1x1 to 4 x the last stage's channels - BN - SiLU
 *   avgpool (global) - classifier.0 Dropout(p) - classifier.1 Linear
 * BN: eps 1e-5, momentum 0.1 (B5..B7: eps 1e-3, momentum 0.01), as torchvision.
 *
 * Buffers: each unit keeps its convolution output; each block keeps its expanded and depthwise
 * activations, the SE output and caches, the drop-path mask and its output. Backward runs through
 * four gradient buffers as large as the largest activation.
 *
 * Runs on either device, as baseline.c: every buffer comes from nn_alloc of the context that runs the
 * forward (reallocated when the device changes), every computation is a layer call with a CUDA twin
 * (convbn.c's units, the depthwise convolution as a grouped one, se.c, drop path, the residual add and
 * its backward's copy, pooling, dropout, linear); x, logits, dlogits and the parameter table must then be
 * in that device's memory. */
#include "nn/activation.h"
#include "nn/convbn.h"
#include "nn/dropout.h"
#include "nn/gemm.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "nn/pool.h"
#include "nn/se.h"

#include "core/error.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int has_expand, use_res, exp_c, out_c, sq;
    ConvBn expand, dw, project;
    SEShape se;
    int pw1, pb1, pw2, pb2;          /* SE parameters */
    float *e, *d, *s;                /* expanded, depthwise and SE outputs (s only where the projection
                                      * cannot scale its input as it reads it: scaled_projection) */
    int scaled;                      /* the last forward's projection scaled its input (its backward does) */
    float *pooled, *h, *a, *sc;      /* SE caches */
    float *out;                      /* the block's output */
    uint8_t *mask;                   /* drop-path mask (one per sample) */
    DropPathShape dp;
    float sd_frac;                   /* block index / blocks: drop-path rate = stochastic_depth * sd_frac */
} MBConv;

typedef struct {
    int n, frozen;
    NnMode mode; /* of the last forward */
    const float *x;
    ConvBn stem, head;
    float *stem_out, *head_out;
    MBConv *b;
    int nblocks;
    GlobalPoolShape gap;
    DropoutShape drop;
    LinearShape fc;
    int pfw, pfb, feat;
    float *gap_out, *drop_out, *g_small, *g[4];
    size_t gbig;
    uint8_t *drop_mask;
    NnDevice dev; /* where the buffers are (nn_alloc of the context that ran the forward) */
} EffNet;

static int set_batch(Model *m, EffNet *r, int n) {
    int h, w;
    if (convbn_set_batch(&r->stem, n, m->in_h, m->in_w, &h, &w) < 0) return -1;
    for (int i = 0; i < r->nblocks; i++) {
        MBConv *b = &r->b[i];
        if (b->has_expand && convbn_set_batch(&b->expand, n, h, w, &h, &w) < 0) return -1;
        if (convbn_set_batch(&b->dw, n, h, w, &h, &w) < 0) return -1;
        b->se = (SEShape){.N = n, .C = b->exp_c, .H = h, .W = w, .R = b->sq, .silu = 1};
        if (convbn_set_batch(&b->project, n, h, w, &h, &w) < 0) return -1;
        b->dp = (DropPathShape){.N = n, .per_sample = (size_t)b->out_c * h * w, .p = m->stochastic_depth * b->sd_frac, .training = 1,
                                .mode = DROP_PATH_ROW};
    }
    if (convbn_set_batch(&r->head, n, h, w, &h, &w) < 0) return -1;
    r->gap = (GlobalPoolShape){.N = n, .C = r->feat, .H = h, .W = w};
    r->drop = (DropoutShape){.n = (size_t)n * r->feat, .p = m->dropout, .training = 1};
    r->fc = (LinearShape){.N = n, .in = r->feat, .out = m->n_classes};
    return 0;
}

static void free_buffers(EffNet *r) {
    NnDevice d = r->dev;
    convbn_free(&r->stem);
    convbn_free(&r->head);
    nn_free_on(d, r->stem_out);
    nn_free_on(d, r->head_out);
    r->stem_out = r->head_out = NULL;
    for (int i = 0; i < r->nblocks; i++) {
        MBConv *b = &r->b[i];
        convbn_free(&b->expand);
        convbn_free(&b->dw);
        convbn_free(&b->project);
        float **p[] = {&b->e, &b->d, &b->s, &b->pooled, &b->h, &b->a, &b->sc, &b->out};
        for (size_t j = 0; j < sizeof p / sizeof *p; j++) {
            nn_free_on(d, *p[j]);
            *p[j] = NULL;
        }
        nn_free_on(d, b->mask);
        b->mask = NULL;
    }
    nn_free_on(d, r->gap_out);
    nn_free_on(d, r->drop_out);
    nn_free_on(d, r->g_small);
    nn_free_on(d, r->drop_mask);
    r->gap_out = r->drop_out = r->g_small = NULL;
    r->drop_mask = NULL;
    for (int i = 0; i < 4; i++) {
        nn_free_on(d, r->g[i]);
        r->g[i] = NULL;
    }
    r->n = 0;
}

/* 1 when the projection reads the depthwise output scaled by SE's excitation as its GEMM packs it (on a GPU
 * under AMP: as it casts it to half), in training too (its weight gradient takes the same scaled values): SE's
 * output is then never stored (12% less memory for effnet_b0's training on the CPU, 2% faster; on the GPU
 * one pass over the expanded tensor fewer, 8 bytes per element). With OpenBLAS's GEMM the scaled values would
 * go to it in blocks of 32 rows: the separate scaling is faster there, and keeps its bits. */
static int scaled_projection(const NnCtx *ctx, const MBConv *b) {
    return conv2d_in_scale_supported(ctx, &b->project.conv) &&
           (ctx->device != NN_CPU || strcmp(gemm_kernel_name(), "openblas") != 0);
}

/* SE's output buffer, where the projection does not scale its input itself: allocated here when the buffers
 * were made for a scaled projection (a context whose AMP mode changed since), for the largest batch. */
static float *se_out(NnCtx *ctx, EffNet *r, MBConv *b) {
    if (!b->s) {
        size_t per = convbn_out_numel(&b->dw) / (size_t)b->dw.conv.N;
        if (!(b->s = nn_alloc(ctx, sizeof(float) * per * (size_t)r->n)))
            err_set("out of memory for squeeze-and-excitation's output (%zu floats)", per * (size_t)r->n);
    }
    return b->s;
}

#define ALLOC(p, count) (ok &= !!((p) = nn_alloc(ctx, sizeof *(p) * (size_t)(count))))

/* Buffers for a batch of n in ctx's memory (nn_alloc: the GPU's under NN_CUDA), reallocated when the
 * batch grows or the device changes. */
static int ensure_batch(Model *m, EffNet *r, NnCtx *ctx, int n) {
    if (n <= r->n && r->dev == ctx->device) return set_batch(m, r, n);
    free_buffers(r);
    r->dev = ctx->device;
    if (set_batch(m, r, n) < 0) return -1;
    size_t big = convbn_out_numel(&r->stem);
    int ok = convbn_alloc(ctx, &r->stem, big) == 0;
    ALLOC(r->stem_out, big);
    for (int i = 0; ok && i < r->nblocks; i++) {
        MBConv *b = &r->b[i];
        if (b->has_expand) {
            size_t e = convbn_out_numel(&b->expand);
            big = e > big ? e : big;
            ok &= convbn_alloc(ctx, &b->expand, e) == 0;
            ALLOC(b->e, e);
        }
        size_t d = convbn_out_numel(&b->dw), o = convbn_out_numel(&b->project);
        big = d > big ? d : big;
        big = o > big ? o : big;
        ok &= convbn_alloc(ctx, &b->dw, d) == 0;
        ok &= convbn_alloc(ctx, &b->project, o) == 0;
        ALLOC(b->d, d);
        if (!scaled_projection(ctx, b)) ALLOC(b->s, d);
        ALLOC(b->out, o);
        ALLOC(b->pooled, (size_t)n * b->exp_c);
        ALLOC(b->sc, (size_t)n * b->exp_c);
        ALLOC(b->h, (size_t)n * b->sq);
        ALLOC(b->a, (size_t)n * b->sq);
        ALLOC(b->mask, n);
    }
    size_t hd = convbn_out_numel(&r->head);
    big = hd > big ? hd : big;
    ok &= ok && convbn_alloc(ctx, &r->head, hd) == 0;
    ALLOC(r->head_out, hd);
    ALLOC(r->gap_out, (size_t)n * r->feat);
    ALLOC(r->drop_out, (size_t)n * r->feat);
    ALLOC(r->g_small, (size_t)n * r->feat);
    ALLOC(r->drop_mask, (size_t)n * r->feat);
    r->gbig = big; /* the gradient buffers' size: the first backward allocates them */
    if (!ok) {
        free_buffers(r);
        err_set("out of memory for a batch of %d", n);
        return -1;
    }
    r->n = n;
    return 0;
}

static uint64_t block_seed(const Model *m, int i) { return m->dropout_seed ^ (0x5d9a7ull * (uint64_t)(i + 1)); }

/* One MBConv block in NN_INFER, from in into one of the rotating buffers g (returned): the depthwise
 * unit's epilogue gives SE its squeeze (the plane means), the projection's GEMM scales the depthwise
 * output by the excitation as it packs it (elsewhere: se_scale in place first), and its epilogue adds the
 * residual (drop-path is the identity in eval mode). Same bits as the NN_EVAL_GRAD path. */
static float *mbconv_infer(NnCtx *ctx, MBConv *b, ParamTable *t, const float *in, float **g) {
    const float *e = in;
    if (b->has_expand) {
        float *eb = convbn_pick_buffer(g, 4, in, NULL, NULL);
        if (convbn_forward_infer(ctx, &b->expand, t, in, NULL, NULL, ACT_NONE, NULL, eb) < 0) return NULL;
        e = eb;
    }
    float *d = convbn_pick_buffer(g, 4, in, e, NULL);
    if (convbn_forward_infer(ctx, &b->dw, t, e, NULL, NULL, ACT_NONE, b->pooled, d) < 0) return NULL;
    se_excite(ctx, &b->se, b->pooled, params_data(t, b->pw1), params_data(t, b->pb1), params_data(t, b->pw2),
              params_data(t, b->pb2), b->h, b->a, b->sc);
    /* the excitation's scaling folded into the projection's packing where its GEMM takes it */
    const float *in_scale = b->sc;
    if (!conv2d_in_scale_supported(ctx, &b->project.conv)) {
        se_scale(ctx, &b->se, d, b->sc, d);
        in_scale = NULL;
    }
    float *out = convbn_pick_buffer(g, 4, in, d, NULL);
    if (convbn_forward_infer(ctx, &b->project, t, d, in_scale, b->use_res ? in : NULL, ACT_NONE, NULL, out) < 0)
        return NULL;
    return out;
}

/* NN_INFER: the blocks above, the stem and head as single convolutions, through four rotating buffers
 * (the gradient buffers: the memory a backward uses). */
static int effnet_infer(EffNet *r, NnCtx *ctx, ParamTable *t, const float *x) {
    float **g = r->g;
    if (convbn_grad_buffers(ctx, g, 4, r->gbig) < 0) return -1;
    if (convbn_forward_infer(ctx, &r->stem, t, x, NULL, NULL, ACT_NONE, NULL, g[0]) < 0) return -1;
    const float *in = g[0];
    for (int i = 0; i < r->nblocks; i++)
        if (!(in = mbconv_infer(ctx, &r->b[i], t, in, g))) return -1;
    float *h = convbn_pick_buffer(g, 4, in, NULL, NULL);
    if (convbn_forward_infer(ctx, &r->head, t, in, NULL, NULL, ACT_NONE, NULL, h) < 0) return -1;
    global_avgpool_forward(ctx, &r->gap, h, r->gap_out);
    return 0;
}

static int effnet_backbone(NnCtx *ctx, Model *m, EffNet *r, ParamTable *t, const float *x, NnMode bm, uint64_t stream);

static int effnet_forward(Model *m, NnCtx *ctx, const float *x, int n, NnMode mode, uint64_t stream, float *logits) {
    EffNet *r = m->impl;
    ParamTable *t = &m->params;
    if (ensure_batch(m, r, ctx, n) < 0) return -1;
    r->x = x;
    r->mode = mode;
    int fz = r->frozen = m->frozen_backbone;
    NnMode bm = fz ? NN_INFER : mode; /* a frozen backbone: eval mode, and backward stops at the head */
    if (bm == NN_INFER) {
        if (effnet_infer(r, ctx, t, x) < 0) return -1;
    } else if (effnet_backbone(ctx, m, r, t, x, bm, stream) < 0) {
        return -1;
    }
    r->drop.training = mode == NN_TRAIN;
    dropout_forward(ctx, &r->drop, m->dropout_seed, stream, r->gap_out, r->drop_out, r->drop_mask);
    linear_forward(ctx, &r->fc, r->drop_out, params_data(t, r->pfw), params_data(t, r->pfb), logits);
    return 0;
}

/* The backbone's forward that keeps what backward needs (NN_TRAIN, NN_EVAL_GRAD), into r->gap_out. */
static int effnet_backbone(NnCtx *ctx, Model *m, EffNet *r, ParamTable *t, const float *x, NnMode bm, uint64_t stream) {
    if (convbn_forward(ctx, &r->stem, t, x, bm, r->stem_out) < 0) return -1;
    const float *in = r->stem_out;
    for (int i = 0; i < r->nblocks; i++) {
        MBConv *b = &r->b[i];
        const float *e = in;
        if (b->has_expand) {
            if (convbn_forward(ctx, &b->expand, t, in, bm, b->e) < 0) return -1;
            e = b->e;
        }
        if (convbn_forward(ctx, &b->dw, t, e, bm, b->d) < 0) return -1;
        if ((b->scaled = scaled_projection(ctx, b))) { /* SE's squeeze and excitation; the scaling in the projection */
            se_squeeze_excite(ctx, &b->se, b->d, params_data(t, b->pw1), params_data(t, b->pb1),
                              params_data(t, b->pw2), params_data(t, b->pb2), b->pooled, b->h, b->a, b->sc);
            if (convbn_forward_in_scale(ctx, &b->project, t, b->d, b->sc, bm, b->out) < 0) return -1;
        } else {
            if (!se_out(ctx, r, b)) return -1;
            se_forward(ctx, &b->se, b->d, params_data(t, b->pw1), params_data(t, b->pb1), params_data(t, b->pw2),
                       params_data(t, b->pb2), b->s, b->pooled, b->h, b->a, b->sc);
            if (convbn_forward(ctx, &b->project, t, b->s, bm, b->out) < 0) return -1;
        }
        if (b->use_res) {
            b->dp.training = bm == NN_TRAIN;
            drop_path_forward(ctx, &b->dp, block_seed(m, i), stream, b->out, b->out, b->mask);
            residual_add_forward(ctx, convbn_out_numel(&b->project), b->out, in, b->out);
        }
        in = b->out;
    }
    if (convbn_forward(ctx, &r->head, t, in, bm, r->head_out) < 0) return -1;
    global_avgpool_forward(ctx, &r->gap, r->head_out, r->gap_out);
    return 0;
}

static int effnet_backward(Model *m, NnCtx *ctx, const float *dlogits) {
    EffNet *r = m->impl;
    ParamTable *t = &m->params;
    int fz = r->frozen;
    if (r->mode == NN_INFER) {
        err_set("backward after an inference-only forward (nothing was kept for it)");
        return -1;
    }
    if (ctx->device != r->dev) {
        err_set("backward on another device than its forward");
        return -1;
    }
    linear_backward(ctx, &r->fc, r->drop_out, params_data(t, r->pfw), dlogits, fz ? NULL : r->g_small,
                    params_grad(t, r->pfw), params_grad(t, r->pfb));
    if (fz) return 0; /* the backbone is frozen: nothing below the head needs a gradient */
    if (convbn_grad_buffers(ctx, r->g, 4, r->gbig) < 0) return -1;
    float *G = r->g[0], *A = r->g[1], *C = r->g[2], *R = r->g[3];
    dropout_backward(ctx, &r->drop, r->g_small, r->drop_mask, r->g_small);
    global_avgpool_backward(ctx, &r->gap, r->g_small, G);
    const float *last = r->nblocks ? r->b[r->nblocks - 1].out : r->stem_out;
    if (convbn_backward(ctx, &r->head, t, last, r->head_out, G, A, 0) < 0) return -1;
    float *tmp = G;
    G = A;
    A = tmp;
    for (int i = r->nblocks - 1; i >= 0; i--) {
        MBConv *b = &r->b[i];
        const float *in = i ? r->b[i - 1].out : r->stem_out;
        size_t o = convbn_out_numel(&b->project);
        if (b->use_res) { /* the residual's gradient goes to the input as it is (the add's backward: a copy) */
            residual_add_backward(ctx, o, G, R, NULL);
            drop_path_backward(ctx, &b->dp, G, b->mask, G);
        }
        if ((b->scaled ? convbn_backward_in_scale(ctx, &b->project, t, b->d, b->sc, b->out, G, A, 0)
                                       : convbn_backward(ctx, &b->project, t, b->s, b->out, G, A, 0)) < 0)
            return -1;
        if (se_backward(ctx, &b->se, A, b->d, params_data(t, b->pw1), params_data(t, b->pw2), b->pooled, b->h, b->a,
                        b->sc, G, params_grad(t, b->pw1), params_grad(t, b->pb1), params_grad(t, b->pw2),
                        params_grad(t, b->pb2)) < 0)
            return -1;
        if (b->has_expand) { /* (the gradient between them in halves where both hand over halves: AMP on a GPU) */
            int h = convbn_halves(&b->dw) && convbn_halves(&b->expand);
            if (convbn_backward_halves(ctx, &b->dw, t, b->e, NULL, G, 0, A, h, 0) < 0) return -1;
            if (convbn_backward_halves(ctx, &b->expand, t, in, NULL, A, h, C, 0, 0) < 0) return -1;
        } else {
            if (convbn_backward(ctx, &b->dw, t, in, b->d, G, C, 0) < 0) return -1;
        }
        if (b->use_res) {
            grad_accumulate(ctx, o, C, R); /* in == out shape */
            tmp = G;
            G = R;
            R = tmp;
        } else {
            tmp = G;
            G = C;
            C = tmp;
        }
    }
    return convbn_backward(ctx, &r->stem, t, r->x, r->stem_out, G, NULL, 0);
}

static void effnet_init(Model *m, uint64_t seed) {
    EffNet *r = m->impl;
    ParamTable *t = &m->params;
    Rng g;
    rng_derive(&g, seed, 0xeff0);
    convbn_init(&r->stem, t, &g);
    for (int i = 0; i < r->nblocks; i++) {
        MBConv *b = &r->b[i];
        if (b->has_expand) convbn_init(&b->expand, t, &g);
        convbn_init(&b->dw, t, &g);
        /* SE's 1x1 convolutions: kaiming_normal_(fan_out) weights, zero biases */
        nn_fill_normal(&g, params_data(t, b->pw1), (size_t)b->sq * b->exp_c, sqrt(2.0 / b->sq));
        memset(params_data(t, b->pb1), 0, sizeof(float) * (size_t)b->sq);
        nn_fill_normal(&g, params_data(t, b->pw2), (size_t)b->exp_c * b->sq, sqrt(2.0 / b->exp_c));
        memset(params_data(t, b->pb2), 0, sizeof(float) * (size_t)b->exp_c);
        convbn_init(&b->project, t, &g);
    }
    convbn_init(&r->head, t, &g);
    /* Linear: U(-1/sqrt(out_features), 1/sqrt(out_features)), zero bias */
    nn_fill_uniform(&g, params_data(t, r->pfw), (size_t)m->n_classes * r->feat, 1.0 / sqrt((double)m->n_classes));
    memset(params_data(t, r->pfb), 0, sizeof(float) * (size_t)m->n_classes);
    m->dropout_seed = seed ^ 0xeffd0u;
}

static void effnet_destroy(Model *m) {
    EffNet *r = m->impl;
    if (r) {
        free_buffers(r);
        convbn_destroy(&r->stem);
        free(r->b);
    }
    free(r);
    m->impl = NULL;
}

/* torchvision's _make_divisible(v, 8): the nearest multiple of 8, at least 8, not below 90% of v. */
static int make_divisible(double v) {
    int nv = (int)(v + 4) / 8 * 8;
    if (nv < 8) nv = 8;
    if (nv < 0.9 * v) nv += 8;
    return nv;
}

int efficientnet_create(Model *m) {
    static const double WIDTH[8] = {1.0, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0};
    static const double DEPTH[8] = {1.0, 1.1, 1.2, 1.4, 1.8, 2.2, 2.6, 3.1};
    static const float DROP[8] = {0.2f, 0.2f, 0.3f, 0.3f, 0.4f, 0.4f, 0.5f, 0.5f};
    static const int STAGE[7][6] = {{1, 3, 1, 32, 16, 1},   {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},
                                    {6, 3, 2, 40, 80, 3},   {6, 5, 1, 80, 112, 3},  {6, 5, 2, 112, 192, 4},
                                    {6, 3, 1, 192, 320, 1}};
    const char *a = m->arch;
    if (strlen(a) != 15 || a[14] < '0' || a[14] > '7') {
        err_set("unknown architecture '%s' (known: %s)", m->arch, model_architectures());
        return -1;
    }
    int v = a[14] - '0';
    double eps = v >= 5 ? 1e-3 : 1e-5, mom = v >= 5 ? 0.01 : 0.1;
    EffNet *r = calloc(1, sizeof *r);
    if (!r) {
        err_set("out of memory");
        return -1;
    }
    m->impl = r;
    m->head_prefix = "classifier.";
    m->cuda_ready = 1; /* one file for both devices (see the top) */
    m->dropout = DROP[v];
    m->stochastic_depth = 0.2f;
    m->forward = effnet_forward;
    m->backward = effnet_backward;
    m->init = effnet_init;
    m->destroy = effnet_destroy;
    int layers[7], total = 0;
    for (int s = 0; s < 7; s++) total += layers[s] = (int)ceil(STAGE[s][5] * DEPTH[v]);
    r->nblocks = total;
    r->b = calloc((size_t)total, sizeof *r->b);
    if (!r->b) {
        err_set("out of memory");
        return -1;
    }
    ParamTable *t = &m->params;
    int c = make_divisible(STAGE[0][3] * WIDTH[v]);
    int ok = convbn_register(&r->stem, t, "features.0.0", "features.0.1", m->stem_repeat ? 3 : m->in_c, c, 3, 2, 1, 1,
                             ACT_SILU, eps, mom) == 0;
    if (ok && m->stem_repeat) ok &= convbn_set_repeat(&r->stem, m->in_norm ? MODEL_IMAGENET_MEAN : NULL, MODEL_IMAGENET_STD) == 0;
    char cn[PARAM_NAME_MAX], bn[PARAM_NAME_MAX];
    int bi = 0;
    for (int s = 0; ok && s < 7; s++) {
        int out = make_divisible(STAGE[s][4] * WIDTH[v]), ks = STAGE[s][1];
        for (int k = 0; k < layers[s]; k++, bi++) {
            MBConv *b = &r->b[bi];
            int stride = k == 0 ? STAGE[s][2] : 1;
            b->out_c = out;
            b->exp_c = make_divisible(c * (double)STAGE[s][0]);
            b->sq = c / 4 > 1 ? c / 4 : 1;
            b->has_expand = b->exp_c != c;
            b->use_res = stride == 1 && c == out;
            b->sd_frac = (float)bi / (float)total;
            int j = 0;
            char pre[64];
            snprintf(pre, sizeof pre, "features.%d.%d.block", s + 1, k);
            if (b->has_expand) {
                snprintf(cn, sizeof cn, "%s.%d.0", pre, j);
                snprintf(bn, sizeof bn, "%s.%d.1", pre, j++);
                ok &= convbn_register(&b->expand, t, cn, bn, c, b->exp_c, 1, 1, 0, 1, ACT_SILU, eps, mom) == 0;
            }
            snprintf(cn, sizeof cn, "%s.%d.0", pre, j);
            snprintf(bn, sizeof bn, "%s.%d.1", pre, j++);
            ok &= convbn_register(&b->dw, t, cn, bn, b->exp_c, b->exp_c, ks, stride, (ks - 1) / 2, b->exp_c, ACT_SILU, eps,
                                  mom) == 0;
            int64_t w1[4] = {b->sq, b->exp_c, 1, 1}, b1[1] = {b->sq}, w2[4] = {b->exp_c, b->sq, 1, 1}, b2[1] = {b->exp_c};
            snprintf(cn, sizeof cn, "%s.%d.fc1.weight", pre, j);
            ok &= (b->pw1 = params_add(t, cn, PARAM_WEIGHT, 4, w1)) >= 0;
            snprintf(cn, sizeof cn, "%s.%d.fc1.bias", pre, j);
            ok &= (b->pb1 = params_add(t, cn, PARAM_WEIGHT, 1, b1)) >= 0;
            snprintf(cn, sizeof cn, "%s.%d.fc2.weight", pre, j);
            ok &= (b->pw2 = params_add(t, cn, PARAM_WEIGHT, 4, w2)) >= 0;
            snprintf(cn, sizeof cn, "%s.%d.fc2.bias", pre, j++);
            ok &= (b->pb2 = params_add(t, cn, PARAM_WEIGHT, 1, b2)) >= 0;
            snprintf(cn, sizeof cn, "%s.%d.0", pre, j);
            snprintf(bn, sizeof bn, "%s.%d.1", pre, j);
            ok &= convbn_register(&b->project, t, cn, bn, b->exp_c, out, 1, 1, 0, 1, ACT_NONE, eps, mom) == 0;
            c = out;
        }
    }
    r->feat = 4 * c;
    ok &= ok && convbn_register(&r->head, t, "features.8.0", "features.8.1", c, r->feat, 1, 1, 0, 1, ACT_SILU, eps,
                                mom) == 0;
    int64_t fw[2] = {m->n_classes, r->feat}, fb[1] = {m->n_classes};
    ok &= ok && (r->pfw = params_add(t, "classifier.1.weight", PARAM_WEIGHT, 2, fw)) >= 0;
    ok &= ok && (r->pfb = params_add(t, "classifier.1.bias", PARAM_WEIGHT, 1, fb)) >= 0;
    if (!ok || params_alloc(t) < 0) return -1;
    if (set_batch(m, r, 1) < 0) return -1;
    return 0;
}
