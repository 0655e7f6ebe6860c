/* test_ogg.c - in-memory Ogg Vorbis clips: the Ogg CRC (check value), the serial-number rewrite (every
 * page's serial and CRC), the same bytes on every encoding, and a rewritten stream that libsndfile still
 * decodes to the same samples as the stream before the rewrite. */
#include "audio/audio.h"
#include "audio/oggenc.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t le32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Walk the pages: count them, check each serial and CRC (computed here bit by bit, not with ogg_crc). */
static int pages_ok(const unsigned char *p, size_t len, uint32_t serial, int *npages) {
    size_t at = 0;
    *npages = 0;
    while (at < len) {
        if (len - at < 27 || memcmp(p + at, "OggS", 4) != 0) return 0;
        size_t size = 27 + p[at + 26];
        for (int i = 0; i < p[at + 26]; i++) size += p[at + 27 + i];
        if (at + size > len || le32(p + at + 14) != serial) return 0;
        uint32_t crc = 0;
        for (size_t i = 0; i < size; i++) {
            unsigned char b = i >= 22 && i < 26 ? 0 : p[at + i];
            crc ^= (uint32_t)b << 24;
            for (int k = 0; k < 8; k++) crc = crc & 0x80000000u ? (crc << 1) ^ 0x04c11db7u : crc << 1;
        }
        if (crc != le32(p + at + 22)) return 0;
        at += size;
        (*npages)++;
    }
    return 1;
}

static float *decode(const unsigned char *p, size_t len, int64_t *n) {
    AudioReader *r = audio_open_memory(p, len, "clip.ogg");
    if (!r) return NULL;
    float *x = malloc(sizeof *x * 200000);
    *n = audio_read_mono(r, x, 200000);
    audio_close(r);
    return x;
}

int main(void) {
    CHECK(ogg_crc((const unsigned char *)"123456789", 9) == 0x89a1897fu,
          "Ogg CRC-32 of '123456789' is 0x89a1897f (CRC-32/POSIX before its final xor)");

    int rate = 22050, n = 11025;
    float *x = malloc(sizeof *x * (size_t)n);
    for (int i = 0; i < n; i++) x[i] = 0.5f * (float)sin(2 * 3.14159265358979323846 * 440 * i / rate) * (float)exp(-3.0 * i / n);
    unsigned char *a, *b;
    size_t la, lb;
    int ra = ogg_vorbis_encode(x, n, rate, 0.3, 7, &a, &la), rb = ogg_vorbis_encode(x, n, rate, 0.3, 7, &b, &lb);
    CHECK(ra == 0 && rb == 0 && la > 0, "ogg_vorbis_encode: 0.5 s at 22050 Hz, %zu bytes", la);
    if (ra || rb) return 1;
    CHECK(la == lb && memcmp(a, b, la) == 0, "the same samples encode to the same bytes (the clock-seeded serial replaced)");
    int np = 0, pok = pages_ok(a, la, 7, &np);
    CHECK(pok && np >= 3, "every page (%d) carries serial 7 and a valid CRC", np);

    unsigned char *c = malloc(la);
    memcpy(c, a, la);
    int pc = ogg_set_serial(c, la, 0xdeadbeefu);
    int np2 = 0;
    CHECK(pc == np && pages_ok(c, la, 0xdeadbeefu, &np2) && np2 == np, "ogg_set_serial rewrites all %d pages", pc);
    int64_t na = 0, nc = 0;
    float *da = decode(a, la, &na), *dc = decode(c, la, &nc);
    CHECK(da && dc && na == n && nc == n && memcmp(da, dc, sizeof *da * (size_t)n) == 0,
          "streams with serials 7 and 0xdeadbeef decode through libsndfile to the same %lld samples", (long long)na);
    double num = 0, den = 0;
    for (int i = 0; da && na == n && i < n; i++) { num += (da[i] - x[i]) * (da[i] - x[i]); den += x[i] * x[i]; }
    CHECK(da && na == n && num < 0.05 * den, "the decoded clip is the tone (error energy %.4f of the signal's)", den > 0 ? num / den : -1);
    unsigned char *d;
    size_t ld;
    CHECK(ogg_vorbis_encode(x, n, rate, 0.3, 8, &d, &ld) == 0 && ld == la && memcmp(d, a, la) != 0 &&
              pages_ok(d, ld, 8, &np2),
          "another serial: other bytes, valid pages");
    free(d);
    CHECK(ogg_set_serial(c, la - 1, 1) < 0 && ogg_set_serial((unsigned char *)"OggT\0", 5, 1) < 0,
          "a cut stream or a non-Ogg buffer is refused");
    free(x); free(a); free(b); free(c); free(da); free(dc);
    return check_failures != 0;
}
