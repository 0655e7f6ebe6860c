/* pool.h - 2-D pooling (torch.nn.functional.max_pool2d, avg_pool2d, adaptive_avg_pool2d to 1x1),
 * CPU, forward and backward.
 *
 *   x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2*pad_h - KH) / stride_h + 1 (ceil_mode=False)
 *
 * PyTorch semantics: padding is -inf for max and zero for average; padding at most half the kernel;
 * dilation 1. Max: the first maximum of the window in row-major order wins and NaN propagates (the
 * last NaN wins), as ATen's CPU kernel does; forward stores, per output, the index ih*W + iw of the
 * chosen input within its plane in a caller-owned int32 buffer (N, C, OH, OW) (torch's return_indices
 * values), which backward reads. Average: count_include_pad=True (PyTorch's default) divides by
 * KH*KW; with exclude_pad set, by the number of non-padding inputs in the window; sums in double.
 * Work is split over (n, c) planes; results are bit-identical for any thread count. */
#ifndef AUDIOCNN_NN_POOL_H
#define AUDIOCNN_NN_POOL_H

#include "nn/kernels.h"
#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Pool2dShape {
    int N, C, H, W;
    int KH, KW;
    int stride_h, stride_w; /* 0 means the kernel size (PyTorch's default stride) */
    int pad_h, pad_w;
    int exclude_pad;        /* avg only: 0 = count_include_pad=True (default), 1 = False */
    int OH, OW;             /* set by pool2d_shape_init */
} Pool2dShape;

/* Defaults, validation (positive sizes, 0 <= pad <= kernel/2, non-empty output), OH and OW.
 * Returns 0, or -1 with err_set(). */
int pool2d_shape_init(Pool2dShape *s);

/* x (N,C,H,W) -> y (N,C,OH,OW), argmax (N,C,OH,OW) int32 plane indices. */
void maxpool2d_forward(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y, int32_t *argmax);
/* dx (N,C,H,W) is WRITTEN: zero except dx[argmax] += dy. */
void maxpool2d_backward(NnCtx *ctx, const Pool2dShape *s, const float *dy, const int32_t *argmax, float *dx);

/* ---- the 2x2/2 max pool (padding 0) a plane or a row at a time, for layers that fuse it (bnpool.h) ----
 * pre: a map applied to every input first, relu(x * a + b) with act_affine's operations (batchnorm.h's
 * fused output); NULL: none. maxpool2x2_row: output row oh (OW outputs, argmax as plane indices; ar NULL:
 * none) of input rows r0 = 2*oh and r1 = 2*oh + 1 (W columns): the bits maxpool2d_forward gives on the mapped plane.
 * maxpool2x2_backward_plane: one plane of maxpool2d_backward (dx WRITTEN: 0 + dy at the argmax, 0
 * elsewhere), the same bits. */
int pool2d_is_2x2(const Pool2dShape *s); /* kernel 2x2, stride 2, no padding: what these compute */
typedef struct PoolPre {
    float a, b;
} PoolPre;
void maxpool2x2_row(const float *r0, const float *r1, int W, int OW, int oh, float *yr, int32_t *ar, const PoolPre *pre);
void maxpool2x2_backward_plane(const Pool2dShape *s, const float *dy, const int32_t *argmax, float *dx);

/* x (N,C,H,W) -> y (N,C,OH,OW). */
void avgpool2d_forward(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y);
/* dx (N,C,H,W) is WRITTEN. */
void avgpool2d_backward(NnCtx *ctx, const Pool2dShape *s, const float *dy, float *dx);

/* Global average pool (adaptive_avg_pool2d(x, 1) flattened): x (N,C,H,W) -> y (N,C),
 * y = (float)(ordered_sum_f64(plane) / (H*W)): the same bits as conv2d's epilogue plane means. */
typedef struct GlobalPoolShape {
    int N, C, H, W;
} GlobalPoolShape;

int global_avgpool_shape_init(GlobalPoolShape *s); /* positive sizes; 0 or -1 with err_set() */
void global_avgpool_forward(NnCtx *ctx, const GlobalPoolShape *s, const float *x, float *y);
/* dx (N,C,H,W) = dy[n,c] / (H*W), WRITTEN. */
void global_avgpool_backward(NnCtx *ctx, const GlobalPoolShape *s, const float *dy, float *dx);

#ifdef AUDIOCNN_CUDA
/* pool.cu: every pooling on device memory (kernels.h's kb_maxpool_*, kb_avgpool_*, kb_gap_*: the same
 * bits as above; backward passes as gathers, no atomics). */
void maxpool2d_forward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y, int32_t *argmax);
void maxpool2d_backward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *dy, const int32_t *argmax, float *dx);
void avgpool2d_forward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y);
void avgpool2d_backward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *dy, float *dx);
void global_avgpool_forward_cuda(NnCtx *ctx, const GlobalPoolShape *s, const float *x, float *y);
void global_avgpool_backward_cuda(NnCtx *ctx, const GlobalPoolShape *s, const float *dy, float *dx);
#endif
/* The geometry kernels.h's pooling bodies take. */
static inline NnPoolGeom pool2d_geom(const Pool2dShape *s) {
    NnPoolGeom g = {(int64_t)s->N * s->C, s->H, s->W, s->OH, s->OW, s->KH, s->KW, s->stride_h, s->stride_w, s->pad_h, s->pad_w,
                    {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
    return nn_pool_divisors(g);
}

#ifdef __cplusplus
}
#endif

#endif
