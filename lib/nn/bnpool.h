/* bnpool.h - the tail of a Conv-BN-ReLU-MaxPool block in training: BatchNorm2d with batch statistics and
 * ReLU fused (batchnorm.h), then MaxPool2d(2), forward and backward, without the full-resolution
 * activation or its gradient in memory (the baseline CNN's blocks under NN_TRAIN).
 *
 * bn_relu_pool_forward_train = batchnorm2d_forward_train (bs->act must be ACT_RELU) into act, then
 * maxpool2d_forward of act into pooled/argmax. Fused on the CPU for a 2x2/2 pool without padding: each
 * normalised plane goes through ReLU and the pool straight from x (maxpool2x2_row with BN's map as its
 * `pre`); act is not written. pooled, argmax, mean, invstd and the running statistics get the same bits
 * either way.
 * maxpool_bn_backward_train = maxpool2d_backward of dpooled into dx, then batchnorm2d_backward_train of it
 * in place. Fused on the CPU for the same pools: BN's first pass makes each plane of the pool's gradient
 * in a per-worker buffer (maxpool2x2_backward_plane) instead of reading it from memory, and keeps ReLU's
 * backward of it in dx for the second pass; dx, dweight and dbias get the same bits either way (the same
 * float operations on the same values).
 * Elsewhere (a GPU context, other pools) both run the composed passes, so a model calls these on either
 * device. Memory traffic over the block's full-resolution tensors: forward 3 sweeps instead of 5, backward
 * 3 instead of 7. Deterministic and thread-count invariant as the layers they fuse. */
#ifndef AUDIOCNN_NN_BNPOOL_H
#define AUDIOCNN_NN_BNPOOL_H

#include "nn/batchnorm.h"
#include "nn/nn.h"
#include "nn/pool.h"

#include <stdint.h>

/* x, act (N, C, H, W); pooled, argmax (N, C, OH, OW); the BN arrays as batchnorm2d_forward_train's. act
 * is written only where the passes are composed. */
void bn_relu_pool_forward_train(NnCtx *ctx, const BatchNorm2dShape *bs, const Pool2dShape *ps, const float *x,
                                const float *weight, const float *bias, float *running_mean, float *running_var,
                                float *num_batches_tracked, float *act, float *pooled, int32_t *argmax, float *mean,
                                float *invstd);

/* dpooled, argmax (N, C, OH, OW); x, dx (N, C, H, W), dx WRITTEN; dweight, dbias accumulate. Returns 0, or
 * -1 with err_set() (workspace). */
int maxpool_bn_backward_train(NnCtx *ctx, const Pool2dShape *ps, const BatchNorm2dShape *bs, const float *dpooled,
                              const int32_t *argmax, const float *x, const float *weight, const float *bias,
                              const float *mean, const float *invstd, float *dx, float *dweight, float *dbias);

/* 1 when these run fused for these shapes on ctx. */
int bn_pool_fused(const NnCtx *ctx, const BatchNorm2dShape *bs, const Pool2dShape *ps);

#endif
