#include "nn/convbn.h"

#include "nn/activation.h"
#include "nn/stem.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int convbn_register(ConvBn *u, ParamTable *t, const char *conv_name, const char *bn_name, int c, int k, int ks,
                    int stride, int pad, int groups, ActKind act, double eps, double momentum) {
    u->conv = (Conv2dShape){.N = 1, .C = c, .H = ks, .W = ks, .K = k, .KH = ks, .KW = ks, .stride_h = stride,
                            .stride_w = stride, .pad_h = pad < 0 ? ks / 2 : pad, .pad_w = pad < 0 ? ks / 2 : pad,
                            .groups = groups};
    u->bn = batchnorm2d_shape(1, k, 1, 1);
    u->bn.eps = eps;
    u->bn.momentum = momentum;
    u->bn.act = act; /* fused into BN's output pass */
    u->act = act;
    char name[PARAM_NAME_MAX];
    int64_t ws[4] = {k, c / (groups > 0 ? groups : 1), ks, ks}, vs[1] = {k};
    int ok = 1;
    snprintf(name, sizeof name, "%s.weight", conv_name);
    ok &= (u->pw = params_add(t, name, PARAM_WEIGHT, 4, ws)) >= 0;
    snprintf(name, sizeof name, "%s.weight", bn_name);
    ok &= (u->pbw = params_add(t, name, PARAM_WEIGHT, 1, vs)) >= 0;
    snprintf(name, sizeof name, "%s.bias", bn_name);
    ok &= (u->pbb = params_add(t, name, PARAM_WEIGHT, 1, vs)) >= 0;
    snprintf(name, sizeof name, "%s.running_mean", bn_name);
    ok &= (u->prm = params_add(t, name, PARAM_BUFFER, 1, vs)) >= 0;
    snprintf(name, sizeof name, "%s.running_var", bn_name);
    ok &= (u->prv = params_add(t, name, PARAM_BUFFER, 1, vs)) >= 0;
    snprintf(name, sizeof name, "%s.num_batches_tracked", bn_name);
    ok &= (u->pnb = params_add(t, name, PARAM_COUNT, 0, vs)) >= 0;
    return ok ? 0 : -1;
}

int convbn_set_repeat(ConvBn *u, const float *mean, const float *std) {
    u->repeat = 1; /* the summed weights are allocated with the activations (convbn_alloc), on their device */
    if (mean && std) {
        u->norm = u->sn.norm = 1;
        for (int c = 0; c < 3; c++) {
            u->sn.inv_std[c] = 1.0f / std[c];
            u->sn.mean_std[c] = mean[c] / std[c];
        }
    }
    return 0;
}

/* The conv weight the unit runs with: the table's, or the repeated stem's sum over its three channels
 * (divided by their std when normalised; wm then gets the ones image's weight). */
static const float *run_weight(NnCtx *ctx, ConvBn *u, ParamTable *t) {
    const float *w = params_data(t, u->pw);
    if (!u->repeat) return w;
    stem_weight_sum(ctx, u->conv.K, u->conv.KH * u->conv.KW, &u->sn, w, u->wsum, u->wm);
    return u->wsum;
}

/* The one-image shape of the ones-image convolution. */
static Conv2dShape ones_shape(const ConvBn *u) {
    Conv2dShape s = u->conv;
    s.N = 1;
    return s;
}

/* The normalised stem's convolution into y (after run_weight): y[n] -= corr. */
static int stem_conv(NnCtx *ctx, ConvBn *u, const float *x, const float *w, float *y) {
    if (conv2d_forward(ctx, &u->conv, x, w, NULL, y) < 0) return -1;
    Conv2dShape os = ones_shape(u);
    if (conv2d_forward(ctx, &os, u->ones, u->wm, NULL, u->corr) < 0) return -1;
    stem_sub_bcast(ctx, u->conv.N, (int64_t)u->conv.K * u->conv.OH * u->conv.OW, u->corr, y);
    return 0;
}

int convbn_set_batch(ConvBn *u, int n, int h, int w, int *oh, int *ow) {
    if (u->repeat) u->conv.C = 1;
    u->conv.N = n;
    u->conv.H = h;
    u->conv.W = w;
    if (conv2d_shape_init(&u->conv) < 0) return -1;
    u->bn.N = n;
    u->bn.H = u->conv.OH;
    u->bn.W = u->conv.OW;
    *oh = u->conv.OH;
    *ow = u->conv.OW;
    return 0;
}

size_t convbn_out_numel(const ConvBn *u) { return conv2d_y_numel(&u->conv); }

