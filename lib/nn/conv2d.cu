/* conv2d.cu - conv2d.h's layer on device memory through cuDNN (legacy convolution API, cuDNN 9): NCHW
 * fp32 descriptors, groups as cuDNN grouped convolution (depthwise included), the bias by
 * cudnnAddTensor / cudnnConvolutionBackwardBias, conv2d_forward_ep's epilogue by kernels.h's
 * kb_affine_act and nn_plane_sums (the plane means, pool.cu).
 *
 * Algorithms: chosen once per shape and pass by cuDNN's benchmark (cudnnFind*AlgorithmEx, as PyTorch's
 * cudnn.benchmark), among those with CUDNN_FMA_MATH (true fp32: no TF32, for the 1e-4 parity with the
 * CPU engine) unless ctx->tf32 (--tf32: CUDNN_DEFAULT_MATH, TF32 tensor cores allowed, as PyTorch's default
 * cudnn.allow_tf32; any math type the search returns), and only CUDNN_DETERMINISTIC ones when
 * ctx->deterministic; the choice and its workspace
 * go to the context's algorithm cache (nn/algocache.h), so later calls of that shape search nothing.
 * The backward-filter search writes into a scratch buffer, never into dw (which accumulates).
 *
 * Mixed precision (ctx->amp, nn/amp.h): x, w (and dy) are cast to half copies in the context's AMP scratch
 * (amp.cu), or x and dy are given as halves by the caller (conv2d_forward_half / conv2d_backward_half,
 * nn/halfkeep.h; x scaled per plane as it is cast when in_scale), the convolution runs on half descriptors (CUDNN_DATA_HALF or CUDNN_DATA_BFLOAT16) with compute
 * type CUDNN_DATA_FLOAT and CUDNN_TENSOR_OP_MATH (any math type the search returns is accepted: with half
 * data none of them is TF32), producing half y / dx / dW (beta 0), which kernels.h's bodies widen: y with the
 * bias added in half, dx written, dW added to the fp32 gradient, db the half sum of dy. Grouped and depthwise
 * convolutions too (cuDNN 9's grouped half path). The algorithm cache keys the half type (AlgoKey.dtype). */
#include "nn/conv2d.h"
#include "nn/cuda_impl.cuh"
#include "nn/kernels.h"

#include <stdio.h>

#define MAX_WORKSPACE ((size_t)1 << 30) /* an algorithm needing more is not chosen */

typedef struct {
    cudnnTensorDescriptor_t x, y, b;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
} Descs;

static void descs_free(Descs *d) {
    if (d->x) cudnnDestroyTensorDescriptor(d->x);
    if (d->y) cudnnDestroyTensorDescriptor(d->y);
    if (d->b) cudnnDestroyTensorDescriptor(d->b);
    if (d->w) cudnnDestroyFilterDescriptor(d->w);
    if (d->conv) cudnnDestroyConvolutionDescriptor(d->conv);
}

/* amp: NN_AMP_OFF fp32 tensors in FMA math (default math, TF32 allowed, with tf32); else half tensors, fp32
 * accumulation, tensor-op math. */
