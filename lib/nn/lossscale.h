/* lossscale.h - the dynamic loss scale of fp16 mixed precision, as PyTorch's torch.cuda.amp.GradScaler.
 *
 * Promise (GradScaler's _amp_update_scale_ with its defaults: init_scale 2^16, growth_factor 2,
 * backoff_factor 0.5, growth_interval 2000): the loss is multiplied by `scale` before backward; the
 * gradients are unscaled (times 1/scale) and checked; then lossscale_update(found_inf):
 *   found_inf:  the optimiser step is SKIPPED, scale *= backoff_factor, growth_tracker = 0
 *   otherwise:  the step is taken; growth_tracker + 1 == growth_interval ? (scale *= growth_factor when
 *               the product is finite, growth_tracker = 0) : growth_tracker += 1
 * Plain C (tests/unit/test_gpu_host.c); lossscale_unscale runs on the context's device. The state (scale, growth_tracker) belongs in the resumable
 * state: lossscale_format / lossscale_parse give and read back one metadata string, exactly (scale with
 * %.9g: every float round-trips). bf16 (and fp32) training runs with the scaler disabled: scale 1, every
 * step taken. */
#ifndef AUDIOCNN_NN_LOSSSCALE_H
#define AUDIOCNN_NN_LOSSSCALE_H

#include "nn/nn.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct LossScale {
    int enabled;
    float scale;
    float growth_factor, backoff_factor;
    int growth_interval;
    int growth_tracker;   /* clean steps since the last change */
    long long skipped;    /* steps skipped so far (for -v) */
} LossScale;

/* GradScaler's defaults; enabled 0 gives scale 1 and updates that never skip. */
void lossscale_init(LossScale *s, int enabled);
/* 1 when the step is to be taken (no inf/NaN found), 0 when it is skipped; updates the scale. */
int lossscale_update(LossScale *s, int found_inf);
/* 1/scale, what the gradients are multiplied by before the checks and the step. */
static inline float lossscale_inv(const LossScale *s) { return 1.0f / s->scale; }
/* "SCALE GROWTH_TRACKER SKIPPED" for the resumable state's metadata "state.amp_scale". */
void lossscale_format(const LossScale *s, char *buf, size_t n);
/* Reads lossscale_format's text into an initialised scaler. Returns 0, or -1 with err_set(). */
int lossscale_parse(LossScale *s, const char *text);

/* grad (n floats of ctx's memory) *= inv_scale in place, and *found_inf = 1 when any result is inf or NaN
 * (else 0): kernels.h's kb_unscale, on the GPU lossscale_unscale_cuda. Returns 0, or -1 with err_set(). */
int lossscale_unscale(NnCtx *ctx, float *grad, size_t n, float inv_scale, int *found_inf);

#ifdef AUDIOCNN_CUDA
/* lossscale.cu: grad (n floats, device memory) *= inv_scale in place, and *found_inf = 1 when any result
 * is inf or NaN (kernels.h's kb_unscale; waits for the answer). Returns 0, or -1 with err_set(). */
int lossscale_unscale_cuda(NnCtx *ctx, float *grad, size_t n, float inv_scale, int *found_inf);
#endif

#ifdef __cplusplus
}
#endif

#endif
