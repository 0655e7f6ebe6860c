#define _POSIX_C_SOURCE 200809L
#include "formats/weights.h"

#include "core/error.h"
#include "formats/pth.h"
#include "formats/safetensors.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- small helpers ----------------------------------------------------------------------------- */

/* A growable text; on allocation failure `bad` is set and later appends do nothing. */
typedef struct {
    char *s;
    size_t n, cap;
    int bad;
} Buf;

__attribute__((format(printf, 2, 3))) static void buf_printf(Buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k <= 0 || b->bad) return;
    size_t n = (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) { b->bad = 1; return; }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, tmp, n);
    b->n += n;
    b->s[b->n] = 0;
}

const char *wt_shown(const char *s, char *buf, size_t cap) {
    size_t n = strlen(s), k = 0, lim = cap - 4;
    for (; k < n && k < lim; k++) {
        unsigned char c = (unsigned char)s[k];
        buf[k] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (k < n) {
        while (k > 0 && ((unsigned char)buf[k] & 0xc0) == 0x80) k--; /* buf[k] would start the cut-off char */
        memcpy(buf + k, "...", 4);
    } else {
        buf[k] = 0;
    }
    return buf;
}

#define SHOWN(s, b) wt_shown((s), (b), sizeof(b))

void wt_shape_text(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* ---- names ------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int idx;
} NameIdx;

static int cmp_nameidx(const void *a, const void *b) {
    return strcmp(((const NameIdx *)a)->name, ((const NameIdx *)b)->name);
}

static const char *name_at(const void *v, size_t stride, size_t off, int i) {
    const char *p;
    memcpy(&p, (const char *)v + (size_t)i * stride + off, sizeof p);
    return p;
}

int wt_name_index(const void *v, size_t stride, size_t off, int n, int *by_name, int *dup) {
    NameIdx *ni = malloc(sizeof *ni * (n > 0 ? (size_t)n : 1));
    if (!ni) return -1;
    for (int i = 0; i < n; i++) ni[i] = (NameIdx){name_at(v, stride, off, i), i};
    qsort(ni, (size_t)(n > 0 ? n : 0), sizeof *ni, cmp_nameidx);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (i && strcmp(ni[i].name, ni[i - 1].name) == 0) {
            *dup = ni[i].idx;
            rc = 1;
            break;
        }
        if (by_name) by_name[i] = ni[i].idx;
    }
    free(ni);
    return rc;
}

int wt_name_find(const void *v, size_t stride, size_t off, const int *by_name, int n, const char *key) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(key, name_at(v, stride, off, by_name[mid]));
        if (c == 0) return by_name[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

/* ---- reading ----------------------------------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_LE 0
#else
#define HOST_LE 1
#endif

int wt_read(const WtSource *s, int i, void *out, int64_t n, int to_f32, int flags) {
    if (i < 0 || i >= s->n) {
        err_set("%s: no tensor number %d", s->file, i);
        return -1;
    }
    WtEntry e;
    s->entry(s->ctx, i, &e);
    if (st_check_read(s->file, e.name, e.dtype, e.numel, n, to_f32, flags) < 0) return -1;
    if (n == 0) return 0;
    size_t es = st_dtype_size(e.dtype);
    if (HOST_LE && ((to_f32 && e.dtype == ST_F32) || (!to_f32 && e.dtype == ST_I64)))
        return s->read(s->ctx, i, 0, n, out); /* the bytes are the values */
    unsigned char stack[16384], *buf = stack;
    size_t per = sizeof stack / es;
    if (e.whole) { /* a strided view: gathered in one piece */
        per = (size_t)n;
        if (!(buf = malloc((size_t)n * es))) {
            char nb[200];
            err_set("%s: tensor '%s': out of memory", s->file, wt_shown(e.name, nb, sizeof nb));
            return -1;
        }
    }
    int rc = 0;
    for (int64_t k0 = 0; rc == 0 && k0 < n; k0 += (int64_t)per) {
        size_t m = (size_t)(n - k0) < per ? (size_t)(n - k0) : per;
        rc = s->read(s->ctx, i, k0, (int64_t)m, buf) < 0 || st_decode(s->file, e.name, e.dtype, buf, m, out, k0, to_f32) < 0
                 ? -1
                 : 0;
    }
    if (buf != stack) free(buf);
    return rc;
}

