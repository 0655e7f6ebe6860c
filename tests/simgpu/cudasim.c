/* cudasim.c - a simulated GPU for the CUDA build's C side (make SIMGPU=1, build-simgpu/): every symbol the C
 * files expect from the .cu files of lib/nn, without nvcc or a GPU, so that the device path's host logic (the trainer,
 * cnneval, the scanner on NN_CUDA) runs and is tested on any machine (tests/cli/simgpu.sh).
 *
 * Promise:
 *  - One GPU, "simulated GPU (CPU)"; nn_cuda_engine_status() says ready.
 *  - Device memory (nn_alloc under NN_CUDA) is its own mmap'd pages, PROT_NONE except while a layer twin
 *    runs or nn_copy_to_device/nn_copy_to_host copies: host code that reads or writes device memory
 *    outside a layer call dies of SIGSEGV, as it would fault (or read garbage) on a real GPU. This is the
 *    "no host round trip per layer" discipline, checked. While several contexts run twins at once (cnneval
 *    --scan --jobs N) the pages stay open until the last one leaves: the guard is then weaker, not wrong.
 *  - Each twin X_cuda checks that its arrays are device memory (a host pointer handed to a layer under
 *    NN_CUDA aborts with the layer's name), then sets ctx->device = NN_CPU, calls the CPU function X with
 *    the same arguments, and restores NN_CUDA. The same CPU code underneath: a run on the simulated GPU
 *    gives the CPU run's bytes, which is the test oracle. Nested layer calls (a layer calling a layer) run
 *    on the CPU path directly and leave the pages open until the outer twin returns.
 *  - Copies check their direction: nn_copy_to_device's destination must be device memory and its source
 *    not, and the reverse.
 *  - The convolution algorithm cache is kept as conv2d.cu keeps it (one entry per shape, pass and
 *    --deterministic; the "algorithm" is the CPU's), so nn_cuda_algo_entries answers as on a GPU.
 *  - Mixed precision (ctx->amp, nn/amp.h) as conv2d.cu and linear.cu run it: the operands' half copies made
 *    with kernels.h's kb_cast_half, widened back (kb_widen) and handed to the CPU layer, its fp32 results
 *    rounded to half (kb_cast_half) and widened with the bias (kb_widen_bias), accumulated (kb_widen_add) or
 *    summed (kb_bias_grad_half) by the very bodies the GPU's kernels run; the epilogue of
 *    conv2d_forward_ep by kb_affine_act / kb_gap_fwd (nn_plane_sums's bits) afterwards, as conv2d.cu; SE's
 *    backward composed as se.cu composes it (its linear layers through the AMP twins). Exact but for the accumulation order
 *    inside a product (the CPU's, not cuDNN's / cuBLAS's), so the host logic of AMP training (the scaler,
 *    skipped steps, resuming) is tested here byte for byte.
 *  - TF32 (ctx->tf32, fp32 convolutions on tensor cores): the operands rounded to TF32's 10-bit mantissa
 *    (to nearest, ties to even), the products and sums the CPU's fp32; the bias gradient from the fp32 dy,
 *    as cuDNN's. Not the GPU's bits (its rounding of the operands and its order are its own), but a run with
 *    --tf32 differs from one without, so that the option is seen to reach the convolutions.
 * Not simulated: asynchrony (every call completes before it returns), device memory limits, cuDNN's and
 * cuBLAS's other summation orders (the real GPU's 1e-4 is tests/gpu/'s business). */
#ifndef AUDIOCNN_CUDA_SIM
#error "cudasim.c is the simulated GPU of make SIMGPU=1 only"
#endif
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "nn/activation.h"
#include "nn/algocache.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/device.h"
#include "nn/dropout.h"
#include "nn/kernels.h"
#include "nn/linear.h"
#include "nn/lossscale.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "nn/pool.h"
#include "nn/se.h"
#include "nn/staging.h"
#include "nn/stem.h"

#include "core/error.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct NnCuda {
    int index;
    char err[256];    /* the first failure of a void twin, reported by nn_sync */
    NnAlgoCache algos; /* conv2d.cu's cache: which shapes and passes were "searched" */
    uint16_t *half;   /* AMP: the half copies (host memory: only the twins touch them) */
    size_t half_len;
    float *wide;      /* AMP: those copies widened, and the CPU layer's fp32 results */
    size_t wide_len;
    float *se_work;   /* AMP: SE backward's intermediates (device memory, as se.cu's workspace) */
    size_t se_len;
};

/* ---- device memory: guarded regions ------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t len; /* mapped bytes (whole pages) */
} Region;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static Region *regions;
static size_t nregions, capregions;
static int open_depth; /* twins and copies running now (all threads): the pages are readable while > 0 */

static void protect_all(int prot) {
    for (size_t i = 0; i < nregions; i++)
        if (mprotect(regions[i].p, regions[i].len, prot) != 0) {
            perror("simgpu: mprotect");
            abort();
        }
}

static void dev_open(void) {
    pthread_mutex_lock(&mu);
    if (open_depth++ == 0) protect_all(PROT_READ | PROT_WRITE);
    pthread_mutex_unlock(&mu);
}

static void dev_close(void) {
    pthread_mutex_lock(&mu);
    if (--open_depth == 0) protect_all(PROT_NONE);
    pthread_mutex_unlock(&mu);
}

/* 1 when [p, p + n) lies inside one device region */
static int is_device(const void *p, size_t n) {
    const char *c = p;
    int found = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nregions && !found; i++)
        found = c >= regions[i].p && c < regions[i].p + regions[i].len && n <= (size_t)(regions[i].p + regions[i].len - c);
    pthread_mutex_unlock(&mu);
    return found;
}

/* A host pointer where a twin needs device memory: on a GPU a fault or garbage; here a clear stop. */
static void need_dev(const char *layer, const char *arg, const void *p) {
    if (!p || is_device(p, 1)) return;
    fprintf(stderr, "simgpu: %s got host memory for '%s' under NN_CUDA (%p)\n", layer, arg, p);
    abort();
}

