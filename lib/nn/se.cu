/* se.cu - se.h's own passes on device memory: the plane scaling and the backward, whose composition is
 * se.c's (the linear layers, activations and global pooling through their CUDA twins) with its two loops
 * as the plane sums of kb_se_gate_dot (nn_plane_sums, eight threads per plane) and kb_se_dx_acc's kernel, and
 * its intermediates in the device
 * workspace (no layer called in between uses it). */
#include "nn/activation.h"
#include "nn/cuda_impl.cuh"
#include "nn/linear.h"
#include "nn/pool.h"
#include "nn/se.h"

__global__ void k_se_scale(int64_t planes, NnDiv hw, const float *x, const float *sc, float *y) {
    kb_se_scale(NN_GRID_HERE, planes, hw, x, sc, y);
}
__global__ void k_se_dx_acc(int64_t planes, NnDiv hw, const float *dy, const float *sc, float *dx) {
    kb_se_dx_acc(NN_GRID_HERE, planes, hw, dy, sc, dx);
}

extern "C" void se_scale_cuda(NnCtx *ctx, const SEShape *s, const float *x, const float *sc, float *y) {
    int64_t planes = (int64_t)s->N * s->C, hw = (int64_t)s->H * s->W;
    if (!planes || !hw) return;
    k_se_scale<<<(unsigned)nn_grid_1d(planes * hw), NN_BLOCK, 0, ctx->cuda->stream>>>(planes, nn_div_for(hw, planes * hw), x, sc, y);
    nn_cuda_launched(ctx, "se scale");
}

extern "C" int se_backward_cuda(NnCtx *ctx, const SEShape *s, const float *dy, const float *x, const float *w1,
                                const float *w2, const float *pooled, const float *h, const float *a, const float *sc,
                                float *dx, float *dw1, float *db1, float *dw2, float *db2) {
    size_t nc = (size_t)s->N * s->C, nr = (size_t)s->N * s->R;
    int64_t hw = (int64_t)s->H * s->W;
    /* the gate gradient's eight lane sums per plane first (doubles, aligned), then the floats */
    double *part = (double *)nn_cuda_work(ctx, sizeof(double) * 8 * nc + sizeof(float) * (2 * nc + 2 * nr));
    if (!part) return -1;
    float *ws = (float *)(part + 8 * nc);
    float *ds = ws, *dpool = ws + nc, *da = ws + 2 * nc, *dh = ws + 2 * nc + nr;
    if (nn_plane_sums(ctx, (int64_t)nc, hw, dy, x, 0, part, ds) < 0) return -1; /* kb_se_gate_dot's sums */
    sigmoid_backward_cuda(ctx, nc, ds, sc, ds);
    LinearShape l1, l2;
    memset(&l1, 0, sizeof l1);
    memset(&l2, 0, sizeof l2);
    l1.N = l2.N = s->N;
    l1.in = l2.out = s->C;
    l1.out = l2.in = s->R;
    linear_backward_cuda(ctx, &l2, a, w2, ds, da, dw2, db2);
    if (s->silu) silu_backward_cuda(ctx, nr, da, h, dh);
    else relu_backward_cuda(ctx, nr, da, a, dh);
    linear_backward_cuda(ctx, &l1, pooled, w1, dh, dpool, dw1, db1);
    GlobalPoolShape gp = {s->N, s->C, s->H, s->W};
    global_avgpool_backward_cuda(ctx, &gp, dpool, dx);
    k_se_dx_acc<<<(unsigned)nn_grid_1d((int64_t)nc * hw), NN_BLOCK, 0, ctx->cuda->stream>>>((int64_t)nc, nn_div_for(hw, (int64_t)nc * hw),
                                                                                            dy, sc, dx);
    return nn_cuda_launched(ctx, "se dx");
}
