#include "nn/winograd.h"

#include "core/error.h"
#include "nn/gemm.h"
#include "nn/pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/act_avx512.h"
#include "nn/lanes_avx512.h"
#include <immintrin.h>
#define HAVE_AVX512_WINOGRAD 1
#else
#define HAVE_AVX512_WINOGRAD 0
#endif

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- choice ------------------------------------------------------------------------------------------ */

int winograd_applies(const Conv2dShape *s) {
    return s->KH == 3 && s->KW == 3 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h == 1 && s->pad_w == 1 &&
           s->dil_h == 1 && s->dil_w == 1 && s->groups == 1;
}

/* AUDIOCNN_WINOGRAD: "0" off; "all" every shape that pays for speed (16+ channels); else (default) 128+
 * input channels. */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_min_c = 128;
static void read_env(void) {
    const char *e = getenv("AUDIOCNN_WINOGRAD");
    if (e && strcmp(e, "0") == 0) env_min_c = 0;
    else if (e && strcmp(e, "all") == 0) env_min_c = 16;
}

/* The rule, with the default channel threshold for CONV2D_AUTO given (128 for training, 64 for inference). */
static int pays(const Conv2dShape *s, int auto_min_c) {
    pthread_once(&env_once, read_env);
    if (!env_min_c || !winograd_applies(s)) return 0;
    /* Speed (bench/conv/layers.c): 16->32 and up win 1.2-2.5x; a one-channel input loses 3x; tiles cover
     * the plane in 4x4 steps, so planes much smaller than their tiles waste the gain. Accuracy: each
     * layer stays within 1.3e-5 of PyTorch, but with it on ResNet's 64-channel layers a whole-model test
     * fails (test_transfer.py's resnet18 in-chans repeat imagenet-normalised case: one ReLU input on the
     * other side of zero moves layer2.0.bn1.bias's gradient by 5.8e-2): by default the rule starts at 128
     * input channels (ResNet's layer2 and deeper). The baseline CNN asks for it from 16 channels
     * (CONV2D_AUTO_WINOGRAD): its parity test holds with it (test_baseline.py: gradients within 1.2e-5 of
     * float64, the parameters after three AdamW steps within 1.3e-5 wherever the gradient is above float32
     * noise). AUDIOCNN_WINOGRAD=all takes every model down to 16. */
    int64_t covered = (int64_t)((s->H + 3) / 4 * 4) * ((s->W + 3) / 4 * 4);
    int min_c = s->algo == CONV2D_AUTO_WINOGRAD || env_min_c == 16 ? 16 : auto_min_c;
    /* The 36 products of a call are as wide as its tiles: a batch of few small planes (a scan's one window
     * through ResNet's layer3 and layer4: 14 and 4 tiles) makes them slivers, and im2col wins (resnet18 scan
     * at one window per pass: 36x real time with Winograd there, 59x without). From 16 tiles per call on
     * (training batches: 64 and more) it pays. Models that ask for Winograd themselves (the baseline,
     * CONV2D_AUTO_WINOGRAD) keep a rule of the shape alone, so their outputs do not depend on the batch. */
    int64_t tiles = (int64_t)s->N * (covered / 16);
    if (s->algo == CONV2D_AUTO && tiles < 16) return 0;
    return s->C >= min_c && s->K >= 16 && 2 * (int64_t)s->H * s->W >= covered;
}

int winograd_pays(const Conv2dShape *s) { return pays(s, 128); }

/* Inference takes ResNet's 64-channel layers too (layer1: a quarter of resnet18's multiplies; inference
 * 1.27x faster on one core): the 128 threshold guards training, where an output moved by the transform's
 * error to the other side of a ReLU kink moves a gradient by far more than the error (the fixture in
 * winograd_pays' comment); a forward pass's outputs only move by that error, within the same bounds. */
int winograd_pays_inference(const Conv2dShape *s) { return pays(s, 64); }

int winograd_pays_dw(const Conv2dShape *s) {
    /* measured: 64 channels and more win 1.4-2.7x; 32->64 ties; 16->32 on 64x200 loses 2x (36 GEMMs of
     * 32 x 16 outputs over long sums) */
    return winograd_pays(s) && s->C >= 64 && s->K >= 64;
}

/* ---- plan: one convolution of (N, Ci, H, W) into (N, Co, H, W), tiles in blocks ------------------------ */

#define TILE 4
#define NPT 36 /* transform points */
#define RUN 16 /* tiles transformed together (one row of tiles at most), one per vector lane */

typedef struct Plan {
    int N, Ci, Co, H, W;
    int TH, TW;    /* tiles per image: rows, columns */
    int64_t T;     /* tiles in all */
    int tb, tbp;   /* tiles per block; its stride in V and M (tb rounded up to 16) */
    int64_t nblk;
    int64_t nw;    /* workers */
    int cc, nco;   /* output channels per chunk, chunks (the transformed weights of a chunk at most U_FLOATS) */
} Plan;

/* Tiles per block: V and M in about 3/4 of a 1 MiB L2, but at least 48 (the GEMM's 48-column panel:
 * with 16, the GEMMs of 256 and 512 channels ran at half speed), at most 192; then evened out. */
#define BLOCK_BYTES (768u << 10)
#define MIN_TILES 48

/* Transformed weights held at once: 16 MiB (512x512 channels would take 36 MiB: three chunks of output
 * channels instead, each of which transforms the inputs again; 8 MiB made ResNet's 256- and 512-channel
 * layers 10-20% slower). */
#define U_FLOATS (4u << 20)

static Plan plan(const NnCtx *ctx, int N, int Ci, int Co, int H, int W) {
    Plan p = {.N = N, .Ci = Ci, .Co = Co, .H = H, .W = W};
    int64_t nco = ((int64_t)NPT * Co * Ci + U_FLOATS - 1) / U_FLOATS;
    int64_t cc = (Co + nco - 1) / nco;
    if (nco > 1) cc = (cc + 15) / 16 * 16;
    p.cc = (int)(cc < Co ? cc : Co);
    p.nco = (Co + p.cc - 1) / p.cc;
    p.TH = (H + TILE - 1) / TILE;
    p.TW = (W + TILE - 1) / TILE;
    p.T = (int64_t)N * p.TH * p.TW;
    int64_t per_tile = (int64_t)NPT * (Ci + p.cc) * (int64_t)sizeof(float);
    int64_t tb = (int64_t)BLOCK_BYTES / per_tile / 16 * 16;
    if (tb < MIN_TILES) tb = MIN_TILES;
    if (tb > 192) tb = 192;
    int64_t nb = (p.T + tb - 1) / tb;
    tb = (p.T + nb - 1) / nb; /* even blocks */
    p.tb = (int)tb;
    p.tbp = (int)((tb + 15) / 16 * 16);
    p.nblk = (p.T + tb - 1) / tb;
    p.nw = ctx->threads < p.nblk ? ctx->threads : p.nblk;
    return p;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }
