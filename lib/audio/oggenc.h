/* oggenc.h - short clips of recordings as Ogg Vorbis in memory (for the report's sound), byte for byte
 * reproducible.
 *
 * Promise: ogg_vorbis_encode() encodes mono float samples through libsndfile (SF_FORMAT_OGG |
 * SF_FORMAT_VORBIS, VBR quality q in [0, 1]) into a malloc'd buffer. libsndfile seeds the Ogg stream's
 * serial number from the clock, so the same samples would give other bytes on every run; the serial
 * number of every page is rewritten to `serial` and each page's CRC recomputed (ogg_set_serial), so
 * that the same samples, rate, quality and serial give the same bytes. audio_clip_ogg() cuts [start,
 * end) seconds of a recording (at most max_seconds; end <= start: to the end of the recording), mixed
 * to mono, resampled to `rate` when the file's rate is higher (soxr, as wav2mel), and encodes it.
 *
 * Ogg framing (RFC 3533): a page is "OggS", version 0, header type, granule position (8 bytes),
 * serial number (4, little-endian, at offset 14), page sequence number (4), CRC (4, at offset 22), the
 * number of segments and the segment table, then the body. The CRC is CRC-32 with polynomial
 * 0x04c11db7, initial value 0, no reflection and no final xor, over the whole page with its CRC
 * field zeroed. */
#ifndef AUDIOCNN_OGGENC_H
#define AUDIOCNN_OGGENC_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0 with *out (caller frees) and *len, or -1 with err_set(). */
int ogg_vorbis_encode(const float *x, int64_t n, int rate, double quality, uint32_t serial, unsigned char **out,
                      size_t *len);
int audio_clip_ogg(const char *path, double start, double end, double max_seconds, int rate, double quality,
                   uint32_t serial, unsigned char **out, size_t *len);

/* The Ogg CRC-32 of n bytes. */
uint32_t ogg_crc(const unsigned char *p, size_t n);
/* Set the serial number of every page of an Ogg stream to `serial`, recomputing the CRCs. Returns the
 * number of pages, or -1 with err_set() when the bytes are not a sequence of whole Ogg pages. */
int ogg_set_serial(unsigned char *p, size_t len, uint32_t serial);

#endif
