#include "nn/conv2d.h"

#include "core/error.h"
#include "nn/depthwise.h"
#include "nn/gemm.h"
#include "nn/pool.h"
#include "nn/winograd.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* ---- shape ------------------------------------------------------------------------------------ */

int conv2d_shape_init(Conv2dShape *s) {
    if (s->stride_h == 0) s->stride_h = 1;
    if (s->stride_w == 0) s->stride_w = 1;
    if (s->dil_h == 0) s->dil_h = 1;
    if (s->dil_w == 0) s->dil_w = 1;
    if (s->groups == 0) s->groups = 1;
    const int lim = 1 << 24;
    if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->K < 1 || s->KH < 1 || s->KW < 1 || s->N > lim ||
        s->C > lim || s->H > lim || s->W > lim || s->K > lim || s->KH > lim || s->KW > lim) {
        err_set("conv2d: sizes must be positive (N=%d C=%d H=%d W=%d K=%d KH=%d KW=%d)", s->N, s->C, s->H,
                s->W, s->K, s->KH, s->KW);
        return -1;
    }
    if (s->stride_h < 1 || s->stride_w < 1 || s->dil_h < 1 || s->dil_w < 1 || s->pad_h < 0 || s->pad_w < 0 ||
        s->stride_h > lim || s->stride_w > lim || s->dil_h > lim || s->dil_w > lim || s->pad_h > lim ||
        s->pad_w > lim) {
        err_set("conv2d: bad stride/padding/dilation (%d,%d / %d,%d / %d,%d)", s->stride_h, s->stride_w,
                s->pad_h, s->pad_w, s->dil_h, s->dil_w);
        return -1;
    }
    if (s->groups < 1 || s->C % s->groups || s->K % s->groups) {
        err_set("conv2d: groups=%d must divide C=%d and K=%d", s->groups, s->C, s->K);
        return -1;
    }
    if (s->algo != CONV2D_AUTO && s->algo != CONV2D_GEMM && s->algo != CONV2D_DIRECT && s->algo != CONV2D_WINOGRAD &&
        s->algo != CONV2D_AUTO_WINOGRAD) {
        err_set("conv2d: unknown algorithm %d", (int)s->algo);
        return -1;
    }
    if (s->algo == CONV2D_DIRECT && s->C / s->groups != 1) {
        err_set("conv2d: the direct algorithm needs C/groups == 1 (C=%d groups=%d)", s->C, s->groups);
        return -1;
    }
    if (s->algo == CONV2D_WINOGRAD && !winograd_applies(s)) {
        err_set("conv2d: Winograd needs a 3x3 kernel, stride 1, padding 1, dilation 1, groups 1");
        return -1;
    }
    int64_t eh = (int64_t)s->dil_h * (s->KH - 1) + 1, ew = (int64_t)s->dil_w * (s->KW - 1) + 1;
    int64_t hp = (int64_t)s->H + 2 * (int64_t)s->pad_h, wp = (int64_t)s->W + 2 * (int64_t)s->pad_w;
    if (eh > hp || ew > wp) {
        err_set("conv2d: kernel %dx%d (dilated %lldx%lld) larger than the padded input %lldx%lld", s->KH,
                s->KW, (long long)eh, (long long)ew, (long long)hp, (long long)wp);
        return -1;
    }
    int64_t oh = (hp - eh) / s->stride_h + 1, ow = (wp - ew) / s->stride_w + 1;
    int64_t ckk = (int64_t)s->C * s->KH * s->KW;
    if (oh * ow > INT_MAX || ckk > INT_MAX || (int64_t)s->H * s->W > INT_MAX) {
        err_set("conv2d: plane or kernel too large for BLAS int dimensions");
        return -1;
    }
    s->OH = (int)oh;
    s->OW = (int)ow;
    return 0;
}

size_t conv2d_x_numel(const Conv2dShape *s) { return (size_t)s->N * s->C * s->H * s->W; }
size_t conv2d_y_numel(const Conv2dShape *s) { return (size_t)s->N * s->K * s->OH * s->OW; }
size_t conv2d_w_numel(const Conv2dShape *s) { return (size_t)s->K * (s->C / s->groups) * s->KH * s->KW; }

/* ---- tiles: fixed by the shape, shared among the threads ------------------------------------------ */

struct Job;
typedef void (*tile_fn)(struct Job *jb, int64_t item, float *scratch);

typedef struct {
    tile_fn fn;
    struct Job *jb;
    int64_t nitems;
    int64_t nworkers;
    float *scratch;
    size_t per; /* floats of scratch per worker */
} Team;

