/* events.h - detections in a long recording: windows above a threshold merged into events, and the
 * tables that report them.
 *
 * Promise: fed one recording's windows in order (each with its start/end seconds and one probability
 * per class), an EventMerger turns every run of consecutive windows whose probability for a counted
 * class is above the threshold (p > threshold, or the class's own threshold after
 * events_set_thresholds()) into one event of that class: begin = the first
 * window's start, end = the last window's end, score = the largest probability in the run. After
 * events_finish() the events are sorted by begin time, then class index, and counts[c] is the number
 * of events of class c. The writers print these as a Raven Pro selection table and the per-recording
 * counts as TSV or as the capuchin challenge's CSV; their bytes depend only on the values given. */
#ifndef AUDIOCNN_EVENTS_H
#define AUDIOCNN_EVENTS_H

#include <stdint.h>
#include <stdio.h>

typedef struct Event {
    int cls;
    double begin, end; /* seconds */
    float score;       /* largest window probability of the run */
} Event;

typedef struct EventMerger {
    int k;                 /* classes */
    double threshold;
    double *thr;           /* k: each class's threshold (all = threshold unless set) */
    unsigned char *counted; /* k flags: classes that make events */
    Event *open;           /* k runs in progress (cls < 0: none) */
    Event *v;              /* finished events */
    int64_t n, cap;
    int64_t *counts;       /* k */
} EventMerger;

/* counted: k flags (NULL: every class). Returns 0 or -1 with err_set(). */
int events_init(EventMerger *e, int k, const unsigned char *counted, double threshold);
void events_free(EventMerger *e);
/* Per-class thresholds (k values, copied) instead of the one given to events_init(). */
void events_set_thresholds(EventMerger *e, const double *thresholds);
/* Forget the previous recording's events. */
void events_reset(EventMerger *e);
/* The next window of the recording. Returns 0 or -1 (out of memory) with err_set(). */
int events_window(EventMerger *e, double start, double end, const float *probs);
/* End of the recording: close the open runs, sort. Returns 0 or -1 (out of memory) with err_set(). */
int events_finish(EventMerger *e);

/* Raven Pro selection table (tab-separated, one row per event, Selection numbered from 1):
 *   Selection  View  Channel  Begin Time (s)  End Time (s)  Low Freq (Hz)  High Freq (Hz)  class  score
 * with View "Spectrogram 1", Channel 1, times %.6f, frequencies %.3f, score %.6f. Returns 0, or -1
 * when the stream reports a write error (no message set; the caller names the file). */
int events_write_raven(const EventMerger *e, FILE *f, double low_hz, double high_hz, const char *const *names);

/* Per-recording counts of the counted classes: counts[r * k + c] for recording r. TSV: header
 * "file<TAB>class<TAB>count", one row per recording and counted class (zeros included), recordings in
 * order, classes in index order. CSV (RFC 4180 quoting where needed): header "recording" then
 * "<class>_calls" per counted class, one row per recording named by its file name without the
 * directory (the capuchin challenge's results.csv is "recording,capuchin_calls"). Return 0 or -1 on a
 * write error. */
int results_write_tsv(FILE *f, const char *const *paths, int64_t n, const int64_t *counts, int k,
                      const unsigned char *counted, const char *const *names);
int results_write_csv(FILE *f, const char *const *paths, int64_t n, const int64_t *counts, int k,
                      const unsigned char *counted, const char *const *names);

#endif
