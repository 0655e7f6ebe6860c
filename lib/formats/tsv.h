/* tsv.h - tab-separated tables with a header line (lists, manifests, splits).
 *
 * Promise: tsv_read() loads the whole table; every row has exactly as many fields as the header (a
 * ragged row is an error naming the file and line); a trailing '\r' is stripped (files edited on
 * Windows); blank lines are skipped. Fields are plain text: no quoting, so a value can never contain a
 * tab or newline, and tsv_field_ok() lets writers refuse such values instead of corrupting a table. */
#ifndef AUDIOCNN_TSV_H
#define AUDIOCNN_TSV_H

#include <stddef.h>

typedef struct Tsv {
    char *buf;      /* whole file, split in place */
    char **header;
    int ncols;
    char ***rows;   /* rows[i][j] */
    size_t *lineno; /* source line of each row, for messages */
    size_t nrows;
    char *name;     /* file name for messages */
} Tsv;

/* Returns 0, or -1 with err_set(). "-" reads stdin. */
int tsv_read(const char *path, Tsv *t);
/* Parse an in-memory text (copied). `name` is used in messages. */
int tsv_parse(const char *text, size_t len, const char *name, Tsv *t);
void tsv_free(Tsv *t);
/* Column index of NAME, or -1. */
int tsv_col(const Tsv *t, const char *name);
/* 1 if S may be written as a TSV field (no tab, CR or LF). */
int tsv_field_ok(const char *s);

/* Read the whole of PATH ("-" = stdin) into a NUL-terminated buffer. Returns NULL with err_set(). */
char *read_whole_file(const char *path, size_t *len);

#endif
