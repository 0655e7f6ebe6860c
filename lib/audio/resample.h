/* resample.h - sample-rate conversion with libsoxr, as librosa does it by default.
 *
 * Promise: resample_whole() gives librosa.resample(y, orig_sr, target_sr, res_type='soxr_hq') (the
 * default of librosa.load(sr=...)): libsoxr HQ quality, float32 in and out, input fed in chunks of
 * 48000*in/out samples and flushed (as python-soxr does), output length fixed to ceil(n*target/orig)
 * (zero-padded or cut, librosa.util.fix_length). The streaming Resampler gives the same samples for
 * long recordings in bounded memory. */
#ifndef AUDIOCNN_RESAMPLE_H
#define AUDIOCNN_RESAMPLE_H

#include <stdint.h>

/* *y is malloc'd. Returns 0 or -1 with err_set(). in_sr == out_sr copies. */
int resample_whole(const float *x, int64_t n, double in_sr, double out_sr, float **y, int64_t *ny);

/* Several signals at one rate pair, each result equal bit for bit to resample_whole() of it alone
 * (tests check this): signals of similar length share one soxr as its channels, so the filter is
 * designed once per group instead of once per signal, which is most of the cost for short clips.
 * y[i] are malloc'd. Returns 0 or -1 with err_set() (then no y[i] is left allocated). */
int resample_batch(const float *const *x, const int64_t *n, int count, double in_sr, double out_sr, float **y,
                   int64_t *ny);

typedef struct Resampler Resampler;
Resampler *resampler_new(double in_sr, double out_sr);
/* Feed n samples (in == NULL: end of input, flush) and collect up to cap output samples; returns the
 * number written or -1. Call with in == NULL repeatedly until it returns 0 to drain. */
int64_t resampler_process(Resampler *r, const float *in, int64_t n, float *out, int64_t cap);
void resampler_free(Resampler *r);

#endif
