/* Driver for tests/py/test_se.py: squeeze-and-excitation forward and backward on fixtures.
 *   se DIR SILU    reads DIR/{x,w1,b1,w2,b2,dy}.npy, writes DIR/c.{y,dx,dw1,db1,dw2,db2}.npy */
#include "core/error.h"
#include "nn/se.h"
#include "formats/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Tensor load(const char *dir, const char *name) {
    char p[4096];
    Tensor t;
    snprintf(p, sizeof p, "%s/%s.npy", dir, name);
    if (npy_load(p, DT_F32, &t) < 0) {
        fprintf(stderr, "se: error: %s\n", err_msg());
        exit(1);
    }
    return t;
}

static void save(const char *dir, const char *name, const float *v, int ndim, const int64_t *shape) {
    char p[4096];
    Tensor t;
    tensor_alloc(&t, DT_F32, ndim, shape);
    memcpy(t.data, v, sizeof(float) * (size_t)tensor_numel(&t));
    snprintf(p, sizeof p, "%s/c.%s.npy", dir, name);
    if (npy_save(p, &t) < 0) {
        fprintf(stderr, "se: error: %s\n", err_msg());
        exit(1);
    }
    tensor_free(&t);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const char *dir = argv[1];
    Tensor x = load(dir, "x"), w1 = load(dir, "w1"), b1 = load(dir, "b1"), w2 = load(dir, "w2"), b2 = load(dir, "b2"),
           dy = load(dir, "dy");
    SEShape s = {.N = (int)x.shape[0], .C = (int)x.shape[1], .H = (int)x.shape[2], .W = (int)x.shape[3],
                 .R = (int)w1.shape[0], .silu = atoi(argv[2])};
    size_t nx = (size_t)tensor_numel(&x), nc = (size_t)s.N * s.C, nr = (size_t)s.N * s.R;
    float *y = malloc(sizeof(float) * nx), *dx = malloc(sizeof(float) * nx), *pooled = malloc(sizeof(float) * nc),
          *h = malloc(sizeof(float) * nr), *a = malloc(sizeof(float) * nr), *sc = malloc(sizeof(float) * nc);
    float *dw1 = calloc((size_t)tensor_numel(&w1), sizeof(float)), *db1 = calloc((size_t)s.R, sizeof(float)),
          *dw2 = calloc((size_t)tensor_numel(&w2), sizeof(float)), *db2 = calloc((size_t)s.C, sizeof(float));
    NnCtx ctx;
    nn_ctx_init(&ctx, 2);
    se_forward(&ctx, &s, tensor_f32(&x), tensor_f32(&w1), tensor_f32(&b1), tensor_f32(&w2), tensor_f32(&b2), y, pooled,
               h, a, sc);
    if (se_backward(&ctx, &s, tensor_f32(&dy), tensor_f32(&x), tensor_f32(&w1), tensor_f32(&w2), pooled, h, a, sc, dx,
                    dw1, db1, dw2, db2) < 0)
        return 1;
    int64_t rs[1] = {s.R}, cs[1] = {s.C};
    save(dir, "y", y, x.ndim, x.shape);
    save(dir, "dx", dx, x.ndim, x.shape);
    save(dir, "dw1", dw1, w1.ndim, w1.shape);
    save(dir, "db1", db1, 1, rs);
    save(dir, "dw2", dw2, w2.ndim, w2.shape);
    save(dir, "db2", db2, 1, cs);
    nn_ctx_free(&ctx);
    free(y), free(dx), free(pooled), free(h), free(a), free(sc), free(dw1), free(db1), free(dw2), free(db2);
    tensor_free(&x), tensor_free(&w1), tensor_free(&b1), tensor_free(&w2), tensor_free(&b2), tensor_free(&dy);
    return 0;
}
