/* pth.h - PyTorch state_dict files (.pth/.pt from torch.save, torchvision's published weights), read
 * strictly and without Python.
 *
 * Format (torch >= 1.6, torch/serialization.py _save): a ZIP archive (lib/formats/zip.h: stored entries) whose
 * entries sit under one top folder D ("archive", or the file's stem): D/data.pkl, a pickle (protocol 2
 * by default) of the state_dict; D/data/KEY, the raw little-endian bytes of each storage; D/version,
 * maybe D/byteorder and files under D/.data/. Tensors in the pickle are
 *   torch._utils._rebuild_tensor_v2(PERSID('storage', torch.FloatStorage, KEY, LOCATION, NUMEL),
 *                                   offset, size, stride, requires_grad, backward_hooks[, metadata])
 * optionally wrapped in torch._utils._rebuild_parameter(tensor, requires_grad, hooks).
 *
 * Reading (pth_open for a file, pth_parse for bytes in memory) never executes anything: data.pkl runs
 * on a small pickle machine that knows only the opcodes a state_dict uses (PROTO FRAME STOP MARK
 * EMPTY_DICT EMPTY_LIST EMPTY_TUPLE TUPLE TUPLE1-3 BINPUT LONG_BINPUT MEMOIZE BINGET LONG_BINGET
 * BINUNICODE SHORT_BINUNICODE BININT BININT1 BININT2 LONG1 NEWTRUE NEWFALSE NONE GLOBAL STACK_GLOBAL
 * REDUCE BUILD SETITEM SETITEMS APPEND APPENDS BINPERSID) and only these callables: collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and the torch.*Storage types below.
 * Anything else - another GLOBAL (os.system, builtins.eval, ...), an unknown opcode, INST/OBJ/NEWOBJ -
 * is an error naming the file, the opcode (or global) and its byte offset in data.pkl. Rules:
 *   - the archive passes lib/formats/zip.h's checks; one top folder holds every entry; D/data.pkl exists and is
 *     at most PTH_MAX_PICKLE bytes; D/byteorder, when present, says "little"; an archive with
 *     D/constants.pkl or D/code/ (TorchScript, torch.jit.save) and a file that is a bare pickle (the
 *     legacy pre-1.6 torch.save format) are refused as not supported;
 *   - pickle: PROTO <= 5 first, STOP last with the stack then holding exactly the result and no open
 *     MARK; at most PTH_MAX_STACK values on the stack, PTH_MAX_MARKS open MARKs, memo indices at most one
 *     past the last one stored (reads only of stored ones); strings within the pickle, integers within
 *     int64 (LONG1 of at most 8 bytes); every operand of the right kind;
 *   - storages: type one of Float/Double/Half/BFloat16/Long/Int/Short/Char/Byte/Bool Storage; the entry
 *     D/data/KEY exists and holds exactly NUMEL elements; the same KEY always with the same type and NUMEL;
 *   - tensors: at most PTH_MAX_DIMS dimensions, sizes, strides and offset >= 0, element count without
 *     overflow and at most the storage's, every element inside the storage (offset + sum (size-1) *
 *     stride < NUMEL). Non-contiguous views are accepted and gathered into C order on reading;
 *     backward_hooks must be a dict, metadata (if any) an empty dict or None;
 *   - the result is a dict (OrderedDict; its _metadata BUILD state is ignored) whose keys are unique
 *     strings (valid UTF-8, no NUL, at most PTH_MAX_NAME bytes) and whose values are all tensors: a
 *     checkpoint holding other things (epoch numbers, optimiser state, nested dicts) is refused, naming
 *     the key.
 * CRC-32 values are not checked (torch.load does not). Only data.pkl is read on open; a tensor's bytes are
 * read (pread) when asked for, and converted: float16/bfloat16/float64 to float32, integer and bool types
 * to int64. Allocations are bounded by a few times the pickle and central directory sizes plus what the
 * caller asks for. Lookups and reads leave the PthFile unchanged and may run in several threads at once.
 *
 * Parameter tables: pth_load_params has exactly st_load_params's semantics (lib/formats/weights.h: the same
 * matcher), so `cnntrain --pretrained resnet18-f37072fd.pth` works like a .safetensors file. */
#ifndef AUDIOCNN_PTH_H
#define AUDIOCNN_PTH_H

#include "formats/safetensors.h" /* StDType (dtype names are safetensors'), StLoadOpts, Tensor */
#include "formats/zip.h"

#include <stdint.h>

#define PTH_MAX_PICKLE (64u << 20) /* bytes of data.pkl; torchvision's are tens of KB */
#define PTH_MAX_STACK (1 << 20)    /* values on the pickle stack (and memo entries) */
#define PTH_MAX_VALUES (1 << 22)   /* values the pickle may create in all (about 20 per tensor) */
#define PTH_MAX_MARKS 64           /* open MARKs; a state_dict needs 3 */
#define PTH_MAX_DIMS 8             /* == TENSOR_MAX_DIMS */
#define PTH_MAX_NAME 1024          /* bytes of a tensor name */

typedef struct PthStorage {
    char *key;     /* D/data/KEY */
    StDType dtype;
    int64_t numel; /* elements */
    int entry;     /* zip entry */
} PthStorage;

typedef struct PthTensor {
    char *name;
    StDType dtype; /* its storage's */
    int ndim;
    int64_t shape[PTH_MAX_DIMS];
    int64_t stride[PTH_MAX_DIMS]; /* in elements */
    int64_t offset;               /* storage_offset, in elements */
    int64_t numel;
    int storage;    /* index into PthFile.s */
    int contiguous; /* C order from offset: read in one piece */
} PthTensor;

typedef struct PthFile {
    char *name; /* the path (or pth_parse's name), prefixed to every message */
    ZipFile z;
    int n;
    PthTensor *t; /* in the pickle's (state_dict's) order */
    int ns;
    PthStorage *s;
    int *by_name; /* tensor indices sorted by name, for pth_find */
} PthFile;

/* Open and validate PATH (directory and pickle only). Returns 0, or -1 with err_set() naming PATH;
 * pth_close() is needed only after success. */
int pth_open(const char *path, PthFile *f);
/* The same on a whole file held in memory (not copied; it must outlive the PthFile). The fuzz target
 * calls it. */
int pth_parse(const void *bytes, size_t len, const char *name, PthFile *f);
void pth_close(PthFile *f);

int pth_find(const PthFile *f, const char *name); /* tensor index or -1 */

/* F as a named tensor source (lib/formats/weights.h), valid while F is open: its tensors are read with
 * wt_read / wt_read_tensor (in C order, views gathered; the conversions, checks and messages of every
 * format) and loaded with wt_load_params. */
WtSource pth_source(const PthFile *f);
/* pth_open + wt_load_params (st_load_params's rules) + pth_close. */
int pth_load_params(const char *path, ParamTable *t, const StLoadOpts *o, StrList *problems);

#endif
