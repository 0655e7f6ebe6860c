/* weights.h - named tensors in a file, whatever its format: one way to read them, one way to load them
 * into a ParamTable, one name index.
 *
 * Promise: a format reader (lib/formats/safetensors.c, lib/formats/pth.c) describes its file as a
 * WtSource - a list of named tensors with a dtype and a shape, and a way to fetch the little-endian bytes
 * of a range of a tensor's elements in C order - and everything else is done here, identically for all
 * formats:
 *   - reading (wt_read, wt_read_tensor): the dtype checks, the element count, the conversion to float32
 *     or int64 (safetensors.c's st_check_read and st_decode), in bounded chunks (a strided view that
 *     the source gathers: in one piece), with the same messages for every format;
 *   - matching (wt_load_params): every table entry not under a skip prefix needs a tensor of the same
 *     name and exactly its shape; PARAM_WEIGHT/PARAM_BUFFER need a float dtype (converted to float32),
 *     PARAM_COUNT needs I64; every file tensor the table lacks is "unexpected" (unless allow_unexpected
 *     or under a skip prefix); every missing, unexpected, wrongly shaped or wrongly typed name is reported
 *     before anything is loaded: one err_set() line ("F: does not match the model: 1 missing (fc.bias),
 *     ...", long lists cut with "and N more") and, when problems is not NULL, one line per problem pushed
 *     onto it; nothing is loaded unless everything matches, and a read error half-way restores the old
 *     values;
 *   - names (wt_name_index, wt_name_find): the bytewise-sorted index of a file's names (tensors,
 *     metadata keys, ZIP entries) that finds duplicates and serves lookups.
 *
 * weights_load() sniffs PATH by its first 4 bytes - a ZIP archive ("PK\3\4" or "PK\5\6") or the legacy
 * torch.save pickle (80 02 8a 0a) goes to lib/formats/pth.c, anything else to lib/formats/safetensors.c (as a safetensors
 * header length, those bytes exceed ST_MAX_HEADER, so no valid safetensors file is misrouted) - so a
 * tool loads pretrained weights (a torchvision .pth or a .safetensors) with one call. */
#ifndef AUDIOCNN_WEIGHTS_H
#define AUDIOCNN_WEIGHTS_H

#include "nn/params.h"
#include "core/strlist.h"
#include "core/tensor.h"

#include <stddef.h>
#include <stdint.h>

typedef struct StLoadOpts {
    const char *const *skip; /* name prefixes (e.g. "fc.") neither loaded nor checked, in the table */
    int nskip;               /* or in the file: those table entries keep their values */
    int allow_unexpected;    /* file tensors the table lacks are ignored instead of an error */
} StLoadOpts;

/* The dtypes of every format: safetensors' list (0.4); .pth storages map onto it. F8_E4M3 is
 * torch.float8_e4m3fn. Names, sizes and decoding are in safetensors.h (st_dtype_name, ...). */
typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_U16, ST_I16, ST_U32, ST_I32, ST_U64, ST_I64,
    ST_F8_E4M3, ST_F8_E5M2, ST_F16, ST_BF16, ST_F32, ST_F64, ST_NDTYPES
} StDType;

/* One tensor as the file describes it (strings and shape belong to the source). */
typedef struct WtEntry {
    const char *name;
    StDType dtype;
    int ndim;
    const int64_t *shape;
    int64_t numel;
    int whole; /* 1: read() gathers a strided view and is asked for all its elements at once */
} WtEntry;

/* A file of named tensors. read() puts the little-endian bytes of elements [k0, k0 + m) of tensor i, in
 * C order, at buf (m * the dtype's size bytes); 0, or -1 with err_set() naming the file. */
typedef struct WtSource {
    const char *file; /* prefixed to every message */
    int n;
    const void *ctx;
    void (*entry)(const void *ctx, int i, WtEntry *e);
    int (*find)(const void *ctx, const char *name); /* index or -1 */
    int (*read)(const void *ctx, int i, int64_t k0, int64_t m, void *buf);
} WtSource;

/* Tensor i into out, which holds exactly n elements (n must equal its numel): float32 (to_f32; float
 * dtypes convert, F64 rounds, F16/BF16/F8 are exact; integer and BOOL tensors are refused unless flags
 * has ST_INT_OK) or int64 (integer and BOOL tensors only; U64 above 2^63-1 and BOOL bytes other than 0/1
 * are errors). Returns 0, or -1 with err_set() naming the file and the tensor. */
#define ST_INT_OK 1
int wt_read(const WtSource *s, int i, void *out, int64_t n, int to_f32, int flags);
/* Tensor i as a new Tensor: want = DT_F32 (any dtype, converted), DT_I64 (integers/BOOL only) or
 * ST_WANT_NATURAL (floats -> float32, integers and BOOL -> int64). Returns 0 or -1 with err_set(). */
#define ST_WANT_NATURAL (-1)
int wt_read_tensor(const WtSource *s, int i, int want, Tensor *t);

/* Load every entry of T (allocated) from S under the rules above. O may be NULL (strict). Returns 0 or
 * -1 with err_set(). */
int wt_load_params(const WtSource *s, ParamTable *t, const StLoadOpts *o, StrList *problems);

/* Sniff PATH and load it with pth_load_params or st_load (same semantics). Returns 0 or -1. */
int weights_load(const char *path, ParamTable *t, const StLoadOpts *o, StrList *problems);

/* The name index of n named records: records[i] is at (const char *)v + i * stride and its name, a
 * string pointer, off bytes into it (e.g. entries, sizeof *entries, offsetof(Entry, name)).
 * wt_name_index fills by_name (n ints, or NULL to check only) with the records' indices sorted bytewise
 * by name and returns 0; 1 with *dup = a record whose name another one has (by_name then incomplete); -1
 * when out of memory (no err_set: the caller says which file). wt_name_find: the record named key, or -1. */
int wt_name_index(const void *v, size_t stride, size_t off, int n, int *by_name, int *dup);
int wt_name_find(const void *v, size_t stride, size_t off, const int *by_name, int n, const char *key);

/* Message helpers the weights readers share. wt_shown: a tensor name as it may appear in a one-line
 * message (control bytes become '?', a long name is cut at a UTF-8 character boundary and ends in
 * "..."), written into buf (cap >= 5) and returned. wt_shape_text: "[2, 3]" into buf. */
const char *wt_shown(const char *s, char *buf, size_t cap);
void wt_shape_text(int ndim, const int64_t *shape, char *buf, size_t cap);

#endif
