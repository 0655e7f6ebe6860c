/* se.h - squeeze-and-excitation (torchvision.ops.SqueezeExcitation), forward and backward.
 *
 *   pooled = mean over (H, W) of x                      (N, C)
 *   h      = pooled W1^T + b1, W1 (R, C) = fc1.weight (R, C, 1, 1) in torchvision   (N, R)
 *   a      = ReLU(h)  (torchvision's default)  or SiLU(h) (EfficientNet)            (N, R)
 *   s      = sigmoid(a W2^T + b2), W2 (C, R) = fc2.weight (C, R, 1, 1)              (N, C)
 *   y      = x * s[:, :, None, None]                                               (N, C, H, W)
 * The caller owns the caches pooled, h, a, s that backward reads. Backward writes dx and adds (+=) the
 * parameter gradients; it uses ctx's workspace for its intermediates (2*N*C + 2*N*R floats).
 * Either device: the excitation and the squeeze are layer calls (linear, activations, global pooling,
 * each with its CUDA twin); se_scale and se_backward dispatch to se.cu under NN_CUDA (the plane scaling,
 * the gate's gradient and dx's scaled part as kernels.h's kb_se_scale, kb_se_gate_dot, kb_se_dx_acc:
 * se.c's operations in its order, the same bits; backward's intermediates in the device workspace). */
#ifndef AUDIOCNN_NN_SE_H
#define AUDIOCNN_NN_SE_H

#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct SEShape {
    int N, C, H, W, R;
    int silu; /* 0: ReLU, 1: SiLU */
} SEShape;

void se_forward(NnCtx *ctx, const SEShape *s, const float *x, const float *w1, const float *b1, const float *w2,
                const float *b2, float *y, float *pooled, float *h, float *a, float *sc);
/* se_forward without its scaling (the squeeze and the excitation: pooled, h, a, sc), for a consumer that
 * scales x by sc as it reads it (conv2d's in_scale). Same bits. */
void se_squeeze_excite(NnCtx *ctx, const SEShape *s, const float *x, const float *w1, const float *b1, const float *w2,
                       const float *b2, float *pooled, float *h, float *a, float *sc);
/* se_forward in its two halves, for a caller that has pooled already (conv2d's epilogue plane means):
 * the excitation pooled -> h, a, sc, and the scaling y = x * sc (y may alias x). Same bits. */
void se_excite(NnCtx *ctx, const SEShape *s, const float *pooled, const float *w1, const float *b1, const float *w2,
               const float *b2, float *h, float *a, float *sc);
void se_scale(NnCtx *ctx, const SEShape *s, const float *x, const float *sc, float *y);
/* Returns 0, or -1 with err_set() when the workspace cannot be allocated. */
int se_backward(NnCtx *ctx, const SEShape *s, const float *dy, const float *x, const float *w1, const float *w2,
                const float *pooled, const float *h, const float *a, const float *sc, float *dx, float *dw1, float *db1,
                float *dw2, float *db2);

#ifdef AUDIOCNN_CUDA
void se_scale_cuda(NnCtx *ctx, const SEShape *s, const float *x, const float *sc, float *y);
int se_backward_cuda(NnCtx *ctx, const SEShape *s, const float *dy, const float *x, const float *w1, const float *w2,
                     const float *pooled, const float *h, const float *a, const float *sc, float *dx, float *dw1,
                     float *db1, float *dw2, float *db2);
#endif

#ifdef __cplusplus
}
#endif

#endif
