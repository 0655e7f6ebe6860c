#define _POSIX_C_SOURCE 200809L
#include "formats/manifest.h"

#include "core/error.h"
#include "formats/npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char MANIFEST_HEADER[] = "key\tnpy\tsource\tlabel\tindex\tgroup\tstart\tend\tshape\n";

int shape_parse(const char *s, int64_t *shape) {
    int nd = 0;
    const char *p = s;
    if (!*p) return -1;
    for (;;) {
        if (nd == TENSOR_MAX_DIMS || *p < '0' || *p > '9') return -1;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0) return -1;
        shape[nd++] = v;
        if (*end == 0) break;
        if (*end != 'x') return -1;
        p = end + 1;
    }
    return nd;
}

static int parse_double(const char *s, double *v) {
    if (!*s) { *v = 0; return 0; }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return (*end || errno) ? -1 : 0;
}

int manifest_read(const char *path, Manifest *m) {
    memset(m, 0, sizeof *m);
    if (tsv_read(path, &m->tsv) < 0) return -1;
    Tsv *t = &m->tsv;
    int c_key = tsv_col(t, "key"), c_npy = tsv_col(t, "npy"), c_shape = tsv_col(t, "shape");
    if (c_key < 0 || c_npy < 0 || c_shape < 0) {
        err_set("%s: not a manifest: the header needs columns key, npy and shape", t->name);
        goto fail;
    }
    int c_src = tsv_col(t, "source"), c_label = tsv_col(t, "label"), c_index = tsv_col(t, "index");
    int c_group = tsv_col(t, "group"), c_start = tsv_col(t, "start"), c_end = tsv_col(t, "end");
    m->n = t->nrows;
    m->rows = calloc(m->n ? m->n : 1, sizeof *m->rows);
    if (!m->rows) {
        err_set("%s: out of memory", t->name);
        goto fail;
    }
    for (size_t i = 0; i < m->n; i++) {
        char **f = t->rows[i];
        ManifestRow *r = &m->rows[i];
        r->key = f[c_key];
        r->npy = f[c_npy];
        r->source = c_src >= 0 ? f[c_src] : "";
        r->label = c_label >= 0 ? f[c_label] : "";
        r->group = c_group >= 0 ? f[c_group] : "";
        r->index = -1;
        if (c_index >= 0 && f[c_index][0]) {
            char *end;
            errno = 0;
            long long v = strtoll(f[c_index], &end, 10);
            if (*end || errno || v < -1) {
                err_set("%s: line %zu: bad class index '%s'", t->name, t->lineno[i], f[c_index]);
                goto fail;
            }
            r->index = v;
        }
        if ((c_start >= 0 && parse_double(f[c_start], &r->start) < 0) ||
            (c_end >= 0 && parse_double(f[c_end], &r->end) < 0)) {
            err_set("%s: line %zu: bad start/end time", t->name, t->lineno[i]);
            goto fail;
        }
        r->ndim = shape_parse(f[c_shape], r->shape);
        if (r->ndim < 0) {
            err_set("%s: line %zu: bad shape '%s' (expected e.g. 1x128x44)", t->name, t->lineno[i], f[c_shape]);
            goto fail;
        }
        if (!r->key[0] || !r->npy[0]) {
            err_set("%s: line %zu: empty key or npy field", t->name, t->lineno[i]);
            goto fail;
        }
    }
    return 0;
fail:
    manifest_free(m);
    return -1;
}

void manifest_free(Manifest *m) {
    free(m->rows);
    tsv_free(&m->tsv);
    memset(m, 0, sizeof *m);
}

int manifest_write_header(FILE *f) { return fputs(MANIFEST_HEADER, f) < 0 ? -1 : 0; }

int manifest_write_row(FILE *f, const ManifestRow *r) {
    const char *s[5] = {r->key, r->npy, r->source, r->label, r->group};
    for (int i = 0; i < 5; i++) {
        if (!s[i]) s[i] = "";
        if (!tsv_field_ok(s[i])) {
            err_set("'%s' contains a tab or newline and cannot go into a manifest", s[i]);
            return -1;
        }
    }
    char shape[160];
    shape_format(r->ndim, r->shape, shape, sizeof shape);
    if (fprintf(f, "%s\t%s\t%s\t%s\t%lld\t%s\t%.6f\t%.6f\t%s\n", s[0], s[1], s[2], s[3], (long long)r->index, s[4],
                r->start, r->end, shape) < 0) {
        err_set("write error: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void manifest_arrays_open(ManifestArrays *it, const Manifest *m) {
    memset(it, 0, sizeof *it);
    it->m = m;
}

static void close_current(ManifestArrays *it) {
    if (it->cur && it->cur != stdin) fclose(it->cur);
    it->cur = NULL;
    it->cur_name = NULL;
}

int manifest_arrays_next(ManifestArrays *it, int want, Tensor *t) {
    if (it->next >= it->m->n) return 0;
    const ManifestRow *r = &it->m->rows[it->next];
    const char *mname = it->m->tsv.name;
    size_t line = it->m->tsv.lineno[it->next];
    if (!it->cur_name || strcmp(it->cur_name, r->npy) != 0) {
        /* a file seen before and left means its rows are not contiguous */
        for (size_t j = 0; j < it->next; j++)
            if (strcmp(it->m->rows[j].npy, r->npy) == 0) {
                err_set("%s: line %zu: rows of '%s' are not contiguous", mname, line, r->npy);
                return -1;
            }
        close_current(it);
        if (strcmp(r->npy, "-") == 0) {
            it->cur = stdin;
        } else if (!(it->cur = fopen(r->npy, "rb"))) {
            err_set("%s: cannot open: %s (listed in %s line %zu)", r->npy, strerror(errno), mname, line);
            return -1;
        }
        it->cur_name = r->npy;
    }
    const char *name = strcmp(r->npy, "-") == 0 ? "<stdin>" : r->npy;
    int rc = npy_read(it->cur, name, want, t);
    if (rc == 0) {
        err_set("%s: ends before the array for key '%s' (%s line %zu)", name, r->key, mname, line);
        return -1;
    }
    if (rc < 0) return -1;
    int same = t->ndim == r->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == r->shape[d];
    if (!same) {
        char a[160], b[160];
        err_set("%s: array for key '%s' has shape %s but %s line %zu says %s", name, r->key,
                shape_format(t->ndim, t->shape, a, sizeof a), mname, line, shape_format(r->ndim, r->shape, b, sizeof b));
        tensor_free(t);
        return -1;
    }
    it->next++;
    return 1;
}

void manifest_arrays_close(ManifestArrays *it) { close_current(it); }
