/* test_png.c - the PNG writer (read back with libpng: same size, same pixels; the same bytes every time;
 * signature and IHDR as the format says), base64 (RFC 4648 vectors) and the canvas primitives. */
#include "formats/base64.h"
#include "check.h"
#include "report/colormap.h"
#include "report/image.h"
#include "report/pngenc.h"

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

    /* a test picture: gradient, a rectangle, a line, a disc */
    Image im;
    CHECK(image_init(&im, 37, 23, (Rgb){10, 20, 30}) == 0, "image_init 37 x 23");
    for (int y = 0; y < im.h; y++)
        for (int x = 0; x < im.w; x++) image_blend(&im, x, y, colormap_viridis((double)x / im.w), 128);
    image_fill_rect(&im, 3, 4, 9, 12, RGB_WHITE);
    image_line(&im, 0, 0, 36, 22, 2, RGB_WRONG, 255);
    image_disc(&im, 30, 5, 3, RGB_RIGHT, 255);
    const unsigned char *p = im.px + (4 * 37 + 3) * 3;
    CHECK(p[0] == 255 && p[1] == 255 && p[2] == 255, "fill_rect sets its pixels");
    p = im.px + (5 * 37 + 30) * 3;
    CHECK(p[0] == RGB_RIGHT.r && p[1] == RGB_RIGHT.g && p[2] == RGB_RIGHT.b, "a disc covers its centre");
    Image bad;
    CHECK(image_init(&bad, 0, 5, RGB_WHITE) < 0 && image_init(&bad, 5, IMAGE_MAX_SIDE + 1, RGB_WHITE) < 0,
          "image_init refuses empty and huge sizes");

    unsigned char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    CHECK(pngenc_encode(&im, &a, &la) == 0 && pngenc_encode(&im, &b, &lb) == 0, "pngenc_encode");
    CHECK(la == lb && memcmp(a, b, la) == 0, "the same image gives the same bytes (%zu)", la);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(la > 33 && memcmp(a, sig, 8) == 0 && be32(a + 8) == 13 && memcmp(a + 12, "IHDR", 4) == 0 && be32(a + 16) == 37 &&
              be32(a + 20) == 23 && a[24] == 8 && a[25] == 2 && a[26] == 0 && a[27] == 0 && a[28] == 0,
          "signature, then IHDR: 37 x 23, 8-bit RGB, deflate, no interlace");
    CHECK(la >= 12 && memcmp(a + la - 8, "IEND", 4) == 0, "ends with IEND");
    int has_time = 0;
    for (size_t i = 0; i + 4 <= la; i++) has_time |= memcmp(a + i, "tIME", 4) == 0;
    CHECK(!has_time, "no tIME chunk");
    int w = 0, h = 0;
    unsigned char *px = NULL;
    CHECK(decode(a, la, &w, &h, &px) == 0 && w == 37 && h == 23, "libpng reads it back: 37 x 23");
    CHECK(px && memcmp(px, im.px, (size_t)37 * 23 * 3) == 0, "read back: every pixel identical");
    free(px);
    free(a);
    free(b);
    image_free(&im);
    return check_failures != 0;
}
