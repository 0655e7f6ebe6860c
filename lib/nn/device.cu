/* device.cu - the CUDA half of device.h and nn.h's device layer: the GPU probe, NnCtx's GPU state (stream,
 * cuBLAS and cuDNN handles, workspace, algorithm cache) and device memory. */
#include "nn/cuda_impl.cuh"
#include "nn/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" void nn_gpu_probe(NnGpuList *l) {
    memset(l, 0, sizeof *l);
    l->built = 1;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(l->why, sizeof l->why, "no usable CUDA GPU (%s)", cudaGetErrorString(e));
        cudaGetLastError(); /* clear it */
        return;
    }
    if (n == 0) {
        snprintf(l->why, sizeof l->why, "no CUDA GPU found");
        return;
    }
    for (int i = 0; i < n && l->count < NN_MAX_GPUS; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            cudaGetLastError();
            break;
        }
        NnGpuInfo *g = &l->gpu[l->count++];
        memcpy(g->name, p.name, sizeof g->name - 1); /* p.name is 256 bytes; names are short */
        g->name[sizeof g->name - 1] = 0;
        g->mem_total = p.totalGlobalMem;
        g->cc_major = p.major;
        g->cc_minor = p.minor;
    }
}

/* The GPU engine runs whole networks: the trainer, cnneval and the scanner are device-resident (issue 16).
 * Which architectures may run there is the model's own flag (Model.cuda_ready), asked by the tools. */
extern "C" const char *nn_cuda_engine_status(void) { return NULL; }

extern "C" size_t nn_cuda_algo_entries(const NnCtx *ctx) { return ctx->cuda ? (size_t)ctx->cuda->algos.n : 0; }

extern "C" int nn_cuda_ctx_init(NnCtx *ctx, int index) {
    NnCuda *c = (NnCuda *)calloc(1, sizeof *c);
    if (!c) {
        err_set("out of memory");
        return -1;
    }
    c->index = index;
    ctx->cuda = c; /* nn_cuda_ctx_free undoes a partial init */
    NN_CU_CHECK(cudaSetDevice(index));
    NN_CU_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    NN_CUBLAS_CHECK(cublasCreate(&c->cublas));
    NN_CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
    /* fp32 GEMMs in full fp32 (no TF32) unless a caller asks: the 1e-4 parity with the CPU engine */
    NN_CUBLAS_CHECK(cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH));
    NN_CUDNN_CHECK(cudnnCreate(&c->cudnn));
    NN_CUDNN_CHECK(cudnnSetStream(c->cudnn, c->stream));
    algocache_init(&c->algos);
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) c->base_used = total_b - free_b;
    return 0;
}

extern "C" size_t nn_cuda_mem_used(NnCtx *ctx) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    size_t used = total_b - free_b;
    return used > ctx->cuda->base_used ? used - ctx->cuda->base_used : 0;
}

extern "C" void nn_cuda_ctx_free(NnCtx *ctx) {
    NnCuda *c = ctx->cuda;
    if (!c) return;
    cudaSetDevice(c->index);
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->work) cudaFree(c->work);
    if (c->amp) cudaFree(c->amp);
    if (c->cudnn) cudnnDestroy(c->cudnn);
    if (c->cublas) cublasDestroy(c->cublas);
    if (c->stream) cudaStreamDestroy(c->stream);
    algocache_free(&c->algos);
    free(c);
    ctx->cuda = NULL;
}

extern "C" void *nn_cuda_alloc(NnCtx *ctx, size_t bytes) {
    void *p = NULL;
    size_t n = ((bytes ? bytes : 1) + 255) & ~(size_t)255;
    cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        err_set("out of GPU memory (%zu bytes): %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    e = cudaMemsetAsync(p, 0, n, ctx->cuda->stream);
    if (e != cudaSuccess) {
        cudaFree(p);
        err_set("CUDA: cudaMemsetAsync: %s", cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

extern "C" void nn_cuda_free(void *p) {
    cudaFree(p); /* waits for the device: no kernel still reads p */
}

extern "C" int nn_cuda_copy(NnCtx *ctx, void *dst, const void *src, size_t bytes, int to_device) {
    if (!bytes) return 0;
    NN_CU_CHECK(cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost,
                                ctx->cuda->stream));
    NN_CU_CHECK(cudaStreamSynchronize(ctx->cuda->stream));
    return 0;
}

extern "C" int nn_cuda_zero(NnCtx *ctx, void *p, size_t bytes) {
    if (!bytes) return 0;
    NN_CU_CHECK(cudaMemsetAsync(p, 0, bytes, ctx->cuda->stream));
    return 0;
}

extern "C" int nn_cuda_sync(NnCtx *ctx) {
    NN_CU_CHECK(cudaStreamSynchronize(ctx->cuda->stream));
    if (ctx->cuda->err[0]) {
        err_set("%s", ctx->cuda->err);
        ctx->cuda->err[0] = 0;
        return -1;
    }
    return 0;
}

void nn_cuda_fail(NnCtx *ctx, const char *msg) {
    char copy[sizeof ctx->cuda->err];
    snprintf(copy, sizeof copy, "%s", msg); /* msg may be err_msg()'s own buffer, which err_set rewrites */
    err_set("%s", copy);
    if (!ctx->cuda->err[0]) snprintf(ctx->cuda->err, sizeof ctx->cuda->err, "%s", copy);
}

extern "C" int nn_cuda_missing_void(NnCtx *ctx, const char *layer) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s has no CUDA implementation yet (issue 16)", layer);
    nn_cuda_fail(ctx, msg);
    return -1;
}

void *nn_cuda_work(NnCtx *ctx, size_t bytes) {
    NnCuda *c = ctx->cuda;
    if (bytes <= c->work_len) return c->work;
    if (c->work) {
        cudaStreamSynchronize(c->stream);
        cudaFree(c->work);
    }
    c->work = NULL;
    c->work_len = 0;
    cudaError_t e = cudaMalloc(&c->work, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        c->work = NULL;
        err_set("out of GPU memory for a %zu-byte workspace", bytes);
        return NULL;
    }
    c->work_len = bytes;
    return c->work;
}

int nn_cuda_launched(NnCtx *ctx, const char *kernel) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        char msg[200];
        snprintf(msg, sizeof msg, "CUDA: kernel %s: %s", kernel, cudaGetErrorString(e));
        nn_cuda_fail(ctx, msg);
        return -1;
    }
    return 0;
}