void *nn_cuda_alloc(NnCtx *ctx, size_t bytes) {
    (void)ctx;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = ((bytes ? bytes : 1) + page - 1) / page * page;
    pthread_mutex_lock(&mu);
    void *p = mmap(NULL, len, open_depth > 0 ? PROT_READ | PROT_WRITE : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        pthread_mutex_unlock(&mu);
        err_set("out of GPU memory (%zu bytes): the simulator's mmap failed", bytes);
        return NULL;
    }
    if (nregions == capregions) {
        size_t cap = capregions ? 2 * capregions : 64;
        Region *r = realloc(regions, cap * sizeof *r);
        if (!r) {
            munmap(p, len);
            pthread_mutex_unlock(&mu);
            err_set("out of memory");
            return NULL;
        }
        regions = r;
        capregions = cap;
    }
    regions[nregions++] = (Region){p, len}; /* anonymous pages are zero, as nn_alloc promises */
    pthread_mutex_unlock(&mu);
    return p;
}

/* nn_device_mem_used: the simulator has no context of its own to subtract; its blocks' pages */
size_t nn_cuda_mem_used(NnCtx *ctx) {
    (void)ctx;
    size_t n = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nregions; i++) n += regions[i].len;
    pthread_mutex_unlock(&mu);
    return n;
}

void nn_cuda_free(void *p) {
    if (!p) return;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nregions; i++)
        if (regions[i].p == p) {
            munmap(regions[i].p, regions[i].len);
            regions[i] = regions[--nregions];
            pthread_mutex_unlock(&mu);
            return;
        }
    pthread_mutex_unlock(&mu);
    fprintf(stderr, "simgpu: nn_free of %p, which is not device memory\n", p);
    abort();
}

int nn_cuda_copy(NnCtx *ctx, void *dst, const void *src, size_t bytes, int to_device) {
    (void)ctx;
    if (!bytes) return 0;
    const void *dev = to_device ? dst : src, *host = to_device ? src : dst;
    if (!is_device(dev, bytes) || is_device(host, 1)) {
        fprintf(stderr, "simgpu: nn_copy_to_%s: %s is not %s memory\n", to_device ? "device" : "host",
                !is_device(dev, bytes) ? (to_device ? "the destination" : "the source")
                                       : (to_device ? "the source" : "the destination"),
                !is_device(dev, bytes) ? "device" : "host");
        abort();
    }
    dev_open();
    memmove(dst, src, bytes);
    dev_close();
    return 0;
}

int nn_cuda_zero(NnCtx *ctx, void *p, size_t bytes) {
    (void)ctx;
    if (!bytes) return 0;
    if (!is_device(p, bytes)) {
        fprintf(stderr, "simgpu: nn_zero of host memory under NN_CUDA (%p)\n", p);
        abort();
    }
    dev_open();
    memset(p, 0, bytes);
    dev_close();
    return 0;
}

/* ---- the context and the probe ----------------------------------------------------------------------- */

int nn_cuda_ctx_init(NnCtx *ctx, int index) {
    if (index != 0) {
        err_set("no such GPU (1 found: cuda:0 to cuda:0)");
        return -1;
    }
    if (!(ctx->cuda = calloc(1, sizeof *ctx->cuda))) {
        err_set("out of memory");
        return -1;
    }
    ctx->cuda->index = index;
    algocache_init(&ctx->cuda->algos);
    return 0;
}

void nn_cuda_ctx_free(NnCtx *ctx) {
    if (ctx->cuda) {
        algocache_free(&ctx->cuda->algos);
        free(ctx->cuda->half);
        free(ctx->cuda->wide);
        if (ctx->cuda->se_work) nn_cuda_free(ctx->cuda->se_work);
    }
    free(ctx->cuda);
    ctx->cuda = NULL;
}

int nn_cuda_sync(NnCtx *ctx) {
    if (ctx->cuda && ctx->cuda->err[0]) {
        err_set("%s", ctx->cuda->err);
        ctx->cuda->err[0] = 0;
        return -1;
    }
    return 0;
}

int nn_cuda_missing_void(NnCtx *ctx, const char *layer) {
    snprintf(ctx->cuda->err, sizeof ctx->cuda->err, "%s has no CUDA implementation yet (issue 16)", layer);
    err_set("%s", ctx->cuda->err);
    return -1;
}

void nn_gpu_probe(NnGpuList *l) {
    memset(l, 0, sizeof *l);
    l->built = 1;
    l->count = 1;
    snprintf(l->gpu[0].name, sizeof l->gpu[0].name, "simulated GPU (CPU)");
    l->gpu[0].mem_total = (size_t)16 << 30;
    l->gpu[0].cc_major = 9;
    l->gpu[0].cc_minor = 0;
}

const char *nn_cuda_engine_status(void) { return NULL; }

size_t nn_cuda_algo_entries(const NnCtx *ctx) { return ctx->cuda ? (size_t)ctx->cuda->algos.n : 0; }

/* conv2d.cu's algo_for without cuDNN: the key of this shape and pass looked up, stored on a miss */
static int algo_seen(NnCtx *ctx, const Conv2dShape *s, AlgoPass pass) {
    AlgoKey k = algocache_conv_key(ctx, s, pass);
    if (algocache_find(&ctx->cuda->algos, &k)) return 0;
    AlgoEntry e = {.key = k};
    return algocache_put(&ctx->cuda->algos, &e);
}


/* ---- mixed precision (nn/amp.h): conv2d.cu's and linear.cu's AMP paths on the CPU layers ----------------- */

static const NnGrid G1 = {0, 0, 1, 1}; /* one thread: a kernel body over all its items, in order */

/* The context's AMP buffers: n16 halves and n32 floats (contents undefined). Returns 0, or -1 with err_set(). */
static int amp_bufs(NnCtx *ctx, size_t n16, size_t n32, uint16_t **h, float **f) {
    struct NnCuda *c = ctx->cuda;
    if (n16 > c->half_len) {
        free(c->half);
        c->half_len = 0;
        if (!(c->half = malloc(n16 * sizeof *c->half))) goto oom;
        c->half_len = n16;
    }
    if (n32 > c->wide_len) {
        free(c->wide);
        c->wide_len = 0;
        if (!(c->wide = malloc(n32 * sizeof *c->wide))) goto oom;
        c->wide_len = n32;
    }
    *h = c->half;
    *f = c->wide;
    return 0;
oom:
    err_set("out of memory for the AMP copies");
    return -1;
}

