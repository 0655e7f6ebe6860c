#define _POSIX_C_SOURCE 200809L
#include "formats/npy.h"

#include "core/error.h"
#include "formats/outfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

static const unsigned char NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ---- header dict parser: the subset of Python literals numpy writes -------------------------- */

typedef struct {
    const char *s;
    size_t n, i;
} Cursor;

static void skip_ws(Cursor *c) {
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static int peek(Cursor *c) { return c->i < c->n ? (unsigned char)c->s[c->i] : -1; }

static int expect(Cursor *c, char ch) {
    skip_ws(c);
    if (peek(c) != ch) {
        err_set("bad .npy header: expected '%c' at offset %zu", ch, c->i);
        return -1;
    }
    c->i++;
    return 0;
}

/* A quoted string of printable ASCII without escapes, copied into out (cap bytes). */
static int parse_string(Cursor *c, char *out, size_t cap) {
    skip_ws(c);
    int q = peek(c);
    if (q != '\'' && q != '"') {
        err_set("bad .npy header: expected a quoted string at offset %zu", c->i);
        return -1;
    }
    c->i++;
    size_t k = 0;
    while (c->i < c->n && c->s[c->i] != q) {
        unsigned char ch = (unsigned char)c->s[c->i];
        if (ch < 0x20 || ch > 0x7e || ch == '\\') {
            err_set("bad .npy header: unexpected character in string at offset %zu", c->i);
            return -1;
        }
        if (k + 1 >= cap) {
            err_set("bad .npy header: string too long at offset %zu", c->i);
            return -1;
        }
        out[k++] = (char)ch;
        c->i++;
    }
    if (c->i >= c->n) {
        err_set("bad .npy header: unterminated string");
        return -1;
    }
    c->i++;
    out[k] = 0;
    return 0;
}

static int parse_bool(Cursor *c, int *v) {
    skip_ws(c);
    if (c->n - c->i >= 4 && memcmp(c->s + c->i, "True", 4) == 0) { *v = 1; c->i += 4; return 0; }
    if (c->n - c->i >= 5 && memcmp(c->s + c->i, "False", 5) == 0) { *v = 0; c->i += 5; return 0; }
    err_set("bad .npy header: fortran_order is not True or False");
    return -1;
}

/* Non-negative integer below 2^62 (an optional Python 2 'L' suffix is accepted). */
static int parse_dim(Cursor *c, int64_t *v) {
    skip_ws(c);
    if (peek(c) < '0' || peek(c) > '9') {
        err_set("bad .npy header: expected a non-negative integer in shape at offset %zu", c->i);
        return -1;
    }
    int64_t x = 0;
    while (peek(c) >= '0' && peek(c) <= '9') {
        if (x > ((int64_t)1 << 62) / 10) {
            err_set("bad .npy header: dimension too large");
            return -1;
        }
        x = x * 10 + (c->s[c->i] - '0');
        c->i++;
    }
    if (peek(c) == 'L') c->i++;
    *v = x;
    return 0;
}

static int parse_shape(Cursor *c, NpyHeader *h) {
    if (expect(c, '(') < 0) return -1;
    h->ndim = 0;
    int trailing_comma = 0;
    for (;;) {
        skip_ws(c);
        if (peek(c) == ')') { c->i++; break; }
        if (h->ndim == TENSOR_MAX_DIMS) {
            err_set("bad .npy header: more than %d dimensions", TENSOR_MAX_DIMS);
            return -1;
        }
        if (parse_dim(c, &h->shape[h->ndim]) < 0) return -1;
        h->ndim++;
        skip_ws(c);
        trailing_comma = 0;
        if (peek(c) == ',') { c->i++; trailing_comma = 1; continue; }
        if (peek(c) == ')') { c->i++; break; }
        err_set("bad .npy header: expected ',' or ')' in shape at offset %zu", c->i);
        return -1;
    }
    if (h->ndim == 1 && !trailing_comma) { /* "(5)" is the integer 5 in Python, not a tuple */
        err_set("bad .npy header: shape is not a tuple");
        return -1;
    }
    return 0;
}

static int parse_descr(const char *d, NpyHeader *h) {
    size_t n = strlen(d);
    if (n < 3) goto bad;
    char order = d[0], kind = d[1];
    char *end;
    long size = strtol(d + 2, &end, 10);
    if (*end || end == d + 2) goto bad;
    if (kind != 'f' && kind != 'i' && kind != 'u') goto bad;
    if (kind == 'f' && size != 2 && size != 4 && size != 8) goto bad;
    if (kind == 'i' && size != 1 && size != 2 && size != 4 && size != 8) goto bad;
    if (kind == 'u' && size != 1 && size != 2 && size != 4) goto bad;
    if (order == '|') {
        if (size != 1) goto bad;
    } else if (order != '<' && order != '>' && order != '=') {
        goto bad;
    }
    h->kind = kind;
    h->itemsize = (int)size;
    h->swap = order == '>' && size > 1;
    return 0;
bad:
    err_set("unsupported dtype '%s' (expected float16/32/64, int8/16/32/64 or uint8/16/32)", d);
    return -1;
}

int npy_parse_header(const char *text, size_t len, NpyHeader *h) {
    memset(h, 0, sizeof *h);
    Cursor c = {text, len, 0};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    char descr[32];
    if (expect(&c, '{') < 0) return -1;
    for (;;) {
        skip_ws(&c);
        if (peek(&c) == '}') { c.i++; break; }
        char key[32];
        if (parse_string(&c, key, sizeof key) < 0) return -1;
        if (expect(&c, ':') < 0) return -1;
        if (strcmp(key, "descr") == 0) {
            if (have_descr++) goto dup;
            if (parse_string(&c, descr, sizeof descr) < 0) return -1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fortran++) goto dup;
            if (parse_bool(&c, &h->fortran) < 0) return -1;
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) goto dup;
            if (parse_shape(&c, h) < 0) return -1;
        } else {
            err_set("bad .npy header: unexpected key '%s'", key);
            return -1;
        }
        skip_ws(&c);
        if (peek(&c) == ',') { c.i++; continue; }
        if (peek(&c) == '}') { c.i++; break; }
        err_set("bad .npy header: expected ',' or '}' at offset %zu", c.i);
        return -1;
    }
    skip_ws(&c);
    /* numpy pads with spaces and ends with '\n'; a NUL-padded header from old writers is tolerated */
    while (c.i < c.n && c.s[c.i] == 0) c.i++;
    if (c.i != c.n) {
        err_set("bad .npy header: unexpected text after the dict at offset %zu", c.i);
        return -1;
    }
    if (!have_descr || !have_fortran || !have_shape) {
        err_set("bad .npy header: missing key '%s'", !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
        return -1;
    }
    if (h->fortran) {
        err_set("Fortran-order arrays are not supported (save with C order)");
        return -1;
    }
    if (parse_descr(descr, h) < 0) return -1;
    int64_t numel;
    if (shape_numel_checked(h->ndim, h->shape, ((int64_t)1 << 62) / 8, &numel) < 0) {
        err_set("bad .npy header: shape too large");
        return -1;
    }
    return 0;
dup:
    err_set("bad .npy header: duplicate key");
    return -1;
}

