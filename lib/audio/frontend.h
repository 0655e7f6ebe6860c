/* frontend.h - recording -> spectrogram(s): the whole audio front end in one call.
 *
 * Order of operations: decode and mix down (audio.h) -> resample to sr with soxr HQ (resample.h;
 * sr 0 keeps the file's rate) -> optional silence trim (librosa.effects.trim: frames of trim_frame
 * samples every trim_hop, centred with zero padding, kept from the first to the last frame whose RMS
 * is within trim_db of the loudest) -> optional fixed duration (zeros appended or the end cut, as
 * librosa.util.fix_length) -> optional segmentation into windows of `segment` seconds with `overlap`
 * (the last window zero-padded; a recording shorter than one window gives one padded window) ->
 * spectrogram of each (melspec.h). Start/end times are seconds in the original recording (after
 * resampling, before trimming), the end clipped to the recording. A recording that is empty, silent
 * (all samples zero after trimming) or holds NaN/Inf is an error naming the file. Thread-safe. */
#ifndef AUDIOCNN_FRONTEND_H
#define AUDIOCNN_FRONTEND_H

#include "audio/melspec.h"
#include "audio/partreader.h"

#include <pthread.h>

typedef struct FrontEnd {
    double sr;          /* target rate, Hz; 0 keeps each file's own rate */
    double trim_db;     /* > 0: trim leading/trailing silence quieter than this many dB below the peak */
    int trim_frame, trim_hop;
    double duration;    /* > 0: pad or cut to this many seconds */
    double segment;     /* > 0: window length in seconds */
    double overlap;     /* fraction of a window shared with the next, [0, 1) */
    SpecConfig spec;    /* spec.sr is ignored: the working rate is used */
    int win_set;        /* win_length given explicitly (else it follows n_fft) */
    /* plans per sample rate, made on first use and kept until frontend_free (threads hold them) */
    pthread_mutex_t lock;
    int nplans, cap_plans;
    double *plan_sr;
    SpecPlan **plans;
} FrontEnd;

typedef struct Clip {
    Tensor spec;        /* (1, bins, frames) float32 */
    double start, end;  /* seconds in the recording */
} Clip;

typedef struct Clips {
    Clip *v;
    int n;
    double file_sr;     /* the recording's own rate */
    int channels;
    double seconds;     /* duration of the recording */
} Clips;

void frontend_init(FrontEnd *fe); /* librosa/torchaudio defaults, sr 22050, no trim/duration/segments */
/* Check the settings once (and build the plan for a fixed sr) so that errors surface before any file. */
int frontend_validate(FrontEnd *fe);
void frontend_free(FrontEnd *fe);

/* The spectrogram(s) of one recording ("-" = stdin). Returns 0 or -1 with err_set() naming it. */
int frontend_run(FrontEnd *fe, const char *path, Clips *out);
void clips_free(Clips *c);
/* The spectrogram(s) of the part [start, end) seconds of one recording (a window of a long recording,
 * splitset --windows): samples llround(start * rate) to llround(end * rate) at the file's own rate, cut
 * before resampling, so the result is the same as frontend_run() on that part cut out first (sox trim);
 * decoded with the streaming reader only up to the end, never held whole. Clip times are seconds in the
 * recording; out->seconds is the part's length. A part that is empty or ends past the recording (1 ms
 * slack, then clipped) is an error naming the file. With a PartReader (NULL: one for this call only),
 * the windows of a recording in time order decode it once (partreader.h), with the same bytes. */
int frontend_run_range(FrontEnd *fe, PartReader *pr, const char *path, double start, double end, Clips *out);

/* Several recordings at once, each with the same result as frontend_run() alone (bit for bit):
 * recordings sharing a sample rate are resampled together, so a batch of short clips designs the
 * resampling filter a few times instead of once per clip. rc[i] is 0 or -1; errs[i] is NULL or the
 * malloc'd message for recording i. */
void frontend_run_batch(FrontEnd *fe, const char *const *paths, int count, Clips *out, int *rc, char **errs);

/* librosa.effects.trim's interval [*start, *end) of non-silent samples; *start == *end when silent. */
void trim_silence(const float *x, int64_t n, double top_db, int frame, int hop, int64_t *start, int64_t *end);

#endif
