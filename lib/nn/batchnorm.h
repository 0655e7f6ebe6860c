/* batchnorm.h - BatchNorm2d (torch.nn.BatchNorm2d semantics), forward/backward in train and eval mode,
 * and folding an eval-mode BN into the convolution before it.
 *
 * Tensors: x, out, dout, dx (N, C, H, W); weight, bias, running_mean, running_var, mean, invstd (C);
 * num_batches_tracked is one float (a PARAM_COUNT entry). weight NULL means 1 and bias NULL means 0
 * (affine=False); running_mean/running_var NULL means track_running_stats=False.
 *
 * Train mode (module.train()):
 *   mean = E[x], var = E[(x - mean)^2] over (N, H, W) (biased, two passes, accumulated in double; on the GPU one
 *   pass of sums of x - K and (x - K)^2, K the channel's first element, also in double),
 *   invstd = 1 / sqrt(var + eps), out = x * a + b' with a = weight * invstd, b' = bias - mean * a
 *   (PyTorch's CPU kernel computes it in this order).
 *   num_batches_tracked += 1, then with m = momentum (or 1 / num_batches_tracked when momentum < 0,
 *   PyTorch's momentum=None cumulative average):
 *   running_mean = (1 - m) * running_mean + m * mean,
 *   running_var  = (1 - m) * running_var  + m * var * n / (n - 1)   (UNBIASED, n = N*H*W).
 *   PyTorch refuses n == 1 ("Expected more than 1 value per channel"); here the precondition is
 *   n > 1, and n == 1 updates running_var with the biased variance (0) instead of dividing by zero.
 * Eval mode (module.eval()): mean = running_mean, invstd = 1 / sqrt(running_var + eps).
 * Either forward stores mean and invstd (C floats each, caller-owned) for backward.
 *
 * Backward (llm.c convention: dweight/dbias accumulate with +=, dx is written; any may be NULL):
 *   with xhat = (x - mean) * invstd, sum_dy = sum(dout), dot = sum((x - mean) * dout) per channel:
 *   dbias += sum_dy; dweight += dot * invstd;
 *   train: dx = (dout - sum_dy / n - (x - mean) * dot * invstd^2 / n) * invstd * weight
 *          (the gradient through the batch mean and variance, as PyTorch's CPU kernel);
 *   eval:  dx = dout * invstd * weight (a per-channel affine map).
 *   A frozen BN (eval statistics and no parameter update, e.g. a fine-tuned backbone) is the eval
 *   backward with dweight = dbias = NULL.
 * x must still hold the forward input at backward time (so out must not alias x if backward follows);
 * dx may alias dout (floats only: not with batchnorm2d_backward_half's dout_half or dx_half).
 * Deterministic: each channel is reduced by one thread in a fixed order, whatever ctx->threads. */
#ifndef AUDIOCNN_NN_BATCHNORM_H
#define AUDIOCNN_NN_BATCHNORM_H

#include "nn/activation.h"
#include "nn/amp.h"
#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct BatchNorm2dShape {
    int N, C, H, W;
    double eps;      /* 1e-5 in PyTorch */
    double momentum; /* 0.1 in PyTorch; < 0 means None (cumulative moving average) */
    ActKind act;     /* an activation fused into BN (ACT_NONE in batchnorm2d_shape): forward's output pass
                      * writes out = act(x * a + b'), the same bits as BN followed by relu/silu_forward, and
                      * backward takes the gradient of that output (see below). */
} BatchNorm2dShape;

/* Shape with PyTorch's defaults (eps 1e-5, momentum 0.1). */
BatchNorm2dShape batchnorm2d_shape(int N, int C, int H, int W);

/* x, out (N, C, H, W); weight, bias, running_mean, running_var, mean, invstd (C); num_batches_tracked (1).
 * Updates running_mean, running_var and num_batches_tracked (each may be NULL: not tracked). */
void batchnorm2d_forward_train(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                               const float *bias, float *running_mean, float *running_var,
                               float *num_batches_tracked, float *out, float *mean, float *invstd);