static int descs_make(const Conv2dShape *s, Descs *d, int amp, int tf32) {
    memset(d, 0, sizeof *d);
    cudnnDataType_t dt = amp == NN_AMP_BF16 ? CUDNN_DATA_BFLOAT16 : amp == NN_AMP_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    NN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->x));
    NN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->y));
    NN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->b));
    NN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d->w));
    NN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d->conv));
    NN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NCHW, dt, s->N, s->C, s->H, s->W));
    NN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NCHW, dt, s->N, s->K, s->OH, s->OW));
    NN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, s->K, 1, 1));
    NN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d->w, dt, CUDNN_TENSOR_NCHW, s->K, s->C / s->groups, s->KH, s->KW));
    NN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d->conv, s->pad_h, s->pad_w, s->stride_h, s->stride_w, s->dil_h,
                                                   s->dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    NN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d->conv, s->groups));
    NN_CUDNN_CHECK(cudnnSetConvolutionMathType(d->conv, amp ? CUDNN_TENSOR_OP_MATH : tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    return 0;
}

/* The first result (fastest first) that succeeded, runs in FMA math (any math with AMP's half data or TF32
 * allowed: any_math), fits MAX_WORKSPACE and, when asked, is deterministic; *ms its time. */
template <typename Perf> static int pick(const Perf *p, int n, int deterministic, int any_math, AlgoEntry *e, float *ms) {
    for (int i = 0; i < n; i++)
        if (p[i].status == CUDNN_STATUS_SUCCESS && p[i].memory <= MAX_WORKSPACE && (any_math || p[i].mathType == CUDNN_FMA_MATH) &&
            (!deterministic || p[i].determinism == CUDNN_DETERMINISTIC)) {
            e->algo = (int32_t)p[i].algo;
            e->math = (int32_t)p[i].mathType;
            e->workspace = p[i].memory;
            *ms = p[i].time;
            return 0;
        }
    err_set("cuDNN: no usable%s convolution algorithm", deterministic ? " deterministic" : "");
    return -1;
}

/* ---- depthwise convolution's own kernels (conv2d.h: conv2d_is_depthwise; kernels.h's kb_dw_*) ---- */
#define ALGO_OWN (-1) /* AlgoEntry.algo: the own kernels, not cuDNN */

__global__ void k_dw_fwd(NnDwGeom g, int amp, const float *x, const float *w, const float *b, float *y) {
    kb_dw_fwd(NN_GRID_HERE, g, amp, x, w, b, y);
}
__global__ void k_dw_fwd_half(NnDwGeom g, int amp, const float *x, const float *w, uint16_t *yh) {
    kb_dw_fwd_half(NN_GRID_HERE, g, amp, x, w, yh);
}
__global__ void k_dw_dx(NnDwGeom g, int amp, const float *dy, const uint16_t *dyh, const float *w, float *dx, uint16_t *dxh) {
    kb_dw_dx(NN_GRID_HERE, g, amp, dy, dyh, w, dx, dxh);
}
__global__ void k_dw_wgrad(NnDwGeom g, int amp, const float *x, const uint16_t *xh, const float *dy, const uint16_t *dyh,
                           double *part) {
    __shared__ NnBnShared sh;
    int64_t t = threadIdx.x;
    kb_dw_wgrad_block(blockIdx.x, t, g, amp, x, xh, dy, dyh, &sh);
    __syncthreads();
    for (int64_t stride = NN_BLOCK / 2; stride > 0; stride /= 2) {
        kb_tree_step(t, stride, &sh);
        __syncthreads();
    }
    if (t == 0) kb_dw_wgrad_store(blockIdx.x, &sh, part);
}
__global__ void k_dw_wgrad_finish(NnDwGeom g, int amp, const double *part, float *dw) {
    kb_dw_wgrad_finish(NN_GRID_HERE, g, amp, part, dw);
}

/* The arrays of one pass for the own kernels (fp32 ones, under AMP too: they round as they read, except the
 * halves given below): x (FWD, BWD_FILTER), w, in (dy: BWD_DATA, BWD_FILTER), out (y, dx, or dw += ); under AMP,
 * out_half: the forward's half result instead of out (conv2d_forward_half, no bias), x_half / in_half: x's
 * and dy's halves read instead of x and in (conv2d_backward_half); out_half also dx's halves instead of out
 * (BWD_DATA, conv2d_backward_half's dx_half) */
typedef struct {
    const float *x, *w, *in;
    float *out;
    uint16_t *out_half;
    const uint16_t *x_half, *in_half;
} DwArrays;

/* A launch's outcome: as every layer's (nn_cuda_launched: a failure stays with the context), or for the
 * timing at the search (trial) reported alone, so that cuDNN can still serve the shape. */
static int dw_check(NnCtx *ctx, const char *kernel, int trial) {
    if (!trial) return nn_cuda_launched(ctx, kernel);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return 0;
    err_set("CUDA: kernel %s: %s", kernel, cudaGetErrorString(e));
    return -1;
}

/* One pass of the own kernels on a's arrays in ctx's precision (fp32, or AMP's semantics, kernels.h): FWD
 * out = conv(x, w) + b; BWD_DATA out = dx of in = dy; BWD_FILTER out (dw) += the filter gradient of x and in
 * = dy. Returns 0, or -1 (err_set). trial: dw_check's. */
static int dw_launch(NnCtx *ctx, AlgoPass pass, const Conv2dShape *s, const DwArrays *a, const float *b, int trial) {
    NnDwGeom g = conv2d_dw_geom(s);
    const float *x = a->x, *w = a->w, *in = a->in;
    float *out = a->out;
    cudaStream_t st = ctx->cuda->stream;
    int amp = (int)ctx->amp;
    if (pass == ALGO_FWD && a->out_half) {
        k_dw_fwd_half<<<(unsigned)nn_grid_1d(g.planes * s->OH * s->OW), NN_BLOCK, 0, st>>>(g, amp, x, w, a->out_half);
    } else if (pass == ALGO_FWD) {
        k_dw_fwd<<<(unsigned)nn_grid_1d(g.planes * s->OH * s->OW), NN_BLOCK, 0, st>>>(g, amp, x, w, b, out);
    } else if (pass == ALGO_BWD_DATA) {
        k_dw_dx<<<(unsigned)nn_grid_1d(g.planes * s->H * s->W), NN_BLOCK, 0, st>>>(g, amp, in, a->in_half, w, out, a->out_half);
    } else {
        int64_t nwt = (int64_t)s->C * s->KH * s->KW, nblk = nwt * g.slices;
        double *part = (double *)nn_cuda_work(ctx, sizeof(double) * (size_t)nblk);
        if (!part) return -1;
        k_dw_wgrad<<<(unsigned)nblk, NN_BLOCK, 0, st>>>(g, amp, x, a->x_half, in, a->in_half, part);
        if (dw_check(ctx, "depthwise dW", trial) < 0) return -1;
        k_dw_wgrad_finish<<<(unsigned)nn_grid_1d(nwt), NN_BLOCK, 0, st>>>(g, amp, part, out);
    }
    return dw_check(ctx, pass == ALGO_FWD ? "depthwise forward" : pass == ALGO_BWD_DATA ? "depthwise dx" : "depthwise dW", trial);
}
static int dw_run(NnCtx *ctx, AlgoPass pass, const Conv2dShape *s, const DwArrays *a, const float *b) {
    return dw_launch(ctx, pass, s, a, b, 0);
}

/* The own kernels' time for this pass in ms (a warm-up run, then the mean of three), on the search's
 * buffers (a->out: the pass's output buffer, or for dW a scratch one); -1 when they could not run. */
static float dw_time(NnCtx *ctx, AlgoPass pass, const Conv2dShape *s, const DwArrays *a) {
    cudaEvent_t e0, e1;
    float ms = -1.0f;
    if (cudaEventCreate(&e0) != cudaSuccess) return -1.0f;
    if (cudaEventCreate(&e1) != cudaSuccess) {
        cudaEventDestroy(e0);
        return -1.0f;
    }
    int ok = dw_launch(ctx, pass, s, a, NULL, 1) == 0 && cudaEventRecord(e0, ctx->cuda->stream) == cudaSuccess;
    for (int i = 0; i < 3 && ok; i++) ok = dw_launch(ctx, pass, s, a, NULL, 1) == 0;
    if (ok && cudaEventRecord(e1, ctx->cuda->stream) == cudaSuccess && cudaEventSynchronize(e1) == cudaSuccess &&
        cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess)
        ms /= 3.0f;
    else
        ms = -1.0f;
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaGetLastError();
    return ms;
}

/* AUDIOCNN_ALGO_LOG=1: each depthwise choice on stderr */
static void dw_log(const Conv2dShape *s, AlgoPass pass, float own_ms, float cudnn_ms, int cudnn_algo, int own) {
    const char *e = getenv("AUDIOCNN_ALGO_LOG");
    if (!e || strcmp(e, "1") != 0) return;
    static const char *const names[] = {"forward", "dx", "dW"};
    fprintf(stderr, "conv2d: depthwise %dx%dx%dx%d %dx%d/%d %s: own kernels %.3f ms, cuDNN (algorithm %d) %.3f ms: %s\n", s->N,
            s->C, s->H, s->W, s->KH, s->KW, s->stride_h, names[pass], own_ms, cudnn_algo, cudnn_ms, own ? "own" : "cuDNN");
}

/* AUDIOCNN_DEPTHWISE: "own" or "cudnn" forces the choice (the GPU tests run both), else the faster */
static int dw_forced(void) {
    const char *e = getenv("AUDIOCNN_DEPTHWISE");
    return !e ? 0 : !strcmp(e, "own") ? 1 : !strcmp(e, "cudnn") ? 2 : 0;
}

/* The cached algorithm of this shape and pass, searched (with the given buffers) on a miss; for a depthwise
 * convolution (own: its fp32 arrays, else NULL), the own kernels where they are faster (or forced). */
static const AlgoEntry *algo_for(NnCtx *ctx, const Conv2dShape *s, const Descs *d, AlgoPass pass, const void *x,
                                 const void *w, const void *y, const DwArrays *own) {
    NnCuda *c = ctx->cuda;
    AlgoKey k = algocache_conv_key(ctx, s, pass);
    int any_math = ctx->amp || ctx->tf32;
    const AlgoEntry *hit = algocache_find(&c->algos, &k);
    if (hit) return hit;
    AlgoEntry e;
    memset(&e, 0, sizeof e);
    e.key = k;
    int dw_own = own && conv2d_is_depthwise(s), forced = dw_own ? dw_forced() : 0;
    if (forced == 1) {
        e.algo = ALGO_OWN;
        if (algocache_put(&c->algos, &e) < 0) return NULL;
        return algocache_find(&c->algos, &k);
    }
    float cudnn_ms = 0.0f;
    enum { MAXR = 16 };
    int n = 0, picked = -1; /* picked: 0 when cuDNN offered a usable algorithm */
    void *ws = nn_cuda_work(ctx, (size_t)256 << 20); /* the search may use up to 256 MiB */
    size_t wsz = c->work_len;
    if (!ws) return NULL;
    cudnnStatus_t st;
    void *dw_scratch = NULL; /* dW's search output: never the real dw, which accumulates */
    if (pass == ALGO_FWD) {
        cudnnConvolutionFwdAlgoPerf_t p[MAXR];
        st = cudnnFindConvolutionForwardAlgorithmEx(c->cudnn, d->x, x, d->w, w, d->conv, d->y, (void *)y, MAXR, &n, p, ws, wsz);
        if (st == CUDNN_STATUS_SUCCESS) picked = pick(p, n, ctx->deterministic, any_math, &e, &cudnn_ms);
    } else if (pass == ALGO_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t p[MAXR];
        /* y holds dy, x the dx buffer the search may overwrite (the real call writes it after) */
        st = cudnnFindConvolutionBackwardDataAlgorithmEx(c->cudnn, d->w, w, d->y, y, d->conv, d->x, (void *)x, MAXR, &n, p, ws, wsz);
        if (st == CUDNN_STATUS_SUCCESS) picked = pick(p, n, ctx->deterministic, any_math, &e, &cudnn_ms);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t p[MAXR];
        size_t wbytes = sizeof(float) * (size_t)s->K * (s->C / s->groups) * s->KH * s->KW;
        if (cudaMalloc(&dw_scratch, wbytes) != cudaSuccess) {
            cudaGetLastError();
            err_set("out of GPU memory for the convolution search");
            return NULL;
        }
        st = cudnnFindConvolutionBackwardFilterAlgorithmEx(c->cudnn, d->x, x, d->y, y, d->conv, d->w, dw_scratch, MAXR, &n, p,
                                                           ws, wsz);
        if (st == CUDNN_STATUS_SUCCESS) picked = pick(p, n, ctx->deterministic, any_math, &e, &cudnn_ms);
    }
    if (picked < 0 && dw_own && forced == 0) {
        /* cuDNN has nothing usable here (none deterministic, say): the own kernels, deterministic, serve */
        e.algo = ALGO_OWN;
    } else if (picked < 0) {
        if (st != CUDNN_STATUS_SUCCESS) err_set("cuDNN: convolution algorithm search: %s", cudnnGetErrorString(st));
        if (dw_scratch) cudaFree(dw_scratch);
        return NULL; /* else pick's err_set */
    } else if (dw_own && forced == 0) { /* the own kernels timed on the search's buffers (dW: into its scratch) */
        DwArrays trial = *own;
        if (pass == ALGO_BWD_FILTER) trial.out = (float *)dw_scratch;
        float own_ms = dw_time(ctx, pass, s, &trial);
        int use_own = own_ms >= 0.0f && own_ms < cudnn_ms;
        dw_log(s, pass, own_ms, cudnn_ms, e.algo, use_own);
        if (use_own) e.algo = ALGO_OWN;
    }
    if (dw_scratch) cudaFree(dw_scratch);
    if (algocache_put(&c->algos, &e) < 0) return NULL;
    return algocache_find(&c->algos, &k);
}

/* A depthwise pass whose cached choice is the own kernels (then AMP needs no half copies for it) */
static int dw_known_own(NnCtx *ctx, const Conv2dShape *s, AlgoPass pass) {
    if (!conv2d_is_depthwise(s)) return 0;
    AlgoKey k = algocache_conv_key(ctx, s, pass);
    const AlgoEntry *e = algocache_find(&ctx->cuda->algos, &k);
    return e && e->algo == ALGO_OWN;
}

/* AMP's forward: half copies of x (scaled by in_scale per plane as it is cast, when given) and w, a half y
 * widened with the bias (or the own depthwise kernels, on the fp32 arrays); y_half (no bias): the half y
 * itself, written there and not widened, and x_half (or NULL): where x's half copy goes, *x_made 1 when one
 * was made (conv2d_forward_half). A scaled input is never depthwise (conv2d.c's scale_ok, at every entry
 * point, keeps to conv2d_in_scale_supported), so the own kernels never see one; nor reaches one a context
 * without AMP. */
static int forward_amp(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w,
                       const float *b, float *y, uint16_t *y_half, uint16_t *x_half, int *x_made) {
    DwArrays own = {x, w, NULL, y, y_half, NULL, NULL};
    if (x_made) *x_made = 0;
    if (dw_known_own(ctx, s, ALGO_FWD)) return dw_run(ctx, ALGO_FWD, s, &own, b);
    int64_t p = (int64_t)s->OH * s->OW, nx = (int64_t)s->N * s->C * s->H * s->W,
            nw = (int64_t)s->K * (s->C / s->groups) * s->KH * s->KW, ny = (int64_t)s->N * s->K * p;
    uint16_t *sc = nn_amp_scratch(ctx, (x_half ? 0 : nn_amp_align(nx)) + nn_amp_align(nw) + (y_half ? 0 : nn_amp_align(ny)));
    if (!sc) return -1;
    uint16_t *xh = x_half ? x_half : sc, *wh = x_half ? sc : sc + nn_amp_align(nx), *yh = y_half ? y_half : wh + nn_amp_align(nw);
    if (nn_amp_cast_planes(ctx, x, in_scale, nx, (int64_t)s->H * s->W, xh) < 0 || nn_amp_cast(ctx, w, nw, wh) < 0) return -1;
    Descs d;
    int rc = -1;
    if (descs_make(s, &d, (int)ctx->amp, 0) == 0) {
        const AlgoEntry *a = algo_for(ctx, s, &d, ALGO_FWD, xh, wh, yh, &own);
        if (a && a->algo == ALGO_OWN) { /* chosen just now (x's copy, made, is of no use to the own kernels) */
            descs_free(&d);
            return dw_run(ctx, ALGO_FWD, s, &own, b);
        }
        void *ws = a ? nn_cuda_work(ctx, a->workspace ? a->workspace : 1) : NULL;
        const float one = 1.0f, zero = 0.0f;
        if (ws) {
            cudnnSetConvolutionMathType(d.conv, (cudnnMathType_t)a->math);
            cudnnStatus_t st = cudnnConvolutionForward(ctx->cuda->cudnn, &one, d.x, xh, d.w, wh, d.conv,
                                                       (cudnnConvolutionFwdAlgo_t)a->algo, ws, a->workspace, &zero, d.y, yh);
            if (st != CUDNN_STATUS_SUCCESS) err_set("cuDNN: convolution forward (%s): %s", nn_amp_name(ctx->amp), cudnnGetErrorString(st));
            else rc = y_half ? 0 : nn_amp_widen_bias(ctx, s->N, s->K, p, yh, b, y);
            if (rc == 0 && x_made) *x_made = x_half != NULL;
        }
    }
    descs_free(&d);
    return rc;
}

/* in_scale: AMP only (conv2d_in_scale_supported) */
static int forward(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w, const float *b,
                   float *y) {
    if (ctx->amp) return forward_amp(ctx, s, x, in_scale, w, b, y, NULL, NULL, NULL);
    DwArrays own = {x, w, NULL, y, NULL, NULL, NULL};
    Descs d;
    int rc = -1;
    if (descs_make(s, &d, 0, ctx->tf32) == 0) {
        const AlgoEntry *a = algo_for(ctx, s, &d, ALGO_FWD, x, w, y, &own);
        if (a && a->algo == ALGO_OWN) {
            descs_free(&d);
            return dw_run(ctx, ALGO_FWD, s, &own, b);
        }
        void *ws = a ? nn_cuda_work(ctx, a->workspace ? a->workspace : 1) : NULL;
        const float one = 1.0f, zero = 0.0f;
        cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
        if (ws) {
            cudnnSetConvolutionMathType(d.conv, (cudnnMathType_t)a->math);
            st = cudnnConvolutionForward(ctx->cuda->cudnn, &one, d.x, x, d.w, w, d.conv, (cudnnConvolutionFwdAlgo_t)a->algo, ws,
                                         a->workspace, &zero, d.y, y);
            if (st == CUDNN_STATUS_SUCCESS && b) st = cudnnAddTensor(ctx->cuda->cudnn, &one, d.b, b, &one, d.y, y);
            if (st != CUDNN_STATUS_SUCCESS) err_set("cuDNN: convolution forward: %s", cudnnGetErrorString(st));
            else rc = 0;
        }
    }
    descs_free(&d);
    return rc;
}

__global__ void k_affine_act(int64_t n, NnDiv k, NnDiv p, const float *scale, const float *shift, const float *res,
                             int act, float *y) {
    kb_affine_act(NN_GRID_HERE, n, k, p, scale, shift, res, act, y);
}

extern "C" int conv2d_forward_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b,
                                   float *y) {
    return forward(ctx, s, x, NULL, w, b, y);
}

