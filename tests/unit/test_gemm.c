/* gemm_f32 against a double-precision product: every transpose, edge sizes around the register tile
 * (8 x 48) and the blocks (K slices of 256, 128 x 960 blocks of C), leading dimensions larger than the
 * matrix, beta 0 / 1 / other; determinism; beta 0 never reads C. The checks run with the kernel this
 * CPU gets, then the program runs itself again with AUDIOCNN_AVX512=0 for the OpenBLAS path. */
#define _GNU_SOURCE
#include "check.h"
#include "nn/gemm.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static float at(const float *X, int ld, GemmTrans t, int r, int c) {
    return t == GEMM_N ? X[(size_t)r * ld + c] : X[(size_t)c * ld + r];
}

/* Worst |C - ref| / (sum |a||b| + |beta c|) over the elements: the bound float32 summation error scales with. */
static double run_case(Rng *rng, GemmTrans ta, GemmTrans tb, int M, int N, int K, float beta, int pad) {
    int lda = (ta == GEMM_N ? K : M) + pad, ldb = (tb == GEMM_N ? N : K) + pad, ldc = N + pad;
    int arows = ta == GEMM_N ? M : K, brows = tb == GEMM_N ? K : N;
    float *A = malloc(sizeof(float) * ((size_t)arows * lda + 1));
    float *B = malloc(sizeof(float) * ((size_t)brows * ldb + 1));
    float *C = malloc(sizeof(float) * ((size_t)M * ldc + 1));
    float *C0 = malloc(sizeof(float) * ((size_t)M * ldc + 1));
    for (size_t i = 0; i < (size_t)arows * lda; i++) A[i] = (float)(2 * rng_uniform(rng) - 1);
    for (size_t i = 0; i < (size_t)brows * ldb; i++) B[i] = (float)(2 * rng_uniform(rng) - 1);
    for (size_t i = 0; i < (size_t)M * ldc; i++) C0[i] = C[i] = (float)(2 * rng_uniform(rng) - 1);
    gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    double worst = 0.0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double ref = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
            double mag = fabs(ref) + 1e-30;
            for (int k = 0; k < K; k++) {
                double p = (double)at(A, lda, ta, i, k) * at(B, ldb, tb, k, j);
                ref += p;
                mag += fabs(p);
            }
            double e = fabs(C[(size_t)i * ldc + j] - ref) / mag;
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
        for (int j = N; j < ldc; j++) /* the padding of C stays untouched */
            if (C[(size_t)i * ldc + j] != C0[(size_t)i * ldc + j]) worst = INFINITY;
    }
    free(A), free(B), free(C), free(C0);
    return worst;
}

int main(int argc, char **argv) {
    (void)argc;
    const char *kern = gemm_kernel_name();
    Rng rng;
    rng_seed(&rng, 7);
    static const int sizes[][3] = {{1, 1, 1},     {1, 17, 3},    {8, 48, 256},  {7, 47, 255},  {9, 49, 257},
                                   {8, 16, 1},    {3, 33, 5},    {64, 400, 576}, {130, 100, 300}, {129, 961, 513},
                                   {16, 1000, 9}, {200, 7, 1000}, {33, 65, 129}};
    const char *tn[] = {"N", "T"};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                float beta = (s % 3 == 0) ? 0.0f : (s % 3 == 1) ? 1.0f : 0.5f;
                double e = run_case(&rng, (GemmTrans)ta, (GemmTrans)tb, M, N, K, beta, (int)(s % 2) * 3);
                CHECK(e < 1e-6, "gemm %s %s%s M=%d N=%d K=%d beta=%g: rel err %.2e", kern, tn[ta], tn[tb], M, N, K,
                      beta, e);
            }
    }
    {
        /* beta 0 overwrites NaN; K = 0 scales C by beta */
        float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, C[4] = {NAN, NAN, NAN, NAN};
        gemm_f32(GEMM_N, GEMM_N, 2, 2, 3, A, 3, B, 2, 0.0f, C, 2);
        int ok = C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11;
        float D[2] = {2, NAN};
        gemm_f32(GEMM_N, GEMM_N, 1, 2, 0, A, 1, B, 2, 0.0f, D, 2);
        float E[2] = {2, 4};
        gemm_f32(GEMM_N, GEMM_N, 1, 2, 0, A, 1, B, 2, 0.5f, E, 2);
        CHECK(ok && D[0] == 0 && D[1] == 0 && E[0] == 1 && E[1] == 2,
              "gemm %s: beta 0 never reads C (NaN overwritten), K = 0 gives beta*C", kern);
    }
    {
        /* the same call twice gives the same bits, and a row block of C computed alone equals the rows of
         * the whole product (the tiles of conv2d rely on it) */
        int M = 70, N = 300, K = 700;
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
        float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N), *C3 = malloc(sizeof(float) * M * N);
        for (int i = 0; i < M * K; i++) A[i] = (float)rng_uniform(&rng);
        for (int i = 0; i < K * N; i++) B[i] = (float)rng_uniform(&rng);
        gemm_f32(GEMM_N, GEMM_N, M, N, K, A, K, B, N, 0.0f, C1, N);
        gemm_f32(GEMM_N, GEMM_N, M, N, K, A, K, B, N, 0.0f, C2, N);
        gemm_f32(GEMM_N, GEMM_N, 30, N, K, A, K, B, N, 0.0f, C3, N);
        gemm_f32(GEMM_N, GEMM_N, M - 30, N, K, A + 30 * K, K, B, N, 0.0f, C3 + 30 * N, N);
        CHECK(memcmp(C1, C2, sizeof(float) * M * N) == 0, "gemm %s: deterministic (same bits twice)", kern);
        CHECK(memcmp(C1, C3, sizeof(float) * M * N) == 0 || strcmp(kern, "openblas") == 0,
              "gemm %s: a block of rows alone gives the same bits as inside the whole product", kern);
        free(A), free(B), free(C1), free(C2), free(C3);
    }
    if (check_failures == 0 && strcmp(kern, "openblas") != 0 && !getenv("AUDIOCNN_AVX512")) {
        fflush(stdout);
        setenv("AUDIOCNN_AVX512", "0", 1);
        execv("/proc/self/exe", argv);
        CHECK(0, "gemm: could not run again with AUDIOCNN_AVX512=0");
    }
    return check_failures != 0;
}
