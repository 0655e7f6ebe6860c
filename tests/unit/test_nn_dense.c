#define _GNU_SOURCE
/* conv2d, linear and pooling: central finite differences of a random linear functional of the output
 * (double bookkeeping) against the analytic gradients, a naive double-precision reference for
 * forward and backward on every algorithm path, bit-identical results for 1, 2 and 3 threads,
 * gradient accumulation (+=), dx written, shape validation and the initialisations. */
#include "check.h"
#include "core/error.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/gemm.h"
#include "nn/linear.h"
#include "nn/nn.h"
#include "nn/pool.h"
#include "nn/se.h"
#include "nn/winograd.h"
#include "core/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* FD tolerance: relative to the largest analytic gradient. Conv, linear and average pooling are linear
 * in each input, so with h = 1e-2 the only error is float32 rounding of the forward pass. */
#define FD_TOL 1e-4
#define REF_TOL 1e-5
#define WINO_TOL 3e-5 /* Winograd's transforms round more (nn/winograd.h) */

static float *fbuf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) abort();
    return p;
}
static double *dbuf(size_t n) {
    double *p = calloc(n ? n : 1, sizeof(double));
    if (!p) abort();
    return p;
}
static void fill(Rng *r, float *a, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = (float)(2.0 * rng_uniform(r) - 1.0);
}
static void fill_nan(float *a, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = NAN;
}

/* max |a - b| / max |b| */
static double rel_err_fd(const float *a, const double *b, size_t n) {
    double m = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > m) m = fabs(b[i]);
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
    }
    return m > 0 ? d / m : d;
}

/* ---- finite differences ------------------------------------------------------------------------- */

typedef void (*fwd_fn)(void *arg, float *y);

static double functional(const double *r, const float *y, size_t ny) {
    double l = 0;
    for (size_t i = 0; i < ny; i++) l += r[i] * y[i];
    return l;
}

/* Numerical gradient of L = sum r*y with respect to p (perturbed in place), into num. */
static void fd_grad(fwd_fn f, void *arg, float *y, size_t ny, const double *r, float *p, size_t n, float h,
                    double *num) {
    for (size_t e = 0; e < n; e++) {
        float v = p[e];
        float vp = v + h, vm = v - h;
        p[e] = vp;
        f(arg, y);
        double lp = functional(r, y, ny);
        p[e] = vm;
        f(arg, y);
        double lm = functional(r, y, ny);
        p[e] = v;
        num[e] = (lp - lm) / ((double)vp - (double)vm);
    }
}

static double fd_err(fwd_fn f, void *arg, float *y, size_t ny, const double *r, float *p, size_t n, float h,
                     const float *ana) {
    double *num = dbuf(n);
    fd_grad(f, arg, y, ny, r, p, n, h, num);
    double e = rel_err_fd(ana, num, n);
    free(num);
    return e;
}

/* ---- conv2d ----------------------------------------------------------------------------------------- */

typedef struct {
    NnCtx *ctx;
    Conv2dShape s;
    float *x, *w, *b; /* b may be NULL */
} ConvCase;

static void conv_fwd(void *arg, float *y) {
    ConvCase *c = arg;
    if (conv2d_forward(c->ctx, &c->s, c->x, c->w, c->b, y) < 0) abort();
}

static void ref_conv(const Conv2dShape *s, const float *x, const float *w, const float *b, const float *dy,
                     double *y, double *dx, double *dw, double *db) {
    int Cg = s->C / s->groups, Kg = s->K / s->groups;
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    size_t yi = (((size_t)n * s->K + k) * s->OH + oh) * s->OW + ow;
                    double acc = b ? b[k] : 0.0;
                    int g = k / Kg;
                    for (int cc = 0; cc < Cg; cc++)
                        for (int i = 0; i < s->KH; i++)
                            for (int j = 0; j < s->KW; j++) {
                                int ih = oh * s->stride_h - s->pad_h + i * s->dil_h;
                                int iw = ow * s->stride_w - s->pad_w + j * s->dil_w;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                int c = g * Cg + cc;
                                size_t xi = (((size_t)n * s->C + c) * s->H + ih) * s->W + iw;
                                size_t wi = (((size_t)k * Cg + cc) * s->KH + i) * s->KW + j;
                                acc += (double)x[xi] * w[wi];
                                dx[xi] += (double)dy[yi] * w[wi];
                                dw[wi] += (double)dy[yi] * x[xi];
                            }
                    y[yi] = acc;
                    db[k] += dy[yi];
                }
}

typedef struct {
    float *y, *dx, *dw, *db;
} ConvOut;

static ConvOut conv_run(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b,
                        const float *dy, int want_dx) {
    ConvOut o;
    o.y = fbuf(conv2d_y_numel(s));
    o.dx = fbuf(conv2d_x_numel(s));
    o.dw = fbuf(conv2d_w_numel(s));
    o.db = fbuf((size_t)s->K);
    fill_nan(o.y, conv2d_y_numel(s));
    fill_nan(o.dx, conv2d_x_numel(s));
    memset(o.dw, 0, conv2d_w_numel(s) * sizeof(float));
    memset(o.db, 0, (size_t)s->K * sizeof(float));
    if (conv2d_forward(ctx, s, x, w, b, o.y) < 0 ||
        conv2d_backward(ctx, s, x, w, dy, want_dx ? o.dx : NULL, o.dw, b ? o.db : NULL) < 0) {
        printf("not ok conv2d failed: %s\n", err_msg());
        exit(1);
    }
    return o;
}

