#define _POSIX_C_SOURCE 200809L
#include "formats/tsv.h"

#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *read_whole_file(const char *path, size_t *len) {
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = !buf || ferror(f);
    int saved = errno;
    if (!is_stdin) fclose(f);
    if (bad) {
        err_set("%s: %s", is_stdin ? "<stdin>" : path, buf ? strerror(saved) : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static int split_fields(char *line, char ***out) {
    int n = 1;
    for (char *p = line; *p; p++) n += *p == '\t';
    char **f = malloc(sizeof(char *) * (size_t)n);
    if (!f) return -1;
    int k = 0;
    f[k++] = line;
    for (char *p = line; *p; p++)
        if (*p == '\t') { *p = 0; f[k++] = p + 1; }
    *out = f;
    return n;
}

static int tsv_parse_owned(char *buf, size_t len, const char *name, Tsv *t) {
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->name = strdup(name);
    if (memchr(buf, 0, len)) {
        err_set("%s: not a text file (contains NUL bytes)", name);
        tsv_free(t);
        return -1;
    }
    size_t cap = 0, lineno = 0;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line = p;
        if (nl) { *nl = 0; p = nl + 1; } else p = end;
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        if (ll == 0) continue;
        char **fields;
        int nf = split_fields(line, &fields);
        if (nf < 0) goto oom;
        if (!t->header) {
            t->header = fields;
            t->ncols = nf;
            continue;
        }
        if (nf != t->ncols) {
            err_set("%s: line %zu has %d fields, the header has %d", name, lineno, nf, t->ncols);
            free(fields);
            tsv_free(t);
            return -1;
        }
        if (t->nrows == cap) {
            cap = cap ? cap * 2 : 64;
            char ***nr = realloc(t->rows, sizeof(char **) * cap);
            size_t *nl2 = realloc(t->lineno, sizeof(size_t) * cap);
            if (nr) t->rows = nr;
            if (nl2) t->lineno = nl2;
            if (!nr || !nl2) { free(fields); goto oom; }
        }
        t->rows[t->nrows] = fields;
        t->lineno[t->nrows++] = lineno;
    }
    if (!t->header) {
        err_set("%s: empty table (no header line)", name);
        tsv_free(t);
        return -1;
    }
    return 0;
oom:
    err_set("%s: out of memory", name);
    tsv_free(t);
    return -1;
}

int tsv_parse(const char *text, size_t len, const char *name, Tsv *t) {
    char *buf = malloc(len + 1);
    if (!buf) {
        err_set("%s: out of memory", name);
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = 0;
    return tsv_parse_owned(buf, len, name, t);
}

int tsv_read(const char *path, Tsv *t) {
    size_t len;
    char *buf = read_whole_file(path, &len);
    if (!buf) return -1;
    return tsv_parse_owned(buf, len, strcmp(path, "-") == 0 ? "<stdin>" : path, t);
}

void tsv_free(Tsv *t) {
    for (size_t i = 0; i < t->nrows; i++) free(t->rows[i]);
    free(t->rows);
    free(t->lineno);
    free(t->header);
    free(t->buf);
    free(t->name);
    memset(t, 0, sizeof *t);
}

int tsv_col(const Tsv *t, const char *name) {
    for (int j = 0; j < t->ncols; j++)
        if (strcmp(t->header[j], name) == 0) return j;
    return -1;
}

int tsv_field_ok(const char *s) { return !strpbrk(s, "\t\r\n"); }
