#define _POSIX_C_SOURCE 200809L
#include "formats/safetensors.h"

#include "core/error.h"
#include "formats/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_LE 0
#else
#define HOST_LE 1
#endif

static const struct {
    const char *name;
    size_t size;
} DTYPES[ST_NDTYPES] = {
    [ST_BOOL] = {"BOOL", 1},   [ST_U8] = {"U8", 1},           [ST_I8] = {"I8", 1},
    [ST_U16] = {"U16", 2},     [ST_I16] = {"I16", 2},         [ST_U32] = {"U32", 4},
    [ST_I32] = {"I32", 4},     [ST_U64] = {"U64", 8},         [ST_I64] = {"I64", 8},
    [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},   [ST_F32] = {"F32", 4},         [ST_F64] = {"F64", 8},
};

const char *st_dtype_name(StDType dt) { return (unsigned)dt < ST_NDTYPES ? DTYPES[dt].name : "?"; }
size_t st_dtype_size(StDType dt) { return (unsigned)dt < ST_NDTYPES ? DTYPES[dt].size : 0; }
int st_dtype_is_float(StDType dt) { return dt >= ST_F8_E4M3 && dt <= ST_F64; }

/* ---- small helpers ----------------------------------------------------------------------------- */

/* A growable byte buffer; on allocation failure `bad` is set and later appends do nothing. */
typedef struct {
    char *s;
    size_t n, cap;
    int bad;
} Buf;

static void buf_put(Buf *b, const void *p, size_t n) {
    if (b->bad) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) { b->bad = 1; return; }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void buf_printf(Buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) buf_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

#define SHOWN(s, b) wt_shown((s), (b), sizeof(b))

/* Offset of the first byte that is not valid UTF-8 (strict: no overlong forms, no surrogates, nothing
 * past U+10FFFF), or n when all is valid. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return n;
}

/* Read exactly n bytes at off; returns the count read (short at end of file) or -1 with errno. */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* ---- the header: a strict JSON reader for exactly the safetensors schema ------------------------ */

typedef struct {
    const unsigned char *s;
    size_t n, i;
    const char *file;
    char ctx[300]; /* "tensor 'x': shape: " or "" */
} Js;

__attribute__((format(printf, 2, 3))) static int jerr(Js *j, const char *fmt, ...) {
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    err_set("%s: bad safetensors header: %s%s at header byte %zu", j->file, j->ctx, what, j->i);
    return -1;
}