static void conv_out_free(ConvOut *o) {
    free(o->y);
    free(o->dx);
    free(o->dw);
    free(o->db);
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* One configuration: reference check of every path, FD check (when small), threads 1/2/3 identity,
 * accumulation. */
static void conv_case(const char *name, Conv2dShape s, int bias, int fd) {
    NnCtx c1, c2, c3;
    nn_ctx_init(&c1, 1);
    nn_ctx_init(&c2, 2);
    nn_ctx_init(&c3, 3);
    Rng r;
    rng_seed(&r, hash_string(name));
    if (conv2d_shape_init(&s) < 0) {
        printf("not ok conv2d %s: %s\n", name, err_msg());
        check_failures++;
        return;
    }
    size_t nx = conv2d_x_numel(&s), nw = conv2d_w_numel(&s), ny = conv2d_y_numel(&s);
    float *x = fbuf(nx), *w = fbuf(nw), *b = bias ? fbuf((size_t)s.K) : NULL, *dy = fbuf(ny);
    fill(&r, x, nx);
    fill(&r, w, nw);
    if (b) fill(&r, b, (size_t)s.K);
    double *rr = dbuf(ny);
    for (size_t i = 0; i < ny; i++) {
        rr[i] = 2.0 * rng_uniform(&r) - 1.0;
        dy[i] = (float)rr[i];
    }
    double *ry = dbuf(ny), *rdx = dbuf(nx), *rdw = dbuf(nw), *rdb = dbuf((size_t)s.K);
    ref_conv(&s, x, w, b, dy, ry, rdx, rdw, rdb);

    int paths[3] = {CONV2D_GEMM, CONV2D_DIRECT, CONV2D_WINOGRAD};
    int npaths = s.C / s.groups == 1 ? 2 : 1;
    if (winograd_applies(&s)) paths[npaths++] = CONV2D_WINOGRAD;
    ConvOut base = {0};
    for (int pi = 0; pi < npaths; pi++) {
        Conv2dShape sp = s;
        sp.algo = paths[pi];
        const char *pn = paths[pi] == CONV2D_GEMM ? "gemm" : paths[pi] == CONV2D_DIRECT ? "direct" : "winograd";
        ConvOut o = conv_run(&c2, &sp, x, w, b, dy, 1);
        double ey = rel_err_fd(o.y, ry, ny), edx = rel_err_fd(o.dx, rdx, nx), edw = rel_err_fd(o.dw, rdw, nw);
        double edb = b ? rel_err_fd(o.db, rdb, (size_t)s.K) : 0.0;
        double e = fmax(fmax(ey, edx), fmax(edw, edb));
        CHECK(e <= (paths[pi] == CONV2D_WINOGRAD ? WINO_TOL : REF_TOL), "conv2d %s %s vs double reference (max rel err %.2g: y %.2g dx %.2g dw %.2g db %.2g)",
              name, pn, e, ey, edx, edw, edb);
        /* Threads: 1 and 3 give the bits of 2. */
        ConvOut o1 = conv_run(&c1, &sp, x, w, b, dy, 1), o3 = conv_run(&c3, &sp, x, w, b, dy, 1);
        int same = 1;
        for (ConvOut *q = &o1; q; q = q == &o1 ? &o3 : NULL)
            same &= same_bits(q->y, o.y, ny) && same_bits(q->dx, o.dx, nx) && same_bits(q->dw, o.dw, nw) &&
                    same_bits(q->db, o.db, (size_t)s.K);
        CHECK(same, "conv2d %s %s bit-identical for threads 1, 2, 3", name, pn);
        conv_out_free(&o1);
        conv_out_free(&o3);
        if (pi == 0) base = o;
        else conv_out_free(&o);
    }

    /* AUTO path: dx alone (dw, db NULL) and dw/db alone (dx NULL) give the bits of the full backward; a
     * second backward adds the same again. */
    {
        ConvOut full = conv_run(&c2, &s, x, w, b, dy, 1);
        ConvOut o = conv_run(&c2, &s, x, w, b, dy, 0);
        float *dx2 = fbuf(nx);
        int rc = conv2d_backward(&c2, &s, x, w, dy, dx2, NULL, NULL);
        CHECK(rc == 0 && same_bits(dx2, full.dx, nx) && same_bits(o.dw, full.dw, nw) &&
                  same_bits(o.db, full.db, (size_t)s.K),
              "conv2d %s backward with only dx / only dw, db: same bits", name);
        free(dx2);
        float *dw1 = fbuf(nw);
        memcpy(dw1, o.dw, nw * sizeof(float));
        conv2d_backward(&c2, &s, x, w, dy, NULL, o.dw, b ? o.db : NULL);
        double m = 0, d = 0;
        for (size_t i = 0; i < nw; i++) {
            m = fmax(m, fabs(2.0 * dw1[i]));
            d = fmax(d, fabs(o.dw[i] - 2.0 * dw1[i]));
        }
        CHECK(d <= 1e-6 * m, "conv2d %s dw accumulates (+=) (rel %.2g)", name, m > 0 ? d / m : d);
        free(dw1);
        conv_out_free(&o);
        conv_out_free(&full);
    }

    if (fd) {
        ConvCase cc = {&c1, s, x, w, b};
        float *y = fbuf(ny);
        double ex = fd_err(conv_fwd, &cc, y, ny, rr, x, nx, 1e-2f, base.dx);
        double ew = fd_err(conv_fwd, &cc, y, ny, rr, w, nw, 1e-2f, base.dw);
        double eb = b ? fd_err(conv_fwd, &cc, y, ny, rr, b, (size_t)s.K, 1e-2f, base.db) : 0.0;
        CHECK(ex <= FD_TOL, "conv2d %s dx finite differences (max rel err %.2g)", name, ex);
        CHECK(ew <= FD_TOL, "conv2d %s dw finite differences (max rel err %.2g)", name, ew);
        if (b) CHECK(eb <= FD_TOL, "conv2d %s db finite differences (max rel err %.2g)", name, eb);
        free(y);
    }
    conv_out_free(&base);
    free(x);
    free(w);
    free(b);
    free(dy);
    free(rr);
    free(ry);
    free(rdx);
    free(rdw);
    free(rdb);
    nn_ctx_free(&c1);
    nn_ctx_free(&c2);
    nn_ctx_free(&c3);
}

static void test_conv(void) {
    /* name, shape, bias, finite differences */
    conv_case("3x3 pad1", (Conv2dShape){.N = 2, .C = 3, .H = 7, .W = 9, .K = 4, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1},
              1, 1);
    conv_case("3x3 stride2 pad1",
              (Conv2dShape){.N = 2, .C = 3, .H = 8, .W = 9, .K = 4, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                            .pad_h = 1, .pad_w = 1},
              1, 1);
    conv_case("3x3 dilation2 pad2",
              (Conv2dShape){.N = 2, .C = 3, .H = 8, .W = 9, .K = 4, .KH = 3, .KW = 3, .dil_h = 2, .dil_w = 2,
                            .pad_h = 2, .pad_w = 2},
              1, 1);
    conv_case("3x3 groups2",
              (Conv2dShape){.N = 2, .C = 4, .H = 6, .W = 7, .K = 6, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1, .groups = 2},
              1, 1);
    conv_case("depthwise 3x3",
              (Conv2dShape){.N = 2, .C = 4, .H = 6, .W = 7, .K = 4, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1, .groups = 4},
              1, 1);
    conv_case("depthwise x2 stride2",
              (Conv2dShape){.N = 2, .C = 3, .H = 7, .W = 8, .K = 6, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                            .pad_h = 1, .pad_w = 1, .groups = 3},
              1, 1);
    conv_case("1x1", (Conv2dShape){.N = 2, .C = 5, .H = 4, .W = 6, .K = 3, .KH = 1, .KW = 1}, 1, 1);
    conv_case("1x1 stride2", (Conv2dShape){.N = 2, .C = 5, .H = 5, .W = 6, .K = 3, .KH = 1, .KW = 1, .stride_h = 2, .stride_w = 2},
              0, 1);
    conv_case("1x1 groups2", (Conv2dShape){.N = 2, .C = 4, .H = 3, .W = 5, .K = 6, .KH = 1, .KW = 1, .groups = 2}, 1, 1);
    conv_case("3x3 no bias", (Conv2dShape){.N = 2, .C = 3, .H = 6, .W = 7, .K = 4, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1},
              0, 1);
    conv_case("one-channel 3x3 (spectrogram)",
              (Conv2dShape){.N = 2, .C = 1, .H = 10, .W = 16, .K = 4, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1}, 1, 1);
    conv_case("3x5 stride(2,1) pad(1,2) dil(1,2)",
              (Conv2dShape){.N = 2, .C = 2, .H = 9, .W = 11, .K = 3, .KH = 3, .KW = 5, .stride_h = 2, .stride_w = 1,
                            .pad_h = 1, .pad_w = 2, .dil_h = 1, .dil_w = 2},
              1, 1);
    conv_case("7x7 stride2 pad3 (ResNet stem, small)",
              (Conv2dShape){.N = 1, .C = 3, .H = 12, .W = 10, .K = 4, .KH = 7, .KW = 7, .stride_h = 2, .stride_w = 2,
                            .pad_h = 3, .pad_w = 3},
              1, 1);
    /* Larger: several pixel blocks and dW row blocks; reference only. */
    conv_case("16->24 3x3 on 40x44",
              (Conv2dShape){.N = 3, .C = 16, .H = 40, .W = 44, .K = 24, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1}, 1, 0);
    /* More images than backward chunks (16): chunks of one and two images. */
    conv_case("8->8 3x3 N=21", (Conv2dShape){.N = 21, .C = 8, .H = 6, .W = 5, .K = 8, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1},
              1, 0);
    /* Pixel blocks that end mid-row (im2col and col2im continue a row in the next block). */
    conv_case("64->64 3x3 on 30x37 (blocks end mid-row)",
              (Conv2dShape){.N = 2, .C = 64, .H = 30, .W = 37, .K = 64, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1}, 1, 0);
    conv_case("96->16 3x3 stride2 on 50x61 (blocks end mid-row)",
              (Conv2dShape){.N = 2, .C = 96, .H = 50, .W = 61, .K = 16, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                            .pad_h = 1, .pad_w = 1},
              0, 0);
    conv_case("64->32 1x1 on 70x70",
              (Conv2dShape){.N = 2, .C = 64, .H = 70, .W = 70, .K = 32, .KH = 1, .KW = 1}, 1, 0);
    conv_case("32->32 3x3 stride2 groups4 on 33x41",
              (Conv2dShape){.N = 2, .C = 32, .H = 33, .W = 41, .K = 32, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                            .pad_h = 1, .pad_w = 1, .groups = 4},
              0, 0);
    conv_case("depthwise 5x5 on 30x50",
              (Conv2dShape){.N = 2, .C = 8, .H = 30, .W = 50, .K = 8, .KH = 5, .KW = 5, .pad_h = 2, .pad_w = 2, .groups = 8},
              1, 0);
    conv_case("1->16 3x3 on 64x200",
              (Conv2dShape){.N = 2, .C = 1, .H = 64, .W = 200, .K = 16, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1}, 1, 0);
    /* The AVX-512 depthwise kernels (lib/nn/depthwise.c): rows longer than one and two vectors, stride 2
     * in dx (parity split), dilation, 7x7 (49 taps), and a stride they leave to the portable loops. */
    conv_case("depthwise 5x5 stride2 pad2 on 21x45",
              (Conv2dShape){.N = 2, .C = 6, .H = 21, .W = 45, .K = 6, .KH = 5, .KW = 5, .stride_h = 2, .stride_w = 2,
                            .pad_h = 2, .pad_w = 2, .groups = 6},
              1, 1);
    conv_case("depthwise 3x3 stride2 pad1 on 9x70",
              (Conv2dShape){.N = 2, .C = 5, .H = 9, .W = 70, .K = 5, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                            .pad_h = 1, .pad_w = 1, .groups = 5},
              1, 0);
    conv_case("depthwise 3x3 dil2 pad2 on 9x37",
              (Conv2dShape){.N = 2, .C = 4, .H = 9, .W = 37, .K = 4, .KH = 3, .KW = 3, .dil_h = 2, .dil_w = 2,
                            .pad_h = 2, .pad_w = 2, .groups = 4},
              1, 0);
    conv_case("depthwise 3x3 stride(2,1) on 11x20",
              (Conv2dShape){.N = 2, .C = 4, .H = 11, .W = 20, .K = 4, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 1,
                            .pad_h = 1, .pad_w = 1, .groups = 4},
              1, 0);
    conv_case("depthwise 7x7 stride2 pad3 on 15x40",
              (Conv2dShape){.N = 2, .C = 3, .H = 15, .W = 40, .K = 3, .KH = 7, .KW = 7, .stride_h = 2, .stride_w = 2,
                            .pad_h = 3, .pad_w = 3, .groups = 3},
              1, 0);
    conv_case("depthwise 3x3 stride3 on 10x20 (portable loops)",
              (Conv2dShape){.N = 2, .C = 4, .H = 10, .W = 20, .K = 4, .KH = 3, .KW = 3, .stride_h = 3, .stride_w = 3,
                            .pad_h = 1, .pad_w = 1, .groups = 4},
              1, 0);

    /* Shape validation. */
    Conv2dShape bad = {.N = 1, .C = 4, .H = 5, .W = 5, .K = 6, .KH = 3, .KW = 3, .groups = 3};
    CHECK(conv2d_shape_init(&bad) < 0 && strstr(err_msg(), "groups"), "conv2d rejects groups not dividing C");
    bad = (Conv2dShape){.N = 1, .C = 4, .H = 5, .W = 5, .K = 4, .KH = 3, .KW = 3, .algo = CONV2D_DIRECT};
    CHECK(conv2d_shape_init(&bad) < 0, "conv2d rejects the direct path with C/groups > 1");
    bad = (Conv2dShape){.N = 1, .C = 1, .H = 2, .W = 5, .K = 1, .KH = 3, .KW = 3};
    CHECK(conv2d_shape_init(&bad) < 0 && strstr(err_msg(), "larger"), "conv2d rejects a kernel larger than the input");
    bad = (Conv2dShape){.N = 1, .C = 1, .H = 5, .W = 5, .K = 1, .KH = 3, .KW = 3, .pad_h = -1};
    CHECK(conv2d_shape_init(&bad) < 0, "conv2d rejects negative padding");
    Conv2dShape good = {.N = 1, .C = 1, .H = 128, .W = 400, .K = 16, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                        .pad_h = 1, .pad_w = 1, .dil_h = 2, .dil_w = 1};
    CHECK(conv2d_shape_init(&good) == 0 && good.OH == 63 && good.OW == 200 && good.groups == 1,
          "conv2d output size (PyTorch's formula)");
}

/* ---- linear ------------------------------------------------------------------------------------------- */

typedef struct {
    NnCtx *ctx;
    LinearShape s;
    float *x, *w, *b;
} LinCase;

static void lin_fwd(void *arg, float *y) {
    LinCase *c = arg;
    linear_forward(c->ctx, &c->s, c->x, c->w, c->b, y);
}

static void linear_case(int N, int in, int out, int bias, int fd) {
    LinearShape s = {N, in, out};
    NnCtx c1, c2, c3;
    nn_ctx_init(&c1, 1);
    nn_ctx_init(&c2, 2);
    nn_ctx_init(&c3, 3);
    if (linear_shape_init(&s) < 0) abort();
    Rng r;
    rng_seed(&r, (uint64_t)N * 1000003u + (uint64_t)in * 1009u + (uint64_t)out);
    size_t nx = (size_t)N * in, nw = (size_t)out * in, ny = (size_t)N * out;
    float *x = fbuf(nx), *w = fbuf(nw), *b = bias ? fbuf((size_t)out) : NULL, *dy = fbuf(ny);
    fill(&r, x, nx);
    fill(&r, w, nw);
    if (b) fill(&r, b, (size_t)out);
    double *rr = dbuf(ny);
    for (size_t i = 0; i < ny; i++) dy[i] = (float)(rr[i] = 2.0 * rng_uniform(&r) - 1.0);
    double *ry = dbuf(ny), *rdx = dbuf(nx), *rdw = dbuf(nw), *rdb = dbuf((size_t)out);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) {
                acc += (double)x[(size_t)n * in + i] * w[(size_t)o * in + i];
                rdx[(size_t)n * in + i] += (double)dy[(size_t)n * out + o] * w[(size_t)o * in + i];
                rdw[(size_t)o * in + i] += (double)dy[(size_t)n * out + o] * x[(size_t)n * in + i];
            }
            ry[(size_t)n * out + o] = acc;
            rdb[o] += dy[(size_t)n * out + o];
        }
    float *y[3], *dx[3], *dw[3], *db[3];
    NnCtx *cs[3] = {&c1, &c2, &c3};
    for (int t = 0; t < 3; t++) {
        y[t] = fbuf(ny);
        dx[t] = fbuf(nx);
        dw[t] = fbuf(nw);
        db[t] = fbuf((size_t)out);
        fill_nan(y[t], ny);
        fill_nan(dx[t], nx);
        memset(dw[t], 0, nw * sizeof(float));
        memset(db[t], 0, (size_t)out * sizeof(float));
        linear_forward(cs[t], &s, x, w, b, y[t]);
        linear_backward(cs[t], &s, x, w, dy, dx[t], dw[t], b ? db[t] : NULL);
    }
    double e = fmax(fmax(rel_err_fd(y[1], ry, ny), rel_err_fd(dx[1], rdx, nx)),
                    fmax(rel_err_fd(dw[1], rdw, nw), b ? rel_err_fd(db[1], rdb, (size_t)out) : 0.0));
    CHECK(e <= REF_TOL, "linear %dx%d->%d%s vs double reference (max rel err %.2g)", N, in, out, bias ? "" : " no bias",
          e);
    int same = 1;
    for (int t = 0; t < 3; t += 2)
        same &= same_bits(y[t], y[1], ny) && same_bits(dx[t], dx[1], nx) && same_bits(dw[t], dw[1], nw) &&
                same_bits(db[t], db[1], (size_t)out);
    CHECK(same, "linear %dx%d->%d bit-identical for threads 1, 2, 3", N, in, out);
    if (fd) {
        LinCase lc = {&c1, s, x, w, b};
        float *yy = fbuf(ny);
        double ex = fd_err(lin_fwd, &lc, yy, ny, rr, x, nx, 1e-2f, dx[0]);
        double ew = fd_err(lin_fwd, &lc, yy, ny, rr, w, nw, 1e-2f, dw[0]);
        double eb = b ? fd_err(lin_fwd, &lc, yy, ny, rr, b, (size_t)out, 1e-2f, db[0]) : 0.0;
        CHECK(ex <= FD_TOL, "linear %dx%d->%d dx finite differences (max rel err %.2g)", N, in, out, ex);
        CHECK(ew <= FD_TOL, "linear %dx%d->%d dw finite differences (max rel err %.2g)", N, in, out, ew);
        if (b) CHECK(eb <= FD_TOL, "linear %dx%d->%d db finite differences (max rel err %.2g)", N, in, out, eb);
        free(yy);
    }
    for (int t = 0; t < 3; t++) {
        free(y[t]);
        free(dx[t]);
        free(dw[t]);
        free(db[t]);
    }
    free(x);
    free(w);
    free(b);
    free(dy);
    free(rr);
    free(ry);
    free(rdx);
    free(rdw);
    free(rdb);
    nn_ctx_free(&c1);
    nn_ctx_free(&c2);
    nn_ctx_free(&c3);
}

