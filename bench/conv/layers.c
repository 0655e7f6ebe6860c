/* bench/conv/layers.c - conv2d's algorithms on the engine's 3x3 stride-1 layers, one process: forward,
 * dx alone and dW alone, best of REPS, each algorithm forced (im2col + GEMM, Winograd) and AUTO's pick.
 * usage: layers THREADS REPS [N C H W K]...  (default: resnet18's 3x3 layers at batch 16 on a 1x128x400
 * input, and the baseline CNN's at batch 32). Prints ms and GFLOP/s (direct 3x3 count: 2*N*K*C*9*H*W). */
#include "nn/conv2d.h"
#include "nn/nn.h"
#include "nn/winograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* BENCH_CPUTIME=1: the process's CPU time instead of the wall clock (one thread on a loaded machine) */
static double now_ms(void) {
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("BENCH_CPUTIME") && atoi(getenv("BENCH_CPUTIME")) == 1;
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static float *buf(size_t n) {
    float *p = malloc(n * sizeof(float));
    if (!p) abort();
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u % 1000) / 500.0 - 1.0);
    return p;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 5;
    int def[][5] = {{16, 64, 32, 100, 64}, {16, 128, 16, 50, 128}, {16, 256, 8, 25, 256}, {16, 512, 4, 13, 512},
                    {32, 1, 128, 400, 16}, {32, 16, 64, 200, 32}, {32, 32, 32, 100, 64}, {32, 64, 16, 50, 128}};
    int nl = argc > 3 ? (argc - 3) / 5 : (int)(sizeof def / sizeof def[0]);
    NnCtx ctx;
    nn_ctx_init(&ctx, threads);
    printf("%-24s %-8s %9s %9s %9s   GFLOP/s fwd/dx/dw\n", "layer", "algo", "fwd ms", "dx ms", "dW ms");
    for (int l = 0; l < nl; l++) {
        int *d = argc > 3 ? (int[5]){atoi(argv[3 + 5 * l]), atoi(argv[4 + 5 * l]), atoi(argv[5 + 5 * l]),
                                     atoi(argv[6 + 5 * l]), atoi(argv[7 + 5 * l])}
                          : def[l];
        Conv2dShape s0 = {.N = d[0], .C = d[1], .H = d[2], .W = d[3], .K = d[4], .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
        if (conv2d_shape_init(&s0) < 0) return 1;
        float *x = buf(conv2d_x_numel(&s0)), *w = buf(conv2d_w_numel(&s0)), *dy = buf(conv2d_y_numel(&s0));
        float *y = buf(conv2d_y_numel(&s0)), *dx = buf(conv2d_x_numel(&s0)), *dw = buf(conv2d_w_numel(&s0));
        double gf = 2.0 * s0.N * s0.K * s0.C * 9.0 * s0.H * s0.W / 1e9;
        char name[64];
        snprintf(name, sizeof name, "%d->%d %dx%d N=%d", s0.C, s0.K, s0.H, s0.W, s0.N);
        Conv2dAlgo algos[3] = {CONV2D_GEMM, CONV2D_WINOGRAD, CONV2D_AUTO};
        for (int a = 0; a < 3; a++) {
            Conv2dShape s = s0;
            s.algo = algos[a];
            if (conv2d_shape_init(&s) < 0) continue;
            nn_scratch(&ctx, conv2d_scratch_floats(&ctx, &s));
            double best[3] = {1e30, 1e30, 1e30};
            for (int r = -1; r < reps; r++) {
                double t0 = now_ms();
                conv2d_forward(&ctx, &s, x, w, NULL, y);
                double t1 = now_ms();
                if (s.C > 1) conv2d_backward(&ctx, &s, x, w, dy, dx, NULL, NULL);
                double t2 = now_ms();
                conv2d_backward(&ctx, &s, x, w, dy, NULL, dw, NULL);
                double t3 = now_ms();
                if (r < 0) continue;
                double t[3] = {t1 - t0, t2 - t1, t3 - t2};
                for (int i = 0; i < 3; i++)
                    if (t[i] < best[i]) best[i] = t[i];
            }
            const char *an = a == 0 ? "gemm" : a == 1 ? "winograd" : (winograd_pays(&s0) ? "auto=W" : "auto=G");
            printf("%-24s %-8s %9.2f %9.2f %9.2f   %6.1f %6.1f %6.1f\n", name, an, best[0], best[1], best[2],
                   gf / best[0] * 1e3, gf / best[1] * 1e3, gf / best[2] * 1e3);
            fflush(stdout);
        }
        free(x), free(w), free(dy), free(y), free(dx), free(dw);
    }
    nn_ctx_free(&ctx);
    return 0;
}
