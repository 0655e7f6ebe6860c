/* gemm_f32 against a double-precision product: every transpose, edge sizes around the register tiles
 * (8 x 48, 6 x 16) and the blocks (K slices of 256, 128 x 960 blocks of C), leading dimensions larger than
 * the matrix, beta 0 / 1 / other; determinism; beta 0 never reads C; the epilogue. The checks run with
 * the kernel this CPU gets, then the program runs itself again with AUDIOCNN_GEMM=avx2 (the AVX2 kernel,
 * which must give the AVX-512 kernel's bits: a digest of many products is handed over in the
 * environment) and AUDIOCNN_GEMM=openblas. */
#define _GNU_SOURCE
#include "check.h"
#include "nn/gemm.h"
#include "nn/act_avx512.h"
#include "nn/nn.h"
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

/* gemm_f32_ep against gemm_f32, the bias added element by element, then act_affine over each row: the
 * same bits (gemm.h's promise), for every transpose, K within one slice and over several, edges of the
 * tile, beta 0 and 1, special values (NaN, -0, inf, exp's saturation) in C's inputs, bias and residual. */
static int epilogue_case(Rng *rng, GemmTrans ta, GemmTrans tb, int M, int N, int K, float beta, int with_bias,
                         int with_scale, int with_res, ActKind act) {
    int lda = ta == GEMM_N ? K : M, ldb = tb == GEMM_N ? N : K, ldc = N + 5, ldr = N + 3;
    size_t an = (size_t)M * K, bn = (size_t)K * N, cn = (size_t)M * ldc;
    float *A = malloc(sizeof(float) * an), *B = malloc(sizeof(float) * bn), *C1 = malloc(sizeof(float) * cn),
          *C2 = malloc(sizeof(float) * cn), *res = malloc(sizeof(float) * (size_t)M * ldr),
          *bias = malloc(sizeof(float) * M), *scale = malloc(sizeof(float) * M), *shift = malloc(sizeof(float) * M);
    static const float special[] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, 100.0f, -100.0f, 88.3f, -87.3f, 1e-40f};
    for (size_t i = 0; i < an; i++) A[i] = (float)(2 * rng_uniform(rng) - 1);
    for (size_t i = 0; i < bn; i++) B[i] = (float)(2 * rng_uniform(rng) - 1);
    if (K > 0) B[0] = NAN; /* C[0][0] (NN, NT) or another element becomes NaN */
    for (size_t i = 0; i < cn; i++) C1[i] = C2[i] = (float)(8 * rng_uniform(rng) - 4);
    for (size_t i = 0; i < (size_t)M * ldr; i++)
        res[i] = i % 37 == 5 ? special[i / 37 % 10] : (float)(200 * rng_uniform(rng) - 100);
    for (int i = 0; i < M; i++) {
        bias[i] = i % 11 == 3 ? special[i / 11 % 10] : (float)(20 * rng_uniform(rng) - 10);
        scale[i] = (float)(4 * rng_uniform(rng) - 2);
        shift[i] = (float)(4 * rng_uniform(rng) - 2);
    }
    GemmEpilogue ep = {with_bias ? bias : NULL, with_scale ? scale : NULL, with_scale ? shift : NULL,
                       with_res ? res : NULL, ldr, act, NULL, NULL};
    gemm_f32_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C1, ldc, &ep);
    gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, beta, C2, ldc);
    for (int i = 0; i < M; i++) {
        float *c = C2 + (size_t)i * ldc;
        if (with_bias)
            for (int j = 0; j < N; j++) c[j] += bias[i];
        act_affine(c, c, N, with_scale ? scale[i] : 1.0f, with_scale ? shift[i] : 0.0f,
                   with_res ? res + (size_t)i * ldr : NULL, act);
    }
    int same = memcmp(C1, C2, sizeof(float) * cn) == 0;
    free(A), free(B), free(C1), free(C2), free(res), free(bias), free(scale), free(shift);
    return same;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The activations' special values (NaN, -0, infinities, exp's clamps and just past them, a denormal, the
 * largest floats, +-1), then random bit patterns: every exponent, or on odd iterations |x| in [2^-17, 2^22]. */