/* ---- pooling ------------------------------------------------------------------------------------------ */

typedef struct {
    NnCtx *ctx;
    Pool2dShape s;
    GlobalPoolShape g;
    int kind; /* 0 max, 1 avg, 2 global */
    float *x;
    int32_t *idx;
} PoolCase;

static void pool_fwd(void *arg, float *y) {
    PoolCase *c = arg;
    if (c->kind == 0) maxpool2d_forward(c->ctx, &c->s, c->x, y, c->idx);
    else if (c->kind == 1) avgpool2d_forward(c->ctx, &c->s, c->x, y);
    else global_avgpool_forward(c->ctx, &c->g, c->x, y);
}

/* Naive reference in double: y and dx for dy. */
static void ref_pool(const PoolCase *c, const float *x, const float *dy, double *y, double *dx) {
    if (c->kind == 2) {
        const GlobalPoolShape *g = &c->g;
        size_t HW = (size_t)g->H * g->W;
        for (size_t pl = 0; pl < (size_t)g->N * g->C; pl++) {
            double acc = 0;
            for (size_t i = 0; i < HW; i++) acc += x[pl * HW + i];
            y[pl] = acc / (double)HW;
            for (size_t i = 0; i < HW; i++) dx[pl * HW + i] = dy[pl] / (double)HW;
        }
        return;
    }
    const Pool2dShape *s = &c->s;
    for (size_t pl = 0; pl < (size_t)s->N * s->C; pl++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++) {
                double acc = 0, m = -INFINITY;
                int cnt = 0, best = -1;
                for (int i = 0; i < s->KH; i++)
                    for (int j = 0; j < s->KW; j++) {
                        int ih = oh * s->stride_h - s->pad_h + i, iw = ow * s->stride_w - s->pad_w + j;
                        if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                        double v = x[(pl * s->H + ih) * s->W + iw];
                        acc += v;
                        cnt++;
                        if (v > m) {
                            m = v;
                            best = ih * s->W + iw;
                        }
                    }
                size_t yi = (pl * s->OH + oh) * s->OW + ow;
                if (c->kind == 0) {
                    y[yi] = m;
                    dx[pl * s->H * s->W + (size_t)best] += dy[yi];
                } else {
                    double div = s->exclude_pad ? cnt : s->KH * s->KW;
                    y[yi] = acc / div;
                    for (int i = 0; i < s->KH; i++)
                        for (int j = 0; j < s->KW; j++) {
                            int ih = oh * s->stride_h - s->pad_h + i, iw = ow * s->stride_w - s->pad_w + j;
                            if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                            dx[(pl * s->H + ih) * s->W + iw] += dy[yi] / div;
                        }
                }
            }
}

