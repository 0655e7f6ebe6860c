/* partreader.h - parts [start, end) of a long recording, read in increasing order in one pass.
 *
 * Promise: part_read() gives exactly the samples that decoding the recording from its start with the
 * streaming reader (audio_open_stream, mono) and keeping samples llround(start * rate) up to
 * llround(end * rate) gives; but it keeps the reader open between calls and goes on decoding from where
 * the previous part ended, keeping what the next part shares with it. So the windows of a recording
 * (splitset --windows, in time order) cost one decoding of the recording, not one per window. It
 * reopens the recording only when the path changes or a part starts before the previous one did.
 * Memory: one part and one block of samples, whatever the recording's length.
 * Errors name the file: a part that holds no samples, or ends past the recording (beyond 1 ms of slack;
 * within it the part is clipped), a decoding error. */
#ifndef AUDIOCNN_PARTREADER_H
#define AUDIOCNN_PARTREADER_H

#include "audio/audio.h"

#include <stdint.h>

typedef struct PartReader {
    char *path;        /* the recording open now (NULL: none) */
    AudioReader *r;
    double rate;       /* its sample rate */
    int channels;
    int64_t total;     /* frames as the header says, or -1 */
    float *buf;        /* samples [buf_start, buf_start + buf_len) of the recording */
    int64_t buf_start, buf_len, cap;
    int64_t last_start; /* the previous part's first sample (a part before it reopens) */
} PartReader;

void part_reader_init(PartReader *p);
void part_reader_free(PartReader *p);
/* The part [start, end) s of PATH ("-": not supported) with the messages' NAME: *x gets its *n samples
 * (valid until the next call), *rate and *channels the recording's. Returns 0 or -1 with err_set(). */
int part_read(PartReader *p, const char *path, const char *name, double start, double end, const float **x,
              int64_t *n, double *rate, int *channels);

#endif
