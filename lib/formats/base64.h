/* base64.h - RFC 4648 base64 (standard alphabet, '=' padding, no line breaks), for data: URIs.
 *
 * Promise: base64_encode() returns a NUL-terminated string of exactly 4*ceil(n/3) characters, or NULL
 * with err_set() when memory runs out. */
#ifndef AUDIOCNN_BASE64_H
#define AUDIOCNN_BASE64_H

#include <stddef.h>

char *base64_encode(const void *data, size_t n, size_t *out_len);

#endif