static void team_worker(void *p, int64_t begin, int64_t end) {
    Team *t = p;
    for (int64_t w = begin; w < end; w++) {
        float *scr = t->per ? t->scratch + (size_t)w * t->per : NULL;
        int64_t i0 = t->nitems * w / t->nworkers, i1 = t->nitems * (w + 1) / t->nworkers;
        for (int64_t i = i0; i < i1; i++) t->fn(t->jb, i, scr);
    }
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static int64_t team_workers(const NnCtx *ctx, int64_t nitems) {
    return ctx->threads < nitems ? ctx->threads : nitems;
}

/* Floats of workspace team_run needs. */
static size_t team_scratch(const NnCtx *ctx, int64_t nitems, size_t shared, size_t per) {
    return round16(shared) + round16(per) * (size_t)team_workers(ctx, nitems);
}

/* ---- helpers ---------------------------------------------------------------------------------------- */

/* Output positions o in [0, n_out) whose input index o*stride + off lies in [0, n_in): [*lo, *hi). */
static void valid_range(int64_t off, int stride, int n_in, int n_out, int *lo, int *hi) {
    int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t last = (int64_t)n_in - 1 - off; /* o*stride <= last */
    int64_t b = last < 0 ? 0 : last / stride + 1;
    if (b > n_out) b = n_out;
    if (a > b) a = b;
    *lo = (int)a;
    *hi = (int)b;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Fixed-order sums with 8 partial accumulators (vectorisable without reassociation). */
CPU_INLINE float dot8(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

CPU_INLINE float sum8(const float *a, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += a[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/lanes_avx512.h"
#include <immintrin.h>

/* dst[k] = src[k * sw] for k < n, sw 1 or 2, 16 at a time with masked tails (AVX-512): im2col's row runs,
 * short (a few dozen floats) and, at stride 2, strided, where memcpy's call or a scalar loop costs more
 * than the copy. */
__attribute__((target("avx512f"))) static void copy_run_avx512(float *dst, const float *src, int n, int sw) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int k = 0; k < n; k += 16) {
        int left = n - k;
        __mmask16 m = lanes_between(0, left);
        __m512 v;
        if (sw == 1) {
            v = _mm512_maskz_loadu_ps(m, src + k);
        } else { /* source lanes 2l for l < left: the low 16 floats hold l < 8, the high ones the rest */
            int ns = left >= 16 ? 31 : 2 * left - 1; /* source floats read: [0, ns), the last 2 * (lanes - 1) */
            v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lanes_between(0, ns), src + 2 * k), even,
                                       _mm512_maskz_loadu_ps(lanes_between(0, ns - 16), src + 2 * k + 16));
        }
        _mm512_mask_storeu_ps(dst + k, m, v);
    }
}
/* dst[k * sw] += src[k] for k < n, sw 1 or 2 (AVX-512): col2im's row runs. At stride 2 only the even
 * lanes of each pair of dst vectors are added to (a masked add: the odd ones keep their bits, -0 too). */
__attribute__((target("avx512f"))) static void add_run_avx512(float *dst, const float *src, int n, int sw) {
    const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    for (int k = 0; k < n; k += 16) {
        __mmask16 m = lanes_between(0, n - k);
        __m512 v = _mm512_maskz_loadu_ps(m, src + k);
        if (sw == 1) {
            float *d = dst + k;
            _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), v));
            continue;
        }
        /* dst floats 2k .. 2k + 31: even lane 2l of the low vector takes src[k + l] (l < 8), of the high one
         * src[k + 8 + l]; lanes past the run's last element are left out of both masks */
        int nd = 2 * (n - k) - 1; /* dst floats touched: [0, nd) */
        __mmask16 el = (__mmask16)0x5555, ml = lanes_between(0, nd), mh = lanes_between(0, nd - 16);
        float *d = dst + 2 * k;
        __m512 d0 = _mm512_maskz_loadu_ps(ml, d), d1 = _mm512_maskz_loadu_ps(mh, d + 16);
        d0 = _mm512_mask_add_ps(d0, el & ml, d0, _mm512_permutexvar_ps(lo, v));
        d1 = _mm512_mask_add_ps(d1, el & mh, d1, _mm512_permutexvar_ps(hi, v));
        _mm512_mask_storeu_ps(d, el & ml, d0);
        _mm512_mask_storeu_ps(d + 16, el & mh, d1);
    }
}
#define HAVE_COPY_RUN_AVX512 1
#else
#define HAVE_COPY_RUN_AVX512 0
#endif

/* im2col of rows [r0, r1) (row r = (c*KH + i)*KW + j) and output pixels [p0, p1) of one image xn
 * (C,H,W) into out[(r - r0)*ldo + (p - p0)]. */
static void im2col_block(const Conv2dShape *s, const float *xn, int r0, int r1, int64_t p0, int64_t p1,
                         float *out, int64_t ldo) {
#if HAVE_COPY_RUN_AVX512
    const int fast = (s->stride_w == 1 || s->stride_w == 2) && nn_avx512();
#endif
    const int KK = s->KH * s->KW, OW = s->OW, sw = s->stride_w;
    for (int r = r0; r < r1; r++) {
        int c = r / KK, i = (r / s->KW) % s->KH, j = r % s->KW;
        const float *xc = xn + (size_t)c * s->H * s->W;
        float *o = out + (size_t)(r - r0) * ldo - p0;
        int64_t off = (int64_t)j * s->dil_w - s->pad_w;
        int lo, hi;
        valid_range(off, sw, s->W, OW, &lo, &hi);
        for (int64_t p = p0; p < p1;) {
            int oh = (int)(p / OW), ow0 = (int)(p % OW);
            int ow1 = (int64_t)OW - ow0 < p1 - p ? OW : ow0 + (int)(p1 - p);
            float *orow = o + (p - ow0);
            int64_t ih = (int64_t)oh * s->stride_h - s->pad_h + (int64_t)i * s->dil_h;
            if (ih < 0 || ih >= s->H) {
                memset(orow + ow0, 0, sizeof(float) * (size_t)(ow1 - ow0));
            } else {
                const float *xrow = xc + ih * s->W + off;
                int a = clampi(lo, ow0, ow1), b = clampi(hi, a, ow1);
                for (int ow = ow0; ow < a; ow++) orow[ow] = 0.0f;
#if HAVE_COPY_RUN_AVX512
                if (fast) copy_run_avx512(orow + a, xrow + (int64_t)a * sw, b - a, sw);
                else
#endif
                if (sw == 1) memcpy(orow + a, xrow + a, sizeof(float) * (size_t)(b - a));
                else
                    for (int ow = a; ow < b; ow++) orow[ow] = xrow[(int64_t)ow * sw];
                for (int ow = b; ow < ow1; ow++) orow[ow] = 0.0f;
            }
            p += ow1 - ow0;
        }
    }
}

/* The adjoint of im2col_block: dxn[c, ih, iw] += col[(r - r0)*ldc + (p - p0)], rows then pixels in
 * order (one thread per image, so the order of the sums is fixed). */