static void pool_case(const char *name, int kind, Pool2dShape s, GlobalPoolShape g) {
    NnCtx c1, c2, c3;
    nn_ctx_init(&c1, 1);
    nn_ctx_init(&c2, 2);
    nn_ctx_init(&c3, 3);
    PoolCase pc = {.ctx = &c1, .s = s, .g = g, .kind = kind};
    int rc = kind == 2 ? global_avgpool_shape_init(&pc.g) : pool2d_shape_init(&pc.s);
    if (rc < 0) {
        printf("not ok pool %s: %s\n", name, err_msg());
        check_failures++;
        return;
    }
    size_t nx = kind == 2 ? (size_t)g.N * g.C * g.H * g.W : (size_t)s.N * s.C * s.H * s.W;
    size_t ny = kind == 2 ? (size_t)g.N * g.C : (size_t)s.N * s.C * pc.s.OH * pc.s.OW;
    Rng r;
    rng_seed(&r, hash_string(name));
    float *x = fbuf(nx), *dy = fbuf(ny);
    if (kind == 0) {
        /* Distinct values 0.01 apart (a shuffled ramp): no ties, and FD steps cannot change the argmax. */
        uint64_t *perm = malloc(nx * sizeof *perm);
        for (size_t i = 0; i < nx; i++) perm[i] = i;
        rng_shuffle_size(&r, perm, nx);
        for (size_t i = 0; i < nx; i++) x[i] = (float)(0.01 * (double)perm[i] - 0.005 * (double)nx);
        free(perm);
    } else {
        fill(&r, x, nx);
    }
    double *rr = dbuf(ny);
    for (size_t i = 0; i < ny; i++) dy[i] = (float)(rr[i] = 2.0 * rng_uniform(&r) - 1.0);
    double *ry = dbuf(ny), *rdx = dbuf(nx);
    ref_pool(&pc, x, dy, ry, rdx);
    float *y[3], *dx[3];
    int32_t *idx[3];
    NnCtx *cs[3] = {&c1, &c2, &c3};
    for (int t = 0; t < 3; t++) {
        y[t] = fbuf(ny);
        dx[t] = fbuf(nx);
        idx[t] = malloc(ny * sizeof(int32_t));
        fill_nan(y[t], ny);
        fill_nan(dx[t], nx);
        if (kind == 0) {
            maxpool2d_forward(cs[t], &pc.s, x, y[t], idx[t]);
            maxpool2d_backward(cs[t], &pc.s, dy, idx[t], dx[t]);
        } else if (kind == 1) {
            avgpool2d_forward(cs[t], &pc.s, x, y[t]);
            avgpool2d_backward(cs[t], &pc.s, dy, dx[t]);
        } else {
            global_avgpool_forward(cs[t], &pc.g, x, y[t]);
            global_avgpool_backward(cs[t], &pc.g, dy, dx[t]);
        }
    }
    double e = fmax(rel_err_fd(y[1], ry, ny), rel_err_fd(dx[1], rdx, nx));
    CHECK(e <= 1e-6, "%s vs double reference (max rel err %.2g)", name, e);
    int same = 1;
    for (int t = 0; t < 3; t += 2) same &= same_bits(y[t], y[1], ny) && same_bits(dx[t], dx[1], nx);
    if (kind == 0)
        for (int t = 0; t < 3; t += 2) same &= memcmp(idx[t], idx[1], ny * sizeof(int32_t)) == 0;
    CHECK(same, "%s bit-identical for threads 1, 2, 3", name);
    pc.idx = idx[0];
    pc.x = x;
    float *yy = fbuf(ny);
    double ex = fd_err(pool_fwd, &pc, yy, ny, rr, x, nx, kind == 0 ? 1e-3f : 1e-2f, dx[0]);
    CHECK(ex <= FD_TOL, "%s dx finite differences (max rel err %.2g)", name, ex);
    free(yy);
    for (int t = 0; t < 3; t++) {
        free(y[t]);
        free(dx[t]);
        free(idx[t]);
    }
    free(x);
    free(dy);
    free(rr);
    free(ry);
    free(rdx);
    nn_ctx_free(&c1);
    nn_ctx_free(&c2);
    nn_ctx_free(&c3);
}

