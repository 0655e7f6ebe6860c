/* strlist.h - a growable list of strings the list owns.
 *
 * Promise: strlist_push() takes ownership of s whatever happens: on success it is in the list, on
 * failure (NULL s from a failed strdup, or no memory to grow) it is freed and err_set() says
 * "out of memory". strlist_free() frees every string and the list. */
#ifndef AUDIOCNN_STRLIST_H
#define AUDIOCNN_STRLIST_H

#include <stddef.h>

typedef struct StrList {
    char **v;
    size_t n, cap;
} StrList;

int strlist_push(StrList *l, char *s);
void strlist_free(StrList *l);

#endif
