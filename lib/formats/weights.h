/* weights.h - model weights from a file into a ParamTable, whatever the file's format.
 *
 * Promise: one matching rule for every weights format. A format reader (lib/formats/safetensors.c,
 * lib/formats/pth.c) describes its file as a WtSource - a list of named tensors with a dtype name and a
 * shape, and two ways to read one - and wt_load_params() does the rest, identically for all formats:
 *   - every table entry not under a skip prefix needs a tensor of the same name and exactly its shape;
 *     PARAM_WEIGHT/PARAM_BUFFER need a float dtype (converted to float32), PARAM_COUNT needs I64;
 *   - every file tensor the table lacks is "unexpected" (unless allow_unexpected or under a skip prefix);
 *   - every missing, unexpected, wrongly shaped or wrongly typed name is reported before anything is
 *     loaded: one err_set() line ("F: does not match the model: 1 missing (fc.bias), ...", long lists cut
 *     with "and N more") and, when problems is not NULL, one line per problem pushed onto it;
 *   - nothing is loaded unless everything matches, and a read error half-way restores the old values.
 *
 * weights_load() sniffs PATH by its first 4 bytes - a ZIP archive ("PK\3\4" or "PK\5\6") or the legacy
 * torch.save pickle (80 02 8a 0a) goes to lib/formats/pth.c, anything else to lib/formats/safetensors.c (as a safetensors
 * header length, those bytes exceed ST_MAX_HEADER, so no valid safetensors file is misrouted) - so a
 * tool loads pretrained weights (a torchvision .pth or a .safetensors) with one call. */
#ifndef AUDIOCNN_WEIGHTS_H
#define AUDIOCNN_WEIGHTS_H

#include "nn/params.h"
#include "core/strlist.h"

#include <stddef.h>
#include <stdint.h>

typedef struct StLoadOpts {
    const char *const *skip; /* name prefixes (e.g. "fc.") neither loaded nor checked, in the table */
    int nskip;               /* or in the file: those table entries keep their values */
    int allow_unexpected;    /* file tensors the table lacks are ignored instead of an error */
} StLoadOpts;

/* One tensor as the file describes it (strings and shape belong to the source). */
typedef struct WtEntry {
    const char *name;
    const char *dtype; /* for messages, safetensors' spelling: "F32", "I64", "BF16", ... */
    int is_float;      /* loadable as float32 (PARAM_WEIGHT / PARAM_BUFFER) */
    int is_i64;        /* exactly int64 (PARAM_COUNT) */
    int ndim;
    const int64_t *shape;
} WtEntry;

/* A file of named tensors. read_f32 is called only for is_float entries, read_i64 only for is_i64 ones,
 * each with n == the entry's element count; they return 0 or -1 with err_set() naming the file. */
typedef struct WtSource {
    const char *file; /* prefixed to every message */
    int n;
    const void *ctx;
    void (*entry)(const void *ctx, int i, WtEntry *e);
    int (*find)(const void *ctx, const char *name); /* index or -1 */
    int (*read_f32)(const void *ctx, int i, float *out, int64_t n);
    int (*read_i64)(const void *ctx, int i, int64_t *out, int64_t n);
} WtSource;

/* Load every entry of T (allocated) from S under the rules above. O may be NULL (strict). Returns 0 or
 * -1 with err_set(). */
int wt_load_params(const WtSource *s, ParamTable *t, const StLoadOpts *o, StrList *problems);

/* Sniff PATH and load it with pth_load_params or st_load (same semantics). Returns 0 or -1. */
int weights_load(const char *path, ParamTable *t, const StLoadOpts *o, StrList *problems);

/* Message helpers the weights readers share. wt_shown: a tensor name as it may appear in a one-line
 * message (control bytes become '?', a long name is cut at a UTF-8 character boundary and ends in
 * "..."), written into buf (cap >= 5) and returned. wt_shape_text: "[2, 3]" into buf. */
const char *wt_shown(const char *s, char *buf, size_t cap);
void wt_shape_text(int ndim, const int64_t *shape, char *buf, size_t cap);

#endif
