/* audio.h - decoding recordings to mono float samples.
 *
 * Promise: anything libsndfile reads (WAV 8/16/24/32-bit int and float, FLAC, OGG/Vorbis/Opus, MP3,
 * AIFF, ...) from a file or from stdin ("-", buffered in memory so that formats needing seeks work),
 * mixed down to mono as the mean of the channels, samples scaled to [-1, 1) as libsndfile/soundfile do
 * (int16 / 32768). A file that is not audio, is truncated, holds no samples, or holds NaN/Inf is an
 * error naming the file. */
#ifndef AUDIOCNN_AUDIO_H
#define AUDIOCNN_AUDIO_H

#include <stddef.h>
#include <stdint.h>

typedef struct Audio {
    float *x;      /* mono samples */
    int64_t n;     /* number of samples */
    double sr;     /* sample rate, Hz */
    int channels;  /* channels in the file (before mixdown) */
    char format[64]; /* e.g. "WAV PCM_16" */
} Audio;

/* Streaming reader: bounded memory however long the recording. */
typedef struct AudioReader AudioReader;

AudioReader *audio_open(const char *path); /* NULL with err_set() */
/* The same, but a file is always decoded from disk, never read into memory first (audio_open reads
 * files up to 64 MiB whole, which is faster for short clips): memory stays small for any length. */
AudioReader *audio_open_stream(const char *path);
/* Decode bytes already in memory (copied); `name` is used in messages. The fuzz target's entry. */
AudioReader *audio_open_memory(const void *data, size_t len, const char *name);
double audio_reader_rate(const AudioReader *r);
int audio_reader_channels(const AudioReader *r);
int64_t audio_reader_frames(const AudioReader *r); /* as the header says; -1 if unknown */
/* The recording's length in frames: the header's, or, where the header has none, counted by decoding
 * the rest of r (which is then spent). -1 with err_set() on a decoding error. */
int64_t audio_length_frames(AudioReader *r);
/* The recording's length in seconds as its header gives it (nothing is decoded), or -1 with err_set()
 * when the file does not open or its header has no length. */
double audio_header_seconds(const char *path);
/* Read up to n mono samples; returns the count (0 at the end) or -1 on error (e.g. NaN/Inf). */
int64_t audio_read_mono(AudioReader *r, float *out, int64_t n);
void audio_close(AudioReader *r);

/* Whole recording in memory. Returns 0 or -1 with err_set(). */
int audio_load(const char *path, Audio *a);
void audio_free(Audio *a);

#endif
