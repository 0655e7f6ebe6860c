/* dropout.h - dropout (torch.nn.Dropout) and stochastic depth (torchvision.ops.StochasticDepth),
 * with masks drawn from lib/core/rng.h so that runs are reproducible and independent of the thread count.
 *
 * Semantics (PyTorch's, precondition 0 <= p <= 1):
 *   dropout, training and p > 0: keep each element with probability 1 - p, out = x * (keep ? scale : 0)
 *     with scale = 1.0f / (float)(1 - p) (torch: noise.bernoulli_(1 - p).div_(1 - p); x * noise);
 *     p == 1 gives x * 0. Not training, or p == 0: out = x.
 *   drop path ("row" mode, torchvision's stochastic_depth(mode="row")), training and p > 0: ONE
 *     Bernoulli(1 - p) per sample, out[n] = x[n] * (keep[n] ? 1.0f / (float)(1 - p) : 0); "batch" mode
 *     draws one Bernoulli for the whole batch. p == 1 drops everything (no division, as torchvision).
 *   Backward: dx = dout * (keep ? scale : 0) with the saved mask (identity when not training / p == 0).
 *   out may alias x and dx may alias dout.
 *
 * Seeding (the same (seed, stream) always gives the same mask, on any machine and thread count):
 *   key = rng_next(rng_derive(seed, stream)); the caller picks `stream` unique per use, for example
 *   (step * n_dropout_layers + layer index).
 *   dropout: element i belongs to block b = i / DROPOUT_BLOCK; block b's generator is
 *     rng_derive(key, b), and its elements draw rng_uniform() in order: keep when u < 1 - p.
 *   drop path: one generator rng_derive(key, 0); sample n (row) or the batch draws rng_uniform() in
 *     order, keep when u < 1 - p.
 * The mask holds one byte per element (dropout) / per sample (row) / one byte (batch): 1 kept, 0 dropped. */
#ifndef AUDIOCNN_NN_DROPOUT_H
#define AUDIOCNN_NN_DROPOUT_H

#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DROPOUT_BLOCK 4096

typedef struct DropoutShape {
    size_t n;     /* elements */
    float p;      /* drop probability (0.5 in torch.nn.Dropout) */
    int training; /* 0: identity */
} DropoutShape;

/* x, out (n); mask (n bytes). */
void dropout_forward(NnCtx *ctx, const DropoutShape *s, uint64_t seed, uint64_t stream, const float *x,
                     float *out, uint8_t *mask);
/* dout, dx (n); mask (n bytes) from the forward. */
void dropout_backward(NnCtx *ctx, const DropoutShape *s, const float *dout, const uint8_t *mask, float *dx);

typedef enum { DROP_PATH_ROW = 0, DROP_PATH_BATCH = 1 } DropPathMode;

typedef struct DropPathShape {
    int N;             /* samples */
    size_t per_sample; /* elements per sample (C*H*W) */
    float p;           /* drop probability (torchvision's StochasticDepth p) */
    int training;
    DropPathMode mode;
} DropPathShape;

/* x, out (N, per_sample); mask (N bytes for row mode, 1 byte for batch mode). */
void drop_path_forward(NnCtx *ctx, const DropPathShape *s, uint64_t seed, uint64_t stream, const float *x,
                       float *out, uint8_t *mask);
void drop_path_backward(NnCtx *ctx, const DropPathShape *s, const float *dout, const uint8_t *mask, float *dx);

#ifdef AUDIOCNN_CUDA
/* dropout.cu: the same on device memory (masks too), the same masks (kernels.h's kb_dropout). */
void dropout_forward_cuda(NnCtx *ctx, const DropoutShape *s, uint64_t seed, uint64_t stream, const float *x,
                          float *out, uint8_t *mask);
void dropout_backward_cuda(NnCtx *ctx, const DropoutShape *s, const float *dout, const uint8_t *mask, float *dx);
void drop_path_forward_cuda(NnCtx *ctx, const DropPathShape *s, uint64_t seed, uint64_t stream, const float *x,
                            float *out, uint8_t *mask);
void drop_path_backward_cuda(NnCtx *ctx, const DropPathShape *s, const float *dout, const uint8_t *mask, float *dx);
#endif

#ifdef __cplusplus
}
#endif

#endif
