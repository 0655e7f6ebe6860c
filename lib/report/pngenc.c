/* pngenc.c - see pngenc.h. */
#include "report/pngenc.h"

#include "core/error.h"
#include "formats/outfile.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

typedef struct Sink {
    unsigned char *buf;
    size_t len, cap;
    int oom;
} Sink;

static void sink_write(png_structp png, png_bytep data, size_t n) {
    Sink *s = png_get_io_ptr(png);
    if (s->oom) return;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n) cap *= 2;
        unsigned char *b = realloc(s->buf, cap);
        if (!b) { s->oom = 1; png_error(png, "out of memory"); }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void sink_flush(png_structp png) { (void)png; }

static void on_error(png_structp png, png_const_charp msg) {
    err_set("PNG encoder: %s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

int pngenc_encode(const Image *im, unsigned char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (!im->px || im->w <= 0 || im->h <= 0) { err_set("PNG encoder: empty image"); return -1; }
    Sink *sink = calloc(1, sizeof *sink);
    png_bytep *rows = malloc(sizeof *rows * (size_t)im->h);
    png_structp png = sink && rows ? png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, on_error, on_warning) : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        if (png) png_destroy_write_struct(&png, NULL);
        free(sink);
        free(rows);
        err_set("out of memory");
        return -1;
    }
    /* nothing local changes between setjmp and a longjmp: sink and rows are pointers set above */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(sink->buf);
        free(sink);
        free(rows);
        return -1;
    }
    for (int y = 0; y < im->h; y++) rows[y] = im->px + (size_t)y * (size_t)im->w * 3;
    png_set_write_fn(png, sink, sink_write, sink_flush);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *out = sink->buf;
    *len = sink->len;
    free(sink);
    return 0;
}

int pngenc_save(const char *path, const Image *im) {
    unsigned char *buf;
    size_t len;
    if (pngenc_encode(im, &buf, &len) < 0) { err_prefix(path); return -1; }
    OutFile o;
    if (outfile_open(&o, path) < 0) { free(buf); return -1; }
    if (fwrite(buf, 1, len, o.f) != len) {
        free(buf);
        outfile_abort(&o);
        err_set("%s: write error", path);
        return -1;
    }
    free(buf);
    return outfile_commit(&o);
}
