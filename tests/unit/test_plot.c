/* test_plot.c - tick computation and labels, the colour map's table, text in DejaVu Sans (widths, fitting,
 * invalid UTF-8), the JSON reader and HTML escaping. */
#include "check.h"
#include "core/error.h"
#include "report/canvas.h"
#include "report/colormap.h"
#include "report/font.h"
#include "report/html.h"
#include "formats/jsonread.h"
#include "report/plot.h"

#include <math.h>
#include <string.h>

static int ticks_are(double lo, double hi, int max, int integer, const double *want, int n, double step) {
    double t[PLOT_MAX_TICKS], s;
    int got = nice_ticks(lo, hi, max, integer, t, PLOT_MAX_TICKS, &s);
    if (got != n || fabs(s - step) > 1e-12 * step) return 0;
    for (int i = 0; i < n; i++)
        if (fabs(t[i] - want[i]) > 1e-12) return 0;
    return 1;
}

static const char *fmt(double v, double step) {
    static char buf[64];
    format_tick(v, step, buf, sizeof buf);
    return buf;
}

int main(void) {
    CHECK(ticks_are(0, 1, 6, 0, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1}, 6, 0.2), "ticks [0, 1], at most 6: 0, 0.2, ..., 1");
    CHECK(ticks_are(0, 1, 11, 0, (double[]){0, .1, .2, .3, .4, .5, .6, .7, .8, .9, 1}, 11, 0.1),
          "ticks [0, 1], at most 11: steps of 0.1, exact values");
    CHECK(ticks_are(0.13, 0.87, 5, 0, (double[]){0.2, 0.4, 0.6, 0.8}, 4, 0.2), "ticks inside [0.13, 0.87]");
    CHECK(ticks_are(-3.2, 7.9, 6, 0, (double[]){-2, 0, 2, 4, 6}, 5, 2), "ticks [-3.2, 7.9]: steps of 2 across zero");
    CHECK(ticks_are(1, 3, 12, 1, (double[]){1, 2, 3}, 3, 1), "integer axis [1, 3]: 1, 2, 3 (no 1.5)");
    CHECK(ticks_are(1, 60, 8, 1, (double[]){10, 20, 30, 40, 50, 60}, 6, 10), "integer axis [1, 60]: steps of 10");
    CHECK(ticks_are(0, 25000, 6, 0, (double[]){0, 5000, 10000, 15000, 20000, 25000}, 6, 5000), "ticks [0, 25000]");
    CHECK(ticks_are(-80, 0, 5, 0, (double[]){-80, -60, -40, -20, 0}, 5, 20), "ticks [-80, 0] dB");
    double t[PLOT_MAX_TICKS], s;
    CHECK(nice_ticks(1, 0, 5, 0, t, PLOT_MAX_TICKS, &s) == 0 && nice_ticks(NAN, 1, 5, 0, t, PLOT_MAX_TICKS, &s) == 0,
          "no ticks for an inverted or NaN range");
    CHECK(nice_ticks(0, 1e-300, 5, 0, t, PLOT_MAX_TICKS, &s) > 0, "a tiny range still gets ticks");
    CHECK(strcmp(fmt(0.30000000000000004, 0.1), "0.3") == 0 && strcmp(fmt(2, 0.5), "2.0") == 0 &&
              strcmp(fmt(-0.0, 0.2), "0.0") == 0 && strcmp(fmt(-1e-17, 1), "0") == 0 && strcmp(fmt(25000, 5000), "25000") == 0 &&
              strcmp(fmt(0.004, 0.002), "0.004") == 0,
          "tick labels: decimals from the step, no -0");

    Rgb lo = colormap_viridis(0), hi = colormap_viridis(1), mid = colormap_viridis(0.5), nan = colormap_viridis(NAN);
    /* matplotlib 3.10: viridis(t, bytes=True) for t = 0, 1, 0.5, 0.25 */
    CHECK(lo.r == 68 && lo.g == 1 && lo.b == 84, "viridis(0) = (68, 1, 84) as matplotlib");
    CHECK(hi.r == 253 && hi.g == 231 && hi.b == 36, "viridis(1) = (253, 231, 36)");
    Rgb q = colormap_viridis(0.25);
    CHECK(mid.r == 32 && mid.g == 144 && mid.b == 140 && q.r == 58 && q.g == 82 && q.b == 139,
          "viridis(0.5) = (32, 144, 140), viridis(0.25) = (58, 82, 139)");
    CHECK(nan.r == lo.r && nan.g == lo.g && nan.b == lo.b && colormap_viridis(-3).r == 68 && colormap_viridis(7).r == 253,
          "viridis clips out-of-range values and NaN");
    Rgb c0 = palette_color(0), c10 = palette_color(10);
    CHECK(c0.r == 31 && c0.g == 119 && c0.b == 180 && c10.r == c0.r, "tab10 palette, cycling");

    Canvas cv;
    if (canvas_init(&cv, 200, 50) < 0) { CHECK(0, "canvas with DejaVu Sans: %s", err_msg()); return 1; }
    cairo_t *cr = cv.cr;
    double wa = font_width(cr, "a"), wb = font_width(cr, "b"), wab = font_width(cr, "ab");
    CHECK(font_width(cr, "") == 0 && wa > 4 && wa < 9 && fabs(wab - wa - wb) < 1e-9,
          "DejaVu Sans at 11 px: 'a' %.3f px wide, widths add up (no hinting, no kerning)", wa);
    CHECK(font_width(cr, "\xff") == font_width(cr, "?") && font_width(cr, "a\tb") == font_width(cr, "a?b") &&
              font_width(cr, "\xc3\xa9") > 0 && font_width(cr, "\xc3\xa9") != font_width(cr, "?"),
          "invalid UTF-8 and control characters measured as '?', UTF-8 characters as themselves");
    char buf[64];
    font_fit(cr, "abcdefghijklmnopqrstuvwxyz", 60, buf, sizeof buf);
    size_t bl = strlen(buf);
    CHECK(bl > 3 && strcmp(buf + bl - 3, "\xe2\x80\xa6") == 0 && font_width(cr, buf) <= 60 && strncmp(buf, "abc", 3) == 0,
          "font_fit cuts to the width with an ellipsis ('%s')", buf);
    font_fit(cr, "abc", 60, buf, sizeof buf);
    CHECK(strcmp(buf, "abc") == 0, "font_fit keeps what fits");
    font_fit(cr, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 30, buf, sizeof buf);
    int whole = 1;
    for (size_t i = 0; buf[i]; i++) whole &= (unsigned char)buf[i] >= 0x80;
    CHECK(whole && font_width(cr, buf) <= 30, "font_fit cuts UTF-8 at character boundaries");
    canvas_free(&cv);
    font_release();

    JsonValue v;
    const char *doc = "{\"a\": [1, 2.5e1, -0.5], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\", \"t\": true, \"n\": null, \"o\": {}}";
    CHECK(json_parse(doc, strlen(doc), "doc", &v) == 0, "json_parse: a document");
    const JsonValue *arr = json_get(&v, "a"), *str = json_get(&v, "s");
    CHECK(arr && arr->type == JV_ARRAY && arr->n == 3 && arr->items[1].number == 25 && arr->items[2].number == -0.5,
          "json: array of numbers");
    CHECK(str && strcmp(str->string, "x\xc3\xa9\xf0\x9f\x98\x80\n") == 0, "json: escapes and surrogate pairs to UTF-8");
    CHECK(json_get(&v, "t")->boolean == 1 && json_get(&v, "n")->type == JV_NULL && isnan(json_get_number(&v, "zz")),
          "json: true, null, absent member");
    json_value_free(&v);
    static const char *const bad[] = {"", "{", "[1,]", "{\"a\" 1}", "01", "\"\\u0000\"", "[1] x", "\"\\ud800\"", "nul", "1."};
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (json_parse(bad[i], strlen(bad[i]), "bad", &v) == 0) { all = 0; json_value_free(&v); }
    }
    CHECK(all, "json: malformed documents refused");
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CHECK(json_parse(deep, 200, "deep", &v) < 0, "json: nesting deeper than JSONR_MAX_DEPTH refused");

    Html h;
    html_init(&h);
    html_text(&h, "<b>&\"x'");
    html_num(&h, "%.2f", NAN);
    CHECK(h.s && strcmp(h.s, "&lt;b&gt;&amp;&quot;x&#39;&ndash;") == 0, "html_text escapes & < > \" '");
    html_free(&h);
    return check_failures != 0;
}
