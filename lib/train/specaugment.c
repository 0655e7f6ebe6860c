#include "train/specaugment.h"

#include <stdlib.h>

/* torchaudio _get_mask_param: p == 1 keeps mask_param, else min(mask_param, int(size * p)) */
static int effective_param(int mask_param, double p, int size) {
    if (p >= 1.0) return mask_param;
    int cap = (int)((double)size * p);
    return mask_param < cap ? mask_param : cap;
}

void specaugment_mask(float *plane, int f, int t, int axis, int mask_param, double p, float u_value, float u_start,
                      float mask_value) {
    int size = axis == 0 ? f : t;
    int param = effective_param(mask_param, p, size);
    if (param < 1) return;
    float value = u_value * (float)param;                 /* float32, as torch.rand(...) * mask_param */
    float min_value = u_start * ((float)size - value);
    int64_t start = (int64_t)min_value, end = (int64_t)min_value + (int64_t)value;
    if (start < 0) start = 0;
    if (end > size) end = size;
    for (int64_t i = start; i < end; i++) {
        if (axis == 0)
            for (int j = 0; j < t; j++) plane[i * t + j] = mask_value;
        else
            for (int j = 0; j < f; j++) plane[(int64_t)j * t + i] = mask_value;
    }
}

static void masks(const SpecAugment *sa, float *x, int n, int c, int f, int t, Rng *rng, int axis, int count,
                  int param, float *u) {
    int planes = n * c;
    for (int k = 0; k < count; k++) {
        for (int i = 0; i < 2 * planes; i++) u[i] = (float)rng_uniform(rng);
        for (int i = 0; i < planes; i++)
            specaugment_mask(x + (int64_t)i * f * t, f, t, axis, param, axis == 1 ? sa->p : 1.0, u[i], u[planes + i],
                             sa->mask_value);
    }
}

void specaugment_apply(const SpecAugment *sa, float *x, int n, int c, int f, int t, Rng *rng) {
    float stack[512], *u = 2 * n * c <= 512 ? stack : malloc(sizeof(float) * 2 * (size_t)(n * c));
    if (!u) return;
    masks(sa, x, n, c, f, t, rng, 0, sa->n_freq_masks, sa->freq_mask_param, u);
    masks(sa, x, n, c, f, t, rng, 1, sa->n_time_masks, sa->time_mask_param, u);
    if (u != stack) free(u);
}
