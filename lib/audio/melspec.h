/* melspec.h - (mel) spectrograms as librosa and torchaudio compute them.
 *
 * Conventions (the defaults of librosa.feature.melspectrogram and torchaudio's MelSpectrogram):
 *   frames: centred (the signal is padded by n_fft/2 on both sides, reflect by default, numpy's
 *           reflection for pads longer than the signal), 1 + n / hop frames; uncentred frames start at 0.
 *   window: periodic Hann of win_length samples, zero-padded to n_fft in the middle.
 *   spectrum: unnormalised real FFT (FFTW, double precision), |X|^power.
 *   mel filters: librosa.filters.mel (slaney or htk scale, slaney area normalisation or none), triangles
 *           over FFT bin frequencies k*sr/n_fft from fmin to fmax (default sr/2).
 *   output: db = (20/power)*log10(max(S, amin)) - (20/power)*log10(max(amin, ref)), ref = 1 or the
 *           spectrogram's maximum, then optionally floored at max - top_db; or log(1 + S); or S itself.
 * The result is float32 with shape (1, bins, frames): bins = n_mels, or n_fft/2 + 1 for kind stft.
 * A plan is made once (FFTW_ESTIMATE, so results do not depend on timing) and spec_compute() may then
 * be called from many threads at once. */
#ifndef AUDIOCNN_MELSPEC_H
#define AUDIOCNN_MELSPEC_H

#include "core/tensor.h"

typedef enum { SPEC_MEL, SPEC_STFT } SpecKind;
typedef enum { MEL_SLANEY, MEL_HTK } MelScale;
typedef enum { MELNORM_SLANEY, MELNORM_NONE } MelNorm;
typedef enum { SPEC_OUT_DB, SPEC_OUT_LOG1P, SPEC_OUT_LINEAR } SpecOutput;
typedef enum { PAD_REFLECT, PAD_CONSTANT } PadMode;

typedef struct SpecConfig {
    double sr;       /* sample rate of the samples given to spec_compute */
    int n_fft, hop, win_length;
    int center;      /* 1: centred frames */
    PadMode pad;
    SpecKind kind;
    int n_mels;
    double fmin, fmax; /* fmax <= 0: sr / 2 */
    MelScale scale;
    MelNorm norm;
    double power;    /* 2: power, 1: magnitude */
    SpecOutput output;
    double amin;
    int ref_max;     /* 1: ref = max of the spectrogram; 0: ref = `ref` */
    double ref;
    double top_db;   /* <= 0: none */
} SpecConfig;

void spec_config_default(SpecConfig *c); /* sr 22050, n_fft 1024, hop 256, 128 slaney mels, power 2, dB ref 1 */

typedef struct SpecPlan SpecPlan;
SpecPlan *spec_plan_new(const SpecConfig *c); /* validates; NULL with err_set() */
void spec_plan_free(SpecPlan *p);
int spec_bins(const SpecPlan *p);
int64_t spec_frames(const SpecPlan *p, int64_t n); /* frames for n samples (0 if too short) */
/* x: n mono samples at c->sr. out: allocated (1, bins, frames) float32. Returns 0 or -1 with err_set(). */
int spec_compute(const SpecPlan *p, const float *x, int64_t n, Tensor *out);

/* ---- frame by frame, for streams (lib/audio/melstream.h) -------------------------------------------------
 * spec_compute() is exactly: for each frame, spec_frame_group() on its n_fft samples (padding applied as
 * described above, spec_reflect_index() for reflect), then spec_finish() over all bins x frames. */
typedef struct SpecWork SpecWork; /* per-thread scratch (FFTW-aligned buffers) */
SpecWork *spec_work_new(const SpecPlan *p); /* NULL with err_set() */
void spec_work_free(SpecWork *w);
/* Frames computed together (their mel sums side by side in vector lanes). */
#define SPEC_LANES 8
/* count (1..SPEC_LANES) frames: x[j] holds frame j's n_fft samples; writes frame j's bins before the
 * output scaling (mel energies or |X|^power, double) to bins[j], bins[stride + j], bins[2 stride + j], ...
 * Each frame's values are the same bits whatever the group it is computed in. */
void spec_frame_group(const SpecPlan *p, SpecWork *w, const float *const *x, int count, double *bins,
                      int64_t stride);
/* The output scaling (dB with ref/top_db over these `total` values, log1p or none) of S (overwritten),
 * rounded to float32 into y. */
void spec_finish(const SpecPlan *p, double *S, int64_t total, float *y);
/* 1 when spec_finish treats each value alone (no ref max, no top_db), so frames can be finished one by
 * one with the same result as the whole spectrogram. */
int spec_finish_is_pointwise(const SpecPlan *p);
/* numpy.pad(mode='reflect')'s source index for position i of a signal of n samples (i may be < 0 or
 * >= n, any distance). */
int64_t spec_reflect_index(int64_t i, int64_t n);

/* Mel scale conversions (librosa.hz_to_mel / mel_to_hz). */
double hz_to_mel(double hz, MelScale s);
double mel_to_hz(double mel, MelScale s);

#endif