static size_t u_floats(const Plan *p) { return round16((size_t)NPT * p->cc * p->Ci); }
/* The stride of one transform point in V (rows channels x tbp) or M: one cache line more than the rows
 * take. Without it the stride was a multiple of 4 KiB for many layers (64 x 32 floats, 128 x 32, 32 x 48),
 * so the 36 points of a tile fell into one set of the 12-way L1 and the output transform's 36 loads
 * missed it. */
static size_t point_stride(const Plan *p, int rows) { return (size_t)rows * p->tbp + 16; }
/* V then M; 16 floats more, since output_run reads whole 16-lane runs (lanes past the block unused) */
static size_t per_worker(const Plan *p) {
    return round16((size_t)NPT * (point_stride(p, p->Ci) + point_stride(p, p->cc)) + RUN);
}
static size_t plan_scratch(const Plan *p) { return u_floats(p) + per_worker(p) * (size_t)p->nw; }

size_t winograd_scratch_floats(const NnCtx *ctx, const Conv2dShape *s, int dx) {
    Plan p = dx ? plan(ctx, s->N, s->K, s->C, s->H, s->W) : plan(ctx, s->N, s->C, s->K, s->H, s->W);
    return plan_scratch(&p);
}

/* ---- weight transform: U[xi][o][i] = (G g G^T)[xi] in double, rounded once ------------------------------ */

/* G f for the three values f0, f1, f2 (a column or row of a filter), Lavin & Gray's G. */
#define G_APPLY(t, f0, f1, f2)                                                                              \
    do {                                                                                                    \
        t[0] = (f0) * 0.25;                                                                                 \
        t[1] = ((f0) + (f1) + (f2)) * (-1.0 / 6);                                                           \
        t[2] = ((f0) - (f1) + (f2)) * (-1.0 / 6);                                                           \
        t[3] = (f0) * (1.0 / 24) + (f1) * (1.0 / 12) + (f2) * (1.0 / 6);                                    \
        t[4] = (f0) * (1.0 / 24) - (f1) * (1.0 / 12) + (f2) * (1.0 / 6);                                    \
        t[5] = (f2);                                                                                        \
    } while (0)

/* u[xi * stride + l] = (G g_l G^T)[xi] for the n <= 16 filters g_l = g + l*gs (3x3 each; flip: rotated
 * by 180 degrees), in double, rounded once. */
CPU_CLONES static void transform_filters(const float *g, size_t gs, int n, int flip, float *u, size_t stride) {
    double f[9][RUN], t[6][3][RUN];
    for (int q = 0; q < 9; q++)
        for (int l = 0; l < RUN; l++) f[q][l] = l < n ? (double)g[(size_t)l * gs + (size_t)(flip ? 8 - q : q)] : 0.0;
    for (int j = 0; j < 3; j++)
        for (int l = 0; l < RUN; l++) {
            double c[6];
            G_APPLY(c, f[j][l], f[3 + j][l], f[6 + j][l]);
            for (int a = 0; a < 6; a++) t[a][j][l] = c[a];
        }
    for (int a = 0; a < 6; a++) {
        float o[6][RUN];
        for (int l = 0; l < RUN; l++) {
            double c[6];
            G_APPLY(c, t[a][0][l], t[a][1][l], t[a][2][l]);
            for (int b = 0; b < 6; b++) o[b][l] = (float)c[b];
        }
        for (int b = 0; b < 6; b++) memcpy(u + (size_t)(a * 6 + b) * stride, o[b], sizeof(float) * (size_t)n);
    }
}

typedef struct {
    const struct Plan *p;
    const float *w;
    float *u;
    int dx; /* 0: U[xi][k][c] from w[k][c]; 1: U[xi][c][k] from w[k][c] flipped */
    int o0, o1; /* the chunk's output channels: U[xi][o - o0][i] */
} WJob;

static void wt_range(void *arg, int64_t begin, int64_t end) {
    WJob *j = arg;
    const struct Plan *p = j->p;
    size_t stride = (size_t)(j->o1 - j->o0) * p->Ci;
    for (int64_t o = j->o0 + begin; o < j->o0 + end; o++)
        for (int i = 0; i < p->Ci; i += RUN) {
            int n = p->Ci - i < RUN ? p->Ci - i : RUN;
            /* forward: o = k, i = c, filters 9 floats apart; backward-data: o = c, i = k, Co*9 apart */
            const float *g = j->dx ? j->w + ((size_t)i * p->Co + (size_t)o) * 9 : j->w + ((size_t)o * p->Ci + i) * 9;
            transform_filters(g, j->dx ? (size_t)p->Co * 9 : 9, n, j->dx, j->u + (size_t)(o - j->o0) * p->Ci + i,
                              stride);
        }
}

/* ---- input and output transforms of a run of <= 16 tiles in one tile row ----------------------------- */

/* v[xi * vs + t] = (B^T d B)[xi] of tile t (< len) of the run: tiles (th, tw0 + t) of plane xc (H, W). */
/* rp[i]: input row 4th-1+i from column 4tw0-1 on, ncol = 4 len + 2 columns: read in place where the
 * run's columns lie inside the plane, else copied into row[i] with its zero padding (zeros outside). */
static const float zeros[4 * RUN + 16];
CPU_INLINE void patch_rows(const float *xc, int H, int W, int th, int tw0, int len, float row[6][4 * RUN + 4],
                          const float *rp[6]) {
    const int ncol = 4 * len + 2;
    const int c0 = 4 * tw0 - 1;
    for (int i = 0; i < 6; i++) {
        int ih = 4 * th - 1 + i;
        if (ih < 0 || ih >= H) {
            rp[i] = zeros;
            continue;
        }
        const float *src = xc + (size_t)ih * W;
        if (c0 >= 0 && c0 + ncol <= W) {
            rp[i] = src + c0;
            continue;
        }
        float *dst = row[i];
        int a = c0 < 0 ? -c0 : 0, b = c0 + ncol > W ? W - c0 : ncol;
        for (int q = 0; q < a; q++) dst[q] = 0.0f;
        for (int q = a; q < b; q++) dst[q] = src[c0 + q];
        for (int q = b; q < ncol; q++) dst[q] = 0.0f;
        rp[i] = dst;
    }
}

