/* npy.h - NumPy .npy files and streams of them.
 *
 * Reads format versions 1.0, 2.0 and 3.0; dtypes float16/32/64, int8/16/32/64 and uint8/16/32 in either
 * byte order, converted on reading to float32 (floats) or int64 (integers), or to what the caller asks.
 * Writes version 1.0 (2.0 if the header would not fit), little-endian float32 / int64, C order, with
 * exactly the header numpy.save (>= 1.23) writes, so files are byte-identical to NumPy's.
 *
 * Validation (a hostile or truncated file is an error naming the file, never a crash or a huge
 * allocation): magic and version, header length <= NPY_MAX_HEADER, a Python-literal dict with exactly
 * the keys descr, fortran_order and shape (no duplicates, nothing after the closing brace but
 * whitespace), a known descr, fortran_order False, at most TENSOR_MAX_DIMS non-negative dimensions whose
 * product times the item size does not overflow, and exactly that many data bytes.
 *
 * Streams: several arrays may follow each other in one file or pipe; npy_read() returns them one by
 * one and reports a clean end of file separately from a truncated array. */
#ifndef AUDIOCNN_NPY_H
#define AUDIOCNN_NPY_H

#include "core/tensor.h"

#include <stdio.h>

#define NPY_MAX_HEADER 10000 /* NumPy's own default cap on header size */
#define NPY_WANT_NATURAL (-1) /* floats -> float32, integers -> int64 */

typedef struct NpyHeader {
    char kind;     /* 'f', 'i' or 'u' */
    int itemsize;  /* bytes per element in the file */
    int swap;      /* 1 if the file's byte order is big-endian */
    int fortran;   /* always 0 once validated */
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
} NpyHeader;

/* Parse the dict text of a header (without magic/length). Returns 0 or -1 with err_set(). Pure: the
 * fuzz target calls this directly. */
int npy_parse_header(const char *text, size_t len, NpyHeader *h);

/* Read the next array from f into *t, converted to `want` (NPY_WANT_NATURAL, DT_F32 or DT_I64; a float
 * array requested as int64 is an error). Returns 1 on success, 0 on a clean end of file (no byte
 * before the next magic), -1 on error with err_set() naming `name`. */
int npy_read(FILE *f, const char *name, int want, Tensor *t);

/* Load a file holding exactly one array ("-" reads stdin). Trailing bytes after it are an error. */
int npy_load(const char *path, int want, Tensor *t);

/* A read-only memory map of a single-array file holding little-endian float32 or int64 (what the tools
 * write), for inputs larger than memory (a stacked training split). The header is validated as by
 * npy_read and the file must hold exactly the data the shape promises. data points into the mapping
 * (page-aligned + header length, so 64-byte aligned for files numpy or we wrote). */
typedef struct NpyMap {
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    const void *data;
    void *base;   /* the mapping */
    size_t size;  /* its length */
} NpyMap;
int npy_map(const char *path, NpyMap *m); /* 0 or -1 with err_set() */
void npy_unmap(NpyMap *m);

/* Write one array (float32 or int64) with NumPy's exact header. Returns 0 or -1 with err_set(). */
int npy_write(FILE *f, const Tensor *t);

/* Only the header of an array whose data the caller streams after it (e.g. a stacked split). */
int npy_write_header(FILE *f, DType dt, int ndim, const int64_t *shape);

/* Write one array atomically to PATH ("-" = stdout). */
int npy_save(const char *path, const Tensor *t);

#endif
