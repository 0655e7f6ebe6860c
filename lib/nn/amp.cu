/* amp.cu - the device side of mixed precision (nn/amp.h) that conv2d.cu and linear.cu share: the context's
 * scratch block for the half copies (grown as needed, never allocated per call) and the launches of
 * kernels.h's casts (kb_cast_half, kb_widen, kb_widen_add, kb_widen_bias, kb_bias_grad_half: the same
 * bodies the CPU tests and the simulated GPU run). Every launch goes on the context's stream. The scratch is
 * its own block, never nn_cuda_work's: se.cu keeps its intermediates there across its linear layers' calls. */
#include "nn/cuda_impl.cuh"

#include <stdio.h>

__global__ void k_cast_half(int64_t n, const float *x, uint16_t *h, int amp) { kb_cast_half(NN_GRID_HERE, n, x, h, amp); }
__global__ void k_cast_half_scaled(int64_t n, NnDiv hw, const float *x, const float *sc, uint16_t *h, int amp) {
    kb_cast_half_scaled(NN_GRID_HERE, n, hw, x, sc, h, amp);
}
__global__ void k_widen(int64_t n, const uint16_t *h, float *y, int amp) { kb_widen(NN_GRID_HERE, n, h, y, amp); }
__global__ void k_widen_add(int64_t n, const uint16_t *h, float *y, int amp) { kb_widen_add(NN_GRID_HERE, n, h, y, amp); }
__global__ void k_widen_bias(int64_t n, NnDiv k, NnDiv p, const uint16_t *h, const float *b, int amp, float *y) {
    kb_widen_bias(NN_GRID_HERE, n, k, p, h, b, amp, y);
}
__global__ void k_bias_grad_half(int64_t n, int64_t k, int64_t p, const uint16_t *dyh, int amp, float *db) {
    kb_bias_grad_half(NN_GRID_HERE, n, k, p, dyh, amp, db);
}

uint16_t *nn_amp_scratch(NnCtx *ctx, int64_t halves) {
    NnCuda *c = ctx->cuda;
    size_t bytes = (size_t)(halves > 0 ? halves : 1) * sizeof(uint16_t);
    if (bytes <= c->amp_len) return (uint16_t *)c->amp;
    if (c->amp) {
        cudaStreamSynchronize(c->stream); /* no kernel still reads the old copies */
        cudaFree(c->amp);
    }
    c->amp = NULL;
    c->amp_len = 0;
    if (cudaMalloc(&c->amp, bytes) != cudaSuccess) {
        cudaGetLastError();
        c->amp = NULL;
        err_set("out of GPU memory for %zu bytes of half-precision copies", bytes);
        return NULL;
    }
    c->amp_len = bytes;
    return (uint16_t *)c->amp;
}

int nn_amp_cast(NnCtx *ctx, const float *x, int64_t n, uint16_t *h) {
    if (n <= 0) return 0;
    k_cast_half<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(n, x, h, (int)ctx->amp);
    return nn_cuda_launched(ctx, "amp cast");
}

int nn_amp_cast_planes(NnCtx *ctx, const float *x, const float *sc, int64_t n, int64_t hw, uint16_t *h) {
    if (!sc) return nn_amp_cast(ctx, x, n, h);
    if (n <= 0) return 0;
    k_cast_half_scaled<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(n, nn_div_for(hw, n), x, sc, h, (int)ctx->amp);
    return nn_cuda_launched(ctx, "amp cast (scaled)");
}

int nn_amp_widen(NnCtx *ctx, const uint16_t *h, int64_t n, float *y) {
    if (n <= 0) return 0;
    k_widen<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(n, h, y, (int)ctx->amp);
    return nn_cuda_launched(ctx, "amp widen");
}

int nn_amp_widen_add(NnCtx *ctx, const uint16_t *h, int64_t n, float *y) {
    if (n <= 0) return 0;
    k_widen_add<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(n, h, y, (int)ctx->amp);
    return nn_cuda_launched(ctx, "amp widen add");
}

int nn_amp_widen_bias(NnCtx *ctx, int64_t n, int64_t k, int64_t p, const uint16_t *h, const float *b, float *y) {
    int64_t total = n * k * p;
    if (total <= 0) return 0;
    k_widen_bias<<<(unsigned)nn_grid_1d(total), NN_BLOCK, 0, ctx->cuda->stream>>>(n, nn_div_for(k, n * k), nn_div_for(p, total), h,
                                                                                 b, (int)ctx->amp, y);
    return nn_cuda_launched(ctx, "amp widen + bias");
}

int nn_amp_bias_grad(NnCtx *ctx, int64_t n, int64_t k, int64_t p, const uint16_t *dyh, float *db) {
    if (k <= 0) return 0;
    k_bias_grad_half<<<(unsigned)nn_grid_1d(k), NN_BLOCK, 0, ctx->cuda->stream>>>(n, k, p, dyh, (int)ctx->amp, db);
    return nn_cuda_launched(ctx, "amp bias gradient");
}