CPU_CLONES static void input_run(const float *xc, int H, int W, int th, int tw0, int len, float *v, size_t vs) {
    float row[6][4 * RUN + 4]; /* input rows 4th-1 .. 4th+4, columns 4tw0-1 .. 4tw0+4*RUN+2, zero outside */
    float r[6][4 * RUN + 4];   /* B^T applied down the columns */
    const int ncol = 4 * len + 2;
    const float *rp[6];
    patch_rows(xc, H, W, th, tw0, len, row, rp);
    for (int q = ncol; q < 4 * RUN + 4; q++) /* columns past the run: lanes that are computed, not stored */
        for (int a = 0; a < 6; a++) r[a][q] = 0.0f;
    for (int q = 0; q < ncol; q++) {
        float d0 = rp[0][q], d1 = rp[1][q], d2 = rp[2][q], d3 = rp[3][q], d4 = rp[4][q], d5 = rp[5][q];
        r[0][q] = (4.0f * d0 - 5.0f * d2) + d4;
        r[1][q] = (d3 + d4) - 4.0f * (d1 + d2);
        r[2][q] = (d4 - d3) + 4.0f * (d1 - d2);
        r[3][q] = (d4 - d2) + 2.0f * (d3 - d1);
        r[4][q] = (d4 - d2) - 2.0f * (d3 - d1);
        r[5][q] = (4.0f * d1 - 5.0f * d3) + d5;
    }
    for (int a = 0; a < 6; a++) {
        float o[6][RUN];
        const float *ra = r[a];
        for (int t = 0; t < RUN; t++) {
            float d0 = ra[4 * t], d1 = ra[4 * t + 1], d2 = ra[4 * t + 2], d3 = ra[4 * t + 3], d4 = ra[4 * t + 4],
                  d5 = ra[4 * t + 5];
            o[0][t] = (4.0f * d0 - 5.0f * d2) + d4;
            o[1][t] = (d3 + d4) - 4.0f * (d1 + d2);
            o[2][t] = (d4 - d3) + 4.0f * (d1 - d2);
            o[3][t] = (d4 - d2) + 2.0f * (d3 - d1);
            o[4][t] = (d4 - d2) - 2.0f * (d3 - d1);
            o[5][t] = (4.0f * d1 - 5.0f * d3) + d5;
        }
        for (int b = 0; b < 6; b++) {
            float *dst = v + (size_t)(a * 6 + b) * vs;
            if (len == RUN)
                for (int t = 0; t < RUN; t++) dst[t] = o[b][t];
            else
                for (int t = 0; t < len; t++) dst[t] = o[b][t];
        }
    }
}

/* conv2d's epilogue for one output channel as output_run applies it while storing: y = act(v * scale +
 * shift [+ res]), the operations of act_affine (activation.c) in its order, so the same bits. */
typedef struct {
    int on;
    float scale, shift;
    const float *res; /* the residual's plane, or NULL */
    ActKind act;
    float *pool;      /* ConvEpilogue.pool2's plane (PH x PW), or NULL: rows pooled 2x2/2 there instead */
    int PH, PW;
} PlaneEp;

CPU_INLINE void store_row(const float *restrict o, float *restrict dst, int n, const PlaneEp *e,
                         const float *restrict rs) {
    if (!e->on) {
        for (int q = 0; q < n; q++) dst[q] = o[q];
        return;
    }
    const float a = e->scale, b = e->shift;
    switch (e->act * 2 + (rs != NULL)) {
    case ACT_RELU * 2:
        for (int q = 0; q < n; q++) dst[q] = nn_relu_f(o[q] * a + b);
        break;
    case ACT_RELU * 2 + 1:
        for (int q = 0; q < n; q++) dst[q] = nn_relu_f((o[q] * a + b) + rs[q]);
        break;
    case ACT_SILU * 2:
        for (int q = 0; q < n; q++) dst[q] = nn_silu_f(o[q] * a + b);
        break;
    case ACT_SILU * 2 + 1:
        for (int q = 0; q < n; q++) dst[q] = nn_silu_f((o[q] * a + b) + rs[q]);
        break;
    default:
        if (rs)
            for (int q = 0; q < n; q++) dst[q] = (o[q] * a + b) + rs[q];
        else
            for (int q = 0; q < n; q++) dst[q] = o[q] * a + b;
    }
}

/* The run's four output rows o[a][4t + c] (bias added) into plane yc through the epilogue e; or, with
 * e->pool, through the epilogue into a buffer and pooled 2x2/2 from there: a tile row's four output rows
 * are two whole pooled rows (tiles start at even columns; an odd last row or column is dropped, as the
 * pool drops it). */
CPU_INLINE void store_tiles(float o[4][4 * RUN], int len, float *yc, int H, int W, int th, int tw0, const PlaneEp *e) {
    int w0 = 4 * tw0, n = 4 * len;
    if (w0 + n > W) n = W - w0;
    if (e->pool) {
        float t[4][4 * RUN];
        for (int pr = 0; pr < 2; pr++) {
            int ph = 2 * th + pr;
            if (ph >= e->PH) break;
            for (int a = 2 * pr; a < 2 * pr + 2; a++) {
                size_t off = (size_t)(4 * th + a) * W + w0;
                store_row(o[a], t[a], n, e, e->res ? e->res + off : NULL);
            }
            maxpool2x2_row(t[2 * pr], t[2 * pr + 1], n, n / 2, 0, e->pool + (size_t)ph * e->PW + w0 / 2, NULL, NULL);
        }
        return;
    }
    for (int a = 0; a < 4; a++) {
        int oh = 4 * th + a;
        if (oh >= H) break;
        size_t off = (size_t)oh * W + w0;
        store_row(o[a], yc + off, n, e, e->res ? e->res + off : NULL);
    }
}

/* Tiles (th, tw0 + t), t < len, of plane yc (H, W) = A^T M A + bias, from m[xi * ms + t], through the
 * epilogue e. */