/* h = half(x), f = widen(h): an operand as the GPU's half product sees it */
static void amp_operand(const float *x, int64_t n, int amp, uint16_t *h, float *f) {
    kb_cast_half(G1, n, x, h, amp);
    kb_widen(G1, n, h, f, amp);
}

/* Called inside ENTER: ctx->device is NN_CPU, the pages are open. y_half (no bias, no epilogue): the half
 * result's bits there instead of y, and x_half (or NULL) x's half copy (conv2d_forward_half). */
static int conv_forward_amp(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y,
                            const ConvEpilogue *ep, uint16_t *y_half, uint16_t *x_half) {
    int amp = (int)ctx->amp;
    int64_t nx = (int64_t)s->N * s->C * s->H * s->W, nw = (int64_t)s->K * (s->C / s->groups) * s->KH * s->KW;
    int64_t p = (int64_t)s->OH * s->OW, ny = (int64_t)s->N * s->K * p;
    uint16_t *h;
    float *f;
    if (amp_bufs(ctx, (size_t)(nx + nw + ny), (size_t)(nx + nw + ny), &h, &f) < 0) return -1;
    uint16_t *xh = h, *wh = h + nx, *yh = h + nx + nw;
    float *xf = f, *wf = f + nx, *yf = f + nx + nw;
    amp_operand(x, nx, amp, xh, xf);
    amp_operand(w, nw, amp, wh, wf);
    int cw = ctx->const_weights; /* the widened weights live in a reused buffer: nothing may be kept by address */
    ctx->const_weights = 0;
    int rc = conv2d_forward(ctx, s, xf, wf, NULL, yf);
    ctx->const_weights = cw;
    if (rc < 0) return -1;
    if (y_half) {
        kb_cast_half(G1, ny, yf, y_half, amp);
        if (x_half) memcpy(x_half, xh, sizeof *xh * (size_t)nx);
        return 0;
    }
    kb_cast_half(G1, ny, yf, yh, amp);
    NnDiv dk = nn_div_for(s->K, (int64_t)s->N * s->K), dp = nn_div_for(p, (int64_t)s->N * s->K * p);
    kb_widen_bias(G1, s->N, dk, dp, yh, b, amp, y);
    if (ep) { /* conv2d.cu's epilogue kernels after the convolution */
        if (ep->scale) kb_affine_act(G1, s->N, dk, dp, ep->scale, ep->shift, ep->res, (int)ep->act, y);
        if (ep->plane_mean) kb_gap_fwd(G1, (int64_t)s->N * s->K, p, y, ep->plane_mean);
    }
    return 0;
}

/* ---- TF32 (ctx->tf32): fp32 convolutions with their operands rounded to TF32 ---------------------------- */

static float tf32_round(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) return v; /* Inf, NaN */
    u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void tf32_operand(const float *x, int64_t n, float *f) {
    for (int64_t i = 0; i < n; i++) f[i] = tf32_round(x[i]);
}

/* Called inside ENTER, as the AMP twins. */
static int conv_forward_tf32(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y,
                             const ConvEpilogue *ep) {
    int64_t nx = (int64_t)s->N * s->C * s->H * s->W, nw = (int64_t)s->K * (s->C / s->groups) * s->KH * s->KW;
    uint16_t *h;
    float *f;
    if (amp_bufs(ctx, 0, (size_t)(nx + nw), &h, &f) < 0) return -1;
    tf32_operand(x, nx, f);
    tf32_operand(w, nw, f + nx);
    int cw = ctx->const_weights; /* the rounded weights live in a reused buffer */
    ctx->const_weights = 0;
    int rc = conv2d_forward_ep(ctx, s, f, f + nx, b, y, ep);
    ctx->const_weights = cw;
    return rc;
}

static int conv_backward_tf32(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *dy, float *dx,
                              float *dw, float *db) {
    int64_t nx = (int64_t)s->N * s->C * s->H * s->W, nw = (int64_t)s->K * (s->C / s->groups) * s->KH * s->KW;
    int64_t ny = (int64_t)s->N * s->K * s->OH * s->OW;
    uint16_t *h;
    float *f;
    if ((dx || dw) && amp_bufs(ctx, 0, (size_t)(nx + nw + ny), &h, &f) == 0) {
        tf32_operand(x, nx, f);
        tf32_operand(w, nw, f + nx);
        tf32_operand(dy, ny, f + nx + nw);
        if (conv2d_backward(ctx, s, f, f + nx, f + nx + nw, dx, dw, NULL) < 0) return -1;
    } else if (dx || dw) {
        return -1;
    }
    return db ? conv2d_backward(ctx, s, x, w, dy, NULL, NULL, db) : 0; /* cuDNN's bias gradient: fp32 dy */
}

static int conv_backward_amp(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *dy, float *dx,
                             float *dw, float *db) {
    int amp = (int)ctx->amp;
    int64_t nx = (int64_t)s->N * s->C * s->H * s->W, nw = (int64_t)s->K * (s->C / s->groups) * s->KH * s->KW;
    int64_t p = (int64_t)s->OH * s->OW, ny = (int64_t)s->N * s->K * p, all = 2 * nx + 2 * nw + ny;
    uint16_t *h;
    float *f;
    if (amp_bufs(ctx, (size_t)all, (size_t)all, &h, &f) < 0) return -1;
    uint16_t *xh = h, *wh = h + nx, *dyh = h + nx + nw, *dxh = dyh + ny, *dwh = dxh + nx;
    float *xf = f, *wf = f + nx, *dyf = f + nx + nw, *dxf = dyf + ny, *dwf = dxf + nx;
    amp_operand(dy, ny, amp, dyh, dyf);
    if (dx || dw) {
        amp_operand(x, nx, amp, xh, xf);
        amp_operand(w, nw, amp, wh, wf);
        if (dw) memset(dwf, 0, sizeof(float) * (size_t)nw); /* the half dW alone, then added */
        if (conv2d_backward(ctx, s, xf, wf, dyf, dx ? dxf : NULL, dw ? dwf : NULL, NULL) < 0) return -1;
    }
    if (dx) {
        kb_cast_half(G1, nx, dxf, dxh, amp);
        kb_widen(G1, nx, dxh, dx, amp);
    }
    if (dw) {
        kb_cast_half(G1, nw, dwf, dwh, amp);
        kb_widen_add(G1, nw, dwh, dw, amp);
    }
    if (db) kb_bias_grad_half(G1, s->N, s->K, p, dyh, amp, db);
    return 0;
}

