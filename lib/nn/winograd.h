/* winograd.h - 3x3 stride-1 convolutions through Winograd's minimal filtering F(4x4, 3x3).
 *
 * Which convolutions: KH = KW = 3, stride 1, padding 1, dilation 1, groups 1 (winograd_applies): the
 * output has the input's size. conv2d.c runs them here where it pays (winograd_pays: a rule measured
 * on this engine's layers: by default 128+ input channels, 64+ in an inference context
 * (winograd_pays_inference: ResNet's layer1 too), and at least 16 tiles in the call (a few small
 * planes make the 36 products slivers: im2col there, so the choice can depend on the batch), from 16
 * channels on the shape alone for a convolution whose model asks with CONV2D_AUTO_WINOGRAD (the baseline
 * CNN; see winograd.c for why not everywhere) unless
 * the environment says AUDIOCNN_WINOGRAD=0 (AUDIOCNN_WINOGRAD=all: from 16 channels everywhere, faster
 * but a ResNet fixture flips a ReLU kink); CONV2D_WINOGRAD forces it (tests), CONV2D_GEMM forces im2col.
 * Transforms: portable loops, and AVX-512 twins with the same bits where nn_avx512().
 *
 * Algorithm (Lavin & Gray 2016, interpolation points 0, -1, 1, -2, 2, inf): the output is cut into 4x4
 * tiles, each read from a 6x6 input patch. Per tile and channel the patch goes to the 36 transform
 * points, V = B^T d B; per weight filter U = G g G^T (computed in double, rounded once); per point xi
 * the 36 products sum over the input channels as one GEMM, M_xi (K x tiles) = U_xi (K x C) V_xi
 * (C x tiles) (gemm_f32, single-threaded); each tile's output is A^T M A. 2.25 x fewer multiplies than a
 * direct 3x3 convolution at the GEMM stage... 4x per output in the limit (36 products per 16 outputs
 * instead of 144).
 *   backward-data: dx is the same convolution of dy with the flipped, transposed weights
 *   (w'[c,k,i,j] = w[k,c,2-i,2-j], padding 1), so it runs through the same code.
 *   backward-weights: the gradient of the same algorithm, dU_xi (K x C) = sum over tiles of
 *   (A dy A^T)_xi (K x tiles) V_xi^T (tiles x C), 36 GEMMs over the tiles, then dw += G^T dU G (double).
 *   conv2d.c runs it where winograd_pays_dw (64 channels and more); im2col + GEMM otherwise.
 *
 * Tiles (forward, dx): blocks of consecutive tiles (image, tile row, tile column order), the block size fixed by the
 * shape (never by the thread count); a worker transforms one block's inputs into its own workspace,
 * runs the 36 GEMMs and writes the block's outputs, which no other block writes. Every sum has a fixed
 * order, so results are bit-identical for any ctx->threads. The weight transform is elementwise per
 * filter. No allocation: the workspace comes from nn_scratch (winograd_scratch_floats).
 *
 * Error: the transforms are exact in real arithmetic; in float32 the points +-2 scale the transformed
 * values (the entries of B^T and A^T reach 5 and 8), so the result is less accurate than im2col's.
 * Measured against a double direct convolution on random data (tests/unit/test_nn_dense.c, many shapes,
 * C up to 512): max |y - y_exact| / max |y_exact| <= 1.2e-5 forward and backward-data (im2col: about
 * 1e-6), 7e-6 for dW; per output, |y - y_exact| <= 4e-6 * the sum over its receptive field of |w| |x|
 * (WINOGRAD_ERR_BOUND, about 70 float32 units of rounding of that sum; worst measured 3.0e-6), and per
 * weight |dw - dw_exact| <= 1e-5 * the sum of |dy| |x| over its products (WINOGRAD_DW_ERR_BOUND; worst
 * measured 4.0e-6). PyTorch parity (1e-4 relative) holds with room: 1.3e-5 at worst on ResNet-18's
 * layers (tests/py/test_nn_dense.py).
 */
#ifndef AUDIOCNN_NN_WINOGRAD_H
#define AUDIOCNN_NN_WINOGRAD_H

#include "nn/conv2d.h"
#include "nn/nn.h"

#include <stddef.h>

/* The tested bound on |y - y_exact| / (sum of |w| |x| over the output's receptive field). */
#define WINOGRAD_ERR_BOUND 4e-6
/* The same for the weight gradient: |dw - dw_exact| / (sum of |dy| |x| over the weight's products). */
#define WINOGRAD_DW_ERR_BOUND 1e-5

/* 1 when s is a 3x3, stride-1, padding-1, dilation-1, groups-1 convolution. */
int winograd_applies(const Conv2dShape *s);

/* 1 when conv2d's AUTO choice runs s here: it applies, AUDIOCNN_WINOGRAD is not "0" (read once per
 * process), and the shape rule (above) takes it. */
int winograd_pays(const Conv2dShape *s);

/* winograd_pays for a forward pass of inference (a context with const_weights: cnneval, --scan): the
 * default rule from 64 input channels instead of 128 (ResNet's layer1 too), the rest unchanged. */
int winograd_pays_inference(const Conv2dShape *s);

/* 1 when AUTO also runs the weight gradient here (winograd_pays and the rule for it). */
int winograd_pays_dw(const Conv2dShape *s);

/* Floats of ctx workspace forward (dx == 0) or backward-data (dx == 1) take. */
size_t winograd_scratch_floats(const NnCtx *ctx, const Conv2dShape *s, int dx);

/* y = conv(x, w) + b, then the epilogue ep (NULL: none), as conv2d_forward_ep. Returns 0, or -1 with
 * err_set() when the workspace cannot be had. */
int winograd_forward(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y,
                     const ConvEpilogue *ep);

/* dx (N,C,H,W) WRITTEN from dy (N,K,H,W) and w (K,C,3,3). Returns 0, or -1 with err_set(). */
int winograd_backward_data(NnCtx *ctx, const Conv2dShape *s, const float *w, const float *dy, float *dx);

/* dw (K,C,3,3) += the weight gradient from x (N,C,H,W) and dy (N,K,H,W), through the same transforms
 * (dU = sum over tiles (A dy A^T) (.) (B^T x B), dw += G^T dU G). Returns 0, or -1 with err_set(). */
int winograd_backward_weights(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *dy, float *dw);
size_t winograd_dw_scratch_floats(const NnCtx *ctx, const Conv2dShape *s);

#endif
