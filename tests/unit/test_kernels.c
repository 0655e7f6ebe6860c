/* The own CUDA kernels' arithmetic, on the CPU: every body of nn/kernels.h is run over the very launch
 * grid its .cu wrapper uses (every block and thread of nn_grid_1d's grid, NN_BLOCK threads each; the
 * optimiser's one block per chunk) and compared bit for bit (NaN's sign and payload aside) with the CPU
 * layer it stands in for:
 * activations and the residual add (activation.c), max pool forward/backward with ties and NaN, the
 * global average pool (pool.c), the fused AdamW/SGD step (optim.c, several steps, frozen entries,
 * buffers, lr/wd multipliers, Nesterov), the AMP unscale check, the repeated stem's passes (stem.c: summed
 * and normalised weights, their gradient spread, the ones-image correction, the batch sum, fills) and
 * squeeze-and-excitation's (se.c: the plane scaling, and se.cu's backward composed on the CPU with the
 * kernels' bodies for its two loops), and mixed precision's casts (float <-> fp16 / bf16: known bit patterns,
 * every half value and every midpoint between neighbours, a stride through all 2^32 floats against an
 * independent reference in double arithmetic and, where the compiler has it, against _Float16) and their
 * grid bodies (cast, widen, widen + add, widen with a bias in half, the half bias gradient). What only a GPU can show (the
 * launches, device memory) is tests/gpu/'s. */
#include "check.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/kernels.h"
#include "nn/linear.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "nn/pool.h"
#include "nn/se.h"
#include "nn/stem.h"
#include "core/error.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* for every (block, thread) of a grid of G blocks of NN_BLOCK threads: g names the position */
#define FOR_GRID(G, g) \
    for (int64_t b_ = 0; b_ < (G); b_++) \
        for (NnGrid g = {b_, 0, NN_BLOCK, (G)}; g.thread < NN_BLOCK; g.thread++)

/* The same bits, except that any NaN equals any NaN: a NaN's sign and payload depend on operand order in
 * vector code (x86) and GPUs make one canonical NaN, so only "NaN or not" is compared there. Returns the
 * first index that differs, or n. */
static size_t first_diff(const float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&x[i], &y[i], sizeof *x) != 0 && !(isnan(x[i]) && isnan(y[i]))) return i;
    return n;
}

static void fill(Rng *r, float *a, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * (float)rng_uniform(r);
}

static void test_elementwise(NnCtx *ctx, Rng *r) {
    /* more than NN_GRID_MAX * NN_BLOCK items, so that threads stride; specials at the front */
    const size_t n = (size_t)NN_GRID_MAX * NN_BLOCK + 4099;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *ref = malloc(n * sizeof *ref),
          *got = malloc(n * sizeof *got);
    fill(r, a, n, -12, 12);
    fill(r, b, n, -3, 3);
    float sp[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, -90.0f, 90.0f, 1e-30f, -1e-30f};
    memcpy(a, sp, sizeof sp);
    memcpy(b + 9, sp, sizeof sp);
    int64_t G = nn_grid_1d((int64_t)n);
    CHECK(G == NN_GRID_MAX, "kernels: the element grid is capped at %d blocks (%lld)", NN_GRID_MAX, (long long)G);
    const char *names[] = {"relu", "relu backward", "sigmoid", "sigmoid backward", "silu", "silu backward",
                           "residual add", "residual add + relu", "gradient accumulate"};
    for (int op = EW_RELU_F; op <= EW_ACC; op++) {
        switch (op) {
        case EW_RELU_F: relu_forward(ctx, n, a, ref); break;
        case EW_RELU_B: relu_backward(ctx, n, a, b, ref); break;
        case EW_SIGMOID_F: sigmoid_forward(ctx, n, a, ref); break;
        case EW_SIGMOID_B: sigmoid_backward(ctx, n, a, b, ref); break;
        case EW_SILU_F: silu_forward(ctx, n, a, ref); break;
        case EW_SILU_B: silu_backward(ctx, n, a, b, ref); break;
        case EW_ADD: residual_add_forward(ctx, n, a, b, ref); break;
        case EW_ADD_RELU: residual_add_relu_forward(ctx, n, a, b, ref); break;
        default: memcpy(ref, b, n * sizeof *ref); grad_accumulate(ctx, n, a, ref); break;
        }
        if (op == EW_ACC) memcpy(got, b, n * sizeof *got);
        else memset(got, 0xff, n * sizeof *got);
        FOR_GRID(G, g) kb_elementwise(g, op, (int64_t)n, a, b, got);
        size_t bad = first_diff(ref, got, n);
        if (bad < n) printf("# %s: first difference at %zu: a %a b %a: CPU %a, kernel %a\n", names[op], bad, a[bad], b[bad], ref[bad], got[bad]);
        CHECK(bad == n, "kernels: %s over the grid = activation.c, bit for bit", names[op]);
    }
    /* in place, as the networks call them */
    memcpy(got, a, n * sizeof *got);
    relu_forward(ctx, n, a, ref);
    FOR_GRID(G, g) kb_elementwise(g, EW_RELU_F, (int64_t)n, got, NULL, got);
    CHECK(first_diff(ref, got, n) == n, "kernels: relu in place");
    free(a);
    free(b);
    free(ref);
    free(got);
}

