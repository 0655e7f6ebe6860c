/* image.c - see image.h. */
#include "report/image.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int image_init(Image *im, int w, int h, Rgb bg) {
    im->w = im->h = 0;
    im->px = NULL;
    if (w <= 0 || h <= 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE) {
        err_set("image of %d x %d pixels: size out of range", w, h);
        return -1;
    }
    im->px = malloc((size_t)w * (size_t)h * 3);
    if (!im->px) { err_set("out of memory"); return -1; }
    im->w = w;
    im->h = h;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        im->px[3 * i] = bg.r; im->px[3 * i + 1] = bg.g; im->px[3 * i + 2] = bg.b;
    }
    return 0;
}

void image_free(Image *im) {
    free(im->px);
    im->px = NULL;
    im->w = im->h = 0;
}

static uint8_t mix(uint8_t dst, uint8_t src, int a) {
    return (uint8_t)((dst * (255 - a) + src * a + 127) / 255);
}

void image_blend(Image *im, int x, int y, Rgb c, int alpha) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h || alpha <= 0) return;
    if (alpha > 255) alpha = 255;
    uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    if (alpha == 255) { p[0] = c.r; p[1] = c.g; p[2] = c.b; return; }
    p[0] = mix(p[0], c.r, alpha); p[1] = mix(p[1], c.g, alpha); p[2] = mix(p[2], c.b, alpha);
}

void image_fill_rect(Image *im, int x0, int y0, int x1, int y1, Rgb c) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > im->w) x1 = im->w;
    if (y1 > im->h) y1 = im->h;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
            p[0] = c.r; p[1] = c.g; p[2] = c.b;
        }
}

void image_frame(Image *im, int x0, int y0, int x1, int y1, int t, Rgb c) {
    image_fill_rect(im, x0, y0, x1, y0 + t, c);
    image_fill_rect(im, x0, y1 - t, x1, y1, c);
    image_fill_rect(im, x0, y0, x0 + t, y1, c);
    image_fill_rect(im, x1 - t, y0, x1, y1, c);
}

static int clampi(double v, int lo, int hi) {
    if (!(v > lo)) return lo;
    if (v > hi) return hi;
    return (int)v;
}

void image_line(Image *im, double x0, double y0, double x1, double y1, double width, Rgb c, int alpha) {
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    double r = width / 2;
    int bx0 = clampi(floor(fmin(x0, x1) - r - 1), 0, im->w), bx1 = clampi(ceil(fmax(x0, x1) + r + 1), 0, im->w);
    int by0 = clampi(floor(fmin(y0, y1) - r - 1), 0, im->h), by1 = clampi(ceil(fmax(y0, y1) + r + 1), 0, im->h);
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int y = by0; y < by1; y++)
        for (int x = bx0; x < bx1; x++) {
            double px = x + 0.5 - x0, py = y + 0.5 - y0;
            double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
            if (t < 0) t = 0;
            if (t > 1) t = 1;
            double ex = px - t * dx, ey = py - t * dy;
            double cov = r + 0.5 - sqrt(ex * ex + ey * ey);
            if (cov <= 0) continue;
            if (cov > 1) cov = 1;
            image_blend(im, x, y, c, (int)lround(cov * alpha));
        }
}

void image_dashed_line(Image *im, double x0, double y0, double x1, double y1, double width, double dash, double gap,
                       Rgb c, int alpha) {
    double dx = x1 - x0, dy = y1 - y0, len = sqrt(dx * dx + dy * dy);
    if (!(len > 0) || !(dash > 0) || gap < 0) { image_line(im, x0, y0, x1, y1, width, c, alpha); return; }
    for (double s = 0; s < len; s += dash + gap) {
        double e = fmin(s + dash, len);
        image_line(im, x0 + dx * s / len, y0 + dy * s / len, x0 + dx * e / len, y0 + dy * e / len, width, c, alpha);
    }
}

void image_disc(Image *im, double cx, double cy, double r, Rgb c, int alpha) {
    image_line(im, cx, cy, cx, cy, 2 * r, c, alpha);
}

void image_blit(Image *dst, const Image *src, int x, int y) {
    for (int j = 0; j < src->h; j++) {
        int yy = y + j;
        if (yy < 0 || yy >= dst->h) continue;
        for (int i = 0; i < src->w; i++) {
            int xx = x + i;
            if (xx < 0 || xx >= dst->w) continue;
            memcpy(dst->px + ((size_t)yy * (size_t)dst->w + (size_t)xx) * 3,
                   src->px + ((size_t)j * (size_t)src->w + (size_t)i) * 3, 3);
        }
    }
}
