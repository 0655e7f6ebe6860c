/* oggenc.c - see oggenc.h. */
#include "audio/oggenc.h"

#include "audio/audio.h"
#include "audio/resample.h"
#include "core/error.h"

#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>

uint32_t ogg_crc(const unsigned char *p, size_t n) {
    static uint32_t table[256];
    static int ready;
    if (!ready) { /* MSB-first table of the polynomial 0x04c11db7 */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t r = i << 24;
            for (int b = 0; b < 8; b++) r = r & 0x80000000u ? (r << 1) ^ 0x04c11db7u : r << 1;
            table[i] = r;
        }
        ready = 1;
    }
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) crc = (crc << 8) ^ table[(crc >> 24) ^ p[i]];
    return crc;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int ogg_set_serial(unsigned char *p, size_t len, uint32_t serial) {
    size_t at = 0;
    int pages = 0;
    while (at < len) {
        unsigned char *pg = p + at;
        if (len - at < 27 || memcmp(pg, "OggS", 4) != 0 || pg[4] != 0) {
            err_set("Ogg stream: no page header at byte %zu", at);
            return -1;
        }
        size_t nseg = pg[26], size = 27 + nseg;
        if (len - at < size) { err_set("Ogg stream: page at byte %zu cut short", at); return -1; }
        for (size_t i = 0; i < nseg; i++) size += pg[27 + i];
        if (len - at < size) { err_set("Ogg stream: page at byte %zu cut short", at); return -1; }
        put_le32(pg + 14, serial);
        put_le32(pg + 22, 0);
        put_le32(pg + 22, ogg_crc(pg, size));
        at += size;
        pages++;
    }
    return pages;
}

/* A growing memory file for libsndfile's virtual I/O, written only (libsndfile needs no read callback
 * for SFM_WRITE). */
typedef struct MemOut {
    unsigned char *p;
    sf_count_t len, cap, pos;
    int failed;
} MemOut;

static sf_count_t mo_len(void *u) { return ((MemOut *)u)->len; }
static sf_count_t mo_tell(void *u) { return ((MemOut *)u)->pos; }
static sf_count_t mo_seek(sf_count_t off, int whence, void *u) {
    MemOut *m = u;
    sf_count_t q = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->len + off;
    if (q < 0) return -1;
    return m->pos = q;
}
static sf_count_t mo_write(const void *ptr, sf_count_t count, void *u) {
    MemOut *m = u;
    if (count <= 0) return 0;
    if (m->pos + count > m->cap) {
        sf_count_t cap = m->cap ? m->cap : 4096;
        while (cap < m->pos + count) cap *= 2;
        unsigned char *q = realloc(m->p, (size_t)cap);
        if (!q) { m->failed = 1; return 0; }
        m->p = q;
        m->cap = cap;
    }
    if (m->pos > m->len) memset(m->p + m->len, 0, (size_t)(m->pos - m->len));
    memcpy(m->p + m->pos, ptr, (size_t)count);
    m->pos += count;
    if (m->pos > m->len) m->len = m->pos;
    return count;
}

int ogg_vorbis_encode(const float *x, int64_t n, int rate, double quality, uint32_t serial, unsigned char **out,
                      size_t *len) {
    *out = NULL;
    *len = 0;
    if (n <= 0 || rate < 1000 || rate > 192000) { err_set("Ogg Vorbis: %lld samples at %d Hz: nothing to encode", (long long)n, rate); return -1; }
    MemOut m = {0};
    SF_VIRTUAL_IO vio = {mo_len, mo_seek, NULL, mo_write, mo_tell};
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_OGG | SF_FORMAT_VORBIS};
    SNDFILE *sf = sf_open_virtual(&vio, SFM_WRITE, &info, &m);
    if (!sf) { free(m.p); err_set("Ogg Vorbis: %s", sf_strerror(NULL)); return -1; }
    double q = quality < 0 ? 0 : quality > 1 ? 1 : quality;
    sf_command(sf, SFC_SET_VBR_ENCODING_QUALITY, &q, sizeof q);
    sf_count_t w = sf_write_float(sf, x, n);
    int rc = sf_close(sf);
    if (w != n || rc != 0 || m.failed) {
        free(m.p);
        err_set(m.failed ? "out of memory" : "Ogg Vorbis: encoding failed");
        return -1;
    }
    if (ogg_set_serial(m.p, (size_t)m.len, serial) < 0) { free(m.p); return -1; }
    *out = m.p;
    *len = (size_t)m.len;
    return 0;
}

int audio_clip_ogg(const char *path, double start, double end, double max_seconds, int rate, double quality,
                   uint32_t serial, unsigned char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    AudioReader *r = audio_open_stream(path);
    if (!r) return -1;
    double sr = audio_reader_rate(r);
    if (!(start > 0)) start = 0;
    double dur = end > start ? end - start : max_seconds;
    if (dur > max_seconds) dur = max_seconds;
    int64_t skip = (int64_t)floor(start * sr), want = (int64_t)ceil(dur * sr), got = 0;
    float *x = want > 0 ? malloc(sizeof *x * (size_t)want) : NULL;
    if (!x) { audio_close(r); err_set(want > 0 ? "out of memory" : "%s: empty clip", path); return -1; }
    while (skip > 0) { /* decode and drop what comes before the clip */
        int64_t k = audio_read_mono(r, x, skip < want ? skip : want);
        if (k < 0) { free(x); audio_close(r); return -1; }
        if (k == 0) break;
        skip -= k;
    }
    while (skip == 0 && got < want) {
        int64_t k = audio_read_mono(r, x + got, want - got);
        if (k < 0) { free(x); audio_close(r); return -1; }
        if (k == 0) break;
        got += k;
    }
    audio_close(r);
    if (got == 0) { free(x); err_set("%s: no samples between %.3f and %.3f s", path, start, start + dur); return -1; }
    int rc;
    if (sr > rate) {
        float *y;
        int64_t ny;
        rc = resample_whole(x, got, sr, rate, &y, &ny);
        free(x);
        if (rc < 0) return -1;
        rc = ogg_vorbis_encode(y, ny, rate, quality, serial, out, len);
        free(y);
    } else {
        rc = ogg_vorbis_encode(x, got, (int)lround(sr), quality, serial, out, len);
        free(x);
    }
    return rc;
}
