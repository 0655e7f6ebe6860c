/* model.h - a network the trainer can run: parameters by PyTorch name, forward and backward.
 *
 * Promise: model_create() registers every parameter and buffer in state_dict order (so checkpoints
 * convert to and from PyTorch one to one) and allocates them; model_init_weights() applies PyTorch's
 * default initialisation for the architecture from a seed. forward() takes a batch (n, C, H, W) and
 * writes logits (n, n_classes); mode (nn.h's NnMode) NN_TRAIN uses batch statistics and dropout (masks
 * keyed by `stream`, e.g. the global step, so a resumed run draws the same masks), NN_INFER and
 * NN_EVAL_GRAD the running statistics and no dropout, with the same bits; NN_TRAIN and NN_EVAL_GRAD keep
 * what backward needs, and backward() then adds the parameter gradients (+=) for dlogits (after an
 * NN_INFER forward it fails with err_set()). Activation buffers grow to the largest
 * batch seen. Architectures: "baseline" (baseline.c), "resnet18/34/50/101/152" (resnet.c) and
 * "efficientnet_b0".."efficientnet_b7" (efficientnet.c), the last two with torchvision's names.
 *
 * Options (ModelOptions, before model_create_opts):
 *   stem_repeat   the data's one channel goes to a three-channel stem as three identical channels
 *                 (torchvision weights load unchanged); computed as one channel through the stem's
 *                 weights summed over its input channels: the same outputs at a third of the cost.
 *   in_norm       with stem_repeat: the three channels are normalised as torchvision's
 *                 Normalize(MODEL_IMAGENET_MEAN, MODEL_IMAGENET_STD) does for ImageNet weights, still
 *                 computed on one channel (nn/convbn.h).
 * Fine-tuning: with frozen_backbone set, every parameter outside the head (names starting with
 * head_prefix) is frozen: the backbone runs as in NN_INFER even in training (eval-mode BN, nothing
 * kept), and backward stops at the head (nothing is computed for the backbone). */
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
    float stochastic_depth; /* EfficientNet's drop-path rate (block i of B drops with rate * i / B; 0.2) */
    int stem_repeat;      /* see above */
    int in_norm;          /* see above */
    int frozen_backbone;  /* see above; set with model_freeze_backbone() */
    const char *head_prefix; /* "classifier.", "fc.": the parameters a new data set replaces */
    int cuda_ready;       /* 1: the architecture runs on the GPU (its forward/backward only call layers on
                           * buffers from nn_alloc, never touch device memory from the host); set by its
                           * constructor. model_to_device refuses the others by name. */
    float *io_x, *io_logits; /* model_forward_host's device copies of a batch and its logits */
    size_t io_x_len, io_logits_len; /* their floats */
    void *impl;
    int (*forward)(Model *m, NnCtx *ctx, const float *x, int n, NnMode mode, uint64_t stream, float *logits);
    int (*backward)(Model *m, NnCtx *ctx, const float *dlogits);
    void (*init)(Model *m, uint64_t seed);
    void (*destroy)(Model *m);
};

extern const float MODEL_IMAGENET_MEAN[3], MODEL_IMAGENET_STD[3];

/* Returns 0, or -1 with err_set() (unknown architecture, input too small, no memory). */
int model_create(Model *m, const char *arch, int in_c, int in_h, int in_w, int n_classes);
typedef struct ModelOptions {
    int stem_repeat; /* 1: a one-channel input through a three-channel stem (in_c must be 1) */
    int in_norm;     /* 1: ImageNet mean/std normalisation of the repeated channels (needs stem_repeat) */
} ModelOptions;
int model_create_opts(Model *m, const char *arch, int in_c, int in_h, int in_w, int n_classes,
                      const ModelOptions *o);
/* Freeze (1) or unfreeze (0) everything outside the head: ParamEntry.frozen and m->frozen_backbone. */
void model_freeze_backbone(Model *m, int freeze);
/* 1 when name belongs to the head (the classifier a new data set replaces). */
int model_is_head(const Model *m, const char *name);
void model_init_weights(Model *m, uint64_t seed);
/* The parameters into ctx's device memory (params_to_device) when ctx runs on a GPU, after the model was
 * made, initialised and loaded on the host. Returns 0; -1 with err_set("ARCH does not run on CUDA yet")
 * when !m->cuda_ready, or on a copy failure. Nothing on the CPU. */
int model_to_device(Model *m, NnCtx *ctx);
/* forward() from host memory to host memory: on the CPU m->forward itself (the same bytes as always);
 * under NN_CUDA the n samples copied into a device buffer of m's, forward, the logits (n x n_classes
 * floats) copied back: the inference tools' (cnneval, the scanner, validation) one host round trip per
 * batch. Returns 0, or -1 with err_set(). */
int model_forward_host(Model *m, NnCtx *ctx, const float *x, int n, NnMode mode, uint64_t stream, float *logits);
void model_free(Model *m);
/* The architectures model_create knows, comma-separated, for messages and --help. */
const char *model_architectures(void);

/* Architecture constructors (one file each). */
int baseline_create(Model *m);
int resnet_create(Model *m);       /* m->arch names the depth */
int efficientnet_create(Model *m); /* m->arch names the variant */

#endif
