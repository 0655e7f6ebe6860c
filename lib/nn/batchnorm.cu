/* batchnorm.cu - batchnorm.h's layer on device memory, own kernels around kernels.h's BN bodies (one
 * block of NN_BLOCK threads per channel, the phases of the bodies separated by barriers, partial sums
 * added as a fixed tree: deterministic), the fused activation included. PyTorch's semantics as the CPU
 * layer: biased variance for normalising, unbiased for running_var, momentum or (momentum None)
 * 1/num_batches_tracked, the counter incremented once per training forward. tests/unit/test_kernels.c
 * runs the same phases on the CPU against batchnorm.c. */
#include "nn/batchnorm.h"
#include "nn/cuda_impl.cuh"

static NnBnGeom geom(const BatchNorm2dShape *s) {
    NnBnGeom g = {s->N, s->C, (int64_t)s->H * s->W, s->eps, s->momentum, (int)s->act};
    return g;
}

/* the tree over the block's partial sums (blockDim.x == NN_BLOCK, a power of two) */
__device__ static void tree(int64_t t, NnBnShared *sh) {
    __syncthreads();
    for (int64_t stride = NN_BLOCK / 2; stride > 0; stride /= 2) {
        kb_tree_step(t, stride, sh);
        __syncthreads();
    }
}

__global__ void k_bn_fwd_train(NnBnGeom g, const float *x, const float *weight, const float *bias, float *running_mean,
                               float *running_var, const float *nbt, float *out, float *mean, float *invstd) {
    __shared__ NnBnShared sh;
    int64_t c = blockIdx.x, t = threadIdx.x;
    kb_bn_sum_x(c, t, g, x, &sh);
    tree(t, &sh);
    if (t == 0) kb_bn_mean(g, &sh);
    __syncthreads();
    kb_bn_sum_sqdev(c, t, g, x, &sh);
    tree(t, &sh);
    if (t == 0) kb_bn_stats(c, g, weight, bias, running_mean, running_var, nbt, mean, invstd, &sh);
    __syncthreads();
    kb_bn_apply(c, t, g, x, out, &sh);
}

__global__ void k_bn_count(float *nbt) { kb_bn_count(nbt); }

__global__ void k_bn_eval(NnBnGeom g, const float *x, const float *weight, const float *bias, const float *running_mean,
                          const float *running_var, float *out, float *mean, float *invstd) {
    kb_bn_eval(NN_GRID_HERE, g, x, weight, bias, running_mean, running_var, out, mean, invstd);
}

__global__ void k_bn_eval_affine(int64_t C, float eps, const float *weight, const float *bias, const float *running_mean,
                                 const float *running_var, float *scale, float *shift) {
    kb_bn_eval_affine(NN_GRID_HERE, C, eps, weight, bias, running_mean, running_var, scale, shift);
}

__global__ void k_bn_bwd(NnBnGeom g, int train, const float *dout, const float *x, const float *weight, const float *bias,
                         const float *mean, const float *invstd, float *dx, float *dweight, float *dbias) {
    __shared__ NnBnShared sh;
    int64_t c = blockIdx.x, t = threadIdx.x;
    kb_bn_bwd_sums(c, t, g, dout, x, weight, bias, mean, invstd, dx, &sh);
    tree(t, &sh);
    if (t == 0) kb_bn_bwd_params(c, g, invstd, dweight, dbias, &sh);
    __syncthreads();
    if (dx) kb_bn_bwd_dx(c, t, g, train, dout, x, weight, mean, invstd, dx, &sh);
}

extern "C" {
void batchnorm2d_forward_train_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                    const float *bias, float *running_mean, float *running_var, float *num_batches_tracked,
                                    float *out, float *mean, float *invstd) {
    cudaStream_t st = ctx->cuda->stream;
    k_bn_fwd_train<<<(unsigned)s->C, NN_BLOCK, 0, st>>>(geom(s), x, weight, bias, running_mean, running_var,
                                                       num_batches_tracked, out, mean, invstd);
    if (nn_cuda_launched(ctx, "batchnorm2d_forward_train") < 0 || !num_batches_tracked) return;
    k_bn_count<<<1, 1, 0, st>>>(num_batches_tracked);
    nn_cuda_launched(ctx, "batchnorm2d counter");
}

void batchnorm2d_forward_eval_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *x, const float *weight,
                                   const float *bias, const float *running_mean, const float *running_var, float *out,
                                   float *mean, float *invstd) {
    int64_t n = (int64_t)s->N * s->C * s->H * s->W;
    k_bn_eval<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(geom(s), x, weight, bias, running_mean,
                                                                           running_var, out, mean, invstd);
    nn_cuda_launched(ctx, "batchnorm2d_forward_eval");
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
    k_bn_bwd<<<(unsigned)s->C, NN_BLOCK, 0, ctx->cuda->stream>>>(geom(s), 1, dout, x, weight, bias, mean, invstd, dx,
                                                                 dweight, dbias);
    nn_cuda_launched(ctx, "batchnorm2d_backward_train");
}

void batchnorm2d_backward_eval_cuda(NnCtx *ctx, const BatchNorm2dShape *s, const float *dout, const float *x,
                                    const float *weight, const float *bias, const float *mean, const float *invstd,
                                    float *dx, float *dweight, float *dbias) {
    k_bn_bwd<<<(unsigned)s->C, NN_BLOCK, 0, ctx->cuda->stream>>>(geom(s), 0, dout, x, weight, bias, mean, invstd, dx,
                                                                 dweight, dbias);
    nn_cuda_launched(ctx, "batchnorm2d_backward_eval");
}
}
