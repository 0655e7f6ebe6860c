/* pool.cu - max pool and the global average pool on device memory: kernels around kernels.h's bodies
 * (tests/unit/test_kernels.c runs them on the CPU over the same grid against pool.c); the plane sums
 * (nn_plane_sums) that the global pool, conv2d.cu's plane means and se.cu's gate gradient share. */
#include "nn/cuda_impl.cuh"
#include "nn/pool.h"

__global__ void k_maxpool_fwd(NnPoolGeom s, const float *x, float *y, int32_t *argmax) {
    kb_maxpool_fwd(NN_GRID_HERE, s, x, y, argmax);
}
__global__ void k_maxpool_bwd(NnPoolGeom s, const float *dy, const int32_t *argmax, float *dx) {
    kb_maxpool_bwd(NN_GRID_HERE, s, dy, argmax, dx);
}
__global__ void k_avgpool_fwd(NnPoolGeom s, int exclude_pad, const float *x, float *y) {
    kb_avgpool_fwd(NN_GRID_HERE, s, exclude_pad, x, y);
}
__global__ void k_avgpool_bwd(NnPoolGeom s, int exclude_pad, const float *dy, float *dx) {
    kb_avgpool_bwd(NN_GRID_HERE, s, exclude_pad, dy, dx);
}
__global__ void k_plane_lanes(int64_t planes, int64_t hw, const float *a, const float *b, double *part) {
    kb_plane_lanes(NN_GRID_HERE, planes, hw, a, b, part);
}
__global__ void k_plane_lanes_finish(int64_t planes, int64_t hw, const float *a, const float *b, const double *part, int mean,
                                     float *y) {
    kb_plane_lanes_finish(NN_GRID_HERE, planes, hw, a, b, part, mean, y);
}
__global__ void k_gap_bwd(int64_t planes, NnDiv hw, const float *dy, float *dx) { kb_gap_bwd(NN_GRID_HERE, planes, hw, dy, dx); }

int nn_plane_sums(NnCtx *ctx, int64_t planes, int64_t hw, const float *a, const float *b, int mean, double *part, float *y) {
    cudaStream_t st = ctx->cuda->stream;
    if (!part && !(part = (double *)nn_cuda_work(ctx, sizeof(double) * (size_t)(planes ? planes * 8 : 1)))) return -1;
    k_plane_lanes<<<(unsigned)nn_grid_1d(planes * 8), NN_BLOCK, 0, st>>>(planes, hw, a, b, part);
    if (nn_cuda_launched(ctx, "plane sums (lanes)") < 0) return -1;
    k_plane_lanes_finish<<<(unsigned)nn_grid_1d(planes), NN_BLOCK, 0, st>>>(planes, hw, a, b, part, mean, y);
    return nn_cuda_launched(ctx, "plane sums");
}

extern "C" {
void maxpool2d_forward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y, int32_t *argmax) {
    NnPoolGeom g = pool2d_geom(s);
    k_maxpool_fwd<<<(unsigned)nn_grid_1d(g.planes * s->OH * s->OW), NN_BLOCK, 0, ctx->cuda->stream>>>(g, x, y, argmax);
    nn_cuda_launched(ctx, "maxpool2d_forward");
}
void maxpool2d_backward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *dy, const int32_t *argmax, float *dx) {
    NnPoolGeom g = pool2d_geom(s);
    k_maxpool_bwd<<<(unsigned)nn_grid_1d(g.planes * s->H * s->W), NN_BLOCK, 0, ctx->cuda->stream>>>(g, dy, argmax, dx);
    nn_cuda_launched(ctx, "maxpool2d_backward");
}
void avgpool2d_forward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *x, float *y) {
    NnPoolGeom g = pool2d_geom(s);
    k_avgpool_fwd<<<(unsigned)nn_grid_1d(g.planes * s->OH * s->OW), NN_BLOCK, 0, ctx->cuda->stream>>>(g, s->exclude_pad, x, y);
    nn_cuda_launched(ctx, "avgpool2d_forward");
}
void avgpool2d_backward_cuda(NnCtx *ctx, const Pool2dShape *s, const float *dy, float *dx) {
    NnPoolGeom g = pool2d_geom(s);
    k_avgpool_bwd<<<(unsigned)nn_grid_1d(g.planes * s->H * s->W), NN_BLOCK, 0, ctx->cuda->stream>>>(g, s->exclude_pad, dy, dx);
    nn_cuda_launched(ctx, "avgpool2d_backward");
}
void global_avgpool_forward_cuda(NnCtx *ctx, const GlobalPoolShape *s, const float *x, float *y) {
    int64_t planes = (int64_t)s->N * s->C, hw = (int64_t)s->H * s->W;
    if (nn_plane_sums(ctx, planes, hw, x, NULL, 1, NULL, y) < 0) nn_cuda_fail(ctx, err_msg());
}
void global_avgpool_backward_cuda(NnCtx *ctx, const GlobalPoolShape *s, const float *dy, float *dx) {
    int64_t planes = (int64_t)s->N * s->C, hw = (int64_t)s->H * s->W;
    k_gap_bwd<<<(unsigned)nn_grid_1d(planes * hw), NN_BLOCK, 0, ctx->cuda->stream>>>(planes, nn_div_for(hw, planes * hw), dy, dx);
    nn_cuda_launched(ctx, "global_avgpool_backward");
}
}
