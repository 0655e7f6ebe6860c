/* figures.c - see figures.h. */
#include "report/figures.h"

#include "core/error.h"
#include "core/rng.h"
#include "report/font.h"
#include "report/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static double finite_max(const double *v, int n, double dflt) {
    double m = NAN;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && !(v[i] <= m)) m = v[i];
    return isfinite(m) ? m : dflt;
}

static double finite_min(const double *v, int n, double dflt) {
    double m = NAN;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && !(v[i] >= m)) m = v[i];
    return isfinite(m) ? m : dflt;
}

int fig_split_counts(Canvas *cv, int k, const char *const *classes, const long *counts) {
    if (canvas_init(cv, clampi(140 + k * 48, 640, 4000), 340) < 0) return -1;
    cairo_t *cr = cv->cr;
    double top = 1;
    for (int i = 0; i < 3 * k; i++) top = fmax(top, (double)counts[i]);
    Axis xa = {.lo = 0, .hi = 0, .label = "class", .cats = classes, .ncats = k},
         ya = {.lo = 0, .hi = top * 1.15, .label = "recordings", .nice = 1, .integer = 1};
    Plot p;
    plot_axes(&p, cr, 0, 0, cv->w, cv->h, "Recordings per class and split", &xa, &ya);
    for (int c = 0; c < k; c++)
        for (int s = 0; s < 3; s++) plot_bar(&p, c + (s - 1) * 0.27, 0.25, 0, (double)counts[3 * c + s], palette_color(s));
    LegendItem li[3] = {{"train", palette_color(0), LEGEND_BOX}, {"val", palette_color(1), LEGEND_BOX},
                        {"test", palette_color(2), LEGEND_BOX}};
    plot_legend(&p, li, 3, 0);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const double *s, int n, double q) {
    double at = q * (n - 1);
    int i = (int)floor(at);
    if (i >= n - 1) return s[n - 1];
    return s[i] + (at - i) * (s[i + 1] - s[i]);
}

int fig_strip(Canvas *cv, const char *title, const char *ylabel, int k, const char *const *classes, const double *y,
              const int *cls, const int *ok, int n, double ylo, double yhi, uint64_t seed) {
    if (canvas_init(cv, clampi(140 + k * 56, 640, 4000), 360) < 0) return -1;
    cairo_t *cr = cv->cr;
    if (!isfinite(ylo)) ylo = finite_min(y, n, 0);
    if (!isfinite(yhi)) yhi = finite_max(y, n, 1);
    Axis xa = {.lo = 0, .hi = 0, .label = "class", .cats = classes, .ncats = k},
         ya = {.lo = ylo, .hi = yhi, .label = ylabel, .nice = 1, .pad = 0.03};
    Plot p;
    plot_axes(&p, cr, 0, 0, cv->w, cv->h, title, &xa, &ya);
    if (!ok) { /* box and whiskers per class */
        double *s = malloc(sizeof *s * (size_t)(n > 0 ? n : 1));
        if (!s) { canvas_free(cv); err_set("out of memory"); return -1; }
        for (int c = 0; c < k; c++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if (cls[i] == c && isfinite(y[i])) s[m++] = y[i];
            if (!m) continue;
            qsort(s, (size_t)m, sizeof *s, cmp_double);
            double q1 = quantile(s, m, 0.25), q2 = quantile(s, m, 0.5), q3 = quantile(s, m, 0.75);
            Rgb box = {170, 170, 170};
            double wx[2] = {c, c}, wy[2] = {s[0], s[m - 1]};
            plot_line(&p, wx, wy, 2, box, 1, 0);
            double bx[5] = {c - 0.22, c + 0.22, c + 0.22, c - 0.22, c - 0.22}, by[5] = {q1, q1, q3, q3, q1};
            plot_line(&p, bx, by, 5, box, 1.5, 0);
            double mx[2] = {c - 0.22, c + 0.22}, my[2] = {q2, q2};
            plot_line(&p, mx, my, 2, RGB_AXIS, 2, 0);
        }
        free(s);
    }
    for (int i = 0; i < n; i++) {
        if (cls[i] < 0 || cls[i] >= k || !isfinite(y[i])) continue;
        Rng r;
        rng_derive(&r, seed, (uint64_t)i);
        double x = cls[i] + (rng_uniform(&r) - 0.5) * 0.5;
        Rgb c = ok ? (ok[i] ? RGB_RIGHT : RGB_WRONG) : palette_color(0);
        canvas_disc(cr, plot_px(&p, x), plot_py(&p, y[i]), 3, c, 170);
    }
    if (ok) {
        LegendItem li[2] = {{"correct", RGB_RIGHT, LEGEND_POINT}, {"wrong", RGB_WRONG, LEGEND_POINT}};
        plot_legend(&p, li, 2, 3);
    }
    return 0;
}

