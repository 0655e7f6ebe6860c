#include "nn/nn.h"

#include "core/cpu.h"
#include "core/error.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct NnPool;
static void pool_stop(struct NnPool *p);

int nn_avx512(void) { return cpu_avx512(); }

int nn_ctx_init(NnCtx *ctx, int threads) {
    ctx->device = NN_CPU;
    ctx->threads = threads < 1 ? 1 : threads;
    ctx->scratch = NULL;
    ctx->scratch_len = 0;
    ctx->pool = NULL;
    ctx->device_index = 0;
    ctx->cuda = NULL;
    ctx->deterministic = 0;
    ctx->amp = NN_AMP_OFF;
    ctx->tf32 = 0;
    ctx->const_weights = 0;
    ctx->wcache = NULL;
    ctx->wcache_free = NULL;
    openblas_set_num_threads(ctx->threads);
    return 0;
}

#ifdef AUDIOCNN_CUDA
/* device.cu */
int nn_cuda_ctx_init(NnCtx *ctx, int index);
void nn_cuda_ctx_free(NnCtx *ctx);
void *nn_cuda_alloc(NnCtx *ctx, size_t bytes);
void nn_cuda_free(void *p);
int nn_cuda_copy(NnCtx *ctx, void *dst, const void *src, size_t bytes, int to_device);
int nn_cuda_sync(NnCtx *ctx);
int nn_cuda_zero(NnCtx *ctx, void *p, size_t bytes);
size_t nn_cuda_mem_used(NnCtx *ctx);
#endif

int nn_ctx_use_cuda(NnCtx *ctx, int index) {
#ifdef AUDIOCNN_CUDA
    if (nn_cuda_ctx_init(ctx, index) < 0) return -1;
    ctx->device = NN_CUDA;
    ctx->device_index = index;
    return 0;
#else
    (void)ctx;
    (void)index;
    err_set("this build has no CUDA (build with make CUDA=1)");
    return -1;
#endif
}

void *nn_alloc(NnCtx *ctx, size_t bytes) {
    NN_DISPATCH_CUDA(ctx, nn_cuda_alloc(ctx, bytes));
    void *p = NULL;
    size_t n = ((bytes ? bytes : 1) + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, n) != 0) {
        err_set("out of memory (%zu bytes)", bytes);
        return NULL;
    }
    /* not zeroed on the CPU: pages nothing writes stay out of the resident set (an inference-only forward
     * never touches the per-layer buffers a backward would need: zeroing them cost ResNet-18 450 MiB) */
    return p;
}

void nn_free(NnCtx *ctx, void *p) { nn_free_on(ctx->device, p); }

void nn_free_on(NnDevice device, void *p) {
    if (!p) return;
#ifdef AUDIOCNN_CUDA
    if (device == NN_CUDA) {
        nn_cuda_free(p);
        return;
    }
#else
    (void)device;
#endif
    free(p);
}

int nn_copy_to_device(NnCtx *ctx, void *dst, const void *src, size_t bytes) {
    NN_DISPATCH_CUDA(ctx, nn_cuda_copy(ctx, dst, src, bytes, 1));
    if (bytes && dst != src) memmove(dst, src, bytes);
    return 0;
}

int nn_copy_to_host(NnCtx *ctx, void *dst, const void *src, size_t bytes) {
    NN_DISPATCH_CUDA(ctx, nn_cuda_copy(ctx, dst, src, bytes, 0));
    if (bytes && dst != src) memmove(dst, src, bytes);
    return 0;
}

int nn_zero(NnCtx *ctx, void *p, size_t bytes) {
    NN_DISPATCH_CUDA(ctx, nn_cuda_zero(ctx, p, bytes));
    if (bytes) memset(p, 0, bytes);
    return 0;
}

size_t nn_device_mem_used(NnCtx *ctx) {
    NN_DISPATCH_CUDA(ctx, nn_cuda_mem_used(ctx));
    return 0;
}

int nn_sync(NnCtx *ctx) {
    NN_DISPATCH_CUDA(ctx, nn_cuda_sync(ctx));
    return 0;
}

int nn_cuda_missing(const char *layer) {
    err_set("%s has no CUDA implementation yet (issue 16)", layer);
    return -1;
}

