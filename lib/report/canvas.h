/* canvas.h - a figure being drawn: one set of cairo calls goes to an SVG document and to a PNG image.
 *
 * Promise: canvas_init() gives a w x h pixel drawing context (cairo user units = pixels, origin top
 * left, y down) on a white background, with the report's font selected; everything drawn on cr goes at
 * once (a cairo tee surface) to an SVG surface (document unit px: width="Wpx" height="Hpx", viewBox
 * 0 0 W H) and to an RGB image surface. canvas_finish() ends both: the SVG without its XML prolog, its
 * ids renamed (svg_rename_ids) for inlining in an HTML page next to other figures, and the image as PNG
 * by cairo's writer (IHDR, bKGD, IDAT, IEND: no time or text chunk). The same calls give the same
 * bytes in both. */
#ifndef AUDIOCNN_CANVAS_H
#define AUDIOCNN_CANVAS_H

#include "report/colormap.h"

#include <cairo.h>
#include <stddef.h>

#define CANVAS_MAX_SIDE 16384

typedef struct Canvas {
    int w, h;
    cairo_t *cr;
    cairo_surface_t *svg, *img, *tee;
    struct Html *svgbuf; /* the SVG as cairo writes it */
} Canvas;

/* Returns 0, or -1 with err_set() (bad size, out of memory, font missing). */
int canvas_init(Canvas *cv, int w, int h);
/* The SVG (NUL-terminated, ids prefixed with id_prefix) and the PNG, both malloc'd; the canvas is
 * freed. Returns 0, or -1 with err_set() (a drawing error, out of memory). */
int canvas_finish(Canvas *cv, const char *id_prefix, char **svg, size_t *svg_len, unsigned char **png, size_t *png_len);
void canvas_free(Canvas *cv);

/* Why rename: cairo numbers the ids of an SVG document (glyph0-1, image5, clip2, surface7, ...) from
 * counters of its own, so two figures inlined in one HTML page would define the same ids and each
 * <use xlink:href="#glyph0-1"> would draw whichever came first. Every id="X" becomes id="PREFIXn" (n
 * numbering the ids in order of first appearance from 1) and every reference to it ("#X" in an
 * attribute, url(#X)) follows; the result depends only on the document's structure, not on cairo's
 * counters (which run on across the figures of one process). Returns a malloc'd NUL-terminated
 * copy, or NULL with err_set() (out of memory, a reference to an id the document does not define). */
char *svg_rename_ids(const char *svg, size_t len, const char *prefix, size_t *out_len);

/* Drawing helpers on cr: colours as bytes, alpha 0..255. */
void canvas_rgb(cairo_t *cr, Rgb c, int alpha);
/* Pixels [x0, x1) x [y0, y1), opaque. */
void canvas_rect(cairo_t *cr, double x0, double y0, double x1, double y1, Rgb c);
/* The outline of [x0, x1) x [y0, y1), t pixels thick, inside the rectangle. */
void canvas_frame(cairo_t *cr, double x0, double y0, double x1, double y1, double t, Rgb c);
/* Stroke cr's current path: round ends and joins; dash > 0 draws dashes of that length separated by gap. */
void canvas_stroke(cairo_t *cr, double width, Rgb c, int alpha, double dash, double gap);
/* A segment, stroked so. */
void canvas_line(cairo_t *cr, double x0, double y0, double x1, double y1, double width, Rgb c, int alpha, double dash,
                 double gap);
void canvas_disc(cairo_t *cr, double cx, double cy, double r, Rgb c, int alpha);
/* A rows x cols raster of values through viridis ((v - vmin) / (vmax - vmin), vmax <= vmin: span 1)
 * shown in [x, x+W) x [y, y+H) (integer pixels), row 0 at the bottom, each pixel taking its nearest
 * value: the same pixels in the PNG and in the SVG (where it is an embedded image of W x H pixels). */
void canvas_raster(cairo_t *cr, int x, int y, int W, int H, const float *v, int rows, int cols, double vmin, double vmax);

#endif
