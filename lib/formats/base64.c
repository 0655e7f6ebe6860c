/* base64.c - see base64.h. */
#include "formats/base64.h"

#include "core/error.h"

#include <stdint.h>
#include <stdlib.h>

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t n, size_t *out_len) {
    const unsigned char *p = data;
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3) { err_set("base64: input too large"); return NULL; }
    size_t m = (n + 2) / 3 * 4;
    char *s = malloc(m + 1);
    if (!s) { err_set("out of memory"); return NULL; }
    size_t i = 0, j = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        s[j++] = ALPHABET[v >> 18 & 63]; s[j++] = ALPHABET[v >> 12 & 63];
        s[j++] = ALPHABET[v >> 6 & 63];  s[j++] = ALPHABET[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        s[j++] = ALPHABET[v >> 18 & 63]; s[j++] = ALPHABET[v >> 12 & 63];
        s[j++] = i + 1 < n ? ALPHABET[v >> 6 & 63] : '=';
        s[j++] = '=';
    }
    s[j] = '\0';
    if (out_len) *out_len = j;
    return s;
}