extern "C" int conv2d_forward_half_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale,
                                        const float *w, uint16_t *y, uint16_t *x_half, int *x_half_made) {
    return forward_amp(ctx, s, x, in_scale, w, NULL, NULL, y, x_half, x_half_made);
}

/* The epilogue's arrays (scale, shift, res, plane_mean) are device memory too. */
extern "C" int conv2d_forward_ep_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *w, const float *b,
                                      float *y, const ConvEpilogue *ep) {
    if (forward(ctx, s, x, ep ? ep->in_scale : NULL, w, b, y) < 0) return -1;
    if (!ep) return 0;
    int64_t p = (int64_t)s->OH * s->OW, total = (int64_t)s->N * s->K * p;
    if (ep->scale) { /* (without: an epilogue of the input's scale alone, applied as x was cast) */
        k_affine_act<<<(unsigned)nn_grid_1d(total), NN_BLOCK, 0, ctx->cuda->stream>>>(
            s->N, nn_div_for(s->K, (int64_t)s->N * s->K), nn_div_for(p, total), ep->scale, ep->shift, ep->res, (int)ep->act, y);
        if (nn_cuda_launched(ctx, "conv2d epilogue") < 0) return -1;
    }
    if (ep->plane_mean) {
        int64_t planes = (int64_t)s->N * s->K;
        if (nn_plane_sums(ctx, planes, p, y, NULL, 1, NULL, ep->plane_mean) < 0) return -1; /* the convolution is done with the workspace */
    }
    return 0;
}

