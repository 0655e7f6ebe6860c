/* safetensors.h - checkpoints and pretrained weights in the safetensors format.
 *
 * File layout (https://github.com/huggingface/safetensors, "Format"): 8 bytes N (little-endian u64),
 * N bytes of UTF-8 JSON header, then the data section. The header is an object mapping each tensor
 * name to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (byte offsets into the data
 * section), plus an optional "__metadata__" object of string -> string. Data is little-endian,
 * row-major (NumPy/PyTorch order), and carries no alignment promise.
 *
 * Reading (st_open for a file, st_parse for bytes in memory) is strict; an untrusted file that breaks
 * any rule is an error naming the file, never a crash or a huge allocation:
 *   - file >= 8 bytes; N assembled bytewise; N <= file size - 8 and N <= ST_MAX_HEADER;
 *   - the header is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), starts
 *     with '{', holds exactly one JSON object followed only by spaces (0x20, the writer's padding);
 *   - JSON: strings with the JSON escapes (\uXXXX with paired surrogates; \u0000 and raw control
 *     characters refused), integers without sign, fraction, exponent or leading zeros, below 2^63;
 *     true/false/null/floats refused; no recursion (the schema nests three levels at most);
 *   - keys unique (in the header and in __metadata__); __metadata__ optional, string -> string only;
 *   - each tensor has exactly dtype, shape and data_offsets; dtype one of the names below; shape at
 *     most ST_MAX_DIMS non-negative integers; data_offsets two integers with begin <= end;
 *   - element count and byte count computed with overflow checks, end - begin == byte count;
 *   - sorted by data_offsets, the first begins at 0 and each begins where the previous ended (no
 *     gap, no overlap), and the last ends exactly at the end of the file.
 * Only the header is read by st_open; a tensor's bytes are read (pread) when asked for, in bounded
 * chunks, and converted; the file is never mapped or read whole. Allocations are bounded by a few
 * times the header size plus what the caller asks for. Lookups and reads leave the StFile unchanged
 * and may run in several threads at once. Known differences from the reference reader (stricter):
 * unknown keys in a tensor entry, duplicate metadata keys, "__metadata__": null, \u0000 in names,
 * more than 8 dimensions and padding other than spaces are refused.
 *
 * Writing (st_write/st_save) produces what the official writer produces: a compact JSON header
 * ("__metadata__" first when there is metadata, then one entry per tensor in the order given), padded
 * with spaces to a multiple of 8 bytes, then the tensors' data contiguous in that order. st_save goes
 * through outfile (atomic). PyTorch reads the result with safetensors.torch.load_file.
 *
 * Parameter tables (lib/nn/params.h): st_save_params writes every entry under its name (float32;
 * PARAM_COUNT entries as I64, rank 0 when the entry's ndim is 0, as torch's num_batches_tracked) plus
 * optional extra tensors (optimiser state "opt.m.<name>", ...). st_load_params checks that the file
 * holds each entry with exactly its shape and a suitable dtype and reports every missing, unexpected,
 * wrongly shaped or wrongly typed name before loading anything. */
#ifndef AUDIOCNN_SAFETENSORS_H
#define AUDIOCNN_SAFETENSORS_H

#include "nn/params.h"
#include "core/strlist.h"
#include "core/tensor.h"
#include "formats/weights.h"

#include <stdint.h>
#include <stdio.h>

#define ST_MAX_HEADER (16u << 20) /* bytes; the reference reader allows 100 MB, real headers are KBs */
#define ST_MAX_DIMS 8             /* == TENSOR_MAX_DIMS */

/* StDType, every dtype of the format (safetensors 0.4), is in weights.h: all formats share it. */
const char *st_dtype_name(StDType dt); /* "F32", "BOOL", ... */
size_t st_dtype_size(StDType dt);      /* bytes per element */
int st_dtype_is_float(StDType dt);     /* F8_*, F16, BF16, F32, F64 */

typedef struct StEntry {
    char *name;
    StDType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end; /* data_offsets: bytes [begin, end) of the data section */
} StEntry;

typedef struct StMeta {
    const char *key, *value;
} StMeta;

/* A parsed file. Entries and metadata are in header order; the strings belong to the StFile. */
typedef struct StFile {
    char *name;      /* the path (or st_parse's name), prefixed to every message */
    int n;
    StEntry *e;
    int nmeta;
    StMeta *meta;
    uint64_t header_len, data_len; /* N, and the bytes after 8 + N */
    int fd;                        /* st_open: the open file; -1 for st_parse */
    const unsigned char *bytes;    /* st_parse: the caller's buffer (must outlive the StFile) */
    int *by_name;                  /* entry indices sorted by name, for st_find */
} StFile;