int convbn_alloc(NnCtx *ctx, ConvBn *u, size_t numel) {
    convbn_free(u);
    u->dev = ctx->device;
    size_t k = (size_t)u->conv.K, kk = k * u->conv.KH * u->conv.KW;
    u->conv_out = nn_alloc(ctx, sizeof(float) * (numel + HALFKEEP_SLACK));
    u->mean = nn_alloc(ctx, sizeof(float) * k);
    u->invstd = nn_alloc(ctx, sizeof(float) * k);
    u->scale = nn_alloc(ctx, sizeof(float) * k);
    u->shift = nn_alloc(ctx, sizeof(float) * k);
    int ok = u->conv_out && u->mean && u->invstd && u->scale && u->shift;
    if (u->repeat) {
        u->wsum = nn_alloc(ctx, sizeof(float) * kk);
        u->dwsum = nn_alloc(ctx, sizeof(float) * kk);
        ok &= u->wsum && u->dwsum;
    }
    if (u->norm) {
        size_t hw = (size_t)u->conv.H * u->conv.W, o = k * u->conv.OH * u->conv.OW;
        u->wm = nn_alloc(ctx, sizeof(float) * kk);
        u->dwm = nn_alloc(ctx, sizeof(float) * kk);
        u->ones = nn_alloc(ctx, sizeof(float) * hw);
        u->corr = nn_alloc(ctx, sizeof(float) * o);
        u->dysum = nn_alloc(ctx, sizeof(float) * o);
        ok &= u->wm && u->dwm && u->ones && u->corr && u->dysum;
        if (u->ones) stem_fill(ctx, hw, 1.0f, u->ones);
    }
    if (!ok) {
        convbn_free(u);
        err_set("out of memory for activations (%zu floats)", numel);
        return -1;
    }
    return 0;
}

void convbn_destroy(ConvBn *u) { convbn_free(u); }

void convbn_free(ConvBn *u) {
    halfkeep_free(&u->hk);
    float **p[] = {&u->conv_out, &u->mean, &u->invstd, &u->scale, &u->shift, &u->ones, &u->corr,
                   &u->dysum, &u->wsum, &u->dwsum, &u->wm, &u->dwm};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
        nn_free_on(u->dev, *p[i]);
        *p[i] = NULL;
    }
}

int convbn_forward_infer(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *in_scale,
                         const float *res, ActKind res_act, float *plane_mean, float *out) {
    if (res && u->act != ACT_NONE) {
        err_set("convbn: a residual after the unit's own activation is not an epilogue this unit can fuse");
        return -1;
    }
    u->train = u->kept = 0;
    halfkeep_floats(&u->hk);
    if (u->norm) { /* the correction comes before BN: no epilogue; BN and the activation in place */
        if (res || plane_mean || in_scale) {
            err_set("convbn: the normalised stem has no residual, plane-mean or input-scale epilogue");
            return -1;
        }
        if (stem_conv(ctx, u, x, run_weight(ctx, u, t), out) < 0) return -1;
        batchnorm2d_forward_eval(ctx, &u->bn, out, params_data(t, u->pbw), params_data(t, u->pbb),
                                 params_data(t, u->prm), params_data(t, u->prv), out, NULL, NULL);
        return 0;
    }
    batchnorm2d_eval_affine_ctx(ctx, u->conv.K, u->bn.eps, params_data(t, u->pbw), params_data(t, u->pbb),
                            params_data(t, u->prm), params_data(t, u->prv), u->scale, u->shift);
    ConvEpilogue ep = {.scale = u->scale, .shift = u->shift, .res = res, .act = res ? res_act : u->act,
                       .plane_mean = plane_mean, .in_scale = in_scale};
    return conv2d_forward_ep(ctx, &u->conv, x, run_weight(ctx, u, t), NULL, out, &ep);
}

int convbn_forward(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, NnMode mode, float *out) {
    return convbn_forward_in_scale(ctx, u, t, x, NULL, mode, out);
}

int convbn_forward_in_scale(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *in_scale, NnMode mode,
                            float *out) {
    if (mode == NN_INFER) return convbn_forward_infer(ctx, u, t, x, in_scale, NULL, ACT_NONE, NULL, out);
    if (in_scale && u->repeat) {
        err_set("convbn: a scaled input to the repeated stem");
        return -1;
    }
    const float *w = run_weight(ctx, u, t);
    int rc;
    if (u->norm) { /* the float hand-over: the correction is subtracted in fp32 (halfkeep.h) */
        halfkeep_floats(&u->hk);
        rc = stem_conv(ctx, u, x, w, u->conv_out);
    } else {
        rc = halfkeep_conv_forward(ctx, &u->hk, &u->conv, x, in_scale, w, u->conv_out);
    }
    if (rc < 0) return -1;
    u->train = mode == NN_TRAIN;
    u->kept = 1;
    return halfkeep_bn_forward(ctx, &u->hk, u->train, &u->bn, u->conv_out, params_data(t, u->pbw), params_data(t, u->pbb),
                               params_data(t, u->prm), params_data(t, u->prv), params_data(t, u->pnb), out, u->mean,
                               u->invstd);
}

