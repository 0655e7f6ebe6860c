/* linear.cu - linear.h's layer on device memory: the products through cuBLAS (fp32, no TF32: the
 * handle's math mode is CUBLAS_DEFAULT_MATH, device.cu), the bias and its gradient through kernels.h's
 * kb_add_bias_rows / kb_colsum_add (deterministic: one thread per column, rows in order). Row-major
 * tensors are handed to column-major cuBLAS as their transposes:
 *   y^T (out, N) = op(A) op(B) with A = w seen as (in x out) column-major, transposed, B = x as (in x N).
 * cuBLAS's own GEMMs are deterministic for a fixed GPU, library and shape (no split-K atomics by
 * default). */
#include "nn/cuda_impl.cuh"
#include "nn/kernels.h"
#include "nn/linear.h"

#include <stdio.h>

__global__ void k_add_bias_rows(int64_t rows, int64_t cols, const float *b, float *y) {
    kb_add_bias_rows(NN_GRID_HERE, rows, cols, b, y);
}
__global__ void k_colsum_add(int64_t rows, int64_t cols, const float *dy, float *db) {
    kb_colsum_add(NN_GRID_HERE, rows, cols, dy, db);
}

static void check_blas(NnCtx *ctx, cublasStatus_t st, const char *what) {
    if (st != CUBLAS_STATUS_SUCCESS) {
        char msg[160];
        snprintf(msg, sizeof msg, "cuBLAS: %s: %s", what, cublasGetStatusString(st));
        nn_cuda_fail(ctx, msg);
    }
}

extern "C" void linear_forward_cuda(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *b,
                                    float *y) {
    const float one = 1.0f, zero = 0.0f;
    /* y^T (out x N) = (w as in x out)^T (x as in x N) */
    check_blas(ctx, cublasSgemm(ctx->cuda->cublas, CUBLAS_OP_T, CUBLAS_OP_N, s->out, s->N, s->in, &one, w, s->in, x,
                                s->in, &zero, y, s->out), "linear forward");
    if (b) {
        int64_t n = (int64_t)s->N * s->out;
        k_add_bias_rows<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(s->N, s->out, b, y);
        nn_cuda_launched(ctx, "linear bias");
    }
}

extern "C" void linear_backward_cuda(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *dy,
                                     float *dx, float *dw, float *db) {
    const float one = 1.0f, zero = 0.0f;
    if (dx) /* dx^T (in x N) = (w as in x out) (dy as out x N) */
        check_blas(ctx, cublasSgemm(ctx->cuda->cublas, CUBLAS_OP_N, CUBLAS_OP_N, s->in, s->N, s->out, &one, w, s->in,
                                    dy, s->out, &zero, dx, s->in), "linear backward (dx)");
    if (dw) /* dw^T (in x out) += (x as in x N) (dy as out x N)^T */
        check_blas(ctx, cublasSgemm(ctx->cuda->cublas, CUBLAS_OP_N, CUBLAS_OP_T, s->in, s->out, s->N, &one, x, s->in,
                                    dy, s->out, &one, dw, s->in), "linear backward (dw)");
    if (db) {
        k_colsum_add<<<(unsigned)nn_grid_1d(s->out), NN_BLOCK, 0, ctx->cuda->stream>>>(s->N, s->out, dy, db);
        nn_cuda_launched(ctx, "linear bias gradient");
    }
}
