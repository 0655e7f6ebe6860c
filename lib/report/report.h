/* report.h - the HTML report of a pipeline run: data, models, evaluations, scans, in one page.
 *
 * Promise: report_build() reads the inputs named in ReportConfig (split tables and the recordings'
 * headers, checkpoints, histories, cnneval outputs, the test data, scan results), draws every figure
 * (lib/report/figures.h) and assembles one self-contained HTML page in memory: figures embedded as PNG data:
 * URIs, no external resource, every string that comes from a file HTML-escaped. It writes nothing:
 * the page and the figures (file name + PNG bytes) are returned for the caller to write. Any unreadable
 * or inconsistent input is an error naming the file (-1 with err_set()), with nothing returned. The
 * result depends only on the inputs and the seed: the same inputs give the same bytes.
 *
 * Each <img> carries data-file (the figure's file name), data-w and data-h (its size in pixels); the
 * page's script, when the page is opened with the fragment #check, compares them with the decoded
 * images' natural sizes and writes the result into the page (body attribute data-check="images=N
 * bad=M" and a <pre id="check"> listing), for browser tests. */
#ifndef AUDIOCNN_REPORT_H
#define AUDIOCNN_REPORT_H

#include "report/html.h"

#include <stddef.h>
#include <stdint.h>

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
    uint64_t seed;           /* random gallery and jitter */
    int gallery;             /* samples per gallery */
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
} Report;

/* Returns 0, or -1 with err_set() and *r empty. */
int report_build(const ReportConfig *c, Report *r);
void report_free(Report *r);

/* A model name as a file-name part: bytes other than [A-Za-z0-9._-] become '_' (into buf of size n). */
void report_file_part(const char *name, char *buf, size_t n);

#endif