int convbn_backward(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *out, float *dout, float *dx,
                    int frozen) {
    return convbn_backward_in_scale(ctx, u, t, x, NULL, out, dout, dx, frozen);
}

int convbn_backward_in_scale(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *in_scale, const float *out,
                             float *dout, float *dx, int frozen) {
    (void)out; /* the activation's backward runs inside BN's (u->bn.act), from conv_out */
    return convbn_backward_halves(ctx, u, t, x, in_scale, dout, 0, dx, 0, frozen);
}

int convbn_halves(const ConvBn *u) { return u->hk.type != NN_AMP_OFF; }

int convbn_backward_halves(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *in_scale, float *dout,
                           int dout_half, float *dx, int dx_half, int frozen) {
    if (!u->kept) {
        err_set("backward after an inference-only forward (nothing was kept for it)");
        return -1;
    }
    if ((dout_half || dx_half) && !convbn_halves(u)) { /* before any gradient is added */
        err_set("convbn: a gradient in halves for a unit that does not hand over halves");
        return -1;
    }
    float *dg = frozen ? NULL : params_grad(t, u->pbw), *db = frozen ? NULL : params_grad(t, u->pbb);
    if (halfkeep_bn_backward(ctx, &u->hk, u->train, &u->bn, dout, dout_half, u->conv_out, params_data(t, u->pbw),
                             params_data(t, u->pbb), u->mean, u->invstd, dg, db) < 0)
        return -1;
    if (!u->repeat)
        return halfkeep_conv_backward(ctx, &u->hk, &u->conv, x, in_scale, params_data(t, u->pw), dout, u->conv_out, dx,
                                      dx_half, frozen ? NULL : params_grad(t, u->pw));
    size_t k = (size_t)u->conv.K, kk = (size_t)u->conv.KH * u->conv.KW;
    if (!frozen) stem_fill(ctx, k * kk, 0.0f, u->dwsum);
    if (halfkeep_conv_backward(ctx, &u->hk, &u->conv, x, NULL, u->wsum, dout, u->conv_out, dx, dx_half,
                               frozen ? NULL : u->dwsum) < 0)
        return -1;
    if (frozen) return 0;
    if (u->norm) {
        /* the ones image's weight gradient, for the output gradient summed over the batch */
        stem_batch_sum(ctx, u->conv.N, (int64_t)k * u->conv.OH * u->conv.OW, dout, u->dysum);
        stem_fill(ctx, k * kk, 0.0f, u->dwm);
        Conv2dShape os = ones_shape(u);
        if (conv2d_backward(ctx, &os, u->ones, u->wm, u->dysum, NULL, u->dwm, NULL) < 0) return -1;
    }
    stem_weight_grad(ctx, u->conv.K, u->conv.KH * u->conv.KW, &u->sn, u->dwsum, u->dwm, params_grad(t, u->pw));
    return 0;
}

void convbn_init(ConvBn *u, ParamTable *t, Rng *r) {
    Conv2dShape s = u->conv;
    if (u->repeat) s.C = 3;
    conv2d_init_kaiming_normal_fan_out(r, &s, params_data(t, u->pw));
    for (int k = 0; k < u->conv.K; k++) {
        params_data(t, u->pbw)[k] = 1;
        params_data(t, u->pbb)[k] = 0;
        params_data(t, u->prm)[k] = 0;
        params_data(t, u->prv)[k] = 1;
    }
    params_data(t, u->pnb)[0] = 0;
}

float *convbn_pick_buffer(float **g, int n, const float *a, const float *b, const float *c) {
    for (int i = 0; i < n; i++)
        if (g[i] != a && g[i] != b && g[i] != c) return g[i];
    return NULL; /* not reached with n > 3 */
}

int convbn_grad_buffers(NnCtx *ctx, float **g, int n, size_t floats) {
    for (int i = 0; i < n; i++)
        if (!g[i] && !(g[i] = nn_alloc(ctx, sizeof(float) * floats))) {
            err_set("out of memory for the gradients of a batch (%d x %zu floats)", n, floats);
            return -1;
        }
    return 0;
}
