/* plot.h - 2-D plots drawn with cairo (report/canvas.h): axes with nice ticks, lines, points, bars, rasters, legends.
 *
 * Promise: plot_axes() lays out one panel inside a rectangle of the canvas (title on top, tick labels
 * and axis labels outside the data area, which gets a white background, light grid lines at the ticks
 * and a frame), and sets up the mapping from data to pixels used by the other calls; they draw inside
 * the data area only. Numeric axes get "nice" ticks (1, 2 or 5 times a power of ten; see nice_ticks());
 * categorical axes put category i at i with its name as the tick label (turned upright when names do
 * not fit side by side). y grows upwards. Non-finite data values are skipped (a line breaks there).
 * Text is DejaVu Sans (report/font.h). Deterministic: the same calls give the same bytes. */
#ifndef AUDIOCNN_PLOT_H
#define AUDIOCNN_PLOT_H

#include "report/canvas.h"

#define PLOT_MAX_TICKS 32

typedef struct Axis {
    double lo, hi;          /* data range (lo == hi is widened around the value) */
    const char *label;      /* may be NULL */
    int nice;               /* 1: extend [lo, hi] outwards to tick multiples */
    int integer;            /* 1: tick step at least 1 (epochs, counts) */
    const char *const *cats;/* categorical axis: ncats names, category i at i, range -0.5 .. ncats-0.5 */
    int ncats;
    double pad;             /* fraction of the range added on both sides after the ticks are chosen, so that
                               points on the extreme ticks are not cut by the frame */
} Axis;

typedef struct Plot {
    cairo_t *cr;
    int left, top, right, bottom; /* data area in pixels: [left, right) x [top, bottom) */
    double x0, x1, y0, y1;        /* data range shown */
} Plot;

/* Ticks for [lo, hi]: step = the smallest of 1, 2, 5 x 10^k (at least 1 with `integer`) giving at most
 * max_ticks ticks, ticks = the multiples of step within [lo, hi] (with a tolerance of 1e-9 step).
 * Returns the count (<= cap), *step set. lo > hi or non-finite values give 0 ticks. */
int nice_ticks(double lo, double hi, int max_ticks, int integer, double *ticks, int cap, double *step);
/* A tick label: the fewest decimals that show `step` exactly (at most 6), "-0" written as "0". */
void format_tick(double v, double step, char *buf, int n);

/* Lay out and draw a panel in [x, x+w) x [y, y+h) of cr; axes are read, and a `nice` range is written
 * back to them. */
void plot_axes(Plot *p, cairo_t *cr, int x, int y, int w, int h, const char *title, Axis *xa, Axis *ya);

double plot_px(const Plot *p, double x); /* data x -> pixel x */
double plot_py(const Plot *p, double y); /* data y -> pixel y */

/* A polyline through n points; `dashed` draws dashes. */
void plot_line(Plot *p, const double *x, const double *y, int n, Rgb c, double width, int dashed);
void plot_points(Plot *p, const double *x, const double *y, int n, double radius, Rgb c, int alpha);
void plot_hline(Plot *p, double y, Rgb c, double width, int dashed);
void plot_vline(Plot *p, double x, Rgb c, double width, int dashed);
/* A bar from (x - w/2, y0) to (x + w/2, y1) in data units. */
void plot_bar(Plot *p, double x, double w, double y0, double y1, Rgb c);
/* A rows x cols raster filling the data range: row 0 at the bottom, column 0 at the left, each value
 * (v - vmin) / (vmax - vmin) through viridis; nearest-neighbour sampling. */
void plot_raster(Plot *p, const float *v, int rows, int cols, double vmin, double vmax);
/* A waveform: n samples spread over [x0, x1] in data units, drawn as the min-max envelope per pixel column. */
void plot_envelope(Plot *p, const float *s, long n, double x0, double x1, Rgb c);
/* A k x k matrix of cells, cell (i, j) at x = j, y = k-1-i (row 0 at the top), filled by viridis of
 * shade[i*k+j] in [0, 1] and labelled with text[i*k+j] (may be NULL) in black or white for contrast. */
void plot_cells(Plot *p, int k, const double *shade, const char *const *text);

enum { LEGEND_LINE, LEGEND_DASHED, LEGEND_POINT, LEGEND_BOX };
typedef struct LegendItem {
    const char *name;
    Rgb c;
    int kind;
} LegendItem;
/* A framed legend in a corner of the data area: corner 0 top-right, 1 bottom-right, 2 top-left, 3
 * bottom-left. Names are cut to 150 pixels. */
void plot_legend(Plot *p, const LegendItem *items, int n, int corner);

/* A vertical colour bar for [vmin, vmax] with ticks, in [x, x+w) x [y, y+h); label drawn upright. */
void plot_colorbar(cairo_t *cr, int x, int y, int w, int h, double vmin, double vmax, const char *label);

#endif