static void col2im_add_block(const Conv2dShape *s, const float *col, int64_t ldc, int r0, int r1, int64_t p0,
                             int64_t p1, float *dxn) {
#if HAVE_COPY_RUN_AVX512
    const int fast = (s->stride_w == 1 || s->stride_w == 2) && nn_avx512();
#endif
    const int KK = s->KH * s->KW, OW = s->OW, sw = s->stride_w;
    for (int r = r0; r < r1; r++) {
        int c = r / KK, i = (r / s->KW) % s->KH, j = r % s->KW;
        float *dxc = dxn + (size_t)c * s->H * s->W;
        const float *o = col + (size_t)(r - r0) * ldc - p0;
        int64_t off = (int64_t)j * s->dil_w - s->pad_w;
        int lo, hi;
        valid_range(off, sw, s->W, OW, &lo, &hi);
        for (int64_t p = p0; p < p1;) {
            int oh = (int)(p / OW), ow0 = (int)(p % OW);
            int ow1 = (int64_t)OW - ow0 < p1 - p ? OW : ow0 + (int)(p1 - p);
            const float *orow = o + (p - ow0);
            int64_t ih = (int64_t)oh * s->stride_h - s->pad_h + (int64_t)i * s->dil_h;
            if (ih >= 0 && ih < s->H) {
                float *dxrow = dxc + ih * s->W + off;
                int a = lo > ow0 ? lo : ow0, b = hi < ow1 ? hi : ow1;
#if HAVE_COPY_RUN_AVX512
                if (fast && b > a) add_run_avx512(dxrow + (int64_t)a * sw, orow + a, b - a, sw);
                else
#endif
                if (sw == 1)
                    for (int ow = a; ow < b; ow++) dxrow[ow] += orow[ow];
                else
                    for (int ow = a; ow < b; ow++) dxrow[(int64_t)ow * sw] += orow[ow];
            }
            p += ow1 - ow0;
        }
    }
}

static int is_pointwise(const Conv2dShape *s) {
    return s->KH == 1 && s->KW == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h == 0 && s->pad_w == 0;
}

/* The direct path: C/groups == 1 and not a plain 1-channel GEMM-friendly case. A one-channel input with
 * groups == 1 (the spectrogram's first layer) goes to GEMM: OpenBLAS's kernels beat the direct loops
 * (built for x86-64-v2) there, while for depthwise convolution (groups > 1) each group would be a
 * one-row sgemm. */
static int use_direct(const Conv2dShape *s) {
    if (s->algo == CONV2D_DIRECT) return 1;
    if (s->algo == CONV2D_GEMM) return 0;
    return s->C / s->groups == 1 && s->groups > 1;
}

/* Workspace floats per worker of the direct path: KH*KW doubles of dw sums, then the padded plane of
 * the AVX-512 kernels (nn/depthwise.h). */
static size_t direct_per(const Conv2dShape *s) {
    return round16((size_t)2 * s->KH * s->KW) + round16(depthwise_scratch_floats(s));
}

/* Tiling of the GEMM path (depends on the shape and the GEMM kernel in use, never on the thread count). */
typedef struct {
    int Cg, Kg, CgKK, CKK;
    int64_t P;
    int64_t bp, nblk; /* output-pixel blocks */
    int64_t nchunk;   /* backward: image chunks, each with its own partial dW */
    size_t wn;        /* weight elements */
    int pointwise;
    int gi;           /* forward: images per item (gemm_fwd_images), 1 but where planes are short of vectors */
} Tiling;

#define BLOCK_FLOATS 262144u /* floats of a pixel block's im2col rows and outputs */
#define PARTIAL_FLOATS (8u << 20) /* about 32 MiB of partial weight gradients... */
#define MIN_CHUNKS 8 /* ...but at least 8 chunks, so that 2 or 4 threads share them evenly (3 chunks of a
                      * 512x512x3x3 weight left one of 2 threads idle for a third of that layer) */
#define MAX_CHUNKS 16

static Tiling tiling(const Conv2dShape *s) {
    Tiling t;
    t.Cg = s->C / s->groups;
    t.Kg = s->K / s->groups;
    t.CgKK = t.Cg * s->KH * s->KW;
    t.CKK = s->C * s->KH * s->KW;
    t.P = (int64_t)s->OH * s->OW;
    t.pointwise = is_pointwise(s);
    t.wn = conv2d_w_numel(s);
    /* Pixel blocks: the block's im2col rows and outputs, (C*KH*KW + K) * bp floats, about 1 MiB. */
    int64_t bmax = BLOCK_FLOATS / ((t.pointwise ? t.Cg : t.CKK) + s->K);
    if (bmax < 64) bmax = 64;
    int64_t nb = (t.P + bmax - 1) / bmax;
    int64_t bp = (int64_t)round16((size_t)((t.P + nb - 1) / nb));
    if (bp > t.P) bp = t.P;
    t.bp = bp;
    t.nblk = (t.P + bp - 1) / bp;
    int64_t g = (int64_t)(PARTIAL_FLOATS / t.wn);
    if (g < MIN_CHUNKS) g = MIN_CHUNKS;
    if (g > MAX_CHUNKS) g = MAX_CHUNKS;
    t.nchunk = g < s->N ? g : s->N;
    /* gemm_fwd_images where a plane is one block a few columns short of whole vectors, on our GEMM kernels (whose
     * sums do not depend on N; OpenBLAS's need not keep their order): 4 x 52 columns fill 13 vectors (our
     * 52-column products ran at 60% of the FMA peak, 208-column ones at 75-84%; EfficientNet-B0 inference
     * 4% faster) */
    t.gi = 1;
    if (s->groups == 1 && t.nblk == 1 && t.P < 64 && t.P % 16 != 0 && strcmp(gemm_kernel_name(), "openblas") != 0) {
        int gi = 1;
        while (gi < 4 && gi * t.P % 16 != 0) gi++;
        int most = s->N / 2 > 1 ? s->N / 2 : 1; /* at least two items for two threads */
        t.gi = gi < most ? gi : most;
    }
    return t;
}

