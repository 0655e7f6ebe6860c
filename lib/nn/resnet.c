/* ResNet-18/34/50/101/152, structurally identical to torchvision.models.resnetNN (v1.5: a bottleneck's
 * stride sits on its 3x3 convolution), with torchvision's parameter names and initialisation:
 *
 *   conv1 7x7/2 (3 or 1 input channels) - bn1 - ReLU - maxpool 3x3/2 pad 1
 *   layer1..layer4: blocks of planes 64, 128, 256, 512, strides 1, 2, 2, 2
 *     basic (18, 34):      conv1 3x3/s - bn1 - ReLU - conv2 3x3 - bn2 (+ shortcut) - ReLU
 *     bottleneck (50+):    conv1 1x1 - bn1 - ReLU - conv2 3x3/s - bn2 - ReLU - conv3 1x1 (4x) - bn3
 *                          (+ shortcut) - ReLU
 *     shortcut: identity, or downsample.0 conv 1x1/s - downsample.1 BN when the shape changes
 *   avgpool (global) - fc Linear(512 * expansion, n_classes)
 *
 * Buffers: every unit keeps its convolution output (BN's backward input) and each block its output
 * (after the final ReLU: the next block's input and this ReLU's mask); the first unit of a block keeps
 * its own output (the second convolution's input). Backward runs through four gradient buffers as
 * large as the largest activation, reused block after block.
 *
 * Runs on either device, as baseline.c: every buffer comes from nn_alloc of the context that runs the
 * forward (reallocated when the device changes), every computation is a layer call with a CUDA twin
 * (convbn.c's units, pooling, the residual add and its backward's copy, linear); x, logits, dlogits and
 * the parameter table must then be in that device's memory. */
#include "nn/activation.h"
#include "nn/convbn.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "nn/pool.h"

#include "core/error.h"
#include "core/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int has_ds, nunits;
    ConvBn u[3], ds;
    float *mid[2];   /* outputs of u[0] and u[1] (bottleneck) kept for backward */
    float *ds_out;   /* the downsample branch's output */
    float *out;      /* the block's output */
    int in_h, in_w; /* the block's input size (the identity shortcut's gradient) */
} Block;

typedef struct {
    int n, frozen;
    NnMode mode; /* of the last forward */
    const float *x;
    ConvBn stem;
    float *stem_out, *pooled;
    int32_t *argmax;
    Pool2dShape pool;
    Block *b;
    int nblocks;
    GlobalPoolShape gap;
    LinearShape fc;
    int pfw, pfb, feat;
    float *gap_out, *g_small, *g[4];
    size_t gbig;
    NnDevice dev; /* where the buffers are (nn_alloc of the context that ran the forward) */
} ResNet;

static int set_batch(Model *m, ResNet *r, int n) {
    int h, w;
    if (convbn_set_batch(&r->stem, n, m->in_h, m->in_w, &h, &w) < 0) return -1;
    r->pool = (Pool2dShape){.N = n, .C = 64, .H = h, .W = w, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                            .pad_h = 1, .pad_w = 1};
    if (pool2d_shape_init(&r->pool) < 0) return -1;
    h = r->pool.OH;
    w = r->pool.OW;
    for (int i = 0; i < r->nblocks; i++) {
        Block *b = &r->b[i];
        b->in_h = h;
        b->in_w = w;
        int oh = h, ow = w;
        for (int j = 0; j < b->nunits; j++)
            if (convbn_set_batch(&b->u[j], n, oh, ow, &oh, &ow) < 0) return -1;
        int dh, dw; /* the downsample's output: the main path's (oh, ow) */
        if (b->has_ds && convbn_set_batch(&b->ds, n, h, w, &dh, &dw) < 0) return -1;
        h = oh;
        w = ow;
    }
    r->gap = (GlobalPoolShape){.N = n, .C = r->feat, .H = h, .W = w};
    r->fc = (LinearShape){.N = n, .in = r->feat, .out = m->n_classes};
    return 0;
}

static void free_buffers(ResNet *r) {
    NnDevice d = r->dev;
    convbn_free(&r->stem);
    nn_free_on(d, r->stem_out);
    nn_free_on(d, r->pooled);
    nn_free_on(d, r->argmax);
    r->stem_out = r->pooled = NULL;
    r->argmax = NULL;
    for (int i = 0; i < r->nblocks; i++) {
        Block *b = &r->b[i];
        for (int j = 0; j < b->nunits; j++) convbn_free(&b->u[j]);
        convbn_free(&b->ds);
        nn_free_on(d, b->mid[0]);
        nn_free_on(d, b->mid[1]);
        nn_free_on(d, b->ds_out);
        nn_free_on(d, b->out);
        b->mid[0] = b->mid[1] = b->ds_out = b->out = NULL;
    }
    nn_free_on(d, r->gap_out);
    nn_free_on(d, r->g_small);
    r->gap_out = r->g_small = NULL;
    for (int i = 0; i < 4; i++) {
        nn_free_on(d, r->g[i]);
        r->g[i] = NULL;
    }
    r->n = 0;
}

