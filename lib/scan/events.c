#include "scan/events.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

int events_init(EventMerger *e, int k, const unsigned char *counted, double threshold) {
    memset(e, 0, sizeof *e);
    e->k = k;
    e->threshold = threshold;
    e->counted = malloc((size_t)k);
    e->open = malloc(sizeof(Event) * (size_t)k);
    e->counts = calloc((size_t)k, sizeof(int64_t));
    e->thr = malloc(sizeof(double) * (size_t)(k > 0 ? k : 1));
    if (!e->counted || !e->open || !e->counts || !e->thr) {
        events_free(e);
        err_set("out of memory");
        return -1;
    }
    for (int c = 0; c < k; c++) e->counted[c] = counted ? counted[c] : 1, e->thr[c] = threshold;
    events_reset(e);
    return 0;
}

void events_free(EventMerger *e) {
    free(e->counted);
    free(e->open);
    free(e->v);
    free(e->counts);
    free(e->thr);
    memset(e, 0, sizeof *e);
}

void events_set_thresholds(EventMerger *e, const double *thresholds) {
    for (int c = 0; c < e->k; c++) e->thr[c] = thresholds[c];
}

void events_reset(EventMerger *e) {
    for (int c = 0; c < e->k; c++) {
        e->open[c].cls = -1;
        e->counts[c] = 0;
    }
    e->n = 0;
}

static int push(EventMerger *e, const Event *ev) {
    if (e->n == e->cap) {
        int64_t cap = e->cap ? 2 * e->cap : 64;
        Event *nv = realloc(e->v, sizeof(Event) * (size_t)cap);
        if (!nv) {
            err_set("out of memory");
            return -1;
        }
        e->v = nv;
        e->cap = cap;
    }
    e->v[e->n++] = *ev;
    e->counts[ev->cls]++;
    return 0;
}

int events_window(EventMerger *e, double start, double end, const float *probs) {
    for (int c = 0; c < e->k; c++) {
        if (!e->counted[c]) continue;
        Event *o = &e->open[c];
        if (probs[c] > e->thr[c]) {
            if (o->cls < 0) *o = (Event){.cls = c, .begin = start, .end = end, .score = probs[c]};
            else {
                o->end = end;
                if (probs[c] > o->score) o->score = probs[c];
            }
        } else if (o->cls >= 0) {
            if (push(e, o) < 0) return -1;
            o->cls = -1;
        }
    }
    return 0;
}

static int by_begin(const void *a, const void *b) {
    const Event *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->cls > y->cls) - (x->cls < y->cls);
}

int events_finish(EventMerger *e) {
    for (int c = 0; c < e->k; c++)
        if (e->open[c].cls >= 0) {
            if (push(e, &e->open[c]) < 0) return -1;
            e->open[c].cls = -1;
        }
    /* (begin, class) is unique: two events of one class never start at the same window */
    if (e->n > 1) qsort(e->v, (size_t)e->n, sizeof(Event), by_begin); /* v is NULL when there are none */
    return 0;
}

int events_write_raven(const EventMerger *e, FILE *f, double low_hz, double high_hz, const char *const *names) {
    fputs("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tclass\tscore\n", f);
    for (int64_t i = 0; i < e->n; i++) {
        const Event *ev = &e->v[i];
        fprintf(f, "%lld\tSpectrogram 1\t1\t%.6f\t%.6f\t%.3f\t%.3f\t%s\t%.6f\n", (long long)(i + 1), ev->begin, ev->end,
                low_hz, high_hz, names[ev->cls], ev->score);
    }
    return ferror(f) ? -1 : 0;
}

int results_write_tsv(FILE *f, const char *const *paths, int64_t n, const int64_t *counts, int k,
                      const unsigned char *counted, const char *const *names) {
    fputs("file\tclass\tcount\n", f);
    for (int64_t r = 0; r < n; r++)
        for (int c = 0; c < k; c++)
            if (!counted || counted[c]) fprintf(f, "%s\t%s\t%lld\n", paths[r], names[c], (long long)counts[r * k + c]);
    return ferror(f) ? -1 : 0;
}

/* One CSV field: quoted (with doubled quotes) when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s, const char *suffix) {
    if (strpbrk(s, ",\"\r\n") || (suffix && strpbrk(suffix, ",\"\r\n"))) {
        fputc('"', f);
        for (const char *p = s; *p; p++) {
            if (*p == '"') fputc('"', f);
            fputc(*p, f);
        }
        if (suffix) fputs(suffix, f);
        fputc('"', f);
    } else {
        fputs(s, f);
        if (suffix) fputs(suffix, f);
    }
}

int results_write_csv(FILE *f, const char *const *paths, int64_t n, const int64_t *counts, int k,
                      const unsigned char *counted, const char *const *names) {
    fputs("recording", f);
    for (int c = 0; c < k; c++)
        if (!counted || counted[c]) {
            fputc(',', f);
            csv_field(f, names[c], "_calls");
        }
    fputc('\n', f);
    for (int64_t r = 0; r < n; r++) {
        const char *base = strrchr(paths[r], '/');
        csv_field(f, base ? base + 1 : paths[r], NULL);
        for (int c = 0; c < k; c++)
            if (!counted || counted[c]) fprintf(f, ",%lld", (long long)counts[r * k + c]);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}