void nn_ctx_free(NnCtx *ctx) {
#ifdef AUDIOCNN_CUDA
    if (ctx->cuda) nn_cuda_ctx_free(ctx);
    ctx->cuda = NULL;
    ctx->device = NN_CPU;
#endif
    if (ctx->pool) pool_stop(ctx->pool);
    ctx->pool = NULL;
    if (ctx->wcache && ctx->wcache_free) ctx->wcache_free(ctx->wcache);
    ctx->wcache = NULL;
    free(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_len = 0;
}

float *nn_scratch(NnCtx *ctx, size_t n) {
    if (n > ctx->scratch_len) {
        free(ctx->scratch);
        ctx->scratch = NULL;
        ctx->scratch_len = 0;
        if (posix_memalign((void **)&ctx->scratch, 64, n * sizeof(float)) != 0) {
            err_set("out of memory for a %zu-float workspace", n);
            return NULL;
        }
        ctx->scratch_len = n;
    }
    return ctx->scratch;
}

/* ---- the worker pool -------------------------------------------------------------------------------
 * ctx->threads - 1 workers, started at the first parallel call and kept until nn_ctx_free: a network's
 * step makes hundreds of parallel calls, and starting a thread per call (with its stack's page faults)
 * cost several percent of EfficientNet's inference. A call publishes (fn, arg, n) under a new
 * generation number; each worker runs its fixed range, then counts itself done. Waiting spins briefly
 * (the next call usually comes within microseconds), then sleeps on a condition variable. */
#define SPIN_ROUNDS 4000

struct NnPool {
    int nworkers;
    pthread_t tid[NN_MAX_THREADS - 1];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    nn_range_fn fn;
    void *arg;
    int64_t n;
    int t;               /* ranges of the current call */
    atomic_uint gen;     /* bumped per call */
    atomic_int pending;  /* workers still running the current call */
    int quit;
};

typedef struct {
    struct NnPool *p;
    int index; /* this worker runs range index of each call (1 .. nworkers) */
} WorkerArg;

static _Thread_local int in_parallel; /* a range function that calls nn_parallel_for runs it serially */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *v) {
    WorkerArg *wa = v;
    struct NnPool *p = wa->p;
    int index = wa->index;
    free(wa);
    in_parallel = 1;
    unsigned seen = 0; /* the generation at the start (not loaded here: the first call may already have come) */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && spins < SPIN_ROUNDS) {
            cpu_relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->quit)
                pthread_cond_wait(&p->wake, &p->mu);
            int quit = p->quit;
            pthread_mutex_unlock(&p->mu);
            if (quit) return NULL;
        }
        seen = g;
        if (index < p->t) p->fn(p->arg, p->n * index / p->t, p->n * (index + 1) / p->t);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void pool_stop(struct NnPool *p) {
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

/* A pool of `workers` threads, or NULL (no memory, or no thread could start: the caller runs serially). */
static struct NnPool *pool_start(int workers) {
    struct NnPool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    for (int i = 0; i < workers; i++) {
        WorkerArg *wa = malloc(sizeof *wa);
        if (!wa) break;
        *wa = (WorkerArg){p, i + 1};
        if (pthread_create(&p->tid[i], NULL, worker_main, wa) != 0) {
            free(wa);
            break;
        }
        p->nworkers++;
    }
    if (p->nworkers < workers) {
        pool_stop(p);
        return NULL;
    }
    return p;
}

void nn_parallel_for(NnCtx *ctx, int64_t n, nn_range_fn fn, void *arg) {
    int t = ctx->threads;
    if (t > NN_MAX_THREADS) t = NN_MAX_THREADS;
    if (t > n) t = (int)n;
    if (t <= 1 || in_parallel) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    int want = (ctx->threads > NN_MAX_THREADS ? NN_MAX_THREADS : ctx->threads) - 1;
    if (ctx->pool && ctx->pool->nworkers != want) {
        pool_stop(ctx->pool);
        ctx->pool = NULL;
    }
    if (!ctx->pool) ctx->pool = pool_start(want);
    struct NnPool *p = ctx->pool;
    if (!p) { /* no threads to be had: the same ranges, one after the other */
        for (int i = 0; i < t; i++) fn(arg, n * i / t, n * (i + 1) / t);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->t = t;
    atomic_store_explicit(&p->pending, p->nworkers, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    in_parallel = 1;
    fn(arg, 0, n / t);
    in_parallel = 0;
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < SPIN_ROUNDS) {
        cpu_relax();
        spins++;
    }
    if (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