CPU_CLONES static void output_run(const float *m, size_t ms, int len, float bias, float *yc, int H, int W, int th,
                                 int tw0, const PlaneEp *e) {
    float u[6][4][RUN]; /* A^T along the columns of each row of points */
    for (int a = 0; a < 6; a++) {
        const float *m0 = m + (size_t)(a * 6) * ms, *m1 = m0 + ms, *m2 = m1 + ms, *m3 = m2 + ms, *m4 = m3 + ms,
                    *m5 = m4 + ms;
        for (int t = 0; t < RUN; t++) {
            float p0 = m0[t], p1 = m1[t], p2 = m2[t], p3 = m3[t], p4 = m4[t], p5 = m5[t];
            float s12 = p1 + p2, d12 = p1 - p2, s34 = p3 + p4, d34 = p3 - p4;
            u[a][0][t] = (p0 + s12) + s34;
            u[a][1][t] = d12 + 2.0f * d34;
            u[a][2][t] = s12 + 4.0f * s34;
            u[a][3][t] = (d12 + 8.0f * d34) + p5;
        }
    }
    float o[4][4 * RUN];
    for (int c = 0; c < 4; c++)
        for (int t = 0; t < RUN; t++) {
            float p0 = u[0][c][t], p1 = u[1][c][t], p2 = u[2][c][t], p3 = u[3][c][t], p4 = u[4][c][t],
                  p5 = u[5][c][t];
            float s12 = p1 + p2, d12 = p1 - p2, s34 = p3 + p4, d34 = p3 - p4;
            o[0][4 * t + c] = ((p0 + s12) + s34) + bias;
            o[1][4 * t + c] = (d12 + 2.0f * d34) + bias;
            o[2][4 * t + c] = (s12 + 4.0f * s34) + bias;
            o[3][4 * t + c] = ((d12 + 8.0f * d34) + p5) + bias;
        }
    store_tiles(o, len, yc, H, W, th, tw0, e);
}

#if HAVE_AVX512_WINOGRAD
/* AVX-512 twins of input_run and output_run (nn_avx512()): the same float operations in the same order
 * (so the same bits; no contraction into FMAs here either), with the tiles' stride-4 columns split and
 * interleaved by permutes instead of the scalar moves the compiler makes of those loops. */
#define AVX512W __attribute__((target("avx512f")))
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps

/* B^T d for six vectors: o[0..5] (input_run's formulas) */
#define BT6(o, d0, d1, d2, d3, d4, d5)                                                                      \
    do {                                                                                                    \
        const __m512 c4 = _mm512_set1_ps(4.0f), c5 = _mm512_set1_ps(5.0f), c2 = _mm512_set1_ps(2.0f);       \
        o[0] = VADD(VSUB(VMUL(c4, d0), VMUL(c5, d2)), d4);                                                  \
        o[1] = VSUB(VADD(d3, d4), VMUL(c4, VADD(d1, d2)));                                                  \
        o[2] = VADD(VSUB(d4, d3), VMUL(c4, VSUB(d1, d2)));                                                  \
        o[3] = VADD(VSUB(d4, d2), VMUL(c2, VSUB(d3, d1)));                                                  \
        o[4] = VSUB(VSUB(d4, d2), VMUL(c2, VSUB(d3, d1)));                                                  \
        o[5] = VADD(VSUB(VMUL(c4, d1), VMUL(c5, d3)), d5);                                                  \
    } while (0)

AVX512W static void input_run_avx512(const float *xc, int H, int W, int th, int tw0, int len, float *v, size_t vs) {
    float r[6][4 * RUN + 16]; /* B^T down the columns; 80 columns: five whole vectors */
    /* the patch's rows and columns straight from the plane, zero outside it (masked loads instead of
     * patch_rows' padded copy): columns c0 .. c0 + ncol - 1, those in [0, W) loaded */
    const int ncol = 4 * len + 2, c0 = 4 * tw0 - 1;
    const int lo = c0 < 0 ? -c0 : 0, hi = c0 + ncol > W ? W - c0 : ncol;
    const float *rows[6];
    for (int i = 0; i < 6; i++) {
        int ih = 4 * th - 1 + i;
        rows[i] = ih >= 0 && ih < H ? xc + (size_t)ih * W : NULL;
    }
    for (int q = 0; q < 4 * RUN + 16; q += 16) {
        __mmask16 m = lanes_between(lo - q, hi - q);
        __m512 d[6], o[6];
        for (int i = 0; i < 6; i++) {
            if (!rows[i] || !m) d[i] = _mm512_setzero_ps();
            else if (c0 + q >= 0) d[i] = _mm512_maskz_loadu_ps(m, rows[i] + c0 + q);
            else d[i] = _mm512_maskz_expandloadu_ps(m, rows[i]); /* the left edge: lanes from column 0 on */
        }
        BT6(o, d[0], d[1], d[2], d[3], d[4], d[5]);
        for (int a = 0; a < 6; a++) _mm512_storeu_ps(r[a] + q, o[a]);
    }
    const __m512i base = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __mmask16 sm = lanes_between(0, len);
    for (int a = 0; a < 6; a++) {
        const float *ra = r[a];
        __m512 R0 = _mm512_loadu_ps(ra), R1 = _mm512_loadu_ps(ra + 16), R2 = _mm512_loadu_ps(ra + 32),
               R3 = _mm512_loadu_ps(ra + 48);
        __m512 d[6], o[6];
        for (int j = 0; j < 4; j++) { /* d[j][t] = ra[4t + j]: t < 8 from R0:R1, t >= 8 from R2:R3 */
            __m512i idx = _mm512_add_epi32(base, _mm512_set1_epi32(j));
            d[j] = _mm512_mask_mov_ps(_mm512_permutex2var_ps(R0, idx, R1), (__mmask16)0xFF00,
                                      _mm512_permutex2var_ps(R2, idx, R3));
        }
        /* d[4][t] = ra[4t + 4] = d[0][t + 1], d[5][t] = d[1][t + 1]: one lane along, ra[64], ra[65] last */
        d[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(ra[64])),
                                                       _mm512_castps_si512(d[0]), 1));
        d[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(ra[65])),
                                                       _mm512_castps_si512(d[1]), 1));
        BT6(o, d[0], d[1], d[2], d[3], d[4], d[5]);
        for (int b = 0; b < 6; b++) _mm512_mask_storeu_ps(v + (size_t)(a * 6 + b) * vs, sm, o[b]);
    }
}

/* A^T p for six vectors: the four outputs (output_run's formulas) */
#define AT4(u, p0, p1, p2, p3, p4, p5)                                                                      \
    do {                                                                                                    \
        __m512 s12 = VADD(p1, p2), d12 = VSUB(p1, p2), s34 = VADD(p3, p4), d34 = VSUB(p3, p4);              \
        u[0] = VADD(VADD(p0, s12), s34);                                                                    \
        u[1] = VADD(d12, VMUL(_mm512_set1_ps(2.0f), d34));                                                  \
        u[2] = VADD(s12, VMUL(_mm512_set1_ps(4.0f), s34));                                                  \
        u[3] = VADD(VADD(d12, VMUL(_mm512_set1_ps(8.0f), d34)), p5);                                        \
    } while (0)

