/* batchnorm.cu - batchnorm.h's layer on device memory, own kernels around kernels.h's BN bodies (blocks of
 * NN_BLOCK threads per slice of a channel, their partial sums added as a fixed tree, the slices' sums in
 * slice order by a per-channel kernel: deterministic; kernels.h says which kernels run), the fused
 * activation included. PyTorch's semantics as the CPU layer (the statistics in one pass over x, shifted by
 * the channel's first element, where the CPU makes two: kernels.h's kb_bn_sums): biased variance for normalising, unbiased for running_var, momentum or (momentum None)
 * 1/num_batches_tracked, the counter incremented once per training forward. tests/unit/test_kernels.c
 * runs the same phases on the CPU against batchnorm.c. */
#include "nn/batchnorm.h"
#include "nn/cuda_impl.cuh"

/* xh: x's storage (kernels.h's NnBnGeom.xh: 0 floats, or the half type of a convolution's AMP result) */
static NnBnGeom geom(const BatchNorm2dShape *s, int xh) {
    NnBnGeom g = {s->N, s->C, (int64_t)s->H * s->W, s->eps, s->momentum, (int)s->act, 0, xh, 0};
    g.slices = nn_bn_slices(g.C, g.N * g.hw);
    return g;
}

/* the tree over the block's partial sums (blockDim.x == NN_BLOCK, a power of two), then thread 0 stores them */
__device__ static void tree_store(int64_t c, int64_t s, int64_t t, NnBnGeom g, NnBnShared *sh, double *part) {
    __syncthreads();
    for (int64_t stride = NN_BLOCK / 2; stride > 0; stride /= 2) {
        kb_tree_step(t, stride, sh);
        __syncthreads();
    }
    if (t == 0) kb_bn_part_store(c, s, g, sh, part);
}

/* block b is slice b % S of channel b / S */
#define BN_BLOCK_CS(g) int64_t c = blockIdx.x / (g).slices, s = blockIdx.x % (g).slices, t = threadIdx.x

__global__ void k_bn_sums(NnBnGeom g, const void *x, double *part) {
    __shared__ NnBnShared sh;
    BN_BLOCK_CS(g);
    kb_bn_sums(c, s, t, g, x, &sh);
    tree_store(c, s, t, g, &sh, part);
}
__global__ void k_bn_stats(NnBnGeom g, const double *part, const void *x, const float *weight, const float *bias,
                           float *running_mean, float *running_var, const float *nbt, float *mean, float *invstd, float *ab) {
    kb_bn_stats(NN_GRID_HERE, g, part, x, weight, bias, running_mean, running_var, nbt, mean, invstd, ab);
}
__global__ void k_bn_apply(NnBnGeom g, const void *x, const float *ab, float *out) {
    BN_BLOCK_CS(g);
    kb_bn_apply(c, s, t, g, x, ab, out);
}

__global__ void k_bn_count(float *nbt) { kb_bn_count(nbt); }

__global__ void k_bn_eval(NnBnGeom g, NnDiv hw, NnDiv ch, const void *x, const float *weight, const float *bias, const float *running_mean,
                          const float *running_var, float *out, float *mean, float *invstd) {
    kb_bn_eval(NN_GRID_HERE, g, hw, ch, x, weight, bias, running_mean, running_var, out, mean, invstd);
}

__global__ void k_bn_eval_affine(int64_t C, float eps, const float *weight, const float *bias, const float *running_mean,
                                 const float *running_var, float *scale, float *shift) {
    kb_bn_eval_affine(NN_GRID_HERE, C, eps, weight, bias, running_mean, running_var, scale, shift);
}

__global__ void k_bn_bwd_sums(NnBnGeom g, const void *dout, const void *x, const float *weight, const float *bias,
                              const float *mean, const float *invstd, double *part) {
    __shared__ NnBnShared sh;
    BN_BLOCK_CS(g);
    kb_bn_bwd_sums(c, s, t, g, dout, x, weight, bias, mean, invstd, &sh);
    tree_store(c, s, t, g, &sh, part);
}
__global__ void k_bn_bwd_params(NnBnGeom g, const double *part, const float *invstd, float *dweight, float *dbias, float *kg) {
    kb_bn_bwd_params(NN_GRID_HERE, g, part, invstd, dweight, dbias, kg);
}
__global__ void k_bn_bwd_dx(NnBnGeom g, int train, const void *dout, const void *x, const float *weight, const float *bias,
                            const float *mean, const float *invstd, const float *kg, float *dx, uint16_t *dxh, int dxt) {
    BN_BLOCK_CS(g);
    kb_bn_bwd_dx(c, s, t, g, train, dout, x, weight, bias, mean, invstd, kg, dx, dxh, dxt);
}

