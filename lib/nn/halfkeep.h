/* halfkeep.h - what a convolution followed by BatchNorm hands from pass to pass, as floats or, under mixed
 * precision on a GPU, as the halves autocast's convolution works on (convbn.h's unit; the baseline's blocks).
 *
 * Floats (HalfKeep.type NN_AMP_OFF; the CPU, fp32 and TF32 always): the layer calls as they are. The
 * convolution writes conv_out, BN reads it; BN's backward writes its dx over dout, the convolution's backward
 * reads that as dy (under AMP it casts dy and x to half itself).
 * Halves (type = ctx->amp, set by halfkeep_conv_forward on a GPU context with AMP): the convolution's half result
 * stays in conv_out as cuDNN (or the own depthwise kernels) wrote it (conv2d_forward_half) and x's half copy in
 * HalfKeep.x_half; BN reads the half result widened (batchnorm2d_*_half) and writes its dx as halves after it in
 * conv_out's buffer; the convolution's backward takes those and x_half (conv2d_backward_half).
 * Widening is exact and the halves are the values the casts would make, so the results are the float
 * hand-over's bits (nn/amp.h's rules: storage, not semantics). Per element, no widening pass (2 bytes read, 4
 * written), no backward casts of dy and x (4 read, 2 written, each), BN's dx in 2 bytes instead of 4, and 2
 * bytes instead of 4 in each of BN's five reads of its input. Between two such units whose gradient goes
 * straight from one to the other (convbn_backward_halves: ResNet's units within a block, EfficientNet's
 * depthwise to expansion), the convolution's dx stays in halves too (dx_half, dout_half): no widening pass (2
 * read, 4 written) and 2 bytes instead of 4 in each of BN's two reads of it.
 * conv_out is the caller's: floats for the largest batch's N*K*OH*OW plus HALFKEEP_SLACK (room for the half
 * dx's 128-byte alignment). x_half is the HalfKeep's own, grown to the largest batch at a forward (nn_alloc of
 * the forward's context), freed by halfkeep_free; none where the own depthwise kernels run the convolution
 * (conv2d_half_keeps_x: they read x itself). dout is only read in the half hand-over.
 * AUDIOCNN_HALFKEEP=0 in the environment keeps the float hand-over under AMP too: the same results (the
 * simulated GPU's tests compare the bytes), more bytes moved; a switch for diagnosis on a GPU.
 * Memory: x_half holds 2 bytes per element of the unit's input from forward to backward, as PyTorch's autocast
 * keeps the half inputs it saved for backward (where the casts were temporary copies in one shared scratch
 * block before): up to a quarter more activation memory for ResNet-18 under AMP. */
#ifndef AUDIOCNN_NN_HALFKEEP_H
#define AUDIOCNN_NN_HALFKEEP_H

#include "nn/amp.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

#define HALFKEEP_SLACK 32 /* floats beyond the largest N*K*OH*OW in a conv_out buffer */

typedef struct HalfKeep {
    NnAmp type;       /* the last forward's hand-over: NN_AMP_OFF floats, else halves of this type */
    uint16_t *x_half; /* x's half copy from the last forward (x_half_len halves) */
    size_t x_half_len;
    int x_made;       /* the last forward made it (not the own depthwise kernels, which read x) */
    NnDevice dev;     /* where x_half is */
} HalfKeep;

/* The convolution of s (no bias) into conv_out: halves where ctx is a GPU context with AMP, else floats
 * (conv2d_forward_ep); records which in k->type. in_scale (or NULL): x read scaled, as conv2d.h's (only where
 * conv2d_in_scale_supported; under AMP x_half is then the scaled copy). Returns 0, or -1 with err_set(). */
int halfkeep_conv_forward(NnCtx *ctx, HalfKeep *k, const Conv2dShape *s, const float *x, const float *in_scale,
                          const float *w, float *conv_out);
/* The float hand-over from here on, for a forward the caller ran itself (convbn.h's normalised stem). */
void halfkeep_floats(HalfKeep *k);

/* BatchNorm of conv_out as kept: train (batch statistics, running ones updated) or eval, out (floats) and the
 * mean/invstd caches as batchnorm2d_forward_train/eval's. Returns 0, or -1 with err_set(). */
int halfkeep_bn_forward(NnCtx *ctx, const HalfKeep *k, int train, const BatchNorm2dShape *bs, const float *conv_out,
                        const float *weight, const float *bias, float *running_mean, float *running_var,
                        float *num_batches_tracked, float *out, float *mean, float *invstd);
/* BatchNorm's backward (train or eval) from dout, the gradient of its output: dweight/dbias += (NULL: frozen),
 * its dx kept for halfkeep_conv_backward (floats: written over dout; halves: after the half result in conv_out).
 * dout_half (halves only): dout's buffer holds halves of k->type (a following convolution's dx_half). Returns 0,
 * or -1 with err_set(). */
int halfkeep_bn_backward(NnCtx *ctx, const HalfKeep *k, int train, const BatchNorm2dShape *bs, float *dout, int dout_half,
                         float *conv_out, const float *weight, const float *bias, const float *mean, const float *invstd,
                         float *dweight, float *dbias);
/* The convolution's backward from BN's kept dx (dout, or its halves): dx written (NULL: not needed), dw += (NULL:
 * frozen); in_scale: the forward's (conv2d_backward_in_scale's). dx_half (halves only): dx's buffer receives dx's
 * halves instead (for a preceding BN's dout_half). Returns 0, or -1 with err_set(). */
int halfkeep_conv_backward(NnCtx *ctx, const HalfKeep *k, const Conv2dShape *s, const float *x, const float *in_scale,
                           const float *w, const float *dout, float *conv_out, float *dx, int dx_half, float *dw);

/* x_half's memory (the HalfKeep stays usable: a later forward allocates again). */
void halfkeep_free(HalfKeep *k);

#endif
