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

#include "nn/nn.h"

#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) in float without a libm call, so that loops of it vectorise (SiLU and sigmoid are a third
 * of EfficientNet's time with libm's scalar expf): n = round(x / ln 2) by the 1.5 * 2^23 trick,
 * r = x - n ln 2 in two parts (Cody-Waite), Cephes' degree-6 polynomial for exp(r), times 2^n built in
 * the exponent bits. Below -87.3 the result is 0 (exp is a denormal there) and above 88.3 inf (2^n must stay normal), so
 * sigmoid and SiLU saturate exactly as torch's do. Within 2 ulp of libm's expf in between
 * (tests/unit/test_nn_misc.c); NaN gives NaN. */
static inline float nn_expf(float x) {
    float xo = x;
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float t = x * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: the low mantissa bits hold round(x/ln2) */
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t ti, si;
    memcpy(&ti, &t, sizeof ti);
    si = (ti - 0x4B400000u + 127u) << 23; /* the integer in t's mantissa, biased, into the exponent field */
    float scale;
    memcpy(&scale, &si, sizeof scale);
    float y = p * scale;
    y = xo < -87.3f ? 0.0f : y;
    return xo > 88.3f ? (float)INFINITY : y;
}

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

#endif
