/* bench/gemm: gemm_f32 against OpenBLAS's cblas_sgemm (one thread each, as the engine calls them) on
 * GEMM shapes read from stdin, one per line: "COUNT TRANS M N K BETA" (uniq -c of AUDIOCNN_GEMM_LOG
 * lines, see lib/nn/gemm.h). Each shape runs until it has taken 0.1 s (at least 3 calls), both kernels
 * on the same operands. Prints a line per shape (GFLOP/s of both, ours as % of PEAK1 when given) and
 * the totals weighted by the calls a training step makes. usage: gemm [PEAK1_GFLOPS] < shapes */
#define _POSIX_C_SOURCE 200809L
#include "nn/gemm.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void ours(GemmTrans ta, GemmTrans tb, int m, int n, int k, const float *a, const float *b, float beta, float *c) {
    gemm_f32(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, beta, c, n);
}

static void theirs(GemmTrans ta, GemmTrans tb, int m, int n, int k, const float *a, const float *b, float beta, float *c) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                ta ? m : k, b, tb ? k : n, beta, c, n);
}

typedef void (*Kernel)(GemmTrans, GemmTrans, int, int, int, const float *, const float *, float, float *);

/* seconds per call */
static double time_kernel(Kernel f, GemmTrans ta, GemmTrans tb, int m, int n, int k, const float *a, const float *b,
                          float beta, float *c) {
    f(ta, tb, m, n, k, a, b, beta, c); /* warm-up: packing buffers, caches */
    long calls = 0;
    double t0 = now(), t;
    do {
        f(ta, tb, m, n, k, a, b, beta, c);
        calls++;
    } while ((t = now() - t0) < 0.1 || calls < 3);
    return t / (double)calls;
}

int main(int argc, char **argv) {
    double peak1 = argc > 1 ? atof(argv[1]) : 0;
    openblas_set_num_threads(1);
    long count;
    char tr[3];
    int m, n, k, beta;
    double flops_all = 0, t_ours = 0, t_blas = 0;
    int shapes = 0, wins = 0;
    printf("%7s %5s %6s %6s %6s %4s | %9s %9s %6s %s\n", "calls", "trans", "M", "N", "K", "beta", "ours", "OpenBLAS", "ratio",
           peak1 > 0 ? "ours/peak" : "");
    while (scanf("%ld %2s %d %d %d %d", &count, tr, &m, &n, &k, &beta) == 6) {
        if (m <= 0 || n <= 0 || k <= 0) continue;
        GemmTrans ta = tr[0] == 'T', tb = tr[1] == 'T';
        size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n;
        /* 64-byte aligned as the engine's tensors are (nn_alloc), whose layouts let our kernel read some B in place */
        float *a = aligned_alloc(64, sizeof(float) * ((sa + 15) / 16 * 16)),
              *b = aligned_alloc(64, sizeof(float) * ((sb + 15) / 16 * 16)),
              *c = aligned_alloc(64, sizeof(float) * ((sc + 15) / 16 * 16));
        if (!a || !b || !c) return 1;
        for (size_t i = 0; i < sa; i++) a[i] = (float)(i % 13) * 0.01f - 0.06f;
        for (size_t i = 0; i < sb; i++) b[i] = (float)(i % 7) * 0.02f - 0.06f;
        memset(c, 0, sizeof(float) * sc);
        double f = 2.0 * m * n * k, to = time_kernel(ours, ta, tb, m, n, k, a, b, (float)beta, c),
               tb_ = time_kernel(theirs, ta, tb, m, n, k, a, b, (float)beta, c);
        printf("%7ld %5s %6d %6d %6d %4d | %8.1f  %8.1f  %5.2fx", count, tr, m, n, k, beta, f / to / 1e9, f / tb_ / 1e9, tb_ / to);
        if (peak1 > 0) printf("  %5.0f%%", 100 * f / to / 1e9 / peak1);
        putchar('\n');
        flops_all += f * count;
        t_ours += to * count;
        t_blas += tb_ * count;
        shapes++;
        wins += to <= tb_;
        free(a), free(b), free(c);
    }
    if (shapes) {
        printf("all %d shapes, weighted by their calls: ours %.1f GFLOP/s, OpenBLAS %.1f GFLOP/s: %.2fx", shapes,
               flops_all / t_ours / 1e9, flops_all / t_blas / 1e9, t_blas / t_ours);
        if (peak1 > 0) printf(" (ours %.0f%% of the one-core peak)", 100 * flops_all / t_ours / 1e9 / peak1);
        printf("; ours at least as fast on %d of %d shapes\n", wins, shapes);
    }
    return 0;
}
