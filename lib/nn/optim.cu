/* optim.cu - the fused AdamW/SGD step on device memory: one kernel around kernels.h's kb_optim_step
 * (one block per chunk of an entry), the per-entry scalars computed on the host by optim_prepare_step
 * (as optim_step does) and copied with the launch. tests/unit/test_kernels.c runs the body on the CPU
 * over the same grid against optim_step. */
#include "nn/cuda_impl.cuh"
#include "nn/optim.h"

#include <stdlib.h>

typedef struct {
    NnOptChunk *chunks; /* device */
    int64_t nchunks;
    NnOptStep *es;      /* device, (n) */
} OptimCuda;

__global__ void k_optim_step(NnOptConsts c, const NnOptChunk *chunks, int64_t nchunks, const NnOptStep *es, float *p,
                             const float *g, float *m, float *v) {
    kb_optim_step(NN_GRID_HERE, c, chunks, nchunks, es, p, g, m, v);
}

extern "C" void optim_cuda_release(Optim *o) {
    OptimCuda *oc = (OptimCuda *)o->cuda;
    if (!oc) return;
    cudaFree(oc->chunks);
    cudaFree(oc->es);
    free(oc);
    o->cuda = NULL;
}

extern "C" int optim_step_cuda(NnCtx *ctx, Optim *o, ParamTable *t) {
    cudaStream_t st = ctx->cuda->stream;
    if (!o->cuda) {
        int64_t n;
        NnOptChunk *host = optim_chunks(t, &n);
        if (!host) return -1;
        OptimCuda *oc = (OptimCuda *)calloc(1, sizeof *oc);
        if (!oc) {
            free(host);
            err_set("out of memory");
            return -1;
        }
        o->cuda = oc;
        oc->nchunks = n;
        cudaError_t e = cudaMalloc(&oc->chunks, (size_t)(n ? n : 1) * sizeof *host);
        if (e == cudaSuccess) e = cudaMalloc(&oc->es, (size_t)(t->n ? t->n : 1) * sizeof(NnOptStep));
        if (e == cudaSuccess) e = cudaMemcpy(oc->chunks, host, (size_t)n * sizeof *host, cudaMemcpyHostToDevice);
        free(host);
        if (e != cudaSuccess) {
            optim_cuda_release(o);
            err_set("CUDA: the optimiser's chunk table: %s", cudaGetErrorString(e));
            return -1;
        }
    }
    OptimCuda *oc = (OptimCuda *)o->cuda;
    const NnOptStep *es = optim_prepare_step(o, t);
    /* the host array is rewritten by the next step: copy synchronously with respect to the host */
    NN_CU_CHECK(cudaMemcpyAsync(oc->es, es, (size_t)t->n * sizeof *es, cudaMemcpyHostToDevice, st));
    NN_CU_CHECK(cudaStreamSynchronize(st));
    if (oc->nchunks == 0) return 0;
    unsigned grid = (unsigned)(oc->nchunks < 65535 ? oc->nchunks : 65535);
    k_optim_step<<<grid, NN_BLOCK, 0, st>>>(optim_consts(&o->cfg), oc->chunks, oc->nchunks, oc->es, t->data, t->grad,
                                            o->m, o->cfg.kind == OPTIM_ADAMW ? o->v : NULL);
    return nn_cuda_launched(ctx, "optim_step");
}
