#include "nn/params.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

void params_init(ParamTable *t) { memset(t, 0, sizeof *t); }

int params_add(ParamTable *t, const char *name, ParamKind kind, int ndim, const int64_t *shape) {
    if (t->data) {
        err_set("parameter '%s' added after allocation", name);
        return -1;
    }
    if (strlen(name) >= PARAM_NAME_MAX || ndim < 0 || ndim > PARAM_MAX_DIMS) {
        err_set("bad parameter '%s'", name);
        return -1;
    }
    if (params_find(t, name) >= 0) {
        err_set("duplicate parameter '%s'", name);
        return -1;
    }
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || shape[d] > (1 << 30)) {
            err_set("bad shape for parameter '%s'", name);
            return -1;
        }
        numel *= (size_t)shape[d];
    }
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        ParamEntry *ne = realloc(t->e, sizeof *ne * (size_t)cap);
        if (!ne) {
            err_set("out of memory");
            return -1;
        }
        t->e = ne;
        t->cap = cap;
    }
    ParamEntry *p = &t->e[t->n];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->kind = kind;
    p->ndim = ndim;
    if (ndim > 0) memcpy(p->shape, shape, sizeof(int64_t) * (size_t)ndim);
    /* keep every tensor 16-float (64-byte) aligned inside the block, for SIMD kernels */
    p->offset = (t->total + 15) & ~(size_t)15;
    p->numel = numel;
    t->total = p->offset + numel;
    return t->n++;
}

int params_alloc(ParamTable *t) {
    size_t bytes = (t->total ? t->total : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    /* the gradients come zeroed by calloc: fresh pages the kernel maps only when a backward writes them,
     * so that inference (cnneval) never holds a second copy of the weights */
    if (posix_memalign((void **)&t->data, 64, bytes) != 0 || !(t->grad = calloc(bytes / sizeof(float), sizeof(float)))) {
        free(t->data);
        t->data = NULL;
        err_set("out of memory for %zu parameters", t->total);
        return -1;
    }
    memset(t->data, 0, bytes);
    return 0;
}

void params_free(ParamTable *t) {
    free(t->e);
    nn_free_on(t->device, t->data);
    nn_free_on(t->device, t->grad);
    memset(t, 0, sizeof *t);
}

int params_to_device(ParamTable *t, NnCtx *ctx) {
    if (ctx->device == NN_CPU || t->device == ctx->device) return 0;
    size_t bytes = (t->total ? t->total : 1) * sizeof(float);
    float *d = nn_alloc(ctx, bytes), *g = d ? nn_alloc(ctx, bytes) : NULL; /* nn_alloc zeroes g */
    if (!d || !g || nn_copy_to_device(ctx, d, t->data, t->total * sizeof(float)) < 0) {
        nn_free(ctx, d);
        nn_free(ctx, g);
        return -1;
    }
    free(t->data);
    free(t->grad);
    t->data = d;
    t->grad = g;
    t->device = ctx->device;
    return 0;
}

int params_find(const ParamTable *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->e[i].name, name) == 0) return i;
    return -1;
}

void params_zero_grad(ParamTable *t) {
    if (t->grad && t->device == NN_CPU) memset(t->grad, 0, t->total * sizeof(float));
}

size_t params_count_trainable(const ParamTable *t) {
    size_t n = 0;
    for (int i = 0; i < t->n; i++)
        if (t->e[i].kind == PARAM_WEIGHT) n += t->e[i].numel;
    return n;
}