static int linear_forward_amp(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *b, float *y) {
    int amp = (int)ctx->amp;
    int64_t nx = (int64_t)s->N * s->in, nw = (int64_t)s->out * s->in, ny = (int64_t)s->N * s->out;
    uint16_t *h;
    float *f;
    if (amp_bufs(ctx, (size_t)(nx + nw + ny), (size_t)(nx + nw + ny), &h, &f) < 0) return -1;
    uint16_t *xh = h, *wh = h + nx, *yh = h + nx + nw;
    float *xf = f, *wf = f + nx, *yf = f + nx + nw;
    amp_operand(x, nx, amp, xh, xf);
    amp_operand(w, nw, amp, wh, wf);
    linear_forward(ctx, s, xf, wf, NULL, yf);
    kb_cast_half(G1, ny, yf, yh, amp);
    kb_widen_bias(G1, s->N, nn_div_for(s->out, (int64_t)s->N * s->out), nn_div_for(1, (int64_t)s->N * s->out), yh, b,
                  amp, y);
    return 0;
}

static int linear_backward_amp(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *dy,
                               float *dx, float *dw, float *db) {
    int amp = (int)ctx->amp;
    int64_t nx = (int64_t)s->N * s->in, nw = (int64_t)s->out * s->in, ny = (int64_t)s->N * s->out;
    int64_t all = 2 * nx + 2 * nw + ny;
    uint16_t *h;
    float *f;
    if (amp_bufs(ctx, (size_t)all, (size_t)all, &h, &f) < 0) return -1;
    uint16_t *xh = h, *wh = h + nx, *dyh = h + nx + nw, *dxh = dyh + ny, *dwh = dxh + nx;
    float *xf = f, *wf = f + nx, *dyf = f + nx + nw, *dxf = dyf + ny, *dwf = dxf + nx;
    amp_operand(dy, ny, amp, dyh, dyf);
    if (dx || dw) {
        amp_operand(x, nx, amp, xh, xf);
        amp_operand(w, nw, amp, wh, wf);
        if (dw) memset(dwf, 0, sizeof(float) * (size_t)nw);
        linear_backward(ctx, s, xf, wf, dyf, dx ? dxf : NULL, dw ? dwf : NULL, NULL);
    }
    if (dx) {
        kb_cast_half(G1, nx, dxf, dxh, amp);
        kb_widen(G1, nx, dxh, dx, amp);
    }
    if (dw) {
        kb_cast_half(G1, nw, dwf, dwh, amp);
        kb_widen_add(G1, nw, dwh, dw, amp);
    }
    if (db) kb_bias_grad_half(G1, s->N, s->out, 1, dyh, amp, db);
    return 0;
}

/* a void twin's failure, kept for the next nn_sync */
static void void_fail(NnCtx *ctx) {
    if (!ctx->cuda->err[0]) snprintf(ctx->cuda->err, sizeof ctx->cuda->err, "%s", err_msg());
}

/* ---- the twins: the CPU function on the CPU path, pages open ------------------------------------------- */

#define ENTER(ctx) \
    NnDevice saved_ = (ctx)->device; \
    (ctx)->device = NN_CPU; \
    dev_open()
#define LEAVE(ctx) \
    dev_close(); \
    (ctx)->device = saved_
#define D(layer, p) need_dev(layer, #p, p)

void relu_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out) {
    D("relu", x), D("relu", out);
    ENTER(ctx);
    relu_forward(ctx, n, x, out);
    LEAVE(ctx);
}
void relu_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx) {
    D("relu backward", dout), D("relu backward", y), D("relu backward", dx);
    ENTER(ctx);
    relu_backward(ctx, n, dout, y, dx);
    LEAVE(ctx);
}
void sigmoid_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out) {
    D("sigmoid", x), D("sigmoid", out);
    ENTER(ctx);
    sigmoid_forward(ctx, n, x, out);
    LEAVE(ctx);
}
void sigmoid_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx) {
    D("sigmoid backward", dout), D("sigmoid backward", y), D("sigmoid backward", dx);
    ENTER(ctx);
    sigmoid_backward(ctx, n, dout, y, dx);
    LEAVE(ctx);
}
void silu_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out) {
    D("silu", x), D("silu", out);
    ENTER(ctx);
    silu_forward(ctx, n, x, out);
    LEAVE(ctx);
}
void silu_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *x, float *dx) {
    D("silu backward", dout), D("silu backward", x), D("silu backward", dx);
    ENTER(ctx);
    silu_backward(ctx, n, dout, x, dx);
    LEAVE(ctx);
}
void residual_add_forward_cuda(NnCtx *ctx, size_t n, const float *a, const float *b, float *out) {
    D("residual add", a), D("residual add", b), D("residual add", out);
    ENTER(ctx);
    residual_add_forward(ctx, n, a, b, out);
    LEAVE(ctx);
}
void residual_add_relu_forward_cuda(NnCtx *ctx, size_t n, const float *a, const float *b, float *out) {
    D("residual add + relu", a), D("residual add + relu", b), D("residual add + relu", out);
    ENTER(ctx);
    residual_add_relu_forward(ctx, n, a, b, out);
    LEAVE(ctx);
}
void residual_add_backward_cuda(NnCtx *ctx, size_t n, const float *dout, float *da, float *db) {
    D("residual add backward", dout), D("residual add backward", da), D("residual add backward", db);
    ENTER(ctx);
    residual_add_backward(ctx, n, dout, da, db);
    LEAVE(ctx);
}
void grad_accumulate_cuda(NnCtx *ctx, size_t n, const float *src, float *dst) {
    D("grad accumulate", src), D("grad accumulate", dst);
    ENTER(ctx);
    grad_accumulate(ctx, n, src, dst);
    LEAVE(ctx);
}