AVX512W static void output_run_avx512(const float *m, size_t ms, int len, float bias, float *yc, int H, int W, int th,
                                      int tw0, const PlaneEp *e) {
    __m512 u[6][4]; /* A^T along the columns of each row of points, lanes = tiles */
    for (int a = 0; a < 6; a++) {
        const float *m0 = m + (size_t)(a * 6) * ms;
        __m512 p[6];
        for (int i = 0; i < 6; i++) p[i] = _mm512_loadu_ps(m0 + (size_t)i * ms);
        AT4(u[a], p[0], p[1], p[2], p[3], p[4], p[5]);
    }
    const __m512 bv = _mm512_set1_ps(bias);
    float o[4][4 * RUN];
    __m512 w[4][4]; /* w[row][c]: output row, column 4t + c, lanes t */
    for (int c = 0; c < 4; c++) {
        __m512 q[4];
        AT4(q, u[0][c], u[1][c], u[2][c], u[3][c], u[4][c], u[5][c]);
        for (int rr = 0; rr < 4; rr++) w[rr][c] = VADD(q[rr], bv);
    }
    if (e->pool && !e->res) {
        /* Pooled in registers: every output through the epilogue (store_row's operations), then the max of
         * tile t's rows 2pr, 2pr+1 and columns 4t+2pc, 4t+2pc+1 in maxpool2x2_row's scan order and NaN rule
         * (v > m or v is NaN: take v); pooled column 2t + pc interleaved from the two pc vectors. The bits
         * of store_tiles' epilogue rows and pool, without the rows' round trip through memory. */
        if (e->on) {
            const __m512 sc = _mm512_set1_ps(e->scale), sh = _mm512_set1_ps(e->shift);
            for (int rr = 0; rr < 4; rr++)
                for (int c = 0; c < 4; c++) w[rr][c] = nn_act_avx512(VADD(VMUL(w[rr][c], sc), sh), e->act);
        }
        const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        int n = 4 * len < W - 4 * tw0 ? 4 * len : W - 4 * tw0, count = n / 2; /* pooled columns of the run */
        for (int pr = 0; pr < 2 && 2 * th + pr < e->PH; pr++) {
            __m512 pooled[2];
            for (int pc = 0; pc < 2; pc++) {
                __m512 best = w[2 * pr][2 * pc];
                const __m512 next[3] = {w[2 * pr][2 * pc + 1], w[2 * pr + 1][2 * pc], w[2 * pr + 1][2 * pc + 1]};
                for (int i = 0; i < 3; i++) {
                    __mmask16 take = _mm512_cmp_ps_mask(next[i], best, _CMP_GT_OQ) |
                                     _mm512_cmp_ps_mask(next[i], next[i], _CMP_UNORD_Q);
                    best = _mm512_mask_mov_ps(best, take, next[i]);
                }
                pooled[pc] = best;
            }
            float *dst = e->pool + (size_t)(2 * th + pr) * e->PW + 2 * tw0;
            _mm512_mask_storeu_ps(dst, lanes_between(0, count), _mm512_permutex2var_ps(pooled[0], lo, pooled[1]));
            _mm512_mask_storeu_ps(dst + 16, lanes_between(0, count - 16), _mm512_permutex2var_ps(pooled[0], hi, pooled[1]));
        }
        return;
    }
    const int w0 = 4 * tw0, n = 4 * len < W - w0 ? 4 * len : W - w0; /* the run's columns inside the plane */
    const __m512 sc = _mm512_set1_ps(e->scale), sh = _mm512_set1_ps(e->shift);
    for (int rr = 0; rr < 4; rr++) { /* interleave the four columns: row rr's column 4t + c = w[rr][c][t] */
        __m512 lo01 = _mm512_unpacklo_ps(w[rr][0], w[rr][1]), hi01 = _mm512_unpackhi_ps(w[rr][0], w[rr][1]);
        __m512 lo23 = _mm512_unpacklo_ps(w[rr][2], w[rr][3]), hi23 = _mm512_unpackhi_ps(w[rr][2], w[rr][3]);
        __m512 A = _mm512_shuffle_ps(lo01, lo23, 0x44), B = _mm512_shuffle_ps(lo01, lo23, 0xEE);
        __m512 C = _mm512_shuffle_ps(hi01, hi23, 0x44), D = _mm512_shuffle_ps(hi01, hi23, 0xEE);
        __m512 pab = _mm512_shuffle_f32x4(A, B, 0x44), pcd = _mm512_shuffle_f32x4(C, D, 0x44);
        __m512 qab = _mm512_shuffle_f32x4(A, B, 0xEE), qcd = _mm512_shuffle_f32x4(C, D, 0xEE);
        __m512 row[4] = {_mm512_shuffle_f32x4(pab, pcd, 0x88), _mm512_shuffle_f32x4(pab, pcd, 0xDD),
                         _mm512_shuffle_f32x4(qab, qcd, 0x88), _mm512_shuffle_f32x4(qab, qcd, 0xDD)};
        if (e->pool) { /* with a residual: store_tiles pools it from o */
            for (int k = 0; k < 4; k++) _mm512_storeu_ps(o[rr] + 16 * k, row[k]);
            continue;
        }
        /* straight into the plane through the epilogue (store_row's operations, as nn_affine_act_avx512
         * does them), without o's round trip (a memcpy per row: 3.6% of the baseline's training) */
        int oh = 4 * th + rr;
        if (oh >= H) break;
        float *dst = yc + (size_t)oh * W + w0;
        const float *res = e->res ? e->res + (size_t)oh * W + w0 : NULL;
        for (int k = 0; k < 4 && 16 * k < n; k++) {
            __mmask16 lanes = lanes_between(0, n - 16 * k);
            __m512 v = e->on ? nn_affine_act_avx512(row[k], sc, sh, res ? res + 16 * k : NULL, lanes, e->act) : row[k];
            _mm512_mask_storeu_ps(dst + 16 * k, lanes, v);
        }
    }
    if (e->pool) store_tiles(o, len, yc, H, W, th, tw0, e);
}
#endif

/* The kernels' choice: the AVX-512 twins where they run. */
static void input_run4(const float *xc, int H, int W, int th, int tw0, int len, float *v, size_t vs) {
#if HAVE_AVX512_WINOGRAD
    if (nn_avx512()) {
        input_run_avx512(xc, H, W, th, tw0, len, v, vs);
        return;
    }
#endif
    input_run(xc, H, W, th, tw0, len, v, vs);
}
static void output_run4(const float *m, size_t ms, int len, float bias, float *yc, int H, int W, int th, int tw0,
                        const PlaneEp *e) {
#if HAVE_AVX512_WINOGRAD
    if (nn_avx512()) {
        output_run_avx512(m, ms, len, bias, yc, H, W, th, tw0, e);
        return;
    }
#endif
    output_run(m, ms, len, bias, yc, H, W, th, tw0, e);
}

