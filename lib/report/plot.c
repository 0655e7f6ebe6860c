/* plot.c - see plot.h. */
#include "report/plot.h"

#include "report/font.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_LEN 4
#define PAD 6
#define LEGEND_MAX_PX 150
#define MAX_CAT_PX 110 /* category names are cut to this width */

int nice_ticks(double lo, double hi, int max_ticks, int integer, double *ticks, int cap, double *step) {
    *step = 0;
    if (!isfinite(lo) || !isfinite(hi) || lo > hi || max_ticks < 1 || cap < 1) return 0;
    double range = hi - lo;
    int k0 = range > 0 ? (int)floor(log10(range / max_ticks)) - 1 : (int)floor(log10(fabs(lo) + 1)) - 1;
    static const int mult[3] = {1, 2, 5};
    for (int k = k0; k < k0 + 40; k++)
        for (int m = 0; m < 3; m++) {
            /* step = mult * 10^k, ticks are i * step written as i * mult / 10^-k to keep 0.1-steps exact */
            double p10 = pow(10.0, fabs((double)k));
            double s = k >= 0 ? mult[m] * p10 : mult[m] / p10;
            if (integer && s < 1) continue;
            double a = ceil(lo / s - 1e-9), b = floor(hi / s + 1e-9);
            if (b - a + 1 > max_ticks) continue;
            int n = 0;
            for (double i = a; i <= b && n < cap; i++) ticks[n++] = k >= 0 ? i * s : i * mult[m] / p10;
            *step = s;
            return n;
        }
    return 0;
}

void format_tick(double v, double step, char *buf, int n) {
    int d = step > 0 ? (int)ceil(-log10(step) - 1e-9) : 0;
    if (d < 0) d = 0;
    if (d > 6) d = 6;
    snprintf(buf, (size_t)n, "%.*f", d, v);
    if (buf[0] == '-') { /* "-0", "-0.00" -> without the sign */
        int zero = 1;
        for (const char *c = buf + 1; *c; c++)
            if (*c != '0' && *c != '.') zero = 0;
        if (zero) memmove(buf, buf + 1, strlen(buf));
    }
}

/* The axis range and ticks: categorical, or numeric widened when degenerate and made nice if asked. */
static int axis_ticks(Axis *a, int max_ticks, double *ticks, double *step) {
    if (a->cats) {
        a->lo = -0.5;
        a->hi = a->ncats - 0.5;
        int n = 0;
        for (int i = 0; i < a->ncats && n < PLOT_MAX_TICKS * 8; i++) ticks[n++] = i;
        *step = 1;
        return n;
    }
    if (!isfinite(a->lo) || !isfinite(a->hi)) { a->lo = 0; a->hi = 1; }
    if (a->lo > a->hi) { double t = a->lo; a->lo = a->hi; a->hi = t; }
    if (a->hi - a->lo < 1e-12 * fmax(1, fabs(a->lo))) {
        double d = a->integer ? 1 : fmax(fabs(a->lo) * 0.1, 0.5);
        a->lo -= d;
        a->hi += d;
    }
    int n = nice_ticks(a->lo, a->hi, max_ticks, a->integer, ticks, PLOT_MAX_TICKS, step);
    if (a->nice && *step > 0) {
        double lo = floor(a->lo / *step + 1e-9) * *step, hi = ceil(a->hi / *step - 1e-9) * *step;
        if (lo != a->lo || hi != a->hi) {
            a->lo = lo;
            a->hi = hi;
            n = nice_ticks(a->lo, a->hi, max_ticks, a->integer, ticks, PLOT_MAX_TICKS, step);
        }
    }
    if (a->pad > 0) {
        double r = a->hi - a->lo;
        a->lo -= a->pad * r;
        a->hi += a->pad * r;
    }
    return n;
}

static void tick_label(cairo_t *cr, const Axis *a, int i, double v, double step, char *buf, int n) {
    if (a->cats) font_fit(cr, a->cats[i], MAX_CAT_PX, buf, n);
    else format_tick(v, step, buf, n);
}