void maxpool2d_forward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y, int32_t *argmax) {
    D("maxpool2d", x), D("maxpool2d", y), D("maxpool2d", argmax);
    ENTER(ctx);
    maxpool2d_forward(ctx, s, x, y, argmax);
    LEAVE(ctx);
}
void maxpool2d_backward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *dy, const int32_t *argmax, float *dx) {
    D("maxpool2d backward", dy), D("maxpool2d backward", argmax), D("maxpool2d backward", dx);
    ENTER(ctx);
    maxpool2d_backward(ctx, s, dy, argmax, dx);
    LEAVE(ctx);
}
void avgpool2d_forward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y) {
    D("avgpool2d", x), D("avgpool2d", y);
    ENTER(ctx);
    avgpool2d_forward(ctx, s, x, y);
    LEAVE(ctx);
}
void avgpool2d_backward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *dy, float *dx) {
    D("avgpool2d backward", dy), D("avgpool2d backward", dx);
    ENTER(ctx);
    avgpool2d_backward(ctx, s, dy, dx);
    LEAVE(ctx);
}
void global_avgpool_forward_cuda(NnCtx *ctx, const GlobalPoolShape *s, const float *x, float *y) {
    D("global avgpool", x), D("global avgpool", y);
    ENTER(ctx);
    global_avgpool_forward(ctx, s, x, y);
    LEAVE(ctx);
}
void global_avgpool_backward_cuda(NnCtx *ctx, const GlobalPoolShape *s, const float *dy, float *dx) {
    D("global avgpool backward", dy), D("global avgpool backward", dx);
    ENTER(ctx);
    global_avgpool_backward(ctx, s, dy, dx);
    LEAVE(ctx);
}

void batchnorm2d_forward_train_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                    const float *bias, float *running_mean, float *running_var,
                                    float *num_batches_tracked, float *out, float *mean, float *invstd) {
    const char *l = "batchnorm2d (train)";
    D(l, x), D(l, weight), D(l, bias), D(l, running_mean), D(l, running_var), D(l, num_batches_tracked), D(l, out);
    D(l, mean), D(l, invstd);
    ENTER(ctx);
    batchnorm2d_forward_train(ctx, s, x, weight, bias, running_mean, running_var, num_batches_tracked, out, mean, invstd);
    LEAVE(ctx);
}
void batchnorm2d_forward_eval_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                   const float *bias, const float *running_mean, const float *running_var, float *out,
                                   float *mean, float *invstd) {
    const char *l = "batchnorm2d (eval)";
    D(l, x), D(l, weight), D(l, bias), D(l, running_mean), D(l, running_var), D(l, out), D(l, mean), D(l, invstd);
    ENTER(ctx);
    batchnorm2d_forward_eval(ctx, s, x, weight, bias, running_mean, running_var, out, mean, invstd);
    LEAVE(ctx);
}
void batchnorm2d_backward_train_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                     const float *weight, const float *bias, const float *mean, const float *invstd,
                                     float *dx, float *dweight, float *dbias) {
    const char *l = "batchnorm2d backward (train)";
    D(l, dout), D(l, x), D(l, weight), D(l, bias), D(l, mean), D(l, invstd), D(l, dx), D(l, dweight), D(l, dbias);
    ENTER(ctx);
    batchnorm2d_backward_train(ctx, s, dout, x, weight, bias, mean, invstd, dx, dweight, dbias);
    LEAVE(ctx);
}
void batchnorm2d_backward_eval_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                    const float *weight, const float *bias, const float *mean, const float *invstd,
                                    float *dx, float *dweight, float *dbias) {
    const char *l = "batchnorm2d backward (eval)";
    D(l, dout), D(l, x), D(l, weight), D(l, bias), D(l, mean), D(l, invstd), D(l, dx), D(l, dweight), D(l, dbias);
    ENTER(ctx);
    batchnorm2d_backward_eval(ctx, s, dout, x, weight, bias, mean, invstd, dx, dweight, dbias);
    LEAVE(ctx);
}
/* BN on a half input: batchnorm.c's own path (x widened into a copy, then the float layer) */
int batchnorm2d_forward_train_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                        const float *weight, const float *bias, float *running_mean, float *running_var,
                                        float *num_batches_tracked, float *out, float *mean, float *invstd) {
    const char *l = "batchnorm2d (train, half input)";
    D(l, x), D(l, weight), D(l, bias), D(l, running_mean), D(l, running_var), D(l, num_batches_tracked), D(l, out);
    D(l, mean), D(l, invstd);
    ENTER(ctx);
    int rc = batchnorm2d_forward_train_half(ctx, s, xt, x, weight, bias, running_mean, running_var, num_batches_tracked,
                                            out, mean, invstd);
    LEAVE(ctx);
    return rc;
}
int batchnorm2d_forward_eval_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                       const float *weight, const float *bias, const float *running_mean,
                                       const float *running_var, float *out, float *mean, float *invstd) {
    const char *l = "batchnorm2d (eval, half input)";
    D(l, x), D(l, weight), D(l, bias), D(l, running_mean), D(l, running_var), D(l, out), D(l, mean), D(l, invstd);
    ENTER(ctx);
    int rc = batchnorm2d_forward_eval_half(ctx, s, xt, x, weight, bias, running_mean, running_var, out, mean, invstd);
    LEAVE(ctx);
    return rc;
}
int batchnorm2d_backward_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, int train, const void *dout, int dout_half,
                                   NnAmp xt, const uint16_t *x, const float *weight, const float *bias, const float *mean,
                                   const float *invstd, float *dx, uint16_t *dx_half, float *dweight, float *dbias) {
    const char *l = "batchnorm2d backward (half input)";
    D(l, dout), D(l, x), D(l, weight), D(l, bias), D(l, mean), D(l, invstd), D(l, dx), D(l, dx_half), D(l, dweight);
    D(l, dbias);
    ENTER(ctx);
    int rc = batchnorm2d_backward_half(ctx, s, train, dout, dout_half, xt, x, weight, bias, mean, invstd, dx, dx_half, dweight,
                                       dbias);
    LEAVE(ctx);
    return rc;
}
void batchnorm2d_eval_affine_cuda(NnCtx *ctx, int C, double eps, const float *weight, const float *bias,
                                  const float *running_mean, const float *running_var, float *scale, float *shift) {
    const char *l = "batchnorm2d eval affine";
    D(l, weight), D(l, bias), D(l, running_mean), D(l, running_var), D(l, scale), D(l, shift);
    ENTER(ctx);
    batchnorm2d_eval_affine_ctx(ctx, C, eps, weight, bias, running_mean, running_var, scale, shift);
    LEAVE(ctx);
}

