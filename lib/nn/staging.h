/* staging.h - the rotation of the slots that carry batches to the GPU: the background thread gathers batch
 * i+1 into pinned host memory while batch i's copy (on a copy stream) and compute run.
 *
 * Promise: plain C bookkeeping, no GPU in it (tests/unit/test_gpu_host.c); the CUDA side supplies the
 * buffers (a device buffer per slot; the host side pinned, cudaHostAlloc) and the completion test (a
 * cudaEvent per slot). Each of K slots is
 *   FREE -> (staging_acquire) FILLING -> (staging_submit: copy queued, its event recorded) IN_FLIGHT
 *   -> (staging_retire, when done(slot) says the copy has finished) FREE
 * Slots are handed out and retired in ring order, so batches reach the device in the order they were
 * gathered. staging_acquire returns -1 (no error) when every slot is busy: the caller waits for the
 * oldest copy (staging_oldest) and retires it. Misuse (submitting a slot that is not FILLING) is a
 * programming error, reported as -1 with err_set(). */
#ifndef AUDIOCNN_NN_STAGING_H
#define AUDIOCNN_NN_STAGING_H

#include "nn/nn.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STAGING_MAX 8

typedef enum { SLOT_FREE = 0, SLOT_FILLING = 1, SLOT_IN_FLIGHT = 2 } SlotState;

typedef struct Staging {
    int k;                     /* slots (2..STAGING_MAX) */
    int next;                  /* the slot staging_acquire hands out next */
    int oldest;                /* the oldest slot not FREE (== next when none is busy) */
    int busy;                  /* slots not FREE */
    SlotState state[STAGING_MAX];
    long long submitted, retired;
} Staging;

/* Returns 0, or -1 with err_set() (k out of range). */
int staging_init(Staging *s, int k);
/* The slot to fill next (now FILLING), or -1 when all are busy. */
int staging_acquire(Staging *s);
/* The slot's batch is in place and its copy queued: FILLING -> IN_FLIGHT. Returns 0 or -1 (err_set). */
int staging_submit(Staging *s, int slot);
/* The oldest IN_FLIGHT slot (the one to wait for), or -1. */
int staging_oldest(const Staging *s);
/* Frees IN_FLIGHT slots from the oldest on while done(arg, slot) is true; returns how many. */
int staging_retire(Staging *s, int (*done)(void *arg, int slot), void *arg);

/* staging.cu: the ring with its buffers. The host side is the caller's pinned memory (pinned_host_alloc:
 * the batcher gathers into it); the ring has one device buffer of `bytes` per slot, a copy stream and an
 * event per slot. pinned_ring_slot gives the next slot (waiting for the oldest copy when every slot is
 * busy); pinned_ring_submit_from queues the copy into its device buffer on the copy stream, records the
 * slot's event, makes ctx's compute stream wait for it (no host wait), and returns the device buffer the
 * step reads. pinned_ring_release, once the step that reads it is queued, records on the
 * compute stream when that step is done with the device buffer; the slot's next copy waits for it (on the
 * device). The caller refills its host memory only after that memory's copy finished (pinned_ring_drain),
 * so the gathering of batch i+1 overlaps batch i's copy and compute.
 * A build without CUDA has the type and stubs that refuse (err_set, -1/NULL: no caller reaches them, as
 * no context there runs on a GPU); the simulated GPU (tests/simgpu/cudasim.c) copies synchronously. */
typedef struct PinnedRing {
    Staging s;
    size_t bytes;
    void *dev[STAGING_MAX];
    void *event[STAGING_MAX]; /* cudaEvent_t: the slot's copy finished */
    void *consumed[STAGING_MAX]; /* cudaEvent_t: the compute stream is done with the slot's device buffer */
    void *copy_stream;        /* cudaStream_t */
} PinnedRing;
/* Returns 0, or -1 with err_set() (then nothing is left allocated). */
int pinned_ring_init(NnCtx *ctx, PinnedRing *r, int k, size_t bytes);
/* The next slot, or -1 with err_set(). */
int pinned_ring_slot(PinnedRing *r);
/* Queues the copy of src (n <= bytes: pinned memory of the caller's, pinned_host_alloc, which must stay
 * unchanged until the copy has finished, pinned_ring_drain) into the slot's device buffer; that buffer,
 * which the compute stream may read, or NULL with err_set(). */
void *pinned_ring_submit_from(NnCtx *ctx, PinnedRing *r, int slot, const void *src, size_t n);
/* Waits until every queued copy has finished, so that the memory they read may be written again. 0, or -1
 * with err_set(). */
int pinned_ring_drain(PinnedRing *r);
/* Pinned host memory the caller fills itself: the batcher's two buffers (batcher_use_buffers), so that a
 * batch is gathered straight into memory the GPU copies from, with no staging copy on the training thread
 * (cudaHostAlloc). NULL with err_set(). */
void *pinned_host_alloc(size_t bytes);
void pinned_host_free(void *p);
/* The step reading the slot's device buffer is queued on ctx's stream. Returns 0, or -1 with err_set(). */
int pinned_ring_release(NnCtx *ctx, PinnedRing *r, int slot);
void pinned_ring_free(PinnedRing *r);

#ifdef __cplusplus
}
#endif

#endif
