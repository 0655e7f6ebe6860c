/* bench/peak: the machine's single-precision FMA peak, measured: every thread runs 12 independent
 * chains of fused multiply-adds on registers (enough to cover the FMA latency on current x86 cores), and
 * the GFLOP/s count 2 flops per lane per FMA. AVX2 (8 lanes) and AVX-512 (16 lanes, where the CPU has it),
 * on 1 thread and on every core. Usage: peak [SECONDS per measurement, default 0.5].
 * Prints one line per kind and thread count: "peak avx2 1 thread: 123.4 GFLOP/s", and a last line
 * "PEAK_GFLOPS=... PEAK_GFLOPS_1=..." (the best kind on every core, and on one) that bench scripts read. */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define CHAINS 12
#define INNER 1000 /* FMAs per chain between two checks of the clock */

/* The body of run_avx2 and run_avx512 for a vector type T and its intrinsics: twelve named registers
 * (an array would be kept in memory without unrolling), each its own chain of FMAs, until `seconds`
 * have passed; returns the FMAs done per chain, and *sink (their sum's first lane) keeps them alive. */
#define FMA_CHAINS(T, SET1, FMA, ADD, FIRST)                                                                  \
    T x = SET1(0.999999f), y = SET1(1e-7f);                                                                   \
    T a0 = SET1(0.f), a1 = SET1(1.f), a2 = SET1(2.f), a3 = SET1(3.f), a4 = SET1(4.f), a5 = SET1(5.f),         \
      a6 = SET1(6.f), a7 = SET1(7.f), a8 = SET1(8.f), a9 = SET1(9.f), a10 = SET1(10.f), a11 = SET1(11.f);     \
    long n = 0;                                                                                               \
    double end = now() + seconds;                                                                             \
    do {                                                                                                      \
        for (int i = 0; i < INNER; i++) {                                                                     \
            a0 = FMA(a0, x, y); a1 = FMA(a1, x, y); a2 = FMA(a2, x, y); a3 = FMA(a3, x, y);                   \
            a4 = FMA(a4, x, y); a5 = FMA(a5, x, y); a6 = FMA(a6, x, y); a7 = FMA(a7, x, y);                   \
            a8 = FMA(a8, x, y); a9 = FMA(a9, x, y); a10 = FMA(a10, x, y); a11 = FMA(a11, x, y);               \
        }                                                                                                     \
        n += INNER;                                                                                           \
    } while (now() < end);                                                                                    \
    T s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));                                  \
    *sink = FIRST(ADD(s, ADD(ADD(a8, a9), ADD(a10, a11))));                                                   \
    return n;

__attribute__((target("avx2,fma"))) static long run_avx2(double seconds, float *sink) {
    FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_cvtss_f32)
}

__attribute__((target("avx512f"))) static long run_avx512(double seconds, float *sink) {
    FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_cvtss_f32)
}

typedef struct {
    int wide; /* 0 AVX2, 1 AVX-512 */
    double seconds, took;
    long fmas;
    float sink;
} Job;

static void *worker(void *arg) {
    Job *j = arg;
    double t0 = now();
    j->fmas = j->wide ? run_avx512(j->seconds, &j->sink) : run_avx2(j->seconds, &j->sink);
    j->took = now() - t0;
    return NULL;
}

/* GFLOP/s of `threads` threads running together, the best of three tries (the machine may be shared). */
static double measure_once(int wide, int threads, double seconds) {
    pthread_t t[256];
    Job j[256];
    for (int i = 0; i < threads; i++) {
        j[i] = (Job){.wide = wide, .seconds = seconds};
        pthread_create(&t[i], NULL, worker, &j[i]);
    }
    double flops = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        flops += (double)j[i].fmas * CHAINS * (wide ? 16 : 8) * 2 / j[i].took;
    }
    return flops / 1e9;
}

static double measure(int wide, int threads, double seconds) {
    double best = 0;
    for (int k = 0; k < 3; k++) {
        double g = measure_once(wide, threads, seconds);
        if (g > best) best = g;
    }
    return best;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    if (cores > 256) cores = 256;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        puts("peak: skip: no AVX2/FMA on this CPU");
        return 0;
    }
    double best = 0, best1 = 0;
    for (int wide = 0; wide < 2; wide++) {
        if (wide && !__builtin_cpu_supports("avx512f")) {
            puts("peak avx512: not on this CPU");
            break;
        }
        for (int th = 1; th <= cores; th = th == cores ? cores + 1 : cores) {
            double g = measure(wide, th, seconds);
            printf("peak %s %d thread%s: %.1f GFLOP/s\n", wide ? "avx512" : "avx2", th, th == 1 ? "" : "s", g);
            if (th == cores && g > best) best = g;
            if (th == 1 && g > best1) best1 = g;
        }
    }
    printf("PEAK_GFLOPS=%.1f PEAK_GFLOPS_1=%.1f\n", best, best1);
    return 0;
}