/* gemm_fwd_images' workspace: the images' B side by side (rows of B: input channels, or im2col rows), then
 * their C at images_c_offset. */
static int images_b_rows(const Tiling *t) { return t->pointwise ? t->Cg : t->CKK; }
static size_t images_c_offset(const Tiling *t) { return round16((size_t)images_b_rows(t) * t->gi * t->P); }

/* Workspace of each pass: (shared floats, floats per worker, items). */
static size_t fwd_per(const Tiling *t) {
    if (t->gi > 1) return images_c_offset(t) + (size_t)t->Kg * t->gi * t->P;
    return t->pointwise ? 0 : (size_t)t->CKK * (size_t)t->bp;
}
static int64_t fwd_items(const Conv2dShape *s, const Tiling *t) {
    return t->gi > 1 ? (s->N + t->gi - 1) / t->gi : (int64_t)s->N * t->nblk;
}
static size_t bwd_per(const Tiling *t, int dx, int dw) {
    return t->pointwise ? 0 : (size_t)t->CKK * (size_t)t->bp * (size_t)((dx != 0) + (dw != 0));
}
static size_t bwd_shared(const Tiling *t, int dw) { return dw ? (size_t)(t->nchunk - 1) * t->wn : 0; }

/* Winograd (nn/winograd.h) for forward and dx (dw: 1), forced, or where it pays: in an inference context
 * (const_weights) by winograd_pays_inference's rule. */
static int use_winograd(const NnCtx *ctx, const Conv2dShape *s, int dw) {
    if (s->algo == CONV2D_WINOGRAD) return 1;
    if (s->algo != CONV2D_AUTO && s->algo != CONV2D_AUTO_WINOGRAD) return 0;
    if (dw) return winograd_pays_dw(s);
    return ctx->const_weights ? winograd_pays_inference(s) : winograd_pays(s);
}

int conv2d_pool2_supported(const NnCtx *ctx, const Conv2dShape *s) {
    return ctx->device == NN_CPU && !use_direct(s) && use_winograd(ctx, s, 0);
}

int conv2d_in_scale_supported(const NnCtx *ctx, const Conv2dShape *s) {
    if (ctx->device != NN_CPU) return ctx->amp && !conv2d_is_depthwise(s);
    return is_pointwise(s) && !use_direct(s) && !use_winograd(ctx, s, 0);
}

size_t conv2d_scratch_floats(const NnCtx *ctx, const Conv2dShape *s) {
    if (use_direct(s)) return team_scratch(ctx, (int64_t)s->N * s->K, 0, direct_per(s));
    Tiling t = tiling(s);
    size_t f = team_scratch(ctx, fwd_items(s, &t), 0, fwd_per(&t));
    size_t b = team_scratch(ctx, t.nchunk, bwd_shared(&t, 1), bwd_per(&t, 1, 1));
    if (use_winograd(ctx, s, 0)) {
        f = winograd_scratch_floats(ctx, s, 0);
        size_t d = winograd_scratch_floats(ctx, s, 1);
        if (use_winograd(ctx, s, 1)) b = winograd_dw_scratch_floats(ctx, s);
        b = d > b ? d : b;
    }
    return f > b ? f : b;
}

typedef struct Job {
    const Conv2dShape *s;
    Tiling t;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db;
    const ConvEpilogue *ep; /* forward: NULL or the epilogue */
    const float *in_scale;  /* backward: NULL or x's scale (conv2d_backward_in_scale) */
    float *shared; /* the shared part of the workspace */
    uint64_t pass; /* this team_run's token, new every call (depthwise.h: its padded copies) */
} Job;

/* Run fn over items [0, nitems): worker w of min(threads, nitems) takes a contiguous run of items and
 * a private `per`-float slice of the workspace; jb->shared gets `shared` floats of it. Every sgemm
 * inside runs single-threaded (see conv2d.h). Returns 0, or -1 when the workspace cannot be had. */
static int team_run(NnCtx *ctx, int64_t nitems, size_t shared, size_t per, tile_fn fn, Job *jb) {
    if (nitems <= 0) return 0;
    int64_t nw = team_workers(ctx, nitems);
    size_t total = team_scratch(ctx, nitems, shared, per);
    float *scr = NULL;
    if (total) {
        scr = nn_scratch(ctx, total);
        if (!scr) return -1;
    }
    static uint64_t passes;
    jb->shared = shared ? scr : NULL;
    jb->pass = __atomic_add_fetch(&passes, 1, __ATOMIC_RELAXED);
    Team t = {fn, jb, nitems, nw, scr ? scr + round16(shared) : NULL, round16(per)};
    openblas_set_num_threads(1);
    nn_parallel_for(ctx, nw, team_worker, &t);
    openblas_set_num_threads(ctx->threads);
    return 0;
}

/* ---- GEMM path ---------------------------------------------------------------------------------------- */

