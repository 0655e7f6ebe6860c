/* conv2d.h - 2-D convolution (torch.nn.functional.conv2d), CPU, forward and backward.
 *
 * Semantics are PyTorch's: cross-correlation, zero padding, stride, dilation, groups (depthwise when
 * groups == C; a channel multiplier K = m*C is allowed), optional bias.
 *
 *   x  (N, C, H, W)            input
 *   w  (K, C/groups, KH, KW)   weight
 *   b  (K) or NULL             bias
 *   y  (N, K, OH, OW)          output, OH = (H + 2*pad_h - dil_h*(KH-1) - 1) / stride_h + 1 (same for W)
 *
 * Algorithms:
 *   GEMM    im2col of a block of output pixels into a per-thread slice of the ctx workspace, then
 *           gemm_f32 per group (nn/gemm.h: our AVX-512 kernel or OpenBLAS). A 1x1, stride-1, unpadded
 *           convolution hands the input (and dx) to the GEMM directly, without im2col.
 *   DIRECT  when every output channel reads one input channel (C/groups == 1): shifted row
 *           multiply-adds per (image, channel) plane (nn/depthwise.h's AVX-512 kernels where the CPU
 *           has them); sgemm is poor at depthwise shapes.
 *   WINOGRAD 3x3, stride 1, padding 1, dilation 1, groups 1: forward and dx through Winograd F(4x4, 3x3)
 *           (nn/winograd.h), dW too where winograd_pays_dw (64+ channels), else through GEMM.
 * CONV2D_AUTO (and CONV2D_AUTO_WINOGRAD, which lowers Winograd's channel threshold to 16) picks DIRECT for
 * depthwise (C/groups == 1, groups > 1), WINOGRAD where winograd_pays() (winograd_pays_inference() in a context
 * with const_weights)
 * (a measured shape rule; AUDIOCNN_WINOGRAD=0 turns it off) and GEMM otherwise (a one-channel input
 * with groups == 1 is faster with OpenBLAS's kernels); tests force each.
 * Tiles: forward, (image, block of output pixels); the block's im2col rows and outputs take about
 * 1 MiB. Backward (GEMM), up to 16 fixed chunks of the batch, each running through its images' pixel
 * blocks (dW and dx from the same dy block while it is in cache) and summing its weight gradient into
 * its own partial (chunk 0 straight into dw), added to dw in chunk order at the end: workspace
 * (chunks - 1) * w_numel floats: about 32 MiB, fewer chunks for bigger weights but at least 8 (so
 * that a few threads share them evenly; 7 partials, 66 MiB, for ResNet's 512x512x3x3).
 *
 * Threads and determinism: tiles depend only on the shape (never on the thread count); the ctx threads
 * take contiguous runs of tiles (nn_parallel_for), each tile writes outputs no other tile writes, and
 * each sum has a fixed order. OpenBLAS's own threading is NOT thread-count invariant (measured with
 * 0.3.21, Haswell kernels: sgemm of 16x51200x9, 32x12800x144, 128x800x576, ... differs in the last bits
 * between 1 and 2 OpenBLAS threads), so every sgemm here runs single-threaded inside a tile: OpenBLAS is
 * set to 1 thread during a call and back to ctx->threads afterwards (a process-wide setting: do not run
 * two layers concurrently from different threads). Results are bit-identical for any ctx->threads
 * (tests/unit/test_nn_dense.c checks 1, 2 and 3 threads; with OpenBLAS threading they differ).
 */
#ifndef AUDIOCNN_NN_CONV2D_H
#define AUDIOCNN_NN_CONV2D_H

#include "nn/activation.h"
#include "nn/kernels.h"
#include "nn/nn.h"
#include "core/rng.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CONV2D_AUTO_WINOGRAD: AUTO, but Winograd from 16 input channels where it pays (winograd_pays): for a model
 * whose parity tests hold with it (the baseline CNN); AUDIOCNN_WINOGRAD=0 still turns it off. */
typedef enum {
    CONV2D_AUTO = 0,
    CONV2D_GEMM = 1,
    CONV2D_DIRECT = 2,
    CONV2D_WINOGRAD = 3,
    CONV2D_AUTO_WINOGRAD = 4
} Conv2dAlgo;

typedef struct Conv2dShape {
    int N, C, H, W;          /* input */
    int K, KH, KW;           /* output channels, kernel size */
    int stride_h, stride_w;  /* 0 means 1 */
    int pad_h, pad_w;        /* zero padding on each side */
    int dil_h, dil_w;        /* 0 means 1 */
    int groups;              /* 0 means 1 */
    Conv2dAlgo algo;         /* CONV2D_AUTO unless testing */
    int OH, OW;              /* set by conv2d_shape_init */
} Conv2dShape;

