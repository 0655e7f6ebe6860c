/* html.c - see html.h. */
#include "report/html.h"

#include "core/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void html_init(Html *h) { memset(h, 0, sizeof *h); }

void html_free(Html *h) {
    free(h->s);
    memset(h, 0, sizeof *h);
}

static int grow(Html *h, size_t n) {
    if (h->failed) return -1;
    if (h->len + n + 1 <= h->cap) return 0;
    size_t cap = h->cap ? h->cap : 65536;
    while (cap < h->len + n + 1) cap *= 2;
    char *s = realloc(h->s, cap);
    if (!s) { h->failed = 1; err_set("out of memory"); return -1; }
    h->s = s;
    h->cap = cap;
    return 0;
}

void html_rawn(Html *h, const char *s, size_t n) {
    if (grow(h, n) < 0) return;
    memcpy(h->s + h->len, s, n);
    h->len += n;
    h->s[h->len] = '\0';
}

void html_raw(Html *h, const char *s) { html_rawn(h, s, strlen(s)); }

void html_printf(Html *h, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { html_rawn(h, small, (size_t)n); return; }
    if (grow(h, (size_t)n) < 0) return;
    va_start(ap, fmt);
    vsnprintf(h->s + h->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    h->len += (size_t)n;
}

void html_text(Html *h, const char *s) {
    if (!s) return;
    for (const char *p = s; *p; p++) {
        const char *e = NULL;
        switch (*p) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: break;
        }
        if (e) html_raw(h, e);
        else html_rawn(h, p, 1);
    }
}

void html_num(Html *h, const char *fmt, double v) {
    if (!isfinite(v)) { html_raw(h, "&ndash;"); return; }
    html_printf(h, fmt, v);
}

int html_failed(const Html *h) { return h->failed; }
