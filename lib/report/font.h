/* font.h - text on an Image with a built-in bitmap font (printable ASCII, written for this project).
 *
 * Promise: each glyph is 5 x 7 pixels (plus 2 rows below the baseline for g, j, p, q, y, comma and
 * underscore) in a cell FONT_W x FONT_H; at scale s every font pixel is an s x s block. Text is one
 * line; bytes outside printable ASCII are drawn as '?', one per UTF-8 character (continuation bytes are
 * skipped), so any file name can be drawn safely. (x, y) is the top-left corner of the first cell. */
#ifndef AUDIOCNN_FONT_H
#define AUDIOCNN_FONT_H

#include "report/image.h"

#define FONT_W 6  /* cell width: 5 pixels of glyph, 1 of spacing */
#define FONT_H 11 /* cell height: 7 above the baseline, 2 below, 2 of spacing */

/* Number of characters drawn for S (UTF-8 characters, not bytes). */
int font_chars(const char *s);
/* Width in pixels of S at `scale`. */
int font_width(const char *s, int scale);
void font_draw(Image *im, int x, int y, const char *s, int scale, Rgb c);
/* Rotated a quarter turn counter-clockwise (reading bottom to top), for vertical axis labels:
 * (x, y) is the bottom-left corner of the rotated text, which extends up to y - font_width(). */
void font_draw_up(Image *im, int x, int y, const char *s, int scale, Rgb c);
/* Draw S cut to at most max_px pixels wide, ending in ".." when cut. */
void font_draw_fit(Image *im, int x, int y, const char *s, int max_px, int scale, Rgb c);
/* S cut to at most `max_chars` characters (".." at the end when cut), into buf of size n. */
void font_fit(const char *s, int max_chars, char *buf, int n);

#endif