/* v[xi * vs + t] = (A dy A^T)[xi] of the 4x4 tiles (th, tw0 + t), t < len, of plane dyc (H, W) (zero
 * outside): the gradient's side of the weight gradient, dU = sum over tiles (A dy A^T) (.) (B^T d B). */
CPU_CLONES static void grad_run(const float *dyc, int H, int W, int th, int tw0, int len, float *v, size_t vs) {
    float row[4][4 * RUN], r[6][4 * RUN];
    const int c0 = 4 * tw0, ncol = 4 * len < W - c0 ? 4 * len : W - c0;
    for (int i = 0; i < 4; i++) {
        int ih = 4 * th + i;
        float *dst = row[i];
        if (ih >= H) {
            for (int q = 0; q < 4 * RUN; q++) dst[q] = 0.0f;
            continue;
        }
        const float *src = dyc + (size_t)ih * W + c0;
        for (int q = 0; q < ncol; q++) dst[q] = src[q];
        for (int q = ncol; q < 4 * RUN; q++) dst[q] = 0.0f;
    }
    for (int q = 0; q < 4 * RUN; q++) {
        float e0 = row[0][q], e1 = row[1][q], e2 = row[2][q], e3 = row[3][q];
        float s02 = e0 + e2, s13 = e1 + e3, t02 = e0 + 4.0f * e2, t13 = 2.0f * e1 + 8.0f * e3;
        r[0][q] = e0;
        r[1][q] = s02 + s13;
        r[2][q] = s02 - s13;
        r[3][q] = t02 + t13;
        r[4][q] = t02 - t13;
        r[5][q] = e3;
    }
    for (int a = 0; a < 6; a++) {
        float o[6][RUN];
        const float *ra = r[a];
        for (int t = 0; t < RUN; t++) {
            float e0 = ra[4 * t], e1 = ra[4 * t + 1], e2 = ra[4 * t + 2], e3 = ra[4 * t + 3];
            float s02 = e0 + e2, s13 = e1 + e3, t02 = e0 + 4.0f * e2, t13 = 2.0f * e1 + 8.0f * e3;
            o[0][t] = e0;
            o[1][t] = s02 + s13;
            o[2][t] = s02 - s13;
            o[3][t] = t02 + t13;
            o[4][t] = t02 - t13;
            o[5][t] = e3;
        }
        for (int b = 0; b < 6; b++) {
            float *dst = v + (size_t)(a * 6 + b) * vs;
            for (int t = 0; t < len; t++) dst[t] = o[b][t];
        }
    }
}

/* dw[l*9 + (i*3 + j)] += (G^T dU_l G)[i][j] for the n <= 16 channels l, dU_l[xi] = du[xi * stride + l];
 * in double, rounded once. */
CPU_CLONES static void untransform_grads(const float *du, size_t stride, int n, float *dw) {
    double d[NPT][RUN], t[3][6][RUN];
    for (int xi = 0; xi < NPT; xi++)
        for (int l = 0; l < RUN; l++) d[xi][l] = l < n ? (double)du[(size_t)xi * stride + l] : 0.0;
    /* G^T (3x6): g_i = sum_a G[a][i] d_a */
#define GT_APPLY(o, d0, d1, d2, d3, d4, d5)                                                                      \
    do {                                                                                                    \
        o[0] = (d0) * 0.25 - ((d1) + (d2)) * (1.0 / 6) + ((d3) + (d4)) * (1.0 / 24);                        \
        o[1] = ((d2) - (d1)) * (1.0 / 6) + ((d3) - (d4)) * (1.0 / 12);                                      \
        o[2] = ((d3) + (d4)) * (1.0 / 6) - ((d1) + (d2)) * (1.0 / 6) + (d5);                                \
    } while (0)
    for (int b = 0; b < 6; b++)
        for (int l = 0; l < RUN; l++) {
            double o[3];
            GT_APPLY(o, d[b][l], d[6 + b][l], d[12 + b][l], d[18 + b][l], d[24 + b][l], d[30 + b][l]);
            for (int i = 0; i < 3; i++) t[i][b][l] = o[i];
        }
    for (int i = 0; i < 3; i++)
        for (int l = 0; l < n; l++) {
            double o[3];
            GT_APPLY(o, t[i][0][l], t[i][1][l], t[i][2][l], t[i][3][l], t[i][4][l], t[i][5][l]);
            for (int j = 0; j < 3; j++) dw[(size_t)l * 9 + (size_t)(i * 3 + j)] += (float)o[j];
        }
#undef GT_APPLY
}

/* ---- blocks ------------------------------------------------------------------------------------------ */

typedef struct {
    const Plan *p;
    const float *x, *u, *b;
    float *y;
    const ConvEpilogue *ep;
    float *work; /* per-worker slices */
    int o0, o1;  /* the chunk's output channels */
} Job;

/* Runs of a block: tiles [t, t + len) in one tile row, len <= RUN. */
static int next_run(const Plan *p, int64_t t, int64_t end, int *n, int *th, int *tw) {
    int64_t per_img = (int64_t)p->TH * p->TW;
    *n = (int)(t / per_img);
    int64_t r = t % per_img;
    *th = (int)(r / p->TW);
    *tw = (int)(r % p->TW);
    int64_t len = p->TW - *tw;
    if (len > RUN) len = RUN;
    if (len > end - t) len = end - t;
    return (int)len;
}

/* Columns [0, n) of the rows rows (stride ld) of v set to 0. n can pass 16: the last of a layer's even
 * blocks can be short by more than tbp's rounding. */
#if HAVE_AVX512_WINOGRAD
AVX512W static void zero_columns_avx512(float *v, int rows, int ld, int n) {
    for (int q = 0; q < n; q += 16) {
        const __mmask16 m = lanes_between(0, n - q);
        for (int r = 0; r < rows; r++) _mm512_mask_storeu_ps(v + (size_t)r * ld + q, m, _mm512_setzero_ps());
    }
}
#endif
static void zero_columns(float *v, int rows, int ld, int n) {
#if HAVE_AVX512_WINOGRAD
    if (nn_avx512()) {
        zero_columns_avx512(v, rows, ld, n);
        return;
    }
#endif
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < n; q++) v[(size_t)r * ld + q] = 0.0f;
}