/* x, out (N, C, H, W); out may alias x. mean/invstd (C) receive running_mean and
 * 1/sqrt(running_var + eps) for the backward (both may be NULL when no backward follows). */
void batchnorm2d_forward_eval(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                              const float *bias, const float *running_mean, const float *running_var,
                              float *out, float *mean, float *invstd);

/* dout, x, dx (N, C, H, W); weight, bias, mean, invstd, dweight, dbias (C). With s->act set, dout is the
 * gradient of act(BN(x)): the activation's backward runs first, in BN's first pass, from the
 * pre-activation recomputed from x with the forward's operations (the same bits as relu_backward /
 * silu_backward on the stored pre-activation), its result kept in dx between the passes on the CPU (the GPU's
 * kernels compute it again in the second); dout itself is not written unless it is dx. */
void batchnorm2d_backward_train(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                const float *weight, const float *bias, const float *mean, const float *invstd, float *dx,
                                float *dweight, float *dbias);
void batchnorm2d_backward_eval(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                               const float *weight, const float *bias, const float *mean, const float *invstd, float *dx,
                               float *dweight, float *dbias);

/* ---- BN on a convolution's half result (mixed precision on the GPU: convbn.h keeps conv2d_forward_half's
 * output as it is and hands it here) ----
 * The functions above with x (N, C, H, W) stored as halves of type xt (NN_AMP_BF16 or NN_AMP_FP16: the bits
 * conv2d_forward_half writes), each read widened, which is exact: the results are the bits of the float
 * functions on x's widened copy. On the GPU the same kernels read half the bytes and no widening pass runs;
 * on the CPU (the simulated GPU's layer) x is widened into a copy first. backward: train 1 is
 * batchnorm2d_backward_train's, 0 batchnorm2d_backward_eval's; dout_half: dout holds halves of type xt (the
 * following convolution's dx kept in halves: conv2d_backward_half's dx_half), read widened; dx_half (then dx
 * is not written): dx as halves of type xt instead (h(dx), the preceding convolution's half dy under AMP:
 * conv2d_backward_half), in place of the float dx and its cast. Return 0, or -1 with err_set() (xt not a half type, no memory for the CPU's
 * copies, a failed launch). */
int batchnorm2d_forward_train_half(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                   const float *weight, const float *bias, float *running_mean, float *running_var,
                                   float *num_batches_tracked, float *out, float *mean, float *invstd);
int batchnorm2d_forward_eval_half(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                  const float *weight, const float *bias, const float *running_mean,
                                  const float *running_var, float *out, float *mean, float *invstd);
int batchnorm2d_backward_half(NnCtx *ctx, const BatchNorm2dShape *s, int train, const void *dout, int dout_half, NnAmp xt,
                              const uint16_t *x, const float *weight, const float *bias, const float *mean,
                              const float *invstd, float *dx, uint16_t *dx_half, float *dweight, float *dbias);

/* ---- the train passes with the caller's planes (CPU memory only): for a layer that fuses what follows BN
 * (nn/bnpool.h) ----
 * batchnorm2d_forward_train_to: batchnorm2d_forward_train's statistics, running updates, mean and invstd;
 * then, instead of writing out, consume(arg, n, c, x's plane (n, c), a, b') for every plane, on the thread
 * that reduced channel c, where out's plane would be act(x * a + b') (s->act's map, act_affine).
 * batchnorm2d_backward_train_from: batchnorm2d_backward_train with dout's planes made on demand:
 * produce(arg, n, c, buf) writes plane (n, c) of dout into buf (H*W floats of a per-worker buffer in
 * ctx's workspace): once per plane when s->act is ReLU or SiLU and dx is wanted (the activation's backward
 * of it is kept in dx between the passes), else twice (once per pass); produce must not read dx. The
 * workspace is BN's while it runs (produce must not use it). dx, dweight and dbias get the same bits as
 * batchnorm2d_backward_train on the materialised dout, without dout in memory. Returns 0, or -1 with
 * err_set() (workspace). */
