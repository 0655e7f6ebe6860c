/* linear.h - fully connected layer (torch.nn.functional.linear), CPU, forward and backward.
 *
 *   x (N, in)  w (out, in)  b (out) or NULL  ->  y (N, out) = x w^T + b
 *
 * sgemm on fixed tiles (rows of x for y and dx, rows of w for dw), single-threaded OpenBLAS inside
 * each tile, tiles shared among ctx->threads: bit-identical results for any thread count (see
 * conv2d.h for why OpenBLAS's own threading is avoided). No workspace. */
#ifndef AUDIOCNN_NN_LINEAR_H
#define AUDIOCNN_NN_LINEAR_H

#include "nn/nn.h"
#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct LinearShape {
    int N, in, out;
} LinearShape;

/* Validates positive sizes. Returns 0, or -1 with err_set(). */
int linear_shape_init(LinearShape *s);

/* y (N,out) = x (N,in) w^T (in,out) + b (out; may be NULL). */
void linear_forward(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *b, float *y);

/* dx (N,in) = dy w is WRITTEN (dx may be NULL); dw (out,in) += dy^T x; db (out) += column sums of dy
 * (db may be NULL). */
void linear_backward(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *dy,
                     float *dx, float *dw, float *db);

/* PyTorch's default (nn.Linear.reset_parameters): w ~ kaiming_uniform_(a=sqrt(5)) =
 * U(-1/sqrt(in), 1/sqrt(in)), b ~ U(-1/sqrt(in), 1/sqrt(in)) (b may be NULL). */
void linear_init_default(Rng *r, const LinearShape *s, float *w, float *b);

#ifdef AUDIOCNN_CUDA
/* linear.cu: the same on device memory (cuBLAS sgemm, fp32 without TF32; bias and db by kernels.h); under
 * ctx->amp on half copies through cublasGemmEx with fp32 accumulation (nn/amp.h). */
void linear_forward_cuda(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *b, float *y);
void linear_backward_cuda(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *dy,
                          float *dx, float *dw, float *db);
#endif

#ifdef __cplusplus
}
#endif

#endif