/* Forward tile: image n, output pixels [p0, p1), every group. */
static void gemm_fwd_tile(Job *jb, int64_t item, float *scr) {
    const Conv2dShape *s = jb->s;
    const Tiling *t = &jb->t;
    int64_t n = item / t->nblk, p0 = item % t->nblk * t->bp;
    int64_t p1 = p0 + t->bp < t->P ? p0 + t->bp : t->P;
    int bp = (int)(p1 - p0);
    const float *xn = jb->x + (size_t)n * s->C * s->H * s->W;
    if (!t->pointwise) im2col_block(s, xn, 0, t->CKK, p0, p1, scr, bp);
    for (int g = 0; g < s->groups; g++) {
        const float *B;
        int ldb;
        if (t->pointwise) {
            B = xn + (size_t)g * t->Cg * t->P + p0;
            ldb = (int)t->P;
        } else {
            B = scr + (size_t)g * t->CgKK * bp;
            ldb = bp;
        }
        size_t o = ((size_t)n * s->K + (size_t)g * t->Kg) * t->P + p0;
        /* the bias and the epilogue applied by the GEMM to each finished tile: the bits of a bias pass
         * and act_affine over the block, without reading it back */
        const ConvEpilogue *ep = jb->ep;
        GemmEpilogue ge = {.bias = jb->b ? jb->b + (size_t)g * t->Kg : NULL,
                           .scale = ep ? ep->scale + (size_t)g * t->Kg : NULL,
                           .shift = ep ? ep->shift + (size_t)g * t->Kg : NULL,
                           .res = ep && ep->res ? ep->res + o : NULL,
                           .ldr = (int)t->P,
                           .act = ep ? ep->act : ACT_NONE,
                           .b_scale = ep && ep->in_scale ? ep->in_scale + (size_t)n * s->C + (size_t)g * t->Cg : NULL};
        gemm_f32_ep(GEMM_N, GEMM_N, t->Kg, bp, t->CgKK, jb->w + (size_t)g * t->Kg * t->CgKK, t->CgKK, B, ldb, 0.0f,
                    jb->y + o, (int)t->P, &ge);
    }
}

/* Forward item of Tiling.gi images whose planes (P pixels, one block each) fall a few columns short of whole
 * vectors, as EfficientNet's and ResNet's last stage (4 x 13 = 52: the GEMM's last 16-column panel would carry
 * 4 of them): the images' im2col rows (or, pointwise, their planes, times in_scale) side by side in scr, one
 * GEMM over G*P columns (4 x 52 = 208, whole vectors, read in place), its C staged after them and copied out
 * per image. Every element is the same sum in the same order with the same epilogue operations (the
 * residual, per image, added as the rows are copied out; not with an activation, which must follow it), so
 * the same bits as gemm_fwd_tile. */
static void gemm_fwd_images(Job *jb, int64_t item, float *scr) {
    const Conv2dShape *s = jb->s;
    const Tiling *t = &jb->t;
    const ConvEpilogue *ep = jb->ep;
    int64_t n0 = item * t->gi, G = s->N - n0 < t->gi ? s->N - n0 : t->gi, P = t->P;
    int ld = (int)(G * P), rows = images_b_rows(t);
    float *B = scr, *C = scr + images_c_offset(t);
    for (int64_t g = 0; g < G; g++) {
        const float *xn = jb->x + (size_t)(n0 + g) * s->C * s->H * s->W;
        if (!t->pointwise) {
            im2col_block(s, xn, 0, t->CKK, 0, P, B + g * P, ld);
            continue;
        }
        const float *sc = ep && ep->in_scale ? ep->in_scale + (size_t)(n0 + g) * s->C : NULL;
        for (int c = 0; c < t->Cg; c++) {
            const float *src = xn + (size_t)c * P;
            float *dst = B + (size_t)c * ld + g * P;
            if (sc)
                for (int64_t p = 0; p < P; p++) dst[p] = src[p] * sc[c];
            else
                memcpy(dst, src, sizeof(float) * (size_t)P);
        }
    }
    GemmEpilogue ge = {.bias = jb->b,
                       .scale = ep ? ep->scale : NULL,
                       .shift = ep ? ep->shift : NULL,
                       .act = ep && !ep->res ? ep->act : ACT_NONE};
    gemm_f32_ep(GEMM_N, GEMM_N, t->Kg, ld, rows, jb->w, rows, B, ld, 0.0f, C, ld, &ge);
    for (int64_t g = 0; g < G; g++)
        for (int k = 0; k < t->Kg; k++) {
            size_t o = ((size_t)(n0 + g) * s->K + k) * P;
            const float *c = C + (size_t)k * ld + g * P;
            if (ep && ep->res)
                for (int64_t p = 0; p < P; p++) jb->y[o + p] = c[p] + ep->res[o + p];
            else
                memcpy(jb->y + o, c, sizeof(float) * (size_t)P);
        }
}

/* Backward tile: chunk c of the images, their pixel blocks in order. dW of the chunk accumulates into
 * its own partial (chunk 0: dw itself; summed in chunk order afterwards); dx of each image is written
 * by this tile alone, so the scatter-adds of col2im have a fixed order. Each dy block is used for dW
 * and dx while it is in cache. */