int fig_example(Canvas *cv, const char *title, const float *wave, long n, double sr, const float *spec, int bins,
                int frames, double frame_seconds, int db, FigRect *area) {
    if (canvas_init(cv, 960, 270) < 0) return -1;
    cairo_t *cr = cv->cr;
    double amp = 0;
    for (long i = 0; i < n; i++) amp = fmax(amp, fabs(wave[i]));
    if (!(amp > 0)) amp = 1;
    double dur = n / sr;
    char t[300];
    snprintf(t, sizeof t, "%s: waveform", title);
    Axis xa = {.lo = 0, .hi = dur, .label = "time (s)"}, ya = {.lo = -amp, .hi = amp, .label = "amplitude", .nice = 1};
    Plot p;
    plot_axes(&p, cr, 0, 0, 440, cv->h, t, &xa, &ya);
    plot_hline(&p, 0, RGB_GRID, 1, 0);
    plot_envelope(&p, wave, n, 0, dur, palette_color(0));
    int l = p.left, t0 = p.top;
    float mx = -INFINITY, mn = INFINITY;
    for (long i = 0; i < (long)bins * frames; i++) {
        if (spec[i] > mx) mx = spec[i];
        if (spec[i] < mn) mn = spec[i];
    }
    double lo = db ? mx - 80 : mn;
    if (!(mx > lo)) lo = mx - 1;
    snprintf(t, sizeof t, "%s: spectrogram", title);
    Axis sx = {.lo = 0, .hi = frames * frame_seconds, .label = "time (s)"}, sy = {.lo = 0, .hi = bins, .label = "band", .integer = 1};
    plot_axes(&p, cr, 450, 0, 430, cv->h, t, &sx, &sy);
    plot_raster(&p, spec, bins, frames, lo, mx);
    plot_colorbar(cr, 450 + 430 + 4, p.top, 14, p.bottom - p.top, lo, mx, db ? "dB" : "value");
    if (area) *area = (FigRect){l, fmin(t0, p.top), p.right - l, fmax(p.bottom - t0, p.bottom - p.top)};
    return 0;
}

int fig_curves(Canvas *cv, const char *title, int n, const double *epoch, const double *train_loss,
               const double *val_loss, const double *train_acc, const double *val_acc, int best_epoch) {
    return fig_curves_metric(cv, title, "accuracy", n, epoch, train_loss, val_loss, train_acc, val_acc, best_epoch);
}

int fig_curves_metric(Canvas *cv, const char *title, const char *metric, int n, const double *epoch,
                      const double *train_loss, const double *val_loss, const double *train_acc, const double *val_acc,
                      int best_epoch) {
    if (canvas_init(cv, 960, 310) < 0) return -1;
    cairo_t *cr = cv->cr;
    char t[300];
    double lmax = fmax(finite_max(train_loss, n, 1), finite_max(val_loss, n, 1));
    double e1 = n > 0 ? epoch[n - 1] : 1;
    LegendItem li[3] = {{"train", palette_color(0), LEGEND_LINE}, {"validation", palette_color(1), LEGEND_LINE},
                        {"best epoch", RGB_AXIS, LEGEND_DASHED}};
    int nli = best_epoch > 0 ? 3 : 2;
    char best[64];
    if (best_epoch > 0) { snprintf(best, sizeof best, "best epoch %d", best_epoch); li[2].name = best; }
    for (int panel = 0; panel < 2; panel++) {
        snprintf(t, sizeof t, "%s: %s", title, panel ? metric : "loss");
        Axis xa = {.lo = 1, .hi = e1, .label = "epoch", .integer = 1};
        Axis ya = panel ? (Axis){.lo = 0, .hi = 1, .label = metric, .nice = 1, .pad = 0.03}
                        : (Axis){.lo = 0, .hi = lmax, .label = "loss", .nice = 1, .pad = 0.03};
        Plot p;
        plot_axes(&p, cr, panel * 480, 0, 480, cv->h, t, &xa, &ya);
        if (best_epoch > 0) plot_vline(&p, best_epoch, RGB_AXIS, 1.5, 1);
        plot_line(&p, epoch, panel ? train_acc : train_loss, n, palette_color(0), 2, 0);
        plot_line(&p, epoch, panel ? val_acc : val_loss, n, palette_color(1), 2, 0);
        if (n <= 40) {
            plot_points(&p, epoch, panel ? train_acc : train_loss, n, 2.5, palette_color(0), 255);
            plot_points(&p, epoch, panel ? val_acc : val_loss, n, 2.5, palette_color(1), 255);
        }
        plot_legend(&p, li, nli, panel ? 1 : 0);
    }
    return 0;
}