int wt_read_tensor(const WtSource *s, int i, int want, Tensor *t) {
    memset(t, 0, sizeof *t);
    if (i < 0 || i >= s->n) {
        err_set("%s: no tensor number %d", s->file, i);
        return -1;
    }
    WtEntry e;
    s->entry(s->ctx, i, &e);
    DType to = want == ST_WANT_NATURAL ? (st_dtype_is_float(e.dtype) ? DT_F32 : DT_I64) : (DType)want;
    if (to != DT_F32 && to != DT_I64) {
        err_set("%s: bad dtype request %d", s->file, want);
        return -1;
    }
    if (to == DT_I64 && st_check_read(s->file, e.name, e.dtype, e.numel, e.numel, 0, 0) < 0) return -1;
    if (tensor_alloc(t, to, e.ndim, e.shape) < 0) {
        err_prefix(s->file);
        return -1;
    }
    int rc = wt_read(s, i, t->data, e.numel, to == DT_F32, ST_INT_OK);
    if (rc < 0) tensor_free(t);
    return rc;
}

/* ---- matching a source against a table --------------------------------------------------------- */

static int skipped(const StLoadOpts *o, const char *name) {
    for (int k = 0; k < o->nskip; k++)
        if (o->skip[k] && strncmp(name, o->skip[k], strlen(o->skip[k])) == 0) return 1;
    return 0;
}

enum { P_MISSING, P_UNEXPECTED, P_SHAPE, P_DTYPE, P_NKINDS };
static const char *const P_WHAT[P_NKINDS] = {"missing", "unexpected", "wrong shape", "wrong dtype"};

typedef struct {
    StrList item[P_NKINDS]; /* short texts, e.g. "fc.weight: file [10, 4], model [3, 4]" */
    int oom;
} Report;

__attribute__((format(printf, 3, 4))) static void report(Report *r, int kind, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (strlist_push(&r->item[kind], strdup(line)) < 0) r->oom = 1;
}

/* The one-line summary (lists cut to keep the line readable) and the full list onto problems. */
static int report_fail(const char *file, Report *r, StrList *problems) {
    Buf b = {0};
    size_t total = 0;
    for (int k = 0; k < P_NKINDS; k++) total += r->item[k].n;
    if (total == 0 && !r->oom) return 0;
    int first = 1;
    for (int k = 0; k < P_NKINDS; k++) {
        StrList *l = &r->item[k];
        if (!l->n) continue;
        buf_printf(&b, "%s%zu %s (", first ? "" : ", ", l->n, P_WHAT[k]);
        first = 0;
        for (size_t i = 0; i < l->n; i++) {
            if (b.n + strlen(l->v[i]) > 700 && i > 0) {
                buf_printf(&b, " and %zu more", l->n - i);
                break;
            }
            buf_printf(&b, "%s%s", i ? ", " : "", l->v[i]);
        }
        buf_printf(&b, ")");
    }
    if (r->oom || b.bad) err_set("%s: does not match the model (and out of memory listing how)", file);
    else err_set("%s: does not match the model: %s", file, b.s);
    if (problems) {
        for (int k = 0; k < P_NKINDS; k++)
            for (size_t i = 0; i < r->item[k].n; i++) {
                size_t len = strlen(P_WHAT[k]) + strlen(r->item[k].v[i]) + 3;
                char *s = malloc(len);
                if (s) snprintf(s, len, "%s: %s", P_WHAT[k], r->item[k].v[i]);
                strlist_push(problems, s);
            }
    }
    free(b.s);
    return -1;
}

