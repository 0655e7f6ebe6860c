/* report.c - see report.h. Reading the inputs, then the page section by section. */
#include "report/report.h"

#include "audio/audio.h"
#include "audio/frontend_args.h"
#include "audio/oggenc.h"
#include "core/error.h"
#include "core/rng.h"
#include "formats/base64.h"
#include "formats/jsonread.h"
#include "formats/manifest.h"
#include "formats/npy.h"
#include "formats/safetensors.h"
#include "formats/tsv.h"
#include "report/cv.h"
#include "report/figures.h"
#include "scan/events.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small helpers ---------------------------------------------------------------------------- */

static int parse_double(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && end != s && !*end && errno != ERANGE;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static char *join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *s = malloc(n);
    if (!s) { err_set("out of memory"); return NULL; }
    snprintf(s, n, "%s/%s", dir, file);
    return s;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

void report_file_part(const char *name, char *buf, size_t n) {
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        buf[i] = ok ? c : '_';
    }
    buf[i] = '\0';
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) err_set("out of memory");
    return p;
}

/* ---- the report being built ------------------------------------------------------------------- */

typedef struct Ctx {
    const ReportConfig *c;
    Report *r;
    Html body, toc;
} Ctx;

static void stage(Ctx *x, const char *what) {
    if (x->c->progress) x->c->progress(x->c->progress_ctx, what);
}

static void section(Ctx *x, const char *id, const char *title) {
    html_printf(&x->toc, "<li><a href=\"#%s\">", id);
    html_text(&x->toc, title);
    html_raw(&x->toc, "</a></li>\n");
    html_printf(&x->body, "<section id=\"%s\">\n<h2>", id);
    html_text(&x->body, title);
    html_raw(&x->body, "</h2>\n");
}

/* A clickable part of a figure and the sound clip it plays (ogg NULL: none). */
typedef struct Spot {
    FigRect r;
    unsigned char *ogg;
    size_t len;
    int clip;          /* the clip's number: <audio id="clip-N">, Ogg serial N + 1 */
    const char *label; /* the button's tooltip (escaped) */
} Spot;

/* [start, end) seconds of PATH (end <= start: from start on) as the next clip into *s, when the report
 * has sound. Returns 0, or -1 with err_set(). */
static int make_clip(Ctx *x, const char *path, double start, double end, Spot *s) {
    s->ogg = NULL;
    s->len = 0;
    if (!x->c->audio) return 0;
    s->clip = x->r->nclips;
    if (audio_clip_ogg(path, start, end, REPORT_CLIP_SECONDS, REPORT_CLIP_RATE, REPORT_CLIP_QUALITY,
                       (uint32_t)s->clip + 1, &s->ogg, &s->len) < 0)
        return -1;
    x->r->nclips++;
    return 0;
}

static void spots_free(Spot *s, int n) {
    for (int i = 0; s && i < n; i++) free(s[i].ogg);
}

/* Finish CV (freed here) as SVG and PNG, keep the PNG as FILE, and inline the SVG with ALT text and a
 * caption (both escaped), and over it the n spots that have a clip, as buttons playing it.
 *
 * Inline <svg> rather than <img src="data:image/svg+xml;base64,...">: base64 would add a third to
 * every figure (and again to the spectrogram images cairo already embeds in base64), and inline
 * figures print and zoom as the page does. The price is that every figure's ids live in the one
 * document, so cairo's ids (glyph0-1, image5, ...), which repeat across figures, are renamed to
 * f<figure>-<n> (svg_rename_ids) before inlining. */
static int add_figure(Ctx *x, Canvas *cv, const char *file, const char *alt, const char *caption, Spot *spots, int n) {
    Report *r = x->r;
    unsigned char *png = NULL;
    char *svg = NULL, prefix[32];
    size_t len = 0, svg_len = 0;
    int w = cv->w, h = cv->h;
    snprintf(prefix, sizeof prefix, "f%d-", r->nfigs + 1);
    if (canvas_finish(cv, prefix, &svg, &svg_len, &png, &len) < 0) return -1;
    for (int i = 0; i < r->nfigs; i++)
        if (strcmp(r->figs[i].file, file) == 0) {
            free(png); free(svg);
            err_set("%s: two figures with this file name", file);
            return -1;
        }
    if (r->nfigs == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        ReportFigure *f = realloc(r->figs, sizeof *f * (size_t)cap);
        if (!f) { free(png); free(svg); err_set("out of memory"); return -1; }
        r->figs = f;
        r->cap = cap;
    }
    char *name = strdup(file);
    if (!name) { free(png); free(svg); err_set("out of memory"); return -1; }
    r->figs[r->nfigs++] = (ReportFigure){name, png, len, w, h};
    Html *b = &x->body;
    html_printf(b, "<figure><div class=\"fig\" style=\"max-width:%dpx\">", w);
    /* "<svg" + our attributes + the rest of cairo's element */
    html_printf(b, "<svg class=\"figure\" role=\"img\" data-w=\"%d\" data-h=\"%d\" data-file=\"", w, h);
    html_text(b, file);
    html_raw(b, "\" aria-label=\"");
    html_text(b, alt);
    html_raw(b, "\"");
    html_rawn(b, svg + 4, svg_len - 4);
    free(svg);
    for (int i = 0; i < n; i++) {
        const Spot *s = &spots[i];
        if (!s->ogg) continue;
        html_printf(b, "<button class=\"spot\" type=\"button\" data-clip=\"%d\" style=\"left:%.3f%%;top:%.3f%%;width:%.3f%%;"
                       "height:%.3f%%\" title=\"play ", s->clip, 100 * s->r.x / w, 100 * s->r.y / h, 100 * s->r.w / w,
                    100 * s->r.h / h);
        html_text(b, s->label);
        html_printf(b, "\"></button><audio id=\"clip-%d\" preload=\"none\" src=\"data:audio/ogg;base64,", s->clip);
        size_t blen;
        char *b64 = base64_encode(s->ogg, s->len, &blen);
        if (!b64) { err_set("out of memory"); return -1; }
        html_rawn(b, b64, blen);
        free(b64);
        html_raw(b, "\"></audio>\n");
    }
    html_raw(b, "</div>");
    if (caption) {
        html_raw(b, "<figcaption>");
        html_text(b, caption);
        html_raw(b, "</figcaption>");
    }
    html_raw(b, "</figure>\n");
    return html_failed(b) ? -1 : 0;
}

static void th(Html *h, const char *s) { html_raw(h, "<th>"); html_text(h, s); html_raw(h, "</th>"); }
static void td(Html *h, const char *s) { html_raw(h, "<td>"); html_text(h, s); html_raw(h, "</td>"); }
static void tdn(Html *h, const char *fmt, double v) { html_raw(h, "<td class=\"n\">"); html_num(h, fmt, v); html_raw(h, "</td>"); }
static void tdi(Html *h, long long v) { html_printf(h, "<td class=\"n\">%lld</td>", v); }

/* A "key = value" table row. */
static void kv(Html *h, const char *k, const char *v) {
    html_raw(h, "<tr><th>");
    html_text(h, k);
    html_raw(h, "</th><td><code>");
    html_text(h, v && *v ? v : "(none)");
    html_raw(h, "</code></td></tr>\n");
}

/* ---- data overview: split tables and recordings ------------------------------------------------ */

static const char *const SPLITS[3] = {"train", "val", "test"};

typedef struct Rec {
    const char *path;
    int cls, split;
    double seconds, rate;
    int channels;
} Rec;

typedef struct Data {
    Tsv classes, split[3], skipped;
    int left;     /* recordings of the split tables left out (listed in skipped) */
    int k;
    const char **names;
    long *counts; /* 3 * k: [class][split] */
    Rec *recs;
    int nrec;
} Data;

static void data_free(Data *d) {
    tsv_free(&d->classes);
    for (int s = 0; s < 3; s++) tsv_free(&d->split[s]);
    tsv_free(&d->skipped);
    free(d->names);
    free(d->counts);
    free(d->recs);
    memset(d, 0, sizeof *d);
}

