/* convbn.h - a convolution followed by BatchNorm2d and an activation: torchvision's
 * Conv2dNormActivation, the unit ResNet and EfficientNet are built from.
 *
 *   conv_out = conv2d(x, w)                 (no bias, as torchvision's units)
 *   out      = act(bn(conv_out))            act: none, ReLU or SiLU
 *
 * Promise: convbn_register() adds the parameters under torchvision's names ("<conv>.weight",
 * "<bn>.weight", "<bn>.bias", "<bn>.running_mean", "<bn>.running_var", "<bn>.num_batches_tracked",
 * in state_dict order). Forward (NN_TRAIN, NN_EVAL_GRAD) keeps conv_out (BN's backward input) and writes
 * out = act(bn(conv_out)) in one pass; NN_INFER keeps nothing: the convolution writes out and its
 * epilogue (conv2d.h) applies the eval BN's affine map and the activation to each plane while it is in
 * cache, with the same bits as NN_EVAL_GRAD. Backward takes the gradient of out,
 * DESTROYS it (the activation's and BN's backward run in place there), adds the parameter gradients
 * and writes dx (NULL: not needed). The activation's backward runs inside BN's (BatchNorm2dShape.act),
 * which recomputes the pre-activation from conv_out with the forward's own float operations (same
 * bits), so the pre-activation is never stored and `out` is not read.
 * Frozen (fine-tuning a backbone): the caller runs the forward in an eval mode, and backward adds no
 * parameter gradients.
 * Repeated input (a stem fed one channel as three identical ones, ModelOptions.stem_repeat): the weight
 * keeps torchvision's (K, 3, KH, KW) shape, the convolution runs on one channel with the weights summed
 * over the three (same outputs, a third of the work), and the weight gradient, which is the same for
 * the three channels, is added to each.
 * Normalised repeated input (ModelOptions.in_norm, torchvision's Normalize(mean, std) of the three
 * channels): the stem sees x_c = (x - m_c) / s_c, zero-padded. The convolution of that is
 *   conv(sum_c W_c / s_c, x) - conv(sum_c W_c m_c / s_c, ones)
 * where ones is an all-ones image of the input's size, zero-padded like x: the second term is the same
 * for every image (it differs from a constant only near the borders), computed once per forward on one
 * image, so the stem still runs on one channel. Backward: dW_c = dW_x / s_c - dW_ones m_c / s_c, with
 * dW_ones the weight gradient of the ones-image convolution for the batch's summed output gradient.
 * Mixed precision (a GPU context with ctx->amp), NN_TRAIN and NN_EVAL_GRAD: the convolution and BN hand each
 * other halves (nn/halfkeep.h: the half result, BN's dx as halves, x's half copy for the backward), where the
 * layer calls would widen and cast them again: the same bits (a scaled input too: its halves are of the
 * scaled values). Not the normalised stem, whose correction is subtracted in fp32. In that hand-over the
 * backward only reads the gradient of out.
 * Either device: the unit's buffers come from nn_alloc of the context given to convbn_alloc, and every
 * computation is a layer call with a CUDA twin (conv2d, batchnorm, and nn/stem.h for the repeated stem's
 * sums, correction and gradient spread), so under NN_CUDA the unit runs on the GPU as it stands; the
 * parameter table and the tensors handed in must then be device memory too. */
#ifndef AUDIOCNN_NN_CONVBN_H
#define AUDIOCNN_NN_CONVBN_H

#include "nn/activation.h"
#include "nn/amp.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/halfkeep.h"
#include "nn/nn.h"
#include "nn/kernels.h"
#include "nn/params.h"
#include "core/rng.h"

typedef struct ConvBn {
    Conv2dShape conv;
    BatchNorm2dShape bn;
    ActKind act;
    int pw, pbw, pbb, prm, prv, pnb; /* parameter indices */
    float *conv_out, *mean, *invstd;  /* owned, sized by convbn_alloc (conv_out: HalfKeep's room included) */
    HalfKeep hk;                      /* the last forward's hand-over: floats or halves (above) */
    int train;                        /* the last forward used BN batch statistics (NN_TRAIN) */
    int kept;                         /* the last forward kept what backward needs (not NN_INFER) */
    float *scale, *shift;             /* NN_INFER: the eval BN's affine map (K each) */
    int repeat;                       /* 1: registered with 3 input channels, run on 1 (see above) */
    float *wsum, *dwsum;              /* repeat: the summed weight and its gradient (K*KH*KW each) */
    int norm;                         /* repeat with per-channel normalisation (see above) */
    NnStemNorm sn;                    /* repeat: norm, 1 / s_c and m_c / s_c (nn/kernels.h) */
    float *wm, *dwm;                  /* norm: sum_c W_c m_c / s_c and its gradient (K*KH*KW each) */
    float *ones, *corr, *dysum;       /* norm: the ones image (H*W), its convolution and the summed
                                       * output gradient (K*OH*OW each) */
    NnDevice dev;                     /* where the buffers above are (convbn_alloc's context) */
} ConvBn;

/* Register the unit's parameters: conv weight (k, c/groups, ks, ks) under "<conv_name>.weight" and the
 * BN's under "<bn_name>.*". Stride, padding (ks/2 when pad < 0) and groups as Conv2d's. eps/momentum
 * as BatchNorm2d's. Returns 0, or -1 with err_set(). */