static void test_pool(void) {
    GlobalPoolShape g0 = {0};
    Pool2dShape p0 = {0};
    pool_case("maxpool 2x2", 0, (Pool2dShape){.N = 2, .C = 3, .H = 8, .W = 10, .KH = 2, .KW = 2}, g0);
    pool_case("maxpool 2x2 odd input", 0, (Pool2dShape){.N = 2, .C = 2, .H = 7, .W = 9, .KH = 2, .KW = 2}, g0);
    pool_case("maxpool 3x3 stride2 pad1", 0,
              (Pool2dShape){.N = 2, .C = 3, .H = 9, .W = 8, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1,
                            .pad_w = 1},
              g0);
    pool_case("maxpool 3x2 stride(1,2)", 0,
              (Pool2dShape){.N = 1, .C = 2, .H = 6, .W = 7, .KH = 3, .KW = 2, .stride_h = 1, .stride_w = 2}, g0);
    pool_case("avgpool 2x2", 1, (Pool2dShape){.N = 2, .C = 3, .H = 8, .W = 9, .KH = 2, .KW = 2}, g0);
    pool_case("avgpool 3x3 stride2 pad1", 1,
              (Pool2dShape){.N = 2, .C = 3, .H = 9, .W = 8, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1,
                            .pad_w = 1},
              g0);
    pool_case("avgpool 3x3 stride2 pad1 exclude_pad", 1,
              (Pool2dShape){.N = 2, .C = 3, .H = 9, .W = 8, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1,
                            .pad_w = 1, .exclude_pad = 1},
              g0);
    pool_case("global avgpool", 2, p0, (GlobalPoolShape){.N = 3, .C = 5, .H = 4, .W = 7});

    /* Ties and NaN follow ATen: the first maximum wins, NaN propagates. */
    NnCtx c;
    nn_ctx_init(&c, 1);
    Pool2dShape s = {.N = 1, .C = 1, .H = 2, .W = 4, .KH = 2, .KW = 2};
    pool2d_shape_init(&s);
    float x[8] = {1, 3, 2, 2, 3, 0, NAN, 2}, y[2];
    int32_t idx[2];
    maxpool2d_forward(&c, &s, x, y, idx);
    CHECK(y[0] == 3 && idx[0] == 1 && isnan(y[1]) && idx[1] == 6, "maxpool ties: first maximum; NaN propagates");
    {
        /* 3x3/2 pad 1 on a wide row (the four-window path): small integers (many ties) and NaNs, against
         * the definition: scan rows then columns, take v when v > max or v is NaN, start at -inf */
        Pool2dShape w = {.N = 1, .C = 1, .H = 5, .W = 41, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                         .pad_h = 1, .pad_w = 1};
        pool2d_shape_init(&w);
        float xw[5 * 41], yw[3 * 21];
        int32_t iw[3 * 21];
        for (int i = 0; i < 5 * 41; i++) xw[i] = (float)((i * 7919) % 5);
        xw[50] = xw[97] = xw[98] = NAN;
        maxpool2d_forward(&c, &w, xw, yw, iw);
        int ok = 1;
        for (int oh = 0; oh < w.OH; oh++)
            for (int ow = 0; ow < w.OW; ow++) {
                float m = -INFINITY;
                int best = -1;
                for (int h = 2 * oh - 1; h <= 2 * oh + 1; h++)
                    for (int q = 2 * ow - 1; q <= 2 * ow + 1; q++) {
                        if (h < 0 || h >= w.H || q < 0 || q >= w.W) continue;
                        if (best < 0) best = h * w.W + q;
                        float v = xw[h * w.W + q];
                        if (v > m || isnan(v)) m = v, best = h * w.W + q;
                    }
                float got = yw[oh * w.OW + ow];
                if (iw[oh * w.OW + ow] != best || !(got == m || (isnan(got) && isnan(m)))) ok = 0;
            }
        CHECK(ok, "maxpool 3x3/2 pad1, 41 wide: ties keep the first maximum, NaN propagates, argmax as the definition");
    }
    {
        /* 2x2/2 on rows of 75 (37 outputs: the 16-wide AVX-512 blocks, the 4-wide SSE4.1 block and the
         * scalar tail), small integers (many ties), NaNs and -inf, against the definition */
        Pool2dShape w = {.N = 1, .C = 2, .H = 7, .W = 75, .KH = 2, .KW = 2};
        pool2d_shape_init(&w);
        float xw[2 * 7 * 75], yw[2 * 3 * 37];
        int32_t iw[2 * 3 * 37];
        for (int i = 0; i < 2 * 7 * 75; i++) xw[i] = (float)((i * 7919) % 4);
        xw[3] = xw[76] = xw[300] = xw[301] = xw[600] = NAN;
        xw[0] = xw[1] = xw[75] = xw[76 + 75] = -INFINITY;
        maxpool2d_forward(&c, &w, xw, yw, iw);
        int ok = 1;
        for (int pl = 0; pl < 2; pl++)
            for (int oh = 0; oh < w.OH; oh++)
                for (int ow = 0; ow < w.OW; ow++) {
                    const float *xp = xw + pl * 7 * 75;
                    int best = 2 * oh * 75 + 2 * ow;
                    float m = xp[best];
                    for (int q = 1; q < 4; q++) {
                        int i = (2 * oh + q / 2) * 75 + 2 * ow + q % 2;
                        if (xp[i] > m || isnan(xp[i])) m = xp[i], best = i;
                    }
                    int o = (pl * w.OH + oh) * w.OW + ow;
                    if (iw[o] != best || !(yw[o] == m || (isnan(yw[o]) && isnan(m)))) ok = 0;
                }
        CHECK(ok, "maxpool 2x2/2, 75 wide: ties keep the first maximum, NaN propagates, argmax as the definition (%s)",
              nn_avx512() ? "AVX-512 path" : "SSE4.1 path");
    }
    nn_ctx_free(&c);
    Pool2dShape bad = {.N = 1, .C = 1, .H = 4, .W = 4, .KH = 2, .KW = 2, .pad_h = 2};
    CHECK(pool2d_shape_init(&bad) < 0, "pool2d rejects padding over half the kernel");
    Pool2dShape dflt = {.N = 1, .C = 1, .H = 128, .W = 400, .KH = 2, .KW = 2};
    CHECK(pool2d_shape_init(&dflt) == 0 && dflt.stride_h == 2 && dflt.OH == 64 && dflt.OW == 200,
          "pool2d stride defaults to the kernel");
}