static void test_maxpool(NnCtx *ctx, Rng *r) {
    Pool2dShape cases[] = {
        {.N = 2, .C = 3, .H = 16, .W = 20, .KH = 2, .KW = 2},                                     /* baseline */
        {.N = 1, .C = 2, .H = 9, .W = 71, .KH = 2, .KW = 2}, /* pool.c's 16-window AVX-512 steps, odd H and W */
        {.N = 2, .C = 3, .H = 17, .W = 23, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}, /* ResNet stem */
        /* rows wide enough for pool.c's 16-output AVX-512 blocks (columns 1-32), then its 4-wide and scalar tails */
        {.N = 1, .C = 2, .H = 9, .W = 75, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
        {.N = 1, .C = 2, .H = 9, .W = 31, .KH = 3, .KW = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1},
        {.N = 1, .C = 1, .H = 7, .W = 5, .KH = 3, .KW = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        Pool2dShape s = cases[c];
        if (pool2d_shape_init(&s) < 0) {
            CHECK(0, "kernels: pool shape %zu", c);
            continue;
        }
        size_t ni = (size_t)s.N * s.C * s.H * s.W, no = (size_t)s.N * s.C * s.OH * s.OW;
        float *x = malloc(ni * 4), *y0 = malloc(no * 4), *y1 = malloc(no * 4), *dy = malloc(no * 4);
        float *dx0 = malloc(ni * 4), *dx1 = malloc(ni * 4);
        int32_t *a0 = malloc(no * 4), *a1 = malloc(no * 4);
        for (size_t i = 0; i < ni; i++) x[i] = (float)(int)(rng_below(r, 5)) - 2.0f; /* many ties */
        x[3] = NAN;
        x[ni / 2] = -INFINITY;
        fill(r, dy, no, -1, 1);
        dy[1] = -0.0f; /* the scatter's 0 + dy makes it +0 */
        maxpool2d_forward(ctx, &s, x, y0, a0);
        NnPoolGeom geo = pool2d_geom(&s);
        memset(y1, 0, no * 4);
        FOR_GRID(nn_grid_1d((int64_t)no), g) kb_maxpool_fwd(g, geo, x, y1, a1);
        CHECK(first_diff(y0, y1, no) == no && memcmp(a0, a1, no * 4) == 0,
              "kernels: max pool %dx%d/%d pad %d forward (values and argmax, ties, NaN) = pool.c", s.KH, s.KW,
              s.stride_h, s.pad_h);
        maxpool2d_backward(ctx, &s, dy, a0, dx0);
        memset(dx1, 0xff, ni * 4);
        FOR_GRID(nn_grid_1d((int64_t)ni), g) kb_maxpool_bwd(g, geo, dy, a0, dx1);
        CHECK(first_diff(dx0, dx1, ni) == ni, "kernels: max pool %dx%d/%d pad %d backward (gather) = pool.c's scatter",
              s.KH, s.KW, s.stride_h, s.pad_h);
        free(x), free(y0), free(y1), free(dy), free(dx0), free(dx1), free(a0), free(a1);
    }
}

static void test_avgpool(NnCtx *ctx, Rng *r) {
    Pool2dShape cases[] = {
        {.N = 2, .C = 3, .H = 16, .W = 21, .KH = 2, .KW = 2},
        {.N = 2, .C = 3, .H = 17, .W = 23, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
        {.N = 2, .C = 3, .H = 17, .W = 23, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .exclude_pad = 1},
        {.N = 1, .C = 2, .H = 9, .W = 12, .KH = 3, .KW = 2, .stride_h = 1, .stride_w = 2, .pad_h = 1, .pad_w = 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        Pool2dShape s = cases[c];
        pool2d_shape_init(&s);
        size_t ni = (size_t)s.N * s.C * s.H * s.W, no = (size_t)s.N * s.C * s.OH * s.OW;
        float *x = malloc(ni * 4), *y0 = malloc(no * 4), *y1 = malloc(no * 4), *dx0 = malloc(ni * 4), *dx1 = malloc(ni * 4);
        fill(r, x, ni, -3, 3);
        NnPoolGeom geo = pool2d_geom(&s);
        avgpool2d_forward(ctx, &s, x, y0);
        FOR_GRID(nn_grid_1d((int64_t)no), g) kb_avgpool_fwd(g, geo, s.exclude_pad, x, y1);
        avgpool2d_backward(ctx, &s, y0, dx0);
        FOR_GRID(nn_grid_1d((int64_t)ni), g) kb_avgpool_bwd(g, geo, s.exclude_pad, y0, dx1);
        CHECK(first_diff(y0, y1, no) == no && first_diff(dx0, dx1, ni) == ni,
              "kernels: avg pool %dx%d/%d pad %d%s forward and backward (gather) = pool.c", s.KH, s.KW, s.stride_h, s.pad_h,
              s.exclude_pad ? " exclude_pad" : "");
        free(x), free(y0), free(y1), free(dx0), free(dx1);
    }
}

static void test_gap(NnCtx *ctx, Rng *r) {
    int hws[][2] = {{7, 7}, {8, 25}, {1, 1}, {3, 5}};
    for (int c = 0; c < 4; c++) {
        GlobalPoolShape s = {.N = 3, .C = 37, .H = hws[c][0], .W = hws[c][1]};
        int64_t planes = (int64_t)s.N * s.C, hw = (int64_t)s.H * s.W;
        float *x = malloc((size_t)(planes * hw) * 4), *y0 = malloc((size_t)planes * 4), *y1 = malloc((size_t)planes * 4);
        float *dx0 = malloc((size_t)(planes * hw) * 4), *dx1 = malloc((size_t)(planes * hw) * 4);
        fill(r, x, (size_t)(planes * hw), -5, 7);
        global_avgpool_forward(ctx, &s, x, y0);
        FOR_GRID(nn_grid_1d(planes), g) kb_gap_fwd(g, planes, hw, x, y1);
        CHECK(memcmp(y0, y1, (size_t)planes * 4) == 0, "kernels: global average pool %dx%d forward = pool.c", s.H, s.W);
        double *part = malloc((size_t)planes * 8 * sizeof *part); /* pool.cu's two kernels, eight threads per plane */
        memset(y1, 0, (size_t)planes * 4);
        FOR_GRID(nn_grid_1d(planes * 8), g) kb_plane_lanes(g, planes, hw, x, NULL, part);
        FOR_GRID(nn_grid_1d(planes), g) kb_plane_lanes_finish(g, planes, hw, x, NULL, part, 1, y1);
        CHECK(memcmp(y0, y1, (size_t)planes * 4) == 0, "kernels: global average pool %dx%d forward in lanes (nn_plane_sums) = pool.c",
              s.H, s.W);
        free(part);
        global_avgpool_backward(ctx, &s, y0, dx0);
        FOR_GRID(nn_grid_1d(planes * hw), g) kb_gap_bwd(g, planes, nn_div_for(hw, planes * hw), y0, dx1);
        CHECK(memcmp(dx0, dx1, (size_t)(planes * hw) * 4) == 0, "kernels: global average pool %dx%d backward = pool.c", s.H, s.W);
        free(x), free(y0), free(y1), free(dx0), free(dx1);
    }
}

/* linear's bias and bias gradient, conv2d_forward_ep's affine + activation epilogue */
static void test_linear_conv_epilogue(NnCtx *ctx, Rng *r) {
    LinearShape ls = {.N = 70, .in = 33, .out = 129};
    size_t nx = (size_t)ls.N * ls.in, nw = (size_t)ls.out * ls.in, ny = (size_t)ls.N * ls.out;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)ls.out * 4), *y0 = malloc(ny * 4), *y1 = malloc(ny * 4);
    float *dw = calloc(nw, 4), *db0 = malloc((size_t)ls.out * 4), *db1 = malloc((size_t)ls.out * 4);
    fill(r, x, nx, -1, 1), fill(r, w, nw, -1, 1), fill(r, b, (size_t)ls.out, -1, 1), fill(r, db0, (size_t)ls.out, -1, 1);
    memcpy(db1, db0, (size_t)ls.out * 4);
    linear_forward(ctx, &ls, x, w, b, y0);
    linear_forward(ctx, &ls, x, w, NULL, y1); /* the same GEMM, then the kernel's bias */
    FOR_GRID(nn_grid_1d((int64_t)ny), g) kb_add_bias_rows(g, ls.N, nn_div_for(ls.out, (int64_t)ny), b, y1);
    CHECK(first_diff(y0, y1, ny) == ny, "kernels: linear bias over the grid = linear.c's");
    linear_backward(ctx, &ls, x, w, y0, NULL, dw, db0); /* dy = y0 */
    FOR_GRID(nn_grid_1d(ls.out), g) kb_colsum_add(g, ls.N, ls.out, y0, db1);
    CHECK(first_diff(db0, db1, (size_t)ls.out) == (size_t)ls.out, "kernels: linear bias gradient (+=) over the grid = linear.c's");
    free(x), free(w), free(b), free(y0), free(y1), free(dw), free(db0), free(db1);

    int N = 3, K = 5, P = 37;
    size_t n = (size_t)N * K * P;
    float *v = malloc(n * 4), *res = malloc(n * 4), *ref = malloc(n * 4), *got = malloc(n * 4), sc[5], sh[5];
    fill(r, v, n, -4, 4), fill(r, res, n, -2, 2), fill(r, sc, 5, -2, 2), fill(r, sh, 5, -1, 1);
    const char *an[3] = {"none", "ReLU", "SiLU"};
    for (int act = 0; act < 3; act++)
        for (int with_res = 0; with_res < 2; with_res++) {
            for (int i = 0; i < N * K; i++)
                act_affine(v + (size_t)i * P, ref + (size_t)i * P, P, sc[i % K], sh[i % K], with_res ? res + (size_t)i * P : NULL,
                           (ActKind)act);
            memcpy(got, v, n * 4);
            FOR_GRID(nn_grid_1d((int64_t)n), g) kb_affine_act(g, N, nn_div_for(K, N * K), nn_div_for(P, (int64_t)n), sc, sh, with_res ? res : NULL, act, got);
            CHECK(first_diff(ref, got, n) == n, "kernels: conv epilogue scale/shift%s + %s = act_affine", with_res ? " + residual" : "",
                  an[act]);
        }
    free(v), free(res), free(ref), free(got);
}

/* max |a - b| over max |a|: the bound for results whose sums are added in another (fixed) order */
static double rel_diff(const float *a, const float *b, size_t n) {
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > num || d != d) num = d;
        if (fabs((double)a[i]) > den) den = fabs((double)a[i]);
    }
    return num / den;
}

/* BatchNorm's kernels, phase by phase as batchnorm.cu runs them (every thread of each (channel, slice) block
 * per phase, thread 0's store after the tree; the per-channel kernels over their grid), against
 * batchnorm.c: the tree and the slices add the same double terms in another order, so the comparison has
 * a bound (2e-6 relative; in practice equal or 1 ulp). Slices: 1, 3 and 7 per channel (the last one short). */
static void bn_blocks_tree(NnBnGeom g, NnBnShared *sh, double *part, int64_t c, int64_t s) {
    for (int64_t stride = NN_BLOCK / 2; stride > 0; stride /= 2)
        for (int64_t t = 0; t < NN_BLOCK; t++) kb_tree_step(t, stride, sh);
    kb_bn_part_store(c, s, g, sh, part);
}

/* batchnorm.cu's training forward and its backward (train or eval statistics), launch by launch: every thread of
 * each (channel, slice) block, the tree, the per-channel kernels over their grid (C <= 8, S <= 8) */
static void bn_forward_phases(NnBnGeom g, const void *x, const float *w, const float *b, float *rm, float *rv, float *nbt,
                              float *out, float *mean, float *invstd) {
    static NnBnShared sh;
    double part[8 * 8 * 2];
    float ab[16];
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t sl = 0; sl < g.slices; sl++) {
            for (int64_t t = 0; t < NN_BLOCK; t++) kb_bn_sums(c, sl, t, g, x, &sh);
            bn_blocks_tree(g, &sh, part, c, sl);
        }
    FOR_GRID(nn_grid_1d(g.C), gr) kb_bn_stats(gr, g, part, x, w, b, rm, rv, nbt, mean, invstd, ab);
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t sl = 0; sl < g.slices; sl++)
            for (int64_t t = 0; t < NN_BLOCK; t++) kb_bn_apply(c, sl, t, g, x, ab, out);
    kb_bn_count(nbt);
}
/* dx as floats, or dxh as halves of type g.xh (dx NULL) */
static void bn_backward_phases(NnBnGeom g, int train, const void *dout, const void *x, const float *w, const float *b,
                               const float *mean, const float *invstd, float *dw, float *db, float *dx, uint16_t *dxh) {
    static NnBnShared sh;
    double part[8 * 8 * 2];
    float kg[16];
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t sl = 0; sl < g.slices; sl++) {
            for (int64_t t = 0; t < NN_BLOCK; t++) kb_bn_bwd_sums(c, sl, t, g, dout, x, w, b, mean, invstd, &sh);
            bn_blocks_tree(g, &sh, part, c, sl);
        }
    FOR_GRID(nn_grid_1d(g.C), gr) kb_bn_bwd_params(gr, g, part, invstd, dw, db, kg);
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t sl = 0; sl < g.slices; sl++)
            for (int64_t t = 0; t < NN_BLOCK; t++) kb_bn_bwd_dx(c, sl, t, g, train, dout, x, w, b, mean, invstd, kg, dx, dxh, g.xh);
}

