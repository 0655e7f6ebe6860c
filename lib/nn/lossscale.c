#include "nn/lossscale.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>

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
    if (sscanf(text, "%lf %d %lld%n", &scale, &tracker, &skipped, &used) != 3 || text[used] != 0 ||
        !(scale > 0) || !isfinite(scale) || tracker < 0 || tracker >= s->growth_interval || skipped < 0) {
        err_set("bad loss-scale state '%s' (expected: scale growth_tracker skipped)", text);
        return -1;
    }
    s->scale = (float)scale;
    s->growth_tracker = tracker;
    s->skipped = skipped;
    return 0;
}
