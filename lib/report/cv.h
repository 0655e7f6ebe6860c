/* cv.h - the outputs of pipeline.mk's `make cv` and `make tune`, read and checked for the report.
 *
 * Promise: cv_load(DIR) reads DIR/results.tsv (model, fold, accuracy, macro_f1, loss: one row per model
 * and fold), DIR/summary.tsv (model, folds, accuracy_mean, accuracy_std, macro_f1_mean, macro_f1_std,
 * loss_mean, loss_std), DIR/paired.tsv when present (model_a, model_b, folds, accuracy_diff_mean,
 * accuracy_diff_std, wins_a, wins_b, ties) and, per model and fold, cnneval's
 * DIR/fold<k>/eval/<model>/metrics.json, whose confusion matrices it sums per model (the confusion
 * matrix pooled over the folds). Columns are found by name (others are ignored); everything is checked:
 * a missing column, a value that is not a number of its kind (scores in [0, 1], a finite loss >= 0,
 * folds and counts whole numbers), a model and fold twice, models of summary.tsv and results.tsv that
 * differ, a summary or paired row that is not what results.tsv gives (to its four decimals, +-5e-5;
 * wins + ties = folds), a metrics.json whose accuracy is not its results.tsv row's or whose classes
 * (names and order, from per_class) differ from the first fold's. Each is an error naming the file
 * (and the line). Models keep summary.tsv's order, folds their numbers; every model must have the same
 * folds.
 *
 * tune_load(DIR) reads DIR/results.tsv (candidate, options, macro_f1_fold1..K with K >= 1 consecutive,
 * macro_f1_mean, macro_f1_std, rank) and DIR/recipe.opts (the chosen options, one line), with the same
 * strictness: ranks are 1..N once each, means agree with the folds (+-5e-5), and recipe.opts holds
 * the options of rank 1. */
#ifndef AUDIOCNN_REPORT_CV_H
#define AUDIOCNN_REPORT_CV_H

#include "formats/tsv.h"

#include <stdint.h>

enum { CV_ACC, CV_F1, CV_LOSS, CV_NSCORES };

typedef struct CvPair {
    int a, b, folds;           /* model indices */
    double diff_mean, diff_std; /* accuracy of a minus b */
    int wins_a, wins_b, ties;
} CvPair;

typedef struct CvResults {
    Tsv results, summary, paired;
    int has_paired;
    int nmodels, nfolds;
    const char **models;       /* summary.tsv's order */
    int *fold;                 /* nfolds fold numbers, ascending */
    double *score;             /* [(m * nfolds + f) * CV_NSCORES + s] */
    double *mean, *std;        /* [m * CV_NSCORES + s], from summary.tsv */
    CvPair *pairs;
    int npairs;
    int k;                     /* classes */
    char **classes;
    int64_t *cm;               /* [m * k * k + true * k + pred], summed over the folds */
} CvResults;

int cv_load(const char *dir, CvResults *cv);
void cv_free(CvResults *cv);

typedef struct TuneResults {
    Tsv t;
    int n, nfolds;
    int *order;                /* rows by rank */
    int *rank;
    const char **name, **options;
    double *f1;                /* [row * nfolds + f]; NAN: a fold not trained (stopped early) */
    int *trained;              /* folds trained: nfolds, or fewer when stopped early (the first ones) */
    const char **status;       /* "done" or "stopped" (make tune's early stopping); NULL without the column */
    double *mean, *std;        /* over the folds trained */
    char *recipe;              /* recipe.opts without its newline */
    char *recipe_path;
} TuneResults;

int tune_load(const char *dir, TuneResults *t);
void tune_free(TuneResults *t);

#endif