static void block(Job *jb, int64_t blk, float *work, int *zeroed_from) {
    const Plan *p = jb->p;
    const size_t plane = (size_t)p->H * p->W;
    int64_t t0 = blk * p->tb, t1 = t0 + p->tb < p->T ? t0 + p->tb : p->T;
    int nt = (int)(t1 - t0);
    const int no = jb->o1 - jb->o0;
    size_t vs = point_stride(p, p->Ci), ms = point_stride(p, no);
    float *V = work, *M = work + (size_t)NPT * vs;
    for (int64_t t = t0; t < t1;) {
        int n, th, tw;
        int len = next_run(p, t, t1, &n, &th, &tw);
        int col = (int)(t - t0);
        const float *xn = jb->x + (size_t)n * p->Ci * plane;
        for (int c = 0; c < p->Ci; c++)
            input_run4(xn + (size_t)c * plane, p->H, p->W, th, tw, len, V + (size_t)c * p->tbp + col, vs);
        t += len;
    }
    /* The products run over all tbp columns (whole vectors: gemm_f32 then reads V in place instead of
     * packing it); the columns past the block's tiles are zeros, their results unused. */
    if (nt < p->tbp && nt != *zeroed_from) { /* once per worker and size of block: input_run never writes there */
        for (int xi = 0; xi < NPT; xi++) zero_columns(V + (size_t)xi * vs + nt, p->Ci, p->tbp, p->tbp - nt);
        *zeroed_from = nt;
    }
    for (int xi = 0; xi < NPT; xi++)
        gemm_f32(GEMM_N, GEMM_N, no, p->tbp, p->Ci, jb->u + (size_t)xi * no * p->Ci, p->Ci, V + (size_t)xi * vs,
                 p->tbp, 0.0f, M + (size_t)xi * ms, p->tbp);
    const ConvEpilogue *ep = jb->ep;
    for (int64_t t = t0; t < t1;) {
        int n, th, tw;
        int len = next_run(p, t, t1, &n, &th, &tw);
        int col = (int)(t - t0);
        for (int k = jb->o0; k < jb->o1; k++) {
            size_t off = ((size_t)n * p->Co + k) * plane;
            float *yc = jb->y ? jb->y + off : NULL; /* NULL: pooled instead (ep->pool2) */
            PlaneEp pe = {0};
            if (ep) pe = (PlaneEp){1, ep->scale[k], ep->shift[k], ep->res ? ep->res + off : NULL, ep->act, NULL, 0, 0};
            if (ep && ep->pool2) {
                pe.PH = p->H / 2, pe.PW = p->W / 2;
                pe.pool = ep->pool2 + ((size_t)n * p->Co + k) * (size_t)pe.PH * pe.PW;
            }
            output_run4(M + (size_t)(k - jb->o0) * p->tbp + col, ms, len, jb->b ? jb->b[k] : 0.0f, yc, p->H, p->W, th, tw,
                       &pe);
        }
        t += len;
    }
}

static void worker(void *arg, int64_t begin, int64_t end) {
    Job *jb = arg;
    const Plan *p = jb->p;
    for (int64_t w = begin; w < end; w++) {
        float *work = jb->work + (size_t)w * per_worker(p);
        int64_t b0 = p->nblk * w / p->nw, b1 = p->nblk * (w + 1) / p->nw;
        int zeroed_from = -1; /* V's columns from this one on are zeros */
        for (int64_t b = b0; b < b1; b++) block(jb, b, work, &zeroed_from);
    }
}

/* ---- transformed filters kept under ctx->const_weights (inference: the same weights every call) --------
 * Keyed by the weight array's address, the direction and the chunk; at most WCACHE_BYTES per context (a
 * layer that does not fit is transformed each call, as in training): 8 MiB holds all of the baseline's
 * (1.5 MiB) and ResNet's layer2, and keeps a scan's peak memory within a few MiB of what it was. */
#define WCACHE_BYTES ((size_t)8 << 20)
typedef struct {
    const float *w;
    int flip, Ci, Co, o0, o1;
    float *u;
} WEntry;
typedef struct {
    WEntry *e;
    int n, cap;
    size_t bytes;
} WCache;

static void wcache_release(void *arg) {
    WCache *c = arg;
    for (int i = 0; i < c->n; i++) free(c->e[i].u);
    free(c->e);
    free(c);
}

static const float *wcache_find(const NnCtx *ctx, const Plan *p, const float *w, int flip, int o0, int o1) {
    const WCache *c = ctx->wcache;
    for (int i = 0; c && i < c->n; i++) {
        const WEntry *e = &c->e[i];
        if (e->w == w && e->flip == flip && e->Ci == p->Ci && e->Co == p->Co && e->o0 == o0 && e->o1 == o1) return e->u;
    }
    return NULL;
}

/* A copy of the chunk's transformed filters u (n floats) kept in ctx, or nothing when over the budget or
 * out of memory (the caller has u either way). */
static void wcache_keep(NnCtx *ctx, const Plan *p, const float *w, int flip, int o0, int o1, const float *u, size_t n) {
    if (!ctx->wcache) {
        if (!(ctx->wcache = calloc(1, sizeof(WCache)))) return;
        ctx->wcache_free = wcache_release;
    }
    WCache *c = ctx->wcache;
    if (c->bytes + n * sizeof(float) > WCACHE_BYTES) return;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        WEntry *e = realloc(c->e, (size_t)cap * sizeof *e);
        if (!e) return;
        c->e = e;
        c->cap = cap;
    }
    float *copy = malloc(n * sizeof(float));
    if (!copy) return;
    memcpy(copy, u, n * sizeof(float));
    c->e[c->n++] = (WEntry){w, flip, p->Ci, p->Co, o0, o1, copy};
    c->bytes += n * sizeof(float);
}

static int run(NnCtx *ctx, const Plan *p, const float *x, const float *w, int flip, const float *b, float *y,
               const ConvEpilogue *ep) {
    if (p->T <= 0) return 0;
    float *scr = nn_scratch(ctx, plan_scratch(p));
    if (!scr) return -1;
    for (int o0 = 0; o0 < p->Co; o0 += p->cc) { /* chunks of output channels */
        int o1 = o0 + p->cc < p->Co ? o0 + p->cc : p->Co;
        const float *u = ctx->const_weights ? wcache_find(ctx, p, w, flip, o0, o1) : NULL;
        if (!u) {
            WJob wj = {p, w, scr, flip, o0, o1};
            nn_parallel_for(ctx, o1 - o0, wt_range, &wj);
            u = scr;
            if (ctx->const_weights) wcache_keep(ctx, p, w, flip, o0, o1, scr, (size_t)NPT * (o1 - o0) * p->Ci);
        }
        Job jb = {p, x, u, b, y, ep, scr + u_floats(p), o0, o1};
        openblas_set_num_threads(1);
        nn_parallel_for(ctx, p->nw, worker, &jb);
        openblas_set_num_threads(ctx->threads);
    }
    return 0;
}

