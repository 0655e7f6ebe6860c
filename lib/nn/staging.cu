/* staging.cu - staging.h's ring with real buffers: pinned host memory, device copies on their own stream,
 * one event per slot; the bookkeeping is staging.c's (tested on the CPU). */
#include "nn/cuda_impl.cuh"
#include "nn/staging.h"

#include <string.h>

extern "C" void pinned_ring_free(PinnedRing *r) {
    if (r->copy_stream) cudaStreamSynchronize((cudaStream_t)r->copy_stream);
    for (int i = 0; i < STAGING_MAX; i++) {
        if (r->dev[i]) cudaFree(r->dev[i]);
        if (r->event[i]) cudaEventDestroy((cudaEvent_t)r->event[i]);
        if (r->consumed[i]) cudaEventDestroy((cudaEvent_t)r->consumed[i]);
    }
    if (r->copy_stream) cudaStreamDestroy((cudaStream_t)r->copy_stream);
    memset(r, 0, sizeof *r);
}

extern "C" int pinned_ring_init(NnCtx *ctx, PinnedRing *r, int k, size_t bytes) {
    memset(r, 0, sizeof *r);
    if (staging_init(&r->s, k) < 0) return -1;
    r->bytes = bytes;
    cudaStream_t st;
    cudaError_t e = cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    if (e == cudaSuccess) r->copy_stream = st;
    for (int i = 0; i < k && e == cudaSuccess; i++) {
        cudaEvent_t ev, cv;
        e = cudaMalloc(&r->dev[i], bytes ? bytes : 1);
        if (e == cudaSuccess) e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
        if (e == cudaSuccess) r->event[i] = ev;
        if (e == cudaSuccess) e = cudaEventCreateWithFlags(&cv, cudaEventDisableTiming);
        if (e == cudaSuccess) r->consumed[i] = cv; /* never recorded yet: waiting on it returns at once */
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        pinned_ring_free(r);
        err_set("CUDA: %d batch buffers of %zu bytes: %s", k, bytes, cudaGetErrorString(e));
        return -1;
    }
    (void)ctx;
    return 0;
}

static int copy_done(void *arg, int slot) {
    PinnedRing *r = (PinnedRing *)arg;
    cudaError_t e = cudaEventQuery((cudaEvent_t)r->event[slot]);
    if (e == cudaErrorNotReady) cudaGetLastError(); /* "not yet" is no error: keep it from the next launch check */
    return e == cudaSuccess;
}

static int copy_wait(void *arg, int slot) {
    PinnedRing *r = (PinnedRing *)arg;
    return cudaEventSynchronize((cudaEvent_t)r->event[slot]) == cudaSuccess;
}

extern "C" int pinned_ring_slot(PinnedRing *r) {
    staging_retire(&r->s, copy_done, r);
    int k = staging_acquire(&r->s);
    if (k < 0) { /* every slot busy: wait for the oldest copy */
        int old = staging_oldest(&r->s);
        if (old < 0 || !copy_wait(r, old)) {
            err_set("CUDA: waiting for a batch copy failed");
            return -1;
        }
        staging_retire(&r->s, copy_done, r);
        k = staging_acquire(&r->s);
        if (k < 0) err_set("staging: no free batch buffer");
    }
    return k;
}

extern "C" void *pinned_ring_submit_from(NnCtx *ctx, PinnedRing *r, int slot, const void *src, size_t n) {
    if (n > r->bytes || staging_submit(&r->s, slot) < 0) {
        if (n > r->bytes) err_set("staging: a batch of %zu bytes in %zu-byte buffers", n, r->bytes);
        return NULL;
    }
    cudaStream_t cs = (cudaStream_t)r->copy_stream;
    cudaEvent_t ev = (cudaEvent_t)r->event[slot];
    /* not before the compute stream is done with this device buffer's previous batch */
    cudaError_t e = cudaStreamWaitEvent(cs, (cudaEvent_t)r->consumed[slot], 0);
    if (e == cudaSuccess) e = cudaMemcpyAsync(r->dev[slot], src, n, cudaMemcpyHostToDevice, cs);
    if (e == cudaSuccess) e = cudaEventRecord(ev, cs);
    if (e == cudaSuccess) e = cudaStreamWaitEvent(ctx->cuda->stream, ev, 0);
    if (e != cudaSuccess) {
        err_set("CUDA: batch copy: %s", cudaGetErrorString(e));
        return NULL;
    }
    return r->dev[slot];
}

extern "C" int pinned_ring_drain(PinnedRing *r) {
    cudaError_t e = r->copy_stream ? cudaStreamSynchronize((cudaStream_t)r->copy_stream) : cudaSuccess;
    if (e != cudaSuccess) {
        err_set("CUDA: waiting for the batch copies: %s", cudaGetErrorString(e));
        return -1;
    }
    staging_retire(&r->s, copy_done, r);
    return 0;
}

extern "C" void *pinned_host_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        cudaGetLastError();
        err_set("CUDA: %zu bytes of pinned host memory: %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

extern "C" void pinned_host_free(void *p) {
    if (p) cudaFreeHost(p);
}

extern "C" int pinned_ring_release(NnCtx *ctx, PinnedRing *r, int slot) {
    if (slot < 0 || slot >= r->s.k) {
        err_set("staging: no slot %d", slot);
        return -1;
    }
    NN_CU_CHECK(cudaEventRecord((cudaEvent_t)r->consumed[slot], ctx->cuda->stream));
    return 0;
}
