/* canvas.c - see canvas.h. */
#include "report/canvas.h"

#include "core/error.h"
#include "report/font.h"
#include "report/html.h"

#include <cairo-svg.h>
#include <cairo-tee.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* cairo's output streams append to an Html buffer (a growing byte buffer with sticky failure). */
static cairo_status_t buf_write(void *u, const unsigned char *data, unsigned int n) {
    html_rawn(u, (const char *)data, n);
    return html_failed(u) ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

void canvas_free(Canvas *cv) {
    if (cv->cr) cairo_destroy(cv->cr);
    if (cv->tee) cairo_surface_destroy(cv->tee);
    if (cv->svg) cairo_surface_destroy(cv->svg);
    if (cv->img) cairo_surface_destroy(cv->img);
    if (cv->svgbuf) html_free(cv->svgbuf);
    free(cv->svgbuf);
    memset(cv, 0, sizeof *cv);
}

int canvas_init(Canvas *cv, int w, int h) {
    memset(cv, 0, sizeof *cv);
    if (w <= 0 || h <= 0 || w > CANVAS_MAX_SIDE || h > CANVAS_MAX_SIDE) {
        err_set("figure of %d x %d pixels: size out of range", w, h);
        return -1;
    }
    if (font_load() < 0) return -1;
    cv->w = w;
    cv->h = h;
    cv->svgbuf = malloc(sizeof *cv->svgbuf);
    if (!cv->svgbuf) { err_set("out of memory"); return -1; }
    html_init(cv->svgbuf);
    cv->svg = cairo_svg_surface_create_for_stream(buf_write, cv->svgbuf, w, h);
    cairo_svg_surface_set_document_unit(cv->svg, CAIRO_SVG_UNIT_PX);
    cv->img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cv->tee = cairo_tee_surface_create(cv->svg);
    cairo_tee_surface_add(cv->tee, cv->img);
    cv->cr = cairo_create(cv->tee);
    if (cairo_status(cv->cr) != CAIRO_STATUS_SUCCESS) {
        err_set("cairo: %s", cairo_status_to_string(cairo_status(cv->cr)));
        canvas_free(cv);
        return -1;
    }
    canvas_rect(cv->cr, 0, 0, w, h, RGB_WHITE);
    font_use(cv->cr, FONT_SIZE);
    return 0;
}

int canvas_finish(Canvas *cv, const char *id_prefix, char **svg, size_t *svg_len, unsigned char **png, size_t *png_len) {
    *svg = NULL;
    *png = NULL;
    cairo_status_t st = cairo_status(cv->cr);
    cairo_destroy(cv->cr);
    cv->cr = NULL;
    cairo_surface_finish(cv->tee);
    cairo_surface_finish(cv->svg);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(cv->svg);
    if (st != CAIRO_STATUS_SUCCESS || html_failed(cv->svgbuf) || !cv->svgbuf->s) {
        err_set("drawing a figure: %s", html_failed(cv->svgbuf) ? "out of memory" : cairo_status_to_string(st));
        canvas_free(cv);
        return -1;
    }
    const char *doc = cv->svgbuf->s, *start = strstr(doc, "<svg");
    if (!start) { err_set("drawing a figure: cairo wrote no <svg> element"); canvas_free(cv); return -1; }
    *svg = svg_rename_ids(start, cv->svgbuf->len - (size_t)(start - doc), id_prefix, svg_len);
    if (!*svg) { canvas_free(cv); return -1; }
    Html pb;
    html_init(&pb);
    cairo_surface_flush(cv->img);
    st = cairo_surface_write_to_png_stream(cv->img, buf_write, &pb);
    if (st != CAIRO_STATUS_SUCCESS || html_failed(&pb)) {
        html_free(&pb);
        free(*svg);
        *svg = NULL;
        if (st != CAIRO_STATUS_SUCCESS) err_set("figure as PNG: %s", cairo_status_to_string(st)); /* else: out of memory, said */
        canvas_free(cv);
        return -1;
    }
    *png = (unsigned char *)pb.s;
    *png_len = pb.len;
    canvas_free(cv);
    return 0;
}

/* ---- SVG ids ------------------------------------------------------------------------------------ */

typedef struct Ids {
    const char **name; /* pointers into the document, each ending at '"' */
    size_t *len;
    size_t n, cap;
} Ids;

static long ids_find(const Ids *ids, const char *s, size_t len) {
    for (size_t i = 0; i < ids->n; i++)
        if (ids->len[i] == len && memcmp(ids->name[i], s, len) == 0) return (long)i;
    return -1;
}

static void out_id(Html *o, const char *prefix, long i) {
    html_raw(o, prefix);
    html_printf(o, "%ld", i + 1);
}

char *svg_rename_ids(const char *svg, size_t len, const char *prefix, size_t *out_len) {
    Ids ids = {0};
    Html o;
    html_init(&o);
    const char *end = svg + len;
    int bad = 0;
    for (const char *s = svg; s < end && (s = strstr(s, " id=\"")) && s < end; s += 5) {
        const char *v = s + 5, *q = memchr(v, '"', (size_t)(end - v));
        if (!q) { bad = 1; break; }
        if (ids_find(&ids, v, (size_t)(q - v)) >= 0) continue;
        if (ids.n == ids.cap) {
            size_t cap = ids.cap ? ids.cap * 2 : 64;
            const char **nn = realloc(ids.name, sizeof *nn * cap);
            if (nn) ids.name = nn;
            size_t *nl = realloc(ids.len, sizeof *nl * cap);
            if (nl) ids.len = nl;
            if (!nn || !nl) { free(ids.name); free(ids.len); err_set("out of memory"); return NULL; }
            ids.cap = cap;
        }
        ids.name[ids.n] = v;
        ids.len[ids.n++] = (size_t)(q - v);
    }
    const char *idat = strstr(svg, " id=\""); /* the next id (found once: the document is long) */
    for (const char *s = svg; !bad && !html_failed(&o) && s < end;) {
        const char *ref = strchr(s, '#');
        if (idat && idat >= end) idat = NULL;
        if (ref && ref >= end) ref = NULL;
        if (!idat && !ref) { html_rawn(&o, s, (size_t)(end - s)); break; }
        if (idat && (!ref || idat < ref)) {
            const char *v = idat + 5, *q = memchr(v, '"', (size_t)(end - v));
            html_rawn(&o, s, (size_t)(v - s));
            out_id(&o, prefix, ids_find(&ids, v, (size_t)(q - v)));
            s = q;
            idat = strstr(s, " id=\"");
            continue;
        }
        /* a reference: "#X" (an attribute's whole value) or url(#X) */
        const char *v = ref + 1, *q = v;
        while (q < end && *q != '"' && *q != ')') q++;
        long i = ref > svg && (ref[-1] == '"' || ref[-1] == '(') && q < end ? ids_find(&ids, v, (size_t)(q - v)) : -1;
        if (i < 0) { bad = 1; break; }
        html_rawn(&o, s, (size_t)(v - s));
        out_id(&o, prefix, i);
        s = q;
    }
    free(ids.name);
    free(ids.len);
    if (bad || html_failed(&o) || !o.s) { /* out of memory is already said */
        if (bad) err_set("figure as SVG: a '#' that is not a reference to one of its ids");
        else if (!html_failed(&o)) err_set("figure as SVG: empty");
        html_free(&o);
        return NULL;
    }
    *out_len = o.len;
    return o.s;
}

/* ---- drawing helpers ----------------------------------------------------------------------------- */

void canvas_rgb(cairo_t *cr, Rgb c, int alpha) {
    if (alpha >= 255) cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
    else cairo_set_source_rgba(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0, alpha / 255.0);
}

void canvas_rect(cairo_t *cr, double x0, double y0, double x1, double y1, Rgb c) {
    if (!(x1 > x0) || !(y1 > y0)) return;
    canvas_rgb(cr, c, 255);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_fill(cr);
}

void canvas_frame(cairo_t *cr, double x0, double y0, double x1, double y1, double t, Rgb c) {
    canvas_rect(cr, x0, y0, x1, y0 + t, c);
    canvas_rect(cr, x0, y1 - t, x1, y1, c);
    canvas_rect(cr, x0, y0 + t, x0 + t, y1 - t, c);
    canvas_rect(cr, x1 - t, y0 + t, x1, y1 - t, c);
}

void canvas_stroke(cairo_t *cr, double width, Rgb c, int alpha, double dash, double gap) {
    canvas_rgb(cr, c, alpha);
    cairo_set_line_width(cr, width);
    cairo_set_line_cap(cr, dash > 0 ? CAIRO_LINE_CAP_BUTT : CAIRO_LINE_CAP_ROUND);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    if (dash > 0) cairo_set_dash(cr, (double[]){dash, gap}, 2, 0);
    cairo_stroke(cr);
    if (dash > 0) cairo_set_dash(cr, NULL, 0, 0);
}

void canvas_line(cairo_t *cr, double x0, double y0, double x1, double y1, double width, Rgb c, int alpha, double dash,
                 double gap) {
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    canvas_stroke(cr, width, c, alpha, dash, gap);
}

void canvas_disc(cairo_t *cr, double cx, double cy, double r, Rgb c, int alpha) {
    if (!isfinite(cx) || !isfinite(cy) || !(r > 0)) return;
    canvas_rgb(cr, c, alpha);
    cairo_new_path(cr);
    cairo_arc(cr, cx, cy, r, 0, 2 * M_PI);
    cairo_fill(cr);
}

void canvas_raster(cairo_t *cr, int x, int y, int W, int H, const float *v, int rows, int cols, double vmin, double vmax) {
    if (rows <= 0 || cols <= 0 || W <= 0 || H <= 0) return;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) { cairo_surface_destroy(s); return; }
    unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    double span = vmax > vmin ? vmax - vmin : 1;
    cairo_surface_flush(s);
    for (int py = 0; py < H; py++) {
        int r = rows - 1 - (int)((long long)py * rows / H);
        uint32_t *row = (uint32_t *)(px + (size_t)py * (size_t)stride);
        for (int qx = 0; qx < W; qx++) {
            int col = (int)((long long)qx * cols / W);
            Rgb c = colormap_viridis((v[(size_t)r * (size_t)cols + (size_t)col] - vmin) / span);
            row[qx] = (uint32_t)c.r << 16 | (uint32_t)c.g << 8 | c.b;
        }
    }
    cairo_surface_mark_dirty(s);
    cairo_set_source_surface(cr, s, x, y);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, x, y, W, H);
    cairo_fill(cr);
    cairo_surface_destroy(s);
}
