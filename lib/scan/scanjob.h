/* scanjob.h - the scan of several long recordings as one job with its output files.
 *
 * Promise: every recording goes through the Scanner in order; the job writes
 *   scores     one row per window: file, start, end (seconds, %.6f), then one probability per class
 *              (%.6g), under the header "file<TAB>start<TAB>end<TAB><class 1>...<class K>";
 *   events     DIR/<recording's file name without its extension>.selections.txt per recording, a Raven
 *              Pro selection table of its events (events.h; Low/High Freq = the front end's fmin/fmax,
 *              fmax defaulting to half the working rate), "-" (stdin) named "stdin";
 *   results    the events per recording and counted class (events.h: TSV, or CSV when csv is set);
 *   threshold  the threshold, one number and a newline; with per-class thresholds, a TSV "class<TAB>
 *              threshold" (header, then one row per class in index order, %.9g);
 *   inputs     every model input as a .npy stream (for checking; see scanner_dump_inputs);
 *   detection  DIR/detection.tsv, DIR/detection.json and DIR/detection-events.tsv (detect.h): the events
 *              of each recording with truth (annotated[i] set) scored against truth[i], recordings in
 *              input order.
 * Any may be NULL (not written); "-" writes to stdout (only one of them may). Before any work it checks
 * that the events tables' names are distinct and that every recording (but stdin) opens as audio, so
 * a bad file fails in seconds, not after hours. Each file is written through outfile; when anything
 * fails, no output of the job is left (events tables already renamed into place are removed again).
 * Memory: the Scanner's, plus the events (a few dozen bytes each), whatever the recordings' length
 * (with several Scanners, see scanjob_run). */
#ifndef AUDIOCNN_SCANJOB_H
#define AUDIOCNN_SCANJOB_H

#include "scan/detect.h"
#include "scan/scan.h"

typedef struct ScanJob {
    const char *scores, *events, *results, *threshold_file, *inputs;
    int csv;
    double threshold;              /* a window counts for a class when its probability is above this */
    const double *thresholds;      /* k per-class thresholds instead (NULL: threshold for every class) */
    const unsigned char *counted;  /* per class: counted in events and results (NULL: every class) */
    const char *const *names;      /* class names, k of them */
    int k;
    const char *detection;         /* DIR for the detection metrics (NULL: none) */
    const Truth *truth;            /* per recording: its annotated selections (with detection) */
    const unsigned char *annotated; /* per recording: 1 when truth[i] is its annotation */
    double match_fraction;         /* detect.h's fraction */
    int verbosity;                 /* progress: -1 none, 0 on a terminal */
    /* called after each recording (may be NULL): its facts and the events per class (k counts) */
    void (*on_recording)(void *arg, const char *path, const ScanRecording *info, const int64_t *counts);
    void *arg;
} ScanJob;

typedef struct ScanSummary {
    int64_t recordings, windows, events;
    double seconds; /* of audio */
} ScanSummary;

/* Returns 0, or -1 with err_set() naming the file. With nscanners > 1 (Scanners of the same model and
 * front end), that many recordings are scanned at once, each on its own Scanner; every output has the
 * same bytes as with one, because each recording's rows, events and counts are emitted in input order.
 * Each recording's score rows are then held in memory until it is emitted (about 40 bytes plus 10 per
 * class per window: some 2 MB for 12 hours of 10 classes at 4.6 s windows overlapping by half), and
 * job->inputs must be NULL. */
int scanjob_run(const ScanJob *job, Scanner *const *scanners, int nscanners, const FrontEnd *fe,
                const char *const *paths, int n, ScanSummary *sum);

/* DIR/<name>.selections.txt's <name> for a recording path: its file name without the last extension
 * ("stdin" for "-"). buf gets it; returns buf. */
char *scanjob_table_name(const char *path, char *buf, size_t cap);

#endif
