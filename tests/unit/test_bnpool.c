/* bnpool.h (lib/nn/bnpool.c): the fused BN(train) -> ReLU -> MaxPool2x2 forward and its backward against
 * the passes they replace (batchnorm2d_forward_train + maxpool2d_forward; maxpool2d_backward +
 * batchnorm2d_backward_train), bit for bit: pooled, argmax, mean, invstd, running statistics, dx, dweight,
 * dbias. Odd and even plane sizes (a dropped last row/column, partial runs of 16 pooled columns), planes
 * narrower than one run, inputs with NaN, -0, ties and zeros, a gradient with -0, negative BN weights
 * (ReLU on both sides), 1, 2 and 3 threads; and which shapes take the fused passes. */
#include "check.h"
#include "core/rng.h"
#include "nn/batchnorm.h"
#include "nn/bnpool.h"
#include "nn/nn.h"
#include "nn/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *fbuf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) abort();
    return p;
}

static int same(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

static void one(int N, int C, int H, int W, int special, int threads) {
    BatchNorm2dShape bs = batchnorm2d_shape(N, C, H, W);
    bs.act = ACT_RELU;
    Pool2dShape ps = {.N = N, .C = C, .H = H, .W = W, .KH = 2, .KW = 2};
    if (pool2d_shape_init(&ps) < 0) {
        CHECK(0, "bnpool %dx%d: pool shape", H, W);
        return;
    }
    NnCtx ctx;
    if (nn_ctx_init(&ctx, threads) < 0) abort();
    size_t nx = (size_t)N * C * H * W, np = (size_t)N * C * ps.OH * ps.OW;
    Rng r;
    rng_seed(&r, (uint64_t)(N * 1000003 + C * 7919 + H * 1009 + W * 17 + special));
    float *x = fbuf(nx), *w = fbuf((size_t)C), *b = fbuf((size_t)C), *dp = fbuf(np);
    for (size_t i = 0; i < nx; i++) x[i] = (float)(int)(8.0 * rng_uniform(&r)) * 0.25f - 1.0f; /* ties */
    for (int c = 0; c < C; c++) {
        w[c] = (float)(c % 3 == 2 ? -0.7 : 0.5 + rng_uniform(&r));
        b[c] = (float)(0.2 * (2.0 * rng_uniform(&r) - 1.0));
    }
    for (size_t i = 0; i < np; i++) dp[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
    if (special) {
        for (size_t i = 3; i < nx; i += 11) x[i] = -0.0f;
        x[nx / 2] = NAN;
        dp[0] = -0.0f;
        dp[np / 2] = 0.0f;
    }
    /* two of everything: [0] the composed passes, [1] the fused ones */
    float *rm[2], *rv[2], *mean[2], *inv[2], *pooled[2], *dx[2], *dw[2], *db[2], nbt[2] = {3, 3};
    int32_t *am[2];
    float *act = fbuf(nx);
    for (int k = 0; k < 2; k++) {
        rm[k] = fbuf((size_t)C), rv[k] = fbuf((size_t)C), mean[k] = fbuf((size_t)C), inv[k] = fbuf((size_t)C);
        dw[k] = fbuf((size_t)C), db[k] = fbuf((size_t)C);
        for (int c = 0; c < C; c++) rm[k][c] = 0.1f * (float)c, rv[k][c] = 1.0f + 0.05f * (float)c, dw[k][c] = db[k][c] = 0.5f;
        pooled[k] = fbuf(np), dx[k] = fbuf(nx);
        am[k] = malloc(np * sizeof(int32_t));
        if (!am[k]) abort();
    }
    batchnorm2d_forward_train(&ctx, &bs, x, w, b, rm[0], rv[0], &nbt[0], act, mean[0], inv[0]);
    maxpool2d_forward(&ctx, &ps, act, pooled[0], am[0]);
    bn_relu_pool_forward_train(&ctx, &bs, &ps, x, w, b, rm[1], rv[1], &nbt[1], NULL, pooled[1], am[1], mean[1], inv[1]);
    CHECK(same(pooled[0], pooled[1], np * 4) && same(am[0], am[1], np * 4) && same(mean[0], mean[1], (size_t)C * 4) &&
              same(inv[0], inv[1], (size_t)C * 4) && same(rm[0], rm[1], (size_t)C * 4) &&
              same(rv[0], rv[1], (size_t)C * 4) && nbt[0] == nbt[1],
          "bnpool forward %dx%dx%dx%d%s, %d thread(s): pooled, argmax, statistics = the composed passes, bit for bit", N,
          C, H, W, special ? " (NaN, -0)" : "", threads);
    maxpool2d_backward(&ctx, &ps, dp, am[0], dx[0]);
    batchnorm2d_backward_train(&ctx, &bs, dx[0], x, w, b, mean[0], inv[0], dx[0], dw[0], db[0]);
    int rc = maxpool_bn_backward_train(&ctx, &ps, &bs, dp, am[1], x, w, b, mean[1], inv[1], dx[1], dw[1], db[1]);
    CHECK(rc == 0 && same(dx[0], dx[1], nx * 4) && same(dw[0], dw[1], (size_t)C * 4) && same(db[0], db[1], (size_t)C * 4),
          "bnpool backward %dx%dx%dx%d%s, %d thread(s): dx, dweight, dbias = the composed passes, bit for bit", N, C, H,
          W, special ? " (NaN, -0)" : "", threads);
    for (int k = 0; k < 2; k++) {
        free(rm[k]), free(rv[k]), free(mean[k]), free(inv[k]), free(dw[k]), free(db[k]);
        free(pooled[k]), free(dx[k]), free(am[k]);
    }
    free(x), free(w), free(b), free(dp), free(act);
    nn_ctx_free(&ctx);
}

int main(void) {
    one(2, 3, 8, 40, 0, 1);   /* even sizes, two runs of 16 pooled columns and a tail */
    one(3, 5, 9, 71, 1, 2);   /* odd H and W: a dropped last row and column */
    one(2, 4, 5, 7, 1, 3);    /* narrower than one run */
    one(4, 16, 32, 100, 0, 2); /* above the layers' parallel threshold: several workers, strided channels */
    one(4, 16, 32, 100, 1, 3);
    one(1, 2, 2, 2, 0, 1);    /* one window */
    NnCtx ctx;
    if (nn_ctx_init(&ctx, 1) < 0) abort();
    BatchNorm2dShape bs = batchnorm2d_shape(2, 4, 8, 8);
    Pool2dShape p2 = {.N = 2, .C = 4, .H = 8, .W = 8, .KH = 2, .KW = 2}, p3 = {.N = 2, .C = 4, .H = 8, .W = 8, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    pool2d_shape_init(&p2);
    pool2d_shape_init(&p3);
    int plain = bn_pool_fused(&ctx, &bs, &p2);
    bs.act = ACT_RELU;
    CHECK(!plain && bn_pool_fused(&ctx, &bs, &p2) && !bn_pool_fused(&ctx, &bs, &p3),
          "bnpool: fused for BN with ReLU before a 2x2/2 pool on the CPU only (not without ReLU, not a 3x3/2 pool)");
    nn_ctx_free(&ctx);
    return check_failures ? 1 : 0;
}