int convbn_register(ConvBn *u, ParamTable *t, const char *conv_name, const char *bn_name, int c, int k, int ks,
                    int stride, int pad, int groups, ActKind act, double eps, double momentum);

/* Make a unit registered with 3 input channels take 1 (see above); mean and std (3 each, or NULL: none)
 * normalise the three channels. Returns 0 (its buffers come with convbn_alloc). */
int convbn_set_repeat(ConvBn *u, const float *mean, const float *std);

/* Shapes for a batch of n images of h x w; *oh, *ow receive the output size. Returns 0 or -1. */
int convbn_set_batch(ConvBn *u, int n, int h, int w, int *oh, int *ow);
size_t convbn_out_numel(const ConvBn *u); /* N*K*OH*OW of the current batch */
/* conv_out for numel floats (the largest batch's), mean, invstd, the NN_INFER affine map and the
 * repeated stem's summed weights, ones image and correction, all in ctx's memory (nn_alloc: the GPU's
 * under NN_CUDA; the device is recorded, so the unit can be freed after ctx is gone). Returns 0 or -1
 * (no memory). */
int convbn_alloc(NnCtx *ctx, ConvBn *u, size_t numel);
void convbn_free(ConvBn *u);    /* the buffers convbn_alloc made */
void convbn_destroy(ConvBn *u); /* everything the unit owns (the same) */

/* out (N, K, OH, OW) from x (N, C, H, W); NN_TRAIN uses batch statistics and updates the running ones.
 * Returns 0, or -1 with err_set() (workspace). */
int convbn_forward(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, NnMode mode, float *out);
/* convbn_forward of x scaled by in_scale (N, C) as it is read (SE's excitation on the projection's input,
 * se_scale's bits, never stored), only where conv2d_in_scale_supported for the unit's convolution (and not
 * for the repeated stem); its backward then takes the same x and in_scale (convbn_backward_in_scale). */
int convbn_forward_in_scale(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *in_scale, NnMode mode,
                            float *out);
/* The NN_INFER forward with more of the epilogue: a residual, out = res_act(bn(conv(x)) + res), for a
 * unit without an activation of its own (ResNet's block end: res_act ReLU; MBConv's: none), the same
 * bits as the unit, residual_add_forward and the activation one after the other (res NULL: no residual,
 * out = act(bn(conv(x))); res must not alias out); and plane_mean (N, K) = the mean of each output
 * plane (NULL: not wanted; global_avgpool_forward's bits). in_scale (N, C), or NULL: x's planes scaled
 * by it as they are read (SE's excitation, se_scale's bits), only where conv2d_in_scale_supported for the
 * unit's convolution. Returns 0, or -1 with err_set(). */
int convbn_forward_infer(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *in_scale,
                         const float *res, ActKind res_act, float *plane_mean, float *out);

/* dout: gradient of out (destroyed); out: forward's output (ReLU's mask); x: forward's input.
 * Parameter gradients are added unless frozen; dx (N, C, H, W) is written unless NULL. Returns 0, or -1
 * with err_set() (workspace, or the last forward was NN_INFER). */
int convbn_backward(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *out, float *dout, float *dx,
                    int frozen);
/* convbn_backward after convbn_forward_in_scale: dx is the gradient of the scaled input x * in_scale. */
int convbn_backward_in_scale(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *in_scale, const float *out,
                             float *dout, float *dx, int frozen);

/* 1 when the last forward handed halves between the unit's convolution and BN (nn/halfkeep.h: AMP on a GPU). */
int convbn_halves(const ConvBn *u);
/* convbn_backward_in_scale between two units that both hand over halves (convbn_halves), the gradient going
 * from one straight to the other (the unit before's output is this unit's input and feeds nothing else):
 * dx_half: dx written as its halves (the buffer dx, of floats, holds them; the values whose widening dx
 * would have received); dout_half: dout holds the halves the unit after wrote so, read widened. The same
 * bits as the float gradient between them, without its widening pass and with half the bytes in BN's two
 * reads of it. Returns 0, or -1 with err_set() (also for halves where a unit does not hand over halves). */
int convbn_backward_halves(NnCtx *ctx, ConvBn *u, ParamTable *t, const float *x, const float *in_scale, float *dout,
                           int dout_half, float *dx, int dx_half, int frozen);

/* The rotating gradient buffers of a network's backward (n buffers of floats each, in ctx's memory: the
 * caller frees them with nn_free_on of that device), allocated at the first backward only (or NN_INFER
 * forward, which runs through them). Returns 0 or -1 (no memory). */
int convbn_grad_buffers(NnCtx *ctx, float **g, int n, size_t floats);

/* One of the n rotating buffers g that is none of the (up to three) tensors still needed. With four
 * buffers there is always one: NN_INFER forwards run through them instead of the per-layer buffers a
 * backward needs, so inference holds four activations, not all of them. */
float *convbn_pick_buffer(float **g, int n, const float *a, const float *b, const float *c);

/* torchvision's initialisation: conv kaiming_normal_(mode='fan_out'), BN weight 1, bias 0, running
 * mean 0, var 1, counter 0. */
void convbn_init(ConvBn *u, ParamTable *t, Rng *r);

#endif
