#define _POSIX_C_SOURCE 200809L
#include "formats/zip.h"

#include "core/error.h"
#include "formats/weights.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    EOCD_LEN = 22,      /* end of central directory record, without its comment */
    LOC64_LEN = 20,     /* ZIP64 end of central directory locator */
    EOCD64_LEN = 56,    /* ZIP64 end of central directory record (no extensible data) */
    CEN_LEN = 46,       /* central directory entry, fixed part */
    LOC_LEN = 30,       /* local header, fixed part */
};

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Read exactly n bytes at off from the archive (the caller checked off + n <= size). */
static int raw_read(const ZipFile *z, uint64_t off, void *buf, size_t n) {
    if (z->bytes) {
        memcpy(buf, z->bytes + off, n);
        return 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(z->fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            err_set("%s: %s", z->name, r < 0 ? strerror(errno) : "unexpected end of file (did it shrink?)");
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* A name as it may appear in a message: control bytes as '?', cut at 120 bytes. */
static const char *shown(const unsigned char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (; k < n && k + 4 < cap && k < 120; k++) buf[k] = s[k] < 0x20 || s[k] == 0x7f ? '?' : (char)s[k];
    if (k < n) memcpy(buf + k, "...", 4);
    else buf[k] = 0;
    return buf;
}

/* Why the name is unsafe or unusable, or NULL. */
static const char *bad_name(const unsigned char *s, size_t n) {
    if (n == 0) return "an empty name";
    if (n > ZIP_MAX_NAME) return "a name longer than 4096 bytes";
    if (s[0] == '/') return "an absolute name";
    size_t start = 0;
    for (size_t k = 0; k <= n; k++) {
        if (k < n && (s[k] < 0x20 || s[k] == 0x7f)) return "a control byte in the name";
        if (k < n && s[k] == '\\') return "a backslash in the name";
        if (k == n || s[k] == '/') {
            size_t len = k - start;
            if (len == 0 && k < n) return "an empty path component";
            if ((len == 1 && s[start] == '.') || (len == 2 && s[start] == '.' && s[start + 1] == '.'))
                return "a '.' or '..' path component (path traversal)";
            start = k + 1;
        }
    }
    return NULL;
}

typedef struct {
    uint64_t b, e;
    int idx;
} Span;

static int cmp_span(const void *a, const void *b) {
    const Span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b;
}

/* A ZIP64 extended information field in an extra block: replaces the 32-bit fields that hold the
 * escape value, in the order usize, csize, offset, disk. */
static int zip64_extra(const ZipFile *z, const char *nm, const unsigned char *x, size_t xn, uint64_t *usize,
                       uint64_t *csize, uint64_t *off, int need_u, int need_c, int need_o, int need_d) {
    int seen = 0;
    size_t k = 0;
    while (k + 4 <= xn) {
        uint32_t id = le16(x + k), len = le16(x + k + 2);
        if (len > xn - k - 4) {
            err_set("%s: bad zip archive: entry '%s': extra field 0x%04x of %u bytes runs past its block", z->name, nm,
                    id, len);
            return -1;
        }
        if (id == 1) {
            if (seen++) {
                err_set("%s: bad zip archive: entry '%s': two ZIP64 extra fields", z->name, nm);
                return -1;
            }
            const unsigned char *p = x + k + 4;
            size_t want = 8 * (size_t)(need_u + need_c + need_o) + 4 * (size_t)need_d;
            if (len < want) {
                err_set("%s: bad zip archive: entry '%s': ZIP64 extra field of %u bytes, %zu needed", z->name, nm,
                        len, want);
                return -1;
            }
            if (need_u) { *usize = le64(p); p += 8; }
            if (need_c) { *csize = le64(p); p += 8; }
            if (need_o) { *off = le64(p); p += 8; }
            if (need_d && le32(p) != 0) {
                err_set("%s: bad zip archive: entry '%s' is on another disk (multi-disk archives are not supported)",
                        z->name, nm);
                return -1;
            }
        }
        k += 4 + (size_t)len;
    }
    if ((need_u || need_c || need_o || need_d) && !seen) {
        err_set("%s: bad zip archive: entry '%s': a size or offset of 0xFFFFFFFF without a ZIP64 extra field",
                z->name, nm);
        return -1;
    }
    return 0;
}

/* Everything after the archive's size, name and source are set. */
static int parse(ZipFile *z) {
    const uint64_t size = z->size;
    unsigned char *tail = NULL, *cd = NULL;
    Span *sp = NULL;
    int rc = -1;
    if (size < EOCD_LEN) {
        err_set("%s: not a zip archive: %llu bytes", z->name, (unsigned long long)size);
        return -1;
    }
    /* the end record: the last 22 + comment bytes (comment <= 65535) */
    size_t tn = size < EOCD_LEN + 65535 + LOC64_LEN + EOCD64_LEN ? (size_t)size : EOCD_LEN + 65535 + LOC64_LEN + EOCD64_LEN;
    uint64_t tbase = size - tn;
    tail = malloc(tn);
    if (!tail) {
        err_set("%s: out of memory", z->name);
        return -1;
    }
    if (raw_read(z, tbase, tail, tn) < 0) goto out;
    size_t eo = 0;
    int found = 0;
    for (size_t k = tn - EOCD_LEN + 1; k-- > 0;) {
        if (tail[k] == 'P' && tail[k + 1] == 'K' && tail[k + 2] == 5 && tail[k + 3] == 6 &&
            k + EOCD_LEN + le16(tail + k + 20) == tn) {
            eo = k;
            found = 1;
            break;
        }
        if (tn - k > EOCD_LEN + 65535) break;
    }
    if (!found) {
        err_set("%s: not a zip archive (or a truncated one): no end of central directory record at its end", z->name);
        goto out;
    }
    const unsigned char *E = tail + eo;
    uint64_t eocd_at = tbase + eo;
    uint32_t disk = le16(E + 4), cd_disk = le16(E + 6);
    uint64_t n_disk = le16(E + 8), n_all = le16(E + 10), cd_size = le32(E + 12), cd_off = le32(E + 16);
    uint64_t cd_end = eocd_at; /* where the central directory must end */
    if (eo >= LOC64_LEN && le32(tail + eo - LOC64_LEN) == 0x07064b50) {
        const unsigned char *L = tail + eo - LOC64_LEN;
        uint64_t r64 = le64(L + 8);
        if (le32(L + 4) != 0 || le32(L + 16) != 1) {
            err_set("%s: bad zip archive: multi-disk ZIP64 locator (not supported)", z->name);
            goto out;
        }
        uint64_t loc_at = eocd_at - LOC64_LEN;
        if (r64 > loc_at || loc_at - r64 < EOCD64_LEN) {
            err_set("%s: bad zip archive: ZIP64 end record offset %llu is not before its locator (byte %llu)", z->name,
                    (unsigned long long)r64, (unsigned long long)loc_at);
            goto out;
        }
        unsigned char R[EOCD64_LEN];
        if (raw_read(z, r64, R, EOCD64_LEN) < 0) goto out;
        uint64_t rsize = le64(R + 4);
        if (le32(R) != 0x06064b50 || rsize < EOCD64_LEN - 12 || rsize != loc_at - r64 - 12) {
            err_set("%s: bad zip archive: no ZIP64 end of central directory record of the right size at byte %llu",
                    z->name, (unsigned long long)r64);
            goto out;
        }
        uint64_t d64 = le32(R + 16), cdd64 = le32(R + 20), nd64 = le64(R + 24), na64 = le64(R + 32),
                 cs64 = le64(R + 40), co64 = le64(R + 48);
        if ((disk != 0xffff && disk != d64) || (cd_disk != 0xffff && cd_disk != cdd64) ||
            (n_disk != 0xffff && n_disk != nd64) || (n_all != 0xffff && n_all != na64) ||
            (cd_size != 0xffffffff && cd_size != cs64) || (cd_off != 0xffffffff && cd_off != co64)) {
            err_set("%s: bad zip archive: the ZIP64 end record disagrees with the end record", z->name);
            goto out;
        }
        disk = (uint32_t)d64, cd_disk = (uint32_t)cdd64, n_disk = nd64, n_all = na64, cd_size = cs64, cd_off = co64;
        cd_end = r64;
    } else if (n_disk == 0xffff || n_all == 0xffff || cd_size == 0xffffffff || cd_off == 0xffffffff) {
        err_set("%s: bad zip archive: ZIP64 values escaped in the end record but no ZIP64 locator", z->name);
        goto out;
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n_all) {
        err_set("%s: multi-disk zip archives are not supported", z->name);
        goto out;
    }
    if (cd_off > cd_end || cd_end - cd_off != cd_size) {
        err_set("%s: bad zip archive: central directory [%llu, +%llu) does not end where the end record begins "
                "(byte %llu)", z->name, (unsigned long long)cd_off, (unsigned long long)cd_size,
                (unsigned long long)cd_end);
        goto out;
    }
    if (n_all > cd_size / CEN_LEN || n_all > ZIP_MAX_ENTRIES) {
        err_set("%s: bad zip archive: %llu entries cannot fit in a %llu-byte central directory (or exceed the limit of "
                "%d)", z->name, (unsigned long long)n_all, (unsigned long long)cd_size, ZIP_MAX_ENTRIES);
        goto out;
    }
    cd = malloc(cd_size ? (size_t)cd_size : 1);
    z->e = calloc(n_all ? (size_t)n_all : 1, sizeof *z->e);
    z->by_name = malloc(sizeof *z->by_name * (n_all ? (size_t)n_all : 1));
    sp = malloc(sizeof *sp * (n_all ? (size_t)n_all : 1));
    if (!cd || !z->e || !z->by_name || !sp) {
        err_set("%s: out of memory for a %llu-byte central directory", z->name, (unsigned long long)cd_size);
        goto out;
    }
    if (raw_read(z, cd_off, cd, (size_t)cd_size) < 0) goto out;
    size_t p = 0;
    for (uint64_t i = 0; i < n_all; i++) {
        char nb[160];
        if (cd_size - p < CEN_LEN || le32(cd + p) != 0x02014b50) {
            err_set("%s: bad zip archive: central directory entry %llu: no header at byte %llu", z->name,
                    (unsigned long long)i, (unsigned long long)(cd_off + p));
            goto out;
        }
        const unsigned char *C = cd + p;
        uint32_t flags = le16(C + 8), method = le16(C + 10), crc = le32(C + 16);
        uint64_t csize = le32(C + 20), usize = le32(C + 24), hoff = le32(C + 42);
        uint32_t raw_c = (uint32_t)csize, raw_u = (uint32_t)usize, nlen = le16(C + 28), xlen = le16(C + 30),
                 clen = le16(C + 32), cdisk = le16(C + 34);
        if (cd_size - p - CEN_LEN < (uint64_t)nlen + xlen + clen) {
            err_set("%s: bad zip archive: central directory entry %llu runs past the central directory", z->name,
                    (unsigned long long)i);
            goto out;
        }
        const unsigned char *name = C + CEN_LEN;
        shown(name, nlen, nb, sizeof nb);
        const char *why = bad_name(name, nlen);
        if (!why && memchr(name, 0, nlen)) why = "a NUL byte in the name";
        if (why) {
            err_set("%s: bad zip archive: entry '%s': %s", z->name, nb, why);
            goto out;
        }
        if (zip64_extra(z, nb, name + nlen, xlen, &usize, &csize, &hoff, usize == 0xffffffff, csize == 0xffffffff,
                        hoff == 0xffffffff, cdisk == 0xffff) < 0)
            goto out;
        if (cdisk != 0 && cdisk != 0xffff) {
            err_set("%s: bad zip archive: entry '%s' is on disk %u (multi-disk archives are not supported)", z->name,
                    nb, cdisk);
            goto out;
        }
        if (flags & 0x41) {
            err_set("%s: entry '%s' is encrypted (not supported)", z->name, nb);
            goto out;
        }
        if (flags & 0x20) {
            err_set("%s: entry '%s' is patched data (not supported)", z->name, nb);
            goto out;
        }
        if (method != 0 && method != 8) {
            err_set("%s: entry '%s' uses compression method %u (not supported)", z->name, nb, method);
            goto out;
        }
        if (method == 0 && csize != usize) {
            err_set("%s: bad zip archive: stored entry '%s' has compressed size %llu but size %llu", z->name, nb,
                    (unsigned long long)csize, (unsigned long long)usize);
            goto out;
        }
        if (hoff > cd_off || cd_off - hoff < LOC_LEN) {
            err_set("%s: bad zip archive: entry '%s': local header offset %llu is not before the central directory",
                    z->name, nb, (unsigned long long)hoff);
            goto out;
        }
        unsigned char L[LOC_LEN];
        if (raw_read(z, hoff, L, LOC_LEN) < 0) goto out;
        uint32_t lflags = le16(L + 6), lnlen = le16(L + 26), lxlen = le16(L + 28);
        uint32_t lcrc = le32(L + 14), lc = le32(L + 18), lu = le32(L + 22);
        int dd = (lflags & 8) != 0; /* sizes and CRC follow the data (torch writes them this way) */
        if (le32(L) != 0x04034b50) {
            err_set("%s: bad zip archive: entry '%s': no local header at byte %llu", z->name, nb,
                    (unsigned long long)hoff);
            goto out;
        }
        if (le16(L + 8) != method || (lcrc != crc && !(dd && lcrc == 0)) || (lc != raw_c && !(dd && lc == 0)) ||
            (lu != raw_u && !(dd && lu == 0)) || lnlen != nlen) {
            err_set("%s: bad zip archive: entry '%s': the local header disagrees with the central directory (method, "
                    "CRC, sizes or name length)", z->name, nb);
            goto out;
        }
        uint64_t data = hoff + LOC_LEN + lnlen + lxlen;
        if (data > cd_off || cd_off - data < csize) {
            err_set("%s: bad zip archive: entry '%s': its %llu bytes of data at byte %llu run past the central "
                    "directory (byte %llu)", z->name, nb, (unsigned long long)csize, (unsigned long long)data,
                    (unsigned long long)cd_off);
            goto out;
        }
        char *nm = malloc((size_t)nlen + 1);
        if (!nm) {
            err_set("%s: out of memory", z->name);
            goto out;
        }
        if (raw_read(z, hoff + LOC_LEN, nm, lnlen) < 0) {
            free(nm);
            goto out;
        }
        if (memcmp(nm, name, nlen) != 0) {
            free(nm);
            err_set("%s: bad zip archive: entry '%s': the local header holds another name", z->name, nb);
            goto out;
        }
        nm[nlen] = 0;
        z->e[i] = (ZipEntry){nm, hoff, data, usize, (int)method};
        z->n++;
        sp[i] = (Span){hoff, data + csize, (int)i};
        p += CEN_LEN + (size_t)nlen + xlen + clen;
    }
    if (p != cd_size) {
        err_set("%s: bad zip archive: %llu stray bytes at the end of the central directory", z->name,
                (unsigned long long)(cd_size - p));
        goto out;
    }
    qsort(sp, (size_t)z->n, sizeof *sp, cmp_span);
    for (int i = 1; i < z->n; i++)
        if (sp[i].b < sp[i - 1].e) {
            char nb[160], nb2[160];
            err_set("%s: bad zip archive: entries '%s' and '%s' overlap", z->name,
                    shown((const unsigned char *)z->e[sp[i].idx].name, strlen(z->e[sp[i].idx].name), nb, sizeof nb),
                    shown((const unsigned char *)z->e[sp[i - 1].idx].name, strlen(z->e[sp[i - 1].idx].name), nb2,
                          sizeof nb2));
            goto out;
        }
    int dup, r = wt_name_index(z->e, sizeof(ZipEntry), offsetof(ZipEntry, name), z->n, z->by_name, &dup);
    if (r < 0) {
        err_set("%s: out of memory", z->name);
        goto out;
    }
    if (r) {
        char nb[160];
        err_set("%s: bad zip archive: duplicate entry '%s'", z->name,
                shown((const unsigned char *)z->e[dup].name, strlen(z->e[dup].name), nb, sizeof nb));
        goto out;
    }
    rc = 0;
out:
    free(tail);
    free(cd);
    free(sp);
    return rc;
}

static int init(ZipFile *z, const char *name) {
    memset(z, 0, sizeof *z);
    z->fd = -1;
    z->name = strdup(name);
    if (!z->name) {
        err_set("%s: out of memory", name);
        return -1;
    }
    return 0;
}

int zip_parse(const void *bytes, size_t len, const char *name, ZipFile *z) {
    if (init(z, name) < 0) return -1;
    z->bytes = bytes ? bytes : (const unsigned char *)"";
    z->size = len;
    if (parse(z) < 0) {
        zip_close(z);
        return -1;
    }
    return 0;
}

int zip_open(const char *path, ZipFile *z) {
    if (init(z, path) < 0) return -1;
    z->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (z->fd < 0) {
        err_set("%s: cannot open: %s", path, strerror(errno));
    } else if (fstat(z->fd, &st) != 0) {
        err_set("%s: cannot stat: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        err_set("%s: not a regular file", path);
    } else {
        z->size = (uint64_t)st.st_size;
        if (parse(z) == 0) return 0;
    }
    zip_close(z);
    return -1;
}

void zip_close(ZipFile *z) {
    for (int i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    free(z->by_name);
    free(z->name);
    if (z->fd >= 0) close(z->fd);
    memset(z, 0, sizeof *z);
    z->fd = -1;
}

int zip_find(const ZipFile *z, const char *name) {
    return wt_name_find(z->e, sizeof(ZipEntry), offsetof(ZipEntry, name), z->by_name, z->n, name);
}

int zip_read(const ZipFile *z, int i, uint64_t off, void *buf, size_t n) {
    if (i < 0 || i >= z->n || off > z->e[i].size || z->e[i].size - off < n) {
        err_set("%s: read outside zip entry %d", z->name, i);
        return -1;
    }
    if (z->e[i].method != 0) {
        char nb[160];
        err_set("%s: entry '%s' is compressed (deflate); only stored entries (what torch.save writes) can be read",
                z->name, shown((const unsigned char *)z->e[i].name, strlen(z->e[i].name), nb, sizeof nb));
        return -1;
    }
    return raw_read(z, z->e[i].off + off, buf, n);
}