/* Fill in defaults (0 -> 1 for stride, dilation, groups), validate (positive sizes, C and K divisible
 * by groups, DIRECT only with C/groups == 1, a non-empty output, sizes that fit int) and compute OH,
 * OW. Returns 0, or -1 with err_set(). Usage:
 *   Conv2dShape s = {.N = 32, .C = 1, .H = 128, .W = 400, .K = 16, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
 *   if (conv2d_shape_init(&s) < 0) ... */
int conv2d_shape_init(Conv2dShape *s);

/* Element counts of the tensors. */
size_t conv2d_x_numel(const Conv2dShape *s);
size_t conv2d_y_numel(const Conv2dShape *s);
size_t conv2d_w_numel(const Conv2dShape *s);

/* Floats of ctx workspace forward/backward use (0 when none); reserving it up front with
 * nn_scratch(ctx, n) guarantees that forward and backward cannot fail. */
size_t conv2d_scratch_floats(const NnCtx *ctx, const Conv2dShape *s);

/* y = conv(x, w) + b.  x (N,C,H,W), w (K,C/g,KH,KW), b (K) or NULL -> y (N,K,OH,OW).
 * Returns 0, or -1 with err_set() when the workspace cannot be allocated. */
int conv2d_forward(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b,
                   float *y);

/* Mixed precision only (a GPU context with ctx->amp, nn/amp.h), no bias; convbn.h's unit runs its convolution
 * so, keeping the halves between its passes:
 * conv2d_forward_half: conv2d_forward without widening the result: y (N,K,OH,OW) receives the half result
 * h(sum h(x) h(w)) as the amp type's bits (uint16_t), the values whose widening conv2d_forward writes, in half
 * the bytes. x_half (N,C,H,W halves, or NULL): where x's half copy is made, for the backward; *x_half_made 1
 * when it was (not when the own depthwise kernels ran: they round x as they read it).
 * conv2d_backward_half: conv2d_backward with dy given as its halves dy_half (h(dy): BatchNorm's backward writes
 * them so) and x's halves x_half from the forward (or NULL: x is cast here), each used where the cast would
 * have been: the same results, without the casts. dx_half (or NULL): when given, dx's halves are written there
 * and dx is not, the values whose widening dx would receive (for a BatchNorm that reads its dout as halves).
 * in_scale (or NULL): x read as x[n,c] * in_scale[n*C + c], as conv2d_forward_ep's and
 * conv2d_backward_in_scale's (only where conv2d_in_scale_supported); the half copy is then of the scaled x.
 * Return 0, or -1 with err_set() (and on a context without AMP). */
int conv2d_forward_half(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w, uint16_t *y,
                        uint16_t *x_half, int *x_half_made);
int conv2d_backward_half(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const uint16_t *x_half,
                         const float *w, const uint16_t *dy_half, float *dx, uint16_t *dx_half, float *dw);
/* 1 when conv2d_forward_half on ctx would make x's half copy for s, so that the caller holds memory for it; 0
 * for a depthwise shape whose cached choice is the own kernels (they read x itself), and on the CPU. */
int conv2d_half_keeps_x(NnCtx *ctx, const Conv2dShape *s);

/* What conv2d_forward_ep does to each output plane while it is still in cache: an eval-mode
 * Conv-BN-activation unit (and ResNet's residual add, EfficientNet's squeeze) in one pass:
 *   y[n,k] = act(y[n,k] * scale[k] + shift[k] [+ res[n,k]])        (see act_affine: the same bits as
 *                                                                   the separate passes)
 *   plane_mean[n*K + k] = mean of the final y[n,k]                 (global_avgpool_forward's bits)
 * The bias, if any, is added before. */
typedef struct ConvEpilogue {
    const float *scale, *shift; /* (K), both required, except in an epilogue of in_scale alone (both NULL) */
    const float *res;           /* (N, K, OH, OW) or NULL; must not alias y */
    ActKind act;
    float *plane_mean;          /* (N, K) or NULL */
    float *pool2;               /* (N, K, OH/2, OW/2) or NULL: the final y max-pooled 2x2/2 (maxpool2d_forward's
                                 * values, no argmax) into pool2 INSTEAD of y, which is not written (may be
                                 * NULL); only where conv2d_pool2_supported, and not with plane_mean */
    const float *in_scale;      /* (N, C) or NULL: x[n,c] read as x[n,c] * in_scale[n*C + c] (se_scale's bits:
                                 * EfficientNet's excitation folded into the projection, whose scaled input is
                                 * never stored); only where conv2d_in_scale_supported */
} ConvEpilogue;

/* conv2d_forward followed by the epilogue ep (NULL: none). */
int conv2d_forward_ep(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y,
                      const ConvEpilogue *ep);

/* 1 when conv2d_forward_ep takes ep->pool2 for s on ctx: Winograd's path on the CPU, whose output tiles
 * hold whole 2x2 windows (pooled from the tile in cache: the full-resolution y is never stored). */
