/* figures.h - the report's figures, drawn from plain arrays (no file reading here).
 *
 * Promise: each fig_* function initialises *im (image_init; free it with image_free) at a size that
 * depends only on its arguments, draws a complete figure with title, axes, tick labels, axis labels and
 * a legend where there are several series, and returns 0, or -1 with err_set() (out of memory, too
 * large). Random jitter comes from lib/rng keyed by the seed and the point's index, so the same
 * arguments give the same pixels. Text is drawn with lib/font (non-ASCII characters as '?'). */
#ifndef AUDIOCNN_FIGURES_H
#define AUDIOCNN_FIGURES_H

#include "report/image.h"

#include <stdint.h>

/* Grouped bars: recordings of each of k classes in train, val and test (counts[3*c + s]). */
int fig_split_counts(Image *im, int k, const char *const *classes, const long *counts);

/* A strip plot: point i at class cls[i] (0..k-1, jittered sideways) and height y[i]. ok == NULL draws
 * every point in one colour with a box (quartiles) and whiskers (min, max) per class; otherwise ok[i]
 * picks green (1) or red (0), with a legend. y range [ylo, yhi] (NaN: from the data). */
int fig_strip(Image *im, const char *title, const char *ylabel, int k, const char *const *classes, const double *y,
              const int *cls, const int *ok, int n, double ylo, double yhi, uint64_t seed);

/* One recording: its waveform (n samples at sr) and its spectrogram (bins x frames, row 0 the lowest
 * band; frame_seconds apart), side by side, the spectrogram with a colour bar: [max - 80 dB, max] when
 * db is 1, [min, max] otherwise. */
int fig_example(Image *im, const char *title, const float *wave, long n, double sr, const float *spec, int bins,
                int frames, double frame_seconds, int db);

/* Learning curves, two panels side by side: loss and accuracy per epoch, train and validation (NaN
 * values are skipped), the best epoch marked with a dashed vertical line (best_epoch <= 0: none). */
int fig_curves(Image *im, const char *title, int n, const double *epoch, const double *train_loss,
               const double *val_loss, const double *train_acc, const double *val_acc, int best_epoch);

/* A confusion matrix (k x k counts, rows true class), cells shaded by the fraction of their row and
 * labelled with the count. */
int fig_confusion(Image *im, const char *title, int k, const char *const *classes, const int64_t *cm);

typedef struct GalleryItem {
    const float *spec; /* F x T, row 0 the lowest band */
    int F, T;
    const char *name, *truth, *pred;
    double conf;
    int ok;            /* 1 right (green), 0 wrong (red), -1 true class unknown (grey) */
} GalleryItem;
/* A grid of thumbnails, `cols` per row, each scaled to 192 x 96 with its own min..max through viridis,
 * framed green or red, with the sample's name, true class, predicted class and confidence below. */
int fig_gallery(Image *im, const char *title, const GalleryItem *items, int n, int cols);

/* Scores of k classes over time (n windows, t[i] the window's centre, scores[i*k + c]) with the
 * detection threshold as a dashed line (NaN: none). */
int fig_timeline(Image *im, const char *title, int n, const double *t, int k, const char *const *classes,
                 const double *scores, double threshold);

#endif
