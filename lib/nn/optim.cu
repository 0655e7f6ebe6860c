/* optim.cu - the fused AdamW/SGD step on device memory: one kernel around kernels.h's kb_optim_step
 * (one block per chunk of an entry), the per-entry scalars computed on the host by optim_prepare_step
 * (as optim_step does) and copied with the launch. tests/unit/test_kernels.c runs the body on the CPU
 * over the same grid against optim_step. */
#include "nn/cuda_impl.cuh"
#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    NnOptChunk *chunks; /* device */
    int64_t nchunks;
    NnOptStep *es;      /* device, (n) */
    unsigned char *upd; /* host, (n): optim_updates() of each entry when the chunks were made */
} OptimCuda;

/* 1 when the chunk table still covers exactly the optimised entries: fine-tuning unfreezes the backbone
 * (cnntrain --unfreeze-at) between steps, and the chunks must follow. */
static int chunks_current(const OptimCuda *oc, const ParamTable *t) {
    for (int i = 0; i < t->n; i++)
        if (oc->upd[i] != (unsigned char)optim_updates(&t->e[i])) return 0;
    return 1;
}

__global__ void k_optim_step(NnOptConsts c, const NnOptChunk *chunks, int64_t nchunks, const NnOptStep *es, float *p,
                             const float *g, float *m, float *v) {
    kb_optim_step(NN_GRID_HERE, c, chunks, nchunks, es, p, g, m, v);
}

__global__ void k_clip_sumsq(int64_t total, const int64_t *ent, int64_t nent, const float *grad, double *blocks) {
    kb_clip_sumsq(NN_GRID_HERE, total, ent, nent, grad, blocks);
}
__global__ void k_clip_scale(const NnOptChunk *chunks, int64_t nchunks, float coef, float *grad) {
    kb_clip_scale(NN_GRID_HERE, chunks, nchunks, coef, grad);
}

/* The table's optimised (offset, numel) pairs and its chunks, built on the host and copied into the device
 * workspace with room for the block sums after them: [ent | chunks | blocks]. Returns the workspace, or
 * NULL with err_set(). */
static char *clip_tables(NnCtx *ctx, const ParamTable *t, int64_t *nent, int64_t *nch, int64_t nb, size_t *off_ch,
                         size_t *off_bl) {
    int64_t ne = 0;
    for (int i = 0; i < t->n; i++) ne += optim_updates(&t->e[i]);
    NnOptChunk *ch = optim_chunks(t, nch);
    int64_t *ent = (int64_t *)malloc((size_t)(ne ? ne : 1) * 2 * sizeof *ent);
    char *dev = NULL;
    if (ch && ent) {
        int64_t k = 0;
        for (int i = 0; i < t->n; i++)
            if (optim_updates(&t->e[i])) ent[2 * k] = (int64_t)t->e[i].offset, ent[2 * k + 1] = (int64_t)t->e[i].numel, k++;
        *off_ch = ((size_t)ne * 2 * sizeof *ent + 255) & ~(size_t)255;
        *off_bl = (*off_ch + (size_t)*nch * sizeof *ch + 255) & ~(size_t)255;
        dev = (char *)nn_cuda_work(ctx, *off_bl + (size_t)(nb ? nb : 1) * sizeof(double));
        if (dev && (cudaMemcpyAsync(dev, ent, (size_t)ne * 2 * sizeof *ent, cudaMemcpyHostToDevice, ctx->cuda->stream) != cudaSuccess ||
                    cudaMemcpyAsync(dev + *off_ch, ch, (size_t)*nch * sizeof *ch, cudaMemcpyHostToDevice, ctx->cuda->stream) != cudaSuccess ||
                    cudaStreamSynchronize(ctx->cuda->stream) != cudaSuccess)) {
            err_set("CUDA: clip_grad_norm's tables could not be copied");
            dev = NULL;
        }
    } else {
        err_set("out of memory");
    }
    *nent = ne;
    free(ch);
    free(ent);
    return dev;
}