int conv2d_pool2_supported(const NnCtx *ctx, const Conv2dShape *s);

/* 1 when conv2d_forward_ep takes ep->in_scale for s on ctx: on the CPU a pointwise (1x1, stride 1, no
 * padding) convolution through the GEMM, which scales x's rows as it packs them; on a GPU in mixed precision
 * any but a depthwise one, x scaled as it is cast to half (kernels.h's kb_cast_half_scaled). */
int conv2d_in_scale_supported(const NnCtx *ctx, const Conv2dShape *s);

/* Gradients: dx (N,C,H,W) is WRITTEN (may be NULL: not needed, e.g. the first layer); dw (K,C/g,KH,KW)
 * += (may be NULL: frozen weights) and db (K) += (may be NULL: no bias). x and w are forward's inputs,
 * dy (N,K,OH,OW) the output gradient. Returns 0, or -1 with err_set() when the workspace cannot be
 * allocated. */
int conv2d_backward(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *dy,
                    float *dx, float *dw, float *db);
/* conv2d_backward of conv2d_forward_ep's scaled input: x read as x[n,c] * in_scale[n*C + c] (SE's excitation
 * on the projection's input, never stored): dw from the scaled values (scaled as the GEMM packs them: the
 * bits of se_scale then conv2d_backward on our GEMM kernels; with OpenBLAS's, which takes the scaled
 * values in blocks of 32 pixels, within rounding of them), dx the gradient of the scaled input. Only where
 * conv2d_in_scale_supported; in_scale NULL is conv2d_backward. */
int conv2d_backward_in_scale(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w,
                             const float *dy, float *dx, float *dw, float *db);

#ifdef AUDIOCNN_CUDA
/* conv2d.cu: the same on device memory through cuDNN (algorithm benchmarked once per shape and cached in
 * the context; true fp32; deterministic algorithms only with ctx->deterministic; under ctx->amp on half
 * copies with fp32 accumulation, nn/amp.h). conv2d_forward_ep's epilogue arrays must be device memory too. */
int conv2d_forward_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y);
int conv2d_forward_ep_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y,
                           const ConvEpilogue *ep);
int conv2d_forward_half_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w,
                             uint16_t *y, uint16_t *x_half, int *x_half_made);
int conv2d_backward_half_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale,
                              const uint16_t *x_half, const float *w, const uint16_t *dy_half, float *dx, uint16_t *dx_half,
                              float *dw);
int conv2d_half_keeps_x_cuda(NnCtx *ctx, const Conv2dShape *s);
int conv2d_backward_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w, const float *dy,
                         float *dx, float *dw, float *db);
#endif
/* A depthwise convolution (groups == C == K, more than one group): conv2d.cu's own kernels (kernels.h's
 * kb_dw_*) may run it, in fp32, TF32 or AMP, where they beat cuDNN's grouped convolution on the shape (timed
 * once per shape, pass and precision beside cuDNN's search, the choice cached with the algorithm; they
 * are deterministic, so they also serve where cuDNN offers nothing usable, --deterministic's case; AUDIOCNN_DEPTHWISE=own or
 * cudnn forces one, AUDIOCNN_ALGO_LOG=1 prints each choice on stderr). */
static inline int conv2d_is_depthwise(const Conv2dShape *s) { return s->groups > 1 && s->groups == s->C && s->K == s->C; }
/* The geometry kernels.h's depthwise bodies take. */
static inline NnDwGeom conv2d_dw_geom(const Conv2dShape *s) {
    return nn_dw_geom(s->N, s->C, s->H, s->W, s->OH, s->OW, s->KH, s->KW, s->stride_h, s->stride_w, s->pad_h, s->pad_w,
                      s->dil_h, s->dil_w);
}

/* PyTorch's default initialisation (nn.Conv2d.reset_parameters): w ~ kaiming_uniform_(a=sqrt(5)),
 * i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (b may be
 * NULL), fan_in = C/groups*KH*KW. Same distribution as torch, not the same numbers. */
void conv2d_init_default(Rng *r, const Conv2dShape *s, float *w, float *b);

/* kaiming_normal_(w, mode='fan_out', nonlinearity='relu') as torchvision's ResNet does:
 * w ~ N(0, 2/fan_out), fan_out = K*KH*KW (Box-Muller normals from r). */
void conv2d_init_kaiming_normal_fan_out(Rng *r, const Conv2dShape *s, float *w);

/* Shared fillers (also used by linear.c): U(-bound, bound) and N(0, std^2), in index order. */
void nn_fill_uniform(Rng *r, float *a, size_t n, double bound);
void nn_fill_normal(Rng *r, float *a, size_t n, double std);

#ifdef __cplusplus
}
#endif

#endif
