/* linear.cu - linear.h's layer on device memory: the products through cuBLAS (fp32, no TF32: the
 * handle's math mode is CUBLAS_DEFAULT_MATH, device.cu), the bias and its gradient through kernels.h's
 * kb_add_bias_rows / kb_colsum_add (deterministic: one thread per column, rows in order). Row-major
 * tensors are handed to column-major cuBLAS as their transposes:
 *   y^T (out, N) = op(A) op(B) with A = w seen as (in x out) column-major, transposed, B = x as (in x N).
 * cuBLAS's own GEMMs are deterministic for a fixed GPU, library and shape (no split-K atomics by
 * default).
 * Mixed precision (ctx->amp, nn/amp.h): the same products through cublasGemmEx on half copies (CUDA_R_16F or
 * CUDA_R_16BF operands and result, CUBLAS_COMPUTE_32F), the half results widened by kernels.h's bodies: y with
 * the bias added in half, dx written, dW added to the fp32 gradient, db the half sum of the half dy. */
#include "nn/cuda_impl.cuh"
#include "nn/kernels.h"
#include "nn/linear.h"

#include <stdio.h>

__global__ void k_add_bias_rows(int64_t rows, NnDiv cols, const float *b, float *y) {
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

/* nn_amp_scratch's failure, kept for the next nn_sync (a void layer function) */
static void scratch_fail(NnCtx *ctx) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", err_msg());
    nn_cuda_fail(ctx, msg);
}

/* C (m x n, column-major, half) = op(A) op(B), half operands, fp32 accumulation, beta 0 */
static int gemm_half(NnCtx *ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const uint16_t *A,
                     int lda, const uint16_t *B, int ldb, uint16_t *C, int ldc, const char *what) {
    const float one = 1.0f, zero = 0.0f;
    cudaDataType_t t = ctx->amp == NN_AMP_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    cublasStatus_t st = cublasGemmEx(ctx->cuda->cublas, ta, tb, m, n, k, &one, A, t, lda, B, t, ldb, &zero, C, t, ldc,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    check_blas(ctx, st, what);
    return st == CUBLAS_STATUS_SUCCESS ? 0 : -1;
}

static void forward_amp(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *b, float *y) {
    int64_t nx = (int64_t)s->N * s->in, nw = (int64_t)s->out * s->in, ny = (int64_t)s->N * s->out;
    uint16_t *xh = nn_amp_scratch(ctx, nn_amp_align(nx) + nn_amp_align(nw) + nn_amp_align(ny));
    if (!xh) {
        scratch_fail(ctx);
        return;
    }
    uint16_t *wh = xh + nn_amp_align(nx), *yh = wh + nn_amp_align(nw);
    if (nn_amp_cast(ctx, x, nx, xh) < 0 || nn_amp_cast(ctx, w, nw, wh) < 0 ||
        gemm_half(ctx, CUBLAS_OP_T, CUBLAS_OP_N, s->out, s->N, s->in, wh, s->in, xh, s->in, yh, s->out, "linear forward (amp)") < 0)
        return;
    nn_amp_widen_bias(ctx, s->N, s->out, 1, yh, b, y);
}

static void backward_amp(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *dy, float *dx,
                         float *dw, float *db) {
    int64_t nx = (int64_t)s->N * s->in, nw = (int64_t)s->out * s->in, ny = (int64_t)s->N * s->out;
    uint16_t *dyh = nn_amp_scratch(ctx, nn_amp_align(ny) + 2 * nn_amp_align(nw) + 2 * nn_amp_align(nx));
    if (!dyh) {
        scratch_fail(ctx);
        return;
    }
    uint16_t *wh = dyh + nn_amp_align(ny), *dwh = wh + nn_amp_align(nw), *xh = dwh + nn_amp_align(nw),
             *dxh = xh + nn_amp_align(nx);
    if (nn_amp_cast(ctx, dy, ny, dyh) < 0) return;
    if (dx && (nn_amp_cast(ctx, w, nw, wh) < 0 ||
               gemm_half(ctx, CUBLAS_OP_N, CUBLAS_OP_N, s->in, s->N, s->out, wh, s->in, dyh, s->out, dxh, s->in,
                         "linear backward (dx, amp)") < 0 ||
               nn_amp_widen(ctx, dxh, nx, dx) < 0))
        return;
    if (dw && (nn_amp_cast(ctx, x, nx, xh) < 0 ||
               gemm_half(ctx, CUBLAS_OP_N, CUBLAS_OP_T, s->in, s->out, s->N, xh, s->in, dyh, s->out, dwh, s->in,
                         "linear backward (dw, amp)") < 0 ||
               nn_amp_widen_add(ctx, dwh, nw, dw) < 0))
        return;
    if (db) nn_amp_bias_grad(ctx, s->N, s->out, 1, dyh, db);
}

extern "C" void linear_forward_cuda(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *b,
                                    float *y) {
    if (ctx->amp) {
        forward_amp(ctx, s, x, w, b, y);
        return;
    }
    const float one = 1.0f, zero = 0.0f;
    /* y^T (out x N) = (w as in x out)^T (x as in x N) */
    check_blas(ctx, cublasSgemm(ctx->cuda->cublas, CUBLAS_OP_T, CUBLAS_OP_N, s->out, s->N, s->in, &one, w, s->in, x,
                                s->in, &zero, y, s->out), "linear forward");
    if (b) {
        int64_t n = (int64_t)s->N * s->out;
        k_add_bias_rows<<<(unsigned)nn_grid_1d(n), NN_BLOCK, 0, ctx->cuda->stream>>>(s->N, nn_div_for(s->out, n), b, y);
        nn_cuda_launched(ctx, "linear bias");
    }
}

extern "C" void linear_backward_cuda(NnCtx *ctx, const LinearShape *s, const float *x, const float *w, const float *dy,
                                     float *dx, float *dw, float *db) {
    if (ctx->amp) {
        backward_amp(ctx, s, x, w, dy, dx, dw, db);
        return;
    }
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
