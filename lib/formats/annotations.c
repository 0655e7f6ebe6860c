/* annotations.c - Raven Pro selection tables and Audacity label tracks (see annotations.h). */
#include "formats/annotations.h"

#include "core/error.h"
#include "formats/tsv.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ANN_MAX_FIELDS 4096

typedef struct Line {
    char **f; /* fields, split in place */
    int nf;
    size_t lineno;
} Line;

/* Splits the copy BUF into lines of tab-separated fields (CR stripped, blank lines skipped). */
static int split_lines(char *buf, size_t len, const char *name, Line **out, size_t *nout) {
    Line *ls = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        lineno++;
        *e = '\0';
        if (e > p && e[-1] == '\r') e[-1] = '\0';
        if (*p) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                Line *t = realloc(ls, cap * sizeof *ls);
                if (!t) goto oom;
                ls = t;
            }
            int nf = 1;
            for (char *q = p; *q; q++)
                if (*q == '\t') nf++;
            if (nf > ANN_MAX_FIELDS) {
                err_set("%s: line %zu: more than %d fields", name, lineno, ANN_MAX_FIELDS);
                goto fail;
            }
            char **f = malloc((size_t)nf * sizeof *f);
            if (!f) goto oom;
            int k = 0;
            f[k++] = p;
            for (char *q = p; *q; q++)
                if (*q == '\t') { *q = '\0'; f[k++] = q + 1; }
            ls[n++] = (Line){f, nf, lineno};
        }
        p = e + 1;
    }
    *out = ls;
    *nout = n;
    return 0;
oom:
    err_set("%s: out of memory", name);
fail:
    for (size_t i = 0; i < n; i++) free(ls[i].f);
    free(ls);
    return -1;
}

/* A finite number >= 0 filling the whole field. */
static int num(const char *s, double *v) {
    if (!*s || *s == ' ' || *s == '\t') return -1;
    errno = 0;
    char *e;
    double d = strtod(s, &e);
    while (*e == ' ') e++;
    if (*e || errno == ERANGE || !isfinite(d) || d < 0) return -1;
    *v = d;
    return 0;
}

static int push(Annotations *a, size_t *cap, Selection s, const char *name) {
    if (a->n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        Selection *t = realloc(a->sel, c * sizeof *t);
        if (!t) { err_set("%s: out of memory", name); return -1; }
        a->sel = t;
        *cap = c;
    }
    a->sel[a->n] = s;
    a->sel[a->n].label = strdup(s.label);
    if (!a->sel[a->n].label) { err_set("%s: out of memory", name); return -1; }
    a->n++;
    return 0;
}

/* Checks common to both formats. */
static int check_sel(const Selection *s, double duration, const char *name, size_t line) {
    if (s->end < s->begin) {
        err_set("%s: line %zu: end %g s before begin %g s", name, line, s->end, s->begin);
        return -1;
    }
    if (duration >= 0 && s->end > duration + 1e-6) {
        err_set("%s: line %zu: end %g s past the recording's end (%g s)", name, line, s->end, duration);
        return -1;
    }
    if (!isnan(s->low) && !isnan(s->high) && s->low > s->high) {
        err_set("%s: line %zu: low frequency %g Hz above high frequency %g Hz", name, line, s->low, s->high);
        return -1;
    }
    if (!*s->label) {
        err_set("%s: line %zu: empty label", name, line);
        return -1;
    }
    return 0;
}

static int col(const Line *h, const char *name) {
    for (int j = 0; j < h->nf; j++)
        if (strcmp(h->f[j], name) == 0) return j;
    return -1;
}

