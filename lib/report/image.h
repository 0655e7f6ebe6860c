/* image.h - an RGB raster canvas and the drawing primitives figures are made of.
 *
 * Promise: pixels are 8-bit RGB, row-major from the top-left corner, (x, y) = (column, row). Every
 * primitive clips to the canvas (coordinates anywhere are safe) and is deterministic: the same calls
 * give the same bytes. Shapes given in double coordinates are anti-aliased by coverage (a pixel's
 * centre is at x + 0.5); alpha is 0 (transparent) .. 255 (opaque). */
#ifndef AUDIOCNN_IMAGE_H
#define AUDIOCNN_IMAGE_H

#include "report/colormap.h"

#include <stdint.h>

#define IMAGE_MAX_SIDE 16384

typedef struct Image {
    int w, h;
    uint8_t *px; /* w * h * 3 bytes */
} Image;

/* A w x h canvas filled with bg. Returns 0, or -1 with err_set() (bad size, out of memory). */
int image_init(Image *im, int w, int h, Rgb bg);
void image_free(Image *im);

/* One pixel, blended over what is there with alpha. */
void image_blend(Image *im, int x, int y, Rgb c, int alpha);
/* Pixels [x0, x1) x [y0, y1), opaque. */
void image_fill_rect(Image *im, int x0, int y0, int x1, int y1, Rgb c);
/* The outline of [x0, x1) x [y0, y1), `t` pixels thick, inside the rectangle. */
void image_frame(Image *im, int x0, int y0, int x1, int y1, int t, Rgb c);
/* A segment of the given width with round ends (a capsule), anti-aliased. */
void image_line(Image *im, double x0, double y0, double x1, double y1, double width, Rgb c, int alpha);
/* The same, drawn as dashes of `dash` pixels separated by `gap` pixels. */
void image_dashed_line(Image *im, double x0, double y0, double x1, double y1, double width, double dash, double gap,
                       Rgb c, int alpha);
/* A filled disc of radius r centred on (cx, cy), anti-aliased. */
void image_disc(Image *im, double cx, double cy, double r, Rgb c, int alpha);
/* Copy src with its top-left corner at (x, y). */
void image_blit(Image *dst, const Image *src, int x, int y);

#endif