static void gemm_bwd_tile(Job *jb, int64_t c, float *scr) {
    const Conv2dShape *s = jb->s;
    const Tiling *t = &jb->t;
    const size_t xplane = (size_t)s->C * s->H * s->W;
    float *part = NULL;
    if (jb->dw) {
        part = c == 0 ? jb->dw : jb->shared + (size_t)(c - 1) * t->wn;
        if (c > 0) memset(part, 0, t->wn * sizeof(float));
    }
    float *col = scr, *dcol = scr && jb->dw ? scr + (size_t)t->CKK * t->bp : scr;
    int64_t n0 = s->N * c / t->nchunk, n1 = s->N * (c + 1) / t->nchunk;
    for (int64_t n = n0; n < n1; n++) {
        const float *xn = jb->x + n * xplane;
        float *dxn = jb->dx ? jb->dx + n * xplane : NULL;
        if (dxn && !t->pointwise) memset(dxn, 0, xplane * sizeof(float));
        for (int64_t p0 = 0; p0 < t->P; p0 += t->bp) {
            int64_t p1 = p0 + t->bp < t->P ? p0 + t->bp : t->P;
            int bp = (int)(p1 - p0);
            if (part) {
                if (!t->pointwise) im2col_block(s, xn, 0, t->CKK, p0, p1, col, bp);
                for (int g = 0; g < s->groups; g++) {
                    const float *B = t->pointwise ? xn + (size_t)g * t->Cg * t->P + p0 : col + (size_t)g * t->CgKK * bp;
                    /* a scaled input (pointwise only): B's columns are x's channels */
                    GemmEpilogue ge = {.b_col_scale = jb->in_scale ? jb->in_scale + (size_t)n * s->C + (size_t)g * t->Cg
                                                                   : NULL};
                    gemm_f32_ep(GEMM_N, GEMM_T, t->Kg, t->CgKK, bp,
                                jb->dy + ((size_t)n * s->K + (size_t)g * t->Kg) * t->P + p0, (int)t->P, B,
                                t->pointwise ? (int)t->P : bp, 1.0f, part + (size_t)g * t->Kg * t->CgKK, t->CgKK, &ge);
                }
            }
            if (dxn) {
                for (int g = 0; g < s->groups; g++) {
                    float *C = t->pointwise ? dxn + (size_t)g * t->Cg * t->P + p0 : dcol + (size_t)g * t->CgKK * bp;
                    gemm_f32(GEMM_T, GEMM_N, t->CgKK, bp, t->Kg,
                                jb->w + (size_t)g * t->Kg * t->CgKK, t->CgKK,
                                jb->dy + ((size_t)n * s->K + (size_t)g * t->Kg) * t->P + p0, (int)t->P, 0.0f, C,
                                t->pointwise ? (int)t->P : bp);
                }
                if (!t->pointwise) col2im_add_block(s, dcol, bp, 0, t->CKK, p0, p1, dxn);
            }
        }
    }
}

/* dw += partials of chunks 1.. in chunk order (element ranges in parallel: each sum's order is fixed). */
typedef struct {
    float *dw;
    const float *parts;
    size_t wn;
    int64_t nparts;
} Reduce;

CPU_CLONES static void reduce_range(void *arg, int64_t begin, int64_t end) {
    Reduce *r = arg;
    for (int64_t c = 0; c < r->nparts; c++) {
        const float *p = r->parts + (size_t)c * r->wn;
        for (int64_t i = begin; i < end; i++) r->dw[i] += p[i];
    }
}

/* db tile: output channel k, sums over images then pixels, in order. */
static void db_tile(Job *jb, int64_t k, float *scr) {
    (void)scr;
    const Conv2dShape *s = jb->s;
    int64_t P = (int64_t)s->OH * s->OW;
    double acc = 0.0;
    for (int n = 0; n < s->N; n++) acc += sum8(jb->dy + ((size_t)n * s->K + (size_t)k) * P, P);
    jb->db[k] += (float)acc;
}

/* ---- direct path (C/groups == 1) ------------------------------------------------------------------- */

/* Forward: plane (n, k). Returns 1 when the depthwise kernel applied the epilogue ep too. */
CPU_CLONES static int direct_fwd_plane(Job *jb, int64_t item, float *scr, const DwPlaneEpilogue *ep) {
    const Conv2dShape *s = jb->s;
    int n = (int)(item / s->K), k = (int)(item % s->K);
    int Kg = s->K / s->groups, c = k / Kg;
    const float *xc = jb->x + ((size_t)n * s->C + c) * s->H * s->W;
    const float *wk = jb->w + (size_t)k * s->KH * s->KW;
    float *yk = jb->y + ((size_t)n * s->K + k) * s->OH * s->OW;
    float bk = jb->b ? jb->b[k] : 0.0f;
    if (depthwise_fwd_plane_ep(s, xc, wk, bk, yk, scr, jb->pass, ep)) return 1;
    const int sw = s->stride_w, OW = s->OW;
    for (int oh = 0; oh < s->OH; oh++) {
        float *yrow = yk + (size_t)oh * OW;
        for (int ow = 0; ow < OW; ow++) yrow[ow] = 0.0f;
        for (int i = 0; i < s->KH; i++) {
            int64_t ih = (int64_t)oh * s->stride_h - s->pad_h + (int64_t)i * s->dil_h;
            if (ih < 0 || ih >= s->H) continue;
            for (int j = 0; j < s->KW; j++) {
                int64_t off = (int64_t)j * s->dil_w - s->pad_w;
                int lo, hi;
                valid_range(off, sw, s->W, OW, &lo, &hi);
                const float *xrow = xc + ih * s->W + off;
                float wv = wk[i * s->KW + j];
                if (sw == 1)
                    for (int ow = lo; ow < hi; ow++) yrow[ow] += wv * xrow[ow];
                else
                    for (int ow = lo; ow < hi; ow++) yrow[ow] += wv * xrow[(int64_t)ow * sw];
            }
        }
        if (jb->b)
            for (int ow = 0; ow < OW; ow++) yrow[ow] += bk;
    }
    return 0;
}

/* Forward: plane (n, k), then its epilogue while the plane is in cache (by the depthwise kernel itself as
 * it stores each vector, when it runs). Cloned for the plane mean's ordered sum: compiled for x86-64-v2
 * it ran as SSE pairs through the stack, 6% of EfficientNet's inference. */
CPU_CLONES static void direct_fwd_tile(Job *jb, int64_t item, float *scr) {
    const ConvEpilogue *ep = jb->ep;
    const Conv2dShape *s = jb->s;
    int64_t P = (int64_t)s->OH * s->OW, k = item % s->K;
    const float *res = ep && ep->res ? ep->res + (size_t)item * P : NULL;
    DwPlaneEpilogue dep = {ep ? ep->scale[k] : 0.0f, ep ? ep->shift[k] : 0.0f, res, ep ? ep->act : ACT_NONE};
    int done = direct_fwd_plane(jb, item, scr, ep ? &dep : NULL);
    if (!ep) return;
    float *y = jb->y + (size_t)item * P;
    if (!done) act_affine(y, y, P, ep->scale[k], ep->shift[k], res, ep->act);
    if (ep->plane_mean) ep->plane_mean[item] = (float)(ordered_sum_f64(y, P) / (double)P);
}

