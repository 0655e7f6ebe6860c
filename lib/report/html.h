/* html.h - assembling an HTML document in memory.
 *
 * Promise: an Html buffer grows as needed; html_text() escapes & < > " ' so that any string read from
 * a file (class names, paths, settings) is shown as text and never interpreted as markup, in element
 * content and in quoted attribute values alike. Out of memory is sticky: later calls do nothing and
 * html_failed() reports it (err_set() is called once). html_rawn() copies bytes as they are (NUL bytes
 * included), so an Html is also the growing byte buffer cairo's SVG and PNG streams write into. */
#ifndef AUDIOCNN_HTML_H
#define AUDIOCNN_HTML_H

#include <stddef.h>

typedef struct Html {
    char *s;
    size_t len, cap;
    int failed;
} Html;

void html_init(Html *h);
void html_free(Html *h);
/* Markup written as is: only for text the program itself produces. */
void html_raw(Html *h, const char *s);
void html_rawn(Html *h, const char *s, size_t n);
void html_printf(Html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text from outside, escaped. NULL writes nothing. */
void html_text(Html *h, const char *s);
/* A number formatted with printf's FMT (e.g. "%.4f"), or an en dash when it is not finite. */
void html_num(Html *h, const char *fmt, double v);
int html_failed(const Html *h);

#endif
