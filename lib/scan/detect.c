/* detect.c - events against annotated selections: matching, scores, count errors (see detect.h). */
#include "scan/detect.h"

#include "audio/audio.h"
#include "core/error.h"
#include "formats/annotations.h"
#include "split/annotated.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The rule of detect.h (and of splitset --windows' labels, with its 1e-9 s slack). */
static int matchable(const Event *e, const Event *t, double fraction) {
    if (e->cls != t->cls) return 0;
    double tl = t->end - t->begin;
    if (tl <= 0) return e->begin <= t->begin && t->begin < e->end;
    double ov = fmin(e->end, t->end) - fmax(e->begin, t->begin);
    if (!(ov > 0)) return 0;
    return ov >= fraction * fmin(tl, e->end - e->begin) - 1e-9;
}

typedef struct {
    const Event *v;
    int64_t i;
} Ref;

static int cmp_ref(const void *a, const void *b) {
    const Ref *x = a, *y = b;
    if (x->v->cls != y->v->cls) return x->v->cls < y->v->cls ? -1 : 1;
    if (x->v->begin != y->v->begin) return x->v->begin < y->v->begin ? -1 : 1;
    if (x->v->end != y->v->end) return x->v->end < y->v->end ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_ref_time(const void *a, const void *b) {
    const Ref *x = a, *y = b;
    if (x->v->begin != y->v->begin) return x->v->begin < y->v->begin ? -1 : 1;
    if (x->v->cls != y->v->cls) return x->v->cls < y->v->cls ? -1 : 1;
    if (x->v->end != y->v->end) return x->v->end < y->v->end ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The selections sorted by class, then begin; for each, where its class's run starts and ends and the
 * longest selection of the class, so an event's candidates are one short run of the array. */
typedef struct {
    Ref *t;
    int64_t n;
    double *maxlen; /* per position: the longest selection of its class */
    int64_t *cls_begin, *cls_end;
} TruthIndex;

/* First position p in [lo, hi) with t[p].begin >= x. */
static int64_t lower_begin(const TruthIndex *ix, int64_t lo, int64_t hi, double x) {
    while (lo < hi) {
        int64_t m = lo + (hi - lo) / 2;
        if (ix->t[m].v->begin < x) lo = m + 1;
        else hi = m;
    }
    return lo;
}

int64_t detect_match(const Event *ev, int64_t nev, const Event *truth, int64_t nt, double fraction,
                     unsigned char *ev_matched, unsigned char *truth_matched) {
    if (nev) memset(ev_matched, 0, (size_t)nev);
    if (nt) memset(truth_matched, 0, (size_t)nt);
    if (nev == 0 || nt == 0) return 0;
    TruthIndex ix = {.n = nt};
    Ref *e = malloc(sizeof(Ref) * (size_t)nev);
    ix.t = malloc(sizeof(Ref) * (size_t)nt);
    ix.maxlen = malloc(sizeof(double) * (size_t)nt);
    ix.cls_begin = malloc(sizeof(int64_t) * (size_t)nt);
    ix.cls_end = malloc(sizeof(int64_t) * (size_t)nt);
    int64_t *match_t = malloc(sizeof(int64_t) * (size_t)nt);   /* selection position -> event position */
    int64_t *match_e = malloc(sizeof(int64_t) * (size_t)nev);  /* event position -> selection position */
    int64_t *seen = malloc(sizeof(int64_t) * (size_t)nt);      /* BFS stamp per selection */
    int64_t *parent = malloc(sizeof(int64_t) * (size_t)nt);    /* the event a selection was reached from */
    int64_t *queue = malloc(sizeof(int64_t) * (size_t)nev);
    int64_t *cls_lo = malloc(sizeof(int64_t) * (size_t)nev);
    int64_t pairs = -1;
    if (!e || !ix.t || !ix.maxlen || !ix.cls_begin || !ix.cls_end || !match_t || !match_e || !seen || !parent || !queue || !cls_lo) {
        err_set("out of memory");
        goto done;
    }
    for (int64_t i = 0; i < nev; i++) e[i] = (Ref){ev + i, i}, match_e[i] = -1;
    for (int64_t i = 0; i < nt; i++) ix.t[i] = (Ref){truth + i, i}, match_t[i] = -1, seen[i] = -1;
    qsort(e, (size_t)nev, sizeof *e, cmp_ref_time);
    qsort(ix.t, (size_t)nt, sizeof *ix.t, cmp_ref);
    for (int64_t a = 0; a < nt;) {
        int64_t b = a;
        double m = 0;
        while (b < nt && ix.t[b].v->cls == ix.t[a].v->cls) m = fmax(m, ix.t[b].v->end - ix.t[b].v->begin), b++;
        for (int64_t p = a; p < b; p++) ix.maxlen[p] = m, ix.cls_begin[p] = a, ix.cls_end[p] = b;
        a = b;
    }
    /* each event's run of selections of its class (cls_lo: its first position, -1: none), found once */
    for (int64_t i = 0; i < nev; i++) {
        int64_t lo = 0, hi = nt;
        while (lo < hi) { /* first position of class >= the event's */
            int64_t m = lo + (hi - lo) / 2;
            if (ix.t[m].v->cls < e[i].v->cls) lo = m + 1;
            else hi = m;
        }
        cls_lo[i] = lo < nt && ix.t[lo].v->cls == e[i].v->cls ? lo : -1;
    }
    pairs = 0;
    for (int64_t u = 0; u < nev; u++) {
        /* breadth-first search for an augmenting path from event u */
        int64_t head = 0, tail = 0, found = -1;
        queue[tail++] = u;
        while (head < tail && found < 0) {
            const Event *x = e[queue[head]].v;
            int64_t xp = queue[head++], lo = cls_lo[xp];
            if (lo < 0) continue;
            int64_t cb = ix.cls_begin[lo], ce = ix.cls_end[lo];
            for (int64_t p = lower_begin(&ix, cb, ce, x->begin - ix.maxlen[lo] - 1e-9); p < ce && ix.t[p].v->begin < x->end; p++) {
                if (seen[p] == u || !matchable(x, ix.t[p].v, fraction)) continue;
                seen[p] = u;
                parent[p] = xp;
                if (match_t[p] < 0) {
                    found = p;
                    break;
                }
                queue[tail++] = match_t[p];
            }
        }
        if (found < 0) continue;
        for (int64_t p = found;;) { /* flip the path: each event on it takes the selection it reached */
            int64_t x = parent[p], prev = match_e[x];
            match_e[x] = p;
            match_t[p] = x;
            if (x == u) break;
            p = prev;
        }
        pairs++;
    }
    for (int64_t i = 0; i < nev; i++)
        if (match_e[i] >= 0) ev_matched[e[i].i] = 1, truth_matched[ix.t[match_e[i]].i] = 1;
done:
    free(e);
    free(ix.t);
    free(ix.maxlen);
    free(ix.cls_begin);
    free(ix.cls_end);
    free(match_t);
    free(match_e);
    free(seen);
    free(parent);
    free(queue);
    free(cls_lo);
    return pairs;
}

int detect_init(Detection *d, int k, const unsigned char *counted, double fraction) {
    memset(d, 0, sizeof *d);
    d->k = k;
    d->fraction = fraction;
    if (!(d->counted = malloc((size_t)(k > 0 ? k : 1)))) {
        err_set("out of memory");
        return -1;
    }
    for (int c = 0; c < k; c++) d->counted[c] = counted ? counted[c] : 1;
    return 0;
}

void detect_free(Detection *d) {
    for (int64_t r = 0; r < d->nrec; r++) {
        free(d->rec[r].path);
        free(d->rec[r].annotated);
        free(d->rec[r].detected);
        free(d->rec[r].matched);
    }
    free(d->rec);
    free(d->mark);
    free(d->counted);
    memset(d, 0, sizeof *d);
}

static int cmp_mark(const void *a, const void *b) {
    const DetectMark *x = a, *y = b;
    if (x->truth != y->truth) return x->truth ? -1 : 1;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->cls != y->cls) return x->cls < y->cls ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int add_mark(Detection *d, DetectMark m) {
    if (d->nmark == d->capmark) {
        int64_t cap = d->capmark ? d->capmark * 2 : 256;
        DetectMark *t = realloc(d->mark, sizeof *t * (size_t)cap);
        if (!t) return -1;
        d->mark = t;
        d->capmark = cap;
    }
    d->mark[d->nmark++] = m;
    return 0;
}

int detect_add(Detection *d, const char *path, const Event *ev, int64_t nev, const Truth *truth) {
    int k = d->k;
    if (d->nrec == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 16;
        DetectRecording *t = realloc(d->rec, sizeof *t * (size_t)cap);
        if (!t) goto oom;
        d->rec = t;
        d->cap = cap;
    }
    DetectRecording *r = &d->rec[d->nrec];
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    r->annotated = calloc((size_t)k, sizeof(int64_t));
    r->detected = calloc((size_t)k, sizeof(int64_t));
    r->matched = calloc((size_t)k, sizeof(int64_t));
    d->nrec++; /* from here detect_free() frees it */
    if (!r->path || !r->annotated || !r->detected || !r->matched) goto oom;
    /* the counted classes' events and selections */
    int64_t ne = 0, nt = 0;
    Event *e = malloc(sizeof(Event) * (size_t)(nev + 1)), *t = malloc(sizeof(Event) * (size_t)(truth->n + 1));
    unsigned char *em = malloc((size_t)nev + 1), *tm = malloc((size_t)truth->n + 1);
    if (!e || !t || !em || !tm) {
        free(e), free(t), free(em), free(tm);
        goto oom;
    }
    for (int64_t i = 0; i < nev; i++)
        if (ev[i].cls >= 0 && ev[i].cls < k && d->counted[ev[i].cls]) e[ne++] = ev[i];
    d->ignored += truth->ignored;
    for (int64_t i = 0; i < truth->n; i++) {
        if (truth->v[i].cls >= 0 && truth->v[i].cls < k && d->counted[truth->v[i].cls]) t[nt++] = truth->v[i];
        else d->ignored++;
    }
    int rc = detect_match(e, ne, t, nt, d->fraction, em, tm) < 0 ? -1 : 0;
    int64_t first = d->nmark;
    for (int64_t i = 0; rc == 0 && i < nt; i++) {
        r->annotated[t[i].cls]++;
        r->matched[t[i].cls] += tm[i];
        if (add_mark(d, (DetectMark){d->nrec - 1, 1, t[i].cls, tm[i], t[i].begin, t[i].end}) < 0) rc = -2;
    }
    for (int64_t i = 0; rc == 0 && i < ne; i++) {
        r->detected[e[i].cls]++;
        if (add_mark(d, (DetectMark){d->nrec - 1, 0, e[i].cls, em[i], e[i].begin, e[i].end}) < 0) rc = -2;
    }
    if (rc == 0) qsort(d->mark + first, (size_t)(d->nmark - first), sizeof *d->mark, cmp_mark);
    free(e), free(t), free(em), free(tm);
    if (rc == -2) goto oom;
    return rc;
oom:
    err_set("out of memory");
    return -1;
}

typedef struct {
    int64_t annotated, detected, matched;
} Tally;

static double ratio(int64_t a, int64_t b) { return b > 0 ? (double)a / (double)b : 0.0; }
static double f1_of(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

static Tally class_tally(const Detection *d, int c) {
    Tally t = {0, 0, 0};
    for (int64_t r = 0; r < d->nrec; r++)
        t.annotated += d->rec[r].annotated[c], t.detected += d->rec[r].detected[c], t.matched += d->rec[r].matched[c];
    return t;
}

static void tsv_row(FILE *f, const char *rec, const char *cls, Tally t) {
    double p = ratio(t.matched, t.detected), r = ratio(t.matched, t.annotated);
    fprintf(f, "%s\t%s\t%lld\t%lld\t%lld\t%.6f\t%.6f\t%.6f\t%lld\n", rec, cls, (long long)t.annotated, (long long)t.detected,
            (long long)t.matched, p, r, f1_of(p, r), (long long)(t.detected - t.annotated));
}

int detect_write_tsv(const Detection *d, FILE *f, const char *const *names) {
    fputs("recording\tclass\tannotated\tdetected\tmatched\tprecision\trecall\tf1\tcount_error\n", f);
    for (int64_t r = 0; r < d->nrec; r++)
        for (int c = 0; c < d->k; c++)
            if (d->counted[c])
                tsv_row(f, d->rec[r].path, names[c], (Tally){d->rec[r].annotated[c], d->rec[r].detected[c], d->rec[r].matched[c]});
    for (int c = 0; c < d->k; c++)
        if (d->counted[c]) tsv_row(f, "*", names[c], class_tally(d, c));
    return ferror(f) ? -1 : 0;
}

static void json_scores(JsonWriter *w, Tally t) {
    double p = ratio(t.matched, t.detected), r = ratio(t.matched, t.annotated);
    json_key(w, "annotated"), json_int(w, t.annotated);
    json_key(w, "detected"), json_int(w, t.detected);
    json_key(w, "matched"), json_int(w, t.matched);
    json_key(w, "precision"), json_number(w, p);
    json_key(w, "recall"), json_number(w, r);
    json_key(w, "f1"), json_number(w, f1_of(p, r));
    json_key(w, "count_error"), json_int(w, t.detected - t.annotated);
}

void detect_write_json(const Detection *d, JsonWriter *w, const char *const *names) {
    json_object_begin(w);
    json_key(w, "match_fraction"), json_number(w, d->fraction);
    json_key(w, "recordings"), json_int(w, d->nrec);
    json_key(w, "ignored_selections"), json_int(w, d->ignored);
    Tally all = {0, 0, 0};
    double mp = 0, mr = 0, mf = 0;
    int nc = 0;
    json_key(w, "classes");
    json_object_begin(w);
    for (int c = 0; c < d->k; c++) {
        if (!d->counted[c]) continue;
        Tally t = class_tally(d, c);
        json_key(w, names[c]);
        json_object_begin(w);
        json_scores(w, t);
        json_object_end(w);
        double p = ratio(t.matched, t.detected), r = ratio(t.matched, t.annotated);
        mp += p, mr += r, mf += f1_of(p, r), nc++;
        all.annotated += t.annotated, all.detected += t.detected, all.matched += t.matched;
    }
    json_object_end(w);
    json_key(w, "micro");
    json_object_begin(w);
    json_scores(w, all);
    json_object_end(w);
    json_key(w, "macro");
    json_object_begin(w);
    json_key(w, "precision"), json_number(w, nc ? mp / nc : 0);
    json_key(w, "recall"), json_number(w, nc ? mr / nc : 0);
    json_key(w, "f1"), json_number(w, nc ? mf / nc : 0);
    json_object_end(w);
    /* counts per recording over the counted classes */
    double abs_sum = 0, max_rel = -1;
    for (int64_t r = 0; r < d->nrec; r++) {
        int64_t a = 0, t = 0;
        for (int c = 0; c < d->k; c++)
            if (d->counted[c]) a += d->rec[r].annotated[c], t += d->rec[r].detected[c];
        abs_sum += fabs((double)(t - a));
        if (a > 0) max_rel = fmax(max_rel, fabs((double)(t - a)) / (double)a);
    }
    json_key(w, "counts");
    json_object_begin(w);
    json_key(w, "annotated"), json_int(w, all.annotated);
    json_key(w, "detected"), json_int(w, all.detected);
    json_key(w, "error"), json_int(w, all.detected - all.annotated);
    json_key(w, "relative_error");
    if (all.annotated > 0) json_number(w, (double)(all.detected - all.annotated) / (double)all.annotated);
    else json_null(w);
    json_key(w, "mean_abs_error_per_recording"), json_number(w, d->nrec ? abs_sum / (double)d->nrec : 0);
    json_key(w, "max_abs_relative_error");
    if (max_rel >= 0) json_number(w, max_rel);
    else json_null(w);
    json_key(w, "per_recording");
    json_array_begin(w);
    for (int64_t r = 0; r < d->nrec; r++) {
        int64_t a = 0, t = 0;
        for (int c = 0; c < d->k; c++)
            if (d->counted[c]) a += d->rec[r].annotated[c], t += d->rec[r].detected[c];
        json_object_begin(w);
        json_key(w, "recording"), json_string(w, d->rec[r].path);
        json_key(w, "annotated"), json_int(w, a);
        json_key(w, "detected"), json_int(w, t);
        json_key(w, "error"), json_int(w, t - a);
        json_object_end(w);
    }
    json_array_end(w);
    json_object_end(w);
    json_object_end(w);
}

int detect_write_marks(const Detection *d, FILE *f, const char *const *names) {
    fputs("recording\tkind\tclass\tbegin\tend\tmatched\n", f);
    for (int64_t i = 0; i < d->nmark; i++) {
        const DetectMark *m = &d->mark[i];
        fprintf(f, "%s\t%s\t%s\t%.6f\t%.6f\t%d\n", d->rec[m->rec].path, m->truth ? "annotated" : "detected", names[m->cls],
                m->begin, m->end, m->matched);
    }
    return ferror(f) ? -1 : 0;
}

int detect_truth_load(const char *input, const char *label_col, const char *const *paths, int n,
                      const char *const *names, int k, Truth *truth, unsigned char *annotated) {
    AnnotatedRecording *list;
    size_t nl;
    memset(truth, 0, sizeof *truth * (size_t)n);
    memset(annotated, 0, (size_t)n);
    if (annotated_list(input, &list, &nl) < 0) return -1;
    int found = 0, rc = -1;
    for (int i = 0; i < n; i++) {
        const AnnotatedRecording *a = annotated_find(list, nl, paths[i]);
        if (!a) continue;
        double seconds = audio_header_seconds(paths[i]);
        Annotations ann;
        if (seconds < 0 || ann_read(a->table, label_col, seconds, &ann) < 0) goto done;
        truth[i].v = malloc(sizeof(Event) * (ann.n + 1));
        if (!truth[i].v) {
            ann_free(&ann);
            err_set("out of memory");
            goto done;
        }
        for (size_t j = 0; j < ann.n; j++) {
            int c = -1;
            for (int q = 0; q < k && c < 0; q++)
                if (strcmp(names[q], ann.sel[j].label) == 0) c = q;
            if (c < 0) truth[i].ignored++;
            else truth[i].v[truth[i].n++] = (Event){c, ann.sel[j].begin, ann.sel[j].end, 0.0f};
        }
        ann_free(&ann);
        annotated[i] = 1;
        found++;
    }
    if (found == 0) {
        err_set("%s: none of the recordings scanned is annotated there", input);
        goto done;
    }
    rc = found;
done:
    annotated_free(list, nl);
    if (rc < 0) detect_truth_free(truth, n);
    return rc;
}

void detect_truth_free(Truth *truth, int n) {
    for (int i = 0; truth && i < n; i++) {
        free(truth[i].v);
        truth[i].v = NULL;
        truth[i].n = 0;
    }
}
