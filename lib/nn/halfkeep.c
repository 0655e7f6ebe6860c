#include "nn/halfkeep.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

/* BN's half dx in conv_out's buffer: after the half result, at a 128-byte boundary (HALFKEEP_SLACK floats make
 * room for the rounding) */
static uint16_t *dy_half(size_t ny, float *conv_out) { return (uint16_t *)conv_out + ((ny + 63) & ~(size_t)63); }

/* x_half for s's input (grown when a larger batch comes). Returns 0, or -1 with err_set(). */
static int x_half_reserve(NnCtx *ctx, HalfKeep *k, const Conv2dShape *s) {
    size_t nx = conv2d_x_numel(s);
    if (nx <= k->x_half_len && k->dev == ctx->device) return 0;
    halfkeep_free(k);
    if (!(k->x_half = nn_alloc(ctx, sizeof(uint16_t) * nx))) {
        err_set("out of memory for a convolution's half input (%zu halves)", nx);
        return -1;
    }
    k->x_half_len = nx;
    k->dev = ctx->device;
    return 0;
}

/* AUDIOCNN_HALFKEEP=0: the float hand-over under AMP too */
static int halves_allowed(void) {
    const char *e = getenv("AUDIOCNN_HALFKEEP");
    return !(e && !strcmp(e, "0"));
}

int halfkeep_conv_forward(NnCtx *ctx, HalfKeep *k, const Conv2dShape *s, const float *x, const float *in_scale,
                          const float *w, float *conv_out) {
    k->type = ctx->device == NN_CUDA && halves_allowed() ? ctx->amp : NN_AMP_OFF;
    k->x_made = 0;
    if (!k->type) {
        ConvEpilogue ep = {.in_scale = in_scale};
        return conv2d_forward_ep(ctx, s, x, w, NULL, conv_out, in_scale ? &ep : NULL);
    }
    int keep = conv2d_half_keeps_x(ctx, s); /* not for the own depthwise kernels, which read x itself */
    if (keep && x_half_reserve(ctx, k, s) < 0) return -1;
    if (conv2d_forward_half(ctx, s, x, in_scale, w, (uint16_t *)conv_out, keep ? k->x_half : NULL, &k->x_made) < 0)
        return -1;
    if (!k->x_made && k->x_half) halfkeep_free(k); /* the first search chose the own kernels: nothing to hold */
    return 0;
}

void halfkeep_floats(HalfKeep *k) {
    k->type = NN_AMP_OFF;
    k->x_made = 0;
}

int halfkeep_bn_forward(NnCtx *ctx, const HalfKeep *k, int train, const BatchNorm2dShape *bs, const float *conv_out,
                        const float *weight, const float *bias, float *running_mean, float *running_var,
                        float *num_batches_tracked, float *out, float *mean, float *invstd) {
    const uint16_t *h = (const uint16_t *)conv_out;
    if (k->type && train)
        return batchnorm2d_forward_train_half(ctx, bs, k->type, h, weight, bias, running_mean, running_var,
                                              num_batches_tracked, out, mean, invstd);
    if (k->type)
        return batchnorm2d_forward_eval_half(ctx, bs, k->type, h, weight, bias, running_mean, running_var, out, mean,
                                             invstd);
    if (train)
        batchnorm2d_forward_train(ctx, bs, conv_out, weight, bias, running_mean, running_var, num_batches_tracked, out,
                                  mean, invstd);
    else
        batchnorm2d_forward_eval(ctx, bs, conv_out, weight, bias, running_mean, running_var, out, mean, invstd);
    return 0;
}

/* halves asked of a float hand-over */
static int no_halves(void) {
    err_set("a gradient in halves between layers that do not hand over halves");
    return -1;
}

int halfkeep_bn_backward(NnCtx *ctx, const HalfKeep *k, int train, const BatchNorm2dShape *bs, float *dout, int dout_half,
                         float *conv_out, const float *weight, const float *bias, const float *mean, const float *invstd,
                         float *dweight, float *dbias) {
    if (k->type)
        return batchnorm2d_backward_half(ctx, bs, train, dout, dout_half, k->type, (const uint16_t *)conv_out, weight, bias,
                                         mean, invstd, NULL, dy_half((size_t)bs->N * bs->C * bs->H * bs->W, conv_out),
                                         dweight, dbias);
    if (dout_half) return no_halves();
    (train ? batchnorm2d_backward_train : batchnorm2d_backward_eval)(ctx, bs, dout, conv_out, weight, bias, mean, invstd,
                                                                     dout, dweight, dbias);
    return 0;
}

int halfkeep_conv_backward(NnCtx *ctx, const HalfKeep *k, const Conv2dShape *s, const float *x, const float *in_scale,
                           const float *w, const float *dout, float *conv_out, float *dx, int dx_half, float *dw) {
    if (k->type)
        return conv2d_backward_half(ctx, s, x, in_scale, k->x_made ? k->x_half : NULL, w, dy_half(conv2d_y_numel(s), conv_out),
                                    dx_half ? NULL : dx, dx_half ? (uint16_t *)dx : NULL, dw);
    if (dx_half) return no_halves();
    return conv2d_backward_in_scale(ctx, s, x, in_scale, w, dout, dx, dw, NULL);
}

void halfkeep_free(HalfKeep *k) {
    nn_free_on(k->dev, k->x_half);
    k->x_half = NULL;
    k->x_half_len = 0;
    k->x_made = 0;
}