#define OWN_RAN 2 /* bwd_data / bwd_filter: the own depthwise kernels ran on own's fp32 arrays */

/* dx = the data gradient of dy through w (beta 0), with the cached algorithm of this shape (fp32 or
 * AMP's half pointers alike; own: the pass's fp32 arrays for the own depthwise kernels, or NULL). Returns
 * 0; OWN_RAN when the own kernels wrote own->out instead; -1 when no algorithm or workspace could be had
 * (err_set by them) or the own kernels failed; 1 when cuDNN failed (its status in *st). */
static int bwd_data(NnCtx *ctx, const Conv2dShape *s, Descs *d, const void *w, const void *dy, void *dx,
                    const DwArrays *own, cudnnStatus_t *st) {
    const float one = 1.0f, zero = 0.0f;
    const AlgoEntry *a = algo_for(ctx, s, d, ALGO_BWD_DATA, dx, w, dy, own);
    if (a && a->algo == ALGO_OWN)
        return dw_run(ctx, ALGO_BWD_DATA, s, own, NULL) < 0 ? -1 : OWN_RAN;
    void *ws = a ? nn_cuda_work(ctx, a->workspace ? a->workspace : 1) : NULL;
    if (!ws) return -1;
    cudnnSetConvolutionMathType(d->conv, (cudnnMathType_t)a->math);
    *st = cudnnConvolutionBackwardData(ctx->cuda->cudnn, &one, d->w, w, d->y, dy, d->conv,
                                       (cudnnConvolutionBwdDataAlgo_t)a->algo, ws, a->workspace, &zero, d->x, dx);
    return *st == CUDNN_STATUS_SUCCESS ? 0 : 1;
}

