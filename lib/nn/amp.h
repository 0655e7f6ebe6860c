/* amp.h - mixed precision on the GPU path (cnntrain --amp bf16|fp16), as PyTorch's torch.autocast("cuda")
 * runs a CNN, plus GradScaler for fp16 (nn/lossscale.h).
 *
 * Promise (NnCtx.amp, set by nn_ctx_set_amp on a NN_CUDA context; the CPU engine never looks at it):
 *  - fp32 stays fp32: the master weights, their gradients, the optimiser's moments, BatchNorm (statistics,
 *    affine, running buffers), activations, pooling, dropout, SE's scaling, the tensors between layers, the
 *    logits, the loss and the softmax. Checkpoints and states are the ordinary fp32 files.
 *  - Convolutions (conv2d.cu, cuDNN) and linear layers (linear.cu, cublasGemmEx) run in the half type H
 *    (fp16 = IEEE binary16, or bf16 = the top 16 bits of a float), with products accumulated in fp32
 *    (cuDNN compute type CUDNN_DATA_FLOAT with CUDNN_TENSOR_OP_MATH; cuBLAS CUBLAS_COMPUTE_32F). With
 *    h(v) = v rounded to H (round to nearest even; fp16 overflows to +-inf and has subnormals, bf16 keeps
 *    the float range; NaN stays NaN) and widen() exact:
 *      forward   y  = widen(h(sum h(x) h(w)))                      then, with a bias b:
 *                y  = widen(h(y + widen(h(b))))                    (the bias added in H, as PyTorch's conv)
 *      backward  dx = widen(h(sum h(dy) h(w)))                     (written)
 *                dw += widen(h(sum h(x) h(dy)))                    (the half weight gradient widened, then
 *                                                                  added to the fp32 gradient)
 *                db += widen(h(sum over the batch (and pixels) of widen(h(dy)))) (the sum in fp32)
 *    which is autocast's precision for conv/linear (their inputs, weights and outputs in half; the cast's
 *    backward widens the weight gradient), in every convolution: grouped and depthwise ones too, and SE's
 *    two linear layers (torchvision's are 1x1 convolutions, autocast runs them in half).
 *  - The element maths (the casts, widening with a bias, the bias gradient) are kernels.h's kb_to_half,
 *    kb_from_half, kb_cast_half, kb_widen, kb_widen_add, kb_widen_bias and kb_bias_grad_half, the same on
 *    the GPU, in the CPU tests and in the simulated GPU (tests/simgpu/cudasim.c, which runs the CPU layer on
 *    the rounded copies and rounds its fp32 result: the accumulation order is the CPU's, not cuDNN's).
 *  - The half copies live in a scratch block of the context (grown as needed, never allocated per call),
 *    except those a conv -> BN hand-over keeps from forward to backward (nn/halfkeep.h: x's half copy, per
 *    unit, grown to the largest batch).
 *  - fp16 training scales the loss (nn/lossscale.h: GradScaler's dynamic scale, steps with inf/NaN
 *    gradients skipped); bf16 has float's range and runs unscaled.
 * cnneval (--amp, and its scanner) runs the forward under the same rules.
 * Storage, not semantics: a Conv-BN unit (convbn.h) keeps the halves these rules produce and consume where the
 * layer calls would widen and cast them again (its convolution's half result read by BN, BN's dx written as
 * the half dy, the forward's half copy of x reused by the backward): values and results are the same. */
#ifndef AUDIOCNN_NN_AMP_H
#define AUDIOCNN_NN_AMP_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { NN_AMP_OFF = 0, NN_AMP_BF16 = 1, NN_AMP_FP16 = 2 } NnAmp;

/* "off", "bf16" or "fp16" -> *amp: 0, or -1 for anything else (no err_set: the tool names its option). */
int nn_amp_parse(const char *s, NnAmp *amp);
/* "off", "bf16", "fp16" */
const char *nn_amp_name(NnAmp amp);
/* The first precision option given that only a GPU runs, as the tools spell it ("--amp bf16", "--amp fp16",
 * "--tf32"), or NULL: what cnntrain and cnneval refuse on the CPU. */
const char *nn_gpu_precision_option(NnAmp amp, int tf32);

struct NnCtx;
/* Mixed precision for the context's conv/linear layers from now on. NN_AMP_OFF always; bf16/fp16 only on a
 * NN_CUDA context. Returns 0, or -1 with err_set(). */
int nn_ctx_set_amp(struct NnCtx *ctx, NnAmp amp);

#ifdef __cplusplus
}
#endif

#endif
