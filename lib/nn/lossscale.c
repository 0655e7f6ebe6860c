#include "nn/lossscale.h"

#include "core/error.h"
#include "nn/kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lossscale_init(LossScale *s, int enabled) {
    s->enabled = enabled;
    s->scale = enabled ? 65536.0f : 1.0f;
    s->growth_factor = 2.0f;
    s->backoff_factor = 0.5f;
    s->growth_interval = 2000;
    s->growth_tracker = 0;
    s->skipped = 0;
}

int lossscale_update(LossScale *s, int found_inf) {
    if (!s->enabled) return 1;
    if (found_inf) {
        s->scale *= s->backoff_factor;
        s->growth_tracker = 0;
        s->skipped++;
        return 0;
    }
    int successful = s->growth_tracker + 1;
    if (successful == s->growth_interval) {
        float grown = s->scale * s->growth_factor;
        if (isfinite(grown)) s->scale = grown;
        s->growth_tracker = 0;
    } else {
        s->growth_tracker = successful;
    }
    return 1;
}

void lossscale_format(const LossScale *s, char *buf, size_t n) {
    snprintf(buf, n, "%.9g %d %lld", (double)s->scale, s->growth_tracker, s->skipped);
}

int lossscale_parse(LossScale *s, const char *text) {
    double scale;
    int tracker, used = 0;
    long long skipped;
    /* the text comes from a state file: bounded, and every field checked (the scale finite as a float) */
    if (strlen(text) > 64 || sscanf(text, "%lf %d %lld%n", &scale, &tracker, &skipped, &used) != 3 || text[used] != 0 ||
        !(scale > 0) || !isfinite((float)scale) || tracker < 0 || tracker >= s->growth_interval || skipped < 0) {
        err_set("bad loss-scale state '%.64s' (expected: scale growth_tracker skipped)", text);
        return -1;
    }
    s->scale = (float)scale;
    s->growth_tracker = tracker;
    s->skipped = skipped;
    return 0;
}

int lossscale_unscale(NnCtx *ctx, float *grad, size_t n, float inv_scale, int *found_inf) {
    NN_DISPATCH_CUDA(ctx, lossscale_unscale_cuda(ctx, grad, n, inv_scale, found_inf));
    NnGrid one = {0, 0, 1, 1}; /* the kernel's body over every item, in order */
    *found_inf = 0;
    kb_unscale(one, (int64_t)n, inv_scale, grad, found_inf);
    return 0;
}