static int parse_index(const Tsv *t, size_t row, int col, int k, int *out) {
    char *end;
    const char *s = t->rows[row][col];
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0 || v >= k) {
        err_set("%s: line %zu: class index '%s' is not one of 0..%d", t->name, t->lineno[row], s, k - 1);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* The recording's header: rate, channels, duration (decoding it when the header has no length). */
static int probe(Rec *r) {
    AudioReader *a = audio_open(r->path);
    if (!a) return -1;
    r->rate = audio_reader_rate(a);
    r->channels = audio_reader_channels(a);
    int64_t frames = audio_length_frames(a);
    audio_close(a);
    if (frames < 0) return -1;
    r->seconds = r->rate > 0 ? (double)frames / r->rate : NAN;
    return 0;
}

static int data_load(Ctx *x, Data *d) {
    memset(d, 0, sizeof *d);
    const char *dir = x->c->split_dir;
    char *p = join(dir, "classes.tsv");
    if (!p || tsv_read(p, &d->classes) < 0) { free(p); return -1; }
    free(p);
    int ci = tsv_col(&d->classes, "index"), cn = tsv_col(&d->classes, "name");
    if (ci < 0 || cn < 0) { err_set("%s: needs the columns index and name", d->classes.name); return -1; }
    if (d->classes.nrows == 0) { err_set("%s: no classes", d->classes.name); return -1; }
    d->k = (int)d->classes.nrows;
    d->names = xcalloc((size_t)d->k, sizeof *d->names);
    d->counts = xcalloc((size_t)d->k * 3, sizeof *d->counts);
    if (!d->names || !d->counts) return -1;
    for (int i = 0; i < d->k; i++) {
        int v;
        if (parse_index(&d->classes, (size_t)i, ci, d->k, &v) < 0) return -1;
        if (v != i) { err_set("%s: line %zu: classes must be listed in index order", d->classes.name, d->classes.lineno[i]); return -1; }
        d->names[i] = d->classes.rows[i][cn];
    }
    size_t total = 0;
    for (int s = 0; s < 3; s++) {
        char name[32];
        snprintf(name, sizeof name, "%s.tsv", SPLITS[s]);
        p = join(dir, name);
        if (!p || tsv_read(p, &d->split[s]) < 0) { free(p); return -1; }
        free(p);
        if (tsv_col(&d->split[s], "path") < 0 || tsv_col(&d->split[s], "index") < 0) {
            err_set("%s: needs the columns path and index", d->split[s].name);
            return -1;
        }
        total += d->split[s].nrows;
    }
    int sp = -1;
    if (x->c->skipped) {
        if (tsv_read(x->c->skipped, &d->skipped) < 0) return -1;
        if ((sp = tsv_col(&d->skipped, "path")) < 0 || tsv_col(&d->skipped, "reason") < 0) {
            err_set("%s: needs the columns path and reason", d->skipped.name);
            return -1;
        }
    }
    d->recs = xcalloc(total + 1, sizeof *d->recs);
    if (!d->recs) return -1;
    for (int s = 0; s < 3; s++) {
        const Tsv *t = &d->split[s];
        int cp = tsv_col(t, "path"), cx = tsv_col(t, "index");
        for (size_t i = 0; i < t->nrows; i++) {
            int left = 0;
            for (size_t j = 0; sp >= 0 && j < d->skipped.nrows && !left; j++)
                left = strcmp(d->skipped.rows[j][sp], t->rows[i][cp]) == 0;
            if (left) { /* unreadable: neither opened nor counted (listed in the overview) */
                d->left++;
                continue;
            }
            Rec *r = &d->recs[d->nrec];
            r->path = t->rows[i][cp];
            r->split = s;
            if (parse_index(t, i, cx, d->k, &r->cls) < 0) return -1;
            d->counts[3 * r->cls + s]++;
            d->nrec++;
        }
    }
    stage(x, "reading the recordings' headers");
    for (int i = 0; i < d->nrec; i++)
        if (probe(&d->recs[i]) < 0) return -1;
    return 0;
}

static int cmp_rate(const void *a, const void *b) {
    const Rec *x = *(const Rec *const *)a, *y = *(const Rec *const *)b;
    if (x->rate != y->rate) return x->rate < y->rate ? -1 : 1;
    return (x->channels > y->channels) - (x->channels < y->channels);
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The spectrogram settings of the examples: the first model's recorded front end, else the defaults. */
static void example_frontend(const char *recorded, FrontEnd *fe) {
    frontend_init(fe);
    if (!recorded || !*recorded) return;
    SpecnormConfig norm;
    if (frontend_parse_text(recorded, fe, &norm) < 0) { /* not a front end we read: the defaults */
        frontend_free(fe);
        frontend_init(fe);
    }
}

static int example_figure(Ctx *x, Data *d, int c, FrontEnd *fe) {
    const Rec *r = NULL;
    for (int s = 0; s < 3 && !r; s++)
        for (int i = 0; i < d->nrec; i++)
            if (d->recs[i].split == s && d->recs[i].cls == c) { r = &d->recs[i]; break; }
    if (!r) return 0;
    Audio a;
    if (audio_load(r->path, &a) < 0) return -1;
    Clips cl = {0};
    if (frontend_run(fe, r->path, &cl) < 0 || cl.n < 1) {
        if (cl.n < 1 && !cl.v) err_set("%s: no spectrogram", r->path);
        audio_free(&a);
        clips_free(&cl);
        return -1;
    }
    const Tensor *sp = &cl.v[0].spec;
    double rate = fe->sr > 0 ? fe->sr : cl.file_sr;
    char title[200], file[64], cap[600];
    snprintf(title, sizeof title, "%.60s", d->names[c]);
    snprintf(file, sizeof file, "data-example-%02d.png", c);
    Canvas im;
    Spot spot = {.label = base_name(r->path)};
    int rc = fig_example(&im, title, a.x, (long)a.n, a.sr, tensor_f32(sp), (int)sp->shape[1], (int)sp->shape[2],
                         fe->spec.hop / rate, fe->spec.output == SPEC_OUT_DB, &spot.r);
    if (rc == 0 && make_clip(x, r->path, 0, 0, &spot) < 0) { canvas_free(&im); rc = -1; }
    if (rc == 0) {
        snprintf(cap, sizeof cap, "%s: %s (%.2f s, %g Hz, %d channel%s)", d->names[c], base_name(r->path), r->seconds,
                 r->rate, r->channels, r->channels == 1 ? "" : "s");
        rc = add_figure(x, &im, file, cap, cap, &spot, 1);
    }
    spots_free(&spot, 1);
    audio_free(&a);
    clips_free(&cl);
    return rc;
}

static int data_section(Ctx *x, Data *d, const char *frontend_text) {
    Html *h = &x->body;
    section(x, "data", "Data");
    html_raw(h, "<p>From <code>");
    html_text(h, x->c->split_dir);
    html_printf(h, "</code>: %d recordings of %d classes.</p>\n", d->nrec, d->k);
    if (d->left) {
        int sp = tsv_col(&d->skipped, "path"), sr = tsv_col(&d->skipped, "reason");
        html_printf(h, "<p>%d recording%s left out of everything below (unreadable; from <code>", d->left,
                    d->left == 1 ? "" : "s");
        html_text(h, d->skipped.name);
        html_raw(h, "</code>):</p>\n<table><thead><tr><th>recording</th><th>reason</th></tr></thead><tbody>\n");
        for (size_t j = 0; j < d->skipped.nrows; j++) {
            html_raw(h, "<tr><td>");
            html_text(h, d->skipped.rows[j][sp]);
            html_raw(h, "</td><td>");
            html_text(h, d->skipped.rows[j][sr]);
            html_raw(h, "</td></tr>\n");
        }
        html_raw(h, "</tbody></table>\n");
    }
    html_raw(h, "<h3>Recordings per class and split</h3>\n<table class=\"num\"><thead><tr><th>class</th>");
    for (int s = 0; s < 3; s++) th(h, SPLITS[s]);
    html_raw(h, "<th>total</th></tr></thead><tbody>\n");
    long tot[4] = {0};
    for (int c = 0; c < d->k; c++) {
        html_raw(h, "<tr>");
        td(h, d->names[c]);
        long row = 0;
        for (int s = 0; s < 3; s++) { tdi(h, d->counts[3 * c + s]); row += d->counts[3 * c + s]; tot[s] += d->counts[3 * c + s]; }
        tdi(h, row);
        tot[3] += row;
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</tbody><tfoot><tr><th>all</th>");
    for (int s = 0; s < 4; s++) tdi(h, tot[s]);
    html_raw(h, "</tr></tfoot></table>\n");
    Canvas im;
    if (fig_split_counts(&im, d->k, d->names, d->counts) < 0) return -1;
    if (add_figure(x, &im, "data-splits.png", "Recordings per class and split", NULL, NULL, 0) < 0) return -1;

    /* durations */
    html_raw(h, "<h3>Durations</h3>\n<table class=\"num\"><thead><tr><th>class</th><th>recordings</th><th>min (s)</th>"
                "<th>median (s)</th><th>mean (s)</th><th>max (s)</th><th>total (s)</th></tr></thead><tbody>\n");
    double *y = xcalloc((size_t)d->nrec, sizeof *y), *s = xcalloc((size_t)d->nrec, sizeof *s);
    int *cls = xcalloc((size_t)d->nrec, sizeof *cls);
    if (!y || !s || !cls) { free(y); free(s); free(cls); return -1; }
    for (int i = 0; i < d->nrec; i++) { y[i] = d->recs[i].seconds; cls[i] = d->recs[i].cls; }
    for (int c = 0; c < d->k; c++) {
        int m = 0;
        double sum = 0;
        for (int i = 0; i < d->nrec; i++)
            if (cls[i] == c) { s[m++] = y[i]; sum += y[i]; }
        html_raw(h, "<tr>");
        td(h, d->names[c]);
        tdi(h, m);
        if (m) {
            qsort(s, (size_t)m, sizeof *s, cmp_dbl);
            double med = m % 2 ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
            tdn(h, "%.3f", s[0]); tdn(h, "%.3f", med); tdn(h, "%.3f", sum / m); tdn(h, "%.3f", s[m - 1]); tdn(h, "%.1f", sum);
        } else {
            for (int j = 0; j < 5; j++) tdn(h, "%f", NAN);
        }
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</tbody></table>\n");
    int rc = fig_strip(&im, "Duration of the recordings per class", "seconds", d->k, d->names, y, cls, NULL, d->nrec, 0,
                       NAN, x->c->seed);
    free(y); free(s); free(cls);
    if (rc < 0 || add_figure(x, &im, "data-durations.png", "Durations per class",
                             "Each point is a recording; boxes span the quartiles with the median, whiskers the range.",
                             NULL, 0) < 0)
        return -1;

    /* sample rates and channels */
    const Rec **by = xcalloc((size_t)d->nrec, sizeof *by);
    if (!by) return -1;
    for (int i = 0; i < d->nrec; i++) by[i] = &d->recs[i];
    qsort(by, (size_t)d->nrec, sizeof *by, cmp_rate);
    html_raw(h, "<h3>Sample rates and channels</h3>\n<table class=\"num\"><thead><tr><th>sample rate (Hz)</th>"
                "<th>channels</th><th>recordings</th></tr></thead><tbody>\n");
    for (int i = 0; i < d->nrec;) {
        int j = i;
        while (j < d->nrec && by[j]->rate == by[i]->rate && by[j]->channels == by[i]->channels) j++;
        html_raw(h, "<tr>");
        tdn(h, "%g", by[i]->rate);
        tdi(h, by[i]->channels);
        tdi(h, j - i);
        html_raw(h, "</tr>\n");
        i = j;
    }
    html_raw(h, "</tbody></table>\n");
    free(by);

    /* one example per class */
    stage(x, "example waveforms and spectrograms");
    FrontEnd fe;
    example_frontend(frontend_text, &fe);
    html_raw(h, "<h3>One recording of each class</h3>\n<p>The first recording of each class (train split first); "
                "spectrogram with the front end ");
    if (frontend_text && *frontend_text) {
        html_raw(h, "recorded in the first model: <code>");
        html_text(h, frontend_text);
        html_raw(h, "</code>");
    }
    else html_raw(h, "of wav2mel's defaults");
    html_raw(h, ", before normalisation.");
    if (x->c->audio) html_raw(h, " Click a figure to hear the recording.");
    html_raw(h, "</p>\n");
    rc = 0;
    for (int c = 0; c < d->k && rc == 0; c++) rc = example_figure(x, d, c, &fe);
    frontend_free(&fe);
    html_raw(h, "</section>\n");
    return rc;
}

/* ---- models: checkpoint, history, evaluation --------------------------------------------------- */

typedef struct Model {
    const ReportModel *spec;
    char file[128];              /* name as a file-name part */
    /* checkpoint metadata (copies) */
    char *arch, *input_shape, *training, *frontend, *monitor, *best;
    int best_epoch;
    long long params;
    /* history */
    Tsv hist;
    int nh, hist_ml; /* hist_ml: train_map/val_map (macro AP) in ta/va, not accuracy */
    double *ep, *tl, *ta, *vl, *va, *lr, *sec;
    double seconds;
    /* evaluation */
    int has_eval;
    Tsv pred;
    int k;
    const char **classes;        /* from the p_ columns */
    int *truth, *guess;          /* class indices; truth -1 when unknown */
    double *conf;
    int nlab, nright;
    int64_t *cm;                 /* k x k */
    double *prec, *rec, *f1;
    long *support;
    double acc, loss, topk;
    int topk_k;
    double macro[3], weighted[3];
    /* a multi-label evaluation (predictions key, true, predicted, p_CLASS...; metrics from metrics.json) */
    int ml_eval, ml_metrics;     /* ml_metrics: metrics.json was there */
    double *ap, *auc, *bthr, *bf1, ml_thr;
    double ml_avg[2][3];         /* macro, micro: average precision, ROC-AUC, F1 */
} Model;

static void model_free(Model *m) {
    free(m->arch); free(m->input_shape); free(m->training); free(m->frontend); free(m->monitor); free(m->best);
    tsv_free(&m->hist);
    free(m->ep); free(m->tl); free(m->ta); free(m->vl); free(m->va); free(m->lr); free(m->sec);
    tsv_free(&m->pred);
    free(m->classes); free(m->truth); free(m->guess); free(m->conf); free(m->cm);
    free(m->prec); free(m->rec); free(m->f1); free(m->support);
    free(m->ap); free(m->auc); free(m->bthr); free(m->bf1);
    memset(m, 0, sizeof *m);
}

static char *meta_dup(const StFile *f, const char *key) {
    const char *v = st_meta_get(f, key);
    return strdup(v ? v : "");
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int load_checkpoint(Model *m) {
    StFile f;
    if (st_open(m->spec->ckpt, &f) < 0) return -1;
    const char *fmt = st_meta_get(&f, "format");
    if (!fmt || strncmp(fmt, "audiocnn-checkpoint", 19) != 0) {
        err_set("%s: not an audiocnn checkpoint (no format metadata)", m->spec->ckpt);
        st_close(&f);
        return -1;
    }
    m->arch = meta_dup(&f, "arch");
    m->input_shape = meta_dup(&f, "input_shape");
    m->training = meta_dup(&f, "training");
    m->frontend = meta_dup(&f, "frontend");
    m->monitor = meta_dup(&f, "monitor");
    m->best = meta_dup(&f, "best");
    const char *ep = st_meta_get(&f, "epoch");
    m->best_epoch = ep ? atoi(ep) : 0;
    for (int i = 0; i < f.n; i++) {
        const char *n = f.e[i].name;
        if (ends_with(n, ".running_mean") || ends_with(n, ".running_var") || ends_with(n, ".num_batches_tracked") ||
            strncmp(n, "opt.", 4) == 0)
            continue;
        m->params += f.e[i].numel;
    }
    st_close(&f);
    if (!m->arch || !m->input_shape || !m->training || !m->frontend || !m->monitor || !m->best) {
        err_set("out of memory");
        return -1;
    }
    return 0;
}

static int load_history(Model *m) {
    size_t n = strlen(m->spec->history) + 5;
    char *p = malloc(n);
    if (!p) { err_set("out of memory"); return -1; }
    snprintf(p, n, "%s.tsv", m->spec->history);
    int rc = tsv_read(p, &m->hist);
    free(p);
    if (rc < 0) return -1;
    static const char *const slcols[7] = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"};
    static const char *const mlcols[7] = {"epoch", "train_loss", "train_map", "val_loss", "val_map", "lr", "seconds"};
    /* a multi-label history (cnntrain --multilabel) has macro average precision where accuracy was */
    m->hist_ml = tsv_col(&m->hist, "train_acc") < 0 && tsv_col(&m->hist, "train_map") >= 0;
    const char *const *cols = m->hist_ml ? mlcols : slcols;
    int ci[7];
    for (int j = 0; j < 7; j++)
        if ((ci[j] = tsv_col(&m->hist, cols[j])) < 0) { err_set("%s: no %s column", m->hist.name, cols[j]); return -1; }
    m->nh = (int)m->hist.nrows;
    double **dst[7] = {&m->ep, &m->tl, &m->ta, &m->vl, &m->va, &m->lr, &m->sec};
    for (int j = 0; j < 7; j++)
        if (!(*dst[j] = xcalloc((size_t)m->nh, sizeof(double)))) return -1;
    for (int i = 0; i < m->nh; i++)
        for (int j = 0; j < 7; j++) {
            const char *s = m->hist.rows[i][ci[j]];
            double v;
            if (strcmp(s, "nan") == 0 && j != 0) v = NAN;
            else if (!parse_double(s, &v) || !isfinite(v)) {
                err_set("%s: line %zu: %s '%s' is not a number", m->hist.name, m->hist.lineno[i], cols[j], s);
                return -1;
            }
            (*dst[j])[i] = v;
            if (j == 6) m->seconds += v;
        }
    return 0;
}

/* A multi-label model's evaluation: predictions.tsv (key, true, predicted, p_CLASS...: class sets and
 * one probability per class) and, when there, metrics.json (multi_metrics_write_json's object with
 * cnneval's loss), checked against the predictions' classes and count. */
static int load_eval_ml(Model *m) {
    Tsv *t = &m->pred;
    int k = m->k = t->ncols - 3;
    size_t n = t->nrows;
    m->ml_eval = 1;
    m->acc = m->loss = m->topk = NAN;
    for (int j = 0; j < 3; j++) m->macro[j] = m->weighted[j] = NAN;
    m->classes = xcalloc((size_t)k, sizeof *m->classes);
    m->prec = xcalloc((size_t)k, sizeof *m->prec);
    m->rec = xcalloc((size_t)k, sizeof *m->rec);
    m->f1 = xcalloc((size_t)k, sizeof *m->f1);
    m->support = xcalloc((size_t)k, sizeof *m->support);
    m->ap = xcalloc((size_t)k, sizeof *m->ap);
    m->auc = xcalloc((size_t)k, sizeof *m->auc);
    m->bthr = xcalloc((size_t)k, sizeof *m->bthr);
    m->bf1 = xcalloc((size_t)k, sizeof *m->bf1);
    if (!m->classes || !m->prec || !m->rec || !m->f1 || !m->support || !m->ap || !m->auc || !m->bthr || !m->bf1) return -1;
    for (int c = 0; c < k; c++) {
        if (strncmp(t->header[3 + c], "p_", 2) != 0) { err_set("%s: column '%s' is not p_CLASS", t->name, t->header[3 + c]); return -1; }
        m->classes[c] = t->header[3 + c] + 2;
    }
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++) {
            double v;
            if (!parse_double(t->rows[i][3 + c], &v) || !(v >= 0 && v <= 1)) {
                err_set("%s: line %zu: %s '%s' is not a probability", t->name, t->lineno[i], t->header[3 + c], t->rows[i][3 + c]);
                return -1;
            }
        }
    char *p = join(m->spec->eval, "metrics.json");
    if (!p) return -1;
    int rc = 0;
    if (exists(p)) {
        JsonValue j;
        if (json_read_file(p, &j) < 0) { free(p); return -1; }
        const JsonValue *pc = json_get(&j, "per_class");
        double samples = json_get_number(&j, "samples");
        m->loss = json_get_number(&j, "loss");
        m->ml_thr = json_get_number(&j, "threshold");
        if (!pc || pc->type != JV_ARRAY || (int)pc->n != k || !isfinite(samples) || !isfinite(m->ml_thr)) {
            err_set("%s: not cnneval's multi-label metrics (samples, threshold, per_class of %d classes)", p, k);
            rc = -1;
        } else if ((size_t)samples != n) {
            err_set("%s: does not match %s (%g samples; the predictions have %zu)", p, t->name, samples, n);
            rc = -1;
        }
        for (int c = 0; rc == 0 && c < k; c++) {
            const JsonValue *o = &pc->items[c], *name = json_get(o, "name");
            if (!name || name->type != JV_STRING || strcmp(name->string, m->classes[c])) {
                err_set("%s: per_class[%d] is not class '%s' of %s", p, c, m->classes[c], t->name);
                rc = -1;
                break;
            }
            double sup = json_get_number(o, "support");
            m->support[c] = isfinite(sup) ? (long)sup : 0;
            m->ap[c] = json_get_number(o, "average_precision");
            m->auc[c] = json_get_number(o, "roc_auc");
            m->prec[c] = json_get_number(o, "precision");
            m->rec[c] = json_get_number(o, "recall");
            m->f1[c] = json_get_number(o, "f1");
            m->bthr[c] = json_get_number(o, "best_threshold");
            m->bf1[c] = json_get_number(o, "best_f1");
        }
        static const char *const avg[2] = {"macro_avg", "micro_avg"}, *const keys[3] = {"average_precision", "roc_auc", "f1"};
        for (int a = 0; a < 2; a++)
            for (int q = 0; q < 3; q++) m->ml_avg[a][q] = json_get_number(json_get(&j, avg[a]), keys[q]);
        json_value_free(&j);
        m->ml_metrics = rc == 0;
        if (rc == 0) { /* the comparison table's macro precision, recall and F1 */
            m->macro[0] = m->macro[1] = 0;
            for (int c = 0; c < k; c++) m->macro[0] += m->prec[c] / k, m->macro[1] += m->rec[c] / k;
            m->macro[2] = m->ml_avg[0][2];
        }
    }
    free(p);
    if (rc == 0) m->has_eval = 1;
    return rc;
}

static int load_eval(Model *m) {
    char *p = join(m->spec->eval, "predictions.tsv");
    if (!p) return -1;
    int rc = tsv_read(p, &m->pred);
    free(p);
    if (rc < 0) return -1;
    Tsv *t = &m->pred;
    if (t->ncols >= 4 && !strcmp(t->header[0], "key") && !strcmp(t->header[1], "true") && !strcmp(t->header[2], "predicted") &&
        !strncmp(t->header[3], "p_", 2))
        return load_eval_ml(m);
    if (t->ncols < 5 || strcmp(t->header[0], "key") || strcmp(t->header[1], "true") || strcmp(t->header[2], "predicted") ||
        strcmp(t->header[3], "confidence")) {
        err_set("%s: not cnneval's predictions (header key, true, predicted, confidence, p_CLASS...)", t->name);
        return -1;
    }
    int k = m->k = t->ncols - 4;
    size_t n = t->nrows;
    m->classes = xcalloc((size_t)k, sizeof *m->classes);
    m->truth = xcalloc(n, sizeof *m->truth);
    m->guess = xcalloc(n, sizeof *m->guess);
    m->conf = xcalloc(n, sizeof *m->conf);
    m->cm = xcalloc((size_t)k * (size_t)k, sizeof *m->cm);
    m->prec = xcalloc((size_t)k, sizeof *m->prec);
    m->rec = xcalloc((size_t)k, sizeof *m->rec);
    m->f1 = xcalloc((size_t)k, sizeof *m->f1);
    m->support = xcalloc((size_t)k, sizeof *m->support);
    if (!m->classes || !m->truth || !m->guess || !m->conf || !m->cm || !m->prec || !m->rec || !m->f1 || !m->support) return -1;
    for (int c = 0; c < k; c++) {
        if (strncmp(t->header[4 + c], "p_", 2) != 0) { err_set("%s: column '%s' is not p_CLASS", t->name, t->header[4 + c]); return -1; }
        m->classes[c] = t->header[4 + c] + 2;
    }
    for (size_t i = 0; i < n; i++) {
        const char *tr = t->rows[i][1], *pr = t->rows[i][2];
        m->truth[i] = -1;
        m->guess[i] = -1;
        for (int c = 0; c < k; c++) {
            if (strcmp(m->classes[c], tr) == 0 && m->truth[i] < 0) m->truth[i] = c;
            if (strcmp(m->classes[c], pr) == 0 && m->guess[i] < 0) m->guess[i] = c;
        }
        if (m->guess[i] < 0 || (*tr && m->truth[i] < 0)) {
            err_set("%s: line %zu: class '%s' is not one of the p_ columns", t->name, t->lineno[i], m->guess[i] < 0 ? pr : tr);
            return -1;
        }
        if (!parse_double(t->rows[i][3], &m->conf[i]) || !(m->conf[i] >= 0 && m->conf[i] <= 1)) {
            err_set("%s: line %zu: confidence '%s' is not a probability", t->name, t->lineno[i], t->rows[i][3]);
            return -1;
        }
        if (m->truth[i] >= 0) {
            m->nlab++;
            m->nright += m->truth[i] == m->guess[i];
            m->cm[m->truth[i] * k + m->guess[i]]++;
        }
    }
    /* per-class scores as scikit-learn's classification_report (zero_division=0) */
    for (int c = 0; c < k; c++) {
        long tp = (long)m->cm[c * k + c], sup = 0, pred = 0;
        for (int j = 0; j < k; j++) { sup += (long)m->cm[c * k + j]; pred += (long)m->cm[j * k + c]; }
        m->support[c] = sup;
        m->prec[c] = pred ? (double)tp / pred : 0;
        m->rec[c] = sup ? (double)tp / sup : 0;
        m->f1[c] = m->prec[c] + m->rec[c] > 0 ? 2 * m->prec[c] * m->rec[c] / (m->prec[c] + m->rec[c]) : 0;
        m->macro[0] += m->prec[c] / k; m->macro[1] += m->rec[c] / k; m->macro[2] += m->f1[c] / k;
        if (m->nlab) {
            double w = (double)sup / m->nlab;
            m->weighted[0] += w * m->prec[c]; m->weighted[1] += w * m->rec[c]; m->weighted[2] += w * m->f1[c];
        }
    }
    m->acc = m->nlab ? (double)m->nright / m->nlab : NAN;
    m->loss = m->topk = NAN;
    if (!m->nlab) for (int j = 0; j < 3; j++) m->macro[j] = m->weighted[j] = NAN;
    /* metrics.json, when cnneval wrote one: the loss and top-k, and a check that it is this evaluation */
    p = join(m->spec->eval, "metrics.json");
    if (!p) return -1;
    if (exists(p)) {
        JsonValue j;
        if (json_read_file(p, &j) < 0) { free(p); return -1; }
        double samples = json_get_number(&j, "samples"), acc = json_get_number(&j, "accuracy");
        m->loss = json_get_number(&j, "loss");
        for (size_t i = 0; i < j.n && j.type == JV_OBJECT; i++) {
            int kk;
            char tail[32];
            if (sscanf(j.keys[i], "top%d%31s", &kk, tail) == 2 && strcmp(tail, "_accuracy") == 0 && j.items[i].type == JV_NUMBER) {
                m->topk = j.items[i].number;
                m->topk_k = kk;
            }
        }
        json_value_free(&j);
        if (!isfinite(samples) || !isfinite(acc) || !isfinite(m->loss)) {
            err_set("%s: not cnneval's metrics (needs samples, accuracy, loss)", p);
            free(p);
            return -1;
        }
        if ((size_t)samples != n || fabs(acc - m->acc) > 1e-9) {
            err_set("%s: does not match %s (%g samples, accuracy %g; the predictions give %zu, %g)", p, t->name, samples, acc,
                    n, m->acc);
            free(p);
            return -1;
        }
    }
    free(p);
    m->has_eval = 1;
    return 0;
}

/* ---- the test data behind the predictions (for the galleries) ---------------------------------- */

typedef struct TestData {
    int n;
    NpyMap map;
    int mapped;
    Manifest man;
    int has_man;
    Tensor *arrays;
    const float **spec;
    int *F, *T;
    Tsv list;
    int has_list;
    const char **name;
    const char **src;    /* the recording of each sample (NULL: not known) */
    double *start, *end; /* the part of it the sample was made from (end <= start: from start on) */
} TestData;

static void test_free(TestData *d) {
    if (d->mapped) npy_unmap(&d->map);
    if (d->arrays)
        for (int i = 0; i < d->n; i++) tensor_free(&d->arrays[i]);
    if (d->has_man) manifest_free(&d->man);
    if (d->has_list) tsv_free(&d->list);
    free(d->arrays); free(d->spec); free(d->F); free(d->T); free(d->name);
    free(d->src); free(d->start); free(d->end);
    memset(d, 0, sizeof *d);
}

static int test_load(const ReportConfig *c, TestData *d) {
    memset(d, 0, sizeof *d);
    if (ends_with(c->test, ".npy")) {
        if (npy_map(c->test, &d->map) < 0) return -1;
        d->mapped = 1;
        if (d->map.dtype != DT_F32 || (d->map.ndim != 4 && d->map.ndim != 3)) {
            err_set("%s: not a stack of spectrograms (a float32 array (N, 1, F, T))", c->test);
            return -1;
        }
        int nd = d->map.ndim;
        int64_t n = d->map.shape[0], F = d->map.shape[nd - 2], T = d->map.shape[nd - 1];
        int64_t per = nd == 4 ? d->map.shape[1] * F * T : F * T;
        if (n > 10000000 || F < 1 || T < 1 || F > 100000 || T > 10000000) { err_set("%s: unreasonable shape", c->test); return -1; }
        d->n = (int)n;
        d->spec = xcalloc((size_t)n, sizeof *d->spec);
        d->F = xcalloc((size_t)n, sizeof *d->F);
        d->T = xcalloc((size_t)n, sizeof *d->T);
        if (!d->spec || !d->F || !d->T) return -1;
        for (int64_t i = 0; i < n; i++) {
            d->spec[i] = (const float *)d->map.data + i * per;
            d->F[i] = (int)F;
            d->T[i] = (int)T;
        }
    } else {
        if (manifest_read(c->test, &d->man) < 0) return -1;
        d->has_man = 1;
        d->n = (int)d->man.n;
        d->arrays = xcalloc(d->man.n, sizeof *d->arrays);
        d->spec = xcalloc(d->man.n, sizeof *d->spec);
        d->F = xcalloc(d->man.n, sizeof *d->F);
        d->T = xcalloc(d->man.n, sizeof *d->T);
        if (!d->arrays || !d->spec || !d->F || !d->T) return -1;
        ManifestArrays it;
        manifest_arrays_open(&it, &d->man);
        for (int i = 0; i < d->n; i++) {
            if (manifest_arrays_next(&it, DT_F32, &d->arrays[i]) != 1) { manifest_arrays_close(&it); return -1; }
            Tensor *t = &d->arrays[i];
            if (t->ndim < 2) { manifest_arrays_close(&it); err_set("%s: array %d is not a spectrogram", c->test, i); return -1; }
            d->spec[i] = tensor_f32(t);
            d->F[i] = (int)t->shape[t->ndim - 2];
            d->T[i] = (int)t->shape[t->ndim - 1];
        }
        manifest_arrays_close(&it);
    }
    d->name = xcalloc((size_t)d->n, sizeof *d->name);
    d->src = xcalloc((size_t)d->n, sizeof *d->src);
    d->start = xcalloc((size_t)d->n, sizeof *d->start);
    d->end = xcalloc((size_t)d->n, sizeof *d->end);
    if (!d->name || !d->src || !d->start || !d->end) return -1;
    if (c->test_list) {
        if (tsv_read(c->test_list, &d->list) < 0) return -1;
        d->has_list = 1;
        int col = tsv_col(&d->list, "path");
        if (col < 0) col = tsv_col(&d->list, "source");
        if (col < 0) { err_set("%s: needs a path or source column", c->test_list); return -1; }
        if (d->list.nrows != (size_t)d->n) {
            err_set("%s: %zu rows, but %s has %d samples", c->test_list, d->list.nrows, c->test, d->n);
            return -1;
        }
        /* a manifest gives the part of the recording each spectrogram was made from */
        int cs = tsv_col(&d->list, "start"), ce = tsv_col(&d->list, "end");
        for (int i = 0; i < d->n; i++) {
            d->name[i] = base_name(d->list.rows[i][col]);
            d->src[i] = d->list.rows[i][col];
            if (cs >= 0 && ce >= 0 && (!parse_double(d->list.rows[i][cs], &d->start[i]) ||
                                       !parse_double(d->list.rows[i][ce], &d->end[i]) || !(d->start[i] >= 0))) {
                err_set("%s: line %zu: start '%s' or end '%s' is not a time in seconds", c->test_list,
                        d->list.lineno[i], d->list.rows[i][cs], d->list.rows[i][ce]);
                return -1;
            }
        }
    } else if (d->has_man) {
        for (int i = 0; i < d->n; i++) {
            d->name[i] = d->man.rows[i].key;
            d->src[i] = d->man.rows[i].source;
            d->start[i] = d->man.rows[i].start;
            d->end[i] = d->man.rows[i].end;
        }
    }
    return 0;
}

/* The predictions of M must be one per sample of the test data, in its order. */
static int test_check(const ReportConfig *c, const TestData *d, const Model *m) {
    if ((size_t)d->n != m->pred.nrows) {
        err_set("%s: %zu predictions, but %s has %d samples", m->pred.name, m->pred.nrows, c->test, d->n);
        return -1;
    }
    for (int i = 0; i < d->n; i++) {
        const char *key = m->pred.rows[i][0];
        char want[32];
        const char *w = want;
        if (d->has_man) w = d->man.rows[i].key;
        else snprintf(want, sizeof want, "#%d", i);
        if (strcmp(key, w) != 0) {
            err_set("%s: line %zu: key '%s', but sample %d of %s is '%s'", m->pred.name, m->pred.lineno[i], key, i, c->test, w);
            return -1;
        }
    }
    return 0;
}

/* ---- model sections ------------------------------------------------------------------------------ */

static void duration_text(double s, char *buf, size_t n) {
    if (!isfinite(s)) snprintf(buf, n, "-");
    else if (s < 60) snprintf(buf, n, "%.1f s", s);
    else if (s < 3600) snprintf(buf, n, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static void comparison_section(Ctx *x, Model *ms, int n) {
    Html *h = &x->body;
    section(x, "models", "Models");
    double best = -1;
    for (int i = 0; i < n; i++)
        if (ms[i].has_eval && ms[i].acc > best) best = ms[i].acc;
    html_raw(h, "<div class=\"wide\"><table class=\"num\"><thead><tr><th rowspan=\"2\">model</th><th rowspan=\"2\">arch</th>"
                "<th rowspan=\"2\">input</th><th rowspan=\"2\">parameters</th><th rowspan=\"2\">epochs</th>"
                "<th rowspan=\"2\">best epoch</th><th rowspan=\"2\">training time</th><th rowspan=\"2\">test samples</th>"
                "<th rowspan=\"2\">test accuracy</th><th rowspan=\"2\">test loss</th><th rowspan=\"2\">top-k accuracy</th>"
                "<th colspan=\"3\">macro average</th><th colspan=\"3\">weighted average</th></tr>\n"
                "<tr><th>precision</th><th>recall</th><th>F1</th><th>precision</th><th>recall</th><th>F1</th></tr></thead><tbody>\n");
    for (int i = 0; i < n; i++) {
        Model *m = &ms[i];
        html_raw(h, "<tr>");
        html_printf(h, "<td><a href=\"#model-%d\">", i + 1);
        html_text(h, m->spec->name);
        html_raw(h, "</a></td>");
        td(h, m->arch);
        td(h, m->input_shape);
        tdi(h, m->params);
        if (m->nh) tdi(h, m->nh); else tdn(h, "%f", NAN);
        if (m->best_epoch > 0) tdi(h, m->best_epoch); else tdn(h, "%f", NAN);
        char buf[64];
        duration_text(m->nh ? m->seconds : NAN, buf, sizeof buf);
        html_raw(h, "<td class=\"n\">"); html_text(h, buf); html_raw(h, "</td>");
        if (m->has_eval) {
            tdi(h, (long long)m->pred.nrows);
            html_printf(h, "<td class=\"n%s\">", m->acc == best ? " best" : "");
            html_num(h, "%.4f", m->acc);
            html_raw(h, "</td>");
            tdn(h, "%.4f", m->loss);
            if (m->topk_k) html_printf(h, "<td class=\"n\">%.4f (top-%d)</td>", m->topk, m->topk_k);
            else tdn(h, "%f", NAN);
            for (int j = 0; j < 3; j++) tdn(h, "%.4f", m->macro[j]);
            for (int j = 0; j < 3; j++) tdn(h, "%.4f", m->weighted[j]);
        } else {
            for (int j = 0; j < 10; j++) tdn(h, "%f", NAN);
        }
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</tbody></table></div>\n<p class=\"note\">Parameters: trainable weights (BatchNorm running statistics "
                "not counted). Epochs: rows of the training history; best epoch: the one saved in the checkpoint. Test "
                "scores are computed from cnneval's predictions.tsv with scikit-learn's conventions; the loss and top-k "
                "accuracy come from its metrics.json.</p>\n</section>\n");
}

static int curves_section(Ctx *x, Model *ms, int n) {
    int any = 0;
    for (int i = 0; i < n; i++) any |= ms[i].nh > 0;
    if (!any) return 0;
    section(x, "curves", "Learning curves");
    int ml = 0;
    for (int i = 0; i < n; i++) ml |= ms[i].nh > 0 && ms[i].hist_ml;
    html_printf(&x->body, "<p>Loss and accuracy per epoch on the training batches (augmented, training mode) and on the "
                          "validation split; the dashed line marks the epoch kept in the checkpoint.%s</p>\n",
                ml ? " Multi-label models (cnntrain --multilabel) show their binary cross-entropy and, instead of "
                     "accuracy, the macro average precision (train_map, val_map)." : "");
    for (int i = 0; i < n; i++) {
        Model *m = &ms[i];
        if (!m->nh) continue;
        Canvas im;
        char file[160], alt[300];
        if (fig_curves_metric(&im, m->spec->name, m->hist_ml ? "macro AP" : "accuracy", m->nh, m->ep, m->tl, m->vl, m->ta,
                              m->va, m->best_epoch) < 0)
            return -1;
        snprintf(file, sizeof file, "%s-curves.png", m->file);
        snprintf(alt, sizeof alt, "Learning curves of %s", m->spec->name);
        if (add_figure(x, &im, file, alt, alt, NULL, 0) < 0) return -1;
    }
    html_raw(&x->body, "</section>\n");
    return 0;
}

static const char *sample_name(const Model *m, const TestData *d, int i) {
    return d && d->name[i] ? d->name[i] : m->pred.rows[i][0];
}

typedef struct ConfIdx { double conf; int i; } ConfIdx;
static int cmp_conf(const void *a, const void *b) {
    const ConfIdx *x = a, *y = b;
    if (x->conf != y->conf) return x->conf < y->conf ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}
static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int gallery(Ctx *x, const Model *m, const TestData *d, const int *idx, int g, const char *title, const char *file) {
    GalleryItem *it = xcalloc((size_t)g, sizeof *it);
    if (!it) return -1;
    for (int j = 0; j < g; j++) {
        int i = idx[j];
        it[j] = (GalleryItem){d->spec[i], d->F[i], d->T[i], sample_name(m, d, i),
                              m->truth[i] >= 0 ? m->classes[m->truth[i]] : "?", m->classes[m->guess[i]], m->conf[i],
                              m->truth[i] < 0 ? -1 : m->truth[i] == m->guess[i]};
    }
    Canvas im;
    Spot *sp = xcalloc((size_t)g, sizeof *sp);
    FigRect *tiles = xcalloc((size_t)g, sizeof *tiles);
    int rc = sp && tiles ? fig_gallery(&im, title, it, g, 5, tiles) : -1;
    free(it);
    for (int j = 0; rc == 0 && j < g; j++) {
        int i = idx[j];
        sp[j].r = tiles[j];
        sp[j].label = sample_name(m, d, i);
        if (d->src && d->src[i] && *d->src[i]) rc = make_clip(x, d->src[i], d->start[i], d->end[i], &sp[j]);
    }
    if (rc == 0) rc = add_figure(x, &im, file, title, NULL, sp, g);
    else if (tiles && sp) canvas_free(&im);
    spots_free(sp, g);
    free(sp);
    free(tiles);
    if (rc < 0) return -1;
    /* the same samples as text, with full names */
    Html *h = &x->body;
    html_raw(h, "<details><summary>as a table</summary><table class=\"num\"><thead><tr><th>sample</th><th>true</th>"
                "<th>predicted</th><th>confidence</th></tr></thead><tbody>\n");
    for (int j = 0; j < g; j++) {
        int i = idx[j];
        html_printf(h, "<tr class=\"%s\">", m->truth[i] < 0 ? "unk" : m->truth[i] == m->guess[i] ? "right" : "wrong");
        td(h, sample_name(m, d, i));
        td(h, m->truth[i] >= 0 ? m->classes[m->truth[i]] : "");
        td(h, m->classes[m->guess[i]]);
        tdn(h, "%.4f", m->conf[i]);
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</tbody></table></details>\n");
    return 0;
}

/* A multi-label evaluation: the per-class table of its metrics.json (no confusion matrix: a sample is
 * not simply right or wrong). */
static void eval_section_ml(Ctx *x, const Model *m) {
    Html *h = &x->body;
    html_raw(h, "<p>cnneval's output in <code>");
    html_text(h, m->spec->eval);
    html_printf(h, "</code>: a multi-label model (one sigmoid per class), %zu samples", m->pred.nrows);
    if (!m->ml_metrics) {
        html_raw(h, "; no metrics.json (unlabelled data).</p>\n</section>\n");
        return;
    }
    html_printf(h, ", mean binary cross-entropy %.4f. Per class: average precision and ROC-AUC (scikit-learn's), precision, "
                   "recall and F1 at the threshold %g, and the threshold of the best F1 on this data (cnneval "
                   "--thresholds-out).</p>\n", m->loss, m->ml_thr);
    html_raw(h, "<div class=\"wide\"><table class=\"num\"><thead><tr><th>class</th><th>positives</th><th>average precision</th>"
                "<th>ROC-AUC</th><th>precision</th><th>recall</th><th>F1</th><th>best threshold</th><th>best F1</th></tr>"
                "</thead><tbody>\n");
    for (int c = 0; c < m->k; c++) {
        html_raw(h, "<tr>");
        td(h, m->classes[c]);
        tdi(h, m->support[c]);
        tdn(h, "%.4f", m->ap[c]); tdn(h, "%.4f", m->auc[c]);
        tdn(h, "%.4f", m->prec[c]); tdn(h, "%.4f", m->rec[c]); tdn(h, "%.4f", m->f1[c]);
        tdn(h, "%.4f", m->bthr[c]); tdn(h, "%.4f", m->bf1[c]);
        html_raw(h, "</tr>\n");
    }
    static const char *const AVG[2] = {"macro average", "micro average"};
    for (int a = 0; a < 2; a++) {
        html_raw(h, "<tr>");
        td(h, AVG[a]);
        tdn(h, "%f", NAN);
        tdn(h, "%.4f", m->ml_avg[a][0]); tdn(h, "%.4f", m->ml_avg[a][1]);
        tdn(h, "%f", NAN); tdn(h, "%f", NAN);
        tdn(h, "%.4f", m->ml_avg[a][2]);
        tdn(h, "%f", NAN); tdn(h, "%f", NAN);
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</tbody></table></div>\n</section>\n");
}

static int eval_section(Ctx *x, Model *m, int mi, const TestData *d) {
    Html *h = &x->body;
    char id[32], title[300], file[200];
    snprintf(id, sizeof id, "model-%d", mi + 1);
    snprintf(title, sizeof title, "Evaluation: %s", m->spec->name);
    section(x, id, title);
    if (m->ml_eval) {
        eval_section_ml(x, m);
        return 0;
    }
    html_raw(h, "<p>cnneval's output in <code>");
    html_text(h, m->spec->eval);
    html_printf(h, "</code>: %zu samples, %d with a known class, %d right", m->pred.nrows, m->nlab, m->nright);
    if (m->nlab) html_printf(h, " (accuracy %.4f)", m->acc);
    html_raw(h, ".</p>\n");
    if (m->nlab) {
        html_raw(h, "<h3>Confusion matrix and per-class scores</h3>\n<div class=\"row\">");
        Canvas im;
        snprintf(title, sizeof title, "Confusion matrix: %s", m->spec->name);
        if (fig_confusion(&im, title, m->k, m->classes, m->cm) < 0) return -1;
        snprintf(file, sizeof file, "%s-confusion.png", m->file);
        if (add_figure(x, &im, file, title, "Rows: true class; columns: predicted class; shade: fraction of the row.",
                       NULL, 0) < 0)
            return -1;
        html_raw(h, "<table class=\"num\"><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
                    "<th>support</th></tr></thead><tbody>\n");
        for (int c = 0; c < m->k; c++) {
            html_raw(h, "<tr>");
            td(h, m->classes[c]);
            tdn(h, "%.4f", m->prec[c]); tdn(h, "%.4f", m->rec[c]); tdn(h, "%.4f", m->f1[c]); tdi(h, m->support[c]);
            html_raw(h, "</tr>\n");
        }
        html_raw(h, "</tbody><tfoot>");
        static const char *const avg[2] = {"macro average", "weighted average"};
        for (int a = 0; a < 2; a++) {
            const double *v = a ? m->weighted : m->macro;
            html_raw(h, "<tr>");
            th(h, avg[a]);
            tdn(h, "%.4f", v[0]); tdn(h, "%.4f", v[1]); tdn(h, "%.4f", v[2]); tdi(h, m->nlab);
            html_raw(h, "</tr>");
        }
        html_raw(h, "</tfoot></table></div>\n");

        /* confidence per class */
        int n = (int)m->pred.nrows, nl = 0;
        double *y = xcalloc((size_t)n, sizeof *y);
        int *cls = xcalloc((size_t)n, sizeof *cls), *ok = xcalloc((size_t)n, sizeof *ok);
        if (!y || !cls || !ok) { free(y); free(cls); free(ok); return -1; }
        for (int i = 0; i < n; i++)
            if (m->truth[i] >= 0) { y[nl] = m->conf[i]; cls[nl] = m->truth[i]; ok[nl] = m->truth[i] == m->guess[i]; nl++; }
        snprintf(title, sizeof title, "Confidence per true class: %s", m->spec->name);
        int rc = fig_strip(&im, title, "confidence", m->k, m->classes, y, cls, ok, nl, 0, 1, x->c->seed);
        free(y); free(cls); free(ok);
        if (rc < 0) return -1;
        html_raw(h, "<h3>Confidence</h3>\n");
        snprintf(file, sizeof file, "%s-confidence.png", m->file);
        if (add_figure(x, &im, file, title, "Each point is a test sample: the probability of the predicted class, "
                                              "green when the prediction is right, red when wrong.", NULL, 0) < 0)
            return -1;
    }

    /* galleries */
    int n = (int)m->pred.nrows, g = x->c->gallery < n ? x->c->gallery : n;
    if (d && g > 0) {
        html_raw(h, "<h3>Galleries</h3>\n");
        if (x->c->audio && d->src[0])
            html_raw(h, "<p>Click a tile to hear what the model heard (the part of the recording the spectrogram was made "
                        "from).</p>\n");
        ConfIdx *ci = xcalloc((size_t)n, sizeof *ci);
        int *idx = xcalloc((size_t)n, sizeof *idx);
        if (!ci || !idx) { free(ci); free(idx); return -1; }
        for (int i = 0; i < n; i++) ci[i] = (ConfIdx){m->conf[i], i};
        qsort(ci, (size_t)n, sizeof *ci, cmp_conf);
        for (int j = 0; j < g; j++) idx[j] = ci[j].i;
        snprintf(title, sizeof title, "The %d least confident test predictions: %s", g, m->spec->name);
        snprintf(file, sizeof file, "%s-least-confident.png", m->file);
        int rc = gallery(x, m, d, idx, g, title, file);
        if (rc == 0) {
            Rng r;
            rng_seed(&r, x->c->seed);
            for (int i = 0; i < n; i++) idx[i] = i;
            for (int j = 0; j < g; j++) { /* the first g of a seeded Fisher-Yates shuffle */
                int k = j + (int)rng_below(&r, (uint64_t)(n - j));
                int t = idx[j]; idx[j] = idx[k]; idx[k] = t;
            }
            qsort(idx, (size_t)g, sizeof *idx, cmp_int);
            snprintf(title, sizeof title, "%d random test predictions (seed %llu): %s", g, (unsigned long long)x->c->seed,
                     m->spec->name);
            snprintf(file, sizeof file, "%s-random.png", m->file);
            rc = gallery(x, m, d, idx, g, title, file);
        }
        free(ci);
        free(idx);
        if (rc < 0) return -1;
    }

    /* misclassified */
    html_raw(h, "<h3>Misclassified</h3>\n");
    int nwrong = m->nlab - m->nright;
    if (!nwrong) html_raw(h, "<p>None.</p>\n");
    else {
        html_printf(h, "<p>%d test sample%s, least confident first.</p>\n<div class=\"scroll\"><table class=\"num\"><thead><tr>"
                       "<th>sample</th><th>true</th><th>predicted</th><th>confidence</th><th>p(true)</th></tr></thead><tbody>\n",
                    nwrong, nwrong == 1 ? "" : "s");
        ConfIdx *ci = xcalloc((size_t)n, sizeof *ci);
        if (!ci) return -1;
        int w = 0;
        for (int i = 0; i < n; i++)
            if (m->truth[i] >= 0 && m->truth[i] != m->guess[i]) ci[w++] = (ConfIdx){m->conf[i], i};
        qsort(ci, (size_t)w, sizeof *ci, cmp_conf);
        for (int j = 0; j < w; j++) {
            int i = ci[j].i;
            html_raw(h, "<tr class=\"wrong\">");
            td(h, sample_name(m, d, i));
            td(h, m->classes[m->truth[i]]);
            td(h, m->classes[m->guess[i]]);
            tdn(h, "%.4f", m->conf[i]);
            double pt;
            tdn(h, "%.4f", parse_double(m->pred.rows[i][4 + m->truth[i]], &pt) ? pt : NAN);
            html_raw(h, "</tr>\n");
        }
        free(ci);
        html_raw(h, "</tbody></table></div>\n");
    }
    html_raw(h, "</section>\n");
    return 0;
}

/* ---- cross-validation and the recipe search ---------------------------------------------------------- */

/* "0.8333 ± 0.0962" in a numeric cell; best: in bold green. */
static void td_pm(Html *h, double mean, double std, int best) {
    html_printf(h, "<td class=\"n%s\">", best ? " best" : "");
    html_num(h, "%.4f", mean);
    html_raw(h, " &plusmn; ");
    html_num(h, "%.4f", std);
    html_raw(h, "</td>");
}

static int cv_section(Ctx *x, const CvResults *cv) {
    static const char *const SCORE[CV_NSCORES] = {"accuracy", "macro F1", "loss"};
    Html *h = &x->body;
    int K = cv->nfolds, M = cv->nmodels;
    section(x, "cv", "Cross-validation");
    html_printf(h, "<p>%d-fold cross-validation in <code>", K);
    html_text(h, x->c->cv_dir);
    html_printf(h, "</code>: each of the %d model%s trained on the other folds and tested on each fold in turn, so that "
                   "every recording is tested once. Mean &plusmn; sample standard deviation over the folds.</p>\n",
                M, M == 1 ? "" : "s");
    html_raw(h, "<div class=\"wide\"><table class=\"num\"><thead><tr><th>model</th><th>folds</th><th>accuracy</th>"
                "<th>macro F1</th><th>loss</th></tr></thead><tbody>\n");
    double best = -1;
    for (int m = 0; m < M; m++) best = fmax(best, cv->mean[m * CV_NSCORES + CV_ACC]);
    for (int m = 0; m < M; m++) {
        html_raw(h, "<tr>");
        td(h, cv->models[m]);
        tdi(h, K);
        for (int s = 0; s < CV_NSCORES; s++)
            td_pm(h, cv->mean[m * CV_NSCORES + s], cv->std[m * CV_NSCORES + s], s == CV_ACC && cv->mean[m * CV_NSCORES + s] == best);
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</tbody></table></div>\n<h3>Per fold</h3>\n<div class=\"wide\"><table class=\"num\"><thead><tr>"
                "<th rowspan=\"2\">fold</th>");
    for (int m = 0; m < M; m++) {
        html_raw(h, "<th colspan=\"3\">");
        html_text(h, cv->models[m]);
        html_raw(h, "</th>");
    }
    html_raw(h, "</tr>\n<tr>");
    for (int m = 0; m < M; m++)
        for (int s = 0; s < CV_NSCORES; s++) th(h, SCORE[s]);
    html_raw(h, "</tr></thead><tbody>\n");
    for (int f = 0; f < K; f++) {
        html_printf(h, "<tr><td class=\"n\">%d</td>", cv->fold[f]);
        for (int m = 0; m < M; m++)
            for (int s = 0; s < CV_NSCORES; s++) tdn(h, "%.4f", cv->score[((size_t)m * K + f) * CV_NSCORES + s]);
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</tbody></table></div>\n");
    double *v = xcalloc((size_t)M * (size_t)K, sizeof *v);
    if (!v) return -1;
    for (int s = 0; s < 2; s++) {
        for (int m = 0; m < M; m++)
            for (int f = 0; f < K; f++) v[m * K + f] = cv->score[((size_t)m * K + f) * CV_NSCORES + s];
        Canvas im;
        char title[64], file[64];
        snprintf(title, sizeof title, "Test %s per fold", SCORE[s]);
        snprintf(file, sizeof file, "cv-%s.png", s == CV_ACC ? "accuracy" : "macro-f1");
        if (fig_folds(&im, title, SCORE[s], K, M, cv->models, v) < 0 ||
            add_figure(x, &im, file, title, "Each line is a model; each point its score on the fold held out.", NULL, 0) < 0) {
            free(v);
            return -1;
        }
    }
    free(v);
    html_printf(h, "<h3>Confusion matrices pooled over the folds</h3>\n<p>The sum of the %d folds' confusion matrices: "
                   "every recording once, classified by the model that did not train on it.</p>\n<div class=\"row\">", K);
    for (int m = 0; m < M; m++) {
        Canvas im;
        char title[300], file[200], part[128];
        snprintf(title, sizeof title, "Pooled confusion matrix: %s", cv->models[m]);
        report_file_part(cv->models[m], part, sizeof part);
        snprintf(file, sizeof file, "cv-%s-confusion.png", part);
        if (fig_confusion(&im, title, cv->k, (const char *const *)cv->classes, cv->cm + (size_t)m * cv->k * cv->k) < 0 ||
            add_figure(x, &im, file, title, "Rows: true class; columns: predicted class; shade: fraction of the row.", NULL, 0) < 0)
            return -1;
    }
    html_raw(h, "</div>\n");
    for (int m = 0; m < M; m++) { /* the same counts as text */
        const int64_t *cm = cv->cm + (size_t)m * cv->k * cv->k;
        html_raw(h, "<details><summary>");
        html_text(h, cv->models[m]);
        html_raw(h, ": as a table</summary><div class=\"wide\"><table class=\"num cm\"><thead><tr><th>true \\ predicted</th>");
        for (int j = 0; j < cv->k; j++) th(h, cv->classes[j]);
        html_raw(h, "</tr></thead><tbody>\n");
        for (int i = 0; i < cv->k; i++) {
            html_raw(h, "<tr>");
            th(h, cv->classes[i]);
            for (int j = 0; j < cv->k; j++) tdi(h, (long long)cm[i * cv->k + j]);
            html_raw(h, "</tr>\n");
        }
        html_raw(h, "</tbody></table></div></details>\n");
    }
    if (cv->has_paired) {
        html_raw(h, "<h3>Paired comparison</h3>\n");
        if (!cv->npairs) html_raw(h, "<p>One model: nothing to compare.</p>\n");
        else {
            html_raw(h, "<p>Per pair of models, the test accuracy of A minus that of B on the same fold: mean &plusmn; "
                        "standard deviation over the folds, and the folds each won.</p>\n<div class=\"wide\"><table class=\"num\">"
                        "<thead><tr><th>model A</th><th>model B</th><th>folds</th><th>accuracy A &minus; B</th>"
                        "<th>A wins</th><th>B wins</th><th>ties</th></tr></thead><tbody>\n");
            for (int i = 0; i < cv->npairs; i++) {
                const CvPair *q = &cv->pairs[i];
                html_raw(h, "<tr>");
                td(h, cv->models[q->a]);
                td(h, cv->models[q->b]);
                tdi(h, q->folds);
                td_pm(h, q->diff_mean, q->diff_std, 0);
                tdi(h, q->wins_a); tdi(h, q->wins_b); tdi(h, q->ties);
                html_raw(h, "</tr>\n");
            }
            html_raw(h, "</tbody></table></div>\n");
        }
    }
    html_raw(h, "</section>\n");
    return 0;
}

static void tune_section(Ctx *x, const TuneResults *t) {
    Html *h = &x->body;
    int best = t->order[0];
    section(x, "tune", "Recipe search");
    html_printf(h, "<p>%d candidate training recipe%s in <code>", t->n, t->n == 1 ? "" : "s");
    html_text(h, x->c->tune_dir);
    html_printf(h, "</code>, each scored by the macro F1 of a %d-fold cross-validation inside the training "
                   "and validation recordings (never the test split); ranked by the mean", t->nfolds);
    int nstopped = 0;
    for (int i = 0; i < t->n; i++) nstopped += t->trained[i] < t->nfolds;
    if (nstopped)
        html_printf(h, ", the %d stopped early (clearly below an earlier candidate on their first folds; make tune's "
                       "TUNE_STOP) after the others", nstopped);
    html_raw(h, ".</p>\n<p>Chosen recipe (<code>");
    html_text(h, t->recipe_path);
    html_raw(h, "</code>): ");
    html_text(h, t->name[best]);
    html_raw(h, ", <code>");
    html_text(h, *t->recipe ? t->recipe : "(cnntrain's defaults)");
    html_raw(h, "</code>, macro F1 ");
    html_num(h, "%.4f", t->mean[best]);
    html_raw(h, " &plusmn; ");
    html_num(h, "%.4f", t->std[best]);
    html_raw(h, ".</p>\n<div class=\"wide\"><table class=\"num\"><thead><tr><th>rank</th><th>candidate</th><th>options</th>");
    for (int f = 0; f < t->nfolds; f++) html_printf(h, "<th>fold %d</th>", f + 1);
    html_raw(h, t->status ? "<th>macro F1</th><th>status</th></tr></thead><tbody>\n" : "<th>macro F1</th></tr></thead><tbody>\n");
    for (int r = 0; r < t->n; r++) {
        int i = t->order[r];
        html_raw(h, "<tr>");
        tdi(h, t->rank[i]);
        td(h, t->name[i]);
        html_raw(h, "<td><code>");
        html_text(h, *t->options[i] ? t->options[i] : "(defaults)");
        html_raw(h, "</code></td>");
        for (int f = 0; f < t->nfolds; f++)
            if (f < t->trained[i]) tdn(h, "%.4f", t->f1[i * t->nfolds + f]);
            else html_raw(h, "<td class=\"n\">&ndash;</td>");
        td_pm(h, t->mean[i], t->std[i], r == 0);
        if (t->status) {
            char buf[64];
            if (t->trained[i] < t->nfolds) snprintf(buf, sizeof buf, "stopped after %d fold%s", t->trained[i], t->trained[i] == 1 ? "" : "s");
            td(h, t->trained[i] < t->nfolds ? buf : t->status[i]);
        }
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</tbody></table></div>\n</section>\n");
}

/* ---- settings -------------------------------------------------------------------------------------- */

static void settings_section(Ctx *x, const Data *d, const Model *ms, int n) {
    Html *h = &x->body;
    const ReportConfig *c = x->c;
    section(x, "settings", "Settings");
    if (d) {
        html_raw(h, "<h3>Data</h3>\n<table class=\"kv\">\n");
        kv(h, "split tables", c->split_dir);
        char buf[160];
        snprintf(buf, sizeof buf, "%d", d->k);
        kv(h, "classes", buf);
        long tot[3] = {0};
        for (int i = 0; i < d->nrec; i++) tot[d->recs[i].split]++;
        snprintf(buf, sizeof buf, "train %ld, val %ld, test %ld (%d in all)", tot[0], tot[1], tot[2], d->nrec);
        kv(h, "recordings", buf);
        html_raw(h, "</table>\n");
    }
    for (int i = 0; i < n; i++) {
        const Model *m = &ms[i];
        html_raw(h, "<h3>Model ");
        html_text(h, m->spec->name);
        html_raw(h, "</h3>\n<table class=\"kv\">\n");
        kv(h, "checkpoint", m->spec->ckpt);
        kv(h, "architecture", m->arch);
        kv(h, "input shape", m->input_shape);
        kv(h, "front end (wav2mel | specnorm)", m->frontend);
        char buf[400];
        snprintf(buf, sizeof buf, "epoch %d, %s %s", m->best_epoch, m->monitor, m->best);
        kv(h, "checkpoint kept", buf);
        /* the training settings, one per row */
        const char *s = m->training;
        while (*s) {
            while (*s == ' ') s++;
            if (!*s) break;
            size_t len = strcspn(s, " ");
            snprintf(buf, sizeof buf, "%.*s", (int)len, s);
            char *eq = strchr(buf, '=');
            if (eq) { *eq = '\0'; char key[420]; snprintf(key, sizeof key, "training: %s", buf); kv(h, key, eq + 1); }
            else kv(h, "training", buf);
            s += len;
        }
        kv(h, "history", m->spec->history);
        kv(h, "evaluation", m->spec->eval);
        html_raw(h, "</table>\n");
    }
    html_raw(h, "<h3>Report</h3>\n<table class=\"kv\">\n");
    char buf[64];
    kv(h, "test data (galleries)", c->test);
    kv(h, "test sample names", c->test_list);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)c->seed);
    kv(h, "seed", buf);
    snprintf(buf, sizeof buf, "%d", c->gallery);
    kv(h, "gallery size", buf);
    kv(h, "scan results", c->scan_dir);
    if (c->cv_dir) kv(h, "cross-validation", c->cv_dir);
    if (c->tune_dir) kv(h, "recipe search", c->tune_dir);
    html_raw(h, "</table>\n</section>\n");
}

/* ---- scan results ------------------------------------------------------------------------------------ */

/* One scanned recording's timeline (n windows [ws, we) with k scores each) as figure number `shown`,
 * with its events (runs of windows above thr for the counted classes, as cnneval --scan finds them)
 * drawn as bands; the first scan_audio events play when clicked. A recording that cannot be decoded
 * only leaves its events silent, said under the figure. */
static int scan_figure(Ctx *x, const char *path, int n, const double *ws, const double *we, const double *v, int k,
                       const char *const *cls, double thr, const double *thrk, const unsigned char *counted, int shown,
                       const Tsv *marks) {
    double *t = xcalloc((size_t)n, sizeof *t);
    float *probs = xcalloc((size_t)k, sizeof *probs);
    EventMerger em;
    int rc = -1, nev = 0, nspots = 0, have_em = 0;
    FigEvent *ev = NULL;
    FigRect *rects = NULL;
    Spot *sp = NULL;
    char note[600] = "";
    if (!t || !probs) goto out;
    for (int i = 0; i < n; i++) t[i] = (ws[i] + we[i]) / 2;
    if (isfinite(thr) || thrk) { /* thrk: per-class thresholds (cnneval --scan --thresholds) */
        if (events_init(&em, k, counted, thrk ? 0.5 : thr) < 0) goto out;
        if (thrk) events_set_thresholds(&em, thrk);
        have_em = 1;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < k; j++) probs[j] = (float)v[(size_t)i * (size_t)k + (size_t)j];
            if (events_window(&em, ws[i], we[i], probs) < 0) goto out;
        }
        if (events_finish(&em) < 0) goto out;
        nev = (int)em.n;
    }
    ev = xcalloc((size_t)nev, sizeof *ev);
    rects = xcalloc((size_t)nev, sizeof *rects);
    if (!ev || !rects) goto out;
    for (int e = 0; e < nev; e++) ev[e] = (FigEvent){em.v[e].begin, em.v[e].end, em.v[e].cls, 0};
    /* scored against annotations (cnneval --annotations): the recording's selections, and which of
     * the events (found again from the scores, by class and begin time) matched none */
    int ntruth = 0;
    FigEvent *truth = NULL;
    if (marks && marks->nrows) {
        if (!(truth = xcalloc(marks->nrows, sizeof *truth))) goto out;
        for (size_t i = 0; i < marks->nrows; i++) {
            char **r = marks->rows[i];
            int c = 0;
            double b, e;
            if (strcmp(r[0], path) != 0) continue;
            while (c < k && strcmp(cls[c], r[2]) != 0) c++;
            if (c == k || !parse_double(r[3], &b) || !parse_double(r[4], &e)) continue;
            int unmatched = strcmp(r[5], "1") != 0;
            if (strcmp(r[1], "annotated") == 0) truth[ntruth++] = (FigEvent){b, e, c, unmatched};
            else
                for (int j = 0; j < nev; j++)
                    if (ev[j].cls == c && fabs(ev[j].begin - b) < 1e-3) ev[j].unmatched = unmatched;
        }
    }
    Canvas im;
    char file[64];
    snprintf(file, sizeof file, "scan-%03d.png", shown + 1);
    int frc = fig_timeline(&im, base_name(path), n, t, k, cls, v, thrk ? NAN : thr, ev, nev, rects, truth, ntruth);
    free(truth);
    if (frc < 0) goto out;
    nspots = nev < x->c->scan_audio ? nev : x->c->scan_audio;
    sp = xcalloc((size_t)nspots, sizeof *sp);
    if (!sp) { canvas_free(&im); goto out; }
    for (int e = 0; e < nspots; e++) {
        sp[e].r = rects[e];
        sp[e].label = cls[ev[e].cls];
        if (make_clip(x, path, ev[e].begin, ev[e].end, &sp[e]) < 0) { /* silent events, said below */
            snprintf(note, sizeof note, "Events not playable: %s", err_msg());
            break;
        }
    }
    rc = add_figure(x, &im, file, path, path, sp, nspots);
    if (rc == 0 && *note) {
        html_raw(&x->body, "<p class=\"note\">");
        html_text(&x->body, note);
        html_raw(&x->body, "</p>\n");
    }
out:
    if (have_em) events_free(&em);
    spots_free(sp, nspots);
    free(sp); free(t); free(probs); free(ev); free(rects);
    return rc;
}

/* cnneval --scan --annotations' detection.tsv as two tables: per class over all scored recordings (the
 * rows with recording "*"), and per recording the calls annotated and detected over the classes. */
static int detection_table(Ctx *x, const char *path, Tsv *d) {
    static const char *const want[] = {"recording", "class", "annotated", "detected", "matched", "precision", "recall", "f1", "count_error"};
    if (tsv_read(path, d) < 0) return -1;
    for (int j = 0; j < 9; j++)
        if (d->ncols != 9 || strcmp(d->header[j], want[j])) {
            err_set("%s: needs the header recording, class, annotated, detected, matched, precision, recall, f1, count_error", path);
            return -1;
        }
    long long *num = xcalloc(d->nrows * 4 + 1, sizeof *num); /* annotated, detected, matched, count_error */
    if (!num) return -1;
    for (size_t i = 0; i < d->nrows; i++)
        for (int j = 0; j < 4; j++) {
            const char *f = d->rows[i][j < 3 ? 2 + j : 8];
            char *e;
            errno = 0;
            num[i * 4 + (size_t)j] = strtoll(f, &e, 10);
            if (!*f || *e || errno || (j < 3 && num[i * 4 + (size_t)j] < 0)) {
                err_set("%s: line %zu: '%s' is not a count", path, d->lineno[i], f);
                free(num);
                return -1;
            }
        }
    Html *h = &x->body;
    html_raw(h, "<h3>Detection against the annotations</h3>\n<p>Events matched one to one with annotated selections of "
                "their class (cnneval --annotations): precision = matched / detected, recall = matched / annotated, "
                "count error = detected &minus; annotated.</p>\n<table class=\"num\"><thead><tr><th>class</th><th>annotated</th>"
                "<th>detected</th><th>matched</th><th>precision</th><th>recall</th><th>F1</th><th>count error</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < d->nrows; i++) {
        if (strcmp(d->rows[i][0], "*") != 0) continue;
        html_raw(h, "<tr>");
        td(h, d->rows[i][1]);
        for (int j = 0; j < 3; j++) tdi(h, num[i * 4 + (size_t)j]);
        for (int j = 5; j < 8; j++) td(h, d->rows[i][j]);
        html_printf(h, "<td class=\"n\">%+lld</td></tr>\n", num[i * 4 + 3]);
    }
    html_raw(h, "</tbody></table>\n<div class=\"scroll\"><table class=\"num\"><thead><tr><th>recording</th><th>annotated</th>"
                "<th>detected</th><th>matched</th><th>count error</th><th>relative</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < d->nrows;) {
        if (strcmp(d->rows[i][0], "*") == 0) { i++; continue; }
        long long a = 0, t = 0, m = 0;
        size_t j = i;
        for (; j < d->nrows && strcmp(d->rows[j][0], d->rows[i][0]) == 0; j++)
            a += num[j * 4], t += num[j * 4 + 1], m += num[j * 4 + 2];
        html_raw(h, "<tr>");
        td(h, base_name(d->rows[i][0]));
        tdi(h, a), tdi(h, t), tdi(h, m);
        html_printf(h, "<td class=\"n\">%+lld</td>", t - a);
        if (a > 0) html_printf(h, "<td class=\"n\">%+.1f%%</td></tr>\n", 100.0 * (double)(t - a) / (double)a);
        else html_raw(h, "<td class=\"n\">&ndash;</td></tr>\n");
        i = j;
    }
    html_raw(h, "</tbody></table></div>\n");
    free(num);
    return 0;
}

static int scan_section(Ctx *x) {
    const ReportConfig *c = x->c;
    char *sp = join(c->scan_dir, "scores.tsv"), *rp = join(c->scan_dir, "results.tsv"), *tp = join(c->scan_dir, "threshold");
    char *dp = join(c->scan_dir, "detection.tsv"), *mp = join(c->scan_dir, "detection-events.tsv");
    Tsv sc = {0}, rs = {0}, thrt = {0}; /* thrt: DIR/threshold as class, threshold rows (cnneval --scan --thresholds) */
    Tsv det = {0}, marks = {0};         /* cnneval --scan --annotations: detection.tsv, detection-events.tsv */
    int has_marks = 0;
    int has_s = 0, has_r = 0, rc = -1, has_thrt = 0;
    double *thrk = NULL; /* the per-class thresholds in the scores' class order */
    double *t = NULL, *te = NULL, *v = NULL;
    unsigned char *counted = NULL;
    const char **files = NULL, **cls = NULL;
    if (!sp || !rp || !tp || !dp || !mp) goto out;
    has_s = exists(sp);
    has_r = exists(rp);
    if (!has_s && !has_r) { rc = 0; goto out; }
    stage(x, "scan results");
    double thr = c->threshold;
    if (!isfinite(thr) && exists(tp)) {
        size_t len;
        char *txt = read_whole_file(tp, &len);
        if (!txt) goto out;
        if (strncmp(txt, "class\t", 6) == 0) {
            int prc = tsv_parse(txt, len, tp, &thrt);
            free(txt);
            if (prc < 0) goto out;
            has_thrt = 1;
            if (tsv_col(&thrt, "class") < 0 || tsv_col(&thrt, "threshold") < 0) {
                err_set("%s: per-class thresholds need the columns class and threshold", tp);
                goto out;
            }
        } else {
            free(txt); /* one number: read below */
        }
    }
    if (!isfinite(thr) && exists(tp) && !has_thrt) {
        size_t len;
        char *txt = read_whole_file(tp, &len);
        if (!txt) goto out;
        char *e = txt + len;
        while (e > txt && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ')) *--e = '\0';
        int ok = parse_double(txt, &thr) && thr >= 0 && thr <= 1;
        free(txt);
        if (!ok) { err_set("%s: not a threshold between 0 and 1", tp); goto out; }
    }
    Html *h = &x->body;
    section(x, "scan", "Scanning");
    html_raw(h, "<p>cnneval --scan results in <code>");
    html_text(h, c->scan_dir);
    html_raw(h, "</code>");
    if (isfinite(thr)) html_printf(h, ", detection threshold %g", thr);
    if (has_thrt) {
        html_raw(h, ", per-class detection thresholds");
        for (size_t r = 0; r < thrt.nrows; r++) {
            html_raw(h, r ? ", " : " ");
            html_text(h, thrt.rows[r][tsv_col(&thrt, "class")]);
            html_raw(h, " ");
            html_text(h, thrt.rows[r][tsv_col(&thrt, "threshold")]);
        }
    }
    html_raw(h, ".</p>\n");
    if (has_s) {
        if (tsv_read(sp, &sc) < 0) goto out;
        if (sc.ncols < 4 || strcmp(sc.header[0], "file") || strcmp(sc.header[1], "start") || strcmp(sc.header[2], "end")) {
            err_set("%s: needs the header file, start, end, then one column per class", sp);
            goto out;
        }
    }
    if (has_r) {
        if (tsv_read(rp, &rs) < 0) goto out;
        if (rs.ncols != 3 || strcmp(rs.header[0], "file") || strcmp(rs.header[1], "class") || strcmp(rs.header[2], "count")) {
            err_set("%s: needs the header file, class, count", rp);
            goto out;
        }
    }
    /* recordings in order of first appearance, classes from the scores' header then the results */
    size_t nf = 0, nc = 0, cap = sc.nrows + rs.nrows + 1, ccap = (size_t)(sc.ncols > 3 ? sc.ncols - 3 : 0) + rs.nrows + 1;
    files = xcalloc(cap, sizeof *files);
    cls = xcalloc(ccap, sizeof *cls);
    if (!files || !cls) goto out;
    for (int j = 3; has_s && j < sc.ncols; j++) cls[nc++] = sc.header[j];
    const Tsv *both[2] = {&sc, &rs};
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < both[b]->nrows; i++) {
            const char *f = both[b]->rows[i][0];
            size_t j = nf;
            while (j > 0 && strcmp(files[j - 1], f) != 0) j--;
            if (j == 0) files[nf++] = f;
        }
    for (size_t i = 0; i < rs.nrows; i++) {
        size_t j = 0;
        while (j < nc && strcmp(cls[j], rs.rows[i][1]) != 0) j++;
        if (j == nc) cls[nc++] = rs.rows[i][1];
    }
    if (has_r) {
        html_raw(h, "<h3>Detections per recording</h3>\n<div class=\"scroll\"><table class=\"num\"><thead><tr><th>recording</th>");
        for (size_t j = 0; j < nc; j++) th(h, cls[j]);
        html_raw(h, "</tr></thead><tbody>\n");
        for (size_t f = 0; f < nf; f++) {
            int any = 0;
            for (size_t i = 0; i < rs.nrows; i++) any |= strcmp(rs.rows[i][0], files[f]) == 0;
            if (!any) continue;
            html_raw(h, "<tr>");
            td(h, files[f]);
            for (size_t j = 0; j < nc; j++) {
                long long count = 0;
                for (size_t i = 0; i < rs.nrows; i++) {
                    if (strcmp(rs.rows[i][0], files[f]) || strcmp(rs.rows[i][1], cls[j])) continue;
                    char *e;
                    errno = 0;
                    long long v1 = strtoll(rs.rows[i][2], &e, 10);
                    if (!*rs.rows[i][2] || *e || errno || v1 < 0) {
                        err_set("%s: line %zu: count '%s' is not a number", rp, rs.lineno[i], rs.rows[i][2]);
                        goto out;
                    }
                    count += v1;
                }
                tdi(h, count);
            }
            html_raw(h, "</tr>\n");
        }
        html_raw(h, "</tbody></table></div>\n");
    }
    if (exists(dp) && detection_table(x, dp, &det) < 0) goto out;
    if (exists(mp)) {
        static const char *const want[] = {"recording", "kind", "class", "begin", "end", "matched"};
        if (tsv_read(mp, &marks) < 0) goto out;
        for (int j = 0; j < 6; j++)
            if (marks.ncols != 6 || strcmp(marks.header[j], want[j])) {
                err_set("%s: needs the header recording, kind, class, begin, end, matched", mp);
                goto out;
            }
        has_marks = 1;
    }
    if (has_s) {
        int k = sc.ncols - 3;
        if (has_thrt) {
            if (!(thrk = xcalloc((size_t)k, sizeof *thrk))) goto out;
            int cc = tsv_col(&thrt, "class"), tc = tsv_col(&thrt, "threshold");
            for (int j = 0; j < k; j++) {
                size_t r = 0;
                while (r < thrt.nrows && strcmp(thrt.rows[r][cc], cls[j])) r++;
                if (r == thrt.nrows || !parse_double(thrt.rows[r][tc], &thrk[j]) || !(thrk[j] >= 0 && thrk[j] <= 1)) {
                    err_set("%s: no threshold between 0 and 1 for class '%s'", tp, cls[j]);
                    goto out;
                }
            }
        }
        html_raw(h, "<h3>Scores over time</h3>\n<p>The probability of each class in each window (plotted at the window's "
                    "centre)");
        if (isfinite(thr)) html_raw(h, " and the detection threshold; shaded: the events (runs of windows above it)");
        if (thrk) html_raw(h, "; shaded: the events (runs of windows above their class's threshold)");
        if (has_marks)
            html_raw(h, "; along the top, the annotated selections; outlined in red, the selections no event found and "
                        "the events that match no selection");
        if ((isfinite(thr) || thrk) && c->audio && c->scan_audio > 0)
            html_printf(h, ". Click one of the first %d events of a recording to hear it", c->scan_audio);
        html_raw(h, ".</p>\n");
        t = xcalloc(sc.nrows, sizeof *t);
        te = xcalloc(sc.nrows, sizeof *te);
        v = xcalloc(sc.nrows * (size_t)k, sizeof *v);
        counted = xcalloc((size_t)k, 1);
        if (!t || !te || !v || !counted) goto out;
        for (int j = 0; j < k; j++) { /* the classes cnneval counted: those of results.tsv (all without it) */
            counted[j] = !has_r;
            for (size_t i = 0; i < rs.nrows && !counted[j]; i++) counted[j] = strcmp(rs.rows[i][1], sc.header[3 + j]) == 0;
        }
        int shown = 0;
        for (size_t f = 0; f < nf; f++) {
            int n = 0;
            for (size_t i = 0; i < sc.nrows; i++) {
                if (strcmp(sc.rows[i][0], files[f]) != 0) continue;
                for (int j = 1; j < sc.ncols; j++) {
                    double val;
                    if (!parse_double(sc.rows[i][j], &val) || !isfinite(val) || (j >= 3 && (val < 0 || val > 1))) {
                        err_set("%s: line %zu: %s '%s' is not %s", sp, sc.lineno[i], sc.header[j], sc.rows[i][j],
                                j >= 3 ? "a probability" : "a time in seconds");
                        goto out;
                    }
                    if (j == 1) t[n] = val;
                    else if (j == 2) te[n] = val;
                    else v[(size_t)n * (size_t)k + (size_t)(j - 3)] = val;
                }
                n++;
            }
            if (!n) continue;
            if (scan_figure(x, files[f], n, t, te, v, k, cls, thr, thrk, counted, shown, has_marks ? &marks : NULL) < 0) goto out;
            shown++;
        }
    }
    html_raw(h, "</section>\n");
    rc = 0;
out:
    free(sp); free(rp); free(tp); free(dp); free(mp); free(t); free(te); free(v); free(counted); free(files); free(cls); free(thrk);
    tsv_free(&det);
    tsv_free(&marks);
    tsv_free(&thrt);
    tsv_free(&sc);
    tsv_free(&rs);
    return rc;
}

/* ---- the page ---------------------------------------------------------------------------------------- */

static const char CSS[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;margin:0;background:#fafafa}\n"
    "header{background:#1f3b57;color:#fff;padding:18px 28px}header h1{margin:0;font-size:24px}\n"
    "header p{margin:4px 0 0;opacity:.85}\n"
    "nav{background:#fff;border-bottom:1px solid #ddd;padding:6px 28px;position:sticky;top:0;z-index:1}\n"
    "nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px 18px}nav a{color:#1f5f99;text-decoration:none}\n"
    "main{padding:8px 28px 40px;max-width:1400px}\n"
    "section{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:4px 20px 16px;margin:18px 0}\n"
    "h2{font-size:20px;border-bottom:1px solid #eee;padding-bottom:4px}h3{font-size:16px;margin:18px 0 6px}\n"
    "table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}\n"
    "thead th{background:#f1f4f7}tfoot th,tfoot td{background:#f7f7f7;font-weight:600}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}td.best{font-weight:700;color:#1a7f1a}\n"
    "table.kv th{background:#f7f7f7;font-weight:600;white-space:nowrap}code{font-size:12.5px;word-break:break-all}\n"
    "tr.wrong td:first-child{border-left:4px solid #d62728}tr.right td:first-child{border-left:4px solid #2ca02c}\n"
    "figure{margin:10px 0}.fig{position:relative;width:100%}\n"
    ".fig svg{display:block;width:100%;height:auto;border:1px solid #eee;box-sizing:border-box}\n"
    ".spot{position:absolute;margin:0;padding:0;border:0;background:transparent;cursor:pointer}\n"
    ".spot:hover,.spot:focus{outline:2px solid rgba(31,95,153,.7)}\n"
    "figcaption{font-size:13px;color:#555}.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}\n"
    ".wide,.scroll{overflow-x:auto}.scroll{max-height:480px;overflow-y:auto}.note{font-size:13px;color:#555}\n"
    "details{margin:4px 0 12px}summary{cursor:pointer;color:#1f5f99;font-size:13px}\n";

/* Clicking a spot plays its clip (stopping the one playing). With #check in the URL: compare each
 * figure's SVG size with data-w/data-h and check that it rendered, load every clip's metadata (it
 * decodes, with a duration), and write the result into the page (for browser tests). */
static const char SCRIPT[] =
    "<script>\n"
    "(function () {\n"
    "  var playing = null;\n"
    "  document.addEventListener('click', function (e) {\n"
    "    var b = e.target.closest ? e.target.closest('.spot') : null;\n"
    "    var a = b && document.getElementById('clip-' + b.getAttribute('data-clip'));\n"
    "    if (!a) return;\n"
    "    if (playing && playing !== a) playing.pause();\n"
    "    a.currentTime = 0;\n"
    "    a.play();\n"
    "    playing = a;\n"
    "  });\n"
    "  window.addEventListener('load', function () {\n"
    "    if (location.hash !== '#check') return;\n"
    "    var figs = document.querySelectorAll('svg.figure'), bad = 0, out = [];\n"
    "    for (var i = 0; i < figs.length; i++) {\n"
    "      var s = figs[i], w = s.width.baseVal.value, h = s.height.baseVal.value, vb = s.viewBox.baseVal;\n"
    "      var ok = String(w) === s.dataset.w && String(h) === s.dataset.h && vb.width === w && vb.height === h &&\n"
    "               s.getBoundingClientRect().width > 0 && s.getBBox().width > 0;\n"
    "      if (!ok) bad++;\n"
    "      out.push((ok ? 'ok ' : 'bad ') + s.dataset.file + ' ' + w + 'x' + h);\n"
    "    }\n"
    "    var clips = document.querySelectorAll('audio'), left = clips.length, cbad = 0;\n"
    "    function done() {\n"
    "      var pre = document.createElement('pre');\n"
    "      pre.id = 'check';\n"
    "      pre.textContent = out.join('\\n');\n"
    "      document.body.appendChild(pre);\n"
    "      document.body.setAttribute('data-check', 'figures=' + figs.length + ' bad=' + bad + ' clips=' + clips.length +\n"
    "                                 ' clipbad=' + cbad);\n"
    "    }\n"
    "    if (!left) done();\n"
    "    Array.prototype.forEach.call(clips, function (a) {\n"
    "      var seen = false;\n"
    "      function fin(ok) {\n"
    "        if (seen) return;\n"
    "        seen = true;\n"
    "        if (!ok) cbad++;\n"
    "        out.push((ok ? 'ok ' : 'bad ') + a.id + ' ' + (ok ? a.duration.toFixed(3) + ' s' : 'error'));\n"
    "        if (--left === 0) done();\n"
    "      }\n"
    "      a.addEventListener('loadedmetadata', function () { fin(a.duration > 0); });\n"
    "      a.addEventListener('error', function () { fin(false); });\n"
    "      a.preload = 'metadata';\n"
    "      a.load();\n"
    "    });\n"
    "  });\n"
    "})();\n"
    "</script>\n";

void report_free(Report *r) {
    html_free(&r->html);
    for (int i = 0; i < r->nfigs; i++) { free(r->figs[i].file); free(r->figs[i].png); }
    free(r->figs);
    memset(r, 0, sizeof *r);
}

int report_build(const ReportConfig *c, Report *r) {
    memset(r, 0, sizeof *r);
    Ctx x = {c, r, {0}, {0}};
    html_init(&x.body);
    html_init(&x.toc);
    Data data, *d = NULL;
    TestData test, *td_ = NULL;
    Model *ms = xcalloc((size_t)(c->nmodels > 0 ? c->nmodels : 1), sizeof *ms);
    int rc = -1;
    if (!ms) goto out;
    for (int i = 0; i < c->nmodels; i++) {
        Model *m = &ms[i];
        m->spec = &c->models[i];
        report_file_part(m->spec->name, m->file, sizeof m->file);
        for (int j = 0; j < i; j++)
            if (strcmp(ms[j].file, m->file) == 0) {
                err_set("models '%s' and '%s' have the same file name", ms[j].spec->name, m->spec->name);
                goto out;
            }
        char what[300];
        snprintf(what, sizeof what, "model %s", m->spec->name);
        stage(&x, what);
        if (load_checkpoint(m) < 0) goto out;
        if (m->spec->history && load_history(m) < 0) goto out;
        if (m->spec->eval && load_eval(m) < 0) goto out;
    }
    if (c->test) {
        stage(&x, "test data");
        if (test_load(c, &test) < 0) { test_free(&test); goto out; }
        td_ = &test;
        for (int i = 0; i < c->nmodels; i++)
            if (ms[i].has_eval && test_check(c, td_, &ms[i]) < 0) goto out;
    }
    if (c->split_dir) {
        stage(&x, "split tables");
        if (data_load(&x, &data) < 0) { data_free(&data); goto out; }
        d = &data;
        if (data_section(&x, d, c->nmodels ? ms[0].frontend : NULL) < 0) goto out;
    }
    if (c->nmodels) {
        comparison_section(&x, ms, c->nmodels);
        stage(&x, "learning curves");
        if (curves_section(&x, ms, c->nmodels) < 0) goto out;
        for (int i = 0; i < c->nmodels; i++) {
            if (!ms[i].has_eval) continue;
            char what[300];
            snprintf(what, sizeof what, "evaluation of %s", ms[i].spec->name);
            stage(&x, what);
            if (eval_section(&x, &ms[i], i, td_) < 0) goto out;
        }
    }
    if (c->cv_dir) {
        stage(&x, "cross-validation");
        CvResults cv;
        if (cv_load(c->cv_dir, &cv) < 0) goto out;
        int crc = cv_section(&x, &cv);
        cv_free(&cv);
        if (crc < 0) goto out;
    }
    if (c->tune_dir) {
        stage(&x, "recipe search");
        TuneResults tr;
        if (tune_load(c->tune_dir, &tr) < 0) goto out;
        tune_section(&x, &tr);
        tune_free(&tr);
    }
    settings_section(&x, d, ms, c->nmodels);
    if (c->scan_dir && scan_section(&x) < 0) goto out;
    if (html_failed(&x.body) || html_failed(&x.toc)) goto out;

    Html *h = &r->html;
    html_init(h);
    html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<meta name=\"generator\" content=\"audiocnn mkreport\">\n<title>");
    html_text(h, c->title);
    html_raw(h, "</title>\n<style>\n");
    html_raw(h, CSS);
    html_raw(h, "</style>\n</head>\n<body>\n<header><h1>");
    html_text(h, c->title);
    html_printf(h, "</h1><p>%d model%s", c->nmodels, c->nmodels == 1 ? "" : "s");
    if (d) html_printf(h, ", %d recordings of %d classes", d->nrec, d->k);
    html_printf(h, ", %d figures", r->nfigs);
    if (r->nclips) html_printf(h, ", %d sound clip%s (click a tile or an event)", r->nclips, r->nclips == 1 ? "" : "s");
    html_raw(h, ". Made by audiocnn mkreport.</p></header>\n<nav><ul>\n");
    html_rawn(h, x.toc.s ? x.toc.s : "", x.toc.len);
    html_raw(h, "</ul></nav>\n<main>\n");
    html_rawn(h, x.body.s ? x.body.s : "", x.body.len);
    html_raw(h, "</main>\n");
    html_raw(h, SCRIPT);
    html_raw(h, "</body>\n</html>\n");
    if (html_failed(h)) goto out;
    rc = 0;
out:
    if (d) data_free(d);
    if (td_) test_free(td_);
    for (int i = 0; ms && i < c->nmodels; i++) model_free(&ms[i]);
    free(ms);
    html_free(&x.body);
    html_free(&x.toc);
    if (rc < 0) report_free(r);
    return rc;
}