/* Buffers for a batch of n in ctx's memory (nn_alloc: the GPU's under NN_CUDA), reallocated when the
 * batch grows or the device changes. */
static int ensure_batch(Model *m, ResNet *r, NnCtx *ctx, int n) {
    if (n <= r->n && r->dev == ctx->device) return set_batch(m, r, n);
    free_buffers(r);
    r->dev = ctx->device;
    if (set_batch(m, r, n) < 0) return -1;
    size_t big = convbn_out_numel(&r->stem), pooled = (size_t)n * 64 * r->pool.OH * r->pool.OW;
    int ok = convbn_alloc(ctx, &r->stem, big) == 0;
    ok &= !!(r->stem_out = nn_alloc(ctx, sizeof(float) * big));
    ok &= !!(r->pooled = nn_alloc(ctx, sizeof(float) * pooled));
    ok &= !!(r->argmax = nn_alloc(ctx, sizeof(int32_t) * pooled));
    for (int i = 0; ok && i < r->nblocks; i++) {
        Block *b = &r->b[i];
        for (int j = 0; j < b->nunits; j++) {
            size_t e = convbn_out_numel(&b->u[j]);
            big = e > big ? e : big;
            ok &= convbn_alloc(ctx, &b->u[j], e) == 0;
            if (j < b->nunits - 1) ok &= !!(b->mid[j] = nn_alloc(ctx, sizeof(float) * e));
        }
        size_t e = convbn_out_numel(&b->u[b->nunits - 1]);
        ok &= !!(b->out = nn_alloc(ctx, sizeof(float) * e));
        if (b->has_ds) {
            ok &= convbn_alloc(ctx, &b->ds, e) == 0;
            ok &= !!(b->ds_out = nn_alloc(ctx, sizeof(float) * e));
        }
    }
    ok &= !!(r->gap_out = nn_alloc(ctx, sizeof(float) * (size_t)n * r->feat));
    ok &= !!(r->g_small = nn_alloc(ctx, sizeof(float) * (size_t)n * r->feat));
    r->gbig = big; /* the gradient buffers' size: the first backward allocates them */
    if (!ok) {
        free_buffers(r);
        err_set("out of memory for a batch of %d", n);
        return -1;
    }
    r->n = n;
    return 0;
}

/* NN_INFER: every block in epilogues (the last unit adds the shortcut and applies ReLU), its tensors in
 * the four rotating buffers (the gradient buffers: the same memory a backward uses). */
static int resnet_infer(ResNet *r, NnCtx *ctx, ParamTable *t, const float *x, float *logits) {
    float **g = r->g;
    if (convbn_grad_buffers(ctx, g, 4, r->gbig) < 0) return -1;
    if (convbn_forward_infer(ctx, &r->stem, t, x, NULL, NULL, ACT_NONE, NULL, g[0]) < 0) return -1;
    maxpool2d_forward(ctx, &r->pool, g[0], g[1], r->argmax);
    const float *in = g[1];
    for (int i = 0; i < r->nblocks; i++) {
        Block *b = &r->b[i];
        const float *sc = in, *uin = in;
        if (b->has_ds) {
            float *d = convbn_pick_buffer(g, 4, in, NULL, NULL);
            if (convbn_forward_infer(ctx, &b->ds, t, in, NULL, NULL, ACT_NONE, NULL, d) < 0) return -1;
            sc = d;
        }
        int last = b->nunits - 1;
        for (int j = 0; j < last; j++) {
            float *o = convbn_pick_buffer(g, 4, in, sc, uin);
            if (convbn_forward_infer(ctx, &b->u[j], t, uin, NULL, NULL, ACT_NONE, NULL, o) < 0) return -1;
            uin = o;
        }
        float *out = convbn_pick_buffer(g, 4, uin, sc, NULL);
        if (convbn_forward_infer(ctx, &b->u[last], t, uin, NULL, sc, ACT_RELU, NULL, out) < 0) return -1;
        in = out;
    }
    global_avgpool_forward(ctx, &r->gap, in, r->gap_out);
    linear_forward(ctx, &r->fc, r->gap_out, params_data(t, r->pfw), params_data(t, r->pfb), logits);
    return 0;
}