/* dw = beta dw + the filter gradient of x and dy, likewise (the own kernels: own->out += the gradient). */
static int bwd_filter(NnCtx *ctx, const Conv2dShape *s, Descs *d, const void *x, const void *w, const void *dy, float beta,
                      void *dw, const DwArrays *own, cudnnStatus_t *st) {
    const float one = 1.0f;
    const AlgoEntry *a = algo_for(ctx, s, d, ALGO_BWD_FILTER, x, w, dy, own);
    if (a && a->algo == ALGO_OWN)
        return dw_run(ctx, ALGO_BWD_FILTER, s, own, NULL) < 0 ? -1 : OWN_RAN;
    void *ws = a ? nn_cuda_work(ctx, a->workspace ? a->workspace : 1) : NULL;
    if (!ws) return -1;
    cudnnSetConvolutionMathType(d->conv, (cudnnMathType_t)a->math);
    *st = cudnnConvolutionBackwardFilter(ctx->cuda->cudnn, &one, d->x, x, d->y, dy, d->conv,
                                         (cudnnConvolutionBwdFilterAlgo_t)a->algo, ws, a->workspace, &beta, d->w, dw);
    return *st == CUDNN_STATUS_SUCCESS ? 0 : 1;
}

/* AMP's backward: half dy, w, x (x scaled by in_scale per plane as it is cast, when given); half dx written
 * as fp32, half dW added to the fp32 gradient, db from the half dy. A depthwise pass on the own kernels reads
 * the fp32 arrays instead, or the halves given (no copies made for it). x_in / dy_in (or NULL): x's (scaled)
 * and dy's halves given (conv2d_backward_half), used instead of casting x and dy; dx_out (or NULL): dx written
 * there as its halves, not widened into dx. */