static const float lane_special[] = {NAN, -NAN, -0.0f, 0.0f, INFINITY, -INFINITY, 87.3f, -87.3f, 88.3f, -88.3f,
                                     87.31f, -87.31f, 88.31f, -88.31f, 1e-40f, -1e-40f, 3.4e38f, -3.4e38f, 1.0f, -1.0f};
static void lane_inputs(Rng *rng, long it, float *x) {
    for (int l = 0; l < 16; l++) {
        if (it < 2 && l + 16 * it < 20) {
            x[l] = lane_special[l + 16 * it];
        } else {
            uint32_t u = (uint32_t)(rng_next(rng) >> 32);
            if (it % 2) u = (u & 0x807FFFFFu) | ((uint32_t)(110 + (u >> 24) % 40) << 23);
            memcpy(&x[l], &u, 4);
        }
    }
}

/* 16 lanes equal bit for bit, a NaN matching any NaN: which operand's NaN an operation passes on (its sign
 * and payload) is the compiler's choice of operand order (GCC -O1 and -O2 differ), not part of the promise. */
static int lanes_equal(const float *a, const float *b) {
    for (int l = 0; l < 16; l++)
        if (!(isnan(a[l]) && isnan(b[l])) && memcmp(&a[l], &b[l], sizeof(float)) != 0) return 0;
    return 1;
}

/* nn_act_avx512 against kernels.h's scalar nn_silu_f / nn_relu_f (activation.c's act_apply is the same
 * expression), bit for bit. */
__attribute__((target("avx512f"))) static int act_lanes_same(Rng *rng, ActKind act, long n) {
    float x[16], y[16], r[16];
    for (long it = 0; it < n; it++) {
        lane_inputs(rng, it, x);
        _mm512_storeu_ps(y, nn_act_avx512(_mm512_loadu_ps(x), act));
        for (int l = 0; l < 16; l++) r[l] = act == ACT_SILU ? nn_silu_f(x[l]) : nn_relu_f(x[l]);
        if (!lanes_equal(y, r)) return 0;
    }
    return 1;
}

/* nn_silu_grad_avx512 against kernels.h's nn_silu_b (batchnorm.c's act_grad is the same expression), bit
 * for bit: the pre-activations as above, random gradients (special ones every fifth iteration). */
__attribute__((target("avx512f"))) static int silu_grad_lanes_same(Rng *rng, long n) {
    float p[16], d[16], y[16], r[16];
    for (long it = 0; it < n; it++) {
        lane_inputs(rng, it, p);
        for (int l = 0; l < 16; l++)
            d[l] = it % 5 == 1 ? lane_special[(it + l) % 20] : (float)(4 * rng_uniform(rng) - 2);
        _mm512_storeu_ps(y, nn_silu_grad_avx512(_mm512_loadu_ps(d), _mm512_loadu_ps(p)));
        for (int l = 0; l < 16; l++) r[l] = nn_silu_b(d[l], p[l]);
        if (!lanes_equal(y, r)) return 0;
    }
    return 1;
}
#endif

/* FNV-1a over the bits of many products (every transpose, K over several slices, edges of both tiles,
 * beta 0/1/0.5, an epilogue with SiLU): equal digests mean the same bits. */
static uint64_t product_digest(void) {
    /* the last four are computed as C^T by the AVX-512 kernel in their TN or NT form (gemm.c's transpose_pays:
     * many rows; a long K; columns not whole vectors, A then read in place as B'; few rows, many columns) */
    static const int sz[][3] = {{1, 1, 1},       {7, 47, 255},   {9, 49, 257},   {13, 100, 600},
                                {130, 33, 70},   {6, 16, 513},   {1030, 52, 300}, {20, 70, 1100},
                                {96, 52, 320},   {40, 260, 300}};
    uint64_t h = 1469598103934665603ull;
    Rng r;
    rng_seed(&r, 99);
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (int t = 0; t < 4; t++)
            for (int b = 0; b < 4; b++) {
                int M = sz[s][0], N = sz[s][1], K = sz[s][2];
                GemmTrans ta = (GemmTrans)(t & 1), tb = (GemmTrans)(t >> 1);
                float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N), *C = malloc(sizeof(float) * M * N);
                float *bias = malloc(sizeof(float) * M);
                for (int i = 0; i < M * K; i++) A[i] = (float)(2 * rng_uniform(&r) - 1);
                for (int i = 0; i < K * N; i++) B[i] = (float)(2 * rng_uniform(&r) - 1);
                for (int i = 0; i < M * N; i++) C[i] = (float)(2 * rng_uniform(&r) - 1);
                for (int i = 0; i < M; i++) bias[i] = (float)(2 * rng_uniform(&r) - 1);
                float beta = b == 1 ? 1.0f : b == 2 ? 0.5f : 0.0f;
                GemmEpilogue ep = {.bias = bias, .act = ACT_SILU};
                gemm_f32_ep(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, beta, C, N, b == 3 ? &ep : NULL);
                const unsigned char *p = (const unsigned char *)C;
                for (size_t i = 0; i < sizeof(float) * M * N; i++) h = (h ^ p[i]) * 1099511628211ull;
                free(A), free(B), free(C), free(bias);
            }
    return h;
}