static void test_batchnorm(NnCtx *ctx, Rng *r) {
    int acts[3] = {ACT_NONE, ACT_RELU, ACT_SILU};
    double moms[2] = {0.1, -1.0};
    int64_t slice_counts[3] = {1, 3, 7};
    CHECK(nn_bn_slices(32, 64 * 12800) == 32 && nn_bn_slices(2048, 64 * 52) == 1 && nn_bn_slices(5, 999) == 1 &&
              nn_bn_slices(64, 64 * 4096) == 16,
          "kernels: BN slices per channel: about 1024 blocks, at least 4096 elements each, at least one");
    for (int ai = 0; ai < 3; ai++)
        for (int mi = 0; mi < 2; mi++)
            for (int si = 0; si < 3; si++) {
            BatchNorm2dShape s = batchnorm2d_shape(3, 5, 9, 37);
            s.act = (ActKind)acts[ai];
            s.momentum = moms[mi];
            if (ai == 2) s.eps = 1e-3;
            int C = s.C;
            size_t n = (size_t)s.N * s.C * s.H * s.W;
            float *x = malloc(n * 4), *dout = malloc(n * 4), *out0 = malloc(n * 4), *out1 = malloc(n * 4);
            float *dx0 = malloc(n * 4), *dx1 = malloc(n * 4);
            float w[5], b[5], rm0[5], rv0[5], rm1[5], rv1[5], m0[5], m1[5], is0[5], is1[5], dw0[5], dw1[5], db0[5], db1[5];
            float nbt0 = 3, nbt1 = 3;
            fill(r, x, n, -3, 5), fill(r, dout, n, -1, 1), fill(r, w, 5, 0.5f, 1.5f), fill(r, b, 5, -0.5f, 0.5f);
            fill(r, rm0, 5, -1, 1), fill(r, rv0, 5, 0.5f, 2), fill(r, dw0, 5, -1, 1), fill(r, db0, 5, -1, 1);
            if (mi == 1) /* a mean 40,000 times the spread: the one-pass sums are shifted by a value of the data */
                for (size_t i = 0; i < n; i++) x[i] = 1000.0f + 0.01f * x[i];
            if (mi == 1 && si == 2) /* and that value (each channel's first) an outlier: K far from the mean */
                for (int c = 0; c < s.C; c++) x[(size_t)c * s.H * s.W] = 0.0f;
            memcpy(rm1, rm0, sizeof rm0), memcpy(rv1, rv0, sizeof rv0), memcpy(dw1, dw0, sizeof dw0), memcpy(db1, db0, sizeof db0);
            batchnorm2d_forward_train(ctx, &s, x, w, b, rm0, rv0, &nbt0, out0, m0, is0);
            NnBnGeom g = {s.N, s.C, (int64_t)s.H * s.W, s.eps, s.momentum, (int)s.act, slice_counts[si], 0, 0};
            int64_t S = g.slices;
            bn_forward_phases(g, x, w, b, rm1, rv1, &nbt1, out1, m1, is1);
            const char *an[3] = {"", " + ReLU", " + SiLU"};
            double e = fmax(fmax(rel_diff(out0, out1, n), rel_diff(m0, m1, 5)),
                            fmax(rel_diff(is0, is1, 5), fmax(rel_diff(rm0, rm1, 5), rel_diff(rv0, rv1, 5))));
            CHECK(e <= 2e-6 && nbt0 == nbt1, "kernels: BN%s train forward (momentum %s%s%s, %lld slices): one pass against the CPU's "
                  "two: output, mean, invstd, running stats, counter (max rel. diff %.1e)", an[ai], mi ? "None" : "0.1",
                  mi ? ", inputs 1000 + 0.01 * [-3, 5]" : "", mi && si == 2 ? " but each channel's first 0" : "", (long long)S, e);
            for (int train = 0; train < 2; train++) {
                memcpy(dw1, dw0, sizeof dw0), memcpy(db1, db0, sizeof db0);
                float dwr[5], dbr[5];
                memcpy(dwr, dw0, sizeof dw0), memcpy(dbr, db0, sizeof db0);
                if (train) batchnorm2d_backward_train(ctx, &s, dout, x, w, b, m0, is0, dx0, dwr, dbr);
                else batchnorm2d_backward_eval(ctx, &s, dout, x, w, b, m0, is0, dx0, dwr, dbr);
                bn_backward_phases(g, train, dout, x, w, b, m0, is0, dw1, db1, dx1, NULL);
                e = fmax(rel_diff(dx0, dx1, n), fmax(rel_diff(dwr, dw1, 5), rel_diff(dbr, db1, 5)));
                CHECK(e <= 2e-6, "kernels: BN%s %s backward (momentum %s, %lld slices): dx, dweight +=, dbias += (max rel. diff %.1e)",
                      an[ai], train ? "train" : "eval", mi ? "None" : "0.1", (long long)S, e);
            }
            if (si > 0) { /* the element-wise kernels have no slices: once per shape */
                free(x), free(dout), free(out0), free(out1), free(dx0), free(dx1);
                continue;
            }
            /* the NN_INFER epilogue's constants */
            float sc0[5], sh0[5], sc1[5], sh1[5];
            batchnorm2d_eval_affine(C, s.eps, w, b, rm0, rv0, sc0, sh0);
            FOR_GRID(nn_grid_1d(C), gr) kb_bn_eval_affine(gr, C, (float)s.eps, w, b, rm0, rv0, sc1, sh1);
            CHECK(!memcmp(sc0, sc1, sizeof sc0) && !memcmp(sh0, sh1, sizeof sh0), "kernels: BN eval affine (eps %g) = batchnorm.c", s.eps);
            /* eval forward: element-wise, the CPU layer's operations: bit for bit */
            batchnorm2d_forward_eval(ctx, &s, x, w, b, rm0, rv0, out0, m0, is0);
            memset(m1, 0, sizeof m1), memset(is1, 0, sizeof is1);
            FOR_GRID(nn_grid_1d((int64_t)n), gr) kb_bn_eval(gr, g, nn_div_for(g.hw, (int64_t)n), nn_div_for(g.C, g.N * g.C), x, w, b, rm0, rv0, out1, m1, is1);
            CHECK(first_diff(out0, out1, n) == n && !memcmp(m0, m1, sizeof m0) && !memcmp(is0, is1, sizeof is0),
                  "kernels: BN%s eval forward = batchnorm.c, bit for bit", an[ai]);
            free(x), free(dout), free(out0), free(out1), free(dx0), free(dx1);
        }
}

/* BatchNorm on a convolution's half result (convbn.h under AMP): every phase of the kernels reading halves
 * (NnBnGeom.xh) gives the bits of the same phase on their widened copy, and batchnorm.c's *_half entry
 * points (the simulated GPU's layer) the float layer's bits on it. The halves include fp16's overflow to
 * inf in one channel, whose statistics then are NaN as the float path's. */
static void bn_phases(NnBnGeom g, const void *x, const void *dout, const float *w, const float *b, float *rm, float *rv,
                      float *nbt, float *out, float *mean, float *invstd, float *dw, float *db, float *dx, uint16_t *dxh,
                      float *ev) {
    int64_t n = g.N * g.C * g.hw;
    bn_forward_phases(g, x, w, b, rm, rv, nbt, out, mean, invstd);
    bn_backward_phases(g, 1, dout, x, w, b, mean, invstd, dw, db, dx, dxh);
    FOR_GRID(nn_grid_1d(n), gr) kb_bn_eval(gr, g, nn_div_for(g.hw, n), nn_div_for(g.C, g.N * g.C), x, w, b, rm, rv, ev, NULL, NULL);
}

/* a == b as bit patterns, any NaN matching any NaN (which NaN an operation passes on depends on how the
 * compiler ordered its operands) */
static int same_bits(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a) && !(a[i] != a[i] && b[i] != b[i])) return 0;
    return 1;
}
/* halves of type amp that differ from the float v rounded, NaN matching NaN, over n */
static size_t half_diffs(const uint16_t *h, const float *v, size_t n, int amp) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float w = kb_from_half(h[i], amp);
        bad += h[i] != kb_to_half(v[i], amp) && !(w != w && v[i] != v[i]);
    }
    return bad;
}