int fig_folds(Canvas *cv, const char *title, const char *ylabel, int nfolds, int nmodels, const char *const *models,
              const double *v) {
    if (canvas_init(cv, clampi(200 + nfolds * 48, 640, 4000), 340) < 0) return -1;
    double *x = malloc(sizeof *x * (size_t)(nfolds > 0 ? nfolds : 1));
    LegendItem *li = malloc(sizeof *li * (size_t)(nmodels > 0 ? nmodels : 1));
    if (!x || !li) {
        free(x); free(li);
        canvas_free(cv);
        err_set("out of memory");
        return -1;
    }
    for (int f = 0; f < nfolds; f++) x[f] = f + 1;
    Axis xa = {.lo = 1, .hi = nfolds, .label = "fold", .integer = 1, .pad = 0.06},
         ya = {.lo = 0, .hi = 1, .label = ylabel, .nice = 1, .pad = 0.03};
    Plot p;
    plot_axes(&p, cv->cr, 0, 0, cv->w, cv->h, title, &xa, &ya);
    for (int m = 0; m < nmodels; m++) {
        plot_line(&p, x, v + (size_t)m * (size_t)nfolds, nfolds, palette_color(m), 2, 0);
        plot_points(&p, x, v + (size_t)m * (size_t)nfolds, nfolds, 3.5, palette_color(m), 255);
        li[m] = (LegendItem){models[m], palette_color(m), LEGEND_LINE};
    }
    plot_legend(&p, li, nmodels, 1);
    free(x);
    free(li);
    return 0;
}

int fig_confusion(Canvas *cv, const char *title, int k, const char *const *classes, const int64_t *cm) {
    int cell = clampi(600 / (k > 0 ? k : 1), 14, 56);
    int side = clampi(190 + k * cell, 360, 4000);
    if (canvas_init(cv, side, side) < 0) return -1;
    cairo_t *cr = cv->cr;
    const char **rev = malloc(sizeof *rev * (size_t)(k > 0 ? k : 1));
    double *shade = malloc(sizeof *shade * (size_t)(k * k > 0 ? k * k : 1));
    char **text = malloc(sizeof *text * (size_t)(k * k > 0 ? k * k : 1));
    char *store = malloc((size_t)(k * k > 0 ? k * k : 1) * 24);
    if (!rev || !shade || !text || !store) {
        free(rev); free(shade); free(text); free(store);
        canvas_free(cv);
        err_set("out of memory");
        return -1;
    }
    for (int i = 0; i < k; i++) {
        rev[i] = classes[k - 1 - i];
        int64_t row = 0;
        for (int j = 0; j < k; j++) row += cm[i * k + j];
        for (int j = 0; j < k; j++) {
            shade[i * k + j] = row ? (double)cm[i * k + j] / (double)row : 0;
            text[i * k + j] = store + (size_t)(i * k + j) * 24;
            snprintf(text[i * k + j], 24, "%lld", (long long)cm[i * k + j]);
        }
    }
    Axis xa = {.lo = 0, .hi = 0, .label = "predicted class", .cats = classes, .ncats = k},
         ya = {.lo = 0, .hi = 0, .label = "true class", .cats = rev, .ncats = k};
    Plot p;
    plot_axes(&p, cr, 0, 0, cv->w, cv->h, title, &xa, &ya);
    plot_cells(&p, k, shade, (const char *const *)text);
    free(rev); free(shade); free(text); free(store);
    return 0;
}

#define THUMB_W 192
#define THUMB_H 96
#define CELL_W (THUMB_W + 20)
#define CELL_H (THUMB_H + 10 + 3 * FONT_H + 8)

