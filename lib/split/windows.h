/* windows.h - annotated long recordings -> labelled windows, split by recording (splitset --windows).
 *
 * Input: a TSV list with columns `recording` and `table` (optionally `group`), or a folder where each
 * Raven table `X.Table.1.selections.txt` sits beside its recording `X.EXT` (an audio extension,
 * audio_name_ok). Tables are read with annotations.h, checked against the recording's length (the
 * caller's `duration` callback, header only).
 *
 * Promises:
 * - Windows of each recording: [k*step, k*step + length) for k = 0, 1, ... while the window ends within
 *   the recording (1e-9 s slack); a recording shorter than one window gives none.
 * - A selection labels a window when their overlap (seconds) is > 0 and >= min_overlap, or with
 *   min_overlap_frac, >= min_overlap * min(selection length, window length); a selection of zero length
 *   labels the windows with start <= time < end. With a band, a selection whose [low, high] does not
 *   meet the band is ignored (one without a band is kept). With keep, labels outside it are ignored.
 * - Classes: keep (or every label found), plus background, sorted bytewise; a window with no class
 *   gets background when it is given, else a row of zeros. A class may not be named path, start, end
 *   or group, nor hold a tab or newline.
 * - Splits: every recording (or group: list column or group_re on the file name) is one unit of
 *   split.h's rule, its classes counted in windows (a window with no class counts towards a hidden
 *   class of its own); test_re gives a fixed test set; unless fresh, earlier OUTDIR lists are kept by
 *   recording path or group.
 * - Output: OUTDIR/{train,val,test}.tsv (path start end CLASS... group; recordings sorted bytewise by
 *   path, windows in time order; times printed with %.9g) and classes.tsv (index name train val test:
 *   windows of the class per split); all four or none.
 * - Deterministic: same inputs and options, same bytes. */
#ifndef AUDIOCNN_WINDOWS_H
#define AUDIOCNN_WINDOWS_H

#include "split/split.h"

#include <regex.h>
#include <stdint.h>

typedef struct WinOptions {
    double length, step;  /* seconds, > 0 */
    double min_overlap;   /* seconds, or a fraction in (0, 1] with min_overlap_frac */
    int min_overlap_frac;
    int band;             /* band_lo..band_hi (Hz) given */
    double band_lo, band_hi;
    char **keep;          /* class subset (NULL: every label) */
    int nkeep;
    const char *background; /* NULL: windows without a label have no class */
    const char *label_col;  /* Raven label column (NULL: Annotation) */
    double ratios[SPLIT_N];
    uint64_t seed;
    const regex_t *group_re;
    const char *group_pat;
    const regex_t *test_re;
    int fresh;
    double (*duration)(const char *path); /* seconds; < 0 with err_set() */
} WinOptions;

typedef struct WinStats {
    long recordings[SPLIT_N], windows[SPLIT_N];
    long short_recordings; /* recordings shorter than one window */
    int nclasses;
    long *per_class;       /* [class * SPLIT_N + split], windows */
    char **classes;
} WinStats;

int windows_split(const char *input, const char *outdir, const WinOptions *o, WinStats *st);
void win_stats_free(WinStats *st);

#endif
