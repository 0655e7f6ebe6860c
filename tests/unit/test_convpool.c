/* conv_pool_infer (lib/nn/convpool.c): the fused one-channel Conv3x3 -> affine -> ReLU -> MaxPool2x2 pass
 * against the two passes it replaces (conv2d_forward_ep + maxpool2d_forward), bit for bit: odd and even
 * plane sizes (partial runs of 16 pooled columns, a dropped last row/column), planes narrower than one run,
 * several images and channels, inputs with NaN, -0 and zeros (the sign of zero through the sums from
 * zero), negative scales (ReLU on both sides), 1, 2 and 3 threads; and which shapes take the fused pass. */
#include "check.h"
#include "core/rng.h"
#include "nn/conv2d.h"
#include "nn/convpool.h"
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

static void one(int N, int C, int H, int W, int K, int special) {
    Conv2dShape cs = {.N = N, .C = C, .H = H, .W = W, .K = K, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1,
                      .algo = CONV2D_AUTO_WINOGRAD}; /* as the baseline asks */
    if (conv2d_shape_init(&cs) < 0) {
        printf("not ok convpool %dx%d: %s\n", H, W, "shape");
        check_failures++;
        return;
    }
    Pool2dShape ps = {.N = N, .C = K, .H = cs.OH, .W = cs.OW, .KH = 2, .KW = 2};
    pool2d_shape_init(&ps);
    size_t nx = (size_t)N * C * H * W, ny = conv2d_y_numel(&cs), np = (size_t)N * K * ps.OH * ps.OW;
    Rng r;
    rng_seed(&r, (uint64_t)(N * 1000003 + H * 1009 + W * 17 + K));
    float *x = fbuf(nx), *w = fbuf((size_t)K * C * 9), *sc = fbuf((size_t)K), *sh = fbuf((size_t)K);
    for (size_t i = 0; i < nx; i++) x[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
    for (int i = 0; i < K * C * 9; i++) w[i] = (float)((2.0 * rng_uniform(&r) - 1.0) / C);
    for (int k = 0; k < K; k++) {
        sc[k] = (float)(k % 3 == 2 ? -0.7 : 0.5 + rng_uniform(&r));
        sh[k] = (float)(0.2 * (2.0 * rng_uniform(&r) - 1.0));
    }
    if (special) { /* zero runs, -0, NaN, and a channel of zero weights (sums of +-0 products) */
        for (size_t i = 0; i < nx; i += 7) x[i] = 0.0f;
        for (size_t i = 3; i < nx; i += 11) x[i] = -0.0f;
        x[nx / 2] = NAN;
        x[nx / 3] = NAN;
        for (int i = 0; i < 9; i++) w[i] = i % 2 ? -0.0f : 0.0f;
        sh[0] = 0.0f;
    }
    float *y = fbuf(ny), *want = fbuf(np), *got = fbuf(np);
    int32_t *idx = malloc(np * sizeof(int32_t));
    NnCtx c1;
    nn_ctx_init(&c1, 1);
    ConvEpilogue ep = {.scale = sc, .shift = sh, .act = ACT_RELU};
    conv2d_forward_ep(&c1, &cs, x, w, NULL, y, &ep);
    maxpool2d_forward(&c1, &ps, y, want, idx);
    int ok = 1;
    for (int threads = 1; threads <= 3; threads++) {
        NnCtx c;
        nn_ctx_init(&c, threads);
        for (size_t i = 0; i < np; i++) got[i] = 12345.0f;
        if (conv_pool_infer(&c, &cs, &ps, x, w, sc, sh, y, got, idx) < 0) ok = 0;
        ok &= memcmp(got, want, np * sizeof(float)) == 0;
        nn_ctx_free(&c);
    }
    CHECK(ok, "convpool %d images, %d->%d on %dx%d%s (%s): the bits of conv + epilogue + max pool, threads 1-3", N, C,
          K, H, W, special ? ", zeros/-0/NaN" : "",
          conv_pool_fused(&c1, &cs, &ps) ? "fused" : conv_pool_winograd(&c1, &cs, &ps) ? "pooled in Winograd's tiles" : "separate passes");
    nn_ctx_free(&c1);
    free(x), free(w), free(sc), free(sh), free(y), free(want), free(got), free(idx);
}

int main(void) {
    one(1, 1, 128, 400, 16, 0); /* the baseline's first layer on a 1x128x400 window */
    one(2, 1, 9, 37, 5, 1);     /* odd sizes: a partial run, the last row and column dropped by the pool */
    one(3, 1, 2, 2, 3, 1);      /* one pooled output per plane */
    one(1, 1, 4, 33, 16, 1);    /* 16 pooled columns and one more */
    one(2, 1, 6, 64, 7, 0);     /* exactly two runs */
    one(1, 1, 5, 3, 2, 1);      /* narrower than one run */
    /* the later blocks: pooled inside Winograd's output transform */
    one(1, 16, 64, 200, 32, 0); /* the baseline's second block on a 1x128x400 window */
    one(2, 16, 9, 37, 32, 1);   /* odd sizes: partial tiles, the last row and column dropped */
    one(2, 32, 14, 70, 16, 1);  /* a tile row whose second pooled row is the plane's last */
    one(3, 64, 8, 25, 128, 0);  /* the fourth block's shape, output channels in chunks */
    NnCtx c;
    nn_ctx_init(&c, 1);
    Conv2dShape cs = {.N = 1, .C = 2, .H = 8, .W = 8, .K = 4, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
    conv2d_shape_init(&cs);
    Pool2dShape ps = {.N = 1, .C = 4, .H = 8, .W = 8, .KH = 2, .KW = 2};
    pool2d_shape_init(&ps);
    CHECK(!conv_pool_fused(&c, &cs, &ps), "convpool: two input channels take the separate passes");
    cs.C = 1;
    conv2d_shape_init(&cs);
    Pool2dShape p3 = {.N = 1, .C = 4, .H = 8, .W = 8, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2};
    pool2d_shape_init(&p3);
    CHECK(!conv_pool_fused(&c, &cs, &p3), "convpool: a 3x3 pool takes the separate passes");
    CHECK(conv_pool_fused(&c, &cs, &ps) == nn_avx512(), "convpool: one channel, 3x3 conv, 2x2 pool fused exactly when AVX-512 runs");
    nn_ctx_free(&c);
    return check_failures ? 1 : 0;
}