/* The reductions' device scratch: the slices' sums (C * S * 2 doubles), then 2C floats (alpha/beta, or k/gm),
 * in the context's workspace (no other layer runs in between). */
typedef struct {
    double *part;
    float *per_c;
} BnScratch;
static int bn_scratch(NnCtx *ctx, NnBnGeom g, BnScratch *b) {
    size_t np = (size_t)(g.C * g.slices * 2), nc = (size_t)g.C;
    double *w = (double *)nn_cuda_work(ctx, sizeof(double) * np + sizeof(float) * 2 * nc);
    if (!w) {
        nn_cuda_fail(ctx, err_msg());
        return -1;
    }
    b->part = w, b->per_c = (float *)(w + np);
    return 0;
}

/* x: floats (xh 0) or halves of type xh; dout likewise (douth); dx floats, or dxh halves of type xh (dx NULL); dout is only read (the
 * fused activation's gradient is computed in both passes). Returns 0, or -1 (err_set, and a failed launch
 * stays with ctx). */
static int backward(NnCtx *ctx, const BatchNorm2dShape *s, int train, const void *dout, int douth, const void *x, int xh,
                    const float *weight, const float *bias, const float *mean, const float *invstd, float *dx,
                    uint16_t *dxh, float *dweight, float *dbias) {
    NnBnGeom g = geom(s, xh);
    g.douth = douth;
    BnScratch b;
    if (bn_scratch(ctx, g, &b) < 0) return -1;
    cudaStream_t st = ctx->cuda->stream;
    unsigned blocks = (unsigned)(g.C * g.slices);
    k_bn_bwd_sums<<<blocks, NN_BLOCK, 0, st>>>(g, dout, x, weight, bias, mean, invstd, b.part);
    if (nn_cuda_launched(ctx, "batchnorm2d backward sums") < 0) return -1;
    k_bn_bwd_params<<<(unsigned)nn_grid_1d(g.C), NN_BLOCK, 0, st>>>(g, b.part, invstd, dweight, dbias, b.per_c);
    if (nn_cuda_launched(ctx, "batchnorm2d backward parameters") < 0) return -1;
    if (!dx && !dxh) return 0;
    k_bn_bwd_dx<<<blocks, NN_BLOCK, 0, st>>>(g, train, dout, x, weight, bias, mean, invstd, b.per_c, dx, dxh, xh);
    return nn_cuda_launched(ctx, "batchnorm2d backward dx");
}

static int forward_train(NnCtx *ctx, const BatchNorm2dShape *s, const void *x, int xh, const float *weight,
                         const float *bias, float *running_mean, float *running_var, float *num_batches_tracked,
                         float *out, float *mean, float *invstd) {
    NnBnGeom g = geom(s, xh);
    BnScratch b;
    if (bn_scratch(ctx, g, &b) < 0) return -1;
    cudaStream_t st = ctx->cuda->stream;
    unsigned blocks = (unsigned)(g.C * g.slices), per_c = (unsigned)nn_grid_1d(g.C);
    k_bn_sums<<<blocks, NN_BLOCK, 0, st>>>(g, x, b.part);
    if (nn_cuda_launched(ctx, "batchnorm2d sums") < 0) return -1;
    k_bn_stats<<<per_c, NN_BLOCK, 0, st>>>(g, b.part, x, weight, bias, running_mean, running_var, num_batches_tracked, mean,
                                           invstd, b.per_c);
    if (nn_cuda_launched(ctx, "batchnorm2d statistics") < 0) return -1;
    k_bn_apply<<<blocks, NN_BLOCK, 0, st>>>(g, x, b.per_c, out);
    if (nn_cuda_launched(ctx, "batchnorm2d_forward_train") < 0) return -1;
    if (!num_batches_tracked) return 0;
    k_bn_count<<<1, 1, 0, st>>>(num_batches_tracked);
    return nn_cuda_launched(ctx, "batchnorm2d counter");
}