static void test_batchnorm_half(NnCtx *ctx, Rng *r) {
    BatchNorm2dShape s = batchnorm2d_shape(3, 4, 7, 29);
    size_t n = (size_t)s.N * s.C * s.H * s.W, hw = (size_t)s.H * s.W;
    float *xf = malloc(n * 4), *dout = malloc(n * 4);
    uint16_t *xh = malloc(n * 2), *dxo = malloc(n * 2), *douth = malloc(n * 2);
    float *o[2], *dx[2], *ev[2];
    for (int k = 0; k < 2; k++) o[k] = malloc(n * 4), dx[k] = malloc(n * 4), ev[k] = malloc(n * 4);
    for (int amp = 1; amp <= 2; amp++)
        for (int act = 0; act < 3; act++) {
            fill(r, xf, n, -6, 9), fill(r, dout, n, -1, 1);
            if (amp == 2) xf[1 * hw + 5] = 70000.0f; /* image 0, channel 1: fp16 overflows to inf */
            for (size_t i = 0; i < n; i++) xh[i] = kb_to_half(xf[i], amp), xf[i] = kb_from_half(xh[i], amp);
            for (size_t i = 0; i < n; i++) douth[i] = kb_to_half(dout[i], amp), dout[i] = kb_from_half(douth[i], amp);
            s.act = (ActKind)act;
            float w[4] = {0.7f, 1.2f, -0.4f, 1.0f}, b[4] = {0.1f, -0.3f, 0.0f, 0.5f};
            float rm[2][4], rv[2][4], m[2][4], is[2][4], dw[2][4], db[2][4], nbt[2] = {2, 2};
            int ok = 1;
            for (int k = 0; k < 2; k++) { /* k 0: the float input and dout, k 1: their halves */
                for (int c = 0; c < 4; c++) rm[k][c] = 0.1f * c, rv[k][c] = 1.0f + 0.2f * c, dw[k][c] = db[k][c] = 0.5f;
                NnBnGeom g = {s.N, s.C, (int64_t)hw, s.eps, s.momentum, act, 3, k ? amp : 0, k ? amp : 0};
                bn_phases(g, k ? (const void *)xh : (const void *)xf, k ? (const void *)douth : (const void *)dout, w, b, rm[k],
                          rv[k], &nbt[k], o[k], m[k], is[k], dw[k], db[k], dx[k], NULL, ev[k]);
            }
            { /* dx as halves (the next convolution's dy): the float dx's bits rounded */
                NnBnGeom g = {s.N, s.C, (int64_t)hw, s.eps, s.momentum, act, 3, amp, 0};
                float rm2[4], rv2[4], m2[4], is2[4], dw2[4], db2[4], nbt2 = 2;
                for (int c = 0; c < 4; c++) rm2[c] = 0.1f * c, rv2[c] = 1.0f + 0.2f * c, dw2[c] = db2[c] = 0.5f;
                bn_phases(g, xh, dout, w, b, rm2, rv2, &nbt2, o[1], m2, is2, dw2, db2, NULL, dxo, ev[1]);
                size_t bad = half_diffs(dxo, dx[1], n, amp);
                CHECK(!bad && same_bits(dw2, &dw[1][0], 4) && same_bits(db2, &db[1][0], 4),
                      "kernels: BN (act %d) backward writing dx as %s halves: the float dx rounded, bit for bit (%zu differ)", act,
                      amp == 1 ? "bf16" : "fp16", bad);
            }
            ok = same_bits(o[0], o[1], n) && same_bits(dx[0], dx[1], n) && same_bits(ev[0], ev[1], n) &&
                 same_bits(&rm[0][0], &rm[1][0], 4) && same_bits(&rv[0][0], &rv[1][0], 4) && same_bits(&m[0][0], &m[1][0], 4) &&
                 same_bits(&is[0][0], &is[1][0], 4) && same_bits(&dw[0][0], &dw[1][0], 4) && same_bits(&db[0][0], &db[1][0], 4);
            CHECK(ok, "kernels: BN (act %d) on %s halves%s, dout too: every phase = the same phase on their widened floats, bit for bit", act,
                  amp == 1 ? "bf16" : "fp16", amp == 2 ? " (one channel with an inf)" : "");
            /* batchnorm.c's entry points: the float layer on the widened copy */
            for (int k = 0; k < 2; k++)
                for (int c = 0; c < 4; c++) rm[k][c] = 0.1f * c, rv[k][c] = 1.0f + 0.2f * c, dw[k][c] = db[k][c] = 0.5f;
            batchnorm2d_forward_train(ctx, &s, xf, w, b, rm[0], rv[0], &nbt[0], o[0], m[0], is[0]);
            int rc = batchnorm2d_forward_train_half(ctx, &s, (NnAmp)amp, xh, w, b, rm[1], rv[1], &nbt[1], o[1], m[1], is[1]);
            batchnorm2d_backward_train(ctx, &s, dout, xf, w, b, m[0], is[0], dx[0], dw[0], db[0]);
            rc |= batchnorm2d_backward_half(ctx, &s, 1, douth, 1, (NnAmp)amp, xh, w, b, m[1], is[1], dx[1], NULL, dw[1], db[1]);
            batchnorm2d_forward_eval(ctx, &s, xf, w, b, rm[0], rv[0], ev[0], NULL, NULL);
            rc |= batchnorm2d_forward_eval_half(ctx, &s, (NnAmp)amp, xh, w, b, rm[1], rv[1], ev[1], NULL, NULL);
            ok = !rc && same_bits(o[0], o[1], n) && same_bits(dx[0], dx[1], n) && same_bits(ev[0], ev[1], n) &&
                 same_bits(&m[0][0], &m[1][0], 4) && same_bits(&is[0][0], &is[1][0], 4) && same_bits(&dw[0][0], &dw[1][0], 4) &&
                 same_bits(&db[0][0], &db[1][0], 4) && nbt[0] == nbt[1];
            float dw3[4], db3[4];
            memcpy(dw3, &dw[0][0], sizeof dw3), memcpy(db3, &db[0][0], sizeof db3);
            batchnorm2d_backward_train(ctx, &s, dout, xf, w, b, m[0], is[0], dx[0], &dw[0][0], &db[0][0]);
            rc |= batchnorm2d_backward_half(ctx, &s, 1, dout, 0, (NnAmp)amp, xh, w, b, m[1], is[1], NULL, dxo, dw3, db3);
            size_t bad = half_diffs(dxo, dx[0], n, amp);
            ok &= !rc && !bad && same_bits(dw3, &dw[0][0], 4) && same_bits(db3, &db[0][0], 4);
            float dw4[4] = {0}, db4[4] = {0}, dw5[4] = {0}, db5[4] = {0}; /* no dx wanted: the parameter gradients alone */
            batchnorm2d_backward_train(ctx, &s, dout, xf, w, b, m[0], is[0], NULL, dw4, db4);
            ok &= batchnorm2d_backward_half(ctx, &s, 1, dout, 0, (NnAmp)amp, xh, w, b, m[1], is[1], NULL, NULL, dw5, db5) == 0 &&
                  same_bits(dw4, dw5, 4) && same_bits(db4, db5, 4);
            CHECK(ok, "kernels: batchnorm2d_*_half (act %d, %s) = the float layer on the widened input, bit for bit (dx as "
                  "halves too, and none; dout as halves)", act, amp == 1 ? "bf16" : "fp16");
        }
    char msg[256];
    int rc = batchnorm2d_forward_eval_half(ctx, &s, NN_AMP_OFF, xh, NULL, NULL, o[0], o[0], o[1], NULL, NULL);
    snprintf(msg, sizeof msg, "%s", err_msg());
    CHECK(rc < 0 && strstr(msg, "not bf16 or fp16"), "kernels: a half input of no half type is refused (%s)", msg);
    Conv2dShape cs = {.N = 1, .C = 1, .H = 4, .W = 4, .K = 1, .KH = 3, .KW = 3};
    conv2d_shape_init(&cs);
    int made = 1;
    rc = conv2d_forward_half(ctx, &cs, xf, NULL, xf, xh, dxo, &made);
    snprintf(msg, sizeof msg, "%s", err_msg());
    CHECK(rc < 0 && !made && strstr(msg, "mixed precision"), "kernels: conv2d_forward_half on the CPU is refused (%s)", msg);
    rc = conv2d_backward_half(ctx, &cs, xf, NULL, NULL, xf, xh, NULL, NULL, NULL);
    snprintf(msg, sizeof msg, "%s", err_msg());
    CHECK(rc < 0 && strstr(msg, "mixed precision"), "kernels: conv2d_backward_half on the CPU is refused (%s)", msg);
    free(xf), free(dout), free(xh), free(dxo), free(douth);
    for (int k = 0; k < 2; k++) free(o[k]), free(dx[k]), free(ev[k]);
}

/* dropout's masks drawn by the kernel body (rng.c's generator re-stated in kernels.h) = dropout.c's, and
 * the mask application of dropout backward and drop path */
static void test_dropout(NnCtx *ctx, Rng *r) {
    size_t n = 3 * NN_DROPOUT_BLOCK + 123;
    float *x = malloc(n * 4), *o0 = malloc(n * 4), *o1 = malloc(n * 4);
    uint8_t *m0 = malloc(n), *m1 = malloc(n);
    fill(r, x, n, -2, 2);
    float ps[3] = {0.3f, 0.5f, 0.9f};
    for (int k = 0; k < 3; k++) {
        DropoutShape s = {.n = n, .p = ps[k], .training = 1};
        dropout_forward(ctx, &s, 1234 + k, 77, x, o0, m0);
        Rng kr;
        rng_derive(&kr, 1234 + k, 77);
        uint64_t key = rng_next(&kr); /* dropout.c's mask key, as dropout.cu computes it on the host */
        float scale = 1.0f / (float)(1.0 - (double)ps[k]);
        FOR_GRID(nn_grid_1d((int64_t)((n + NN_DROPOUT_BLOCK - 1) / NN_DROPOUT_BLOCK)), g)
            kb_dropout(g, (int64_t)n, key, 1.0 - (double)ps[k], scale, x, o1, m1);
        CHECK(!memcmp(m0, m1, n) && first_diff(o0, o1, n) == n, "kernels: dropout p=%.1f: the CPU's mask and output, bit for bit", ps[k]);
        dropout_backward(ctx, &s, x, m0, o0);
        FOR_GRID(nn_grid_1d((int64_t)n), g) kb_apply_mask(g, (int64_t)n, nn_div_for(1, (int64_t)n), scale, x, m0, o1);
        CHECK(first_diff(o0, o1, n) == n, "kernels: dropout p=%.1f backward = dropout.c", ps[k]);
    }
    DropPathShape dp = {.N = 7, .per_sample = n / 7, .p = 0.4f, .training = 1, .mode = DROP_PATH_ROW};
    size_t nd = (size_t)dp.N * dp.per_sample;
    drop_path_forward(ctx, &dp, 5, 9, x, o0, m0);
    FOR_GRID(nn_grid_1d((int64_t)nd), g) kb_apply_mask(g, (int64_t)nd, nn_div_for((int64_t)dp.per_sample, (int64_t)nd), 1.0f / (float)(1.0 - 0.4), x, m0, o1);
    CHECK(first_diff(o0, o1, nd) == nd, "kernels: drop path (row) with the CPU's mask = dropout.c");
    { /* dropout.cu draws the mask on the device: dropout.c's bytes; inactive: all ones */
        Rng kr;
        rng_derive(&kr, 5, 9);
        uint64_t key = rng_next(&kr);
        uint8_t md[7], ones[7];
        FOR_GRID(1, g) kb_drop_path_mask(g, 7, key, 1.0 - (double)dp.p, 1, md);
        DropPathShape off = dp;
        off.training = 0;
        drop_path_forward(ctx, &off, 5, 9, x, o0, m1);
        FOR_GRID(1, g) kb_drop_path_mask(g, 7, 0, 1.0, 0, ones);
        int zeros = 0;
        for (int i = 0; i < 7; i++) zeros += !md[i];
        CHECK(!memcmp(md, m0, 7) && !memcmp(ones, m1, 7) && zeros > 0 && zeros < 7,
              "kernels: drop path's mask drawn by kb_drop_path_mask = dropout.c's (%d of 7 dropped), all ones when off", zeros);
    }
    free(x), free(o0), free(o1), free(m0), free(m1);
}

static int make_table(ParamTable *t) {
    params_init(t);
    int64_t s1[2] = {300, 141}, s2[1] = {41}, s3[4] = {8, 3, 3, 3}, s0[1] = {1};
    params_add(t, "a.weight", PARAM_WEIGHT, 2, s1); /* > NN_OPT_CHUNK floats: several chunks; 3 clip blocks */
    params_add(t, "a.bias", PARAM_WEIGHT, 1, s2);
    params_add(t, "bn.running_mean", PARAM_BUFFER, 1, s2);
    params_add(t, "bn.num_batches_tracked", PARAM_COUNT, 0, s0);
    params_add(t, "frozen.weight", PARAM_WEIGHT, 4, s3);
    params_add(t, "head.weight", PARAM_WEIGHT, 4, s3);
    if (params_alloc(t) < 0) return -1;
    t->e[4].frozen = 1;
    return 0;
}