/* Open and validate PATH (header only). Returns 0, or -1 with err_set() naming PATH; st_close() is
 * needed only after success. */
int st_open(const char *path, StFile *f);
/* The same on a whole file held in memory (not copied). Pure; the fuzz target calls it. */
int st_parse(const void *bytes, size_t len, const char *name, StFile *f);
void st_close(StFile *f);

int st_find(const StFile *f, const char *name);             /* entry index or -1 */
const char *st_meta_get(const StFile *f, const char *key);  /* NULL when absent */

/* Entry i into out, which holds exactly n elements (n must equal the entry's numel): wt_read's
 * conversions and checks (weights.h), with ST_INT_OK in flags for integer entries as float32;
 * st_read_i64 takes integer and BOOL entries only. st_read_tensor: entry i as a new Tensor, want =
 * DT_F32, DT_I64 or ST_WANT_NATURAL. Return 0, or -1 with err_set() naming the file and the tensor.
 * st_source: F as a named tensor source (weights.h): the reads above are wt_read on it; valid while F
 * is open. */
int st_read_f32(const StFile *f, int i, float *out, int64_t n, int flags);
int st_read_i64(const StFile *f, int i, int64_t *out, int64_t n);
int st_read_tensor(const StFile *f, int i, int want, Tensor *t);
WtSource st_source(const StFile *f);

/* The dtype pieces of those reads, for weights.c's wt_read (the messages: "FILE: tensor 'NAME' ..."):
 *   st_check_read   a read of a tensor (dtype dt, numel elements) into n elements of float32 (to_f32;
 *                   integer dtypes too with ST_INT_OK) or int64: 0, or -1 with err_set();
 *   st_decode       m little-endian elements of dt at p into out[k0 .. k0 + m) (float or int64_t):
 *                   0, or -1 with err_set() for an element without an int64 value. */
int st_check_read(const char *file, const char *tensor, StDType dt, int64_t numel, int64_t n, int to_f32, int flags);
int st_decode(const char *file, const char *tensor, StDType dt, const unsigned char *p, size_t m, void *out, int64_t k0,
              int to_f32);

/* ---- parameter tables ---------------------------------------------------------------------- */

/* StLoadOpts (skip prefixes, allow_unexpected) is in weights.h, shared with lib/formats/pth.c. */

/* Load every entry of T (allocated) from F: a tensor of the same name and shape must be there,
 * float (F32, or F16/BF16/F64/F8 converted) for PARAM_WEIGHT/PARAM_BUFFER, I64 for PARAM_COUNT (stored
 * as float: exact up to 2^24). Nothing is loaded unless everything matches; then returns -1 with a
 * one-line err_set() summary ("F: does not match the model: 1 missing (fc.bias), 1 wrong shape
 * (fc.weight: file [1000, 512], model [10, 512])", long lists cut with "and N more"), and, when
 * problems is not NULL, one line per problem pushed onto it for the caller to print. O may be NULL
 * (strict). A read error after the checks leaves T's values as they were. The matching is
 * wt_load_params (lib/formats/weights.h), the same for every weights format. */
int st_load_params(const StFile *f, ParamTable *t, const StLoadOpts *o, StrList *problems);
/* st_open + st_load_params + st_close. */
int st_load(const char *path, ParamTable *t, const StLoadOpts *o, StrList *problems);

/* ---- writing ------------------------------------------------------------------------------- */

/* One tensor to write. data holds numel elements of the dtype's C type in host byte order (float for
 * F32, double for F64, int64_t for I64, ..., uint16_t bit patterns for F16/BF16, uint8_t for BOOL,
 * U8 and F8); it may be NULL when numel is 0. */
typedef struct StItem {
    const char *name;
    StDType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} StItem;

/* Names and metadata keys must be unique, valid UTF-8, and names must not be "__metadata__".
 * st_write writes to a stream (the caller handles atomicity); st_save writes PATH atomically
 * ("-" = stdout). Return 0, or -1 with err_set(). */
int st_write(FILE *out, const StItem *items, int n, const StMeta *meta, int nmeta);
int st_save(const char *path, const StItem *items, int n, const StMeta *meta, int nmeta);

/* Every entry of T in table order (WEIGHT/BUFFER as F32, COUNT as I64 rounded from the float),
 * then the extra items (may be NULL/0), atomically to PATH. */
int st_save_params(const char *path, const ParamTable *t, const StMeta *meta, int nmeta, const StItem *extra,
                   int nextra);

#endif