void plot_axes(Plot *p, cairo_t *cr, int x, int y, int w, int h, const char *title, Axis *xa, Axis *ya) {
    double xt[PLOT_MAX_TICKS * 8], yt[PLOT_MAX_TICKS * 8], xs, ys;
    char buf[128];
    int ny = axis_ticks(ya, h / 40 > 2 ? h / 40 : 3, yt, &ys);
    int ywid = 0;
    for (int i = 0; i < ny; i++) {
        tick_label(cr, ya, i, yt[i], ys, buf, sizeof buf);
        int tw = (int)ceil(font_width(cr, buf));
        if (tw > ywid) ywid = tw;
    }
    int top = y + PAD + (title ? FONT_H + 4 : 0);
    int left = x + PAD + (ya->label ? FONT_H + 4 : 0) + ywid + TICK_LEN + 3;
    int right = x + w - 12;
    int nx = axis_ticks(xa, (right - left) / 70 > 2 ? (right - left) / 70 : 3, xt, &xs);
    int upright = 0, xlab_h = FONT_H;
    if (xa->cats && xa->ncats > 0) {
        int slot = (right - left) / xa->ncats, maxw = 0;
        for (int i = 0; i < nx; i++) {
            tick_label(cr, xa, i, xt[i], xs, buf, sizeof buf);
            int tw = (int)ceil(font_width(cr, buf));
            if (tw > maxw) maxw = tw;
        }
        if (maxw > slot - 4) { upright = 1; xlab_h = maxw; }
    }
    int bottom = y + h - PAD - (xa->label ? FONT_H + 4 : 0) - xlab_h - TICK_LEN - 3;
    if (bottom < top + 10) bottom = top + 10;
    if (right < left + 10) right = left + 10;
    p->cr = cr;
    p->left = left; p->right = right; p->top = top; p->bottom = bottom;
    p->x0 = xa->lo; p->x1 = xa->hi; p->y0 = ya->lo; p->y1 = ya->hi;

    if (title) {
        font_use(cr, FONT_TITLE);
        double tw = font_width(cr, title);
        double tx = left + (right - left - tw) / 2;
        if (tx < x + PAD) tx = x + PAD;
        font_draw(cr, tx, y + PAD - 2, title, RGB_TEXT);
        font_use(cr, FONT_SIZE);
    }
    canvas_rect(cr, left, top, right, bottom, RGB_WHITE);
    for (int i = 0; i < ny; i++) {
        int py = (int)lround(plot_py(p, yt[i]));
        if (!ya->cats) canvas_rect(cr, left, py, right, py + 1, RGB_GRID);
        canvas_rect(cr, left - TICK_LEN, py, left, py + 1, RGB_AXIS);
        tick_label(cr, ya, i, yt[i], ys, buf, sizeof buf);
        font_draw(cr, left - TICK_LEN - 3 - font_width(cr, buf), py + 0.5 - FONT_H / 2.0, buf, RGB_TEXT);
    }
    for (int i = 0; i < nx; i++) {
        int px = (int)lround(plot_px(p, xt[i]));
        if (!xa->cats) canvas_rect(cr, px, top, px + 1, bottom, RGB_GRID);
        canvas_rect(cr, px, bottom, px + 1, bottom + TICK_LEN, RGB_AXIS);
        tick_label(cr, xa, i, xt[i], xs, buf, sizeof buf);
        double tw = font_width(cr, buf);
        if (upright) font_draw_up(cr, px + 0.5 - FONT_H / 2.0, bottom + TICK_LEN + 3 + tw, buf, RGB_TEXT);
        else font_draw(cr, px + 0.5 - tw / 2, bottom + TICK_LEN + 1, buf, RGB_TEXT);
    }
    canvas_frame(cr, left - 1, top - 1, right + 1, bottom + 1, 1, RGB_AXIS);
    if (xa->label) {
        double tw = font_width(cr, xa->label);
        font_draw(cr, left + (right - left - tw) / 2, bottom + TICK_LEN + 3 + xlab_h + 2, xa->label, RGB_TEXT);
    }
    if (ya->label) {
        double tw = font_width(cr, ya->label);
        font_draw_up(cr, x + PAD, top + (bottom - top + tw) / 2, ya->label, RGB_TEXT);
    }
}

double plot_px(const Plot *p, double x) {
    return p->left + (x - p->x0) / (p->x1 - p->x0) * (p->right - p->left);
}