static void test_optim(NnCtx *ctx, Rng *r) {
    OptimConfig cfgs[4] = {optim_adamw_defaults(), optim_sgd_defaults(0.05), optim_sgd_defaults(0.05),
                           optim_sgd_defaults(0.1)};
    cfgs[0].lr = 3e-3;
    cfgs[1].momentum = 0.9, cfgs[1].weight_decay = 1e-3;
    cfgs[2].momentum = 0.9, cfgs[2].nesterov = 1;
    const char *names[4] = {"AdamW", "SGD momentum + wd", "SGD Nesterov", "SGD plain"};
    for (int c = 0; c < 4; c++) {
        ParamTable ta, tb;
        Optim oa, ob;
        if (make_table(&ta) < 0 || make_table(&tb) < 0 || optim_init(&oa, &cfgs[c], &ta) < 0 ||
            optim_init(&ob, &cfgs[c], &tb) < 0) {
            CHECK(0, "kernels: optimiser set-up");
            return;
        }
        optim_set_lr_mult(&oa, &ta, "head.", 0.1f), optim_set_lr_mult(&ob, &tb, "head.", 0.1f);
        optim_set_wd_mult(&oa, &ta, "a.bias", 0.0f), optim_set_wd_mult(&ob, &tb, "a.bias", 0.0f);
        fill(r, ta.data, ta.total, -1, 1);
        memcpy(tb.data, ta.data, ta.total * 4);
        int64_t nch = 0;
        NnOptChunk *ch = optim_chunks(&tb, &nch);
        int64_t expect = 0;
        for (int i = 0; i < tb.n; i++)
            if (optim_updates(&tb.e[i])) expect += (int64_t)((tb.e[i].numel + NN_OPT_CHUNK - 1) / NN_OPT_CHUNK);
        CHECK(ch && nch == expect, "kernels: %s: %lld chunks of the optimised entries", names[c], (long long)nch);
        int same = 1;
        for (int step = 0; step < 3 && ch; step++) {
            fill(r, ta.grad, ta.total, -0.5f, 0.5f);
            memcpy(tb.grad, ta.grad, ta.total * 4);
            optim_step(ctx, &oa, &ta);
            const NnOptStep *es = optim_prepare_step(&ob, &tb);
            int64_t G = nch < 65535 ? nch : 65535; /* optim.cu's grid */
            NnOptConsts k = optim_consts(&ob.cfg);
            FOR_GRID(G, g) kb_optim_step(g, k, ch, nch, es, tb.data, tb.grad, ob.m, cfgs[c].kind == OPTIM_ADAMW ? ob.v : NULL);
            same &= memcmp(ta.data, tb.data, ta.total * 4) == 0 && memcmp(oa.m, ob.m, ta.total * 4) == 0 &&
                    (!oa.v || memcmp(oa.v, ob.v, ta.total * 4) == 0);
        }
        CHECK(same, "kernels: %s fused step over the grid = optim_step (3 steps; weights and moments bit for bit)", names[c]);
        /* clip_grad_norm: the block sums over the grid, added in order as clip_grad_norm_cuda does, then the
         * scaling; against the CPU's total and gradients */
        for (int big = 0; big < 2 && c == 0; big++) {
            fill(r, ta.grad, ta.total, -0.5f, 0.5f);
            memcpy(tb.grad, ta.grad, ta.total * 4);
            float max_norm = big ? 1e6f : 0.5f;
            float tot0 = clip_grad_norm(ctx, &ta, max_norm);
            int64_t nb = (int64_t)((tb.total + NN_CLIP_BLOCK - 1) / NN_CLIP_BLOCK), ne = 0, ent[2 * 8];
            for (int i = 0; i < tb.n; i++)
                if (optim_updates(&tb.e[i])) ent[2 * ne] = (int64_t)tb.e[i].offset, ent[2 * ne + 1] = (int64_t)tb.e[i].numel, ne++;
            double blocks[8], sum = 0;
            FOR_GRID(nn_grid_1d(nb), g) kb_clip_sumsq(g, (int64_t)tb.total, ent, ne, tb.grad, blocks);
            for (int64_t b = 0; b < nb; b++) sum += blocks[b];
            float tot1 = (float)sqrt(sum), coef = max_norm / (tot1 + 1e-6f);
            if (!(coef >= 1.0f)) FOR_GRID(nch < 65535 ? nch : 65535, g) kb_clip_scale(g, ch, nch, coef, tb.grad);
            CHECK(tot0 == tot1 && !memcmp(ta.grad, tb.grad, ta.total * 4), "kernels: clip_grad_norm (%s) over the grid = optim.c "
                  "(norm %g, gradients bit for bit)", big ? "no clipping" : "clipped", tot0);
        }
        free(ch);
        optim_free(&oa), optim_free(&ob), params_free(&ta), params_free(&tb);
    }
}

static void test_unscale(void) {
    float g[1000];
    for (int i = 0; i < 1000; i++) g[i] = (float)i * 1024.0f;
    int inf = 0;
    FOR_GRID(nn_grid_1d(1000), gr) kb_unscale(gr, 1000, 1.0f / 1024.0f, g, &inf);
    int ok = !inf;
    for (int i = 0; i < 1000; i++) ok &= g[i] == (float)i;
    CHECK(ok, "kernels: unscale by 1/scale, all finite: no inf found");
    g[517] = INFINITY;
    FOR_GRID(nn_grid_1d(1000), gr) kb_unscale(gr, 1000, 0.5f, g, &inf);
    CHECK(inf, "kernels: unscale finds an inf");
    inf = 0;
    g[517] = NAN;
    FOR_GRID(nn_grid_1d(1000), gr) kb_unscale(gr, 1000, 0.5f, g, &inf);
    CHECK(inf, "kernels: unscale finds a NaN");
    inf = 0;
    g[517] = 3e38f;
    FOR_GRID(nn_grid_1d(1000), gr) kb_unscale(gr, 1000, 2.0f, g, &inf);
    CHECK(inf, "kernels: unscale finds an overflow to inf");
}

/* stem.c's passes against kb_stem_wsum, kb_stem_wgrad, kb_bcast_sub, kb_batch_sum and kb_fill, bit for bit:
 * ResNet's 7x7 and EfficientNet's 3x3 stems, plain and ImageNet-normalised */
static void test_stem(NnCtx *ctx, Rng *r) {
    static const float MEAN[3] = {0.485f, 0.456f, 0.406f}, STD[3] = {0.229f, 0.224f, 0.225f};
    int shapes[2][2] = {{64, 49}, {32, 9}};
    for (int sh = 0; sh < 2; sh++)
        for (int norm = 0; norm < 2; norm++) {
            int K = shapes[sh][0], KK = shapes[sh][1];
            size_t n1 = (size_t)K * KK, n3 = 3 * n1;
            NnStemNorm sn;
            memset(&sn, 0, sizeof sn);
            sn.norm = norm;
            for (int c = 0; c < 3; c++) {
                sn.inv_std[c] = 1.0f / STD[c];
                sn.mean_std[c] = MEAN[c] / STD[c];
            }
            float *w = malloc(n3 * 4), *s0 = malloc(n1 * 4), *s1 = malloc(n1 * 4), *m0 = malloc(n1 * 4), *m1 = malloc(n1 * 4);
            float *dw0 = malloc(n3 * 4), *dw1 = malloc(n3 * 4);
            fill(r, w, n3, -0.3f, 0.3f);
            memset(m0, 0, n1 * 4);
            memset(m1, 0, n1 * 4);
            stem_weight_sum(ctx, K, KK, &sn, w, s0, m0);
            FOR_GRID(nn_grid_1d((int64_t)n1), g) kb_stem_wsum(g, K, KK, sn, w, s1, m1);
            CHECK(first_diff(s0, s1, n1) == n1 && first_diff(m0, m1, n1) == n1,
                  "kernels: stem %dx%d weight sum%s = stem.c", K, KK, norm ? " (ImageNet-normalised, + the mean's weight)" : "");
            fill(r, dw0, n3, -1, 1);
            memcpy(dw1, dw0, n3 * 4);
            fill(r, s0, n1, -2, 2); /* as dwsum, dwm */
            fill(r, m0, n1, -2, 2);
            stem_weight_grad(ctx, K, KK, &sn, s0, norm ? m0 : NULL, dw0);
            FOR_GRID(nn_grid_1d((int64_t)n3), g) kb_stem_wgrad(g, K, KK, sn, s0, norm ? m0 : NULL, dw1);
            CHECK(first_diff(dw0, dw1, n3) == n3, "kernels: stem %dx%d weight gradient spread (+=)%s = stem.c", K, KK,
                  norm ? " (normalised)" : "");
            free(w), free(s0), free(s1), free(m0), free(m1), free(dw0), free(dw1);
        }
    /* per-image sizes past the grid's threads, so that items stride */
    int64_t n = 3, per = (int64_t)NN_GRID_MAX * NN_BLOCK + 77;
    size_t tot = (size_t)(n * per);
    float *x = malloc(tot * 4), *c = malloc((size_t)per * 4), *y0 = malloc(tot * 4), *y1 = malloc(tot * 4);
    fill(r, x, tot, -3, 3);
    fill(r, c, (size_t)per, -1, 1);
    memcpy(y0, x, tot * 4);
    memcpy(y1, x, tot * 4);
    stem_sub_bcast(ctx, n, per, c, y0);
    FOR_GRID(nn_grid_1d(n * per), g) kb_bcast_sub(g, n, nn_div_for(per, n * per), c, y1);
    CHECK(first_diff(y0, y1, tot) == tot, "kernels: stem correction (each image minus the ones image's) = stem.c");
    stem_batch_sum(ctx, n, per, x, y0);
    memset(y1, 0xff, (size_t)per * 4);
    FOR_GRID(nn_grid_1d(per), g) kb_batch_sum(g, n, per, x, y1);
    CHECK(first_diff(y0, y1, (size_t)per) == (size_t)per, "kernels: batch sum of the output gradient = stem.c (copy + grad_accumulate)");
    float vals[2] = {1.0f, 0.0f};
    for (int i = 0; i < 2; i++) {
        memset(y0, 0xff, tot * 4);
        memset(y1, 0xff, tot * 4);
        stem_fill(ctx, tot, vals[i], y0);
        FOR_GRID(nn_grid_1d((int64_t)tot), g) kb_fill(g, (int64_t)tot, vals[i], y1);
        CHECK(memcmp(y0, y1, tot * 4) == 0, "kernels: fill with %g = stem.c", vals[i]);
    }
    free(x), free(c), free(y0), free(y1);
}

/* se.c against kb_se_scale, and se_backward against se.cu's composition (the same layer calls, its two loops
 * as kb_se_gate_dot and kb_se_dx_acc over their grids), bit for bit */
