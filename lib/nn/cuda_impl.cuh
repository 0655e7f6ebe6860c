/* cuda_impl.cuh - what the .cu files of lib/nn share (C++/CUDA only, never included by C): the GPU state
 * behind NnCtx.cuda, error checks that turn CUDA/cuBLAS/cuDNN failures into err_set() lines, and the
 * launch geometry of the element-wise kernels (the same geometry the CPU tests drive, nn/kernels.h). */
#ifndef AUDIOCNN_NN_CUDA_IMPL_CUH
#define AUDIOCNN_NN_CUDA_IMPL_CUH

#include "nn/algocache.h"
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
};

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
/* The last launch's error as err_set() and -1, else 0 (after every <<<...>>>). */
int nn_cuda_launched(const char *kernel);

#endif
