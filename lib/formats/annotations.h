/* annotations.h - selections of long recordings: Raven Pro selection tables and Audacity label tracks.
 *
 * Promises:
 * - Raven: a tab-separated table whose header has `Begin Time (s)` and `End Time (s)`, optionally
 *   `Low Freq (Hz)`, `High Freq (Hz)` and `Selection`, and the label column named by the caller
 *   (`Annotation` when none is given); other columns are ignored. Rows with the same `Selection` number
 *   (one selection seen in several views: Waveform 1, Spectrogram 1) collapse to one selection: their
 *   times and labels must agree; its band comes from a `Spectrogram` view when there is one.
 * - Audacity: lines `start<TAB>end<TAB>label`; a line starting with a backslash,
 *   `\<TAB>low<TAB>high`, gives the frequency band of the label above it.
 * - A table is Raven when its first line has a `Begin Time (s)` field, else Audacity.
 * - Refused, with one message "FILE: line N: ..." and nothing returned: a ragged or malformed row, a
 *   time or frequency that is not a finite number >= 0, end before begin, low above high, an end past
 *   `duration` (seconds; < 0: not checked), an empty label or one holding a tab, CR or newline, an
 *   unknown label column, views of one selection that disagree, a NUL byte.
 * - Selections come in the order of their first row in the file; the same bytes give the same list. */
#ifndef AUDIOCNN_ANNOTATIONS_H
#define AUDIOCNN_ANNOTATIONS_H

#include <stddef.h>

typedef struct Selection {
    double begin, end; /* seconds, begin <= end */
    double low, high;  /* Hz; NAN when the table gives no band */
    char *label;
    size_t line;       /* first line of the selection in its file */
} Selection;

typedef struct Annotations {
    Selection *sel;
    size_t n;
    int raven; /* 1: read as a Raven selection table, 0: as an Audacity label track */
} Annotations;

/* Parse TEXT (LEN bytes; NAME names it in messages). LABEL_COL: Raven's label column (NULL:
 * "Annotation"). DURATION: the recording's length in seconds, < 0 to skip that check. Returns 0, or -1
 * with err_set() and A left empty. */
int ann_parse(const char *text, size_t len, const char *name, const char *label_col, double duration,
              Annotations *a);
/* The same from a file ("-" = stdin). */
int ann_read(const char *path, const char *label_col, double duration, Annotations *a);
void ann_free(Annotations *a);

#endif
