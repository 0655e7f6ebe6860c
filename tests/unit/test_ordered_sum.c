/* core/ordered_sum.h: every sum against a scalar statement of its order (lanes i % 8, the lanes' fixed
 * combination, the tail), the four-plane and many-plane forms against the one-plane form, bit for bit; and
 * the layers built on them (BatchNorm's training forward and backward with each activation, the global
 * average pool, SE's backward), whose AVX-512 paths must give the portable paths' bits: the test runs once
 * as the CPU allows, then again with AUDIOCNN_AVX512=0, comparing a digest of every layer's outputs. */
#include "check.h"
#include "core/cpu.h"
#include "core/ordered_sum.h"
#include "nn/batchnorm.h"
#include "nn/pool.h"
#include "nn/se.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;
static float uniform(float lo, float hi) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return lo + (hi - lo) * (float)((state >> 40) / 16777216.0);
}
static void fill(float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = uniform(lo, hi);
}

/* The order, stated one element at a time. kind 0: sum, 1: squared deviations, 2: dot. */
static double reference(int kind, const float *a, const float *b, int64_t n, double mean) {
    double lane[8] = {0};
    int64_t n8 = n & ~(int64_t)7, i = 0;
    for (; i < n8; i++) {
        double v = (double)a[i];
        if (kind == 0) lane[i % 8] += v;
        else if (kind == 1) {
            double d = v - mean, sq = d * d;
            lane[i % 8] += sq;
        } else {
            lane[i % 8] += v * (double)b[i];
        }
    }
    double s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; i++) {
        double v = (double)a[i], d = v - mean;
        s += kind == 0 ? v : kind == 1 ? d * d : v * (double)b[i];
    }
    return s;
}

static int same(double x, double y) { return (isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof x) == 0; }

static void test_sums(void) {
    const int64_t sizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 52, 333, 3200, 12803};
    enum { MAXN = 12803 };
    float *a = malloc(sizeof(float) * 4 * MAXN), *b = malloc(sizeof(float) * 4 * MAXN);
    const char *names[3] = {"ordered_sum_f64", "ordered_sum_sq_dev_f64", "ordered_dot_f64"};
    for (int special = 0; special < 2; special++) {
        fill(a, 4 * MAXN, -3, 5), fill(b, 4 * MAXN, -2, 2);
        if (special) { /* values whose rounding shows the order: large and small magnitudes, -0, an inf */
            for (int64_t i = 0; i < 4 * MAXN; i += 5) a[i] *= 1e7f;
            for (int64_t i = 2; i < 4 * MAXN; i += 11) a[i] = -0.0f;
            a[4 * MAXN - 3] = INFINITY;
        }
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            int64_t n = sizes[si];
            double mean = 0.37;
            for (int kind = 0; kind < 3; kind++) {
                int ok = 1;
                double four[4];
                if (kind == 0) ordered_sum4_f64(a, MAXN, n, four);
                else if (kind == 1) ordered_sum_sq_dev4_f64(a, MAXN, n, mean, four);
                else ordered_dot4_f64(a, b, MAXN, n, four);
                for (int j = 0; j < 4; j++) {
                    const float *p = a + j * MAXN, *q = b + j * MAXN;
                    double want = reference(kind, p, q, n, mean);
                    double one = kind == 0 ? ordered_sum_f64(p, n)
                               : kind == 1 ? ordered_sum_sq_dev_f64(p, n, mean) : ordered_dot_f64(p, q, n);
                    ok &= same(one, want) && same(four[j], want);
                }
                CHECK(ok, "%s, %s values, n = %lld: one plane and four at once = the order's scalar statement, bit for bit",
                      names[kind], special ? "special" : "uniform", (long long)n);
                if (kind == 2) continue;
                for (int count = 0; count <= 4; count += 4) { /* 4 planes at once; and 5, 1 of them alone */
                    int64_t m = count ? 4 : 1;
                    double want = 0;
                    for (int64_t j = 0; j < m; j++) want += reference(kind, a + j * MAXN, NULL, n, mean);
                    double got = kind == 0 ? ordered_sum_planes_f64(a, m, MAXN, n)
                                           : ordered_sum_sq_dev_planes_f64(a, m, MAXN, n, mean);
                    CHECK(same(got, want), "%s over %lld strided planes, %s values, n = %lld: the planes' sums added in order",
                          names[kind], (long long)m, special ? "special" : "uniform", (long long)n);
                }
            }
        }
    }
    free(a), free(b);
}

