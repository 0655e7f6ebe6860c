/* stem.cu - stem.h's functions on device memory: grid-stride kernels around kernels.h's bodies (the
 * ones tests/unit/test_kernels.c runs on the CPU over the same grid). */
#include "nn/cuda_impl.cuh"
#include "nn/stem.h"

__global__ void k_stem_wsum(int64_t k, int64_t kk, NnStemNorm s, const float *w, float *wsum, float *wm) {
    kb_stem_wsum(NN_GRID_HERE, k, kk, s, w, wsum, wm);
}
__global__ void k_stem_wgrad(int64_t k, int64_t kk, NnStemNorm s, const float *dwsum, const float *dwm, float *dw) {
    kb_stem_wgrad(NN_GRID_HERE, k, kk, s, dwsum, dwm, dw);
}
__global__ void k_bcast_sub(int64_t n, NnDiv per, const float *c, float *y) { kb_bcast_sub(NN_GRID_HERE, n, per, c, y); }
__global__ void k_batch_sum(int64_t n, int64_t per, const float *x, float *y) { kb_batch_sum(NN_GRID_HERE, n, per, x, y); }
__global__ void k_fill(int64_t n, float v, float *y) { kb_fill(NN_GRID_HERE, n, v, y); }

#define LAUNCH(items, name, kernel, ...)                                                                 \
    do {                                                                                                 \
        if ((items) <= 0) return;                                                                        \
        kernel<<<(unsigned)nn_grid_1d(items), NN_BLOCK, 0, ctx->cuda->stream>>>(__VA_ARGS__);           \
        nn_cuda_launched(ctx, name);                                                                     \
    } while (0)

extern "C" {
void stem_weight_sum_cuda(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *w, float *wsum, float *wm) {
    LAUNCH((int64_t)K * KK, "stem weight sum", k_stem_wsum, K, KK, *s, w, wsum, wm);
}
void stem_weight_grad_cuda(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *dwsum, const float *dwm, float *dw) {
    LAUNCH((int64_t)K * 3 * KK, "stem weight gradient", k_stem_wgrad, K, KK, *s, dwsum, dwm, dw);
}
void stem_sub_bcast_cuda(NnCtx *ctx, int64_t n, int64_t per, const float *c, float *y) {
    LAUNCH(n * per, "stem correction", k_bcast_sub, n, nn_div_for(per, n * per), c, y);
}
void stem_batch_sum_cuda(NnCtx *ctx, int64_t n, int64_t per, const float *x, float *y) {
    LAUNCH(per, "batch sum", k_batch_sum, n, per, x, y);
}
void stem_fill_cuda(NnCtx *ctx, size_t n, float v, float *y) { LAUNCH((int64_t)n, "fill", k_fill, (int64_t)n, v, y); }
}
