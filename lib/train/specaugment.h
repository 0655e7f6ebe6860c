/* specaugment.h - SpecAugment frequency and time masks with torchaudio's semantics.
 *
 * torchaudio.transforms.FrequencyMasking / TimeMasking(mask_param, iid_masks=True) on a batch
 * (N, C, F, T): for every example and channel, independently, value = u1 * mask_param and
 * start = floor(u2 * (size - value)) in float32, and the band [start, start + floor(value)) is set to
 * mask_value (0). With p < 1 the width is capped at floor(size * p) (torchaudio's `p`). For each mask
 * the N*C values u1 are drawn first, then the N*C values u2, from the given generator: the same seed
 * gives the same masks. */
#ifndef AUDIOCNN_SPECAUGMENT_H
#define AUDIOCNN_SPECAUGMENT_H

#include "core/rng.h"

#include <stdint.h>

typedef struct SpecAugment {
    int freq_mask_param; /* F: widest frequency mask (0: none) */
    int time_mask_param; /* T: widest time mask (0: none) */
    int n_freq_masks, n_time_masks;
    double p;            /* cap of a time mask as a fraction of the frames (torchaudio's p; 1 = no cap) */
    float mask_value;
} SpecAugment;

/* x: (n, c, f, t) float32, masked in place. */
void specaugment_apply(const SpecAugment *sa, float *x, int n, int c, int f, int t, Rng *rng);

/* One mask on one (F, T) plane along axis 0 (frequency) or 1 (time), from the two uniforms. */
void specaugment_mask(float *plane, int f, int t, int axis, int mask_param, double p, float u_value, float u_start,
                      float mask_value);

#endif