/* gemm.c reads a small, aligned B of whole vectors in place instead of packing it: the same call on a copy
 * of B one float off the alignment (packed) gives the same bits, padding columns of B (ldb > N) and of C
 * untouched, for K within one slice and over two, beta 0 and 1, with and without an epilogue. */
static int in_place_case(Rng *rng, int M, int N, int K, int ldb, float beta, int with_ep) {
    size_t nb = (size_t)K * ldb;
    float *A = malloc(sizeof(float) * (size_t)M * K), *Ba = aligned_alloc(64, sizeof(float) * (nb + 16));
    float *Bu = malloc(sizeof(float) * (nb + 1)), *C1 = malloc(sizeof(float) * (size_t)M * N);
    float *C2 = malloc(sizeof(float) * (size_t)M * N), *bias = malloc(sizeof(float) * (size_t)M);
    for (int i = 0; i < M * K; i++) A[i] = (float)(2 * rng_uniform(rng) - 1);
    float *Bp = Bu + ((uintptr_t)Bu % 64 == 0); /* never 64-byte aligned: packed */
    for (size_t i = 0; i < nb; i++) Bp[i] = Ba[i] = (float)(2 * rng_uniform(rng) - 1);
    for (int i = 0; i < M * N; i++) C1[i] = C2[i] = (float)(2 * rng_uniform(rng) - 1);
    for (int i = 0; i < M; i++) bias[i] = (float)(2 * rng_uniform(rng) - 1);
    GemmEpilogue ep = {.bias = bias, .act = ACT_SILU};
    gemm_f32_ep(GEMM_N, GEMM_N, M, N, K, A, K, Ba, ldb, beta, C1, N, with_ep ? &ep : NULL);
    gemm_f32_ep(GEMM_N, GEMM_N, M, N, K, A, K, Bp, ldb, beta, C2, N, with_ep ? &ep : NULL);
    int same = memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0;
    free(A), free(Ba), free(Bu), free(C1), free(C2), free(bias);
    return same;
}

/* b_scale (B's rows scaled as they are packed) against the same call on a copy of B scaled first, with and
 * without an epilogue: the same bits for our kernels (gemm.h); OpenBLAS adds the scaled rows 32 at a time,
 * so there the result is within float rounding of the reference (*err: worst relative to sum |a||b|). B is
 * 64-byte aligned with whole vectors where the shape allows it (a B that would be read in place). */
