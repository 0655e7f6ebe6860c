#include "nn/algocache.h"

#include "core/error.h"

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
