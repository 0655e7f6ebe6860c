#include "nn/nn.h"

#include "error.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t avx512_once = PTHREAD_ONCE_INIT;
static int avx512_on;

static void detect_avx512(void) {
    const char *e = getenv("AUDIOCNN_AVX512");
    if (e && strcmp(e, "0") == 0) return;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    avx512_on = __builtin_cpu_supports("avx512f") != 0;
#endif
}

int nn_avx512(void) {
    pthread_once(&avx512_once, detect_avx512);
    return avx512_on;
}

int nn_ctx_init(NnCtx *ctx, int threads) {
    ctx->device = NN_CPU;
    ctx->threads = threads < 1 ? 1 : threads;
    ctx->scratch = NULL;
    ctx->scratch_len = 0;
    openblas_set_num_threads(ctx->threads);
    return 0;
}

void nn_ctx_free(NnCtx *ctx) {
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

typedef struct {
    nn_range_fn fn;
    void *arg;
    int64_t begin, end;
} Range;

static void *run_range(void *p) {
    Range *r = p;
    r->fn(r->arg, r->begin, r->end);
    return NULL;
}

void nn_parallel_for(NnCtx *ctx, int64_t n, nn_range_fn fn, void *arg) {
    int t = ctx->threads;
    if (t > n) t = (int)n;
    if (t <= 1) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    Range r[64];
    pthread_t tid[64];
    if (t > 64) t = 64;
    for (int i = 0; i < t; i++) r[i] = (Range){fn, arg, n * i / t, n * (i + 1) / t};
    int started[64] = {0};
    for (int i = 1; i < t; i++) started[i] = pthread_create(&tid[i], NULL, run_range, &r[i]) == 0;
    run_range(&r[0]);
    for (int i = 1; i < t; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else run_range(&r[i]); /* could not start a thread: do its share here */
    }
}
