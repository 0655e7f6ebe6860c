/* pngenc.h - Images as PNG files (libpng).
 *
 * Promise: 8-bit RGB, non-interlaced, zlib level 9 with libpng's adaptive filters, and no chunk that
 * varies between runs (no tIME, no text): the same Image gives the same bytes on every run with the same
 * libpng and zlib. pngenc_encode() writes into memory (for data: URIs); pngenc_save() writes PATH
 * through outfile (atomic; "-" = stdout). */
#ifndef AUDIOCNN_PNGENC_H
#define AUDIOCNN_PNGENC_H

#include "report/image.h"

#include <stddef.h>

/* *out is malloc'd (caller frees). Returns 0, or -1 with err_set(). */
int pngenc_encode(const Image *im, unsigned char **out, size_t *len);
int pngenc_save(const char *path, const Image *im);

#endif
