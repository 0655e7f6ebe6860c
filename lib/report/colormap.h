/* colormap.h - colours for figures: the viridis map for values, a qualitative palette for series.
 *
 * Promise: colormap_viridis() is matplotlib's viridis (the 256-entry table of matplotlib's
 * _cm_listed.py, by Stefan van der Walt and Nathaniel Smith, CC0), looked up as matplotlib does for a
 * value in [0, 1] (entry floor(t * 256), clipped to 0..255; NaN gives entry 0) and converted to bytes as
 * matplotlib's Colormap(bytes=True) does (value * 255, truncated). palette_color(i) is matplotlib's
 * "tab10" cycle (i modulo 10). */
#ifndef AUDIOCNN_COLORMAP_H
#define AUDIOCNN_COLORMAP_H

#include <stdint.h>

typedef struct Rgb { uint8_t r, g, b; } Rgb;

Rgb colormap_viridis(double t);
Rgb palette_color(int i);

/* Named colours used across the report: right, wrong, text, grid. */
#define RGB_BLACK ((Rgb){0, 0, 0})
#define RGB_WHITE ((Rgb){255, 255, 255})
#define RGB_TEXT ((Rgb){34, 34, 34})
#define RGB_GRID ((Rgb){226, 226, 226})
#define RGB_AXIS ((Rgb){90, 90, 90})
#define RGB_RIGHT ((Rgb){44, 160, 44})  /* tab10 green */
#define RGB_WRONG ((Rgb){214, 39, 40})  /* tab10 red */

#endif