void dropout_forward_cuda(NnCtx *ctx, const DropoutShape *s, uint64_t seed, uint64_t stream, const float *x, float *out,
                          uint8_t *mask) {
    D("dropout", x), D("dropout", out), D("dropout", mask);
    ENTER(ctx);
    dropout_forward(ctx, s, seed, stream, x, out, mask);
    LEAVE(ctx);
}
void dropout_backward_cuda(NnCtx *ctx, const DropoutShape *s, const float *dout, const uint8_t *mask, float *dx) {
    D("dropout backward", dout), D("dropout backward", mask), D("dropout backward", dx);
    ENTER(ctx);
    dropout_backward(ctx, s, dout, mask, dx);
    LEAVE(ctx);
}
void drop_path_forward_cuda(NnCtx *ctx, const DropPathShape *s, uint64_t seed, uint64_t stream, const float *x,
                            float *out, uint8_t *mask) {
    D("drop path", x), D("drop path", out), D("drop path", mask);
    ENTER(ctx);
    drop_path_forward(ctx, s, seed, stream, x, out, mask);
    LEAVE(ctx);
}
void drop_path_backward_cuda(NnCtx *ctx, const DropPathShape *s, const float *dout, const uint8_t *mask, float *dx) {
    D("drop path backward", dout), D("drop path backward", mask), D("drop path backward", dx);
    ENTER(ctx);
    drop_path_backward(ctx, s, dout, mask, dx);
    LEAVE(ctx);
}

void linear_forward_cuda(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *b, float *y) {
    D("linear", x), D("linear", w), D("linear", b), D("linear", y);
    NnAmp amp = ctx->amp;
    ENTER(ctx);
    if (amp) {
        if (linear_forward_amp(ctx, s, x, w, b, y) < 0) void_fail(ctx);
    } else {
        linear_forward(ctx, s, x, w, b, y);
    }
    LEAVE(ctx);
}
void linear_backward_cuda(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *dy, float *dx,
                          float *dw, float *db) {
    D("linear backward", x), D("linear backward", w), D("linear backward", dy), D("linear backward", dx);
    D("linear backward", dw), D("linear backward", db);
    NnAmp amp = ctx->amp;
    ENTER(ctx);
    if (amp) {
        if (linear_backward_amp(ctx, s, x, w, dy, dx, dw, db) < 0) void_fail(ctx);
    } else {
        linear_backward(ctx, s, x, w, dy, dx, dw, db);
    }
    LEAVE(ctx);
}

/* Inside ENTER: x scaled per plane (conv2d.h's in_scale, which conv2d.cu applies as it casts x to half),
 * kb_se_scale's product, into a new array (free() it); NULL with err_set() (no memory), or without a scale:
 * x itself in *use. */
static int scale_input(const Conv2dShape *s, const float *x, const float *sc, float **copy, const float **use) {
    *copy = NULL;
    *use = x;
    if (!sc) return 0;
    int64_t n = (int64_t)conv2d_x_numel(s), hw = (int64_t)s->H * s->W;
    if (!(*copy = malloc(sizeof(float) * (size_t)(n ? n : 1)))) {
        err_set("out of memory for a scaled input");
        return -1;
    }
    kb_se_scale(G1, (int64_t)s->N * s->C, nn_div_for(hw, n), x, sc, *copy);
    *use = *copy;
    return 0;
}
int conv2d_forward_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y) {
    return conv2d_forward_ep_cuda(ctx, s, x, w, b, y, NULL);
}
int conv2d_forward_ep_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b, float *y,
                           const ConvEpilogue *ep) {
    D("conv2d", x), D("conv2d", w), D("conv2d", b), D("conv2d", y);
    if (ep) D("conv2d epilogue", ep->scale), D("conv2d epilogue", ep->shift), D("conv2d epilogue", ep->res),
            D("conv2d epilogue", ep->plane_mean), D("conv2d epilogue", ep->in_scale);
    const float *sc = ep ? ep->in_scale : NULL;
    if (algo_seen(ctx, s, ALGO_FWD) < 0) return -1; /* a scale comes only with AMP (conv2d.c's scale_ok) */
    NnAmp amp = ctx->amp;
    ENTER(ctx);
    float *copy;
    const float *xs;
    int rc = scale_input(s, x, sc, &copy, &xs);
    ConvEpilogue e = ep ? *ep : (ConvEpilogue){0};
    e.in_scale = NULL; /* applied above */
    if (rc == 0)
        rc = amp         ? conv_forward_amp(ctx, s, xs, w, b, y, ep ? &e : NULL, NULL, NULL)
             : ctx->tf32 ? conv_forward_tf32(ctx, s, x, w, b, y, ep)
                         : conv2d_forward_ep(ctx, s, x, w, b, y, ep);
    free(copy);
    LEAVE(ctx);
    return rc;
}
int conv2d_forward_half_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w,
                             uint16_t *y, uint16_t *x_half, int *x_half_made) {
    const char *l = "conv2d (half output)";
    D(l, x), D(l, in_scale), D(l, w), D(l, y), D(l, x_half);
    if (algo_seen(ctx, s, ALGO_FWD) < 0) return -1;
    ENTER(ctx);
    float *copy;
    const float *xs;
    int rc = scale_input(s, x, in_scale, &copy, &xs);
    if (rc == 0) rc = conv_forward_amp(ctx, s, xs, w, NULL, NULL, NULL, y, x_half);
    free(copy);
    LEAVE(ctx);
    if (x_half_made) *x_half_made = rc == 0 && x_half;
    return rc;
}
/* no own depthwise kernels here: every half forward makes x's copy */
int conv2d_half_keeps_x_cuda(NnCtx *ctx, const Conv2dShape *s) {
    (void)ctx, (void)s;
    return 1;
}
/* the given halves widened (exact), then conv2d.cu's AMP backward as conv2d_backward_cuda runs it: rounding
 * them again changes nothing, so the bits of the path that casts dy and x itself */
