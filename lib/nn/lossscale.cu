/* lossscale.cu - the device half of fp16 loss scaling: unscale the gradients and look for inf/NaN in one
 * pass (kernels.h's kb_unscale, tested on the CPU); the scale's state machine is lossscale.c's. */
#include "nn/cuda_impl.cuh"
#include "nn/lossscale.h"

__global__ void k_unscale(int64_t n, float inv_scale, float *grad, int *found_inf) {
    kb_unscale(NN_GRID_HERE, n, inv_scale, grad, found_inf);
}

extern "C" int lossscale_unscale_cuda(NnCtx *ctx, float *grad, size_t n, float inv_scale, int *found_inf) {
    cudaStream_t st = ctx->cuda->stream;
    int *flag = (int *)nn_cuda_work(ctx, sizeof(int));
    if (!flag) return -1;
    NN_CU_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), st));
    if (n) {
        k_unscale<<<(unsigned)nn_grid_1d((int64_t)n), NN_BLOCK, 0, st>>>((int64_t)n, inv_scale, grad, flag);
        if (nn_cuda_launched(ctx, "unscale") < 0) return -1;
    }
    NN_CU_CHECK(cudaMemcpyAsync(found_inf, flag, sizeof(int), cudaMemcpyDeviceToHost, st));
    NN_CU_CHECK(cudaStreamSynchronize(st));
    return 0;
}