/* ---- initialisation ----------------------------------------------------------------------------------- */

static void test_init(void) {
    Rng r;
    rng_seed(&r, 7);
    Conv2dShape s = {.N = 1, .C = 64, .H = 8, .W = 8, .K = 128, .KH = 3, .KW = 3};
    conv2d_shape_init(&s);
    size_t nw = conv2d_w_numel(&s);
    float *w = fbuf(nw), b[128];
    conv2d_init_default(&r, &s, w, b);
    double bound = 1.0 / sqrt(64.0 * 9.0), m = 0, v = 0, mx = 0;
    for (size_t i = 0; i < nw; i++) {
        m += w[i];
        v += (double)w[i] * w[i];
        mx = fmax(mx, fabs(w[i]));
    }
    m /= (double)nw;
    v /= (double)nw;
    double mb = 0;
    for (int i = 0; i < 128; i++) mb = fmax(mb, fabs(b[i]));
    CHECK(mx <= bound && mx > 0.99 * bound && fabs(v / (bound * bound / 3.0) - 1.0) < 0.03 && fabs(m) < 0.01 * bound &&
              mb <= bound,
          "conv2d default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (max %.4g bound %.4g, var ratio %.4f)", mx, bound,
          v / (bound * bound / 3.0));
    conv2d_init_kaiming_normal_fan_out(&r, &s, w);
    double sd = sqrt(2.0 / (128.0 * 9.0));
    m = v = 0;
    size_t within1 = 0;
    for (size_t i = 0; i < nw; i++) {
        m += w[i];
        v += (double)w[i] * w[i];
        within1 += fabs(w[i]) <= sd;
    }
    m /= (double)nw;
    v /= (double)nw;
    CHECK(fabs(sqrt(v) / sd - 1.0) < 0.02 && fabs(m) < 0.02 * sd && fabs((double)within1 / (double)nw - 0.6827) < 0.01,
          "conv2d kaiming_normal fan_out relu: N(0, 2/fan_out) (std ratio %.4f, within 1 sd %.4f)", sqrt(v) / sd,
          (double)within1 / (double)nw);
    free(w);
    LinearShape ls = {1, 200, 50};
    float *lw = fbuf(200 * 50), lb[50];
    linear_init_default(&r, &ls, lw, lb);
    double lbound = 1.0 / sqrt(200.0), lm = 0;
    for (int i = 0; i < 200 * 50; i++) lm = fmax(lm, fabs(lw[i]));
    for (int i = 0; i < 50; i++) lm = fmax(lm, fabs(lb[i]));
    CHECK(lm <= lbound && lm > 0.99 * lbound, "linear default init: U(-1/sqrt(in), 1/sqrt(in)) (max %.4g bound %.4g)",
          lm, lbound);
    free(lw);
}

/* The fused paths against the passes they replace, bit for bit: conv2d_forward_ep (eval BN's affine map,
 * residual, activation, plane means) against conv2d_forward, batchnorm2d_forward_eval,
 * residual_add_forward, relu/silu_forward and global_avgpool_forward; BN's fused activation in train and
 * eval mode; residual_add_relu_forward. On the GEMM path (several pixel blocks, im2col and 1x1) and the
 * direct path (both depthwise kernels), threads 1 and 2. */
