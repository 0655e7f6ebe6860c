#include "core/strlist.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

int strlist_push(StrList *l, char *s) {
    if (s && l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            free(s);
            s = NULL;
        } else {
            l->v = nv;
            l->cap = cap;
        }
    }
    if (!s) {
        err_set("out of memory");
        return -1;
    }
    l->v[l->n++] = s;
    return 0;
}

void strlist_free(StrList *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}
