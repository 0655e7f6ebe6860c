/* jsonread.c - see jsonread.h. A recursive-descent parser bounded by JSONR_MAX_DEPTH. */
#include "formats/jsonread.h"

#include "core/error.h"
#include "formats/tsv.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct Parser {
    const char *s;
    size_t n, i;
    const char *name;
} Parser;

static int fail(Parser *p, const char *what) {
    err_set("%s: offset %zu: %s", p->name, p->i, what);
    return -1;
}

static void skip_ws(Parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static int hex4(Parser *p, unsigned *v) {
    if (p->i + 4 > p->n) return fail(p, "truncated \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return fail(p, "bad \\u escape");
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

static int parse_string(Parser *p, char **out) {
    p->i++; /* opening quote */
    size_t cap = 16, len = 0;
    char *b = malloc(cap);
    if (!b) return fail(p, "out of memory");
    for (;;) {
        if (p->i >= p->n) { free(b); return fail(p, "unterminated string"); }
        unsigned char c = (unsigned char)p->s[p->i++];
        char enc[4];
        int m = 0;
        if (c == '"') break;
        if (c < 0x20) { free(b); return fail(p, "control character in a string"); }
        if (c != '\\') { enc[m++] = (char)c; }
        else {
            if (p->i >= p->n) { free(b); return fail(p, "unterminated string"); }
            char e = p->s[p->i++];
            unsigned u;
            switch (e) {
            case '"': enc[m++] = '"'; break;
            case '\\': enc[m++] = '\\'; break;
            case '/': enc[m++] = '/'; break;
            case 'b': enc[m++] = '\b'; break;
            case 'f': enc[m++] = '\f'; break;
            case 'n': enc[m++] = '\n'; break;
            case 'r': enc[m++] = '\r'; break;
            case 't': enc[m++] = '\t'; break;
            case 'u':
                if (hex4(p, &u) < 0) { free(b); return -1; }
                if (u >= 0xdc00 && u < 0xe000) { free(b); return fail(p, "lone low surrogate"); }
                if (u >= 0xd800 && u < 0xdc00) {
                    unsigned lo;
                    if (p->i + 2 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') { free(b); return fail(p, "lone high surrogate"); }
                    p->i += 2;
                    if (hex4(p, &lo) < 0) { free(b); return -1; }
                    if (lo < 0xdc00 || lo >= 0xe000) { free(b); return fail(p, "bad surrogate pair"); }
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (u == 0) { free(b); return fail(p, "\\u0000 in a string"); }
                if (u < 0x80) enc[m++] = (char)u;
                else if (u < 0x800) { enc[m++] = (char)(0xc0 | u >> 6); enc[m++] = (char)(0x80 | (u & 63)); }
                else if (u < 0x10000) {
                    enc[m++] = (char)(0xe0 | u >> 12); enc[m++] = (char)(0x80 | (u >> 6 & 63)); enc[m++] = (char)(0x80 | (u & 63));
                } else {
                    enc[m++] = (char)(0xf0 | u >> 18); enc[m++] = (char)(0x80 | (u >> 12 & 63));
                    enc[m++] = (char)(0x80 | (u >> 6 & 63)); enc[m++] = (char)(0x80 | (u & 63));
                }
                break;
            default: free(b); return fail(p, "bad escape");
            }
        }
        if (len + (size_t)m + 1 > cap) {
            while (len + (size_t)m + 1 > cap) cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) { free(b); return fail(p, "out of memory"); }
            b = nb;
        }
        memcpy(b + len, enc, (size_t)m);
        len += (size_t)m;
    }
    b[len] = '\0';
    *out = b;
    return 0;
}

static int parse_number(Parser *p, JsonValue *v) {
    size_t st = p->i;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9')) return fail(p, "bad number");
    if (p->s[p->i] == '0') p->i++;
    else while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9')) return fail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9')) return fail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    char buf[64];
    size_t len = p->i - st;
    if (len >= sizeof buf) return fail(p, "number too long");
    memcpy(buf, p->s + st, len);
    buf[len] = '\0';
    v->type = JV_NUMBER;
    v->number = strtod(buf, NULL);
    return 0;
}

static int parse_value(Parser *p, JsonValue *v, int depth);

static int push(Parser *p, JsonValue *v, size_t *cap, JsonValue *item, char *key) {
    if (v->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        JsonValue *ni = realloc(v->items, nc * sizeof *ni);
        if (!ni) return fail(p, "out of memory");
        v->items = ni;
        if (v->type == JV_OBJECT) {
            char **nk = realloc(v->keys, nc * sizeof *nk);
            if (!nk) return fail(p, "out of memory");
            v->keys = nk;
        }
        *cap = nc;
    }
    v->items[v->n] = *item;
    if (v->type == JV_OBJECT) v->keys[v->n] = key;
    v->n++;
    return 0;
}

static int parse_container(Parser *p, JsonValue *v, int depth) {
    int obj = p->s[p->i] == '{';
    v->type = obj ? JV_OBJECT : JV_ARRAY;
    p->i++;
    size_t cap = 0;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) { p->i++; return 0; }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (obj) {
            if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a member name");
            if (parse_string(p, &key) < 0) return -1;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') { free(key); return fail(p, "expected ':'"); }
            p->i++;
        }
        JsonValue item;
        if (parse_value(p, &item, depth + 1) < 0) { free(key); return -1; }
        if (push(p, v, &cap, &item, key) < 0) { free(key); json_value_free(&item); return -1; }
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) { p->i++; return 0; }
        return fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(Parser *p, JsonValue *v, int depth) {
    memset(v, 0, sizeof *v);
    if (depth > JSONR_MAX_DEPTH) return fail(p, "nested too deeply");
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "unexpected end");
    char c = p->s[p->i];
    if (c == '{' || c == '[') {
        if (parse_container(p, v, depth) < 0) { json_value_free(v); return -1; }
        return 0;
    }
    if (c == '"') { v->type = JV_STRING; return parse_string(p, &v->string); }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    static const char *const words[3] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(words[k]);
        if (p->n - p->i >= l && memcmp(p->s + p->i, words[k], l) == 0) {
            p->i += l;
            v->type = k == 2 ? JV_NULL : JV_BOOL;
            v->boolean = k == 0;
            return 0;
        }
    }
    return fail(p, "unexpected character");
}

int json_parse(const char *text, size_t len, const char *name, JsonValue *out) {
    Parser p = {text, len, 0, name};
    if (parse_value(&p, out, 0) < 0) return -1;
    skip_ws(&p);
    if (p.i != p.n) { json_value_free(out); return fail(&p, "text after the JSON value"); }
    return 0;
}

int json_read_file(const char *path, JsonValue *out) {
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) return -1;
    int rc = json_parse(text, len, path, out);
    free(text);
    return rc;
}

void json_value_free(JsonValue *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        json_value_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    memset(v, 0, sizeof *v);
}

const JsonValue *json_get(const JsonValue *v, const char *key) {
    if (!v || v->type != JV_OBJECT) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

double json_get_number(const JsonValue *v, const char *key) {
    const JsonValue *m = json_get(v, key);
    return m && m->type == JV_NUMBER ? m->number : NAN;
}
