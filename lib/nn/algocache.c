#include "nn/algocache.h"

#include "core/error.h"
#include "nn/conv2d.h"

#include <stdlib.h>
#include <string.h>

void algocache_init(NnAlgoCache *c) { memset(c, 0, sizeof *c); }

void algocache_free(NnAlgoCache *c) {
    free(c->e);
    memset(c, 0, sizeof *c);
}

/* Keys are all int32 fields without padding, so memcmp compares them field by field. */
static int same(const AlgoKey *a, const AlgoKey *b) { return memcmp(a, b, sizeof *a) == 0; }

const AlgoEntry *algocache_find(NnAlgoCache *c, const AlgoKey *k) {
    for (int i = 0; i < c->n; i++)
        if (same(&c->e[i].key, k)) {
            c->hits++;
            return &c->e[i];
        }
    c->misses++;
    return NULL;
}

int algocache_put(NnAlgoCache *c, const AlgoEntry *e) {
    for (int i = 0; i < c->n; i++)
        if (same(&c->e[i].key, &e->key)) {
            c->e[i] = *e;
            return 0;
        }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        AlgoEntry *ne = realloc(c->e, (size_t)cap * sizeof *ne);
        if (!ne) {
            err_set("out of memory for the algorithm cache");
            return -1;
        }
        c->e = ne;
        c->cap = cap;
    }
    c->e[c->n++] = *e;
    return 0;
}

AlgoKey algocache_conv_key(const NnCtx *ctx, const Conv2dShape *s, AlgoPass pass) {
    AlgoKey k;
    memset(&k, 0, sizeof k);
    k.pass = pass, k.n = s->N, k.c = s->C, k.h = s->H, k.w = s->W, k.k = s->K, k.kh = s->KH, k.kw = s->KW;
    k.stride_h = s->stride_h, k.stride_w = s->stride_w, k.pad_h = s->pad_h, k.pad_w = s->pad_w;
    k.dil_h = s->dil_h, k.dil_w = s->dil_w, k.groups = s->groups;
    k.dtype = ctx->amp ? (int32_t)ctx->amp : ctx->tf32 ? ALGO_TF32 : ALGO_FP32;
    k.deterministic = ctx->deterministic;
    return k;
}