extern "C" float clip_grad_norm_cuda(NnCtx *ctx, ParamTable *t, float max_norm) {
    int64_t nb = (int64_t)((t->total + NN_CLIP_BLOCK - 1) / NN_CLIP_BLOCK), nent = 0, nch = 0;
    size_t off_ch = 0, off_bl = 0;
    char *dev = clip_tables(ctx, t, &nent, &nch, nb, &off_ch, &off_bl);
    double *blocks = (double *)malloc((size_t)(nb ? nb : 1) * sizeof(double));
    if (!dev || !blocks) {
        free(blocks);
        if (dev) err_set("out of memory");
        return -1.0f;
    }
    double *dblocks = (double *)(dev + off_bl);
    if (nb > 0) {
        k_clip_sumsq<<<(unsigned)nn_grid_1d(nb), NN_BLOCK, 0, ctx->cuda->stream>>>((int64_t)t->total, (const int64_t *)dev,
                                                                                    nent, t->grad, dblocks);
        if (nn_cuda_launched(ctx, "clip_grad_norm sums") < 0 ||
            cudaMemcpyAsync(blocks, dblocks, (size_t)nb * sizeof(double), cudaMemcpyDeviceToHost, ctx->cuda->stream) != cudaSuccess ||
            cudaStreamSynchronize(ctx->cuda->stream) != cudaSuccess) {
            free(blocks);
            err_set("CUDA: clip_grad_norm's sums failed");
            return -1.0f;
        }
    }
    double sum = 0;
    for (int64_t b = 0; b < nb; b++) sum += blocks[b];
    free(blocks);
    float total = (float)sqrt(sum);
    float coef = max_norm / (total + 1e-6f);
    if (!(coef >= 1.0f) && nch > 0) {
        unsigned grid = (unsigned)(nch < 65535 ? nch : 65535);
        k_clip_scale<<<grid, NN_BLOCK, 0, ctx->cuda->stream>>>((const NnOptChunk *)(dev + off_ch), nch, coef, t->grad);
        if (nn_cuda_launched(ctx, "clip_grad_norm scale") < 0) return -1.0f;
    }
    return total;
}

extern "C" void optim_cuda_release(Optim *o) {
    OptimCuda *oc = (OptimCuda *)o->cuda;
    if (!oc) return;
    cudaFree(oc->chunks);
    cudaFree(oc->es);
    free(oc->upd);
    free(oc);
    o->cuda = NULL;
}

extern "C" int optim_step_cuda(NnCtx *ctx, Optim *o, ParamTable *t) {
    cudaStream_t st = ctx->cuda->stream;
    if (o->cuda && !chunks_current((OptimCuda *)o->cuda, t)) {
        cudaStreamSynchronize(st); /* the previous step's kernel may still read the old table */
        optim_cuda_release(o);
    }
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
        if (!(oc->upd = (unsigned char *)malloc((size_t)(t->n ? t->n : 1)))) {
            free(host);
            optim_cuda_release(o);
            err_set("out of memory");
            return -1;
        }
        for (int i = 0; i < t->n; i++) oc->upd[i] = (unsigned char)optim_updates(&t->e[i]);
        cudaError_t e = cudaMalloc(&oc->chunks, (size_t)(n ? n : 1) * sizeof *host);
        if (e == cudaSuccess) e = cudaMalloc(&oc->es, (size_t)(t->n ? t->n : 1) * sizeof(NnOptStep));
        /* on the context's stream: a plain cudaMemcpy goes on the legacy stream, which a non-blocking stream
         * does not wait for; from pageable memory the call returns once host[] is staged, so it may be freed */
        if (e == cudaSuccess) e = cudaMemcpyAsync(oc->chunks, host, (size_t)n * sizeof *host, cudaMemcpyHostToDevice, st);
        free(host);
        if (e != cudaSuccess) {
            optim_cuda_release(o);
            err_set("CUDA: the optimiser's chunk table: %s", cudaGetErrorString(e));
            return -1;
        }
    }
    OptimCuda *oc = (OptimCuda *)o->cuda;
    const NnOptStep *es = optim_prepare_step(o, t);
    /* es is pageable host memory, rewritten by the next step: such a copy returns once es is staged (CUDA's
     * documented behaviour for pageable host-to-device copies), so the host need not wait for the stream;
     * the next step's copy into oc->es is queued after this step's kernel, which reads it */
    NN_CU_CHECK(cudaMemcpyAsync(oc->es, es, (size_t)t->n * sizeof *es, cudaMemcpyHostToDevice, st));
    if (oc->nchunks == 0) return 0;
    unsigned grid = (unsigned)(oc->nchunks < 65535 ? oc->nchunks : 65535);
    k_optim_step<<<grid, NN_BLOCK, 0, st>>>(optim_consts(&o->cfg), oc->chunks, oc->nchunks, oc->es, t->data, t->grad,
                                            o->m, o->cfg.kind == OPTIM_ADAMW ? o->v : NULL);
    return nn_cuda_launched(ctx, "optim_step");
}
