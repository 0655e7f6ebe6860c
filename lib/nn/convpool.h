/* convpool.h - one inference step of a Conv-BN-ReLU-MaxPool block: Conv2d -> y * scale + shift (eval-mode
 * BatchNorm as an affine map) -> ReLU -> MaxPool2d, the baseline CNN's blocks under NN_INFER.
 *
 * conv_pool_infer runs the step as the two passes it replaces (conv2d_forward_ep with the affine map and
 * ReLU as its epilogue, into conv_out; maxpool2d_forward into pooled, argmax), except for the shape that
 * dominates a scan with the baseline: its first layer, a ONE-channel input through a 3x3 convolution
 * (stride 1, padding 1, no bias) and a 2x2/2 max pool. That one runs fused in a single pass over the
 * input (AVX-512, nn_avx512(), CPU only): each 16-wide run of pooled outputs of a row pair computes its
 * four convolution values per channel from registers, applies the affine map and ReLU, and keeps the
 * maximum, so the full-resolution activation (16 x 128 x 400 floats a window) is never written or read
 * back. conv_out and argmax are then left untouched. The same holds where the convolution takes Winograd's
 * path (the baseline's later blocks: conv_pool_winograd): the pool runs on each output tile as it leaves
 * the output transform (ConvEpilogue.pool2), so the full-resolution output is not stored either.
 *
 * Promise: pooled holds the same bits either way: the fused pass performs the same float operations in
 * the same order as the passes it replaces on this CPU (the nine products summed by fused multiply-adds
 * from zero in im2col's order, as gemm.c's AVX-512 kernel does; y * scale, + shift, ReLU as x < 0 ? 0 :
 * x; the pool's scan order and NaN rule), and it only runs where gemm_f32 is that kernel. Thread-count
 * invariant: each (image, pooled row) is one item computed alone. tests/unit/test_convpool.c checks the
 * bits against the separate passes (NaN, -0, odd sizes, 1-3 threads). */
#ifndef AUDIOCNN_NN_CONVPOOL_H
#define AUDIOCNN_NN_CONVPOOL_H

#include "nn/conv2d.h"
#include "nn/nn.h"
#include "nn/pool.h"

#include <stdint.h>

/* pooled (N, K, PH, PW) = maxpool(relu(conv(x, w) * scale[k] + shift[k])), cs a convolution without bias
 * and ps the max pool of its output. conv_out (N, K, OH, OW) and argmax (as maxpool2d_forward's) are the
 * unfused path's buffers: written there, untouched by the fused pass. Returns 0, or -1 with err_set(). */
int conv_pool_infer(NnCtx *ctx, const Conv2dShape *cs, const Pool2dShape *ps, const float *x, const float *w,
                    const float *scale, const float *shift, float *conv_out, float *pooled, int32_t *argmax);

/* 1 when conv_pool_infer takes the fused pass for these shapes on ctx. */
int conv_pool_fused(const NnCtx *ctx, const Conv2dShape *cs, const Pool2dShape *ps);
/* 1 when it pools inside Winograd's output transform instead (neither conv_out nor argmax written). */
int conv_pool_winograd(const NnCtx *ctx, const Conv2dShape *cs, const Pool2dShape *ps);

#endif
