/* train.h - the training loop behind cnntrain: epochs, validation, early stopping, checkpoints, resume.
 *
 * Promise: with the same data, settings and seed, a run produces the same bytes (best checkpoint,
 * resumable state, history minus its seconds column), whatever the thread count of our own kernels
 * and whether it was interrupted and resumed: every random choice is keyed by position (epoch order by
 * (seed, epoch), SpecAugment by (seed, epoch, batch), dropout by the global step), and the resumable
 * state holds the weights, the optimiser's moments and steps, the schedule, the early-stopping
 * counters and the position within the epoch. Interrupting (SIGINT/SIGTERM) finishes the current
 * batch, writes the resumable state and returns TRAIN_INTERRUPTED.
 *
 * Checkpoints are safetensors files: model weights and buffers under their PyTorch names, and
 * metadata strings (format, arch, classes, input_shape, frontend, training settings, epoch, best
 * metric), and the caller's extra tensors (TrainOptions.tensors: the front end's statistics). The
 * resumable state adds "opt.m.<name>"/"opt.v.<name>" tensors and its counters as metadata.
 *
 * Multi-label (TrainOptions.multilabel, splits with (N, K) targets): the loss is BCE with logits (mean
 * over the N*K outputs, optional balanced pos_weight, label smoothing t(1-e)+e/2, mixup blending the
 * target vectors); the validation loss is the plain BCE (no pos_weight or smoothing); the history's
 * accuracy columns become train_map and val_map: the macro average precision (scikit-learn's
 * average_precision_score(average="macro"), targets >= 0.5 as positives) of the epoch's training logits
 * (from the training passes, as train_acc is) and of the validation split; monitor_acc monitors val_map.
 * The checkpoint's metadata has multilabel "1" (absent in single-label checkpoints) and the settings
 * "multilabel=1 pos_weight=balanced|none"; the state also holds the epoch's training logits
 * ("state.train_scores", (N, K)) so that a resumed epoch scores the same.
 *
 * On a GPU (TrainOptions.cuda_index >= 0) the model given on the host (made, initialised, loaded) is
 * moved to the device with its optimiser state (after --resume's state is read), and stays there: train_run
 * returns with m's parameters in device memory (model_free frees them). Each step copies the batch in
 * (the pinned ring), the logits out (the loss, metrics and history are the host's) and their gradient in;
 * checkpoints and states are written from host copies. The files are the CPU's, but for the "device"
 * metadata: either device resumes the other's state.
 *
 * Mixed precision (TrainOptions.amp, GPU only: refused on the CPU): the context's conv/linear layers run in
 * bf16 or fp16 (nn/amp.h: everything else, the weights and the optimiser fp32), validation too. fp16 scales
 * the loss (nn/lossscale.h, GradScaler): dlogits times the scale, after backward the gradients times
 * 1/scale and checked; with inf/NaN the step is skipped (no clipping, no optimiser step: AdamW's and SGD's
 * per-parameter step counts do not advance; the batch counts as trained, as in PyTorch) and the scale
 * halves; clipping sees the unscaled gradients. The scaler's state is "state.amp_scale" in the resumable
 * state (a resumed run continues it; a state without it, from an fp32 or bf16 run, starts a fresh scaler),
 * and checkpoints and states record "amp" (bf16|fp16; absent without AMP, so fp32 files keep their bytes).
 * -v reports each skipped step and, each epoch, the scale and the steps skipped. */
#ifndef AUDIOCNN_TRAIN_H
#define AUDIOCNN_TRAIN_H

#include "train/dataset.h"
#include "nn/model.h"
#include "train/specaugment.h"
#include "formats/safetensors.h"

#include <stdint.h>

enum { TRAIN_OK = 0, TRAIN_ERROR = -1, TRAIN_INTERRUPTED = -2 };

typedef struct TrainOptions {
    int epochs, batch;
    double lr, weight_decay;
    int sgd;                 /* 0: AdamW, 1: SGD with momentum */
    double momentum;
    int schedule;            /* 0 none, 1 plateau (on the monitored metric), 2 cosine with warm-up */
    double plateau_factor;
    int plateau_patience;
    int warmup_epochs;
    int patience;            /* early stopping: epochs without improvement (0: never stop early) */
    int monitor_acc;         /* 0: val_loss, 1: val_acc (multi-label: val_map, the macro average precision) */
    int multilabel;          /* one sigmoid per class, BCE with logits on the splits' (N, K) targets */
    int pos_weight;          /* multi-label: 'balanced' pos_weight (negatives/positives per class) in the loss */
    int class_weights;       /* 'balanced' weights in the loss */
    float label_smoothing;
    double clip;             /* > 0: clip the gradient norm */
    int augment;             /* SpecAugment on training batches */
    double mixup;            /* > 0: mixup with Beta(mixup, mixup) weights (0: off) */
    SpecAugment aug;
    uint64_t seed;
    int threads;
    int cuda_index;          /* -1: train on the CPU; else on this GPU (nn_ctx_use_cuda; refused while
                              * nn_cuda_engine_status() gives a reason, or for a model without cuda_ready) */
    int deterministic;       /* on a GPU: deterministic algorithms only (NnCtx.deterministic; the CPU always is) */
    NnAmp amp;               /* on a GPU: conv/linear in bf16/fp16 (nn/amp.h); NN_AMP_OFF: fp32 */
    int tf32;                /* on a GPU: fp32 convolutions may use TF32 tensor cores (NnCtx.tf32) */
    double amp_init_scale;   /* fp16: the loss scale to start from (0: GradScaler's 2^16; not on --resume) */
    const char *device;      /* NULL on the CPU; else nn_device_describe's text, kept as metadata "device"
                              * (so CPU checkpoints keep their bytes) */
    int verbosity;           /* -1 quiet, 0 a line per epoch (progress bar on a terminal), 1 more */
    const char *out;         /* best checkpoint */
    const char *state;       /* resumable state (written each epoch and on interruption) */
    const char *resume;      /* NULL, or a state file to continue from */
    const char *history;     /* NULL, or a prefix for PREFIX.tsv and PREFIX.json */
    const char *init;        /* NULL, or a checkpoint to start from */
    int freeze_backbone;     /* train only the head (model_freeze_backbone) ... */
    int unfreeze_at;         /* ... until this epoch (1-based; 0: for the whole run) */
    double lr_backbone;      /* < 0: the same as lr; else the backbone's learning rate (the head keeps lr) */
    /* recorded in the checkpoint's metadata */
    const char *classes_json;  /* JSON array of the class names */
    const char *frontend;      /* how the spectrograms were made (free text, e.g. wav2mel/specnorm options) */
    const StItem *tensors;     /* saved after the weights in the checkpoint and the state (the front end's */
    int ntensors;              /* statistics, frontend.stats.*), or NULL/0 */
} TrainOptions;

void train_options_default(TrainOptions *o);

/* Train m on train, validating on val (may be NULL: no validation, no early stopping; the last epoch's
 * weights are the checkpoint). Returns TRAIN_OK, TRAIN_ERROR (err_set) or TRAIN_INTERRUPTED. */
int train_run(const TrainOptions *o, Model *m, const Dataset *train, const Dataset *val);

/* Install the SIGINT/SIGTERM handlers that ask train_run to stop at the next batch. */
void train_install_signal_handlers(void);
/* The signal that interrupted the last train_run (0 if none). */
int train_stop_signal(void);

#endif
