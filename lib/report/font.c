/* font.c - see font.h. */
#include "report/font.h"

#include "core/error.h"

#include <cairo-ft.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <math.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static FT_Library ft_lib;
static cairo_font_face_t *face;
static const cairo_user_data_key_t FACE_KEY;

static void face_done(void *p) { FT_Done_Face((FT_Face)p); }

int font_load(void) {
    if (face) return 0;
    if (!ft_lib && FT_Init_FreeType(&ft_lib)) { err_set("FreeType: cannot start"); return -1; }
    FT_Face ft;
    if (FT_New_Face(ft_lib, FONT_FILE, 0, &ft)) {
        err_set("%s: cannot load the font (Debian package fonts-dejavu-core)", FONT_FILE);
        return -1;
    }
    face = cairo_ft_font_face_create_for_ft_face(ft, 0);
    /* the FT_Face lives as long as cairo keeps the face (its caches included) */
    if (cairo_font_face_status(face) != CAIRO_STATUS_SUCCESS ||
        cairo_font_face_set_user_data(face, &FACE_KEY, ft, face_done) != CAIRO_STATUS_SUCCESS) {
        cairo_font_face_destroy(face);
        face = NULL;
        FT_Done_Face(ft);
        err_set("cairo: cannot use the font %s", FONT_FILE);
        return -1;
    }
    return 0;
}

void font_release(void) {
    if (face) cairo_font_face_destroy(face);
    face = NULL;
    cairo_debug_reset_static_data(); /* cairo's font caches: the face's last references */
    if (ft_lib) FT_Done_FreeType(ft_lib);
    ft_lib = NULL;
}

void font_use(cairo_t *cr, double size) {
    cairo_set_font_face(cr, face);
    cairo_set_font_size(cr, size);
    cairo_font_options_t *o = cairo_font_options_create();
    cairo_font_options_set_hint_style(o, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(o, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_antialias(o, CAIRO_ANTIALIAS_GRAY);
    cairo_set_font_options(cr, o);
    cairo_font_options_destroy(o);
}

/* S as valid UTF-8 without control characters (each bad byte or control character a '?'), cut at a
 * character boundary to fit buf of size n. */
static void clean(const char *s, char *buf, int n) {
    const unsigned char *p = (const unsigned char *)s;
    int o = 0;
    while (*p && o + 1 < n) {
        int len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
        int ok = len > 0;
        for (int i = 1; ok && i < len; i++) ok = (p[i] & 0xc0) == 0x80;
        if (ok && len > 1) { /* no overlong forms, surrogates or code points past U+10FFFF */
            unsigned cp = len == 2 ? (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu)
                        : len == 3 ? (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu)
                                   : (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
            ok = cp >= (len == 2 ? 0x80u : len == 3 ? 0x800u : 0x10000u) && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) &&
                 !(cp >= 0x80 && cp < 0xa0);
        }
        if (!ok || (len == 1 && (*p < 0x20 || *p == 0x7f))) { buf[o++] = '?'; p++; continue; }
        if (o + len >= n) break;
        memcpy(buf + o, p, (size_t)len);
        o += len;
        p += len;
    }
    buf[o] = '\0';
}

double font_width(cairo_t *cr, const char *s) {
    char buf[1024];
    clean(s, buf, sizeof buf);
    cairo_text_extents_t e;
    cairo_text_extents(cr, buf, &e);
    return e.x_advance;
}

/* The baseline below the top of the line box: the line (FONT_H at FONT_SIZE, in proportion at other
 * sizes) split evenly above the ascent and below the descent. */
static double baseline(cairo_t *cr) {
    cairo_font_extents_t fe;
    cairo_matrix_t m;
    cairo_font_extents(cr, &fe);
    cairo_get_font_matrix(cr, &m);
    return (FONT_H * m.yy / FONT_SIZE - fe.ascent - fe.descent) / 2 + fe.ascent;
}

static void set_rgb(cairo_t *cr, Rgb c) { cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0); }

void font_draw(cairo_t *cr, double x, double y, const char *s, Rgb c) {
    char buf[1024];
    clean(s, buf, sizeof buf);
    set_rgb(cr, c);
    cairo_move_to(cr, x, y + baseline(cr));
    cairo_show_text(cr, buf);
    cairo_new_path(cr);
}

void font_draw_up(cairo_t *cr, double x, double y, const char *s, Rgb c) {
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -M_PI / 2);
    font_draw(cr, 0, 0, s, c);
    cairo_restore(cr);
}

void font_fit(cairo_t *cr, const char *s, double max_px, char *buf, int n) {
    clean(s, buf, n);
    if (font_width(cr, buf) <= max_px) return;
    static const char ELLIPSIS[] = "\xe2\x80\xa6";
    double ew = font_width(cr, ELLIPSIS);
    size_t len = strlen(buf);
    while (len > 0) {
        do len--; while (len > 0 && ((unsigned char)buf[len] & 0xc0) == 0x80); /* back one character */
        buf[len] = '\0';
        if (font_width(cr, buf) + ew <= max_px) break;
    }
    if (len + sizeof ELLIPSIS <= (size_t)n) memcpy(buf + len, ELLIPSIS, sizeof ELLIPSIS);
}

void font_draw_fit(cairo_t *cr, double x, double y, const char *s, double max_px, Rgb c) {
    char buf[1024];
    font_fit(cr, s, max_px, buf, sizeof buf);
    font_draw(cr, x, y, buf, c);
}
