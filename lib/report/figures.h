/* figures.h - the report's figures, drawn from plain arrays (no file reading here).
 *
 * Promise: each fig_* function initialises *cv (canvas_init: SVG and PNG at once; canvas_finish or
 * canvas_free it) at a size that depends only on its arguments, draws a complete figure with title,
 * axes, tick labels, axis labels and a legend where there are several series, and returns 0, or -1
 * with err_set() (out of memory, too large, font missing) and *cv freed. Random jitter comes from
 * lib/rng keyed by the seed and the point's index, so the same arguments give the same bytes. Text is
 * DejaVu Sans (report/font.h). Figures whose parts can be clicked in the page (gallery tiles, a
 * recording's panels, scan events) give those parts' rectangles in pixels of the figure. */
#ifndef AUDIOCNN_FIGURES_H
#define AUDIOCNN_FIGURES_H

#include "report/canvas.h"

#include <stdint.h>

typedef struct FigRect { double x, y, w, h; } FigRect; /* pixels, from the figure's top-left corner */

/* Grouped bars: recordings of each of k classes in train, val and test (counts[3*c + s]). */
int fig_split_counts(Canvas *cv, int k, const char *const *classes, const long *counts);

/* A strip plot: point i at class cls[i] (0..k-1, jittered sideways) and height y[i]. ok == NULL draws
 * every point in one colour with a box (quartiles) and whiskers (min, max) per class; otherwise ok[i]
 * picks green (1) or red (0), with a legend. y range [ylo, yhi] (NaN: from the data). */
int fig_strip(Canvas *cv, const char *title, const char *ylabel, int k, const char *const *classes, const double *y,
              const int *cls, const int *ok, int n, double ylo, double yhi, uint64_t seed);

/* One recording: its waveform (n samples at sr) and its spectrogram (bins x frames, row 0 the lowest
 * band; frame_seconds apart), side by side, the spectrogram with a colour bar: [max - 80 dB, max] when
 * db is 1, [min, max] otherwise. *area (may be NULL): the box around both panels' data areas. */
int fig_example(Canvas *cv, const char *title, const float *wave, long n, double sr, const float *spec, int bins,
                int frames, double frame_seconds, int db, FigRect *area);

/* Learning curves, two panels side by side: loss and accuracy per epoch, train and validation (NaN
 * values are skipped), the best epoch marked with a dashed vertical line (best_epoch <= 0: none). */
int fig_curves(Canvas *cv, const char *title, int n, const double *epoch, const double *train_loss,
               const double *val_loss, const double *train_acc, const double *val_acc, int best_epoch);
/* The same with the right panel's metric named (fig_curves: "accuracy"; multi-label histories:
 * "macro AP", their train_map/val_map), on [0, 1] too. */
int fig_curves_metric(Canvas *cv, const char *title, const char *metric, int n, const double *epoch,
                      const double *train_loss, const double *val_loss, const double *train_m, const double *val_m,
                      int best_epoch);

/* A confusion matrix (k x k counts, rows true class), cells shaded by the fraction of their row and
 * labelled with the count. */
int fig_confusion(Canvas *cv, const char *title, int k, const char *const *classes, const int64_t *cm);

/* Cross-validation: a score of each of nmodels models on each of nfolds folds (v[m*nfolds + f], NaN:
 * none), fold 1..nfolds across, [0, 1] up, one line with points per model (tab10 colours, a legend). */
int fig_folds(Canvas *cv, const char *title, const char *ylabel, int nfolds, int nmodels, const char *const *models,
              const double *v);

typedef struct GalleryItem {
    const float *spec; /* F x T, row 0 the lowest band */
    int F, T;
    const char *name, *truth, *pred;
    double conf;
    int ok;            /* 1 right (green), 0 wrong (red), -1 true class unknown (grey) */
} GalleryItem;
/* A grid of thumbnails, `cols` per row, each scaled to 192 x 96 with its own min..max through viridis,
 * framed green or red, with the sample's name, true class, predicted class and confidence below.
 * tiles (may be NULL): n rectangles, each a tile's thumbnail and text. */
int fig_gallery(Canvas *cv, const char *title, const GalleryItem *items, int n, int cols, FigRect *tiles);

typedef struct FigEvent {
    double begin, end;
    int cls;
    int unmatched; /* scored against annotations: an event no selection matched, or a selection missed */
} FigEvent;
/* Scores of k classes over time (n windows, t[i] the window's centre, scores[i*k + c]) with the
 * detection threshold as a dashed line (NaN: none), and nev events (seconds, class) as bands of their
 * class's colour behind the lines; ev_rects (may be NULL): the nev bands' rectangles. truth (ntruth,
 * may be 0): annotated selections as bars of their class's colour in a strip along the top; unmatched
 * events and selections are outlined in red. */
int fig_timeline(Canvas *cv, const char *title, int n, const double *t, int k, const char *const *classes,
                 const double *scores, double threshold, const FigEvent *ev, int nev, FigRect *ev_rects,
                 const FigEvent *truth, int ntruth);

#endif