static void test_se(NnCtx *ctx, Rng *r) {
    SEShape cases[] = {{.N = 3, .C = 40, .H = 7, .W = 9, .R = 10, .silu = 1},
                       {.N = 2, .C = 96, .H = 1, .W = 2, .R = 4, .silu = 1},
                       {.N = 4, .C = 16, .H = 13, .W = 5, .R = 8, .silu = 0}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        SEShape s = cases[k];
        size_t nc = (size_t)s.N * s.C, nr = (size_t)s.N * s.R, hw = (size_t)s.H * s.W, nx = nc * hw;
        size_t nw1 = (size_t)s.R * s.C, nw2 = (size_t)s.C * s.R;
        float *x = malloc(nx * 4), *dy = malloc(nx * 4), *y0 = malloc(nx * 4), *y1 = malloc(nx * 4);
        float *w1 = malloc(nw1 * 4), *b1 = malloc((size_t)s.R * 4), *w2 = malloc(nw2 * 4), *b2 = malloc((size_t)s.C * 4);
        float *pooled = malloc(nc * 4), *h = malloc(nr * 4), *a = malloc(nr * 4), *sc = malloc(nc * 4);
        fill(r, x, nx, -2, 2), fill(r, dy, nx, -1, 1), fill(r, w1, nw1, -0.5f, 0.5f), fill(r, b1, (size_t)s.R, -0.1f, 0.1f);
        fill(r, w2, nw2, -0.5f, 0.5f), fill(r, b2, (size_t)s.C, -0.1f, 0.1f);
        se_forward(ctx, &s, x, w1, b1, w2, b2, y0, pooled, h, a, sc);
        FOR_GRID(nn_grid_1d((int64_t)(nc * hw)), g) kb_se_scale(g, (int64_t)nc, nn_div_for((int64_t)hw, (int64_t)nx), x, sc, y1);
        CHECK(first_diff(y0, y1, nx) == nx, "kernels: SE scaling %dx%dx%dx%d = se.c", s.N, s.C, s.H, s.W);
        float *dx0 = malloc(nx * 4), *dx1 = malloc(nx * 4), *gw[2][4];
        for (int v = 0; v < 2; v++) {
            gw[v][0] = calloc(nw1, 4), gw[v][1] = calloc((size_t)s.R, 4), gw[v][2] = calloc(nw2, 4), gw[v][3] = calloc((size_t)s.C, 4);
        }
        se_backward(ctx, &s, dy, x, w1, w2, pooled, h, a, sc, dx0, gw[0][0], gw[0][1], gw[0][2], gw[0][3]);
        /* se.cu's se_backward_cuda, step by step */
        float *ds = malloc(nc * 4), *dpool = malloc(nc * 4), *da = malloc(nr * 4), *dh = malloc(nr * 4);
        FOR_GRID(nn_grid_1d((int64_t)nc), g) kb_se_gate_dot(g, (int64_t)nc, (int64_t)hw, dy, x, ds);
        { /* se.cu's nn_plane_sums: the same sums in eight lanes per plane */
            double *part = malloc(nc * 8 * sizeof *part);
            float *ds8 = malloc(nc * 4);
            FOR_GRID(nn_grid_1d((int64_t)nc * 8), g) kb_plane_lanes(g, (int64_t)nc, (int64_t)hw, dy, x, part);
            FOR_GRID(nn_grid_1d((int64_t)nc), g) kb_plane_lanes_finish(g, (int64_t)nc, (int64_t)hw, dy, x, part, 0, ds8);
            CHECK(memcmp(ds, ds8, nc * 4) == 0, "kernels: SE gate gradient %dx%dx%dx%d in lanes (nn_plane_sums) = kb_se_gate_dot",
                  s.N, s.C, s.H, s.W);
            free(part), free(ds8);
        }
        sigmoid_backward(ctx, nc, ds, sc, ds);
        LinearShape l1 = {.N = s.N, .in = s.C, .out = s.R}, l2 = {.N = s.N, .in = s.R, .out = s.C};
        linear_backward(ctx, &l2, a, w2, ds, da, gw[1][2], gw[1][3]);
        if (s.silu) silu_backward(ctx, nr, da, h, dh);
        else relu_backward(ctx, nr, da, a, dh);
        linear_backward(ctx, &l1, pooled, w1, dh, dpool, gw[1][0], gw[1][1]);
        GlobalPoolShape gp = {.N = s.N, .C = s.C, .H = s.H, .W = s.W};
        global_avgpool_backward(ctx, &gp, dpool, dx1);
        FOR_GRID(nn_grid_1d((int64_t)nx), g) kb_se_dx_acc(g, (int64_t)nc, nn_div_for((int64_t)hw, (int64_t)nx), dy, sc, dx1);
        int same = first_diff(dx0, dx1, nx) == nx && first_diff(gw[0][0], gw[1][0], nw1) == nw1 &&
                   first_diff(gw[0][1], gw[1][1], (size_t)s.R) == (size_t)s.R && first_diff(gw[0][2], gw[1][2], nw2) == nw2 &&
                   first_diff(gw[0][3], gw[1][3], (size_t)s.C) == (size_t)s.C;
        CHECK(same, "kernels: SE backward %dx%dx%dx%d (%s) as se.cu composes it = se.c (dx and the four parameter gradients)",
              s.N, s.C, s.H, s.W, s.silu ? "SiLU" : "ReLU");
        for (int v = 0; v < 2; v++)
            for (int i = 0; i < 4; i++) free(gw[v][i]);
        free(x), free(dy), free(y0), free(y1), free(w1), free(b1), free(w2), free(b2), free(pooled), free(h), free(a), free(sc);
        free(dx0), free(dx1), free(ds), free(dpool), free(da), free(dh);
    }
}

/* ---- mixed precision's casts (nn/amp.h) ---- */

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* f rounded to a binary format with `sig` significant bits, subnormal unit 2^emin_sub and largest finite
 * value `max`, round to nearest even, in double (exact here): an implementation independent of kernels.h's
 * bit manipulations. fp16: 11, -24, 65504; bf16: 8, -133, (2 - 2^-7) 2^127. */
static float ref_round(float f, int sig, int emin_sub, double max) {
    if (isnan(f) || isinf(f) || f == 0.0f) return f;
    int e;
    frexp((double)f, &e); /* f = m 2^e, 0.5 <= |m| < 1 */
    int ue = e - sig;
    if (ue < emin_sub) ue = emin_sub;
    double unit = ldexp(1.0, ue), r = nearbyint((double)f / unit) * unit; /* nearbyint: to nearest even */
    if (fabs(r) > max) return f < 0 ? -INFINITY : INFINITY;
    if (r == 0.0) return f < 0 ? -0.0f : 0.0f;
    return (float)r;
}

static void test_amp_casts(void) {
    /* known bit patterns */
    static const struct { uint32_t f; uint16_t h; } F16[] = {
        {0x3f800000u, 0x3c00u}, {0xc0000000u, 0xc000u}, {0x477fe000u, 0x7bffu} /* 65504 */,
        {0x477fefffu, 0x7bffu} /* just under 65520 */, {0x477ff000u, 0x7c00u} /* 65520: ties to inf */,
        {0x501502f9u, 0x7c00u} /* 1e10 */, {0xff800000u, 0xfc00u}, {0x7f800000u, 0x7c00u},
        {0x38800000u, 0x0400u} /* 2^-14, the smallest normal */, {0x33800000u, 0x0001u} /* 2^-24 */,
        {0x33000000u, 0x0000u} /* 2^-25: a tie, to even 0 */, {0x33000001u, 0x0001u}, {0x33c00000u, 0x0002u} /* 1.5 units */,
        {0x387fc000u, 0x03ffu} /* the largest subnormal */, {0x387fe000u, 0x0400u} /* ties up to the smallest normal */,
        {0x3dcccccdu, 0x2e66u} /* 0.1 */, {0x3eaaaaabu, 0x3555u} /* 1/3 */, {0x80000000u, 0x8000u},
        {0x45001000u, 0x6800u} /* 2049: a tie, to even 2048 */, {0x45003000u, 0x6802u} /* 2051 -> 2052 */,
        {0x00000001u, 0x0000u} /* a float subnormal */, {0xb3800000u, 0x8001u}};
    int ok = 1;
    for (size_t i = 0; i < sizeof F16 / sizeof *F16; i++) {
        uint16_t h = kb_f32_to_f16(float_of(F16[i].f));
        if (h != F16[i].h) {
            printf("# fp16 of 0x%08x: 0x%04x, expected 0x%04x\n", F16[i].f, h, F16[i].h);
            ok = 0;
        }
    }
    uint16_t qn = kb_f32_to_f16(NAN), sn = kb_f32_to_f16(float_of(0x7f800001u));
    CHECK(ok && (qn & 0x7c00u) == 0x7c00u && (qn & 0x3ffu) && (sn & 0x7c00u) == 0x7c00u && (sn & 0x3ffu),
          "amp casts: float -> fp16 on %zu known bit patterns (RNE ties, 65520 -> inf, subnormals); NaN stays NaN",
          sizeof F16 / sizeof *F16);
    static const struct { uint32_t f; uint16_t h; } BF[] = {
        {0x3f800000u, 0x3f80u}, {0x3dcccccdu, 0x3dcdu} /* 0.1 */, {0x40490fdbu, 0x4049u} /* pi */,
        {0x3f808000u, 0x3f80u} /* a tie, to even */, {0x3f818000u, 0x3f82u} /* a tie, to even upwards */,
        {0x3f808001u, 0x3f81u}, {0x7f7fffffu, 0x7f80u} /* FLT_MAX -> inf */, {0x7f7f7fffu, 0x7f7fu},
        {0xff800000u, 0xff80u}, {0x00018000u, 0x0002u} /* a subnormal tie */, {0x80000000u, 0x8000u}};
    ok = 1;
    for (size_t i = 0; i < sizeof BF / sizeof *BF; i++) {
        uint16_t h = kb_f32_to_bf16(float_of(BF[i].f));
        if (h != BF[i].h) {
            printf("# bf16 of 0x%08x: 0x%04x, expected 0x%04x\n", BF[i].f, h, BF[i].h);
            ok = 0;
        }
    }
    CHECK(ok && kb_f32_to_bf16(NAN) == 0x7fc0u && kb_f32_to_bf16(float_of(0x7f800001u)) == 0x7fc0u &&
              kb_f32_to_bf16(float_of(0xff800001u)) == 0xffc0u,
          "amp casts: float -> bf16 on %zu known bit patterns (RNE, FLT_MAX -> inf); a signalling NaN becomes a quiet NaN, "
          "not inf", sizeof BF / sizeof *BF);

    /* every half value: widening exact, and back the same bits; every midpoint between neighbours (and one
     * float either side of it) rounds as the reference says */
    long bad16 = 0, badbf = 0, mids = 0;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = kb_f16_to_f32((uint16_t)h), b = kb_bf16_to_f32((uint16_t)h);
        if (isnan(f) ? !isnan(kb_f16_to_f32(kb_f32_to_f16(f))) : kb_f32_to_f16(f) != h) bad16++;
        if (isnan(b) ? !isnan(kb_bf16_to_f32(kb_f32_to_bf16(b))) : kb_f32_to_bf16(b) != h) badbf++;
        if ((h & 0x7fffu) >= 0x7c00u) continue;
        double next = (double)kb_f16_to_f32((uint16_t)(h + 1)); /* h + 1: the neighbour away from zero (or inf) */
        if ((h & 0x7fffu) == 0x7bffu) next = (h & 0x8000u) ? -65536.0 : 65536.0;
        float mid = (float)(((double)f + next) / 2); /* exact in float */
        float probes[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, 2.0f * mid)};
        for (int j = 0; j < 3; j++, mids++) {
            float want = ref_round(probes[j], 11, -24, 65504.0), got = kb_f16_to_f32(kb_f32_to_f16(probes[j]));
            if (bits_of(want) != bits_of(got)) bad16++;
        }
        if ((h & 0x7fffu) >= 0x7f80u) continue; /* bf16: its midpoints alike */
        next = (h & 0x7fffu) == 0x7f7fu ? ((h & 0x8000u) ? -0x1p128 : 0x1p128) : (double)kb_bf16_to_f32((uint16_t)(h + 1));
        mid = (float)(((double)b + next) / 2);
        float pb[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, 2.0f * mid)};
        for (int j = 0; j < 3; j++, mids++) {
            float want = ref_round(pb[j], 8, -133, 0x1.fep127), got = kb_bf16_to_f32(kb_f32_to_bf16(pb[j]));
            if (bits_of(want) != bits_of(got)) badbf++;
        }
    }
    CHECK(!bad16 && !badbf, "amp casts: all 65536 fp16 and bf16 values widen exactly and narrow back; %ld midpoints "
          "between neighbours (and +-1 float ulp) round to nearest even (%ld, %ld wrong)", mids, bad16, badbf);

    /* a stride through every float bit pattern (NaN: NaN) against the double reference, and against the
     * compiler's _Float16 where it has one */
    long n = 0, b16 = 0, bbf = 0, bcc = 0;
    for (uint64_t u = 0; u < 0x100000000ull; u += 4093) { /* a prime stride: every exponent, varied low bits */
        float f = float_of((uint32_t)u);
        float g16 = kb_f16_to_f32(kb_f32_to_f16(f)), gbf = kb_bf16_to_f32(kb_f32_to_bf16(f));
        if (isnan(f)) {
            b16 += !isnan(g16);
            bbf += !isnan(gbf);
        } else {
            b16 += bits_of(g16) != bits_of(ref_round(f, 11, -24, 65504.0));
            bbf += bits_of(gbf) != bits_of(ref_round(f, 8, -133, 0x1.fep127));
        }
#ifdef __FLT16_MAX__
        _Float16 c = (_Float16)f;
        uint16_t cb;
        memcpy(&cb, &c, sizeof cb);
        if (isnan(f) ? !isnan(g16) : cb != kb_f32_to_f16(f)) bcc++;
        if (!isnan(f) && bits_of((float)c) != bits_of(g16)) bcc++;
#endif
        n++;
    }
    CHECK(!b16 && !bbf, "amp casts: %ld floats across all bit patterns: fp16 and bf16 rounding = the double reference "
          "(%ld, %ld wrong)", n, b16, bbf);