static int forward_eval(NnCtx *ctx, const BatchNorm2dShape *s, const void *x, int xh, const float *weight,
                        const float *bias, const float *running_mean, const float *running_var, float *out, float *mean,
                        float *invstd) {
    int64_t n = (int64_t)s->N * s->C * s->H * s->W;
    NnDiv hw = nn_div_for((int64_t)s->H * s->W, n), ch = nn_div_for(s->C, (int64_t)s->N * s->C);
    k_bn_eval<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(geom(s, xh), hw, ch, x, weight, bias,
                                                                           running_mean, running_var, out, mean, invstd);
    return nn_cuda_launched(ctx, "batchnorm2d_forward_eval");
}

/* a half input's type, checked (batchnorm.h) */
static int half_type(NnAmp xt) {
    if (xt == NN_AMP_BF16 || xt == NN_AMP_FP16) return (int)xt;
    err_set("batchnorm2d: a half input of type %d, not bf16 or fp16", (int)xt);
    return -1;
}

extern "C" {
void batchnorm2d_forward_train_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                    const float *bias, float *running_mean, float *running_var, float *num_batches_tracked,
                                    float *out, float *mean, float *invstd) {
    forward_train(ctx, s, x, 0, weight, bias, running_mean, running_var, num_batches_tracked, out, mean, invstd);
}

void batchnorm2d_forward_eval_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                   const float *bias, const float *running_mean, const float *running_var, float *out,
                                   float *mean, float *invstd) {
    forward_eval(ctx, s, x, 0, weight, bias, running_mean, running_var, out, mean, invstd);
}

int batchnorm2d_forward_train_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                        const float *weight, const float *bias, float *running_mean, float *running_var,
                                        float *num_batches_tracked, float *out, float *mean, float *invstd) {
    int xh = half_type(xt);
    if (xh < 0) return -1;
    return forward_train(ctx, s, x, xh, weight, bias, running_mean, running_var, num_batches_tracked, out, mean, invstd);
}

int batchnorm2d_forward_eval_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, NnAmp xt, const uint16_t *x,
                                       const float *weight, const float *bias, const float *running_mean,
                                       const float *running_var, float *out, float *mean, float *invstd) {
    int xh = half_type(xt);
    if (xh < 0) return -1;
    return forward_eval(ctx, s, x, xh, weight, bias, running_mean, running_var, out, mean, invstd);
}

int batchnorm2d_backward_half_cuda(NnCtx *ctx, const BatchNorm2dShape *s, int train, const void *dout, int dout_half,
                                   NnAmp xt, const uint16_t *x, const float *weight, const float *bias, const float *mean,
                                   const float *invstd, float *dx, uint16_t *dx_half, float *dweight, float *dbias) {
    int xh = half_type(xt);
    if (xh < 0) return -1;
    return backward(ctx, s, train, dout, dout_half ? xh : 0, x, xh, weight, bias, mean, invstd, dx_half ? NULL : dx, dx_half,
                    dweight, dbias);
}

void batchnorm2d_eval_affine_cuda(NnCtx *ctx, int C, double eps, const float *weight, const float *bias,
                                  const float *running_mean, const float *running_var, float *scale, float *shift) {
    k_bn_eval_affine<<<(unsigned)nn_grid_1d(C), NN_BLOCK, 0, ctx->cuda->stream>>>(C, (float)eps, weight, bias, running_mean,
                                                                                 running_var, scale, shift);
    nn_cuda_launched(ctx, "batchnorm2d_eval_affine");
}

void batchnorm2d_backward_train_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                     const float *weight, const float *bias, const float *mean, const float *invstd,
                                     float *dx, float *dweight, float *dbias) {
    backward(ctx, s, 1, dout, 0, x, 0, weight, bias, mean, invstd, dx, NULL, dweight, dbias);
}

void batchnorm2d_backward_eval_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                    const float *weight, const float *bias, const float *mean, const float *invstd,
                                    float *dx, float *dweight, float *dbias) {
    backward(ctx, s, 0, dout, 0, x, 0, weight, bias, mean, invstd, dx, NULL, dweight, dbias);
}
}