/* dx: plane (n, c), gathering the Kg output channels that read channel c, in order. */
CPU_CLONES static void direct_dx_tile(Job *jb, int64_t item, float *scr) {
    const Conv2dShape *s = jb->s;
    int n = (int)(item / s->C), c = (int)(item % s->C);
    int Kg = s->K / s->groups;
    float *dxc = jb->dx + ((size_t)n * s->C + c) * s->H * s->W;
    if (Kg == 1 && depthwise_dx_plane(s, jb->dy + ((size_t)n * s->K + c) * s->OH * s->OW,
                                      jb->w + (size_t)c * s->KH * s->KW, dxc, scr, jb->pass))
        return;
    memset(dxc, 0, sizeof(float) * (size_t)s->H * s->W);
    const int sw = s->stride_w, OW = s->OW;
    for (int k = c * Kg; k < (c + 1) * Kg; k++) {
        const float *wk = jb->w + (size_t)k * s->KH * s->KW;
        const float *dyk = jb->dy + ((size_t)n * s->K + k) * s->OH * OW;
        for (int oh = 0; oh < s->OH; oh++) {
            const float *dyrow = dyk + (size_t)oh * OW;
            for (int i = 0; i < s->KH; i++) {
                int64_t ih = (int64_t)oh * s->stride_h - s->pad_h + (int64_t)i * s->dil_h;
                if (ih < 0 || ih >= s->H) continue;
                for (int j = 0; j < s->KW; j++) {
                    int64_t off = (int64_t)j * s->dil_w - s->pad_w;
                    int lo, hi;
                    valid_range(off, sw, s->W, OW, &lo, &hi);
                    float *dxrow = dxc + ih * s->W + off;
                    float wv = wk[i * s->KW + j];
                    if (sw == 1)
                        for (int ow = lo; ow < hi; ow++) dxrow[ow] += wv * dyrow[ow];
                    else
                        for (int ow = lo; ow < hi; ow++) dxrow[(int64_t)ow * sw] += wv * dyrow[ow];
                }
            }
        }
    }
}

/* dw (and db): output channel k, sums over images, rows and taps in order (rows in float, in double
 * across rows). scr holds KH*KW doubles. */
CPU_CLONES static void direct_dw_tile(Job *jb, int64_t item, float *scr) {
    const Conv2dShape *s = jb->s;
    int k = (int)item;
    int Kg = s->K / s->groups, c = k / Kg, KK = s->KH * s->KW;
    double *acc = (double *)(void *)scr;
    for (int t = 0; t < KK; t++) acc[t] = 0.0;
    double bacc = 0.0;
    const int sw = s->stride_w, OW = s->OW;
    for (int n = 0; n < s->N; n++) {
        const float *xc = jb->x + ((size_t)n * s->C + c) * s->H * s->W;
        const float *dyk = jb->dy + ((size_t)n * s->K + k) * s->OH * OW;
        if (jb->db) bacc += sum8(dyk, (int64_t)s->OH * OW);
        /* the plane's scratch after the sums, 64-byte aligned as depthwise.h asks */
        if (!jb->dw || depthwise_dw_plane(s, xc, dyk, acc, scr + round16((size_t)2 * KK), jb->pass)) continue;
        for (int oh = 0; oh < s->OH; oh++) {
            const float *dyrow = dyk + (size_t)oh * OW;
            for (int i = 0; i < s->KH; i++) {
                int64_t ih = (int64_t)oh * s->stride_h - s->pad_h + (int64_t)i * s->dil_h;
                if (ih < 0 || ih >= s->H) continue;
                for (int j = 0; j < s->KW; j++) {
                    int64_t off = (int64_t)j * s->dil_w - s->pad_w;
                    int lo, hi;
                    valid_range(off, sw, s->W, OW, &lo, &hi);
                    const float *xrow = xc + ih * s->W + off;
                    float d;
                    if (sw == 1) {
                        d = dot8(dyrow + lo, xrow + lo, hi - lo);
                    } else {
                        d = 0.0f;
                        for (int ow = lo; ow < hi; ow++) d += dyrow[ow] * xrow[(int64_t)ow * sw];
                    }
                    acc[i * s->KW + j] += d;
                }
            }
        }
    }
    if (jb->dw)
        for (int t = 0; t < KK; t++) jb->dw[(size_t)k * KK + t] += (float)acc[t];
    if (jb->db) jb->db[k] += (float)bacc;
}

/* ---- entry points ---------------------------------------------------------------------------------------- */

/* in_scale where conv2d_in_scale_supported, else -1 with err_set() */
static int scale_ok(const NnCtx *ctx, const Conv2dShape *s, const float *in_scale) {
    if (!in_scale || conv2d_in_scale_supported(ctx, s)) return 0;
    err_set("conv2d: a scaled input needs a pointwise convolution through the CPU's GEMM, or mixed precision on a GPU");
    return -1;
}

int conv2d_forward(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y) {
    return conv2d_forward_ep(ctx, s, x, w, b, y, NULL);
}