#ifdef __FLT16_MAX__
    CHECK(!bcc, "amp casts: the same %ld floats: fp16 bits = the compiler's _Float16 conversion (%ld wrong)", n, bcc);
#else
    SKIP("amp casts: against _Float16: this compiler has no _Float16");
#endif
}

/* kb_cast_half, kb_widen, kb_widen_add, kb_widen_bias and kb_bias_grad_half over their launch grids against
 * plain loops of the scalar casts */
static void test_amp_bodies(NnCtx *ctx, Rng *r) {
    enum { N = 3, K = 5, P = 77, T = N * K * P };
    float x[T], b[K], y[T], y2[T], db[K], db2[K];
    uint16_t h[T];
    fill(r, x, T, -300.0f, 300.0f);
    fill(r, b, K, -2.0f, 2.0f);
    for (int amp = 1; amp <= 2; amp++) {
        int ok = 1;
        FOR_GRID(nn_grid_1d(T), g) kb_cast_half(g, T, x, h, amp);
        for (int i = 0; i < T; i++) ok &= h[i] == kb_to_half(x[i], amp);
        FOR_GRID(nn_grid_1d(T), g) kb_widen(g, T, h, y, amp);
        for (int i = 0; i < T; i++) ok &= bits_of(y[i]) == bits_of(kb_from_half(h[i], amp));
        memcpy(y2, x, sizeof y2);
        FOR_GRID(nn_grid_1d(T), g) kb_widen_add(g, T, h, y2, amp);
        for (int i = 0; i < T; i++) ok &= bits_of(y2[i]) == bits_of(x[i] + kb_from_half(h[i], amp));
        FOR_GRID(nn_grid_1d(T), g) kb_widen_bias(g, N, nn_div_for(K, N * K), nn_div_for(P, T), h, b, amp, y);
        for (int i = 0; i < T; i++) {
            float want = kb_round_half(kb_from_half(h[i], amp) + kb_round_half(b[(i / P) % K], amp), amp);
            ok &= bits_of(y[i]) == bits_of(want);
        }
        for (int c = 0; c < K; c++) db[c] = db2[c] = b[c];
        FOR_GRID(nn_grid_1d(K), g) kb_bias_grad_half(g, N, K, P, h, amp, db);
        for (int c = 0; c < K; c++) {
            float sum = 0.0f;
            for (int im = 0; im < N; im++)
                for (int q = 0; q < P; q++) sum += kb_from_half(h[(im * K + c) * P + q], amp);
            db2[c] += kb_round_half(sum, amp);
        }
        ok &= memcmp(db, db2, sizeof db) == 0;
        CHECK(ok, "amp kernels (%s): cast, widen, widen + add, widen with the bias in half, the half bias gradient over "
              "their grids = the scalar casts", amp == 1 ? "bf16" : "fp16");
        { /* the cast of an input scaled per plane (in_scale) = se_scale's scaling, then the cast */
            float sc[N * K], xs[T];
            uint16_t h2[T];
            fill(r, sc, N * K, 0.0f, 1.0f);
            SEShape ss = {.N = N, .C = K, .H = 7, .W = 11};
            se_scale(ctx, &ss, x, sc, xs);
            FOR_GRID(nn_grid_1d(T), g) kb_cast_half_scaled(g, T, nn_div_for(P, T), x, sc, h2, amp);
            size_t bad = 0;
            for (int i = 0; i < T; i++) bad += h2[i] != kb_to_half(xs[i], amp);
            CHECK(!bad, "amp kernels (%s): the scaled cast = se_scale's product cast, bit for bit (%zu differ)",
                  amp == 1 ? "bf16" : "fp16", bad);
        }
    }
}

/* nn_div's multiply-shift quotient = C's division: every divisor up to 4096 and the ones around each power
 * of two up to 2^31 - 1 and random ones, each with the dividends around its first multiples, around
 * 2^31 - 1 (the last the fast form serves) and random ones below 2^31; a dividend range past 2^31 takes
 * plain division. */
static void test_div(Rng *r) {
    int64_t ds[4096 + 31 * 3 + 200];
    int nd = 0;
    for (int64_t d = 1; d <= 4096; d++) ds[nd++] = d;
    for (int k = 12; k <= 31; k++) {
        int64_t p2 = (int64_t)1 << k;
        ds[nd++] = p2 - 1;
        if (p2 <= INT32_MAX) ds[nd++] = p2;
        if (p2 + 1 <= INT32_MAX) ds[nd++] = p2 + 1;
    }
    for (int i = 0; i < 200; i++) ds[nd++] = 1 + (int64_t)(rng_next(r) >> (34 + i % 30)); /* 1 .. 2^30 */
    const int64_t top = INT32_MAX;
    long bad = 0, fast = 0;
    for (int i = 0; i < nd; i++) {
        int64_t d = ds[i];
        NnDiv v = nn_div_for(d, top + 1);
        fast += v.fast;
        int64_t ns[64];
        int nn = 0;
        for (int64_t m = 0; m < 4; m++)
            for (int64_t e = -1; e <= 1; e++)
                if (m * d + e >= 0 && m * d + e <= top) ns[nn++] = m * d + e;
        for (int64_t e = 0; e < 6; e++) ns[nn++] = top - e;
        ns[nn++] = (top / d) * d, ns[nn++] = (top / d) * d - 1;
        while (nn < 64) ns[nn++] = (int64_t)(rng_next(r) >> 33);
        for (int j = 0; j < nn; j++)
            if (ns[j] >= 0 && (nn_div(ns[j], v) != ns[j] / d || nn_mod(ns[j], v) != ns[j] % d)) bad++;
    }
    CHECK(bad == 0 && fast == nd, "kernels: nn_div's multiply-shift = / and %% (%d divisors, dividends up to 2^31 - 1; %ld wrong)",
          nd, bad);
    NnDiv slow = nn_div_for(7, (int64_t)1 << 40);
    int64_t big = ((int64_t)1 << 40) - 3;
    CHECK(!slow.fast && nn_div(big, slow) == big / 7 && nn_mod(big, slow) == big % 7 && !nn_div_for((int64_t)1 << 31, 10).fast,
          "kernels: nn_div past 31 bits (dividends or divisor) = plain division");
}

/* Depthwise convolution's own kernels against conv2d.c's portable direct path (AUDIOCNN_AVX512=0, set in
 * main): forward and dx bit for bit, dW (in double, blocks and slices) within 1e-6 of the CPU's dW, with 1
 * and 3 slices; strides 1 and 2, dilation, a bias, padding wider than the kernel reach */
/* conv2d.cu's depthwise dW launches on the CPU: every block of k_dw_wgrad (its threads, the tree), then
 * k_dw_wgrad_finish's grid adding into dw */
