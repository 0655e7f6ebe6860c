/* model.h - a network the trainer can run: parameters by PyTorch name, forward and backward.
 *
 * Promise: model_create() registers every parameter and buffer in state_dict order (so checkpoints
 * convert to and from PyTorch one to one) and allocates them; model_init_weights() applies PyTorch's
 * default initialisation for the architecture from a seed. forward() takes a batch (n, C, H, W) and
 * writes logits (n, n_classes); with train = 1 it uses batch statistics and dropout (masks keyed by
 * `stream`, e.g. the global step, so a resumed run draws the same masks) and keeps what backward needs;
 * backward() then adds the parameter gradients (+=) for dlogits. Activation buffers grow to the largest
 * batch seen. Architectures: "baseline" (see baseline.c / cnntrain(1)). */
#ifndef AUDIOCNN_NN_MODEL_H
#define AUDIOCNN_NN_MODEL_H

#include "nn/nn.h"
#include "nn/params.h"

#include <stdint.h>

typedef struct Model Model;
struct Model {
    char arch[32];
    int in_c, in_h, in_w; /* input (C, F, T) */
    int n_classes;
    ParamTable params;
    uint64_t dropout_seed;
    float dropout;        /* the classifier's dropout probability (the architecture's default) */
    void *impl;
    int (*forward)(Model *m, NnCtx *ctx, const float *x, int n, int train, uint64_t stream, float *logits);
    int (*backward)(Model *m, NnCtx *ctx, const float *dlogits);
    void (*init)(Model *m, uint64_t seed);
    void (*destroy)(Model *m);
};

/* Returns 0, or -1 with err_set() (unknown architecture, input too small, no memory). */
int model_create(Model *m, const char *arch, int in_c, int in_h, int in_w, int n_classes);
void model_init_weights(Model *m, uint64_t seed);
void model_free(Model *m);
/* The architectures model_create knows, comma-separated, for messages and --help. */
const char *model_architectures(void);

/* Architecture constructors (one file each). */
int baseline_create(Model *m);

#endif