static void epilogue_case(const char *name, Conv2dShape s, int bias) {
    if (conv2d_shape_init(&s) < 0) {
        CHECK(0, "epilogue %s: shape (%s)", name, err_msg());
        return;
    }
    size_t nx = conv2d_x_numel(&s), ny = conv2d_y_numel(&s), nw = conv2d_w_numel(&s);
    int K = s.K, P = s.OH * s.OW;
    Rng r;
    rng_seed(&r, 77);
    float *x = fbuf(nx), *w = fbuf(nw), *b = fbuf((size_t)K), *res = fbuf(ny), *y = fbuf(ny), *want = fbuf(ny);
    float *bw = fbuf((size_t)K), *bb = fbuf((size_t)K), *rm = fbuf((size_t)K), *rv = fbuf((size_t)K);
    float *scale = fbuf((size_t)K), *shift = fbuf((size_t)K), *pm = fbuf((size_t)s.N * K), *pm_want = fbuf((size_t)s.N * K);
    fill(&r, x, nx);
    fill(&r, w, nw);
    fill(&r, b, (size_t)K);
    fill(&r, res, ny);
    fill(&r, bw, (size_t)K);
    fill(&r, bb, (size_t)K);
    fill(&r, rm, (size_t)K);
    for (int k = 0; k < K; k++) rv[k] = 0.5f + (float)rng_uniform(&r);
    BatchNorm2dShape bn = batchnorm2d_shape(s.N, K, s.OH, s.OW);
    batchnorm2d_eval_affine(K, bn.eps, bw, bb, rm, rv, scale, shift);
    const char *acts[] = {"none", "relu", "silu"};
    for (int threads = 1; threads <= 2; threads++) {
        NnCtx ctx;
        nn_ctx_init(&ctx, threads);
        int ok = 1;
        for (int act = ACT_NONE; act <= ACT_SILU; act++)
            for (int with_res = 0; with_res <= 1; with_res++) {
                /* the separate passes */
                conv2d_forward(&ctx, &s, x, w, bias ? b : NULL, want);
                batchnorm2d_forward_eval(&ctx, &bn, want, bw, bb, rm, rv, want, NULL, NULL);
                if (with_res) residual_add_forward(&ctx, ny, want, res, want);
                if (act == ACT_RELU) relu_forward(&ctx, ny, want, want);
                if (act == ACT_SILU) silu_forward(&ctx, ny, want, want);
                GlobalPoolShape gp = {.N = s.N, .C = K, .H = s.OH, .W = s.OW};
                global_avgpool_forward(&ctx, &gp, want, pm_want);
                ConvEpilogue ep = {.scale = scale, .shift = shift, .res = with_res ? res : NULL, .act = (ActKind)act,
                                   .plane_mean = pm};
                fill_nan(y, ny);
                int rc = conv2d_forward_ep(&ctx, &s, x, w, bias ? b : NULL, y, &ep);
                if (rc != 0 || !same_bits(y, want, ny) || !same_bits(pm, pm_want, (size_t)s.N * K)) {
                    ok = 0;
                    printf("#   act %s res %d threads %d differs\n", acts[act], with_res, threads);
                }
            }
        CHECK(ok, "conv2d epilogue %s (%d thread%s): BN affine + residual + none/relu/silu + plane means "
                  "bit-identical to the separate passes", name, threads, threads > 1 ? "s" : "");
        { /* in_scale (SE's excitation read with x) against se_scale first, or refused where not supported */
            float *xs = fbuf(nx), *sc = fbuf((size_t)s.N * s.C);
            for (int i = 0; i < s.N * s.C; i++) sc[i] = i % 7 == 3 ? 0.0f : (float)rng_uniform(&r);
            SEShape ses = {.N = s.N, .C = s.C, .H = s.H, .W = s.W};
            se_scale(&ctx, &ses, x, sc, xs);
            ConvEpilogue e0 = {.scale = scale, .shift = shift, .res = res, .act = ACT_SILU};
            ConvEpilogue e1 = e0;
            e1.in_scale = sc;
            conv2d_forward_ep(&ctx, &s, xs, w, bias ? b : NULL, want, &e0);
            fill_nan(y, ny);
            int rc = conv2d_forward_ep(&ctx, &s, x, w, bias ? b : NULL, y, &e1);
            if (conv2d_in_scale_supported(&ctx, &s))
                CHECK(rc == 0 && same_bits(y, want, ny),
                      "conv2d epilogue %s (%d thread%s): in_scale bit-identical to se_scale then the convolution",
                      name, threads, threads > 1 ? "s" : "");
            else
                CHECK(rc < 0 && strstr(err_msg(), "scaled input"), "conv2d epilogue %s (%d thread%s): in_scale refused (%s)",
                      name, threads, threads > 1 ? "s" : "", err_msg());
            /* the backward of the scaled input: dw (added to) and dx against conv2d_backward of se_scale's x */
            float *dy = fbuf(ny), *dx0 = fbuf(nx), *dx1 = fbuf(nx), *dw0 = fbuf(nw), *dw1 = fbuf(nw);
            fill(&r, dy, ny);
            fill(&r, dw0, nw);
            memcpy(dw1, dw0, sizeof(float) * nw);
            conv2d_backward(&ctx, &s, xs, w, dy, dx0, dw0, NULL);
            fill_nan(dx1, nx);
            rc = conv2d_backward_in_scale(&ctx, &s, x, sc, w, dy, dx1, dw1, NULL);
            if (conv2d_in_scale_supported(&ctx, &s) && strcmp(gemm_kernel_name(), "openblas") != 0)
                CHECK(rc == 0 && same_bits(dx1, dx0, nx) && same_bits(dw1, dw0, nw),
                      "conv2d backward %s (%d thread%s): in_scale's dx and dw bit-identical to se_scale then the backward",
                      name, threads, threads > 1 ? "s" : "");
            else if (conv2d_in_scale_supported(&ctx, &s)) { /* OpenBLAS takes the scaled rows in blocks of 32 */
                double e = 0, big = 1e-30; /* the worst difference relative to the largest gradient */
                for (size_t i = 0; i < nw; i++) e = fmax(e, fabs((double)dw1[i] - dw0[i])), big = fmax(big, fabs((double)dw0[i]));
                e /= big;
                CHECK(rc == 0 && same_bits(dx1, dx0, nx) && e < 1e-5,
                      "conv2d backward %s (%d thread%s, OpenBLAS): in_scale's dx bit-identical, dw within rounding "
                      "(%.1e) of se_scale then the backward", name, threads, threads > 1 ? "s" : "", e);
            }
            else
                CHECK(rc < 0 && strstr(err_msg(), "scaled input"), "conv2d backward %s (%d thread%s): in_scale refused (%s)",
                      name, threads, threads > 1 ? "s" : "", err_msg());
            free(xs), free(sc), free(dy), free(dx0), free(dx1), free(dw0), free(dw1);
        }
        /* BN's fused activation, train and eval mode: forward against BN then the activation, backward
         * against the activation's backward on the stored pre-activation then BN's (also in place) */
        int okbn = 1, okbw = 1;
        float *m1 = fbuf((size_t)K), *i1 = fbuf((size_t)K), *rm2 = fbuf((size_t)K), *rv2 = fbuf((size_t)K);
        float *pre = fbuf(ny), *dy = fbuf(ny), *g = fbuf(ny), *dx1 = fbuf(ny), *dx2 = fbuf(ny);
        float *dw1 = fbuf((size_t)K), *db1 = fbuf((size_t)K), *dw2 = fbuf((size_t)K), *db2 = fbuf((size_t)K);
        for (int act = ACT_RELU; act <= ACT_SILU; act++)
            for (int train = 0; train <= 1; train++) {
                conv2d_forward(&ctx, &s, x, w, NULL, y);
                BatchNorm2dShape fused = bn;
                fused.act = (ActKind)act;
                memcpy(rm2, rm, sizeof(float) * (size_t)K);
                memcpy(rv2, rv, sizeof(float) * (size_t)K);
                if (train) {
                    batchnorm2d_forward_train(&ctx, &bn, y, bw, bb, rm2, rv2, NULL, pre, m1, i1);
                    batchnorm2d_forward_train(&ctx, &fused, y, bw, bb, rm2, rv2, NULL, res, m1, i1);
                } else {
                    batchnorm2d_forward_eval(&ctx, &bn, y, bw, bb, rm, rv, pre, m1, i1);
                    batchnorm2d_forward_eval(&ctx, &fused, y, bw, bb, rm, rv, res, m1, i1);
                }
                if (act == ACT_RELU) relu_forward(&ctx, ny, pre, want);
                else silu_forward(&ctx, ny, pre, want);
                okbn &= same_bits(res, want, ny);
                fill(&r, res, ny);
                fill(&r, dy, ny);
                if (act == ACT_RELU) relu_backward(&ctx, ny, dy, want, g); /* from the output relu(pre) */
                else silu_backward(&ctx, ny, dy, pre, g);
                memset(dw1, 0, sizeof(float) * (size_t)K);
                memset(db1, 0, sizeof(float) * (size_t)K);
                memset(dw2, 0, sizeof(float) * (size_t)K);
                memset(db2, 0, sizeof(float) * (size_t)K);
                if (train) {
                    batchnorm2d_backward_train(&ctx, &bn, g, y, bw, bb, m1, i1, dx1, dw1, db1);
                    batchnorm2d_backward_train(&ctx, &fused, dy, y, bw, bb, m1, i1, dx2, dw2, db2);
                } else {
                    batchnorm2d_backward_eval(&ctx, &bn, g, y, bw, bb, m1, i1, dx1, dw1, db1);
                    batchnorm2d_backward_eval(&ctx, &fused, dy, y, bw, bb, m1, i1, dx2, dw2, db2);
                }
                okbw &= same_bits(dx1, dx2, ny) && same_bits(dw1, dw2, (size_t)K) && same_bits(db1, db2, (size_t)K);
                memcpy(dx2, dy, sizeof(float) * ny); /* in place (dx == dout), as the networks call it */
                if (train) batchnorm2d_backward_train(&ctx, &fused, dx2, y, bw, bb, m1, i1, dx2, NULL, NULL);
                else batchnorm2d_backward_eval(&ctx, &fused, dx2, y, bw, bb, m1, i1, dx2, NULL, NULL);
                okbw &= same_bits(dx1, dx2, ny);
            }
        CHECK(okbn, "batchnorm %s (%d thread%s): fused relu/silu, train and eval, bit-identical to BN then the activation",
              name, threads, threads > 1 ? "s" : "");
        CHECK(okbw, "batchnorm %s (%d thread%s): backward through a fused relu/silu, train and eval, in place too, "
                    "bit-identical to the activation's backward then BN's", name, threads, threads > 1 ? "s" : "");
        float *bufs[] = {pre, dy, g, dx1, dx2, dw1, db1, dw2, db2};
        for (size_t q = 0; q < sizeof bufs / sizeof *bufs; q++) free(bufs[q]);
        /* residual_add_relu_forward */
        fill(&r, y, ny);
        residual_add_forward(&ctx, ny, y, res, want);
        relu_forward(&ctx, ny, want, want);
        residual_add_relu_forward(&ctx, ny, y, res, y);
        CHECK(same_bits(y, want, ny), "residual_add_relu %s (%d thread%s) bit-identical to add then relu (in place)", name,
              threads, threads > 1 ? "s" : "");
        free(m1);
        free(i1);
        free(rm2);
        free(rv2);
        nn_ctx_free(&ctx);
    }
    float *ptrs[] = {x, w, b, res, y, want, bw, bb, rm, rv, scale, shift, pm, pm_want};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) free(ptrs[i]);
    (void)P;
}

