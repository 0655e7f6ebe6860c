/* depthwise.h - AVX-512 kernels for conv2d's direct path (every output channel reads one input channel:
 * EfficientNet's depthwise 3x3 and 5x5), one (image, channel) plane at a time.
 *
 * Each computes 16 outputs per vector with every tap in a register-held sum, four vectors at a time
 * (the portable path in conv2d.c sweeps a whole output row once per tap instead). The forward and dw
 * read a zero-padded copy of the input plane and stride-1 dx one of dy (in the caller's workspace), so
 * every load is a plain one; stride-2 dx uses masked loads. Nothing outside the tensors is read.
 * Chosen at run time (nn_avx512()); a call returns 0 when the shape is not one it handles (the caller
 * then runs the portable loops). Results equal the portable path's up to rounding (the taps are fused
 * multiply-adds here); each is deterministic and independent of the thread count. */
#ifndef AUDIOCNN_NN_DEPTHWISE_H
#define AUDIOCNN_NN_DEPTHWISE_H

#include "nn/activation.h"
#include "nn/conv2d.h"

#include <stddef.h>
#include <stdint.h>

/* Floats of workspace the kernels take per call (a zero-padded copy of one input or dy plane, after a
 * 16-float header); 0 when they do not run for this shape.
 *
 * pass: a token the caller gives every plane of one pass over a layer (the same shape) with the same
 * scratch, nothing else writing that scratch in between, and a new token for each pass (never reused);
 * then the zero padding is written once per pass and each later plane copies only its data. 0: no
 * such promise (the whole padded copy every time). Results never depend on it.
 * A 64-byte aligned scratch lets stride-1 taps load whole aligned vectors (faster; the same results). */
size_t depthwise_scratch_floats(const Conv2dShape *s);

/* y (OH, OW) = sum over taps of w (KH, KW) times x (H, W), plus bias. stride_w 1 or 2. scratch:
 * depthwise_scratch_floats(s) floats. */
int depthwise_fwd_plane(const Conv2dShape *s, const float *x, const float *w, float bias, float *y, float *scratch);

/* The epilogue of one plane: y = act(y * scale + shift [+ res]), act_affine's operations (activation.h). */
typedef struct DwPlaneEpilogue {
    float scale, shift;
    const float *res; /* (OH, OW) or NULL; not y */
    ActKind act;
} DwPlaneEpilogue;

/* depthwise_fwd_plane with ep (NULL: none) applied to each vector of outputs before it is stored: the
 * bits of depthwise_fwd_plane followed by act_affine, one pass fewer over the plane. */
int depthwise_fwd_plane_ep(const Conv2dShape *s, const float *x, const float *w, float bias, float *y, float *scratch,
                           uint64_t pass, const DwPlaneEpilogue *ep);

/* dx (H, W) = the gradient of one channel that feeds exactly one output channel (K == C), WRITTEN.
 * stride_w 1 or 2. scratch: depthwise_scratch_floats(s) floats. */
int depthwise_dx_plane(const Conv2dShape *s, const float *dy, const float *w, float *dx, float *scratch, uint64_t pass);

/* acc[i*KW + j] += sum over the plane of dy (OH, OW) times x (H, W) under tap (i, j). KH*KW <= 49,
 * stride_w 1 or 2. scratch: depthwise_scratch_floats(s) floats. */
int depthwise_dw_plane(const Conv2dShape *s, const float *x, const float *dy, double *acc, float *scratch,
                       uint64_t pass);

#endif