double plot_py(const Plot *p, double y) {
    return p->bottom - (y - p->y0) / (p->y1 - p->y0) * (p->bottom - p->top);
}

void plot_line(Plot *p, const double *x, const double *y, int n, Rgb c, double width, int dashed) {
    cairo_t *cr = p->cr;
    int open = 0, segments = 0;
    cairo_new_path(cr);
    for (int i = 0; i < n; i++) { /* one path, broken at non-finite points */
        if (!isfinite(x[i]) || !isfinite(y[i])) { open = 0; continue; }
        if (open) { cairo_line_to(cr, plot_px(p, x[i]), plot_py(p, y[i])); segments++; }
        else cairo_move_to(cr, plot_px(p, x[i]), plot_py(p, y[i]));
        open = 1;
    }
    if (segments) canvas_stroke(cr, width, c, 255, dashed ? 6 : 0, 4);
    cairo_new_path(cr);
    if (n == 1 && isfinite(x[0]) && isfinite(y[0])) canvas_disc(cr, plot_px(p, x[0]), plot_py(p, y[0]), width + 1, c, 255);
}

void plot_points(Plot *p, const double *x, const double *y, int n, double radius, Rgb c, int alpha) {
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) canvas_disc(p->cr, plot_px(p, x[i]), plot_py(p, y[i]), radius, c, alpha);
}

void plot_hline(Plot *p, double y, Rgb c, double width, int dashed) {
    double x[2] = {p->x0, p->x1}, v[2] = {y, y};
    plot_line(p, x, v, 2, c, width, dashed);
}

void plot_vline(Plot *p, double x, Rgb c, double width, int dashed) {
    double v[2] = {x, x}, y[2] = {p->y0, p->y1};
    plot_line(p, v, y, 2, c, width, dashed);
}

void plot_bar(Plot *p, double x, double w, double y0, double y1, Rgb c) {
    if (!isfinite(x) || !isfinite(w) || !isfinite(y0) || !isfinite(y1)) return;
    int a = (int)lround(plot_px(p, x - w / 2)), b = (int)lround(plot_px(p, x + w / 2));
    int t = (int)lround(plot_py(p, fmax(y0, y1))), u = (int)lround(plot_py(p, fmin(y0, y1)));
    if (u == t) u = t + 1;
    canvas_rect(p->cr, a, t, b, u, c);
}

void plot_raster(Plot *p, const float *v, int rows, int cols, double vmin, double vmax) {
    canvas_raster(p->cr, p->left, p->top, p->right - p->left, p->bottom - p->top, v, rows, cols, vmin, vmax);
}

void plot_envelope(Plot *p, const float *s, long n, double x0, double x1, Rgb c) {
    if (n <= 0 || !(x1 > x0)) return;
    canvas_rgb(p->cr, c, 255);
    for (int px = p->left; px < p->right; px++) {
        double a = p->x0 + (double)(px - p->left) / (p->right - p->left) * (p->x1 - p->x0);
        double b = p->x0 + (double)(px + 1 - p->left) / (p->right - p->left) * (p->x1 - p->x0);
        long i0 = (long)floor((a - x0) / (x1 - x0) * n), i1 = (long)ceil((b - x0) / (x1 - x0) * n);
        if (i0 < 0) i0 = 0;
        if (i1 > n) i1 = n;
        if (i0 >= i1) continue;
        float lo = s[i0], hi = s[i0];
        for (long i = i0 + 1; i < i1; i++) {
            if (s[i] < lo) lo = s[i];
            if (s[i] > hi) hi = s[i];
        }
        int t = (int)floor(plot_py(p, hi)), u = (int)ceil(plot_py(p, lo));
        if (u <= t) u = t + 1;
        cairo_rectangle(p->cr, px, t, 1, u - t);
    }
    cairo_fill(p->cr); /* one path: one SVG element, not one per column */
}

