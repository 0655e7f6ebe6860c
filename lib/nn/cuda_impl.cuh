/* cuda_impl.cuh - what the .cu files of lib/nn share (C++/CUDA only, never included by C): the GPU state
 * behind NnCtx.cuda, error checks that turn CUDA/cuBLAS/cuDNN failures into err_set() lines, and the
 * launch geometry of the element-wise kernels (the same geometry the CPU tests drive, nn/kernels.h). */
#ifndef AUDIOCNN_NN_CUDA_IMPL_CUH
#define AUDIOCNN_NN_CUDA_IMPL_CUH

#include "nn/algocache.h"
#include "nn/kernels.h"
#include "nn/nn.h"

#include "core/error.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

struct NnCuda {
    int index;
    cudaStream_t stream;      /* every kernel and copy of the context, in order */
    cublasHandle_t cublas;
    cudnnHandle_t cudnn;
    void *work;               /* device workspace (cuDNN algorithms, reductions), grown by nn_cuda_work */
    size_t work_len;
    NnAlgoCache algos;        /* cuDNN algorithm per convolution shape, found once */
    void *amp;                /* AMP: the half copies of conv/linear operands and results (amp.cu) */
    size_t amp_len;
    char err[256];            /* the first failure of a void layer function, reported by nn_sync */
    size_t base_used;         /* device memory in use once the context existed (nn_device_mem_used) */
};

/* The launch position of the calling thread, for kernels.h's bodies. */
#define NN_GRID_HERE (NnGrid{(int64_t)blockIdx.x, (int64_t)threadIdx.x, (int64_t)blockDim.x, (int64_t)gridDim.x})

/* The failing call's text and the library's message, then `return -1` (or `return NULL` via _NULL). */
#define NN_CU_CHECK(call)                                                                                    \
    do {                                                                                                     \
        cudaError_t e_ = (call);                                                                             \
        if (e_ != cudaSuccess) {                                                                             \
            err_set("CUDA: %s: %s", #call, cudaGetErrorString(e_));                                          \
            return -1;                                                                                       \
        }                                                                                                    \
    } while (0)
#define NN_CUBLAS_CHECK(call)                                                                                \
    do {                                                                                                     \
        cublasStatus_t s_ = (call);                                                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                   \
            err_set("cuBLAS: %s: %s", #call, cublasGetStatusString(s_));                                     \
            return -1;                                                                                       \
        }                                                                                                    \
    } while (0)
#define NN_CUDNN_CHECK(call)                                                                                 \
    do {                                                                                                     \
        cudnnStatus_t s_ = (call);                                                                           \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                                    \
            err_set("cuDNN: %s: %s", #call, cudnnGetErrorString(s_));                                        \
            return -1;                                                                                       \
        }                                                                                                    \
    } while (0)

/* At least `bytes` of device workspace (contents undefined), or NULL with err_set(). */
void *nn_cuda_work(NnCtx *ctx, size_t bytes);
/* amp.cu (nn/amp.h): at least `halves` 16-bit elements of the context's AMP scratch (contents undefined;
 * valid until the next call), or NULL with err_set(). The rest launch kernels.h's bodies with ctx->amp's
 * half type on the stream and return nn_cuda_launched's answer: h = half(x); y = widen(h); y += widen(h);
 * y = widen(h) with the bias added in half (an (n, k, p) output); db += half sum of dyh per channel. */
uint16_t *nn_amp_scratch(NnCtx *ctx, int64_t halves);
int nn_amp_cast(NnCtx *ctx, const float *x, int64_t n, uint16_t *h);
/* nn_amp_cast of x scaled by sc[plane] (planes of hw floats; sc NULL: not scaled), kb_cast_half_scaled */
int nn_amp_cast_planes(NnCtx *ctx, const float *x, const float *sc, int64_t n, int64_t hw, uint16_t *h);
int nn_amp_widen(NnCtx *ctx, const uint16_t *h, int64_t n, float *y);
int nn_amp_widen_add(NnCtx *ctx, const uint16_t *h, int64_t n, float *y);
int nn_amp_widen_bias(NnCtx *ctx, int64_t n, int64_t k, int64_t p, const uint16_t *h, const float *b, float *y);
int nn_amp_bias_grad(NnCtx *ctx, int64_t n, int64_t k, int64_t p, const uint16_t *dyh, float *db);
/* n rounded up to 128 halves (256 bytes): the alignment of each part of the AMP scratch */
static inline int64_t nn_amp_align(int64_t n) { return (n + 127) & ~(int64_t)127; }

/* pool.cu: y[plane] = the sum over each of `planes` planes of hw elements of a (b NULL; mean 1: divided by
 * hw) or of a*b, through kernels.h's kb_plane_lanes and kb_plane_lanes_finish (eight threads per plane),
 * with part (planes * 8 doubles of device memory; NULL: the context's workspace, for callers that hold none
 * of it) between them. Returns 0, or -1 with err_set(). */
int nn_plane_sums(NnCtx *ctx, int64_t planes, int64_t hw, const float *a, const float *b, int mean, double *part, float *y);

/* After every <<<...>>>: the launch's error as err_set() and -1 (also kept in ctx->cuda->err for the
 * next nn_sync, as void layer functions cannot return it), else 0. */
int nn_cuda_launched(NnCtx *ctx, const char *kernel);
/* A void layer function's failure: err_set(msg) and kept for the next nn_sync (msg may be err_msg()). */
void nn_cuda_fail(NnCtx *ctx, const char *msg);

#endif