static int b_scale_case(Rng *rng, GemmTrans ta, GemmTrans tb, int M, int N, int K, float beta, int with_ep, int col,
                        double *err) {
    int lda = ta == GEMM_N ? K : M, ldb = tb == GEMM_N ? N : K;
    size_t an = (size_t)M * K, bn = ((size_t)K * N + 31) / 16 * 16, cn = (size_t)M * N + 1; /* bn: whole 64 bytes */
    float *A = malloc(sizeof(float) * an), *B = aligned_alloc(64, sizeof(float) * bn),
          *Bs = aligned_alloc(64, sizeof(float) * bn), *C1 = malloc(sizeof(float) * cn),
          *C2 = malloc(sizeof(float) * cn), *sc = malloc(sizeof(float) * ((size_t)(K > N ? K : N) + 1)),
          *bias = malloc(sizeof(float) * ((size_t)M + 1));
    static const float special[] = {0.0f, -0.0f, 1.0f, 1e-30f, 3e30f, -2.5f};
    for (size_t i = 0; i < an; i++) A[i] = (float)(2 * rng_uniform(rng) - 1);
    for (size_t i = 0; i < bn; i++) B[i] = (float)(2 * rng_uniform(rng) - 1);
    for (int k = 0; k < (col ? N : K); k++) sc[k] = k % 13 == 4 ? special[k / 13 % 6] : (float)rng_uniform(rng);
    for (int i = 0; i < M; i++) bias[i] = (float)(2 * rng_uniform(rng) - 1);
    for (int r = 0; r < (tb == GEMM_N ? K : N); r++)
        for (int c = 0; c < (tb == GEMM_N ? N : K); c++)
            Bs[(size_t)r * ldb + c] = B[(size_t)r * ldb + c] * sc[(tb == GEMM_N) != (col != 0) ? r : c];
    for (size_t i = 0; i < cn; i++) C1[i] = C2[i] = (float)(2 * rng_uniform(rng) - 1);
    GemmEpilogue ep = {.bias = with_ep ? bias : NULL, .act = with_ep ? ACT_SILU : ACT_NONE, .b_scale = col ? NULL : sc,
                       .b_col_scale = col ? sc : NULL};
    GemmEpilogue ep0 = ep;
    ep0.b_scale = ep0.b_col_scale = NULL;
    gemm_f32_ep(ta, tb, M, N, K, A, lda, B, ldb, beta, C1, N, &ep);
    gemm_f32_ep(ta, tb, M, N, K, A, lda, Bs, ldb, beta, C2, N, &ep0);
    int same = memcmp(C1, C2, sizeof(float) * cn) == 0;
    *err = 0.0;
    for (int i = 0; i < M && !with_ep; i++)
        for (int j = 0; j < N; j++) {
            double mag = beta != 0.0f ? 2.0 : 1e-30;
            for (int k = 0; k < K; k++) mag += fabs((double)at(A, lda, ta, i, k) * at(Bs, ldb, tb, k, j));
            double e = fabs((double)C1[(size_t)i * N + j] - C2[(size_t)i * N + j]) / mag;
            if (!(e <= *err)) *err = isnan(e) ? INFINITY : e;
        }
    free(A), free(B), free(Bs), free(C1), free(C2), free(sc), free(bias);
    return same;
}

