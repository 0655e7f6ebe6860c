/* dataset.h - a split for training or evaluation, and the batches drawn from it.
 *
 * A split is N samples of shape (C, F, T) float32 with int64 labels in [0, n_classes) (or -1 when
 * unlabelled), or, for multi-label training, with targets (N, K) in [0, 1]: a labels .npy of two
 * dimensions (float32 0/1 or soft values, or an integer type such as uint8 holding 0/1; NaN or a value
 * outside [0, 1] is an error naming the file, sample and class), then every int64 label is -1, so that
 * a single-label reader sees an unlabelled split. It comes from a stacked .npy (N, C, F, T) with a labels .npy, memory-mapped so that a
 * split larger than memory trains, or from a manifest whose arrays all have one shape (read into
 * memory). Every value is checked to be finite when the split is opened: a NaN is an error naming the
 * sample. The Batcher walks an epoch in a seeded order and prepares the next batch (gather, then
 * SpecAugment) on a background thread while the caller trains on the current one; the masks come from
 * a generator derived from (seed, epoch, batch), so the bytes of every batch do not depend on timing. */
#ifndef AUDIOCNN_DATASET_H
#define AUDIOCNN_DATASET_H

#include "formats/npy.h"
#include "train/specaugment.h"

#include <pthread.h>
#include <stdint.h>

typedef struct Dataset {
    int64_t n;
    int c, f, t;
    const float *x;      /* n * c * f * t values (mapped or owned) */
    int64_t *labels;     /* n (owned) */
    int ntargets;        /* K of multi-label targets; 0: single-label */
    float *targets;      /* n * ntargets (owned) when multi-label, else NULL */
    char *labels_name;   /* the labels file, for messages (NULL: none or a manifest) */
    char **keys;         /* n sample names for reports (owned; from the manifest, or "#i") */
    NpyMap map;          /* when memory-mapped */
    float *owned;        /* when read into memory */
    char *name;          /* for messages */
} Dataset;

/* Stacked arrays. labels_path may be NULL (unlabelled: every label -1). */
int dataset_open_stack(Dataset *d, const char *x_path, const char *labels_path);
/* A manifest of equal-shape arrays; labels from its index column. */
int dataset_open_manifest(Dataset *d, const char *manifest_path);
/* A split as the tools take it: PATH ending in .npy is a stack whose labels are LABELS, or by default
 * PATH with "-labels" before ".npy" (what specnorm --stack and pipeline.mk write). With labels_optional,
 * LABELS "-" or a missing default labels file means unlabelled. Any other PATH is a manifest. */
int dataset_open(Dataset *d, const char *path, const char *labels, int labels_optional);
void dataset_close(Dataset *d);
/* Done with sample i for now: a memory-mapped split drops its pages from this process (the page cache
 * keeps them; the next read faults them back in), so a split larger than memory trains in bounded RSS. */
void dataset_release(const Dataset *d, int64_t i);
/* Largest label + 1 (0 when unlabelled). */
int dataset_label_count(const Dataset *d);

typedef struct Batcher {
    const Dataset *d;
    int batch;           /* samples per batch */
    int shuffle;
    uint64_t seed;
    int epoch;
    const SpecAugment *augment; /* NULL: none */
    int threads;         /* threads that prepare a batch's samples (default 1; the bytes do not depend on it) */
    int64_t part_floats; /* the least floats of samples a thread takes (default 2^20, 4 MiB: below that,
                          * starting the threads costs more than they save) */
    double mixup;        /* > 0: mixup with lambda ~ Beta(mixup, mixup), seeded like the masks */
    int64_t *order;      /* this epoch's permutation */
    int64_t nbatches, next;
    /* double buffer: the batch being prepared in the background and the one handed out */
    float *x[2];
    int x_external;      /* x[] are the caller's (batcher_use_buffers), not freed here */
    int64_t *y[2];
    int64_t *y2[2];      /* mixup: the partner's label of each sample */
    float *t[2];         /* multi-label targets of the batch (blended with the partner's under mixup) */
    float *torig;        /* mixup: the targets before mixing */
    double lam[2];       /* mixup: the weight of the sample's own label (1 without mixup) */
    float *orig;         /* mixup: the batch before mixing */
    int64_t *idx[2];
    int cur;
    pthread_t worker;
    int running;
    int64_t job_k; /* what the worker prepares */
    int job_slot;
} Batcher;

/* drop_last 0: the last batch may be smaller. Returns 0 or -1 with err_set(). */
int batcher_init(Batcher *b, const Dataset *d, int batch, int shuffle, uint64_t seed, const SpecAugment *augment);
/* Prepares batches in the caller's two buffers of batch * C*F*T floats each (kept by the caller, who frees
 * them after batcher_free) instead of the batcher's own: the GPU trainer's pinned memory, which the device
 * copies from without a staging copy. A batch handed out by batcher_next stays unchanged until the
 * following call (batcher_next or batcher_start_epoch), which starts refilling it. */
void batcher_use_buffers(Batcher *b, float *x0, float *x1);
/* Start epoch e (seeded permutation of the samples when shuffling). */
void batcher_start_epoch(Batcher *b, int epoch);
/* The next batch: *x (n, c, f, t), *y labels, *idx sample indices; returns n, or 0 at the end of the
 * epoch. The pointers stay valid until the following call. */
int batcher_next(Batcher *b, const float **x, const int64_t **y, const int64_t **idx);
/* With mixup (b->mixup > 0, set before batcher_start_epoch): the batch last returned is
 * lam * x + (1 - lam) * x[perm] (Zhang et al. 2018), and the loss is lam * CE(y) + (1 - lam) * CE(y2).
 * Returns lam and sets *y2. */
double batcher_mixup(const Batcher *b, const int64_t **y2);
/* Multi-label splits: the targets (n, K) of the batch last returned; under mixup they are already
 * blended, lam * t + (1 - lam) * t[perm] (BCE is linear in the target, so this is lam * BCE(t) +
 * (1 - lam) * BCE(t[perm])). NULL for a single-label split. */
const float *batcher_targets(const Batcher *b);
void batcher_free(Batcher *b);

#endif
