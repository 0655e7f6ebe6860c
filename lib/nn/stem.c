#include "nn/stem.h"

#include "nn/activation.h"

#include <string.h>

/* The loops convbn.c ran before the unit became device-agnostic, unchanged (their bits are what the
 * whole-model tests pin down); kernels.h's bodies repeat their operations. */

void stem_weight_sum(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *w, float *wsum, float *wm) {
    NN_DISPATCH_CUDA_VOID(ctx, stem_weight_sum_cuda(ctx, K, KK, s, w, wsum, wm));
    size_t k = (size_t)K, kk = (size_t)KK;
    const float *a = s->inv_std, *b = s->mean_std;
    for (size_t o = 0; o < k; o++)
        for (size_t i = 0; i < kk; i++) {
            float w0 = w[(o * 3 + 0) * kk + i], w1 = w[(o * 3 + 1) * kk + i], w2 = w[(o * 3 + 2) * kk + i];
            if (!s->norm) {
                wsum[o * kk + i] = (w0 + w1) + w2;
                continue;
            }
            wsum[o * kk + i] = (w0 * a[0] + w1 * a[1]) + w2 * a[2];
            wm[o * kk + i] = (w0 * b[0] + w1 * b[1]) + w2 * b[2];
        }
}

void stem_weight_grad(NnCtx *ctx, int K, int KK, const NnStemNorm *s, const float *dwsum, const float *dwm, float *dw) {
    NN_DISPATCH_CUDA_VOID(ctx, stem_weight_grad_cuda(ctx, K, KK, s, dwsum, dwm, dw));
    size_t k = (size_t)K, kk = (size_t)KK;
    const float *a = s->inv_std, *b = s->mean_std;
    if (!s->norm) {
        for (size_t o = 0; o < k; o++)
            for (int c = 0; c < 3; c++)
                for (size_t i = 0; i < kk; i++) dw[(o * 3 + c) * kk + i] += dwsum[o * kk + i];
        return;
    }
    for (size_t o = 0; o < k; o++)
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < kk; i++) dw[(o * 3 + c) * kk + i] += dwsum[o * kk + i] * a[c] - dwm[o * kk + i] * b[c];
}

typedef struct {
    int64_t per;
    const float *c;
    float *y;
} SubArgs;

/* images [p0, p1): y[img] -= c */
CPU_CLONES static void sub_images(void *arg, int64_t p0, int64_t p1) {
    const SubArgs *a = arg;
    for (int64_t p = p0; p < p1; p++) {
        float *y = a->y + p * a->per;
        for (int64_t i = 0; i < a->per; i++) y[i] = y[i] - a->c[i];
    }
}

void stem_sub_bcast(NnCtx *ctx, int64_t n, int64_t per, const float *c, float *y) {
    NN_DISPATCH_CUDA_VOID(ctx, stem_sub_bcast_cuda(ctx, n, per, c, y));
    SubArgs a = {per, c, y};
    nn_parallel_for(ctx, n, sub_images, &a);
}

void stem_batch_sum(NnCtx *ctx, int64_t n, int64_t per, const float *x, float *y) {
    NN_DISPATCH_CUDA_VOID(ctx, stem_batch_sum_cuda(ctx, n, per, x, y));
    memcpy(y, x, sizeof(float) * (size_t)per);
    for (int64_t img = 1; img < n; img++) grad_accumulate(ctx, (size_t)per, x + img * per, y);
}

void stem_fill(NnCtx *ctx, size_t n, float v, float *y) {
    NN_DISPATCH_CUDA_VOID(ctx, stem_fill_cuda(ctx, n, v, y));
    if (v == 0.0f && !signbit(v)) {
        memset(y, 0, sizeof(float) * n);
        return;
    }
    for (size_t i = 0; i < n; i++) y[i] = v;
}