/* ---- reading --------------------------------------------------------------------------------- */

static void swap_bytes(unsigned char *p, int size) {
    for (int i = 0; i < size / 2; i++) {
        unsigned char t = p[i];
        p[i] = p[size - 1 - i];
        p[size - 1 - i] = t;
    }
}

/* Element k of raw data as int64 / double (after byte-order fix-up). */
static int64_t raw_as_int(const unsigned char *raw, const NpyHeader *h, int64_t k) {
    unsigned char b[8];
    memcpy(b, raw + k * h->itemsize, (size_t)h->itemsize);
    if (h->swap) swap_bytes(b, h->itemsize);
    if (h->kind == 'u') {
        if (h->itemsize == 1) return b[0];
        if (h->itemsize == 2) { uint16_t v; memcpy(&v, b, 2); return v; }
        uint32_t v; memcpy(&v, b, 4); return v;
    }
    if (h->itemsize == 1) return (int8_t)b[0];
    if (h->itemsize == 2) { int16_t v; memcpy(&v, b, 2); return v; }
    if (h->itemsize == 4) { int32_t v; memcpy(&v, b, 4); return v; }
    int64_t v; memcpy(&v, b, 8); return v;
}

static double raw_as_double(const unsigned char *raw, const NpyHeader *h, int64_t k) {
    if (h->kind != 'f') return (double)raw_as_int(raw, h, k);
    unsigned char b[8];
    memcpy(b, raw + k * h->itemsize, (size_t)h->itemsize);
    if (h->swap) swap_bytes(b, h->itemsize);
    if (h->itemsize == 2) { uint16_t v; memcpy(&v, b, 2); return half_to_float(v); }
    if (h->itemsize == 4) { float v; memcpy(&v, b, 4); return v; }
    double v; memcpy(&v, b, 8); return v;
}