static int resnet_forward(Model *m, NnCtx *ctx, const float *x, int n, NnMode mode, uint64_t stream, float *logits) {
    (void)stream;
    ResNet *r = m->impl;
    ParamTable *t = &m->params;
    if (ensure_batch(m, r, ctx, n) < 0) return -1;
    r->x = x;
    r->mode = mode;
    int fz = r->frozen = m->frozen_backbone;
    NnMode bm = fz ? NN_INFER : mode; /* a frozen backbone: eval mode, and backward stops at the head */
    if (bm == NN_INFER) return resnet_infer(r, ctx, t, x, logits);
    if (convbn_forward(ctx, &r->stem, t, x, bm, r->stem_out) < 0) return -1;
    maxpool2d_forward(ctx, &r->pool, r->stem_out, r->pooled, r->argmax);
    const float *in = r->pooled;
    for (int i = 0; i < r->nblocks; i++) {
        Block *b = &r->b[i];
        const float *sc = in;
        if (b->has_ds) {
            if (convbn_forward(ctx, &b->ds, t, in, bm, b->ds_out) < 0) return -1;
            sc = b->ds_out;
        }
        const float *uin = in;
        int last = b->nunits - 1;
        for (int j = 0; j < last; j++) {
            if (convbn_forward(ctx, &b->u[j], t, uin, bm, b->mid[j]) < 0) return -1;
            uin = b->mid[j];
        }
        if (convbn_forward(ctx, &b->u[last], t, uin, bm, b->out) < 0) return -1;
        residual_add_relu_forward(ctx, convbn_out_numel(&b->u[last]), b->out, sc, b->out);
        in = b->out;
    }
    global_avgpool_forward(ctx, &r->gap, in, r->gap_out);
    linear_forward(ctx, &r->fc, r->gap_out, params_data(t, r->pfw), params_data(t, r->pfb), logits);
    return 0;
}

static int resnet_backward(Model *m, NnCtx *ctx, const float *dlogits) {
    ResNet *r = m->impl;
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
    linear_backward(ctx, &r->fc, r->gap_out, params_data(t, r->pfw), dlogits, fz ? NULL : r->g_small,
                    params_grad(t, r->pfw), params_grad(t, r->pfb));
    if (fz) return 0; /* the backbone is frozen: nothing below the head needs a gradient */
    if (convbn_grad_buffers(ctx, r->g, 4, r->gbig) < 0) return -1;
    float *G = r->g[0], *A = r->g[1], *B = r->g[2], *C = r->g[3];
    global_avgpool_backward(ctx, &r->gap, r->g_small, G);
    for (int i = r->nblocks - 1; i >= 0; i--) {
        Block *b = &r->b[i];
        const float *in = i ? r->b[i - 1].out : r->pooled;
        size_t e = convbn_out_numel(&b->u[b->nunits - 1]);
        size_t ein = (size_t)b->u[0].conv.N * b->u[0].conv.C * b->in_h * b->in_w;
        relu_backward(ctx, e, G, b->out, G);
        /* shortcut gradient into B (the gradient of the block's input) */
        if (b->has_ds) { /* the residual add's backward: the gradient copied into the shortcut branch */
            residual_add_backward(ctx, e, G, A, NULL);
            if (convbn_backward(ctx, &b->ds, t, in, b->ds_out, A, B, 0) < 0) return -1;
        } else {
            residual_add_backward(ctx, ein, G, B, NULL);
        }
        /* main path, last unit first: G -> A -> G (-> C) */
        /* (between units both handing over halves, AMP on a GPU, the gradient stays in halves: convbn_backward_halves) */
        float *dout = G, *spare = A;
        int dout_half = 0;
        for (int j = b->nunits - 1; j >= 0; j--) {
            const float *uin = j ? b->mid[j - 1] : in;
            float *dx = j ? spare : C;
            int dx_half = j && convbn_halves(&b->u[j]) && convbn_halves(&b->u[j - 1]);
            if (convbn_backward_halves(ctx, &b->u[j], t, uin, NULL, dout, dout_half, dx, dx_half, 0) < 0) return -1;
            spare = dout;
            dout = dx;
            dout_half = dx_half;
        }
        grad_accumulate(ctx, ein, C, B);
        float *nG = B; /* the next (earlier) block's output gradient */
        B = G;
        G = nG;
    }
    maxpool2d_backward(ctx, &r->pool, G, r->argmax, A);
    return convbn_backward(ctx, &r->stem, t, r->x, r->stem_out, A, NULL, 0);
}

