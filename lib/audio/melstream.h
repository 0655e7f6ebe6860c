/* melstream.h - spectrogram frames of a signal that arrives in pieces, in bounded memory.
 *
 * Promise: feeding the samples of a signal in blocks of any sizes, then melstream_end(), yields
 * exactly the frames spec_compute() gives for the whole signal (same count, same bits before the
 * output scaling: each frame is spec_frame_group() of the same n_fft samples), in order. Centre padding
 * (reflect or constant) happens only at the signal's two ends. Memory: about 2 * n_fft samples plus
 * the largest block fed, whatever the length of the signal. */
#ifndef AUDIOCNN_MELSTREAM_H
#define AUDIOCNN_MELSTREAM_H

#include "audio/melspec.h"

#include <stdint.h>

typedef struct MelStream MelStream;

/* cfg is the configuration `plan` was made from (the stream needs n_fft, hop, center and pad).
 * NULL with err_set(). The plan must outlive the stream. */
MelStream *melstream_new(const SpecPlan *plan, const SpecConfig *cfg);
void melstream_free(MelStream *m);

/* Append n samples. Returns 0 or -1 (out of memory) with err_set(). */
int melstream_feed(MelStream *m, const float *x, int64_t n);
/* No more samples: the frames at the end get their padding. */
void melstream_end(MelStream *m);
/* The next frame if it can be computed now: writes spec_bins() values (before the output scaling,
 * see spec_finish) to bins and returns 1; returns 0 when it needs more samples or, after the end,
 * when every frame has been given. */
int melstream_next(MelStream *m, double *bins);

int64_t melstream_samples(const MelStream *m); /* samples fed so far */
int64_t melstream_frames(const MelStream *m);  /* frames given so far */

#endif
