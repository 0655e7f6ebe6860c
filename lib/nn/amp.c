#include "nn/amp.h"

#include "core/error.h"
#include "nn/nn.h"

#include <string.h>

int nn_amp_parse(const char *s, NnAmp *amp) {
    if (!strcmp(s, "off")) *amp = NN_AMP_OFF;
    else if (!strcmp(s, "bf16")) *amp = NN_AMP_BF16;
    else if (!strcmp(s, "fp16")) *amp = NN_AMP_FP16;
    else return -1;
    return 0;
}

const char *nn_amp_name(NnAmp amp) { return amp == NN_AMP_BF16 ? "bf16" : amp == NN_AMP_FP16 ? "fp16" : "off"; }

const char *nn_gpu_precision_option(NnAmp amp, int tf32) {
    return amp == NN_AMP_BF16 ? "--amp bf16" : amp == NN_AMP_FP16 ? "--amp fp16" : tf32 ? "--tf32" : NULL;
}

int nn_ctx_set_amp(NnCtx *ctx, NnAmp amp) {
    if (amp != NN_AMP_OFF && ctx->device != NN_CUDA) {
        err_set("mixed precision (%s) runs on a GPU only", nn_amp_name(amp));
        return -1;
    }
    ctx->amp = amp;
    return 0;
}
