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
/* After every <<<...>>>: the launch's error as err_set() and -1 (also kept in ctx->cuda->err for the
 * next nn_sync, as void layer functions cannot return it), else 0. */
int nn_cuda_launched(NnCtx *ctx, const char *kernel);
/* A void layer function's failure: err_set(msg) and kept for the next nn_sync. */
void nn_cuda_fail(NnCtx *ctx, const char *msg);

#endif
