/* manifest.h - the TSV that gives every array in a .npy file or stream its identity.
 *
 * A .npy header cannot carry a name, so arrays travel with a manifest. Columns, in this order:
 *   key     unique id of the array (file stem, plus "_NNNN" for the N-th window of a segmented file)
 *   npy     the .npy file holding it; "-" for standard output/input. Rows naming the same file give
 *           that file's arrays in order (row i of the rows naming F is array i of F), and must be
 *           contiguous. A file holding one array is a plain .npy that numpy.load reads.
 *   source  the recording it came from
 *   label   class name ("" when unknown)
 *   index   class index (-1 when unknown)
 *   group   grouping key for splits, e.g. the speaker ("" when none)
 *   start   start of the analysed audio in the recording, seconds
 *   end     end of the analysed audio, seconds
 *   shape   array shape as "1x128x44"
 * Readers need key, npy and shape and ignore columns they do not know. */
#ifndef AUDIOCNN_MANIFEST_H
#define AUDIOCNN_MANIFEST_H

#include "core/tensor.h"
#include "formats/tsv.h"

#include <stdio.h>

typedef struct ManifestRow {
    const char *key, *npy, *source, *label, *group; /* never NULL once read; "" when absent */
    int64_t index;
    double start, end;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
} ManifestRow;

typedef struct Manifest {
    Tsv tsv; /* owns the strings */
    ManifestRow *rows;
    size_t n;
} Manifest;

int manifest_read(const char *path, Manifest *m);
void manifest_free(Manifest *m);

extern const char MANIFEST_HEADER[]; /* the header line, with its newline */
int manifest_write_header(FILE *f);
/* Refuses (returns -1 with err_set) values containing tabs or newlines. NULL strings are written "". */
int manifest_write_row(FILE *f, const ManifestRow *r);

/* Parse "1x128x44" into shape; returns ndim or -1. */
int shape_parse(const char *s, int64_t *shape);

/* Walk the arrays a manifest describes, in row order, opening each npy file once. Each array is checked
 * against its row's shape. */
typedef struct ManifestArrays {
    const Manifest *m;
    size_t next;
    FILE *cur;
    const char *cur_name;
} ManifestArrays;

void manifest_arrays_open(ManifestArrays *it, const Manifest *m);
/* Returns 1 with the array of row it->next - 1 in *t, 0 after the last row, -1 on error. */
int manifest_arrays_next(ManifestArrays *it, int want, Tensor *t);
void manifest_arrays_close(ManifestArrays *it);

#endif