/* Bytes left in a regular file from the current position, or -1 when unknown (pipe). */
static long long bytes_left(FILE *f) {
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    long pos = ftell(f);
    if (pos < 0) return -1;
    return (long long)st.st_size - pos;
}

/* Read exactly n bytes, growing the buffer as data arrives so a lying header on a pipe cannot make us
 * allocate more than what was actually sent (plus one doubling). */
static unsigned char *read_payload(FILE *f, size_t n, size_t *got) {
    size_t cap = n < (1u << 20) ? n : (1u << 20);
    unsigned char *buf = malloc(cap ? cap : 1);
    *got = 0;
    if (!buf) return NULL;
    while (*got < n) {
        if (*got == cap) {
            size_t ncap = cap * 2 < n ? cap * 2 : n;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) { free(buf); return NULL; }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + *got, 1, cap - *got, f);
        *got += r;
        if (r == 0) break;
    }
    return buf;
}

int npy_read(FILE *f, const char *name, int want, Tensor *t) {
    memset(t, 0, sizeof *t);
    unsigned char pre[12];
    size_t r = fread(pre, 1, 8, f);
    if (r == 0 && !ferror(f)) return 0;
    if (r < 8) {
        if (ferror(f)) err_set("%s: read error: %s", name, strerror(errno));
        else err_set("%s: truncated .npy file (%zu bytes)", name, r);
        return -1;
    }
    if (memcmp(pre, NPY_MAGIC, 6) != 0) {
        err_set("%s: not a .npy file (bad magic)", name);
        return -1;
    }
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        err_set("%s: unsupported .npy format version %d.%d", name, major, minor);
        return -1;
    }
    size_t lenbytes = major == 1 ? 2 : 4;
    if (fread(pre + 8, 1, lenbytes, f) != lenbytes) {
        err_set("%s: truncated .npy header", name);
        return -1;
    }
    uint32_t hlen = pre[8] | (uint32_t)pre[9] << 8;
    if (lenbytes == 4) hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER) {
        err_set("%s: .npy header length %u exceeds the limit of %d bytes", name, hlen, NPY_MAX_HEADER);
        return -1;
    }
    char text[NPY_MAX_HEADER + 1];
    if (fread(text, 1, hlen, f) != hlen) {
        err_set("%s: truncated .npy header", name);
        return -1;
    }
    text[hlen] = 0;
    NpyHeader h;
    if (npy_parse_header(text, hlen, &h) < 0) {
        err_prefix(name);
        return -1;
    }
    DType out = h.kind == 'f' ? DT_F32 : DT_I64;
    if (want == DT_F32) out = DT_F32;
    if (want == DT_I64 && h.kind == 'f') {
        err_set("%s: array has dtype float%d, expected an integer array", name, h.itemsize * 8);
        return -1;
    }
    int64_t numel;
    shape_numel_checked(h.ndim, h.shape, ((int64_t)1 << 62) / 8, &numel); /* checked by the parser */
    size_t nbytes = (size_t)numel * (size_t)h.itemsize;
    long long left = bytes_left(f);
    if (left >= 0 && (unsigned long long)left < nbytes) {
        err_set("%s: truncated .npy data: header promises %zu bytes, file has %lld", name, nbytes, left);
        return -1;
    }
    size_t got;
    unsigned char *raw = read_payload(f, nbytes, &got);
    if (!raw) {
        err_set("%s: out of memory reading %zu bytes", name, nbytes);
        return -1;
    }
    if (got != nbytes) {
        err_set("%s: truncated .npy data: header promises %zu bytes, got %zu", name, nbytes, got);
        free(raw);
        return -1;
    }
    if (tensor_alloc(t, out, h.ndim, h.shape) < 0) {
        err_prefix(name);
        free(raw);
        return -1;
    }
    int native = !h.swap && ((out == DT_F32 && h.kind == 'f' && h.itemsize == 4) ||
                             (out == DT_I64 && h.kind == 'i' && h.itemsize == 8));
    if (native) {
        memcpy(t->data, raw, nbytes);
    } else if (out == DT_F32) {
        float *d = tensor_f32(t);
        for (int64_t k = 0; k < numel; k++) d[k] = (float)raw_as_double(raw, &h, k);
    } else {
        int64_t *d = tensor_i64(t);
        for (int64_t k = 0; k < numel; k++) d[k] = raw_as_int(raw, &h, k);
    }
    free(raw);
    return 1;
}

