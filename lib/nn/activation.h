/* activation.h - element-wise activations (ReLU, SiLU, sigmoid) and the residual add, PyTorch semantics.
 *
 * Every tensor is n contiguous floats of any shape. out may alias x (the in-place variants, like
 * nn.ReLU(inplace=True)); dx may alias dout. Input gradients are written (=). Which saved tensor each
 * backward needs is stated per function: ReLU and sigmoid work from their OUTPUT (so in-place forward
 * is fine), SiLU needs its INPUT.
 *   relu(x)    = max(x, 0)                 drelu: dx = dout where y > 0, else 0 (0 at x == 0, as torch)
 *   sigmoid(x) = 1 / (1 + exp(-x))         dsigmoid: dx = dout * (1 - y) * y (torch's sigmoid_backward)
 *   silu(x)    = x / (1 + exp(-x))         dsilu: dx = dout * s * (1 + x * (1 - s)), s = sigmoid(x)
 * Deterministic: purely element-wise, so thread count never matters. */
#ifndef AUDIOCNN_NN_ACTIVATION_H
#define AUDIOCNN_NN_ACTIVATION_H

#include "nn/kernels.h"
#include "nn/nn.h"

#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* nn_expf (a vectorisable exp, 2 ulp) comes from nn/kernels.h, shared with the CUDA kernels. */

/* The activations a Conv-BN unit can end with. */
typedef enum { ACT_NONE = 0, ACT_RELU = 1, ACT_SILU = 2 } ActKind;

/* One output channel's epilogue of an eval-mode Conv-BN-activation unit, in one pass over n floats:
 *   y = act(x * scale + shift [+ res])
 * with exactly the float operations of BatchNorm's affine map, residual_add_forward and relu_forward /
 * silu_forward run one after the other, so the same bits as those passes. y may alias x; res (NULL:
 * none) must not alias y. */
void act_affine(const float *x, float *y, int64_t n, float scale, float shift, const float *res, ActKind act);

/* x, out (n); out may alias x. */
void relu_forward(NnCtx *ctx, size_t n, const float *x, float *out);
/* dout, y, dx (n); y is the forward output (or input: same sign test); dx may alias dout. */
void relu_backward(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx);

void sigmoid_forward(NnCtx *ctx, size_t n, const float *x, float *out);
/* y is the forward OUTPUT. */
void sigmoid_backward(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx);

/* out may alias x, but the backward needs x, so only when no backward follows. */
void silu_forward(NnCtx *ctx, size_t n, const float *x, float *out);
/* x is the forward INPUT. */
void silu_backward(NnCtx *ctx, size_t n, const float *dout, const float *x, float *dx);

/* Residual add: out = a + b (n); out may alias a or b. */
void residual_add_forward(NnCtx *ctx, size_t n, const float *a, const float *b, float *out);
/* out = relu(a + b) in one pass (ResNet's block end), the same bits as the two passes. out may alias a
 * or b. Its backward is relu_backward on out, then residual_add_backward. */
void residual_add_relu_forward(NnCtx *ctx, size_t n, const float *a, const float *b, float *out);
/* Its backward: the gradient flows unchanged into both branches, da = db = dout. Either may be NULL
 * (not needed) or alias dout (nothing to do). */
void residual_add_backward(NnCtx *ctx, size_t n, const float *dout, float *da, float *db);
/* dst += src (n): sums the gradients of the two uses of a tensor at a branch point (a residual block's
 * input feeds the shortcut and the main path). */
void grad_accumulate(NnCtx *ctx, size_t n, const float *src, float *dst);

#ifdef AUDIOCNN_CUDA
/* activation.cu: the same functions on device memory (kernels.h's kb_elementwise), dispatched to by the
 * functions above under NN_CUDA. */
void relu_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out);
void relu_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx);
void sigmoid_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out);
void sigmoid_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx);
void silu_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out);
void silu_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *x, float *dx);
void residual_add_forward_cuda(NnCtx *ctx, size_t n, const float *a, const float *b, float *out);
void residual_add_relu_forward_cuda(NnCtx *ctx, size_t n, const float *a, const float *b, float *out);
void residual_add_backward_cuda(NnCtx *ctx, size_t n, const float *dout, float *da, float *db);
void grad_accumulate_cuda(NnCtx *ctx, size_t n, const float *src, float *dst);
#endif

#ifdef __cplusplus
}
#endif

#endif