static void ws(Js *j) {
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

static int peekc(const Js *j) { return j->i < j->n ? j->s[j->i] : -1; }

/* What stands at the cursor, for messages. */
static const char *found(const Js *j, char *buf, size_t cap) {
    int c = peekc(j);
    if (c < 0) snprintf(buf, cap, "the end of the header");
    else if (c > 0x20 && c < 0x7f) snprintf(buf, cap, "'%c'", c);
    else snprintf(buf, cap, "byte 0x%02x", c);
    return buf;
}

static int expect(Js *j, char ch, const char *what) {
    ws(j);
    if (peekc(j) != (unsigned char)ch) {
        char f[32];
        return jerr(j, "expected %s, found %s", what, found(j, f, sizeof f));
    }
    j->i++;
    return 0;
}

static int hex4(Js *j, uint32_t *v) {
    if (j->n - j->i < 4) return jerr(j, "truncated \\u escape");
    uint32_t x = 0;
    for (int k = 0; k < 4; k++) {
        int c = j->s[j->i + (size_t)k], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return jerr(j, "bad \\u escape");
        x = x << 4 | (uint32_t)d;
    }
    j->i += 4;
    *v = x;
    return 0;
}

/* A JSON string, decoded into a new NUL-terminated buffer (*out, caller frees). The header was
 * checked to be UTF-8 already; raw control characters, unknown escapes, lone surrogates and \u0000 are
 * refused. The decoded text is never longer than the quoted one. */
static int parse_string(Js *j, char **out) {
    *out = NULL;
    ws(j);
    if (peekc(j) != '"') {
        char f[32];
        return jerr(j, "expected a string, found %s", found(j, f, sizeof f));
    }
    j->i++;
    size_t k = j->i;
    while (k < j->n && j->s[k] != '"') k += j->s[k] == '\\' ? 2 : 1;
    if (k >= j->n) return jerr(j, "unterminated string");
    char *b = malloc(k - j->i + 1);
    if (!b) {
        err_set("%s: out of memory reading the header", j->file);
        return -1;
    }
    size_t o = 0;
    for (;;) {
        unsigned char c = j->s[j->i];
        if (c == '"') { j->i++; break; }
        if (c < 0x20) { jerr(j, "control character 0x%02x in a string", c); goto fail; }
        if (c != '\\') { b[o++] = (char)c; j->i++; continue; }
        j->i++;
        c = j->s[j->i++]; /* in bounds: the scan above found the closing quote after it */
        switch (c) {
        case '"': b[o++] = '"'; break;
        case '\\': b[o++] = '\\'; break;
        case '/': b[o++] = '/'; break;
        case 'b': b[o++] = '\b'; break;
        case 'f': b[o++] = '\f'; break;
        case 'n': b[o++] = '\n'; break;
        case 'r': b[o++] = '\r'; break;
        case 't': b[o++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (hex4(j, &cp) < 0) goto fail;
            if (cp >= 0xdc00 && cp <= 0xdfff) { jerr(j, "unpaired surrogate in \\u escape"); goto fail; }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (j->n - j->i < 2 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u') {
                    jerr(j, "unpaired surrogate in \\u escape");
                    goto fail;
                }
                j->i += 2;
                if (hex4(j, &lo) < 0) goto fail;
                if (lo < 0xdc00 || lo > 0xdfff) { jerr(j, "unpaired surrogate in \\u escape"); goto fail; }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) { jerr(j, "\\u0000 in a string is not supported"); goto fail; }
            if (cp < 0x80) {
                b[o++] = (char)cp;
            } else if (cp < 0x800) {
                b[o++] = (char)(0xc0 | cp >> 6);
                b[o++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                b[o++] = (char)(0xe0 | cp >> 12);
                b[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                b[o++] = (char)(0x80 | (cp & 0x3f));
            } else {
                b[o++] = (char)(0xf0 | cp >> 18);
                b[o++] = (char)(0x80 | (cp >> 12 & 0x3f));
                b[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                b[o++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            j->i--;
            jerr(j, "bad escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
            goto fail;
        }
    }
    b[o] = 0;
    *out = b;
    return 0;
fail:
    free(b);
    return -1;
}

/* A JSON integer >= 0 and < 2^63: no sign, fraction, exponent or leading zero. */
static int parse_uint(Js *j, uint64_t *v) {
    ws(j);
    int c = peekc(j);
    if (c == '-') return jerr(j, "negative number");
    if (c < '0' || c > '9') {
        char f[32];
        return jerr(j, "expected a non-negative integer, found %s", found(j, f, sizeof f));
    }
    size_t start = j->i;
    uint64_t x = 0;
    while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
        unsigned d = j->s[j->i] - '0';
        if (x > ((uint64_t)INT64_MAX - d) / 10) return jerr(j, "integer too large");
        x = x * 10 + d;
        j->i++;
    }
    if (j->s[start] == '0' && j->i - start > 1) {
        j->i = start;
        return jerr(j, "integer with a leading zero");
    }
    c = peekc(j);
    if (c == '.' || c == 'e' || c == 'E') return jerr(j, "expected an integer, found a number with a fraction or exponent");
    *v = x;
    return 0;
}

/* '[' integers ']' with at most `max` elements; *count gets how many. */
static int parse_uint_array(Js *j, uint64_t *v, int max, int *count, const char *too_many) {
    if (expect(j, '[', "'['") < 0) return -1;
    *count = 0;
    ws(j);
    if (peekc(j) == ']') { j->i++; return 0; }
    for (;;) {
        if (*count == max) return jerr(j, "%s", too_many);
        if (parse_uint(j, &v[*count]) < 0) return -1;
        (*count)++;
        ws(j);
        if (peekc(j) == ',') { j->i++; continue; }
        if (peekc(j) == ']') { j->i++; return 0; }
        char f[32];
        return jerr(j, "expected ',' or ']', found %s", found(j, f, sizeof f));
    }
}

static int lookup_dtype(const char *s) {
    for (int d = 0; d < ST_NDTYPES; d++)
        if (strcmp(s, DTYPES[d].name) == 0) return d;
    return -1;
}

/* The object of one tensor (the name is already read and owned by e). */
static int parse_tensor(Js *j, StEntry *e) {
    char nb[200];
    snprintf(j->ctx, sizeof j->ctx, "tensor '%s': ", SHOWN(e->name, nb));
    if (expect(j, '{', "an object") < 0) return -1;
    int have_dtype = 0, have_shape = 0, have_off = 0;
    ws(j);
    if (peekc(j) != '}') {
        for (;;) {
            char *key;
            if (parse_string(j, &key) < 0) return -1;
            char kb[100];
            SHOWN(key, kb);
            int which = strcmp(key, "dtype") == 0 ? 0 : strcmp(key, "shape") == 0 ? 1 : strcmp(key, "data_offsets") == 0 ? 2 : -1;
            free(key);
            if (which < 0) return jerr(j, "unexpected key '%s' (only dtype, shape and data_offsets)", kb);
            int *have = which == 0 ? &have_dtype : which == 1 ? &have_shape : &have_off;
            if ((*have)++) return jerr(j, "duplicate key '%s'", kb);
            if (expect(j, ':', "':'") < 0) return -1;
            if (which == 0) {
                char *dt;
                size_t at = j->i;
                if (parse_string(j, &dt) < 0) return -1;
                int d = lookup_dtype(dt);
                if (d < 0) {
                    char db[64];
                    SHOWN(dt, db);
                    free(dt);
                    j->i = at;
                    return jerr(j, "unknown dtype '%s'", db);
                }
                free(dt);
                e->dtype = (StDType)d;
            } else if (which == 1) {
                uint64_t dims[ST_MAX_DIMS];
                if (parse_uint_array(j, dims, ST_MAX_DIMS, &e->ndim, "shape has more than 8 dimensions") < 0) return -1;
                for (int d = 0; d < e->ndim; d++) e->shape[d] = (int64_t)dims[d];
            } else {
                uint64_t off[2];
                int cnt;
                if (parse_uint_array(j, off, 2, &cnt, "data_offsets must hold two integers") < 0) return -1;
                if (cnt != 2) return jerr(j, "data_offsets must hold two integers");
                e->begin = off[0];
                e->end = off[1];
            }
            ws(j);
            if (peekc(j) == ',') { j->i++; continue; }
            if (peekc(j) == '}') break;
            char f[32];
            return jerr(j, "expected ',' or '}', found %s", found(j, f, sizeof f));
        }
    }
    j->i++; /* the '}' */
    if (!have_dtype || !have_shape || !have_off)
        return jerr(j, "missing key '%s'", !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    /* sizes: element count and byte count without overflow, and the offsets must span exactly that */
    if (shape_numel_checked(e->ndim, e->shape, INT64_MAX / 8, &e->numel) < 0)
        return jerr(j, "shape too large (the element count overflows)");
    uint64_t nbytes = (uint64_t)e->numel * DTYPES[e->dtype].size;
    if (e->begin > e->end)
        return jerr(j, "data_offsets [%llu, %llu] end before they begin", (unsigned long long)e->begin,
                    (unsigned long long)e->end);
    if (e->end - e->begin != nbytes) {
        char sb[200];
        wt_shape_text(e->ndim, e->shape, sb, sizeof sb);
        return jerr(j, "data_offsets [%llu, %llu] span %llu bytes but %s %s needs %llu", (unsigned long long)e->begin,
                    (unsigned long long)e->end, (unsigned long long)(e->end - e->begin), DTYPES[e->dtype].name, sb,
                    (unsigned long long)nbytes);
    }
    j->ctx[0] = 0;
    return 0;
}

static int parse_metadata(Js *j, StFile *f, int *cap) {
    snprintf(j->ctx, sizeof j->ctx, "__metadata__: ");
    if (expect(j, '{', "an object of strings") < 0) return -1;
    ws(j);
    if (peekc(j) == '}') { j->i++; j->ctx[0] = 0; return 0; }
    for (;;) {
        char *key, *val;
        if (parse_string(j, &key) < 0) return -1;
        if (expect(j, ':', "':'") < 0) { free(key); return -1; }
        ws(j);
        if (peekc(j) != '"') {
            char kb[100];
            SHOWN(key, kb);
            free(key);
            return jerr(j, "the value of '%s' is not a string", kb);
        }
        if (parse_string(j, &val) < 0) { free(key); return -1; }
        if (f->nmeta == *cap) {
            int nc = *cap ? 2 * *cap : 8;
            StMeta *m = realloc(f->meta, sizeof *m * (size_t)nc);
            if (!m) {
                free(key);
                free(val);
                err_set("%s: out of memory reading the header", j->file);
                return -1;
            }
            f->meta = m;
            *cap = nc;
        }
        f->meta[f->nmeta].key = key;
        f->meta[f->nmeta].value = val;
        f->nmeta++;
        ws(j);
        if (peekc(j) == ',') { j->i++; continue; }
        if (peekc(j) == '}') { j->i++; break; }
        char fb[32];
        return jerr(j, "expected ',' or '}', found %s", found(j, fb, sizeof fb));
    }
    j->ctx[0] = 0;
    return 0;
}

typedef struct {
    uint64_t b, e;
    int idx;
} Span;

static int cmp_span(const void *a, const void *b) {
    const Span *x = a, *y = b;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    if (x->e != y->e) return x->e < y->e ? -1 : 1;
    return 0;
}

/* Uniqueness of names and metadata keys, the name index, and the layout of the data section. */
static int check_file(StFile *f) {
    char nb[200], nb2[200];
    Span *sp = malloc(sizeof *sp * (f->n ? (size_t)f->n : 1));
    f->by_name = malloc(sizeof *f->by_name * (f->n ? (size_t)f->n : 1));
    int rc = -1, dup, r1 = 0, r2 = 0;
    if (!sp || !f->by_name || (r1 = wt_name_index(f->meta, sizeof(StMeta), offsetof(StMeta, key), f->nmeta, NULL, &dup)) < 0 ||
        (r1 == 0 && (r2 = wt_name_index(f->e, sizeof(StEntry), offsetof(StEntry, name), f->n, f->by_name, &dup)) < 0)) {
        free(sp);
        err_set("%s: out of memory reading the header", f->name);
        return -1;
    }
    if (r1) {
        err_set("%s: bad safetensors header: __metadata__: duplicate key '%s'", f->name, SHOWN(f->meta[dup].key, nb));
        goto out;
    }
    if (r2) {
        err_set("%s: bad safetensors header: duplicate tensor name '%s'", f->name, SHOWN(f->e[dup].name, nb));
        goto out;
    }
    for (int i = 0; i < f->n; i++) sp[i] = (Span){f->e[i].begin, f->e[i].end, i};
    qsort(sp, (size_t)f->n, sizeof *sp, cmp_span);
    uint64_t prev_end = 0;
    for (int i = 0; i < f->n; i++) {
        const StEntry *e = &f->e[sp[i].idx];
        if (sp[i].b < prev_end) {
            const StEntry *p = &f->e[sp[i - 1].idx];
            err_set("%s: bad safetensors data layout: tensor '%s' (data_offsets [%llu, %llu]) overlaps tensor '%s' "
                    "([%llu, %llu])", f->name, SHOWN(e->name, nb), (unsigned long long)e->begin,
                    (unsigned long long)e->end, SHOWN(p->name, nb2), (unsigned long long)p->begin,
                    (unsigned long long)p->end);
            goto out;
        }
        if (sp[i].b > prev_end) {
            if (i == 0)
                err_set("%s: bad safetensors data layout: the first tensor '%s' begins at byte %llu of the data, "
                        "not 0 (a gap)", f->name, SHOWN(e->name, nb), (unsigned long long)e->begin);
            else
                err_set("%s: bad safetensors data layout: a gap of %llu bytes before tensor '%s' (data_offsets "
                        "[%llu, %llu])", f->name, (unsigned long long)(sp[i].b - prev_end), SHOWN(e->name, nb),
                        (unsigned long long)e->begin, (unsigned long long)e->end);
            goto out;
        }
        prev_end = sp[i].e;
    }
    if (prev_end < f->data_len) {
        err_set("%s: bad safetensors data layout: %llu trailing bytes after the last tensor (the tensors end at "
                "byte %llu of the %llu-byte data section)", f->name, (unsigned long long)(f->data_len - prev_end),
                (unsigned long long)prev_end, (unsigned long long)f->data_len);
        goto out;
    }
    if (prev_end > f->data_len) {
        err_set("%s: truncated safetensors file: the tensors end at byte %llu of the data section but only %llu bytes "
                "follow the header", f->name, (unsigned long long)prev_end, (unsigned long long)f->data_len);
        goto out;
    }
    rc = 0;
out:
    free(sp);
    return rc;
}

/* Parse the N header bytes into f (whose name and data_len are set). */
static int parse_header(StFile *f, const unsigned char *h, size_t n) {
    size_t bad = utf8_invalid_at(h, n);
    if (bad < n) {
        err_set("%s: bad safetensors header: not valid UTF-8 at header byte %zu", f->name, bad);
        return -1;
    }
    Js j = {h, n, 0, f->name, ""};
    if (n == 0 || h[0] != '{') {
        char fb[32];
        return jerr(&j, "the header must start with '{', found %s", found(&j, fb, sizeof fb));
    }
    j.i = 1;
    int cap = 0, mcap = 0, have_meta = 0;
    ws(&j);
    if (peekc(&j) == '}') {
        j.i++;
    } else {
        for (;;) {
            char *key;
            j.ctx[0] = 0;
            if (parse_string(&j, &key) < 0) return -1;
            if (expect(&j, ':', "':'") < 0) { free(key); return -1; }
            if (strcmp(key, "__metadata__") == 0) {
                free(key);
                if (have_meta++) return jerr(&j, "duplicate key '__metadata__'");
                if (parse_metadata(&j, f, &mcap) < 0) return -1;
            } else {
                if (f->n == cap) {
                    int nc = cap ? 2 * cap : 16;
                    StEntry *ne = realloc(f->e, sizeof *ne * (size_t)nc);
                    if (!ne) {
                        free(key);
                        err_set("%s: out of memory reading the header", f->name);
                        return -1;
                    }
                    f->e = ne;
                    cap = nc;
                }
                StEntry *e = &f->e[f->n++];
                memset(e, 0, sizeof *e);
                e->name = key;
                if (parse_tensor(&j, e) < 0) return -1;
            }
            ws(&j);
            if (peekc(&j) == ',') { j.i++; continue; }
            if (peekc(&j) == '}') { j.i++; break; }
            char fb[32];
            return jerr(&j, "expected ',' or '}', found %s", found(&j, fb, sizeof fb));
        }
    }
    while (j.i < n && h[j.i] == ' ') j.i++;
    if (j.i != n) return jerr(&j, "unexpected bytes after the JSON object (only space padding may follow)");
    return check_file(f);
}

static int check_header_len(const char *name, uint64_t hl, uint64_t size) {
    if (hl > size - 8) {
        err_set("%s: bad safetensors file: header length %llu runs past the end of the file (%llu bytes)", name,
                (unsigned long long)hl, (unsigned long long)size);
        return -1;
    }
    if (hl > ST_MAX_HEADER) {
        err_set("%s: safetensors header length %llu exceeds the limit of %u bytes", name, (unsigned long long)hl,
                ST_MAX_HEADER);
        return -1;
    }
    return 0;
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

static int set_name(StFile *f, const char *name) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->name = strdup(name);
    if (!f->name) {
        err_set("%s: out of memory", name);
        return -1;
    }
    return 0;
}

int st_parse(const void *bytes, size_t len, const char *name, StFile *f) {
    if (set_name(f, name) < 0) return -1;
    const unsigned char *b = bytes;
    if (len < 8) {
        err_set("%s: not a safetensors file: %zu bytes (the 8-byte header length is missing)", name, len);
        goto fail;
    }
    uint64_t hl = le64(b);
    if (check_header_len(name, hl, len) < 0) goto fail;
    f->header_len = hl;
    f->data_len = (uint64_t)len - 8 - hl;
    if (parse_header(f, b + 8, (size_t)hl) < 0) goto fail;
    f->bytes = b;
    return 0;
fail:
    st_close(f);
    return -1;
}

int st_open(const char *path, StFile *f) {
    if (set_name(f, path) < 0) return -1;
    unsigned char *h = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_set("%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set("%s: not a regular file", path);
        goto fail;
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char pre[8];
    ssize_t r = size >= 8 ? pread_full(fd, pre, 8, 0) : 0;
    if (r < 0) {
        err_set("%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (r < 8) {
        err_set("%s: not a safetensors file: %llu bytes (the 8-byte header length is missing)", path,
                (unsigned long long)size);
        goto fail;
    }
    uint64_t hl = le64(pre);
    if (check_header_len(path, hl, size) < 0) goto fail;
    f->header_len = hl;
    f->data_len = size - 8 - hl;
    h = malloc(hl ? (size_t)hl : 1);
    if (!h) {
        err_set("%s: out of memory for a %llu-byte header", path, (unsigned long long)hl);
        goto fail;
    }
    r = pread_full(fd, h, (size_t)hl, 8);
    if (r < 0 || (uint64_t)r != hl) {
        err_set("%s: %s reading the header", path, r < 0 ? strerror(errno) : "unexpected end of file");
        goto fail;
    }
    if (parse_header(f, h, (size_t)hl) < 0) goto fail;
    free(h);
    f->fd = fd;
    return 0;
fail:
    free(h);
    if (fd >= 0) close(fd);
    st_close(f);
    return -1;
}

void st_close(StFile *f) {
    for (int i = 0; i < f->n; i++) free(f->e[i].name);
    for (int i = 0; i < f->nmeta; i++) {
        free((char *)f->meta[i].key);
        free((char *)f->meta[i].value);
    }
    if (f->fd >= 0) close(f->fd);
    free(f->e);
    free(f->meta);
    free(f->by_name);
    free(f->name);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

int st_find(const StFile *f, const char *name) {
    return wt_name_find(f->e, sizeof(StEntry), offsetof(StEntry, name), f->by_name, f->n, name);
}

const char *st_meta_get(const StFile *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

/* ---- reading tensors --------------------------------------------------------------------------- */

/* torch.float8_e4m3fn: bias 7, no infinities, S.1111.111 is NaN. */
static float e4m3_to_float(uint8_t b) {
    int sign = b >> 7, exp = (b >> 3) & 0xf, mant = b & 7;
    float v;
    if (exp == 15 && mant == 7) return sign ? -NAN : NAN;
    if (exp == 0) v = ldexpf((float)mant, -9); /* mant/8 * 2^-6 */
    else v = ldexpf((float)(8 + mant), exp - 10);
    return sign ? -v : v;
}

static uint64_t le_n(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = v << 8 | p[k];
    return v;
}

static float dec_float(StDType dt, const unsigned char *p) {
    switch (dt) {
    case ST_F32: { uint32_t u = (uint32_t)le_n(p, 4); float v; memcpy(&v, &u, 4); return v; }
    case ST_F64: { uint64_t u = le_n(p, 8); double v; memcpy(&v, &u, 8); return (float)v; }
    case ST_F16: return half_to_float((uint16_t)le_n(p, 2));
    case ST_BF16: { uint32_t u = (uint32_t)le_n(p, 2) << 16; float v; memcpy(&v, &u, 4); return v; }
    case ST_F8_E5M2: return half_to_float((uint16_t)(p[0] << 8));
    case ST_F8_E4M3: return e4m3_to_float(p[0]);
    default: return 0;
    }
}

/* An integer element; -1 when it has no int64 value (U64 >= 2^63, BOOL byte other than 0/1). */
static int dec_int(StDType dt, const unsigned char *p, int64_t *v) {
    uint64_t u = le_n(p, DTYPES[dt].size);
    switch (dt) {
    case ST_BOOL: *v = (int64_t)u; return u > 1 ? -1 : 0;
    case ST_U8: case ST_U16: case ST_U32: *v = (int64_t)u; return 0;
    case ST_U64: *v = (int64_t)u; return u > (uint64_t)INT64_MAX ? -1 : 0;
    case ST_I8: *v = (int8_t)(uint8_t)u; return 0;
    case ST_I16: *v = (int16_t)(uint16_t)u; return 0;
    case ST_I32: *v = (int32_t)(uint32_t)u; return 0;
    case ST_I64: memcpy(v, &u, 8); return 0;
    default: *v = 0; return -1;
    }
}

/* Copy `n` bytes of entry e's data starting `off` bytes into it. */
static int read_raw(const StFile *f, const StEntry *e, uint64_t off, void *buf, size_t n) {
    uint64_t pos = 8 + f->header_len + e->begin + off;
    if (f->bytes) {
        memcpy(buf, f->bytes + pos, n);
        return 0;
    }
    ssize_t r = pread_full(f->fd, buf, n, pos);
    if (r < 0 || (size_t)r != n) {
        char nb[200];
        err_set("%s: tensor '%s': %s", f->name, SHOWN(e->name, nb),
                r < 0 ? strerror(errno) : "unexpected end of file (the file shrank after it was opened?)");
        return -1;
    }
    return 0;
}

int st_check_read(const char *file, const char *tensor, StDType dt, int64_t numel, int64_t n, int to_f32, int flags) {
    char nb[200];
    int is_float = st_dtype_is_float(dt);
    if (n != numel) {
        err_set("%s: tensor '%s' has %lld elements, the destination holds %lld", file, SHOWN(tensor, nb),
                (long long)numel, (long long)n);
        return -1;
    }
    if ((to_f32 && !is_float && !(flags & ST_INT_OK)) || (!to_f32 && is_float)) {
        err_set("%s: tensor '%s' has dtype %s, expected %s tensor", file, SHOWN(tensor, nb), st_dtype_name(dt),
                to_f32 ? "a float" : "an integer");
        return -1;
    }
    return 0;
}

int st_decode(const char *file, const char *tensor, StDType dt, const unsigned char *p, size_t m, void *out, int64_t k0,
              int to_f32) {
    size_t es = DTYPES[dt].size;
    int is_float = st_dtype_is_float(dt);
    for (size_t k = 0; k < m; k++, p += es) {
        if (is_float) {
            ((float *)out)[k0 + (int64_t)k] = dec_float(dt, p);
            continue;
        }
        int64_t v;
        if (dec_int(dt, p, &v) < 0) {
            char nb[200];
            err_set("%s: tensor '%s': element %lld (%s %llu) %s", file, SHOWN(tensor, nb), (long long)(k0 + (int64_t)k),
                    DTYPES[dt].name, (unsigned long long)le_n(p, es),
                    dt == ST_BOOL ? "is not 0 or 1" : "does not fit in int64");
            return -1;
        }
        if (to_f32) ((float *)out)[k0 + (int64_t)k] = (float)v;
        else ((int64_t *)out)[k0 + (int64_t)k] = v;
    }
    return 0;
}

/* The StFile as a named tensor source (lib/formats/weights.c reads and matches it). */
static void src_entry(const void *ctx, int i, WtEntry *w) {
    const StEntry *e = &((const StFile *)ctx)->e[i];
    *w = (WtEntry){e->name, e->dtype, e->ndim, e->shape, e->numel, 0};
}
static int src_find(const void *ctx, const char *name) { return st_find(ctx, name); }
static int src_read(const void *ctx, int i, int64_t k0, int64_t m, void *buf) {
    const StFile *f = ctx;
    const StEntry *e = &f->e[i];
    size_t es = DTYPES[e->dtype].size;
    return read_raw(f, e, (uint64_t)k0 * es, buf, (size_t)m * es);
}

WtSource st_source(const StFile *f) { return (WtSource){f->name, f->n, f, src_entry, src_find, src_read}; }

int st_read_f32(const StFile *f, int i, float *out, int64_t n, int flags) {
    WtSource s = st_source(f);
    return wt_read(&s, i, out, n, 1, flags);
}

int st_read_i64(const StFile *f, int i, int64_t *out, int64_t n) {
    WtSource s = st_source(f);
    return wt_read(&s, i, out, n, 0, 0);
}

int st_read_tensor(const StFile *f, int i, int want, Tensor *t) {
    WtSource s = st_source(f);
    return wt_read_tensor(&s, i, want, t);
}

/* ---- parameter tables -------------------------------------------------------------------------- */

int st_load_params(const StFile *f, ParamTable *t, const StLoadOpts *o, StrList *problems) {
    WtSource s = st_source(f);
    return wt_load_params(&s, t, o, problems);
}

int st_load(const char *path, ParamTable *t, const StLoadOpts *o, StrList *problems) {
    StFile f;
    if (st_open(path, &f) < 0) return -1;
    int rc = st_load_params(&f, t, o, problems);
    st_close(&f);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------------------- */

/* A JSON string as serde_json writes it: \" \\ \b \f \n \r \t, other control characters as \u00xx,
 * everything else (UTF-8 included) as is. */
static void json_string(Buf *b, const char *s) {
    buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\b': buf_puts(b, "\\b"); break;
        case '\f': buf_puts(b, "\\f"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20) buf_printf(b, "\\u%04x", *p);
            else buf_put(b, p, 1);
        }
    }
    buf_put(b, "\"", 1);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Names (or keys) unique; `what` is "tensor name" or "__metadata__ key". */
static int check_unique(const char **v, int n, const char *what) {
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    for (int i = 1; i < n; i++)
        if (strcmp(v[i], v[i - 1]) == 0) {
            char nb[200];
            err_set("duplicate %s '%s'", what, SHOWN(v[i], nb));
            return -1;
        }
    return 0;
}

static int valid_text(const char *s, const char *what) {
    if (!s) {
        err_set("%s is NULL", what);
        return -1;
    }
    size_t n = strlen(s);
    if (utf8_invalid_at((const unsigned char *)s, n) != n) {
        char nb[200];
        err_set("%s '%s' is not valid UTF-8", what, SHOWN(s, nb));
        return -1;
    }
    return 0;
}

static int write_le(FILE *out, const void *data, size_t es, int64_t n) {
    size_t bytes = (size_t)n * es;
    if (!bytes) return 0;
    if (HOST_LE) return fwrite(data, 1, bytes, out) == bytes ? 0 : -1;
    unsigned char buf[16384];
    const unsigned char *p = data;
    size_t per = sizeof buf / es;
    for (int64_t k0 = 0; k0 < n; k0 += (int64_t)per) {
        size_t m = (size_t)(n - k0) < per ? (size_t)(n - k0) : per;
        for (size_t k = 0; k < m; k++)
            for (size_t c = 0; c < es; c++) buf[k * es + c] = p[((size_t)k0 + k) * es + es - 1 - c];
        if (fwrite(buf, es, m, out) != m) return -1;
    }
    return 0;
}

int st_write(FILE *out, const StItem *items, int n, const StMeta *meta, int nmeta) {
    if (n < 0 || nmeta < 0) {
        err_set("negative tensor or metadata count");
        return -1;
    }
    int rc = -1;
    Buf h = {0};
    int m = n > nmeta ? n : nmeta;
    const char **names = malloc(sizeof *names * (m ? (size_t)m : 1));
    uint64_t *nbytes = malloc(sizeof *nbytes * (n ? (size_t)n : 1));
    if (!names || !nbytes) {
        err_set("out of memory");
        goto out;
    }
    for (int i = 0; i < nmeta; i++) {
        if (valid_text(meta[i].key, "__metadata__ key") < 0 || valid_text(meta[i].value, "__metadata__ value") < 0)
            goto out;
        names[i] = meta[i].key;
    }
    if (check_unique(names, nmeta, "__metadata__ key") < 0) goto out;
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const StItem *it = &items[i];
        char nb[200];
        if (valid_text(it->name, "tensor name") < 0) goto out;
        if (strcmp(it->name, "__metadata__") == 0) {
            err_set("a tensor cannot be named __metadata__");
            goto out;
        }
        int64_t numel;
        if ((unsigned)it->dtype >= ST_NDTYPES || it->ndim < 0 || it->ndim > ST_MAX_DIMS ||
            shape_numel_checked(it->ndim, it->shape, INT64_MAX / 8, &numel) < 0) {
            err_set("tensor '%s': bad dtype or shape", SHOWN(it->name, nb));
            goto out;
        }
        nbytes[i] = (uint64_t)numel * DTYPES[it->dtype].size;
        if (nbytes[i] && !it->data) {
            err_set("tensor '%s': no data", SHOWN(it->name, nb));
            goto out;
        }
        if (off + nbytes[i] < off || off + nbytes[i] > (uint64_t)INT64_MAX) {
            err_set("tensor '%s': the data section is too large", SHOWN(it->name, nb));
            goto out;
        }
        off += nbytes[i];
        names[i] = it->name;
    }
    if (check_unique(names, n, "tensor name") < 0) goto out;
    buf_puts(&h, "{");
    if (nmeta) {
        buf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) buf_puts(&h, ",");
            json_string(&h, meta[i].key);
            buf_puts(&h, ":");
            json_string(&h, meta[i].value);
        }
        buf_puts(&h, "}");
    }
    off = 0;
    for (int i = 0; i < n; i++) {
        const StItem *it = &items[i];
        if (i || nmeta) buf_puts(&h, ",");
        json_string(&h, it->name);
        buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", DTYPES[it->dtype].name);
        for (int d = 0; d < it->ndim; d++) buf_printf(&h, d ? ",%lld" : "%lld", (long long)it->shape[d]);
        buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nbytes[i]));
        off += nbytes[i];
    }
    buf_puts(&h, "}");
    while (h.n % 8) buf_puts(&h, " ");
    if (h.bad) {
        err_set("out of memory for the header");
        goto out;
    }
    if (h.n > ST_MAX_HEADER) {
        err_set("the header would be %zu bytes, more than the limit of %u", h.n, ST_MAX_HEADER);
        goto out;
    }
    unsigned char pre[8];
    for (int k = 0; k < 8; k++) pre[k] = (unsigned char)((uint64_t)h.n >> (8 * k));
    if (fwrite(pre, 1, 8, out) != 8 || fwrite(h.s, 1, h.n, out) != h.n) goto werr;
    for (int i = 0; i < n; i++)
        if (write_le(out, items[i].data, DTYPES[items[i].dtype].size, (int64_t)(nbytes[i] / DTYPES[items[i].dtype].size)) < 0)
            goto werr;
    rc = 0;
    goto out;
werr:
    err_set("write error: %s", strerror(errno));
out:
    free(h.s);
    free(names);
    free(nbytes);
    return rc;
}

int st_save(const char *path, const StItem *items, int n, const StMeta *meta, int nmeta) {
    OutFile o;
    if (outfile_open(&o, path) < 0) return -1;
    if (st_write(o.f, items, n, meta, nmeta) < 0) {
        err_prefix(strcmp(path, "-") == 0 ? "<stdout>" : path);
        outfile_abort(&o);
        return -1;
    }
    return outfile_commit(&o);
}

int st_save_params(const char *path, const ParamTable *t, const StMeta *meta, int nmeta, const StItem *extra,
                   int nextra) {
    if (!t->data && t->n) {
        err_set("%s: the parameter table is not allocated", path);
        return -1;
    }
    if (nextra < 0 || (nextra && !extra)) {
        err_set("%s: bad extra tensor list", path);
        return -1;
    }
    size_t ncount = 0;
    for (int i = 0; i < t->n; i++)
        if (t->e[i].kind == PARAM_COUNT) ncount += t->e[i].numel;
    StItem *items = malloc(sizeof *items * ((size_t)t->n + (size_t)nextra + 1));
    int64_t *counts = malloc(sizeof *counts * (ncount ? ncount : 1));
    int rc = -1;
    if (!items || !counts) {
        err_set("%s: out of memory", path);
        goto out;
    }
    size_t c = 0;
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *p = &t->e[i];
        StItem *it = &items[i];
        memset(it, 0, sizeof *it);
        it->name = p->name;
        it->ndim = p->ndim;
        memcpy(it->shape, p->shape, sizeof(int64_t) * (size_t)p->ndim);
        if (p->kind != PARAM_COUNT) {
            it->dtype = ST_F32;
            it->data = params_data(t, i);
            continue;
        }
        it->dtype = ST_I64;
        it->data = counts + c;
        for (size_t k = 0; k < p->numel; k++) {
            float v = params_data(t, i)[k];
            if (!(v > -9.2e18f && v < 9.2e18f)) {
                err_set("%s: count '%s' holds %g, not an integer", path, p->name, (double)v);
                goto out;
            }
            counts[c++] = (int64_t)llrintf(v);
        }
    }
    if (nextra) memcpy(items + t->n, extra, sizeof *items * (size_t)nextra);
    rc = st_save(path, items, t->n + nextra, meta, nmeta);
out:
    free(items);
    free(counts);
    return rc;
}