int winograd_forward(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y,
                     const ConvEpilogue *ep) {
    Plan p = plan(ctx, s->N, s->C, s->K, s->H, s->W);
    if (run(ctx, &p, x, w, 0, b, y, ep) < 0) return -1;
    if (ep && ep->plane_mean) {
        GlobalPoolShape gp = {.N = s->N, .C = s->K, .H = s->OH, .W = s->OW};
        global_avgpool_forward(ctx, &gp, y, ep->plane_mean);
    }
    return 0;
}

int winograd_backward_data(NnCtx *ctx, const Conv2dShape *s, const float *w, const float *dy, float *dx) {
    Plan p = plan(ctx, s->N, s->K, s->C, s->H, s->W);
    return run(ctx, &p, dy, w, 1, NULL, dx, NULL);
}

/* ---- weight gradient --------------------------------------------------------------------------------------
 * dU[xi] (K x C) = sum over all tiles of Yt[xi] (K x tiles) V[xi]^T, Yt = A dy A^T, V = B^T x B; dw += G^T dU G.
 * Tiles go in chunks of TC (fixed by the shape), one after the other: first every channel's transforms
 * of the chunk (threads over channels), then the 36 GEMMs (threads over the points), each adding the
 * chunk to its dU[xi] (beta 1 after the first chunk). Each dU[xi] is one thread's sum in chunk order:
 * the same bits for any thread count. Output channels in chunks of cc, as the forward. */

typedef struct {
    const Plan *p;
    const float *x, *dy;
    float *V, *Y, *dU, *dw;
    int64_t t0, t1; /* the tile chunk */
    int tcp;        /* its stride in V and Y */
    int o0, o1;
    int first;
} DwJob;

static void dw_transform(void *arg, int64_t begin, int64_t end) {
    DwJob *j = arg;
    const Plan *p = j->p;
    const size_t plane = (size_t)p->H * p->W;
    const int no = j->o1 - j->o0;
    for (int64_t item = begin; item < end; item++) {
        int is_x = item < p->Ci;
        int ch = is_x ? (int)item : j->o0 + (int)(item - p->Ci);
        float *dst = is_x ? j->V + (size_t)ch * j->tcp : j->Y + (size_t)(ch - j->o0) * j->tcp;
        size_t vs = (size_t)(is_x ? p->Ci : no) * j->tcp;
        for (int64_t t = j->t0; t < j->t1;) {
            int n, th, tw;
            int len = next_run(p, t, j->t1, &n, &th, &tw);
            int col = (int)(t - j->t0);
            if (is_x) input_run4(j->x + ((size_t)n * p->Ci + ch) * plane, p->H, p->W, th, tw, len, dst + col, vs);
            else grad_run(j->dy + ((size_t)n * p->Co + ch) * plane, p->H, p->W, th, tw, len, dst + col, vs);
            t += len;
        }
    }
}

static void dw_gemm(void *arg, int64_t begin, int64_t end) {
    DwJob *j = arg;
    const Plan *p = j->p;
    const int no = j->o1 - j->o0, nt = (int)(j->t1 - j->t0);
    for (int64_t xi = begin; xi < end; xi++)
        gemm_f32(GEMM_N, GEMM_T, no, p->Ci, nt, j->Y + (size_t)xi * no * j->tcp, j->tcp,
                 j->V + (size_t)xi * p->Ci * j->tcp, j->tcp, j->first ? 0.0f : 1.0f,
                 j->dU + (size_t)xi * no * p->Ci, p->Ci);
}

static void dw_untransform(void *arg, int64_t begin, int64_t end) {
    DwJob *j = arg;
    const Plan *p = j->p;
    const size_t stride = (size_t)(j->o1 - j->o0) * p->Ci;
    for (int64_t k = j->o0 + begin; k < j->o0 + end; k++)
        for (int c = 0; c < p->Ci; c += RUN) {
            int n = p->Ci - c < RUN ? p->Ci - c : RUN;
            untransform_grads(j->dU + (size_t)(k - j->o0) * p->Ci + c, stride, n, j->dw + ((size_t)k * p->Ci + c) * 9);
        }
}

#define DW_CHUNK_BYTES (8u << 20) /* a tile chunk's transforms of x and dy: about 8 MiB */

static int64_t dw_tiles(const Plan *p) {
    int64_t tc = (int64_t)DW_CHUNK_BYTES / ((int64_t)NPT * (p->Ci + p->cc) * (int64_t)sizeof(float)) / 16 * 16;
    if (tc < 64) tc = 64;
    if (tc > p->T) tc = p->T;
    int64_t nc = (p->T + tc - 1) / tc;
    return (p->T + nc - 1) / nc;
}
static size_t dw_scratch(const Plan *p) {
    size_t tcp = round16((size_t)dw_tiles(p));
    return u_floats(p) + round16((size_t)NPT * ((size_t)p->Ci + p->cc) * tcp);
}

size_t winograd_dw_scratch_floats(const NnCtx *ctx, const Conv2dShape *s) {
    Plan p = plan(ctx, s->N, s->C, s->K, s->H, s->W);
    return dw_scratch(&p);
}

int winograd_backward_weights(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *dy, float *dw) {
    Plan p = plan(ctx, s->N, s->C, s->K, s->H, s->W);
    if (p.T <= 0) return 0;
    float *scr = nn_scratch(ctx, dw_scratch(&p));
    if (!scr) return -1;
    int64_t tc = dw_tiles(&p);
    int tcp = (int)round16((size_t)tc);
    DwJob j = {.p = &p, .x = x, .dy = dy, .dU = scr, .dw = dw, .tcp = tcp};
    j.V = scr + u_floats(&p);
    j.Y = j.V + (size_t)NPT * p.Ci * tcp;
    for (int o0 = 0; o0 < p.Co; o0 += p.cc) {
        j.o0 = o0;
        j.o1 = o0 + p.cc < p.Co ? o0 + p.cc : p.Co;
        for (int64_t t0 = 0; t0 < p.T; t0 += tc) {
            j.t0 = t0;
            j.t1 = t0 + tc < p.T ? t0 + tc : p.T;
            j.first = t0 == 0;
            nn_parallel_for(ctx, p.Ci + (j.o1 - j.o0), dw_transform, &j);
            openblas_set_num_threads(1);
            nn_parallel_for(ctx, NPT, dw_gemm, &j);
            openblas_set_num_threads(ctx->threads);
        }
        nn_parallel_for(ctx, j.o1 - j.o0, dw_untransform, &j);
    }
    return 0;
}