static void dw_wgrad_on_cpu(NnDwGeom g, int amp, const float *x, const uint16_t *xh, const float *dy, const uint16_t *dyh,
                            float *dw) {
    static NnBnShared sh; /* one block at a time */
    int64_t nw = (int64_t)g.C * g.KH * g.KW, nblk = nw * g.slices;
    double *part = malloc((size_t)nblk * sizeof *part);
    for (int64_t blk = 0; blk < nblk; blk++) {
        for (int64_t t = 0; t < NN_BLOCK; t++) kb_dw_wgrad_block(blk, t, g, amp, x, xh, dy, dyh, &sh);
        for (int64_t stride = NN_BLOCK / 2; stride > 0; stride /= 2)
            for (int64_t t = 0; t < NN_BLOCK; t++) kb_tree_step(t, stride, &sh);
        kb_dw_wgrad_store(blk, &sh, part);
    }
    FOR_GRID(nn_grid_1d(nw), gr) kb_dw_wgrad_finish(gr, g, amp, part, dw);
    free(part);
}

static void test_depthwise(NnCtx *ctx, Rng *r) {
    const Conv2dShape cases[] = {
        {.N = 3, .C = 5, .H = 11, .W = 13, .K = 5, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1, .groups = 5},
        {.N = 2, .C = 4, .H = 12, .W = 17, .K = 4, .KH = 5, .KW = 5, .stride_h = 2, .stride_w = 2, .pad_h = 2, .pad_w = 2, .groups = 4},
        {.N = 2, .C = 3, .H = 9, .W = 14, .K = 3, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 1, .pad_h = 2, .pad_w = 2,
         .dil_h = 2, .dil_w = 2, .groups = 3},
        {.N = 2, .C = 6, .H = 7, .W = 8, .K = 6, .KH = 3, .KW = 5, .stride_h = 1, .stride_w = 3, .pad_h = 3, .pad_w = 1, .groups = 6},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        Conv2dShape s = cases[ci];
        if (conv2d_shape_init(&s) < 0 || !conv2d_is_depthwise(&s)) {
            CHECK(0, "kernels: depthwise case %zu: shape", ci);
            continue;
        }
        size_t nx = conv2d_x_numel(&s), nw = conv2d_w_numel(&s), ny = conv2d_y_numel(&s);
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)s.K * 4), *dy = malloc(ny * 4);
        float *y0 = malloc(ny * 4), *y1 = malloc(ny * 4), *dx0 = malloc(nx * 4), *dx1 = malloc(nx * 4);
        float *dw0 = malloc(nw * 4), *dw1 = malloc(nw * 4);
        fill(r, x, nx, -1, 1), fill(r, w, nw, -1, 1), fill(r, b, (size_t)s.K, -1, 1), fill(r, dy, ny, -1, 1);
        fill(r, dw0, nw, -1, 1);
        memcpy(dw1, dw0, nw * 4);
        const float *bias = ci % 2 ? b : NULL;
        NnDwGeom g = conv2d_dw_geom(&s);
        int rc = conv2d_forward(ctx, &s, x, w, bias, y0) | conv2d_backward(ctx, &s, x, w, dy, dx0, dw0, NULL);
        FOR_GRID(nn_grid_1d((int64_t)ny), gr) kb_dw_fwd(gr, g, 0, x, w, bias, y1);
        FOR_GRID(nn_grid_1d((int64_t)nx), gr) kb_dw_dx(gr, g, 0, dy, NULL, w, dx1, NULL);
        CHECK(!rc && first_diff(y0, y1, ny) == ny && first_diff(dx0, dx1, nx) == nx,
              "kernels: depthwise %dx%d/%d,%d pad %d,%d dil %d%s: forward and dx = conv2d.c's direct path, bit for bit", s.KH, s.KW,
              s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dil_h, bias ? " + bias" : "");
        for (int64_t S = 1; S <= 3; S += 2) {
            g.slices = S;
            float *dw2 = malloc(nw * 4);
            memcpy(dw2, dw1, nw * 4);
            dw_wgrad_on_cpu(g, 0, x, NULL, dy, NULL, dw2);
            double e = rel_diff(dw0, dw2, nw);
            CHECK(e <= 1e-6, "kernels: depthwise %dx%d/%d,%d dW += in %lld slices within 1e-6 of conv2d.c's (%.1e)", s.KH, s.KW,
                  s.stride_h, s.stride_w, (long long)S, e);
            free(dw2);
        }
        for (int amp = 1; amp <= 2; amp++) { /* AMP: the CPU layer on the half-rounded operands, its results rounded */
            float *xr = malloc(nx * 4), *wr = malloc(nw * 4), *dyr = malloc(ny * 4), *dwz = calloc(nw, 4), *dwa = malloc(nw * 4);
            for (size_t i = 0; i < nx; i++) xr[i] = kb_round_half(x[i], amp);
            for (size_t i = 0; i < nw; i++) wr[i] = kb_round_half(w[i], amp);
            for (size_t i = 0; i < ny; i++) dyr[i] = kb_round_half(dy[i], amp);
            rc = conv2d_forward(ctx, &s, xr, wr, NULL, y0) | conv2d_backward(ctx, &s, xr, wr, dyr, dx0, dwz, NULL);
            for (size_t i = 0; i < ny; i++) {
                y0[i] = kb_round_half(y0[i], amp);
                if (bias) y0[i] = kb_round_half(y0[i] + kb_round_half(bias[i / ((size_t)s.OH * s.OW) % (size_t)s.K], amp), amp);
            }
            for (size_t i = 0; i < nx; i++) dx0[i] = kb_round_half(dx0[i], amp);
            for (size_t i = 0; i < nw; i++) dwz[i] = dw1[i] + kb_round_half(dwz[i], amp);
            FOR_GRID(nn_grid_1d((int64_t)ny), gr) kb_dw_fwd(gr, g, amp, x, w, bias, y1);
            FOR_GRID(nn_grid_1d((int64_t)nx), gr) kb_dw_dx(gr, g, amp, dy, NULL, w, dx1, NULL);
            { /* the half result itself (conv2d_forward_half): the bits kb_dw_fwd widens */
                uint16_t *yh = malloc(ny * 2);
                float *yb = malloc(ny * 4);
                FOR_GRID(nn_grid_1d((int64_t)ny), gr) kb_dw_fwd(gr, g, amp, x, w, NULL, yb);
                FOR_GRID(nn_grid_1d((int64_t)ny), gr) kb_dw_fwd_half(gr, g, amp, x, w, yh);
                size_t bad = 0;
                for (size_t i = 0; i < ny; i++) bad += kb_to_half(yb[i], amp) != yh[i] || kb_from_half(yh[i], amp) != yb[i];
                CHECK(!bad, "kernels: depthwise %dx%d/%d,%d in %s: the half output's bits widen to the forward's (%zu differ)", s.KH,
                      s.KW, s.stride_h, s.stride_w, amp == 1 ? "bf16" : "fp16", bad);
                free(yh), free(yb);
            }
            g.slices = 2;
            memcpy(dwa, dw1, nw * 4);
            dw_wgrad_on_cpu(g, amp, x, NULL, dy, NULL, dwa);
            { /* x and dy given as their halves (conv2d_backward_half): the same bits */
                uint16_t *xh = malloc(nx * 2), *dyh = malloc(ny * 2);
                float *dx2 = malloc(nx * 4), *dwb = malloc(nw * 4);
                for (size_t i = 0; i < nx; i++) xh[i] = kb_to_half(x[i], amp);
                for (size_t i = 0; i < ny; i++) dyh[i] = kb_to_half(dy[i], amp);
                FOR_GRID(nn_grid_1d((int64_t)nx), gr) kb_dw_dx(gr, g, amp, NULL, dyh, w, dx2, NULL);
                uint16_t *dxh = malloc(nx * 2);
                FOR_GRID(nn_grid_1d((int64_t)nx), gr) kb_dw_dx(gr, g, amp, NULL, dyh, w, NULL, dxh);
                size_t bad_dxh = half_diffs(dxh, dx1, nx, amp);
                free(dxh);
                memcpy(dwb, dw1, nw * 4);
                dw_wgrad_on_cpu(g, amp, NULL, xh, NULL, dyh, dwb);
                CHECK(same_bits(dx1, dx2, nx) && same_bits(dwa, dwb, nw) && !bad_dxh,
                      "kernels: depthwise %dx%d/%d,%d in %s: dx and dW from x's and dy's halves = from the floats, dx as halves "
                      "= the float dx rounded, bit for bit", s.KH, s.KW, s.stride_h, s.stride_w, amp == 1 ? "bf16" : "fp16");
                free(xh), free(dyh), free(dx2), free(dwb);
            }
            double e = rel_diff(dwz, dwa, nw), bound = amp == 1 ? 8e-3 : 1e-3; /* one half ulp where the sums straddle a rounding */
            CHECK(!rc && first_diff(y0, y1, ny) == ny && first_diff(dx0, dx1, nx) == nx && e <= bound,
                  "kernels: depthwise %dx%d/%d,%d in %s: forward and dx = the direct path on half operands, rounded, bit for bit; "
                  "dW += within %.0e (%.1e)", s.KH, s.KW, s.stride_h, s.stride_w, amp == 1 ? "bf16" : "fp16", bound, e);
            free(xr), free(wr), free(dyr), free(dwz), free(dwa);
        }
        free(x), free(w), free(b), free(dy), free(y0), free(y1), free(dx0), free(dx1), free(dw0), free(dw1);
    }
}

int main(void) {
    /* the CPU layers' portable paths, which the kernels' bodies mirror (depthwise.h's AVX-512 kernels fuse
     * their multiply-adds) */
    setenv("AUDIOCNN_AVX512", "0", 1);
    NnCtx ctx;
    nn_ctx_init(&ctx, 2);
    Rng r;
    rng_seed(&r, 16);
    test_div(&r);
    test_elementwise(&ctx, &r);
    test_maxpool(&ctx, &r);
    test_avgpool(&ctx, &r);
    test_gap(&ctx, &r);
    test_linear_conv_epilogue(&ctx, &r);
    test_batchnorm(&ctx, &r);
    test_batchnorm_half(&ctx, &r);
    test_dropout(&ctx, &r);
    test_optim(&ctx, &r);
    test_unscale();
    test_amp_casts();
    test_amp_bodies(&ctx, &r);
    test_stem(&ctx, &r);
    test_se(&ctx, &r);
    test_depthwise(&ctx, &r);
    nn_ctx_free(&ctx);
    return check_failures != 0;
}