static int parse_raven(Line *ls, size_t n, const char *name, const char *label_col, double duration,
                       Annotations *a) {
    const Line *h = &ls[0];
    int cb = col(h, "Begin Time (s)"), ce = col(h, "End Time (s)"), cl = col(h, "Low Freq (Hz)"),
        ch = col(h, "High Freq (Hz)"), cs = col(h, "Selection"), cv = col(h, "View");
    const char *lc = label_col ? label_col : "Annotation";
    int cn = col(h, lc);
    if (ce < 0) { err_set("%s: line %zu: no 'End Time (s)' column", name, h->lineno); return -1; }
    if (cn < 0) { err_set("%s: line %zu: no label column '%s'", name, h->lineno, lc); return -1; }
    size_t cap = 0;
    long *selno = malloc((n ? n : 1) * sizeof *selno); /* Selection number of each kept selection */
    if (!selno) { err_set("%s: out of memory", name); return -1; }
    for (size_t i = 1; i < n; i++) {
        const Line *r = &ls[i];
        if (r->nf != h->nf) {
            err_set("%s: line %zu has %d fields, the header %d", name, r->lineno, r->nf, h->nf);
            goto fail;
        }
        Selection s = {.low = NAN, .high = NAN, .label = r->f[cn], .line = r->lineno};
        if (num(r->f[cb], &s.begin) || num(r->f[ce], &s.end)) {
            err_set("%s: line %zu: bad time '%s' / '%s'", name, r->lineno, r->f[cb], r->f[ce]);
            goto fail;
        }
        if ((cl >= 0 && num(r->f[cl], &s.low)) || (ch >= 0 && num(r->f[ch], &s.high))) {
            err_set("%s: line %zu: bad frequency '%s' / '%s'", name, r->lineno, cl >= 0 ? r->f[cl] : "",
                    ch >= 0 ? r->f[ch] : "");
            goto fail;
        }
        if (check_sel(&s, duration, name, r->lineno)) goto fail;
        long num_sel = -1;
        if (cs >= 0) {
            char *e;
            errno = 0;
            num_sel = strtol(r->f[cs], &e, 10);
            if (!*r->f[cs] || *e || errno || num_sel < 0) {
                err_set("%s: line %zu: bad selection number '%s'", name, r->lineno, r->f[cs]);
                goto fail;
            }
        }
        size_t k = a->n;
        if (num_sel >= 0)
            for (k = 0; k < a->n && selno[k] != num_sel; k++) {}
        if (k < a->n) { /* another view of selection k */
            Selection *o = &a->sel[k];
            if (fabs(o->begin - s.begin) > 1e-6 || fabs(o->end - s.end) > 1e-6 || strcmp(o->label, s.label)) {
                err_set("%s: line %zu: selection %ld disagrees with its view on line %zu", name, r->lineno,
                        num_sel, o->line);
                goto fail;
            }
            if (cv >= 0 && strncmp(r->f[cv], "Spectrogram", 11) == 0) { o->low = s.low; o->high = s.high; }
            continue;
        }
        if (push(a, &cap, s, name)) goto fail;
        selno[a->n - 1] = num_sel;
    }
    free(selno);
    return 0;
fail:
    free(selno);
    return -1;
}

static int parse_audacity(Line *ls, size_t n, const char *name, double duration, Annotations *a) {
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        const Line *r = &ls[i];
        if (r->f[0][0] == '\\' && r->f[0][1] == '\0') {
            if (r->nf != 3) {
                err_set("%s: line %zu: a frequency line has %d fields, not 3", name, r->lineno, r->nf);
                return -1;
            }
            if (a->n == 0 || a->sel[a->n - 1].line + 1 != r->lineno || !isnan(a->sel[a->n - 1].low)) {
                err_set("%s: line %zu: a frequency line without a label line above it", name, r->lineno);
                return -1;
            }
            Selection *s = &a->sel[a->n - 1];
            if (num(r->f[1], &s->low) || num(r->f[2], &s->high)) {
                err_set("%s: line %zu: bad frequency '%s' / '%s'", name, r->lineno, r->f[1], r->f[2]);
                return -1;
            }
            if (check_sel(s, duration, name, r->lineno)) return -1;
            continue;
        }
        if (r->nf != 3) {
            err_set("%s: line %zu: a label line has %d fields, not 3 (start, end, label)", name, r->lineno, r->nf);
            return -1;
        }
        Selection s = {.low = NAN, .high = NAN, .label = r->f[2], .line = r->lineno};
        if (num(r->f[0], &s.begin) || num(r->f[1], &s.end)) {
            err_set("%s: line %zu: bad time '%s' / '%s'", name, r->lineno, r->f[0], r->f[1]);
            return -1;
        }
        if (check_sel(&s, duration, name, r->lineno) || push(a, &cap, s, name)) return -1;
    }
    return 0;
}

int ann_parse(const char *text, size_t len, const char *name, const char *label_col, double duration,
              Annotations *a) {
    memset(a, 0, sizeof *a);
    if (memchr(text, '\0', len)) {
        err_set("%s: a NUL byte (not a text table)", name);
        return -1;
    }
    char *buf = malloc(len + 1);
    if (!buf) { err_set("%s: out of memory", name); return -1; }
    memcpy(buf, text, len);
    buf[len] = '\0';
    Line *ls = NULL;
    size_t n = 0;
    int rc = split_lines(buf, len, name, &ls, &n);
    if (rc == 0) {
        a->raven = n > 0 && col(&ls[0], "Begin Time (s)") >= 0;
        rc = a->raven ? parse_raven(ls, n, name, label_col, duration, a) : parse_audacity(ls, n, name, duration, a);
    }
    if (rc == 0)
        for (size_t i = 0; i < a->n; i++)
            if (!tsv_field_ok(a->sel[i].label)) { /* cannot hold a tab or LF; a lone CR can be left */
                err_set("%s: line %zu: the label holds a tab, CR or newline", name, a->sel[i].line);
                rc = -1;
                break;
            }
    for (size_t i = 0; i < n; i++) free(ls[i].f);
    free(ls);
    free(buf);
    if (rc) ann_free(a);
    return rc;
}

int ann_read(const char *path, const char *label_col, double duration, Annotations *a) {
    size_t len;
    memset(a, 0, sizeof *a);
    char *text = read_whole_file(path, &len);
    if (!text) return -1;
    int rc = ann_parse(text, len, path, label_col, duration, a);
    free(text);
    return rc;
}

void ann_free(Annotations *a) {
    for (size_t i = 0; i < a->n; i++) free(a->sel[i].label);
    free(a->sel);
    memset(a, 0, sizeof *a);
}