/* FNV-1a over the bytes of the layers' outputs */
static uint64_t digest(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *c = p;
    for (size_t i = 0; i < bytes; i++) h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

enum { GROUPS = 8 };
static uint64_t digests[GROUPS];
static const char *group_names[GROUPS];

static void test_layers(NnCtx *ctx) {
    int g = 0;
    const ActKind acts[3] = {ACT_NONE, ACT_RELU, ACT_SILU};
    const char *act_names[3] = {"", " + ReLU", " + SiLU"};
    const int hws[2][2] = {{9, 37}, {4, 13}}; /* tails after 8 and 16 lanes */
    for (int ai = 0; ai < 3; ai++)
        for (int si = 0; si < 2; si++) {
            if (si == 1 && ai != 2) continue;
            BatchNorm2dShape s = batchnorm2d_shape(6, 5, hws[si][0], hws[si][1]);
            s.act = acts[ai];
            size_t n = (size_t)s.N * s.C * s.H * s.W;
            float *x = malloc(n * 4), *dout = malloc(n * 4), *out = malloc(n * 4), *dx = malloc(n * 4);
            float w[5], b[5], rm[5], rv[5], mean[5], invstd[5], dw[5] = {0}, db[5] = {0}, nbt = 2;
            fill(x, n, -3, 5), fill(dout, n, -1, 1), fill(w, 5, 0.5f, 1.5f), fill(b, 5, -0.5f, 0.5f);
            fill(rm, 5, -1, 1), fill(rv, 5, 0.5f, 2);
            batchnorm2d_forward_train(ctx, &s, x, w, b, rm, rv, &nbt, out, mean, invstd);
            batchnorm2d_backward_train(ctx, &s, dout, x, w, b, mean, invstd, dx, dw, db);
            uint64_t h = 0xcbf29ce484222325ull;
            h = digest(h, out, n * 4), h = digest(h, mean, sizeof mean), h = digest(h, invstd, sizeof invstd);
            h = digest(h, rm, sizeof rm), h = digest(h, rv, sizeof rv), h = digest(h, dx, n * 4);
            h = digest(h, dw, sizeof dw), h = digest(h, db, sizeof db);
            static char names[4][64];
            snprintf(names[g % 4], sizeof names[0], "BatchNorm%s train forward and backward, %dx%d", act_names[ai],
                     hws[si][0], hws[si][1]);
            group_names[g] = names[g % 4], digests[g++] = h;
            free(x), free(dout), free(out), free(dx);
        }
    /* the global average pool and SE's backward (its gate's gradient and dx), 7 and 2 planes left over */
    SEShape se = {.N = 3, .C = 5, .H = 7, .W = 11, .R = 2, .silu = 1};
    size_t n = (size_t)se.N * se.C * se.H * se.W;
    float *x = malloc(n * 4), *dy = malloc(n * 4), *y = malloc(n * 4), *dx = malloc(n * 4);
    float w1[10], b1[2], w2[10], b2[5], pooled[15], hh[6], aa[6], sc[15], dw1[10] = {0}, db1[2] = {0}, dw2[10] = {0},
          db2[5] = {0};
    fill(x, n, -2, 2), fill(dy, n, -1, 1), fill(w1, 10, -1, 1), fill(b1, 2, -1, 1), fill(w2, 10, -1, 1), fill(b2, 5, -1, 1);
    GlobalPoolShape gp = {.N = se.N, .C = se.C, .H = se.H, .W = se.W};
    float gap[15];
    global_avgpool_forward(ctx, &gp, x, gap);
    group_names[g] = "global average pool", digests[g++] = digest(0xcbf29ce484222325ull, gap, sizeof gap);
    se_forward(ctx, &se, x, w1, b1, w2, b2, y, pooled, hh, aa, sc);
    int rc = se_backward(ctx, &se, dy, x, w1, w2, pooled, hh, aa, sc, dx, dw1, db1, dw2, db2);
    uint64_t h = digest(0xcbf29ce484222325ull, dx, n * 4);
    h = digest(h, dw1, sizeof dw1), h = digest(h, db1, sizeof db1), h = digest(h, dw2, sizeof dw2);
    h = digest(h, db2, sizeof db2), h = digest(h, y, n * 4);
    group_names[g] = "SE forward and backward", digests[g++] = rc == 0 ? h : 0;
    free(x), free(dy), free(y), free(dx);
}

int main(int argc, char **argv) {
    (void)argc;
    printf("# %s\n", cpu_avx512() ? "AVX-512 sums" : "portable sums");
    test_sums();
    NnCtx ctx;
    nn_ctx_init(&ctx, 2);
    test_layers(&ctx);
    const char *prev = getenv("ORDERED_SUM_DIGESTS");
    if (prev) { /* the second run (portable): the first run's digests */
        for (int g = 0; g < GROUPS && group_names[g]; g++) {
            char want[17];
            memcpy(want, prev + 17 * g, 16), want[16] = 0;
            CHECK(strtoull(want, NULL, 16) == digests[g], "%s: the portable paths' bits = the AVX-512 paths'", group_names[g]);
        }
    } else if (cpu_avx512() && !getenv("AUDIOCNN_AVX512")) {
        static char list[GROUPS * 17 + 1];
        for (int g = 0; g < GROUPS && group_names[g]; g++) snprintf(list + 17 * g, 18, "%016llx,", (unsigned long long)digests[g]);
        fflush(stdout);
        setenv("ORDERED_SUM_DIGESTS", list, 1);
        setenv("AUDIOCNN_AVX512", "0", 1);
        execv("/proc/self/exe", argv);
        CHECK(0, "could not run again with AUDIOCNN_AVX512=0");
    } else {
        SKIP("the AVX-512 paths against the portable ones: this CPU runs only the portable ones");
    }
    nn_ctx_free(&ctx);
    return check_failures ? 1 : 0;
}
