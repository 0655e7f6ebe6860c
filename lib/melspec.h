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

#include "tensor.h"

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

/* Mel scale conversions (librosa.hz_to_mel / mel_to_hz). */
double hz_to_mel(double hz, MelScale s);
double mel_to_hz(double mel, MelScale s);

#endif
