/* Winograd F(4x4, 3x3) (lib/nn/winograd.c) through conv2d's CONV2D_WINOGRAD path: forward and dx
 * against a double-precision direct convolution over many shapes (odd H and W, partial tiles, C and K
 * not multiples of 16, batch 1..), the stated per-output error bound (winograd.h's WINOGRAD_ERR_BOUND
 * times the sum of |w| |x| over the output's receptive field), dW and db equal to the im2col path's bits,
 * bit-identical results for 1, 2 and 3 threads, finite differences of the Winograd forward against its
 * backward, the fused epilogue against the separate passes, AUTO's choice and the rejection of shapes it
 * does not apply to. */
#include "check.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/conv2d.h"
#include "nn/nn.h"
#include "nn/winograd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
static void fill(Rng *r, float *a, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) a[i] = (float)(scale * (2.0 * rng_uniform(r) - 1.0));
}

/* Direct 3x3 pad-1 convolution in double: y, dx, and the sums of |terms| per output (ay, adx). */
static void reference(const Conv2dShape *s, const float *x, const float *w, const float *b, const float *dy,
                      double *y, double *ay, double *dx, double *adx, double *dw, double *adw) {
    const int H = s->H, W = s->W;
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            for (int oh = 0; oh < H; oh++)
                for (int ow = 0; ow < W; ow++) {
                    size_t yi = (((size_t)n * s->K + k) * H + oh) * W + ow;
                    double acc = b ? b[k] : 0.0, aacc = b ? fabs(b[k]) : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                int ih = oh - 1 + i, iw = ow - 1 + j;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                size_t xi = (((size_t)n * s->C + c) * H + ih) * W + iw;
                                double wv = w[(((size_t)k * s->C + c) * 3 + i) * 3 + j];
                                acc += wv * x[xi];
                                aacc += fabs(wv * x[xi]);
                                dx[xi] += wv * dy[yi];
                                adx[xi] += fabs(wv * dy[yi]);
                                size_t wi = (((size_t)k * s->C + c) * 3 + i) * 3 + j;
                                dw[wi] += (double)dy[yi] * x[xi];
                                adw[wi] += fabs((double)dy[yi] * x[xi]);
                            }
                    y[yi] = acc;
                    ay[yi] = aacc;
                }
}

/* max |a - b| / max |b| and max |a - b| / abs (the per-output bound's ratio) */
static void errs(const float *a, const double *b, const double *abs_sum, size_t n, double *rel, double *bound) {
    double m = 0, d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (fabs(b[i]) > m) m = fabs(b[i]);
        if (!(e <= d)) d = e;
        double q = abs_sum[i] > 0 ? e / abs_sum[i] : (e > 0 ? INFINITY : 0.0);
        if (!(q <= r)) r = q;
    }
    *rel = m > 0 ? d / m : d;
    *bound = r;
}

typedef struct {
    float *y, *dx, *dw, *db;
} Out;

static Out run(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, const float *dy) {
    Out o = {fbuf(conv2d_y_numel(s)), fbuf(conv2d_x_numel(s)), fbuf(conv2d_w_numel(s)), fbuf((size_t)s->K)};
    for (size_t i = 0; i < conv2d_y_numel(s); i++) o.y[i] = NAN;
    for (size_t i = 0; i < conv2d_x_numel(s); i++) o.dx[i] = NAN;
    memset(o.dw, 0, conv2d_w_numel(s) * sizeof(float));
    memset(o.db, 0, (size_t)s->K * sizeof(float));
    if (conv2d_forward(ctx, s, x, w, b, o.y) < 0 || conv2d_backward(ctx, s, x, w, dy, o.dx, o.dw, b ? o.db : NULL) < 0) {
        printf("not ok winograd conv2d failed: %s\n", err_msg());
        exit(1);
    }
    return o;
}

