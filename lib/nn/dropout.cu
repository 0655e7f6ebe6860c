/* dropout.cu - dropout.h's layers on device memory: dropout's mask drawn on the device, block by block
 * with rng.c's generator (kernels.h's kb_dropout: the CPU's mask, bit for bit); drop path's few bytes of
 * mask drawn on the device too, by one thread (kb_drop_path_mask: no copy from the host, so no wait for the
 * stream in every block); masks applied by kb_apply_mask. The mask buffers are device memory. */
#include "nn/cuda_impl.cuh"
#include "nn/dropout.h"

#include "core/rng.h"

__global__ void k_dropout(int64_t n, uint64_t key, double keep_p, float scale, const float *x, float *out, uint8_t *mask) {
    kb_dropout(NN_GRID_HERE, n, key, keep_p, scale, x, out, mask);
}
__global__ void k_drop_path_mask(int64_t nmask, uint64_t key, double keep_p, int active, uint8_t *mask) {
    kb_drop_path_mask(NN_GRID_HERE, nmask, key, keep_p, active, mask);
}
__global__ void k_apply_mask(int64_t n, NnDiv per, float scale, const float *x, const uint8_t *mask, float *out) {
    kb_apply_mask(NN_GRID_HERE, n, per, scale, x, mask, out);
}

static float keep_scale(float p) { return p < 1.0f ? 1.0f / (float)(1.0 - (double)p) : 0.0f; }
static uint64_t mask_key(uint64_t seed, uint64_t stream) {
    Rng r;
    rng_derive(&r, seed, stream);
    return rng_next(&r);
}

static void copy(NnCtx *ctx, float *dst, const float *src, size_t n) {
    if (dst != src && n &&
        cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, ctx->cuda->stream) != cudaSuccess)
        nn_cuda_fail(ctx, "CUDA: cudaMemcpyAsync (dropout) failed");
}

static void apply(NnCtx *ctx, int64_t n, int64_t per, float scale, const float *x, const uint8_t *mask, float *out) {
    if (n <= 0) return;
    k_apply_mask<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(n, nn_div_for(per, n), scale, x, mask, out);
    nn_cuda_launched(ctx, "dropout mask");
}

extern "C" {
void dropout_forward_cuda(NnCtx *ctx, const DropoutShape *s, uint64_t seed, uint64_t stream, const float *x, float *out,
                          uint8_t *mask) {
    if (!(s->training && s->p > 0.0f)) {
        copy(ctx, out, x, s->n);
        if (cudaMemsetAsync(mask, 1, s->n, ctx->cuda->stream) != cudaSuccess) nn_cuda_fail(ctx, "CUDA: cudaMemsetAsync (dropout)");
        return;
    }
    int64_t blocks = (int64_t)((s->n + NN_DROPOUT_BLOCK - 1) / NN_DROPOUT_BLOCK);
    k_dropout<<<(unsigned)nn_grid_1d(blocks), NN_BLOCK, 0, ctx->cuda->stream>>>((int64_t)s->n, mask_key(seed, stream),
                                                                                1.0 - (double)s->p, keep_scale(s->p), x, out, mask);
    nn_cuda_launched(ctx, "dropout_forward");
}

void dropout_backward_cuda(NnCtx *ctx, const DropoutShape *s, const float *dout, const uint8_t *mask, float *dx) {
    if (!(s->training && s->p > 0.0f)) {
        copy(ctx, dx, dout, s->n);
        return;
    }
    apply(ctx, (int64_t)s->n, 1, keep_scale(s->p), dout, mask, dx);
}

void drop_path_forward_cuda(NnCtx *ctx, const DropPathShape *s, uint64_t seed, uint64_t stream, const float *x, float *out,
                            uint8_t *mask) {
    size_t n = (size_t)s->N * s->per_sample, nmask = s->mode == DROP_PATH_ROW ? (size_t)s->N : 1;
    int active = s->training && s->p > 0.0f;
    k_drop_path_mask<<<1, 1, 0, ctx->cuda->stream>>>((int64_t)nmask, active ? mask_key(seed, stream) : 0, 1.0 - (double)s->p,
                                                     active, mask);
    if (nn_cuda_launched(ctx, "drop path mask") < 0) return;
    if (!active) copy(ctx, out, x, n);
    else apply(ctx, (int64_t)n, s->mode == DROP_PATH_ROW ? (int64_t)(s->per_sample ? s->per_sample : 1) : (int64_t)n,
               keep_scale(s->p), x, mask, out);
}

void drop_path_backward_cuda(NnCtx *ctx, const DropPathShape *s, const float *dout, const uint8_t *mask, float *dx) {
    size_t n = (size_t)s->N * s->per_sample;
    if (!(s->training && s->p > 0.0f)) {
        copy(ctx, dx, dout, n);
        return;
    }
    apply(ctx, (int64_t)n, s->mode == DROP_PATH_ROW ? (int64_t)s->per_sample : (int64_t)n, keep_scale(s->p), dout, mask, dx);
}
}