int wt_load_params(const WtSource *s, ParamTable *t, const StLoadOpts *o, StrList *problems) {
    static const StLoadOpts strict = {NULL, 0, 0};
    if (!o) o = &strict;
    if (!t->data) {
        err_set("%s: the parameter table is not allocated", s->file);
        return -1;
    }
    int *src = malloc(sizeof *src * (t->n ? (size_t)t->n : 1)); /* file entry of each table entry, -1: skipped */
    char *used = calloc(s->n ? (size_t)s->n : 1, 1);
    Report r;
    memset(&r, 0, sizeof r);
    float *backup = NULL;
    int64_t *ibuf = NULL;
    int rc = -1;
    if (!src || !used) {
        err_set("%s: out of memory", s->file);
        goto out;
    }
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *p = &t->e[i];
        char nb[200], fs[200], ms[200];
        src[i] = -1;
        if (skipped(o, p->name)) continue;
        int j = s->find(s->ctx, p->name);
        wt_shape_text(p->ndim, p->shape, ms, sizeof ms);
        if (j < 0) {
            report(&r, P_MISSING, "%s (model %s)", SHOWN(p->name, nb), ms);
            continue;
        }
        used[j] = 1;
        WtEntry e;
        s->entry(s->ctx, j, &e);
        int bad = 0;
        if (p->kind == PARAM_COUNT ? e.dtype != ST_I64 : !st_dtype_is_float(e.dtype)) {
            report(&r, P_DTYPE, "%s: file %s, model needs %s", SHOWN(p->name, nb), st_dtype_name(e.dtype),
                   p->kind == PARAM_COUNT ? "I64" : "a float dtype (F32, F16, BF16, F64)");
            bad = 1;
        }
        int same = e.ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = e.shape[d] == p->shape[d];
        if (!same) {
            wt_shape_text(e.ndim, e.shape, fs, sizeof fs);
            report(&r, P_SHAPE, "%s: file %s, model %s", SHOWN(p->name, nb), fs, ms);
            bad = 1;
        }
        if (!bad) src[i] = j;
    }
    for (int j = 0; j < s->n; j++) {
        WtEntry e;
        s->entry(s->ctx, j, &e);
        if (used[j] || o->allow_unexpected || skipped(o, e.name)) continue;
        char nb[200], fs[200];
        wt_shape_text(e.ndim, e.shape, fs, sizeof fs);
        report(&r, P_UNEXPECTED, "%s (%s %s)", SHOWN(e.name, nb), st_dtype_name(e.dtype), fs);
    }
    if (report_fail(s->file, &r, problems) < 0) goto out;
    /* everything matches: load, keeping a copy to restore if a read fails half-way */
    size_t count_max = 0;
    for (int i = 0; i < t->n; i++)
        if (src[i] >= 0 && t->e[i].kind == PARAM_COUNT && t->e[i].numel > count_max) count_max = t->e[i].numel;
    backup = malloc(sizeof *backup * (t->total ? t->total : 1));
    ibuf = malloc(sizeof *ibuf * (count_max ? count_max : 1));
    if (!backup || !ibuf) {
        err_set("%s: out of memory loading %zu parameters", s->file, t->total);
        goto out;
    }
    memcpy(backup, t->data, sizeof *backup * t->total);
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *p = &t->e[i];
        if (src[i] < 0) continue;
        if (p->kind != PARAM_COUNT) {
            if (wt_read(s, src[i], params_data(t, i), (int64_t)p->numel, 1, 0) < 0) goto restore;
        } else {
            if (wt_read(s, src[i], ibuf, (int64_t)p->numel, 0, 0) < 0) goto restore;
            for (size_t k = 0; k < p->numel; k++) params_data(t, i)[k] = (float)ibuf[k];
        }
    }
    rc = 0;
    goto out;
restore:
    memcpy(t->data, backup, sizeof *backup * t->total);
out:
    for (int k = 0; k < P_NKINDS; k++) strlist_free(&r.item[k]);
    free(src);
    free(used);
    free(backup);
    free(ibuf);
    return rc;
}

/* ---- sniffing ---------------------------------------------------------------------------------- */

int weights_load(const char *path, ParamTable *t, const StLoadOpts *o, StrList *problems) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    unsigned char m[4] = {0};
    size_t got = 0;
    ssize_t r = 0;
    while (got < sizeof m) {
        r = read(fd, m + got, sizeof m - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    int e = errno;
    close(fd);
    if (r < 0) {
        err_set("%s: read error: %s", path, strerror(e));
        return -1;
    }
    /* A ZIP local header or end record (torch.save), or PROTO 2 + LONG1 10, the legacy torch.save magic
     * number's start. As a safetensors header length each of these is above 64 MB, more than ST_MAX_HEADER,
     * so no safetensors file is taken for a .pth. */
    static const unsigned char zip_lh[4] = {'P', 'K', 3, 4}, zip_end[4] = {'P', 'K', 5, 6}, legacy[4] = {0x80, 2, 0x8a, 10};
    if (got == 4 && (!memcmp(m, zip_lh, 4) || !memcmp(m, zip_end, 4) || !memcmp(m, legacy, 4)))
        return pth_load_params(path, t, o, problems);
    return st_load(path, t, o, problems);
}
