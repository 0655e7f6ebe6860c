/* Our gemm_f32 GFLOP/s on this machine beside OpenBLAS's (bench/train/sgemm.c): THREADS threads, each
 * multiplying its own N x N matrices (gemm_f32 is single-threaded; the layers split work the same way).
 * usage: gemm THREADS [N]; prints "GFLOP/s kernel" */
#include "nn/gemm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    int n, reps;
    float *a, *b, *c;
} Work;

static void *run(void *p) {
    Work *w = p;
    for (int r = 0; r < w->reps; r++) gemm_f32(GEMM_N, GEMM_N, w->n, w->n, w->n, w->a, w->n, w->b, w->n, 0.0f, w->c, w->n);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, n = argc > 2 ? atoi(argv[2]) : 1024;
    if (threads < 1 || threads > 64 || n < 1) return 2;
    Work w[64];
    pthread_t tid[64];
    for (int t = 0; t < threads; t++) {
        size_t nn = (size_t)n * n;
        w[t] = (Work){n, 1, malloc(sizeof(float) * nn), malloc(sizeof(float) * nn), malloc(sizeof(float) * nn)};
        for (size_t i = 0; i < nn; i++) w[t].a[i] = w[t].b[i] = (float)(i % 7) * 0.1f;
        run(&w[t]); /* warm-up: packing buffers, page faults */
        w[t].reps = 5;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, run, &w[t]);
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("%.1f %s\n", 2.0 * n * n * (double)n * 5 * threads / s / 1e9, gemm_kernel_name());
    for (int t = 0; t < threads; t++) free(w[t].a), free(w[t].b), free(w[t].c);
    return 0;
}
