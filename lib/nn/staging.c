#include "nn/staging.h"

#include "core/error.h"

#include <string.h>

int staging_init(Staging *s, int k) {
    memset(s, 0, sizeof *s);
    if (k < 2 || k > STAGING_MAX) {
        err_set("staging: %d buffers (2 to %d)", k, STAGING_MAX);
        return -1;
    }
    s->k = k;
    return 0;
}

int staging_acquire(Staging *s) {
    if (s->busy == s->k) return -1;
    int slot = s->next;
    s->state[slot] = SLOT_FILLING;
    s->next = (slot + 1) % s->k;
    s->busy++;
    return slot;
}

int staging_submit(Staging *s, int slot) {
    if (slot < 0 || slot >= s->k || s->state[slot] != SLOT_FILLING) {
        err_set("staging: slot %d submitted while not being filled", slot);
        return -1;
    }
    s->state[slot] = SLOT_IN_FLIGHT;
    s->submitted++;
    return 0;
}

int staging_oldest(const Staging *s) {
    return s->busy && s->state[s->oldest] == SLOT_IN_FLIGHT ? s->oldest : -1;
}

int staging_retire(Staging *s, int (*done)(void *arg, int slot), void *arg) {
    int n = 0;
    while (s->busy && s->state[s->oldest] == SLOT_IN_FLIGHT && done(arg, s->oldest)) {
        s->state[s->oldest] = SLOT_FREE;
        s->oldest = (s->oldest + 1) % s->k;
        s->busy--;
        s->retired++;
        n++;
    }
    return n;
}

#ifndef AUDIOCNN_CUDA
/* The build without CUDA: the ring's type, never a buffer (no context here runs on a GPU). */
int pinned_ring_init(NnCtx *ctx, PinnedRing *r, int k, size_t bytes) {
    (void)ctx, (void)k, (void)bytes;
    memset(r, 0, sizeof *r);
    err_set("this build has no CUDA (build with make CUDA=1)");
    return -1;
}
int pinned_ring_slot(PinnedRing *r) {
    (void)r;
    err_set("this build has no CUDA (build with make CUDA=1)");
    return -1;
}
void *pinned_ring_submit_from(NnCtx *ctx, PinnedRing *r, int slot, const void *src, size_t n) {
    (void)ctx, (void)r, (void)slot, (void)src, (void)n;
    err_set("this build has no CUDA (build with make CUDA=1)");
    return NULL;
}
int pinned_ring_drain(PinnedRing *r) {
    (void)r;
    err_set("this build has no CUDA (build with make CUDA=1)");
    return -1;
}
void *pinned_host_alloc(size_t bytes) {
    (void)bytes;
    err_set("this build has no CUDA (build with make CUDA=1)");
    return NULL;
}
void pinned_host_free(void *p) { (void)p; }
int pinned_ring_release(NnCtx *ctx, PinnedRing *r, int slot) {
    (void)ctx, (void)r, (void)slot;
    err_set("this build has no CUDA (build with make CUDA=1)");
    return -1;
}
void pinned_ring_free(PinnedRing *r) { memset(r, 0, sizeof *r); }
#endif