int conv2d_backward_half_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale,
                              const uint16_t *x_half, const float *w, const uint16_t *dy_half, float *dx, uint16_t *dx_half,
                              float *dw) {
    const char *l = "conv2d backward (half operands)";
    D(l, x), D(l, in_scale), D(l, x_half), D(l, w), D(l, dy_half), D(l, dx), D(l, dx_half), D(l, dw);
    if (((dx || dx_half) && algo_seen(ctx, s, ALGO_BWD_DATA) < 0) || (dw && algo_seen(ctx, s, ALGO_BWD_FILTER) < 0)) return -1;
    int amp = (int)ctx->amp;
    int64_t nx = (int64_t)conv2d_x_numel(s), ny = (int64_t)conv2d_y_numel(s);
    float *xw = x_half ? malloc(sizeof(float) * (size_t)nx) : NULL, *dyw = malloc(sizeof(float) * (size_t)(ny ? ny : 1));
    float *dxw = dx_half ? malloc(sizeof(float) * (size_t)(nx ? nx : 1)) : NULL; /* dx, then cast (exact: it is widened) */
    if (!dyw || (x_half && !xw) || (dx_half && !dxw)) {
        free(xw), free(dyw), free(dxw);
        err_set("out of memory for the widened halves");
        return -1;
    }
    ENTER(ctx);
    kb_widen(G1, ny, dy_half, dyw, amp);
    if (x_half) kb_widen(G1, nx, x_half, xw, amp); /* the scaled input's halves, when scaled */
    float *copy = NULL;
    const float *xs = xw;
    int rc = x_half ? 0 : scale_input(s, x, in_scale, &copy, &xs);
    if (rc == 0) rc = conv_backward_amp(ctx, s, xs, w, dyw, dx_half ? dxw : dx, dw, NULL);
    if (rc == 0 && dx_half) kb_cast_half(G1, nx, dxw, dx_half, amp);
    free(copy);
    LEAVE(ctx);
    free(xw), free(dyw), free(dxw);
    return rc;
}
int conv2d_backward_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w,
                         const float *dy, float *dx, float *dw, float *db) {
    D("conv2d backward", x), D("conv2d backward", in_scale), D("conv2d backward", w), D("conv2d backward", dy);
    D("conv2d backward", dx), D("conv2d backward", dw), D("conv2d backward", db);
    if ((dx && algo_seen(ctx, s, ALGO_BWD_DATA) < 0) || (dw && algo_seen(ctx, s, ALGO_BWD_FILTER) < 0)) return -1;
    NnAmp amp = ctx->amp;
    ENTER(ctx);
    float *copy;
    const float *xs;
    int rc = scale_input(s, x, in_scale, &copy, &xs);
    if (rc == 0)
        rc = amp         ? conv_backward_amp(ctx, s, xs, w, dy, dx, dw, db)
             : ctx->tf32 ? conv_backward_tf32(ctx, s, x, w, dy, dx, dw, db)
                         : conv2d_backward(ctx, s, x, w, dy, dx, dw, db);
    free(copy);
    LEAVE(ctx);
    return rc;
}

/* the repeated stem's passes (stem.cu) and squeeze-and-excitation's own (se.cu) */
void stem_weight_sum_cuda(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *w, float *wsum, float *wm) {
    D("stem weight sum", w), D("stem weight sum", wsum), D("stem weight sum", wm);
    ENTER(ctx);
    stem_weight_sum(ctx, K, KK, s, w, wsum, wm);
    LEAVE(ctx);
}
void stem_weight_grad_cuda(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *dwsum, const float *dwm, float *dw) {
    D("stem weight gradient", dwsum), D("stem weight gradient", dwm), D("stem weight gradient", dw);
    ENTER(ctx);
    stem_weight_grad(ctx, K, KK, s, dwsum, dwm, dw);
    LEAVE(ctx);
}
void stem_sub_bcast_cuda(NnCtx *ctx, int64_t n, int64_t per, const float *c, float *y) {
    D("stem correction", c), D("stem correction", y);
    ENTER(ctx);
    stem_sub_bcast(ctx, n, per, c, y);
    LEAVE(ctx);
}
void stem_batch_sum_cuda(NnCtx *ctx, int64_t n, int64_t per, const float *x, float *y) {
    D("batch sum", x), D("batch sum", y);
    ENTER(ctx);
    stem_batch_sum(ctx, n, per, x, y);
    LEAVE(ctx);
}
void stem_fill_cuda(NnCtx *ctx, size_t n, float v, float *y) {
    D("fill", y);
    ENTER(ctx);
    stem_fill(ctx, n, v, y);
    LEAVE(ctx);
}
void se_scale_cuda(NnCtx *ctx, const SEShape *s, const float *x, const float *sc, float *y) {
    D("se scale", x), D("se scale", sc), D("se scale", y);
    ENTER(ctx);
    se_scale(ctx, s, x, sc, y);
    LEAVE(ctx);
}
/* AMP: se.cu's composition (its two loops as kernels.h's bodies, intermediates in device memory, the layers
 * through their twins), so that SE's linear layers run the AMP path as on the GPU. */
