/* activation.cu - activation.h's functions on device memory: one grid-stride kernel around kernels.h's
 * kb_elementwise (the body tests/unit/test_kernels.c runs on the CPU over the same grid). */
#include "nn/activation.h"
#include "nn/cuda_impl.cuh"

__global__ void k_elementwise(int op, int64_t n, const float *a, const float *b, float *out) {
    kb_elementwise(NN_GRID_HERE, op, n, a, b, out);
}

static void ew(NnCtx *ctx, int op, size_t n, const float *a, const float *b, float *out) {
    if (!n) return;
    k_elementwise<<<(unsigned)nn_grid_1d((int64_t)n), NN_BLOCK, 0, ctx->cuda->stream>>>(op, (int64_t)n, a, b, out);
    nn_cuda_launched(ctx, "elementwise");
}

extern "C" {
void relu_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out) { ew(ctx, EW_RELU_F, n, x, NULL, out); }
void relu_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx) {
    ew(ctx, EW_RELU_B, n, dout, y, dx);
}
void sigmoid_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out) { ew(ctx, EW_SIGMOID_F, n, x, NULL, out); }
void sigmoid_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *y, float *dx) {
    ew(ctx, EW_SIGMOID_B, n, dout, y, dx);
}
void silu_forward_cuda(NnCtx *ctx, size_t n, const float *x, float *out) { ew(ctx, EW_SILU_F, n, x, NULL, out); }
void silu_backward_cuda(NnCtx *ctx, size_t n, const float *dout, const float *x, float *dx) {
    ew(ctx, EW_SILU_B, n, dout, x, dx);
}
void residual_add_forward_cuda(NnCtx *ctx, size_t n, const float *a, const float *b, float *out) {
    ew(ctx, EW_ADD, n, a, b, out);
}
void residual_add_relu_forward_cuda(NnCtx *ctx, size_t n, const float *a, const float *b, float *out) {
    ew(ctx, EW_ADD_RELU, n, a, b, out);
}
void residual_add_backward_cuda(NnCtx *ctx, size_t n, const float *dout, float *da, float *db) {
    float *dst[2] = {da, db};
    for (int i = 0; i < 2; i++)
        if (dst[i] && dst[i] != dout &&
            cudaMemcpyAsync(dst[i], dout, n * sizeof(float), cudaMemcpyDeviceToDevice, ctx->cuda->stream) != cudaSuccess)
            nn_cuda_fail(ctx, "CUDA: cudaMemcpyAsync (residual_add_backward) failed");
}
void grad_accumulate_cuda(NnCtx *ctx, size_t n, const float *src, float *dst) { ew(ctx, EW_ACC, n, src, NULL, dst); }
}