void plot_cells(Plot *p, int k, const double *shade, const char *const *text) {
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            int a = (int)lround(plot_px(p, j - 0.5)), b = (int)lround(plot_px(p, j + 0.5));
            int t = (int)lround(plot_py(p, k - 1 - i + 0.5)), u = (int)lround(plot_py(p, k - 1 - i - 0.5));
            Rgb c = colormap_viridis(shade[i * k + j]);
            canvas_rect(p->cr, a, t, b, u, c);
            const char *s = text ? text[i * k + j] : NULL;
            if (!s || !*s) continue;
            double tw = font_width(p->cr, s);
            if (tw > b - a - 2 || FONT_H - 4 > u - t) continue;
            int lum = (299 * c.r + 587 * c.g + 114 * c.b) / 1000;
            font_draw(p->cr, (a + b - tw) / 2, (t + u - FONT_H) / 2.0, s, lum < 128 ? RGB_WHITE : RGB_BLACK);
        }
}

void plot_legend(Plot *p, const LegendItem *items, int n, int corner) {
    if (n <= 0) return;
    cairo_t *cr = p->cr;
    char buf[512];
    double maxw = 0;
    for (int i = 0; i < n; i++) {
        font_fit(cr, items[i].name, LEGEND_MAX_PX, buf, sizeof buf);
        maxw = fmax(maxw, font_width(cr, buf));
    }
    int bw = 8 + 20 + 6 + (int)ceil(maxw) + 8, bh = 4 + n * FONT_H + 4;
    int x = corner == 2 || corner == 3 ? p->left + 8 : p->right - 8 - bw;
    int y = corner == 1 || corner == 3 ? p->bottom - 8 - bh : p->top + 8;
    canvas_rgb(cr, RGB_WHITE, 225);
    cairo_rectangle(cr, x, y, bw, bh);
    cairo_fill(cr);
    canvas_frame(cr, x, y, x + bw, y + bh, 1, (Rgb){190, 190, 190});
    for (int i = 0; i < n; i++) {
        int ly = y + 4 + i * FONT_H;
        double cy = ly + FONT_H / 2.0;
        const LegendItem *it = &items[i];
        if (it->kind == LEGEND_LINE || it->kind == LEGEND_DASHED)
            canvas_line(cr, x + 8, cy, x + 28, cy, 2, it->c, 255, it->kind == LEGEND_DASHED ? 6 : 0, 4);
        else if (it->kind == LEGEND_POINT) canvas_disc(cr, x + 18, cy, 3.5, it->c, 255);
        else canvas_rect(cr, x + 10, cy - 4.5, x + 26, cy + 4.5, it->c);
        font_draw_fit(cr, x + 34, ly, it->name, LEGEND_MAX_PX, RGB_TEXT);
    }
}

void plot_colorbar(cairo_t *cr, int x, int y, int w, int h, double vmin, double vmax, const char *label) {
    if (w <= 0 || h <= 1) return;
    double span = vmax > vmin ? vmax - vmin : 1;
    float *ramp = malloc(sizeof *ramp * (size_t)h);
    if (!ramp) return;
    for (int j = 0; j < h; j++) ramp[j] = (float)j / (float)(h - 1);
    canvas_raster(cr, x, y, w, h, ramp, h, 1, 0, 1); /* row 0 (the bottom) 0, the top 1 */
    free(ramp);
    canvas_frame(cr, x - 1, y - 1, x + w + 1, y + h + 1, 1, RGB_AXIS);
    double ticks[PLOT_MAX_TICKS], step, maxw = 0;
    int n = nice_ticks(vmin, vmax, h / 40 > 2 ? h / 40 : 3, 0, ticks, PLOT_MAX_TICKS, &step);
    char buf[64];
    for (int i = 0; i < n; i++) {
        int py = (int)lround(y + (h - 1) - (ticks[i] - vmin) / span * (h - 1));
        canvas_rect(cr, x + w, py, x + w + TICK_LEN, py + 1, RGB_AXIS);
        format_tick(ticks[i], step, buf, sizeof buf);
        font_draw(cr, x + w + TICK_LEN + 3, py + 0.5 - FONT_H / 2.0, buf, RGB_TEXT);
        maxw = fmax(maxw, font_width(cr, buf));
    }
    if (label) {
        double tw = font_width(cr, label);
        font_draw_up(cr, x + w + TICK_LEN + 3 + maxw + 4, y + (h + tw) / 2, label, RGB_TEXT);
    }
}
