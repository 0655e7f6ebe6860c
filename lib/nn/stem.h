/* stem.h - the arithmetic of a three-channel stem run on one repeated channel (convbn.h's repeated and
 * normalised input, ModelOptions.stem_repeat / in_norm) as layer functions, so that the unit runs on
 * either device: each dispatches to its twin in stem.cu under NN_CUDA (kernels.h's kb_stem_wsum,
 * kb_stem_wgrad, kb_bcast_sub, kb_batch_sum, kb_fill: the same float operations in the same order, so
 * the same bits; tests/unit/test_kernels.c).
 *
 *   w     (K, 3, KK)  the stem's weight as registered (KK = KH * KW)
 *   wsum  (K, KK)     its sum over the three channels: (w0 + w1) + w2, or normalised by the channels' std
 *                     (w0 / s0 + w1 / s1) + w2 / s2, with then wm = (w0 m0 / s0 + w1 m1 / s1) + w2 m2 / s2
 *   dw    (K, 3, KK)  += dwsum (the same for the three channels), or normalised dwsum / s_c - dwm m_c / s_c
 * All arrays are in ctx's memory; the NnStemNorm (kernels.h) is host memory. */
#ifndef AUDIOCNN_NN_STEM_H
#define AUDIOCNN_NN_STEM_H

#include "nn/kernels.h"
#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* wsum (and wm when s->norm) from w. */
void stem_weight_sum(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *w, float *wsum, float *wm);
/* dw += the gradients of the summed weights spread over the three channels (dwm read only when s->norm). */
void stem_weight_grad(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *dwsum, const float *dwm, float *dw);
/* y (n, per) -= c (per) for each of the n images (the ones-image correction of a normalised stem). */
void stem_sub_bcast(NnCtx *ctx, int64_t n, int64_t per, const float *c, float *y);
/* y (per) = the sum of x's n images (n, per), in image order (y must not alias x). */
void stem_batch_sum(NnCtx *ctx, int64_t n, int64_t per, const float *x, float *y);
/* y = v over n floats (zeroing a gradient that conv2d_backward accumulates into; the ones image). */
void stem_fill(NnCtx *ctx, size_t n, float v, float *y);

#ifdef AUDIOCNN_CUDA
/* stem.cu: the same on device memory. */
void stem_weight_sum_cuda(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *w, float *wsum, float *wm);
void stem_weight_grad_cuda(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *dwsum, const float *dwm, float *dw);
void stem_sub_bcast_cuda(NnCtx *ctx, int64_t n, int64_t per, const float *c, float *y);
void stem_batch_sum_cuda(NnCtx *ctx, int64_t n, int64_t per, const float *x, float *y);
void stem_fill_cuda(NnCtx *ctx, size_t n, float v, float *y);
#endif

#ifdef __cplusplus
}
#endif

#endif