/* Planes a few columns short of whole vectors (4 x 13 = 52: EfficientNet's and ResNet's last stage) go
 * through the GEMM several images at a time (conv2d.c's gemm_fwd_images): the batch's output against each
 * image convolved alone, bit for bit, without an epilogue, with BN's affine map + SiLU + plane means, with a
 * residual (and none, or ReLU, which takes the one-image path), and pointwise with in_scale. N = 9: items
 * of 4, 4 and 1 images. Threads 1 and 2. */
static void images_case(const char *name, Conv2dShape s, int bias) {
    Conv2dShape s1 = s;
    s1.N = 1;
    if (conv2d_shape_init(&s) < 0 || conv2d_shape_init(&s1) < 0) {
        CHECK(0, "images %s: shape (%s)", name, err_msg());
        return;
    }
    size_t nx = conv2d_x_numel(&s), ny = conv2d_y_numel(&s), nw = conv2d_w_numel(&s);
    size_t nx1 = conv2d_x_numel(&s1), ny1 = conv2d_y_numel(&s1);
    int K = s.K, C = s.C, N = s.N;
    Rng r;
    rng_seed(&r, 91);
    float *x = fbuf(nx), *w = fbuf(nw), *b = fbuf((size_t)K), *res = fbuf(ny), *y = fbuf(ny), *want = fbuf(ny);
    float *scale = fbuf((size_t)K), *shift = fbuf((size_t)K), *sc = fbuf((size_t)N * C);
    float *pm = fbuf((size_t)N * K), *pm_want = fbuf((size_t)N * K);
    fill(&r, x, nx);
    fill(&r, w, nw);
    fill(&r, b, (size_t)K);
    fill(&r, res, ny);
    fill(&r, scale, (size_t)K);
    fill(&r, shift, (size_t)K);
    for (int i = 0; i < N * C; i++) sc[i] = (float)rng_uniform(&r);
    for (int threads = 1; threads <= 2; threads++) {
        NnCtx ctx;
        nn_ctx_init(&ctx, threads);
        int ok = 1, ran = 0;
        for (int v = 0; v < 5; v++) {
            ConvEpilogue ep = {.scale = scale, .shift = shift};
            if (v == 1) ep.act = ACT_SILU, ep.plane_mean = pm;
            if (v == 2 || v == 3) ep.res = res, ep.act = v == 3 ? ACT_RELU : ACT_NONE;
            if (v == 4) {
                if (!conv2d_in_scale_supported(&ctx, &s)) continue;
                ep.in_scale = sc;
            }
            const ConvEpilogue *e = v ? &ep : NULL;
            fill_nan(y, ny);
            int rc = conv2d_forward_ep(&ctx, &s, x, w, bias ? b : NULL, y, e);
            for (int n = 0; n < N && rc == 0; n++) {
                ConvEpilogue e1 = ep;
                if (ep.res) e1.res = res + (size_t)n * ny1;
                if (ep.plane_mean) e1.plane_mean = pm_want + (size_t)n * K;
                if (ep.in_scale) e1.in_scale = sc + (size_t)n * C;
                rc = conv2d_forward_ep(&ctx, &s1, x + (size_t)n * nx1, w, bias ? b : NULL, want + (size_t)n * ny1,
                                       e ? &e1 : NULL);
            }
            ran++;
            if (rc != 0 || !same_bits(y, want, ny) || (v == 1 && !same_bits(pm, pm_want, (size_t)N * K))) {
                ok = 0;
                printf("#   variant %d threads %d differs\n", v, threads);
            }
        }
        CHECK(ok, "conv2d %s (%d thread%s): the batch, several images per GEMM, bit-identical to each image alone "
                  "(%d variants of the epilogue)", name, threads, threads > 1 ? "s" : "", ran);
        nn_ctx_free(&ctx);
    }
    free(x), free(w), free(b), free(res), free(y), free(want), free(scale), free(shift), free(sc), free(pm), free(pm_want);
}

static void test_epilogue(void) {
    epilogue_case("1x1 (several pixel blocks)", (Conv2dShape){.N = 2, .C = 24, .H = 40, .W = 301, .K = 40, .KH = 1, .KW = 1},
                  0);
    epilogue_case("3x3 pad1 with bias (im2col)",
                  (Conv2dShape){.N = 2, .C = 5, .H = 13, .W = 37, .K = 7, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1}, 1);
    epilogue_case("depthwise 3x3", (Conv2dShape){.N = 2, .C = 6, .H = 17, .W = 45, .K = 6, .KH = 3, .KW = 3, .pad_h = 1,
                                                 .pad_w = 1, .groups = 6},
                  0);
    epilogue_case("depthwise 5x5 stride2", (Conv2dShape){.N = 2, .C = 5, .H = 21, .W = 45, .K = 5, .KH = 5, .KW = 5,
                                                         .stride_h = 2, .stride_w = 2, .pad_h = 2, .pad_w = 2, .groups = 5},
                  1);
    images_case("1x1 on 4x13 planes", (Conv2dShape){.N = 9, .C = 24, .H = 4, .W = 13, .K = 40, .KH = 1, .KW = 1}, 0);
    images_case("3x3 pad1 with bias on 4x13 planes (im2col)",
                (Conv2dShape){.N = 9, .C = 5, .H = 4, .W = 13, .K = 7, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1}, 1);
    images_case("1x1 stride 2 into 4x13 planes (im2col)",
                (Conv2dShape){.N = 9, .C = 16, .H = 8, .W = 26, .K = 24, .KH = 1, .KW = 1, .stride_h = 2, .stride_w = 2}, 0);
    images_case("3x3 pad1 on 7x7 planes", (Conv2dShape){.N = 9, .C = 3, .H = 7, .W = 7, .K = 5, .KH = 3, .KW = 3, .pad_h = 1,
                                                        .pad_w = 1}, 1);
}

int main(int argc, char **argv) {
    (void)argc;
    printf("# kernels: %s\n", nn_avx512() ? "AVX-512 (own GEMM and depthwise)" : "OpenBLAS GEMM, portable depthwise");
    test_conv();
    linear_case(3, 7, 5, 1, 1);
    linear_case(4, 6, 3, 0, 1);
    linear_case(130, 70, 140, 1, 0);
    test_pool();
    test_init();
    test_epilogue();
    /* Again with the portable kernels, when this CPU ran the AVX-512 ones. */
    if (check_failures == 0 && nn_avx512() && !getenv("AUDIOCNN_AVX512")) {
        fflush(stdout);
        setenv("AUDIOCNN_AVX512", "0", 1);
        execv("/proc/self/exe", argv);
        CHECK(0, "could not run again with AUDIOCNN_AVX512=0");
    }
    return check_failures ? 1 : 0;
}
