/* test_png.c - a figure's canvas: its PNG (read back with libpng: size and pixels as drawn; signature,
 * IHDR and no chunk but IHDR, bKGD, IDAT, IEND) and its SVG (size, ids renamed, every reference
 * resolved), the same bytes every time; the SVG id renaming on its own; base64 (RFC 4648 vectors). */
#include "check.h"
#include "formats/base64.h"
#include "report/canvas.h"
#include "report/colormap.h"
#include "report/font.h"

#include "core/error.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

typedef struct Src { const unsigned char *p; size_t n, at; } Src;

static void src_read(png_structp png, png_bytep out, size_t n) {
    Src *s = png_get_io_ptr(png);
    if (s->at + n > s->n) png_error(png, "short read");
    memcpy(out, s->p + s->at, n);
    s->at += n;
}

/* Decode an 8-bit RGB PNG into *px (w*h*3). Returns 0 or -1. */
static int decode(const unsigned char *buf, size_t len, int *w, int *h, unsigned char **px) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    Src *s = malloc(sizeof *s);
    *px = NULL;
    s->p = buf; s->n = len; s->at = 0;
    if (setjmp(png_jmpbuf(png))) { png_destroy_read_struct(&png, &info, NULL); free(s); free(*px); *px = NULL; return -1; }
    png_set_read_fn(png, s, src_read);
    png_read_info(png, info);
    if (png_get_color_type(png, info) != PNG_COLOR_TYPE_RGB || png_get_bit_depth(png, info) != 8) png_error(png, "not RGB8");
    *w = (int)png_get_image_width(png, info);
    *h = (int)png_get_image_height(png, info);
    *px = malloc((size_t)*w * (size_t)*h * 3);
    png_bytep *rows = malloc(sizeof *rows * (size_t)*h);
    for (int y = 0; y < *h; y++) rows[y] = *px + (size_t)y * (size_t)*w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    free(s);
    return 0;
}

static unsigned be32(const unsigned char *p) { return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3]; }