static void out_free(Out *o) {
    free(o->y);
    free(o->dx);
    free(o->dw);
    free(o->db);
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

static double worst_rel = 0, worst_bound = 0, worst_dw_rel = 0, worst_dw_bound = 0;

/* fd: also check finite differences of the Winograd forward (small shapes only) */
static void one(NnCtx *c1, NnCtx *c2, NnCtx *c3, int N, int C, int H, int W, int K, int bias, int fd) {
    char name[96];
    snprintf(name, sizeof name, "%d->%d on %dx%d N=%d%s", C, K, H, W, N, bias ? " bias" : "");
    Conv2dShape s = {.N = N, .C = C, .H = H, .W = W, .K = K, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1,
                     .algo = CONV2D_WINOGRAD};
    if (conv2d_shape_init(&s) < 0) {
        printf("not ok winograd %s: %s\n", name, err_msg());
        check_failures++;
        return;
    }
    Conv2dShape sg = s;
    sg.algo = CONV2D_GEMM;
    size_t nx = conv2d_x_numel(&s), ny = conv2d_y_numel(&s), nw = conv2d_w_numel(&s);
    Rng r;
    rng_seed(&r, hash_string(name));
    float *x = fbuf(nx), *w = fbuf(nw), *b = bias ? fbuf((size_t)K) : NULL, *dy = fbuf(ny);
    fill(&r, x, nx, 1.0);
    fill(&r, w, nw, 1.0 / sqrt(9.0 * C));
    if (b) fill(&r, b, (size_t)K, 0.1);
    fill(&r, dy, ny, 1.0);
    double *ry = dbuf(ny), *ay = dbuf(ny), *rdx = dbuf(nx), *adx = dbuf(nx), *rdw = dbuf(nw), *adw = dbuf(nw);
    reference(&s, x, w, b, dy, ry, ay, rdx, adx, rdw, adw);

    Out o = run(c2, &s, x, w, b, dy), g = run(c2, &sg, x, w, b, dy);
    double ey, by, edx, bdx, edw, bdw;
    errs(o.y, ry, ay, ny, &ey, &by);
    errs(o.dx, rdx, adx, nx, &edx, &bdx);
    errs(o.dw, rdw, adw, nw, &edw, &bdw);
    double e = fmax(ey, edx), bd = fmax(by, bdx);
    worst_rel = fmax(worst_rel, e);
    worst_bound = fmax(worst_bound, bd);
    CHECK(bd <= WINOGRAD_ERR_BOUND && e <= 2e-5,
          "winograd %s: y, dx vs double direct (max rel %.2g / %.2g; per output %.2g / %.2g of sum |w||x|, bound %g)",
          name, ey, edx, by, bdx, WINOGRAD_ERR_BOUND);
    worst_dw_rel = fmax(worst_dw_rel, edw);
    worst_dw_bound = fmax(worst_dw_bound, bdw);
    CHECK(bdw <= WINOGRAD_DW_ERR_BOUND && edw <= 5e-5,
          "winograd %s: dW vs double direct (max rel %.2g; per weight %.2g of sum |dy||x|, bound %g)", name, edw, bdw,
          WINOGRAD_DW_ERR_BOUND);
    CHECK(!b || same(o.db, g.db, (size_t)K), "winograd %s: db is the im2col path's bits", name);
    Out o1 = run(c1, &s, x, w, b, dy), o3 = run(c3, &s, x, w, b, dy);
    CHECK(same(o1.y, o.y, ny) && same(o3.y, o.y, ny) && same(o1.dx, o.dx, nx) && same(o3.dx, o.dx, nx) &&
              same(o1.dw, o.dw, nw) && same(o3.dw, o.dw, nw),
          "winograd %s: bit-identical for threads 1, 2, 3", name);
    out_free(&o1);
    out_free(&o3);
    if (fd) { /* L = sum dy*y: dL/dx = dx, dL/dw = dw, from the Winograd forward's values */
        double mx = 0, ex = 0, mw = 0, ew = 0;
        float *y = fbuf(ny);
        for (int pass = 0; pass < 2; pass++) {
            float *p = pass ? w : x, *ana = pass ? o.dw : o.dx;
            size_t n = pass ? nw : nx;
            for (size_t i = 0; i < n; i += 1 + n / 97) {
                float v = p[i], h = 1e-2f;
                double l[2];
                for (int sgn = 0; sgn < 2; sgn++) {
                    p[i] = sgn ? v - h : v + h;
                    conv2d_forward(c1, &s, x, w, b, y);
                    l[sgn] = 0;
                    for (size_t q = 0; q < ny; q++) l[sgn] += (double)dy[q] * y[q];
                }
                p[i] = v;
                double d = fabs((l[0] - l[1]) / ((double)(v + h) - (double)(v - h)) - ana[i]);
                if (pass) ew = fmax(ew, d), mw = fmax(mw, fabs(ana[i]));
                else ex = fmax(ex, d), mx = fmax(mx, fabs(ana[i]));
            }
        }
        free(y);
        CHECK(ex <= 1e-3 * mx && ew <= 1e-3 * mw,
              "winograd %s: finite differences of the forward vs dx, dw (max rel %.2g, %.2g)", name, ex / mx, ew / mw);
    }
    out_free(&o);
    out_free(&g);
    free(x);
    free(w);
    free(b);
    free(dy);
    free(ry);
    free(ay);
    free(rdx);
    free(adx);
    free(rdw);
    free(adw);
}

/* conv2d_forward_ep on the Winograd path: the bits of conv2d_forward + act_affine + plane means. */
static void epilogue(NnCtx *ctx) {
    Conv2dShape s = {.N = 3, .C = 20, .H = 11, .W = 23, .K = 18, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1,
                     .algo = CONV2D_WINOGRAD};
    conv2d_shape_init(&s);
    size_t nx = conv2d_x_numel(&s), ny = conv2d_y_numel(&s), nw = conv2d_w_numel(&s);
    Rng r;
    rng_seed(&r, 77);
    float *x = fbuf(nx), *w = fbuf(nw), *b = fbuf((size_t)s.K), *res = fbuf(ny), *sc = fbuf((size_t)s.K),
          *sh = fbuf((size_t)s.K);
    fill(&r, x, nx, 1.0);
    fill(&r, w, nw, 0.1);
    fill(&r, b, (size_t)s.K, 0.1);
    fill(&r, res, ny, 1.0);
    fill(&r, sc, (size_t)s.K, 1.0);
    fill(&r, sh, (size_t)s.K, 1.0);
    float *want = fbuf(ny), *y = fbuf(ny), *pm = fbuf((size_t)s.N * s.K), *pw = fbuf((size_t)s.N * s.K);
    int ok = 1;
    for (int act = 0; act < 3; act++) {
        ActKind a = act == 0 ? ACT_NONE : act == 1 ? ACT_RELU : ACT_SILU;
        conv2d_forward(ctx, &s, x, w, b, want);
        size_t P = (size_t)s.OH * s.OW;
        for (int n = 0; n < s.N; n++)
            for (int k = 0; k < s.K; k++) {
                size_t o = ((size_t)n * s.K + k) * P;
                act_affine(want + o, want + o, (int64_t)P, sc[k], sh[k], res + o, a);
                pw[n * s.K + k] = (float)(ordered_sum_f64(want + o, (int64_t)P) / (double)P);
            }
        ConvEpilogue ep = {.scale = sc, .shift = sh, .res = res, .act = a, .plane_mean = pm};
        if (conv2d_forward_ep(ctx, &s, x, w, b, y, &ep) < 0) ok = 0;
        ok &= same(y, want, ny) && same(pm, pw, (size_t)s.N * s.K);
    }
    CHECK(ok, "winograd epilogue (BN affine + residual + none/relu/silu + plane means): same bits as the separate passes");
    free(x), free(w), free(b), free(res), free(sc), free(sh), free(want), free(y), free(pm), free(pw);
}

int main(void) {
    NnCtx c1, c2, c3;
    nn_ctx_init(&c1, 1);
    nn_ctx_init(&c2, 2);
    nn_ctx_init(&c3, 3);
    /* N, C, H, W, K, bias, fd */
    one(&c1, &c2, &c3, 1, 1, 1, 1, 1, 0, 1);
    one(&c1, &c2, &c3, 2, 3, 7, 9, 4, 1, 1);
    one(&c1, &c2, &c3, 1, 5, 4, 4, 3, 0, 1);
    one(&c1, &c2, &c3, 3, 2, 5, 13, 7, 1, 1);
    one(&c1, &c2, &c3, 2, 17, 9, 70, 19, 1, 0);  /* a tile row longer than one run of 16 */
    one(&c1, &c2, &c3, 1, 16, 2, 3, 16, 0, 0);
    one(&c1, &c2, &c3, 5, 33, 6, 11, 40, 0, 0);
    one(&c1, &c2, &c3, 4, 64, 8, 25, 64, 0, 0);  /* resnet18 layer3-like plane */
    one(&c1, &c2, &c3, 2, 128, 4, 13, 96, 0, 0); /* layer4-like plane */
    one(&c1, &c2, &c3, 7, 24, 17, 3, 8, 1, 0);
    one(&c1, &c2, &c3, 2, 256, 5, 6, 256, 0, 0);
    one(&c1, &c2, &c3, 3, 48, 31, 29, 37, 1, 0);
    one(&c1, &c2, &c3, 1, 512, 4, 13, 500, 0, 0); /* output channels in chunks (U_FLOATS) */
    printf("# winograd: worst max rel error %.3g, worst per-output ratio to sum |w||x| %.3g\n", worst_rel, worst_bound);
    printf("# winograd dW: worst max rel error %.3g, worst per-weight ratio to sum |dy||x| %.3g\n", worst_dw_rel,
           worst_dw_bound);
    epilogue(&c2);
    { /* const_weights (cnneval): the transformed filters kept after the first call give the same bits,
       * for two layers whose weights differ (kept apart by address) */
        NnCtx ck;
        nn_ctx_init(&ck, 2);
        ck.const_weights = 1;
        Conv2dShape s = {.N = 2, .C = 40, .H = 9, .W = 30, .K = 48, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1,
                         .algo = CONV2D_WINOGRAD};
        conv2d_shape_init(&s);
        size_t nx = conv2d_x_numel(&s), ny = conv2d_y_numel(&s), nw = conv2d_w_numel(&s);
        Rng r;
        rng_seed(&r, 5);
        float *x = fbuf(nx), *wa = fbuf(nw), *wb = fbuf(nw), *y0 = fbuf(ny), *y1 = fbuf(ny);
        fill(&r, wa, nw, 0.1);
        fill(&r, wb, nw, 0.1);
        int ok = 1;
        for (int rep = 0; rep < 3; rep++) {
            fill(&r, x, nx, 1.0);
            for (int l = 0; l < 2; l++) {
                const float *w = l ? wb : wa;
                conv2d_forward(&c2, &s, x, w, NULL, y0);
                conv2d_forward(&ck, &s, x, w, NULL, y1);
                ok &= same(y0, y1, ny);
            }
        }
        CHECK(ok && ck.wcache != NULL,
              "winograd const_weights: the kept transformed filters of two layers give the plain context's bits, call after call");
        nn_ctx_free(&ck);
        free(x), free(wa), free(wb), free(y0), free(y1);
    }

    Conv2dShape bad = {.N = 1, .C = 4, .H = 8, .W = 8, .K = 4, .KH = 3, .KW = 3, .stride_h = 2, .stride_w = 2,
                       .pad_h = 1, .pad_w = 1, .algo = CONV2D_WINOGRAD};
    CHECK(conv2d_shape_init(&bad) < 0, "winograd rejects stride 2");
    Conv2dShape bad2 = {.N = 1, .C = 4, .H = 8, .W = 8, .K = 4, .KH = 3, .KW = 3, .algo = CONV2D_WINOGRAD};
    CHECK(conv2d_shape_init(&bad2) < 0, "winograd rejects padding 0");
    Conv2dShape one_ch = {.N = 1, .C = 1, .H = 8, .W = 8, .K = 16, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
    conv2d_shape_init(&one_ch);
    CHECK(!winograd_pays(&one_ch), "winograd: AUTO keeps a one-channel input on im2col");
    Conv2dShape r18 = {.N = 2, .C = 128, .H = 16, .W = 50, .K = 128, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
    conv2d_shape_init(&r18);
    const char *env = getenv("AUDIOCNN_WINOGRAD");
    if (!env || strcmp(env, "0")) CHECK(winograd_pays(&r18), "winograd: AUTO takes ResNet-18's 128-channel layers");
    Conv2dShape l1 = {.N = 2, .C = 64, .H = 32, .W = 100, .K = 64, .KH = 3, .KW = 3, .pad_h = 1, .pad_w = 1};
    conv2d_shape_init(&l1);
    if (!env)
        CHECK(!winograd_pays(&l1) && winograd_pays_inference(&l1) && winograd_pays_inference(&r18) &&
                  !winograd_pays_inference(&one_ch),
              "winograd: ResNet's 64-channel layer1 through it for inference only (training keeps im2col)");
    nn_ctx_free(&c1);
    nn_ctx_free(&c2);
    nn_ctx_free(&c3);
    return check_failures ? 1 : 0;
}
