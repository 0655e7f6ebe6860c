/* report.h - the HTML report of a pipeline run: data, models, evaluations, scans, in one page.
 *
 * Promise: report_build() reads the inputs named in ReportConfig (split tables and the recordings'
 * headers, checkpoints, histories, cnneval outputs, the test data, scan results), draws every figure
 * (lib/report/figures.h, with cairo: once as SVG, once as PNG) and assembles one self-contained HTML
 * page in memory: figures inlined as SVG (ids renamed per figure, see canvas.h), sound clips as Ogg
 * Vorbis data: URIs, no external resource, every string that comes from a file HTML-escaped. It writes
 * nothing: the page and the figures (file name + PNG bytes) are returned for the caller to write. Any
 * unreadable or inconsistent input is an error naming the file (-1 with err_set()), with nothing
 * returned; a scanned recording that cannot be opened only leaves its events silent (said on the
 * page). The result depends only on the inputs and the seed: the same inputs give the same bytes.
 *
 * Cross-validation (cv_dir) and the recipe search (tune_dir) are read and checked by report/cv.h; their
 * sections show per model the mean +- standard deviation over the folds of accuracy, macro-F1 and loss,
 * the per-fold scores (table and figure), the confusion matrix pooled over the folds, the paired
 * comparison of the models, and the search's candidates by rank with the chosen recipe.
 *
 * Sound (ReportConfig.audio): clicking a gallery tile plays the clip the model saw (the test
 * manifest's source, start and end; with a split table as the test list, the recording from its
 * start), clicking a per-class example plays its recording, and clicking one of the first scan_audio
 * events of a scanned recording plays that event; clips are at most REPORT_CLIP_SECONDS long, mono,
 * resampled down to REPORT_CLIP_RATE Hz, Ogg Vorbis at quality REPORT_CLIP_QUALITY, the Ogg serial
 * number of clip i being i + 1 (lib/audio/oggenc.h). Each clickable part is a <button class="spot"
 * data-clip="i"> over the figure (percent positions), playing <audio id="clip-i">.
 *
 * Each figure's <svg> carries data-file (the PNG file's name), data-w and data-h (its size in
 * pixels); the page's script, when the page is opened with the fragment #check, compares them with
 * the rendered SVG's size and checks that each clip decodes, and writes the result into the page
 * (body attribute data-check="figures=N bad=M clips=C clipbad=D" and a <pre id="check"> listing), for
 * browser tests. */
#ifndef AUDIOCNN_REPORT_H
#define AUDIOCNN_REPORT_H

#include "report/html.h"

#include <stddef.h>
#include <stdint.h>

#define REPORT_CLIP_SECONDS 10.0
#define REPORT_CLIP_RATE 22050
#define REPORT_CLIP_QUALITY 0.3

typedef struct ReportModel {
    const char *name;    /* shown in the report (unique) */
    const char *ckpt;    /* cnntrain's checkpoint */
    const char *history; /* cnntrain --history PREFIX (PREFIX.tsv is read); NULL: none */
    const char *eval;    /* cnneval -o DIR (predictions.tsv, metrics.json); NULL: none */
} ReportModel;

typedef struct ReportConfig {
    const char *title;
    const char *split_dir;   /* splitset's output (classes.tsv, train/val/test.tsv); NULL: no data overview */
    const char *skipped;     /* TSV (path, reason) of recordings left out of the data (pipeline.mk SKIP_BAD=1):
                              * not opened, not counted, listed in the overview; NULL: none */
    const char *test;        /* the data the models were evaluated on (stack .npy or manifest); NULL: no galleries */
    const char *test_list;   /* TSV naming the test samples in order (path or source column); NULL: keys */
    const ReportModel *models;
    int nmodels;
    const char *scan_dir;    /* cnneval --scan output; NULL or without scores.tsv/results.tsv: no scan section */
    double threshold;        /* NaN: SCAN_DIR/threshold when present */
    const char *cv_dir;      /* pipeline.mk's make cv output (results.tsv, summary.tsv, paired.tsv, fold<k>/eval/
                              * <model>/metrics.json; see cv.h); NULL: no cross-validation section */
    const char *tune_dir;    /* make tune's output (results.tsv, recipe.opts); NULL: no recipe-search section */
    uint64_t seed;           /* random gallery and jitter */
    int gallery;             /* samples per gallery */
    int audio;               /* 1: sound clips in the page */
    int scan_audio;          /* events per scanned recording that play when clicked */
    /* called before each stage (may be NULL), for -v */
    void (*progress)(void *ctx, const char *what);
    void *progress_ctx;
} ReportConfig;

typedef struct ReportFigure {
    char *file;          /* e.g. "baseline-confusion.png" */
    unsigned char *png;
    size_t len;
    int w, h;
} ReportFigure;

typedef struct Report {
    Html html;
    ReportFigure *figs;
    int nfigs, cap;
    int nclips;          /* sound clips embedded */
} Report;

/* Returns 0, or -1 with err_set() and *r empty. */
int report_build(const ReportConfig *c, Report *r);
void report_free(Report *r);

/* A model name as a file-name part: bytes other than [A-Za-z0-9._-] become '_' (into buf of size n). */
void report_file_part(const char *name, char *buf, size_t n);

#endif