static int se_backward_amp(NnCtx *ctx, const SEShape *s, const float *dy, const float *x, const float *w1, const float *w2,
                           const float *pooled, const float *h, const float *a, const float *sc, float *dx, float *dw1,
                           float *db1, float *dw2, float *db2) {
    size_t nc = (size_t)s->N * s->C, nr = (size_t)s->N * s->R, need = 2 * nc + 2 * nr;
    int64_t hw = (int64_t)s->H * s->W;
    struct NnCuda *c = ctx->cuda;
    if (need > c->se_len) {
        if (c->se_work) nn_cuda_free(c->se_work);
        c->se_len = 0;
        if (!(c->se_work = nn_cuda_alloc(ctx, need * sizeof(float)))) return -1;
        c->se_len = need;
    }
    float *ds = c->se_work, *dpool = ds + nc, *da = ds + 2 * nc, *dh = ds + 2 * nc + nr;
    dev_open();
    kb_se_gate_dot(G1, (int64_t)nc, hw, dy, x, ds);
    dev_close();
    sigmoid_backward_cuda(ctx, nc, ds, sc, ds);
    LinearShape l1 = {.N = s->N, .in = s->C, .out = s->R}, l2 = {.N = s->N, .in = s->R, .out = s->C};
    linear_backward_cuda(ctx, &l2, a, w2, ds, da, dw2, db2);
    if (s->silu) silu_backward_cuda(ctx, nr, da, h, dh);
    else relu_backward_cuda(ctx, nr, da, a, dh);
    linear_backward_cuda(ctx, &l1, pooled, w1, dh, dpool, dw1, db1);
    GlobalPoolShape gp = {s->N, s->C, s->H, s->W};
    global_avgpool_backward_cuda(ctx, &gp, dpool, dx);
    dev_open();
    kb_se_dx_acc(G1, (int64_t)nc, nn_div_for(hw, (int64_t)nc * hw), dy, sc, dx);
    dev_close();
    if (c->err[0]) { /* a linear twin's failure */
        err_set("%s", c->err);
        return -1;
    }
    return 0;
}

int se_backward_cuda(NnCtx *ctx, const SEShape *s, const float *dy, const float *x, const float *w1, const float *w2,
                     const float *pooled, const float *h, const float *a, const float *sc, float *dx, float *dw1, float *db1,
                     float *dw2, float *db2) {
    const char *l = "se backward";
    D(l, dy), D(l, x), D(l, w1), D(l, w2), D(l, pooled), D(l, h), D(l, a), D(l, sc), D(l, dx), D(l, dw1), D(l, db1), D(l, dw2);
    D(l, db2);
    if (ctx->amp) return se_backward_amp(ctx, s, dy, x, w1, w2, pooled, h, a, sc, dx, dw1, db1, dw2, db2);
    ENTER(ctx);
    int rc = se_backward(ctx, s, dy, x, w1, w2, pooled, h, a, sc, dx, dw1, db1, dw2, db2);
    LEAVE(ctx);
    return rc;
}

int optim_step_cuda(NnCtx *ctx, Optim *o, ParamTable *t) {
    D("optim_step", t->data), D("optim_step", t->grad), D("optim_step", o->m), D("optim_step", o->v);
    ENTER(ctx);
    int rc = optim_step(ctx, o, t);
    LEAVE(ctx);
    return rc;
}
void optim_cuda_release(Optim *o) { (void)o; }
float clip_grad_norm_cuda(NnCtx *ctx, ParamTable *t, float max_norm) {
    D("clip_grad_norm", t->grad);
    ENTER(ctx);
    float r = clip_grad_norm(ctx, t, max_norm);
    LEAVE(ctx);
    return r;
}

/* lossscale.cu's unscale (no CPU twin: fp16 training is GPU-only): kernels.h's element rule */
int lossscale_unscale_cuda(NnCtx *ctx, float *grad, size_t n, float inv_scale, int *found_inf) {
    D("lossscale unscale", grad);
    ENTER(ctx);
    int inf = 0;
    for (size_t i = 0; i < n; i++) {
        grad[i] *= inv_scale;
        inf |= !isfinite(grad[i]);
    }
    LEAVE(ctx);
    *found_inf = inf;
    return 0;
}

/* ---- the staging ring: host buffers, device buffers, synchronous copies ---------------------------------- */

static int always(void *arg, int slot) {
    (void)arg;
    (void)slot;
    return 1;
}

void pinned_ring_free(PinnedRing *r) {
    for (int i = 0; i < STAGING_MAX; i++) {
        if (r->dev[i]) nn_cuda_free(r->dev[i]);
    }
    memset(r, 0, sizeof *r);
}

int pinned_ring_init(NnCtx *ctx, PinnedRing *r, int k, size_t bytes) {
    memset(r, 0, sizeof *r);
    if (staging_init(&r->s, k) < 0) return -1;
    r->bytes = bytes;
    for (int i = 0; i < k; i++)
        if (!(r->dev[i] = nn_cuda_alloc(ctx, bytes))) {
            pinned_ring_free(r);
            err_set("out of memory for %d batch buffers of %zu bytes", k, bytes);
            return -1;
        }
    return 0;
}

int pinned_ring_slot(PinnedRing *r) {
    staging_retire(&r->s, always, NULL); /* every copy here finished when it was submitted */
    int k = staging_acquire(&r->s);
    if (k < 0) err_set("staging: no free batch buffer");
    return k;
}

void *pinned_ring_submit_from(NnCtx *ctx, PinnedRing *r, int slot, const void *src, size_t n) {
    if (n > r->bytes || staging_submit(&r->s, slot) < 0) {
        if (n > r->bytes) err_set("staging: a batch of %zu bytes in %zu-byte buffers", n, r->bytes);
        return NULL;
    }
    if (nn_cuda_copy(ctx, r->dev[slot], src, n, 1) < 0) return NULL;
    return r->dev[slot];
}

int pinned_ring_drain(PinnedRing *r) {
    staging_retire(&r->s, always, NULL);
    return 0;
}

/* Pinned memory is ordinary host memory here: the copies are synchronous. */
void *pinned_host_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) err_set("out of memory for %zu bytes of pinned host memory", bytes);
    return p;
}
void pinned_host_free(void *p) { free(p); }

int pinned_ring_release(NnCtx *ctx, PinnedRing *r, int slot) {
    (void)ctx;
    if (slot < 0 || slot >= r->s.k) {
        err_set("staging: no slot %d", slot);
        return -1;
    }
    return 0;
}
