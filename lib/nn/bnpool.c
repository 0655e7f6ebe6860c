#include "nn/bnpool.h"

int bn_pool_fused(const NnCtx *ctx, const BatchNorm2dShape *bs, const Pool2dShape *ps) {
    return ctx->device == NN_CPU && bs->act == ACT_RELU && pool2d_is_2x2(ps) && ps->N == bs->N && ps->C == bs->C &&
           ps->H == bs->H && ps->W == bs->W;
}

typedef struct {
    const Pool2dShape *ps;
    float *pooled;
    int32_t *argmax;
    const float *dpooled;
    const int32_t *argmax_in;
} Planes;

/* Forward: plane (n, c) of x, normalised by BN's map (a, b), through ReLU and the pool, a row at a time. */
static void pool_plane(void *arg, int64_t n, int64_t c, const float *x, float a, float b) {
    const Planes *p = arg;
    const Pool2dShape *ps = p->ps;
    size_t o = ((size_t)n * ps->C + (size_t)c) * (size_t)ps->OH * ps->OW;
    PoolPre pre = {a, b};
    for (int oh = 0; oh < ps->OH; oh++) {
        const float *r0 = x + (size_t)(2 * oh) * ps->W;
        maxpool2x2_row(r0, r0 + ps->W, ps->W, ps->OW, oh, p->pooled + o + (size_t)oh * ps->OW,
                       p->argmax + o + (size_t)oh * ps->OW, &pre);
    }
}

/* Backward: plane (n, c) of the pool's input gradient, remade from the pooled gradient and the argmax. */
static void unpool_plane(const void *arg, int64_t n, int64_t c, float *buf) {
    const Planes *p = arg;
    const Pool2dShape *ps = p->ps;
    size_t o = ((size_t)n * ps->C + (size_t)c) * (size_t)ps->OH * ps->OW;
    maxpool2x2_backward_plane(ps, p->dpooled + o, p->argmax_in + o, buf);
}

void bn_relu_pool_forward_train(NnCtx *ctx, const BatchNorm2dShape *bs, const Pool2dShape *ps, const float *x,
                                const float *weight, const float *bias, float *running_mean, float *running_var,
                                float *num_batches_tracked, float *act, float *pooled, int32_t *argmax, float *mean,
                                float *invstd) {
    if (!bn_pool_fused(ctx, bs, ps)) {
        batchnorm2d_forward_train(ctx, bs, x, weight, bias, running_mean, running_var, num_batches_tracked, act, mean,
                                  invstd);
        maxpool2d_forward(ctx, ps, act, pooled, argmax);
        return;
    }
    Planes p = {.ps = ps, .pooled = pooled, .argmax = argmax};
    batchnorm2d_forward_train_to(ctx, bs, x, weight, bias, running_mean, running_var, num_batches_tracked, mean, invstd,
                                 pool_plane, &p);
}

int maxpool_bn_backward_train(NnCtx *ctx, const Pool2dShape *ps, const BatchNorm2dShape *bs, const float *dpooled,
                              const int32_t *argmax, const float *x, const float *weight, const float *bias,
                              const float *mean, const float *invstd, float *dx, float *dweight, float *dbias) {
    if (!bn_pool_fused(ctx, bs, ps)) {
        maxpool2d_backward(ctx, ps, dpooled, argmax, dx);
        batchnorm2d_backward_train(ctx, bs, dx, x, weight, bias, mean, invstd, dx, dweight, dbias);
        return 0;
    }
    Planes p = {.ps = ps, .dpooled = dpooled, .argmax_in = argmax};
    return batchnorm2d_backward_train_from(ctx, bs, unpool_plane, &p, x, weight, bias, mean, invstd, dx, dweight,
                                           dbias);
}