static int backward_amp(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const uint16_t *x_in,
                        const float *w, const float *dy, const uint16_t *dy_in, float *dx, uint16_t *dx_out, float *dw,
                        float *db) {
    DwArrays own_dx = {NULL, w, dy, dx, dx_out, NULL, dy_in}, own_dw = {x, w, dy, dw, NULL, x_in, dy_in};
    int want_dx = dx || dx_out;
    if (want_dx && dw_known_own(ctx, s, ALGO_BWD_DATA)) {
        if (dw_run(ctx, ALGO_BWD_DATA, s, &own_dx, NULL) < 0) return -1;
        want_dx = 0;
    }
    if (dw && dw_known_own(ctx, s, ALGO_BWD_FILTER)) {
        if (dw_run(ctx, ALGO_BWD_FILTER, s, &own_dw, NULL) < 0) return -1;
        dw = NULL;
    }
    if (!want_dx && !dw && !db) return 0;
    int64_t p = (int64_t)s->OH * s->OW, nx = (int64_t)s->N * s->C * s->H * s->W,
            nw = (int64_t)s->K * (s->C / s->groups) * s->KH * s->KW, ny = (int64_t)s->N * s->K * p;
    /* the scratch: dy's and x's copies where they are not given, w's, dW's and dx's halves */
    int64_t n_dy = dy_in ? 0 : nn_amp_align(ny), n_w = nn_amp_align(nw), n_x = dw && !x_in ? nn_amp_align(nx) : 0;
    uint16_t *sc = nn_amp_scratch(ctx, n_dy + 2 * n_w + n_x + (want_dx && !dx_out ? nn_amp_align(nx) : 0));
    if (!sc) return -1;
    uint16_t *dyc = sc, *wh = dyc + n_dy, *dwh = wh + n_w, *xc = dwh + n_w, *dxh = dx_out ? dx_out : xc + n_x;
    const uint16_t *dyh = dy_in ? dy_in : dyc, *xh = x_in ? x_in : xc;
    if ((!dy_in && nn_amp_cast(ctx, dy, ny, dyc) < 0) || (want_dx && nn_amp_cast(ctx, w, nw, wh) < 0) ||
        (dw && !x_in && nn_amp_cast_planes(ctx, x, in_scale, nx, (int64_t)s->H * s->W, xc) < 0))
        return -1;
    Descs d;
    int rc = -1;
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    if (descs_make(s, &d, (int)ctx->amp, 0) < 0) goto done;
    if (want_dx) {
        int r = bwd_data(ctx, s, &d, wh, dyh, dxh, &own_dx, &st);
        if (r != 0 && r != OWN_RAN) goto fail;
        if (r == 0 && !dx_out && nn_amp_widen(ctx, dxh, nx, dx) < 0) goto done;
    }
    if (dw) {
        int r = bwd_filter(ctx, s, &d, xh, wh, dyh, 0.0f, dwh, &own_dw, &st); /* beta 0: the half dW alone, widened and added */
        if (r != 0 && r != OWN_RAN) goto fail;
        if (r == 0 && nn_amp_widen_add(ctx, dwh, nw, dw) < 0) goto done;
    }
    if (db && nn_amp_bias_grad(ctx, s->N, s->K, p, dyh, db) < 0) goto done;
    rc = 0;
    goto done;
fail:
    if (st == CUDNN_STATUS_SUCCESS) goto done; /* no algorithm or workspace: already reported */
    err_set("cuDNN: convolution backward (%s): %s", nn_amp_name(ctx->amp), cudnnGetErrorString(st));
done:
    descs_free(&d);
    return rc;
}