int fig_gallery(Canvas *cv, const char *title, const GalleryItem *items, int n, int cols, FigRect *tiles) {
    if (cols > n) cols = n;
    if (cols < 1) cols = 1;
    int rows = n > 0 ? (n + cols - 1) / cols : 1;
    if (canvas_init(cv, cols * CELL_W + 16, 30 + rows * CELL_H + 6) < 0) return -1;
    cairo_t *cr = cv->cr;
    font_use(cr, FONT_TITLE);
    font_draw(cr, 10, 6, title, RGB_TEXT);
    font_use(cr, FONT_SIZE);
    for (int i = 0; i < n; i++) {
        const GalleryItem *g = &items[i];
        int x = 8 + (i % cols) * CELL_W + 10, y = 30 + (i / cols) * CELL_H + 4;
        float lo = INFINITY, hi = -INFINITY;
        for (long j = 0; j < (long)g->F * g->T; j++) {
            if (g->spec[j] < lo) lo = g->spec[j];
            if (g->spec[j] > hi) hi = g->spec[j];
        }
        canvas_raster(cr, x, y, THUMB_W, THUMB_H, g->spec, g->F, g->T, lo, hi);
        Rgb fc = g->ok > 0 ? RGB_RIGHT : g->ok == 0 ? RGB_WRONG : RGB_AXIS;
        canvas_frame(cr, x - 3, y - 3, x + THUMB_W + 3, y + THUMB_H + 3, 3, fc);
        char line[300];
        int ty = y + THUMB_H + 6;
        font_draw_fit(cr, x, ty, g->name, THUMB_W, RGB_TEXT);
        snprintf(line, sizeof line, "true: %s", g->truth);
        font_draw_fit(cr, x, ty + FONT_H, line, THUMB_W, RGB_TEXT);
        char conf[32];
        snprintf(conf, sizeof conf, " %.3f", g->conf);
        double cw = font_width(cr, conf);
        snprintf(line, sizeof line, "pred: %s", g->pred);
        font_draw_fit(cr, x, ty + 2 * FONT_H, line, THUMB_W - cw, fc);
        font_draw(cr, x + THUMB_W - cw, ty + 2 * FONT_H, conf, fc);
        if (tiles) tiles[i] = (FigRect){x - 3, y - 3, THUMB_W + 6, THUMB_H + 6 + 3 + 3 * FONT_H};
    }
    return 0;
}

int fig_timeline(Canvas *cv, const char *title, int n, const double *t, int k, const char *const *classes,
                 const double *scores, double threshold, const FigEvent *ev, int nev, FigRect *ev_rects,
                 const FigEvent *truth, int ntruth) {
    if (canvas_init(cv, 960, 300) < 0) return -1;
    cairo_t *cr = cv->cr;
    double t0 = n ? finite_min(t, n, 0) : 0, t1 = n ? finite_max(t, n, 1) : 1;
    Axis xa = {.lo = t0, .hi = t1, .label = "time (s)"}, ya = {.lo = 0, .hi = 1, .label = "score", .nice = 1, .pad = 0.03};
    Plot p;
    plot_axes(&p, cr, 0, 0, cv->w, cv->h, title, &xa, &ya);
    double *col = malloc(sizeof *col * (size_t)(n > 0 ? n : 1));
    LegendItem *li = malloc(sizeof *li * (size_t)(k + 2));
    if (!col || !li) { free(col); free(li); canvas_free(cv); err_set("out of memory"); return -1; }
    for (int e = 0; e < nev; e++) { /* events behind the lines */
        double a = fmax(plot_px(&p, ev[e].begin), p.left), b = fmin(plot_px(&p, ev[e].end), p.right);
        if (!(b > a)) b = a + 1;
        canvas_rgb(cr, palette_color(ev[e].cls), 56);
        cairo_rectangle(cr, a, p.top, b - a, p.bottom - p.top);
        cairo_fill(cr);
        if (ev[e].unmatched) {
            canvas_rgb(cr, RGB_WRONG, 255);
            cairo_set_line_width(cr, 1.5);
            cairo_rectangle(cr, a, p.top, b - a, p.bottom - p.top);
            cairo_stroke(cr);
        }
        if (ev_rects) ev_rects[e] = (FigRect){a, p.top, b - a, p.bottom - p.top};
    }
    for (int e = 0; e < ntruth; e++) { /* annotations: a strip along the top */
        double a = fmax(plot_px(&p, truth[e].begin), p.left), b = fmin(plot_px(&p, truth[e].end), p.right);
        if (!(b > a)) b = a + 2;
        canvas_rgb(cr, palette_color(truth[e].cls), 255);
        cairo_rectangle(cr, a, p.top + 1, b - a, 9);
        cairo_fill(cr);
        if (truth[e].unmatched) {
            canvas_rgb(cr, RGB_WRONG, 255);
            cairo_set_line_width(cr, 1.5);
            cairo_rectangle(cr, a - 1, p.top, b - a + 2, 11);
            cairo_stroke(cr);
        }
    }
    int nli = 0;
    for (int c = 0; c < k; c++) {
        for (int i = 0; i < n; i++) col[i] = scores[(size_t)i * (size_t)k + (size_t)c];
        plot_line(&p, t, col, n, palette_color(c), 1.8, 0);
        if (n <= 60) plot_points(&p, t, col, n, 2.2, palette_color(c), 255);
        li[nli++] = (LegendItem){classes[c], palette_color(c), LEGEND_LINE};
    }
    if (isfinite(threshold)) {
        plot_hline(&p, threshold, RGB_BLACK, 1.2, 1);
        li[nli++] = (LegendItem){"threshold", RGB_BLACK, LEGEND_DASHED};
    }
    if (ntruth) li[nli++] = (LegendItem){"missed or unmatched", RGB_WRONG, LEGEND_LINE};
    plot_legend(&p, li, nli, 0);
    free(col);
    free(li);
    return 0;
}
