/* params.h - every parameter and buffer of a model in one flat block, with PyTorch names.
 *
 * Promise: a model registers its tensors by name ("features.0.weight", "bn1.running_mean",
 * "bn1.num_batches_tracked") in the order PyTorch's state_dict lists them, then params_alloc() makes
 * ONE float block for all values and one for all gradients; each entry is a named view (offset,
 * shape). Checkpointing, the optimiser and gradient clipping walk this one table. Kinds:
 *   PARAM_WEIGHT   trainable (has a gradient, the optimiser updates it)
 *   PARAM_BUFFER   float state that is not trained (BN running mean/var)
 *   PARAM_COUNT    an integer counter kept in the float block (BN num_batches_tracked; exact up to
 *                  2^24) and saved as int64 in checkpoints, as PyTorch does
 * Values are zero after params_alloc(); gradients are zeroed by params_zero_grad().
 * Devices: params_alloc() puts both blocks in host memory (a model is made, initialised and loaded there);
 * params_to_device() then moves them to a GPU context's memory (the trainer, cnneval), after which only
 * layer calls and nn_copy_* may touch them (device.h; params_zero_grad is then nn_zero's job). */
#ifndef AUDIOCNN_NN_PARAMS_H
#define AUDIOCNN_NN_PARAMS_H

#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PARAM_WEIGHT = 0, PARAM_BUFFER = 1, PARAM_COUNT = 2 } ParamKind;

#define PARAM_NAME_MAX 128
#define PARAM_MAX_DIMS 4

typedef struct ParamEntry {
    char name[PARAM_NAME_MAX];
    ParamKind kind;
    int ndim;
    int64_t shape[PARAM_MAX_DIMS];
    size_t offset, numel; /* in floats, into data/grad */
    int frozen;           /* 1: the optimiser skips it (fine-tuning) */
} ParamEntry;

typedef struct ParamTable {
    ParamEntry *e;
    int n, cap;
    size_t total; /* floats */
    float *data;  /* one block: values of every entry */
    float *grad;  /* one block: gradients (zero for buffers) */
    NnDevice device; /* where data and grad are: NN_CPU after params_alloc, NN_CUDA after params_to_device */
} ParamTable;

void params_init(ParamTable *t);
/* Register a tensor; returns its index, or -1 with err_set() (duplicate name, bad shape, after alloc). */
int params_add(ParamTable *t, const char *name, ParamKind kind, int ndim, const int64_t *shape);
int params_alloc(ParamTable *t); /* 64-byte aligned, zeroed */
void params_free(ParamTable *t);
int params_find(const ParamTable *t, const char *name); /* index or -1 */
static inline float *params_data(const ParamTable *t, int i) { return t->data + t->e[i].offset; }
static inline float *params_grad(const ParamTable *t, int i) { return t->grad + t->e[i].offset; }
void params_zero_grad(ParamTable *t); /* host blocks only */
/* Both blocks into ctx's memory when ctx runs on a GPU (nn_alloc, the values copied, the gradients zero;
 * the host blocks freed); nothing on the CPU or when they are there already. Returns 0, or -1 with
 * err_set() (the table unchanged). */
int params_to_device(ParamTable *t, NnCtx *ctx);
size_t params_count_trainable(const ParamTable *t); /* number of trainable scalars */

#ifdef __cplusplus
}
#endif

#endif