typedef void (*BnPlaneConsumer)(void *arg, int64_t n, int64_t c, const float *x, float a, float b);
typedef void (*BnPlaneProducer)(const void *arg, int64_t n, int64_t c, float *buf);
void batchnorm2d_forward_train_to(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                  const float *bias, float *running_mean, float *running_var, float *num_batches_tracked,
                                  float *mean, float *invstd, BnPlaneConsumer consume, void *consume_arg);
int batchnorm2d_backward_train_from(NnCtx *ctx, const BatchNorm2dShape *s, BnPlaneProducer produce,
                                    const void *produce_arg, const float *x, const float *weight, const float *bias,
                                    const float *mean, const float *invstd, float *dx, float *dweight, float *dbias);

#ifdef AUDIOCNN_CUDA
/* batchnorm.cu: the four passes on device memory (blocks per slice of a channel, fixed-tree double sums
 * and the slices' sums in order, nn_bn_slices of the shape alone: the CPU layer's results to a float
 * rounding, tests/unit/test_kernels.c). */
void batchnorm2d_forward_train_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                    const float *bias, float *running_mean, float *running_var,
                                    float *num_batches_tracked, float *out, float *mean, float *invstd);
void batchnorm2d_forward_eval_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                   const float *bias, const float *running_mean, const float *running_var,
                                   float *out, float *mean, float *invstd);
void batchnorm2d_backward_train_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                     const float *weight, const float *bias, const float *mean, const float *invstd,
                                     float *dx, float *dweight, float *dbias);
void batchnorm2d_eval_affine_cuda(NnCtx *ctx, int C, double eps, const float *weight, const float *bias,
                                  const float *running_mean, const float *running_var, float *scale, float *shift);
void batchnorm2d_backward_eval_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                    const float *weight, const float *bias, const float *mean, const float *invstd,
                                    float *dx, float *dweight, float *dbias);
int batchnorm2d_forward_train_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                        const float *weight, const float *bias, float *running_mean, float *running_var,
                                        float *num_batches_tracked, float *out, float *mean, float *invstd);
int batchnorm2d_forward_eval_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                       const float *weight, const float *bias, const float *running_mean,
                                       const float *running_var, float *out, float *mean, float *invstd);
int batchnorm2d_backward_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, int train, const void *dout, int dout_half,
                                   NnAmp xt, const uint16_t *x, const float *weight, const float *bias, const float *mean,
                                   const float *invstd, float *dx, uint16_t *dx_half, float *dweight, float *dbias);
#endif

/* The per-channel affine map of an eval-mode BN: out = x * scale + shift with
 * scale = weight / sqrt(running_var + eps), shift = bias - running_mean * scale. */
void batchnorm2d_eval_affine(int C, double eps, const float *weight, const float *bias,
                             const float *running_mean, const float *running_var, float *scale,
                             float *shift);

/* The same on ctx's device (all six arrays in ctx's memory): what a model calls, so that its NN_INFER
 * path runs on either device. */
void batchnorm2d_eval_affine_ctx(NnCtx *ctx, int C, double eps, const float *weight, const float *bias,
                                 const float *running_mean, const float *running_var, float *scale, float *shift);

/* Fold an eval-mode BN into the convolution before it, exactly as
 * torch.nn.utils.fusion.fuse_conv_bn_weights: with r = 1/sqrt(running_var + eps),
 *   conv_weight[k, ...] *= weight[k] * r[k]          (conv_weight (C, per_channel) floats, K == C)
 *   conv_bias[k] = (conv_bias[k] - running_mean[k]) * r[k] * weight[k] + bias[k]
 * conv_bias (C) must be zero when the convolution had no bias. weight/bias may be NULL (1/0). */
void batchnorm2d_fold_into_conv(int C, double eps, const float *weight, const float *bias,
                                const float *running_mean, const float *running_var, float *conv_weight,
                                size_t per_channel, float *conv_bias);

#ifdef __cplusplus
}
#endif

#endif