int npy_load(const char *path, int want, Tensor *t) {
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = npy_read(f, name, want, t);
    if (rc == 0) {
        err_set("%s: empty file (no .npy array)", name);
        rc = -1;
    } else if (rc == 1) {
        int c = fgetc(f);
        if (c != EOF) {
            err_set("%s: trailing data after the array (a stream of several arrays?)", name);
            tensor_free(t);
            rc = -1;
        } else {
            rc = 0;
        }
    }
    if (!is_stdin) fclose(f);
    return rc;
}

int npy_map(const char *path, NpyMap *m) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 10) {
        err_set("%s: not a .npy file (%s)", path, S_ISREG(st.st_mode) ? "too short" : "not a regular file");
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    void *base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        err_set("%s: cannot map: %s", path, strerror(errno));
        return -1;
    }
    const unsigned char *b = base;
    int major = b[6];
    size_t lenbytes = major == 1 ? 2 : 4, hstart = 8 + lenbytes;
    if (memcmp(b, NPY_MAGIC, 6) != 0 || major < 1 || major > 3 || b[7] != 0 || size < hstart) {
        err_set("%s: not a .npy file (bad magic or version)", path);
        goto fail;
    }
    uint32_t hlen = b[8] | (uint32_t)b[9] << 8;
    if (lenbytes == 4) hlen |= (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
    if (hlen > NPY_MAX_HEADER || hstart + hlen > size) {
        err_set("%s: bad .npy header length %u", path, hlen);
        goto fail;
    }
    NpyHeader h;
    if (npy_parse_header((const char *)b + hstart, hlen, &h) < 0) {
        err_prefix(path);
        goto fail;
    }
    int f32 = h.kind == 'f' && h.itemsize == 4, i64 = h.kind == 'i' && h.itemsize == 8;
    if (h.swap || !(f32 || i64)) {
        err_set("%s: only little-endian float32 or int64 arrays can be memory-mapped", path);
        goto fail;
    }
    int64_t numel;
    shape_numel_checked(h.ndim, h.shape, ((int64_t)1 << 62) / 8, &numel);
    size_t need = hstart + hlen + (size_t)numel * (size_t)h.itemsize;
    if (need != size) {
        err_set("%s: %s .npy data: the header promises %zu bytes in all, the file has %zu", path,
                need > size ? "truncated" : "trailing data after the", need, size);
        goto fail;
    }
    m->dtype = f32 ? DT_F32 : DT_I64;
    m->ndim = h.ndim;
    memcpy(m->shape, h.shape, sizeof h.shape);
    m->data = b + hstart + hlen;
    m->base = base;
    m->size = size;
    return 0;
fail:
    munmap(base, size);
    return -1;
}

void npy_unmap(NpyMap *m) {
    if (m->base) munmap(m->base, m->size);
    memset(m, 0, sizeof *m);
}

/* ---- writing --------------------------------------------------------------------------------- */

int npy_write_header(FILE *f, DType dt, int ndim, const int64_t *shape) {
    char dict[512];
    size_t n = 0;
    n += (size_t)snprintf(dict + n, sizeof dict - n, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                          dt == DT_I64 ? "<i8" : "<f4");
    for (int i = 0; i < ndim; i++)
        n += (size_t)snprintf(dict + n, sizeof dict - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
    /* numpy >= 1.23 leaves room for the first axis to grow to 21 digits */
    if (ndim > 0) {
        char first[32];
        int w = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
        for (int k = w; k < 21; k++) dict[n++] = ' ';
    }
    size_t hlen = n + 1; /* plus the final newline */
    size_t pad = 64 - ((10 + hlen) % 64), total = hlen + pad;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(total & 0xff),
                             (unsigned char)(total >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(dict, 1, n, f) != n) goto fail;
    for (size_t k = 0; k < pad; k++)
        if (fputc(' ', f) == EOF) goto fail;
    if (fputc('\n', f) == EOF) goto fail;
    return 0;
fail:
    err_set("write error: %s", strerror(errno));
    return -1;
}

int npy_write(FILE *f, const Tensor *t) {
    if (npy_write_header(f, t->dtype, t->ndim, t->shape) < 0) return -1;
    size_t bytes = (size_t)tensor_numel(t) * dtype_size(t->dtype);
    if (bytes && fwrite(t->data, 1, bytes, f) != bytes) {
        err_set("write error: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int npy_save(const char *path, const Tensor *t) {
    OutFile o;
    if (outfile_open(&o, path) < 0) return -1;
    if (npy_write(o.f, t) < 0) {
        err_prefix(strcmp(path, "-") == 0 ? "<stdout>" : path);
        outfile_abort(&o);
        return -1;
    }
    return outfile_commit(&o);
}