int main(void) {
    /* base64: RFC 4648 section 10 */
    static const char *const in[7] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[7] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    int b64ok = 1;
    for (int i = 0; i < 7; i++) {
        size_t n;
        char *s = base64_encode(in[i], strlen(in[i]), &n);
        b64ok &= s && strcmp(s, want[i]) == 0 && n == strlen(want[i]);
        free(s);
    }
    CHECK(b64ok, "base64: the RFC 4648 test vectors");
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)i;
    size_t n;
    char *s = base64_encode(bytes, 256, &n);
    CHECK(s && n == 344 && strncmp(s, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44) == 0 && strcmp(s + 336, "/P3+/w==") == 0,
          "base64: all 256 byte values");
    free(s);

    /* a test picture: a gradient raster, a rectangle, a line, a disc, text */
    unsigned char *png[2] = {NULL, NULL};
    char *svg[2] = {NULL, NULL};
    size_t pl[2] = {0, 0}, sl[2] = {0, 0};
    float grad[37];
    for (int i = 0; i < 37; i++) grad[i] = (float)i;
    for (int k = 0; k < 2; k++) {
        Canvas cv;
        if (canvas_init(&cv, 37, 23) < 0) { CHECK(0, "canvas_init 37 x 23: %s", err_msg()); return 1; }
        canvas_raster(cv.cr, 0, 0, 37, 23, grad, 1, 37, 0, 36);
        canvas_rect(cv.cr, 3, 4, 9, 12, RGB_WHITE);
        canvas_line(cv.cr, 0, 0, 36, 22, 2, RGB_WRONG, 255, 0, 0);
        canvas_disc(cv.cr, 30, 5, 3, RGB_RIGHT, 255);
        font_draw(cv.cr, 1, 8, "Ab\xff", RGB_BLACK);
        CHECK(canvas_finish(&cv, "t-", &svg[k], &sl[k], &png[k], &pl[k]) == 0, "canvas_finish: SVG and PNG (run %d)", k + 1);
        if (!svg[k] || !png[k]) return 1;
    }
    CHECK(pl[0] == pl[1] && memcmp(png[0], png[1], pl[0]) == 0, "the same drawing gives the same PNG bytes (%zu)", pl[0]);
    CHECK(sl[0] == sl[1] && memcmp(svg[0], svg[1], sl[0]) == 0, "the same drawing gives the same SVG bytes (%zu)", sl[0]);
    unsigned char *a = png[0];
    size_t la = pl[0];
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(la > 33 && memcmp(a, sig, 8) == 0 && be32(a + 8) == 13 && memcmp(a + 12, "IHDR", 4) == 0 && be32(a + 16) == 37 &&
              be32(a + 20) == 23 && a[24] == 8 && a[25] == 2 && a[26] == 0 && a[27] == 0 && a[28] == 0,
          "signature, then IHDR: 37 x 23, 8-bit RGB, deflate, no interlace");
    char chunks[64] = "";
    for (size_t at = 8; at + 12 <= la && strlen(chunks) + 6 < sizeof chunks; at += 12 + be32(a + at)) {
        strncat(chunks, (const char *)a + at + 4, 4);
        strcat(chunks, " ");
    }
    CHECK(strcmp(chunks, "IHDR bKGD IDAT IEND ") == 0, "chunks IHDR bKGD IDAT IEND only, no tIME or text (%s)", chunks);
    int w = 0, h = 0;
    unsigned char *px = NULL;
    CHECK(decode(a, la, &w, &h, &px) == 0 && w == 37 && h == 23, "libpng reads it back: 37 x 23");
    if (!px) return 1;
    const unsigned char *q = px + (4 * 37 + 3) * 3;
    CHECK(q[0] == 255 && q[1] == 255 && q[2] == 255, "a rectangle sets its pixels");
    q = px + (5 * 37 + 30) * 3;
    CHECK(q[0] == RGB_RIGHT.r && q[1] == RGB_RIGHT.g && q[2] == RGB_RIGHT.b, "a disc covers its centre");
    q = px + (20 * 37 + 20) * 3;
    Rgb g = colormap_viridis(20 / 36.0);
    CHECK(q[0] == g.r && q[1] == g.g && q[2] == g.b, "the raster's pixels are viridis of their nearest value");
    free(px);
    const char *sv = svg[0];
    CHECK(strncmp(sv, "<svg ", 5) == 0 && strstr(sv, "width=\"37px\" height=\"23px\" viewBox=\"0 0 37 23\"") &&
              strcmp(sv + sl[0] - 7, "</svg>\n") == 0,
          "SVG: one <svg> element of 37 x 23 px, no XML prolog");
    int ids = 0, refs = 0, foreign = 0, unresolved = 0;
    for (const char *t = sv; (t = strstr(t, " id=\"")); t += 5) { ids++; foreign += strncmp(t + 5, "t-", 2) != 0; }
    for (const char *t = sv; (t = strchr(t, '#')); t++) {
        refs++;
        char wantid[64];
        size_t n2 = strcspn(t + 1, "\")");
        snprintf(wantid, sizeof wantid, " id=\"%.*s\"", (int)n2, t + 1);
        unresolved += !strstr(sv, wantid);
    }
    CHECK(ids > 0 && refs > 0 && !foreign && !unresolved, "SVG: %d ids, all t-N; %d references, each to one of them", ids, refs);
    for (int k = 0; k < 2; k++) { free(png[k]); free(svg[k]); }

    const char doc[] = "<svg><defs><g id=\"glyph0-1\"/><image id=\"image9\"/></defs><use xlink:href=\"#image9\"/>"
                       "<g clip-path=\"url(#glyph0-1)\"><use xlink:href=\"#glyph0-1\" x=\"1\"/></g></svg>";
    size_t rl;
    char *ren = svg_rename_ids(doc, strlen(doc), "f3-", &rl);
    CHECK(ren && strcmp(ren, "<svg><defs><g id=\"f3-1\"/><image id=\"f3-2\"/></defs><use xlink:href=\"#f3-2\"/>"
                             "<g clip-path=\"url(#f3-1)\"><use xlink:href=\"#f3-1\" x=\"1\"/></g></svg>") == 0 && rl == strlen(ren),
          "svg_rename_ids: ids numbered in order of appearance, references follow");
    free(ren);
    const char dangling[] = "<svg><g id=\"a\"/><use xlink:href=\"#b\"/></svg>";
    CHECK(!svg_rename_ids(dangling, strlen(dangling), "x", &rl), "svg_rename_ids: a reference to no id is an error");
    Canvas bad;
    CHECK(canvas_init(&bad, 0, 5) < 0 && canvas_init(&bad, 5, CANVAS_MAX_SIDE + 1) < 0, "canvas_init refuses empty and huge sizes");
    font_release();
    return check_failures != 0;
}