extern "C" int conv2d_backward_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale, const float *w,
                                    const float *dy, float *dx, float *dw, float *db) {
    if (ctx->amp) return backward_amp(ctx, s, x, in_scale, NULL, w, dy, NULL, dx, NULL, dw, db); /* in_scale: AMP only */
    Descs d;
    int rc = -1, r;
    const float one = 1.0f;
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    DwArrays own_dx = {NULL, w, dy, dx, NULL, NULL, NULL}, own_dw = {x, w, dy, dw, NULL, NULL, NULL};
    if (descs_make(s, &d, 0, ctx->tf32) < 0) goto done;
    if (dx && (r = bwd_data(ctx, s, &d, w, dy, dx, &own_dx, &st)) != 0 && r != OWN_RAN) goto fail;
    if (dw && (r = bwd_filter(ctx, s, &d, x, w, dy, 1.0f, dw, &own_dw, &st)) != 0 && r != OWN_RAN) goto fail; /* beta 1: dw += */
    if (db) {
        st = cudnnConvolutionBackwardBias(ctx->cuda->cudnn, &one, d.y, dy, &one, d.b, db); /* beta 1: db += */
        if (st != CUDNN_STATUS_SUCCESS) goto cudnn_fail;
    }
    rc = 0;
    goto done;
fail:
    if (st == CUDNN_STATUS_SUCCESS) goto done; /* no algorithm or workspace: already reported */
cudnn_fail:
    err_set("cuDNN: convolution backward: %s", cudnnGetErrorString(st));
done:
    descs_free(&d);
    return rc;
}

extern "C" int conv2d_half_keeps_x_cuda(NnCtx *ctx, const Conv2dShape *s) {
    return !dw_known_own(ctx, s, ALGO_FWD);
}

extern "C" int conv2d_backward_half_cuda(NnCtx *ctx, const Conv2dShape *s, const float *x, const float *in_scale,
                                         const uint16_t *x_half, const float *w, const uint16_t *dy_half, float *dx,
                                         uint16_t *dx_half, float *dw) {
    return backward_amp(ctx, s, x, in_scale, x_half, w, NULL, dy_half, dx_half ? NULL : dx, dx_half, dw, NULL);
}
