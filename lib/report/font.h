/* font.h - text in the figures: DejaVu Sans through FreeType and cairo.
 *
 * Promise: the face is loaded from one exact file, FONT_FILE (Debian's fonts-dejavu-core), never
 * through fontconfig's choice, so the same text gives the same glyphs and bytes on every machine with
 * that file; font_load() fails with a one-line error naming the file when it is missing. Glyphs are
 * placed without hinting (outlines and advances as the font defines them), so widths do not depend on
 * the surface drawn on. Text is one line of UTF-8: invalid bytes and control characters are drawn as
 * '?', so any file name can be drawn safely; characters the font lacks show its missing-glyph box.
 * (x, y) is the top-left corner of the line box, FONT_H pixels high at FONT_SIZE. */
#ifndef AUDIOCNN_FONT_H
#define AUDIOCNN_FONT_H

#include "report/colormap.h"

#include <cairo.h>

#define FONT_FILE "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define FONT_SIZE 11.0  /* pixels per em of ordinary text */
#define FONT_TITLE 13.0 /* titles */
#define FONT_H 14       /* line height at FONT_SIZE */

/* Load the face once (later calls do nothing). Returns 0, or -1 with err_set(). */
int font_load(void);
/* Drop the face and cairo's font caches (at exit, so that leak checkers see everything freed). */
void font_release(void);
/* Select the face at `size` on cr (font_load() must have succeeded). */
void font_use(cairo_t *cr, double size);

/* Width in pixels of S in cr's current font. */
double font_width(cairo_t *cr, const char *s);
void font_draw(cairo_t *cr, double x, double y, const char *s, Rgb c);
/* Turned a quarter counter-clockwise (reading bottom to top), for vertical axis labels: (x, y) is the
 * bottom-left corner of the turned text, which extends up to y - font_width(). */
void font_draw_up(cairo_t *cr, double x, double y, const char *s, Rgb c);
/* S cut to at most max_px pixels wide, ending in an ellipsis when cut, into buf of size n. */
void font_fit(cairo_t *cr, const char *s, double max_px, char *buf, int n);
void font_draw_fit(cairo_t *cr, double x, double y, const char *s, double max_px, Rgb c);

#endif
