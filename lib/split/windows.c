/* windows.c - annotated long recordings -> labelled windows, split by recording (see windows.h). */
#define _POSIX_C_SOURCE 200809L
#include "split/windows.h"

#include "core/error.h"
#include "formats/annotations.h"
#include "formats/outfile.h"
#include "formats/tsv.h"
#include "split/annotated.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Rec {
    char *path, *table, *group;
    double duration;
    Annotations ann;
    long nwin;
    unsigned char *y; /* nwin * K */
    int split;
} Rec;

static int oom(const char *name) {
    err_set("%s: out of memory", name);
    return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_recs(Rec *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(r[i].path);
        free(r[i].table);
        free(r[i].group);
        ann_free(&r[i].ann);
        free(r[i].y);
    }
    free(r);
}

static int in_keep(const WinOptions *o, const char *label) {
    if (!o->keep) return 1;
    for (int i = 0; i < o->nkeep; i++)
        if (strcmp(o->keep[i], label) == 0) return 1;
    return 0;
}

/* Keeps the selections that count: in the class subset and meeting the band. */
static void filter(const WinOptions *o, Annotations *a) {
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        Selection *s = &a->sel[i];
        int keep = in_keep(o, s->label);
        if (keep && o->band && !isnan(s->low) && !isnan(s->high) && (s->high < o->band_lo || s->low > o->band_hi))
            keep = 0;
        if (keep) a->sel[k++] = *s;
        else free(s->label);
    }
    a->n = k;
}

static int find_class(char **cls, int K, const char *name) {
    int lo = 0, hi = K - 1;
    while (lo <= hi) {
        int m = (lo + hi) / 2, c = strcmp(cls[m], name);
        if (c == 0) return m;
        if (c < 0) lo = m + 1;
        else hi = m - 1;
    }
    return -1;
}

static int labels_window(const WinOptions *o, const Selection *s, double ws, double we) {
    double len = s->end - s->begin;
    if (len <= 0) return ws <= s->begin && s->begin < we;
    double ov = fmin(we, s->end) - fmax(ws, s->begin);
    if (!(ov > 0)) return 0;
    double need = o->min_overlap_frac ? o->min_overlap * fmin(len, we - ws) : o->min_overlap;
    return ov >= need - 1e-9;
}

static void fmt_time(char *buf, size_t cap, double t) { snprintf(buf, cap, "%.9g", t); }

void win_stats_free(WinStats *st) {
    for (int c = 0; c < st->nclasses; c++) free(st->classes[c]);
    free(st->classes);
    free(st->per_class);
    memset(st, 0, sizeof *st);
}

static int write_all(const char *outdir, const WinOptions *o, Rec *r, size_t nr, char **cls, int K, const WinStats *st) {
    SplitLists l;
    if (split_lists_open(&l, outdir) < 0) return -1;
    for (int sp = 0; sp < SPLIT_N; sp++) {
        FILE *f = l.o[sp].f;
        fputs("path\tstart\tend", f);
        for (int c = 0; c < K; c++) fprintf(f, "\t%s", cls[c]);
        fputs("\tgroup\n", f);
        for (size_t i = 0; i < nr; i++) {
            if (r[i].split != sp) continue;
            for (long w = 0; w < r[i].nwin; w++) {
                char a[40], b[40];
                double ws = (double)w * o->step;
                fmt_time(a, sizeof a, ws);
                fmt_time(b, sizeof b, ws + o->length);
                fprintf(f, "%s\t%s\t%s", r[i].path, a, b);
                for (int c = 0; c < K; c++) fprintf(f, "\t%d", r[i].y[(size_t)w * (size_t)K + (size_t)c]);
                fprintf(f, "\t%s\n", r[i].group);
            }
        }
    }
    split_write_classes(l.o[SPLIT_N].f, cls, K, st->per_class);
    return split_lists_close(&l, 1);
}

static const char *const reserved[] = {"path", "start", "end", "group"};