int main(int argc, char **argv) {
    (void)argc;
    const char *kern = gemm_kernel_name();
    Rng rng;
    rng_seed(&rng, 7);
    static const int sizes[][3] = {{1, 1, 1},     {1, 17, 3},    {8, 48, 256},  {7, 47, 255},  {9, 49, 257},
                                   {8, 16, 1},    {3, 33, 5},    {64, 400, 576}, {130, 100, 300}, {129, 961, 513},
                                   {16, 1000, 9}, {200, 7, 1000}, {33, 65, 129},  {1030, 52, 300}, {20, 70, 1100},
                                   {1100, 20, 200}};
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
    {
        static const int esz[][3] = {{1, 1, 1}, {8, 48, 256}, {9, 49, 257}, {7, 33, 5}, {130, 100, 300}, {20, 1000, 600},
                                     {5, 17, 0}};
        const char *an[] = {"none", "relu", "silu"};
        int all = 1, cases = 0;
        for (size_t s = 0; s < sizeof esz / sizeof esz[0]; s++)
            for (int t = 0; t < 4; t++)
                for (int a = 0; a < 3; a++)
                    for (int f = 0; f < 4; f++) {
                        int ok = epilogue_case(&rng, (GemmTrans)(t & 1), (GemmTrans)(t >> 1), esz[s][0], esz[s][1],
                                               esz[s][2], (s + f) % 2 ? 1.0f : 0.0f, f != 1, f != 2, f >= 2, (ActKind)a);
                        cases++;
                        if (!ok) {
                            all = 0;
                            CHECK(0, "gemm %s: epilogue (%s, bias %d scale %d res %d) M=%d N=%d K=%d differs from the separate passes",
                                  kern, an[a], f != 1, f != 2, f >= 2, esz[s][0], esz[s][1], esz[s][2]);
                        }
                    }
        CHECK(all, "gemm %s: the epilogue (bias, scale/shift, residual, none/ReLU/SiLU) gives the bits of separate passes (%d cases)",
              kern, cases);
    }
    {
        /* the last three: a row stride over 1024 floats, B over 64 Ki floats (resnet18's layer1 block),
         * columns over one NC block */
        static const int isz[][4] = {{37, 48, 300, 48},  {8, 16, 1, 16},     {64, 112, 16, 128},
                                     {130, 32, 64, 32},  {9, 96, 257, 96},   {128, 64, 64, 80},
                                     {16, 1152, 48, 1168}, {64, 400, 576, 400}, {24, 1056, 144, 1072}};
        int all = 1;
        for (size_t s = 0; s < sizeof isz / sizeof isz[0]; s++)
            for (int v = 0; v < 3; v++)
                all &= in_place_case(&rng, isz[s][0], isz[s][1], isz[s][2], isz[s][3], v == 1 ? 1.0f : 0.0f, v == 2);
        CHECK(all, "gemm %s: B read in place (aligned, whole vectors, within L2) gives the packed path's bits (27 cases)",
              kern);
    }
    {
        static const int bsz[][3] = {{1, 1, 1}, {8, 48, 256}, {9, 49, 257}, {7, 33, 5}, {24, 800, 96},
                                     {32, 64, 40}, {20, 52, 600}, {130, 100, 300}};
        for (int col = 0; col < 2; col++) {
            const char *what = col ? "b_col_scale" : "b_scale", *by = col ? "columns" : "rows";
            int all = 1, cases = 0;
            double worst = 0.0;
            for (size_t s = 0; s < sizeof bsz / sizeof bsz[0]; s++)
                for (int t = 0; t < 4; t++)
                    for (int v = 0; v < 3; v++) {
                        double e;
                        int same = b_scale_case(&rng, (GemmTrans)(t & 1), (GemmTrans)(t >> 1), bsz[s][0], bsz[s][1],
                                                bsz[s][2], v == 1 ? 1.0f : 0.0f, v == 2, col, &e);
                        cases++;
                        if (e > worst) worst = e;
                        if (!same && strcmp(kern, "openblas") != 0) {
                            all = 0;
                            CHECK(0, "gemm %s: %s M=%d N=%d K=%d trans %d case %d differs from B scaled first", kern,
                                  what, bsz[s][0], bsz[s][1], bsz[s][2], t, v);
                        }
                    }
            if (strcmp(kern, "openblas") != 0)
                CHECK(all, "gemm %s: %s (B's %s scaled in the packing) gives the bits of B scaled first (%d cases)",
                      kern, what, by, cases);
            else
                CHECK(worst < 1e-6, "gemm openblas: %s within float rounding of B scaled first (%d cases, rel err %.2e)",
                      what, cases, worst);
        }
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (nn_avx512()) {
        CHECK(act_lanes_same(&rng, ACT_SILU, 200000) && act_lanes_same(&rng, ACT_RELU, 20000),
              "nn_act_avx512: SiLU and ReLU lane by lane the scalar bits (3.5M values, specials included)");
        CHECK(silu_grad_lanes_same(&rng, 200000),
              "nn_silu_grad_avx512: SiLU's backward lane by lane the scalar bits (3.2M values, specials included)");
    }
#endif
    {
        char hex[32];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)product_digest());
        const char *want = getenv("AUDIOCNN_TEST_GEMM_DIGEST");
        if (strcmp(kern, "avx512") == 0) setenv("AUDIOCNN_TEST_GEMM_DIGEST", hex, 1);
        else if (strcmp(kern, "avx2") == 0 && want)
            CHECK(strcmp(want, hex) == 0, "gemm avx2: the AVX-512 kernel's bits on 160 products (digest %s, avx512 %s)",
                  hex, want);
    }
    const char *next = NULL; /* avx512 -> avx2 (where the CPU has it) -> openblas */
    if (strcmp(kern, "avx512") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) next = "avx2";
    else if (strcmp(kern, "openblas") != 0) next = "openblas";
    if (check_failures == 0 && next) {
        fflush(stdout);
        setenv("AUDIOCNN_GEMM", next, 1);
        execv("/proc/self/exe", argv);
        CHECK(0, "gemm: could not run again with AUDIOCNN_GEMM=%s", next);
    }
    return check_failures != 0;
}