static void resnet_init(Model *m, uint64_t seed) {
    ResNet *r = m->impl;
    ParamTable *t = &m->params;
    Rng g;
    rng_derive(&g, seed, 0x7e5e7);
    /* kaiming_normal_ of the three-channel stem when it is repeated (its shape is what torchvision has) */
    convbn_init(&r->stem, t, &g);
    for (int i = 0; i < r->nblocks; i++) {
        Block *b = &r->b[i];
        for (int j = 0; j < b->nunits; j++) convbn_init(&b->u[j], t, &g);
        if (b->has_ds) convbn_init(&b->ds, t, &g);
    }
    linear_init_default(&g, &r->fc, params_data(t, r->pfw), params_data(t, r->pfb));
}

static void resnet_destroy(Model *m) {
    ResNet *r = m->impl;
    if (r) {
        free_buffers(r);
        convbn_destroy(&r->stem);
        free(r->b);
    }
    free(r);
    m->impl = NULL;
}

int resnet_create(Model *m) {
    static const int LAYERS[][4] = {{2, 2, 2, 2}, {3, 4, 6, 3}, {3, 4, 6, 3}, {3, 4, 23, 3}, {3, 8, 36, 3}};
    static const char *NAMES[] = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"};
    int v = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(m->arch, NAMES[i]) == 0) v = i;
    if (v < 0) {
        err_set("unknown architecture '%s' (known: %s)", m->arch, model_architectures());
        return -1;
    }
    ResNet *r = calloc(1, sizeof *r);
    if (!r) {
        err_set("out of memory");
        return -1;
    }
    m->impl = r;
    m->head_prefix = "fc.";
    m->cuda_ready = 1; /* one file for both devices (see the top) */
    m->dropout = 0;
    m->forward = resnet_forward;
    m->backward = resnet_backward;
    m->init = resnet_init;
    m->destroy = resnet_destroy;
    int bottleneck = v >= 2, expansion = bottleneck ? 4 : 1;
    for (int l = 0; l < 4; l++) r->nblocks += LAYERS[v][l];
    r->b = calloc((size_t)r->nblocks, sizeof *r->b);
    if (!r->b) {
        err_set("out of memory");
        return -1;
    }
    ParamTable *t = &m->params;
    int ok = convbn_register(&r->stem, t, "conv1", "bn1", m->stem_repeat ? 3 : m->in_c, 64, 7, 2, 3, 1, ACT_RELU, 1e-5,
                             0.1) == 0;
    if (ok && m->stem_repeat) ok &= convbn_set_repeat(&r->stem, m->in_norm ? MODEL_IMAGENET_MEAN : NULL, MODEL_IMAGENET_STD) == 0;
    int inplanes = 64, bi = 0;
    char cn[PARAM_NAME_MAX], bn[PARAM_NAME_MAX];
    for (int l = 0; ok && l < 4; l++) {
        int planes = 64 << l;
        for (int k = 0; k < LAYERS[v][l]; k++, bi++) {
            Block *b = &r->b[bi];
            int stride = (k == 0 && l > 0) ? 2 : 1;
            b->nunits = bottleneck ? 3 : 2;
            for (int j = 0; j < b->nunits; j++) {
                int cin = j == 0 ? inplanes : planes, cout = j == b->nunits - 1 ? planes * expansion : planes;
                int ks = bottleneck && j != 1 ? 1 : 3;
                int s = (bottleneck ? j == 1 : j == 0) ? stride : 1;
                ActKind act = j == b->nunits - 1 ? ACT_NONE : ACT_RELU;
                snprintf(cn, sizeof cn, "layer%d.%d.conv%d", l + 1, k, j + 1);
                snprintf(bn, sizeof bn, "layer%d.%d.bn%d", l + 1, k, j + 1);
                ok &= convbn_register(&b->u[j], t, cn, bn, cin, cout, ks, s, ks / 2, 1, act, 1e-5, 0.1) == 0;
            }
            if (stride != 1 || inplanes != planes * expansion) {
                b->has_ds = 1;
                snprintf(cn, sizeof cn, "layer%d.%d.downsample.0", l + 1, k);
                snprintf(bn, sizeof bn, "layer%d.%d.downsample.1", l + 1, k);
                ok &= convbn_register(&b->ds, t, cn, bn, inplanes, planes * expansion, 1, stride, 0, 1, ACT_NONE, 1e-5,
                                      0.1) == 0;
            }
            inplanes = planes * expansion;
        }
    }
    r->feat = inplanes;
    int64_t fw[2] = {m->n_classes, inplanes}, fb[1] = {m->n_classes};
    ok &= (r->pfw = params_add(t, "fc.weight", PARAM_WEIGHT, 2, fw)) >= 0;
    ok &= (r->pfb = params_add(t, "fc.bias", PARAM_WEIGHT, 1, fb)) >= 0;
    if (!ok || params_alloc(t) < 0) return -1;
    if (set_batch(m, r, 1) < 0) return -1;
    return 0;
}
