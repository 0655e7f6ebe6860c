/* scan.h - a trained network over long recordings, window by window, in bounded memory.
 *
 * Promise: scanner_run() decodes a recording in blocks (audio_read_mono), resamples it with the
 * streaming Resampler exactly as resample_whole() would (same chunks, flushed, length fixed to
 * ceil(n * sr / file_sr)), computes its spectrogram frames incrementally (melstream.h: the frames
 * spec_compute() gives for the whole resampled recording, centre padding only at its two ends),
 * keeps the last W frames in a ring (W = the model's input frames) and cuts windows of W frames every
 * S frames: window k holds frames [k*S, k*S + W). The last window may run past the last frame; it is
 * kept only if the one before it does not reach the end, and is padded as the recorded specnorm pads.
 * A recording shorter than one window gives one padded window. Each window is finished (the output
 * scaling; with --ref max or --top-db it applies to the window, as for a clip of that length),
 * normalised with the recorded specnorm settings, and sent through the model in evaluation mode,
 * `batch` windows per forward pass; fn then gets each window's times and class probabilities (the
 * softmax of its logits; an ensemble's: the mean of its models', see scanner_new_ensemble), in order.
 * So window k's input is bit for bit specnorm of columns [k*S, k*S + W) of wav2mel's spectrogram of
 * the whole recording (for pointwise scalings, the default).
 *
 * Times: window k spans samples [k*S*hop, (k*S + W)*hop) of the resampled recording (one hop per
 * frame, from each frame's centre), clipped to its end, in seconds. S = round(W * (1 - overlap)), or
 * round(step * sr / hop) when step > 0, at least 1.
 *
 * The recorded front end's trimming, --duration and --segment concern clips and are not used.
 * Memory: the model's buffers for one batch, the ring, and a few blocks of samples, whatever the
 * recording's length (files up to 64 MiB are read into memory first, see audio.c). A recording that
 * is empty, silent (every sample zero), truncated, holds NaN/Inf or is not audio is an error naming
 * it; nothing is passed to fn for it after the error. */
#ifndef AUDIOCNN_SCAN_H
#define AUDIOCNN_SCAN_H

#include "audio/frontend.h"
#include "nn/model.h"
#include "core/progress.h"
#include "audio/specnorm.h"

#include <stdint.h>
#include <stdio.h>

typedef struct ScanSettings {
    double overlap; /* fraction of a window shared with the next, [0, 1); used when step <= 0 */
    double step;    /* > 0: seconds from one window's start to the next one's */
    int batch;      /* windows per forward pass, >= 1 */
    int sigmoid;    /* multi-label members: the mean of their sigmoids (ensemble_sigmoid), not softmax */
} ScanSettings;

typedef struct ScanWindow {
    int64_t index;      /* 0, 1, ... within the recording */
    double start, end;  /* seconds */
    const float *probs; /* one per class */
} ScanWindow;

/* What scanner_run learnt about a recording. */
typedef struct ScanRecording {
    double file_sr, sr;     /* the file's rate and the working rate */
    int channels;
    int64_t samples;        /* at the file's rate */
    double seconds;
    int64_t frames, windows;
    int window_frames, step_frames, hop;
} ScanRecording;

/* Seconds spent, summed over the recordings (CLOCK_MONOTONIC). */
typedef struct ScanTimes {
    double decode, resample, spectrogram, network; /* spectrogram includes windows and normalisation */
} ScanTimes;

typedef int (*ScanFn)(void *arg, const ScanWindow *w); /* non-zero stops the scan (an error) */

typedef struct Scanner Scanner;

/* The model (loaded), its context, the recorded front end (validated) and normalisation. Checks that
 * the front end makes the model's input shape ("the recorded front end gives ..., the model takes
 * ..."). m, ctx and fe must outlive the scanner. NULL with err_set(). */
Scanner *scanner_new(Model *m, NnCtx *ctx, FrontEnd *fe, const SpecnormConfig *norm, const ScanSettings *s);

/* Windows per forward pass when the user gives none (cnneval --scan without --batch). On the CPU: 1 when
 * every one of the n models is the baseline (its one window's activations stay in cache: 773x real time on
 * one core, 672x at 4), else 4 (bench/scan's recording cut to 151 s, one core: efficientnet_b0 131x ->
 * 140x, resnet18 66x -> 72x). On a GPU (device NN_CUDA): 64, as cnneval's batches, since a forward pass
 * of a few windows there costs its launches and its copy and sync, whatever its size. */
int scan_default_batch(const Model *models, int n, NnDevice device);
/* An ensemble: nm models (loaded, nm >= 1) of the same input shape and classes behind one front end;
 * each window goes through every member and fn gets the mean of their probabilities (ensemble.h). With
 * nm == 1 it is scanner_new(). The models share ctx and run one after another. */
Scanner *scanner_new_ensemble(Model *const *models, int nm, NnCtx *ctx, FrontEnd *fe, const SpecnormConfig *norm,
                              const ScanSettings *s);
void scanner_free(Scanner *s);
/* Also write every model input, (1, F, W) float32, as a stream of .npy arrays to f (NULL: none). */
void scanner_dump_inputs(Scanner *s, FILE *f);

/* Scan one recording ("-" = stdin). progress (may be NULL) advances by the recording's seconds.
 * Returns 0, or -1 with err_set() naming the recording (or fn's failure: its message is kept). */
int scanner_run(Scanner *s, const char *path, ScanFn fn, void *arg, Progress *progress, ScanRecording *info);
const ScanTimes *scanner_times(const Scanner *s);

#endif
