/* detect.h - a scan's events scored against annotated selections (the detection metrics of cnneval
 * --scan --annotations): one-to-one matching per class, event precision, recall and F1, and the count
 * error per recording (the capuchin task's measure: calls detected against calls annotated).
 *
 * Promises:
 * - An event and a selection MATCH-ABLE when they have the same class and overlap in time by at least
 *   `fraction` of the shorter of the two (overlap > 0 always; a selection of zero length: the event
 *   holds its time, begin <= t < end). This is the rule splitset --windows uses for labels.
 * - detect_match() pairs events with selections one to one, as many pairs as possible (a maximum
 *   bipartite matching, by augmenting paths: Kuhn's algorithm with breadth-first search, iterative, so
 *   no input can exhaust the stack); events are taken by begin time, candidates in begin-time order, so
 *   the same inputs give the same pairs. matched = true positives; detected - matched false positives;
 *   annotated - matched false negatives.
 * - Per class over all recordings: precision = matched / detected, recall = matched / annotated, F1 =
 *   their harmonic mean (0 when undefined, scikit-learn's zero_division=0); micro: the same from the
 *   sums over classes; macro: the unweighted mean over the counted classes. Count error of a recording
 *   (and class) = detected - annotated; summaries: the sums, the relative error (detected - annotated)
 *   / annotated, the mean absolute error per recording, and the largest relative error of a recording.
 * - Only counted classes are scored; a selection whose label is no counted class is left out and
 *   counted in `ignored`. Recordings come in the order they were added; output bytes depend only on the
 *   values given. */
#ifndef AUDIOCNN_DETECT_H
#define AUDIOCNN_DETECT_H

#include "formats/json.h"
#include "scan/events.h"

#include <stdint.h>
#include <stdio.h>

/* The annotated selections of one recording as events (cls = the class index, score unused). */
typedef struct Truth {
    Event *v;
    int64_t n;
    int64_t ignored; /* selections with a label that is no counted class */
} Truth;

typedef struct DetectRecording {
    char *path;
    int64_t *annotated, *detected, *matched; /* k each */
} DetectRecording;

/* An annotated selection or a detected event of a recording, with whether it was matched (for a
 * timeline of the two). */
typedef struct DetectMark {
    int64_t rec;
    int truth; /* 1: annotated selection, 0: detected event */
    int cls, matched;
    double begin, end;
} DetectMark;

typedef struct Detection {
    int k;
    double fraction;
    unsigned char *counted; /* k flags */
    DetectRecording *rec;
    int64_t nrec, cap;
    DetectMark *mark;
    int64_t nmark, capmark;
    int64_t ignored;
} Detection;

/* The truth of each of n recordings from INPUT (annotated.h: a folder of recordings with their Raven
 * tables, or a list recording, table): recording i, when listed under its exact path, gets its table
 * (annotations.h, label column LABEL_COL, checked against the recording's length in its header), each
 * selection's label mapped to its index among the k class names (a label that is no class is
 * counted in ignored), and annotated[i] = 1; recordings not listed get annotated[i] = 0. Returns the
 * number of annotated recordings (none is an error naming INPUT), or -1 with err_set() naming the file. */
int detect_truth_load(const char *input, const char *label_col, const char *const *paths, int n,
                      const char *const *names, int k, Truth *truth, unsigned char *annotated);
void detect_truth_free(Truth *truth, int n);

/* Pairs ev[0..nev) with truth[0..nt) (any order; classes compared), sets ev_matched / truth_matched (0/1
 * flags, nev and nt of them) and returns the number of pairs, or -1 (out of memory) with err_set(). */
int64_t detect_match(const Event *ev, int64_t nev, const Event *truth, int64_t nt, double fraction,
                     unsigned char *ev_matched, unsigned char *truth_matched);

/* counted: k flags (NULL: every class); fraction in (0, 1]. Returns 0 or -1 with err_set(). */
int detect_init(Detection *d, int k, const unsigned char *counted, double fraction);
void detect_free(Detection *d);
/* One recording's events (of counted classes) against its truth. Returns 0 or -1 with err_set(). */
int detect_add(Detection *d, const char *path, const Event *ev, int64_t nev, const Truth *truth);

/* TSV: header "recording class annotated detected matched precision recall f1 count_error", one row
 * per recording and counted class (zeros included), then one row per counted class with recording
 * "*" (the sums). Returns 0 or -1 on a write error (no message set). */
int detect_write_tsv(const Detection *d, FILE *f, const char *const *names);
/* The JSON object described above: match_fraction, recordings, ignored_selections, per-class scores
 * under "classes", "micro", "macro", and "counts" (annotated, detected, error, relative_error,
 * mean_abs_error_per_recording, max_abs_relative_error, per_recording [...]). */
void detect_write_json(const Detection *d, JsonWriter *w, const char *const *names);
/* TSV of the marks: recording, kind (annotated|detected), class, begin, end (%.6f), matched (0/1), in
 * recording order, annotated before detected, by begin time. */
int detect_write_marks(const Detection *d, FILE *f, const char *const *names);

#endif