int conv2d_forward_ep(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y,
                      const ConvEpilogue *ep) {
    if (ep && ep->pool2 && (!conv2d_pool2_supported(ctx, s) || ep->plane_mean)) {
        err_set("conv2d: a pooled epilogue needs the Winograd path on the CPU and no plane means");
        return -1;
    }
    if (scale_ok(ctx, s, ep ? ep->in_scale : NULL) < 0) return -1;
    NN_DISPATCH_CUDA(ctx, conv2d_forward_ep_cuda(ctx, s, x, w, b, y, ep));
    Job jb = {.s = s, .x = x, .w = w, .b = b, .y = y, .ep = ep};
    if (use_direct(s)) return team_run(ctx, (int64_t)s->N * s->K, 0, direct_per(s), direct_fwd_tile, &jb);
    if (use_winograd(ctx, s, 0)) return winograd_forward(ctx, s, x, w, b, y, ep);
    jb.t = tiling(s);
    if (jb.t.gi > 1 && ep && ep->res && ep->act != ACT_NONE) jb.t.gi = 1; /* the activation follows the residual */
    if (team_run(ctx, fwd_items(s, &jb.t), 0, fwd_per(&jb.t), jb.t.gi > 1 ? gemm_fwd_images : gemm_fwd_tile, &jb) < 0)
        return -1;
    if (ep && ep->plane_mean) { /* a plane spans several pixel blocks here: one more pass */
        GlobalPoolShape gp = {.N = s->N, .C = s->K, .H = s->OH, .W = s->OW};
        global_avgpool_forward(ctx, &gp, y, ep->plane_mean);
    }
    return 0;
}

static int needs_amp(void) {
    err_set("conv2d: half operands need a GPU context in mixed precision");
    return -1;
}

int conv2d_forward_half(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w, uint16_t *y,
                        uint16_t *x_half, int *x_half_made) {
    if (x_half_made) *x_half_made = 0;
    if (scale_ok(ctx, s, in_scale) < 0) return -1;
    if (ctx->amp) NN_DISPATCH_CUDA(ctx, conv2d_forward_half_cuda(ctx, s, x, in_scale, w, y, x_half, x_half_made));
    return needs_amp();
}

int conv2d_half_keeps_x(NnCtx *ctx, const Conv2dShape *s) {
    if (!ctx->amp) return 0;
    NN_DISPATCH_CUDA(ctx, conv2d_half_keeps_x_cuda(ctx, s));
    (void)s;
    return 0;
}

int conv2d_backward_half(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const uint16_t *x_half,
                         const float *w, const uint16_t *dy_half, float *dx, uint16_t *dx_half, float *dw) {
    if (scale_ok(ctx, s, in_scale) < 0) return -1;
    if (ctx->amp) NN_DISPATCH_CUDA(ctx, conv2d_backward_half_cuda(ctx, s, x, in_scale, x_half, w, dy_half, dx, dx_half, dw));
    return needs_amp();
}

int conv2d_backward(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *dy, float *dx,
                    float *dw, float *db) {
    return conv2d_backward_in_scale(ctx, s, x, NULL, w, dy, dx, dw, db);
}

int conv2d_backward_in_scale(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w,
                             const float *dy, float *dx, float *dw, float *db) {
    if (scale_ok(ctx, s, in_scale) < 0) return -1;
    NN_DISPATCH_CUDA(ctx, conv2d_backward_cuda(ctx, s, x, in_scale, w, dy, dx, dw, db));
    Job jb = {.s = s, .x = x, .w = w, .dy = dy, .dx = dx, .dw = dw, .db = db, .in_scale = in_scale};
    if (use_direct(s)) {
        if (dx && team_run(ctx, (int64_t)s->N * s->C, 0, direct_per(s), direct_dx_tile, &jb) < 0) return -1;
        if (dw || db) return team_run(ctx, s->K, 0, direct_per(s), direct_dw_tile, &jb);
        return 0;
    }
    if (dx && use_winograd(ctx, s, 0)) { /* dx (and dW where it pays) through Winograd; the rest below */
        if (winograd_backward_data(ctx, s, w, dy, dx) < 0) return -1;
        jb.dx = dx = NULL;
    }
    if (dw && use_winograd(ctx, s, 1)) {
        if (winograd_backward_weights(ctx, s, x, dy, dw) < 0) return -1;
        jb.dw = dw = NULL;
    }
    jb.t = tiling(s);
    const Tiling *t = &jb.t;
    if (dx || dw) {
        if (team_run(ctx, t->nchunk, bwd_shared(t, dw != NULL), bwd_per(t, dx != NULL, dw != NULL), gemm_bwd_tile,
                     &jb) < 0)
            return -1;
        if (dw && t->nchunk > 1) {
            Reduce r = {dw, jb.shared, t->wn, t->nchunk - 1};
            nn_parallel_for(ctx, (int64_t)t->wn, reduce_range, &r);
        }
    }
    if (db) return team_run(ctx, s->K, 0, 0, db_tile, &jb);
    return 0;
}

/* ---- initialisation ------------------------------------------------------------------------------------- */

void nn_fill_uniform(Rng *r, float *a, size_t n, double bound) {
    for (size_t i = 0; i < n; i++) a[i] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
}

void nn_fill_normal(Rng *r, float *a, size_t n, double std) {
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log is finite */
        double u2 = rng_uniform(r);
        double rad = sqrt(-2.0 * log(u1));
        a[i] = (float)(std * rad * cos(two_pi * u2));
        if (i + 1 < n) a[i + 1] = (float)(std * rad * sin(two_pi * u2));
    }
}

void conv2d_init_default(Rng *r, const Conv2dShape *s, float *w, float *b) {
    double fan_in = (double)(s->C / s->groups) * s->KH * s->KW;
    double bound = 1.0 / sqrt(fan_in); /* gain sqrt(2/(1+5)) * sqrt(3/fan_in) */
    nn_fill_uniform(r, w, conv2d_w_numel(s), bound);
    if (b) nn_fill_uniform(r, b, (size_t)s->K, bound);
}

void conv2d_init_kaiming_normal_fan_out(Rng *r, const Conv2dShape *s, float *w) {
    double fan_out = (double)s->K * s->KH * s->KW;
    nn_fill_normal(r, w, conv2d_w_numel(s), sqrt(2.0) / sqrt(fan_out));
}
