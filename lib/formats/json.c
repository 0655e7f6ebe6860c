#include "formats/json.h"

#include <math.h>
#include <stdlib.h>

void json_init(JsonWriter *w, FILE *f, int indent) {
    w->f = f;
    w->depth = 0;
    w->count[0] = 0;
    w->after_key = 0;
    w->indent = indent;
    w->error = 0;
}

static void newline(JsonWriter *w) {
    if (!w->indent) return;
    fputc('\n', w->f);
    for (int i = 0; i < w->depth * w->indent; i++) fputc(' ', w->f);
}

/* Before any value: a comma and a line break unless it follows a key. */
static void before_value(JsonWriter *w) {
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (w->count[w->depth]++) fputc(',', w->f);
        newline(w);
    } else if (w->count[0]++) {
        w->error = 1; /* two top-level values */
    }
}

static void open_(JsonWriter *w, char c) {
    before_value(w);
    fputc(c, w->f);
    if (w->depth + 1 >= JSON_MAX_DEPTH) {
        w->error = 1;
        return;
    }
    w->count[++w->depth] = 0;
}

static void close_(JsonWriter *w, char c) {
    if (w->depth == 0 || w->after_key) {
        w->error = 1;
        return;
    }
    int had = w->count[w->depth];
    w->depth--;
    if (had) newline(w);
    fputc(c, w->f);
    if (w->depth == 0) fputc('\n', w->f);
}

void json_object_begin(JsonWriter *w) { open_(w, '{'); }
void json_object_end(JsonWriter *w) { close_(w, '}'); }
void json_array_begin(JsonWriter *w) { open_(w, '['); }
void json_array_end(JsonWriter *w) { close_(w, ']'); }

static void put_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

void json_key(JsonWriter *w, const char *key) {
    before_value(w);
    put_string(w->f, key);
    fputs(w->indent ? ": " : ":", w->f);
    w->after_key = 1;
}

void json_string(JsonWriter *w, const char *s) {
    before_value(w);
    put_string(w->f, s);
}

void json_number(JsonWriter *w, double v) {
    before_value(w);
    if (!isfinite(v)) fputs("null", w->f);
    else if (v == floor(v) && fabs(v) < 1e15) fprintf(w->f, "%.1f", v);
    else { /* the shortest of 15..17 significant digits that reads back as the same double */
        char buf[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) break;
        }
        fputs(buf, w->f);
    }
}

void json_int(JsonWriter *w, int64_t v) {
    before_value(w);
    fprintf(w->f, "%lld", (long long)v);
}

void json_bool(JsonWriter *w, int v) {
    before_value(w);
    fputs(v ? "true" : "false", w->f);
}

void json_null(JsonWriter *w) {
    before_value(w);
    fputs("null", w->f);
}

int json_error(const JsonWriter *w) { return w->error || w->depth != 0 || ferror(w->f); }