int windows_split(const char *input, const char *outdir, const WinOptions *o, WinStats *st) {
    memset(st, 0, sizeof *st);
    Rec *r = NULL;
    size_t nr = 0;
    char **cls = NULL;
    int K = 0, rc = -1;
    SplitSet s;
    SplitStats sst;
    memset(&s, 0, sizeof s);
    memset(&sst, 0, sizeof sst);
    size_t *file_rec = NULL;
    AnnotatedRecording *pairs;
    if (annotated_list(input, &pairs, &nr) < 0) return -1;
    if (!(r = calloc(nr, sizeof *r))) {
        annotated_free(pairs, nr);
        return oom(input);
    }
    for (size_t i = 0; i < nr; i++) /* the strings move over */
        r[i].path = pairs[i].path, r[i].table = pairs[i].table, r[i].group = pairs[i].group;
    free(pairs);
    /* tables, checked against each recording's length */
    size_t nlabels = 0;
    for (size_t i = 0; i < nr; i++) {
        r[i].split = -1;
        if (!tsv_field_ok(r[i].path) || (r[i].group && !tsv_field_ok(r[i].group))) {
            err_set("%s: a recording or group holds a tab or newline", input);
            goto done;
        }
        if (!r[i].group && !(r[i].group = strdup(r[i].path))) { oom(input); goto done; }
        r[i].duration = o->duration(r[i].path);
        if (r[i].duration < 0) goto done;
        if (ann_read(r[i].table, o->label_col, r[i].duration, &r[i].ann) < 0) goto done;
        filter(o, &r[i].ann);
        nlabels += r[i].ann.n;
    }
    /* classes: the subset, or every label; plus the background; sorted, unique */
    size_t ccap = (o->keep ? (size_t)o->nkeep : nlabels) + 2;
    cls = calloc(ccap, sizeof *cls);
    if (!cls) { oom(input); goto done; }
    size_t nc = 0;
    if (o->keep)
        for (int i = 0; i < o->nkeep; i++) cls[nc++] = o->keep[i];
    else
        for (size_t i = 0; i < nr; i++)
            for (size_t k = 0; k < r[i].ann.n; k++) cls[nc++] = r[i].ann.sel[k].label;
    qsort(cls, nc, sizeof *cls, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < nc; i++)
        if (u == 0 || strcmp(cls[u - 1], cls[i]) != 0) cls[u++] = cls[i];
    nc = u;
    if (o->background) {
        for (size_t i = 0; i < nc; i++)
            if (strcmp(cls[i], o->background) == 0) {
                err_set("--background '%s': a label of the tables has that name already", o->background);
                cls[0] = NULL, nc = 0; /* borrowed: nothing to free */
                free(cls);
                cls = NULL;
                goto done;
            }
        cls[nc++] = (char *)o->background;
        qsort(cls, nc, sizeof *cls, cmp_str);
    }
    for (size_t i = 0; i < nc; i++) { /* own copies */
        char *c = strdup(cls[i]);
        if (!c) {
            for (size_t j = 0; j < i; j++) free(cls[j]);
            free(cls);
            cls = NULL;
            oom(input);
            goto done;
        }
        cls[i] = c;
    }
    K = (int)nc;
    if (K == 0) {
        err_set("%s: no class: the tables hold no selection to keep (and no --background)", input);
        goto done;
    }
    for (int c = 0; c < K; c++) {
        for (size_t k = 0; k < sizeof reserved / sizeof *reserved; k++)
            if (strcmp(cls[c], reserved[k]) == 0) {
                err_set("class '%s': the name of a column of the windows lists", cls[c]);
                goto done;
            }
        if (!tsv_field_ok(cls[c]) || !cls[c][0]) {
            err_set("class '%s': empty or holds a tab or newline", cls[c]);
            goto done;
        }
    }
    int bg = o->background ? find_class(cls, K, o->background) : -1;
    /* windows and their labels */
    size_t nfiles = 0;
    for (size_t i = 0; i < nr; i++) {
        double span = r[i].duration - o->length;
        r[i].nwin = span < -1e-9 ? 0 : (long)floor(fmax(span, 0) / o->step + 1e-9) + 1;
        if (r[i].nwin == 0) { st->short_recordings++; continue; }
        r[i].y = calloc((size_t)r[i].nwin * (size_t)K, 1);
        if (!r[i].y) { oom(r[i].path); goto done; }
        for (long w = 0; w < r[i].nwin; w++) {
            double ws = (double)w * o->step, we = ws + o->length;
            unsigned char *y = r[i].y + (size_t)w * (size_t)K;
            int any = 0;
            for (size_t k = 0; k < r[i].ann.n; k++)
                if (labels_window(o, &r[i].ann.sel[k], ws, we)) {
                    int c = find_class(cls, K, r[i].ann.sel[k].label);
                    if (c >= 0) { y[c] = 1; any = 1; }
                }
            if (!any && bg >= 0) y[bg] = 1;
            int npos = 0;
            for (int c = 0; c < K; c++) npos += y[c];
            nfiles += npos ? (size_t)npos : 1;
        }
    }
    /* a SplitSet with one file per (window, class), the hidden class K for a window with none */
    s.input = strdup(strcmp(input, "-") == 0 ? "<stdin>" : input);
    s.files = calloc(nfiles + 1, sizeof *s.files);
    s.classes = calloc((size_t)K + 1, sizeof *s.classes);
    file_rec = calloc(nfiles + 1, sizeof *file_rec);
    if (!s.input || !s.files || !s.classes || !file_rec) { oom(input); goto done; }
    s.nclasses = K + 1;
    for (int c = 0; c < K; c++)
        if (!(s.classes[c] = strdup(cls[c]))) { oom(input); goto done; }
    if (!(s.classes[K] = strdup(""))) { oom(input); goto done; }
    s.grouped = 1;
    for (size_t i = 0; i < nr; i++)
        for (long w = 0; w < r[i].nwin; w++) {
            const unsigned char *y = r[i].y + (size_t)w * (size_t)K;
            int npos = 0;
            for (int c = 0; c <= K; c++) {
                if (c < K ? !y[c] : npos > 0) continue;
                SplitFile *f = &s.files[s.n];
                f->cls = c;
                f->split = -1;
                f->path = strdup(r[i].path);
                f->group = strdup(r[i].group);
                file_rec[s.n++] = i;
                if (!f->path || !f->group) { oom(input); goto done; }
                npos++;
            }
        }
    if (o->group_re && split_group_regex(&s, o->group_re, o->group_pat) < 0) goto done;
    if (o->test_re) split_test_regex(&s, o->test_re);
    if (!o->fresh && split_read_prior(&s, outdir) < 0) goto done;
    if (split_assign(&s, o->ratios, o->seed, &sst) < 0) goto done;
    for (size_t k = 0; k < s.n; k++) {
        Rec *x = &r[file_rec[k]];
        x->split = s.files[k].split;
        if (o->group_re) { /* the group the rule found */
            char *g = strdup(s.files[k].group);
            if (!g) { oom(input); goto done; }
            free(x->group);
            x->group = g;
        }
    }
    st->nclasses = K;
    st->classes = cls;
    cls = NULL;
    st->per_class = calloc((size_t)K * SPLIT_N, sizeof *st->per_class);
    if (!st->per_class) { oom(input); goto done; }
    for (size_t i = 0; i < nr; i++) {
        if (r[i].split < 0) continue;
        st->recordings[r[i].split]++;
        st->windows[r[i].split] += r[i].nwin;
        for (long w = 0; w < r[i].nwin; w++)
            for (int c = 0; c < K; c++) st->per_class[c * SPLIT_N + r[i].split] += r[i].y[(size_t)w * (size_t)K + (size_t)c];
    }
    if (write_all(outdir, o, r, nr, st->classes, K, st) < 0) goto done;
    rc = 0;
done:
    if (cls) {
        for (int c = 0; c < K; c++) free(cls[c]);
        free(cls);
    }
    if (rc < 0) win_stats_free(st);
    split_stats_free(&sst);
    split_free(&s);
    free(file_rec);
    free_recs(r, nr);
    return rc;
}
