#include "core/tensor.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t dtype_size(DType dt) { return dt == DT_I64 ? 8 : 4; }
const char *dtype_name(DType dt) { return dt == DT_I64 ? "int64" : "float32"; }

int64_t tensor_numel(const Tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int shape_numel_checked(int ndim, const int64_t *shape, int64_t limit, int64_t *numel) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] == 0) { n = 0; continue; }
        if (n > limit / shape[i]) return -1;
        n *= shape[i];
    }
    /* a zero dimension anywhere makes the product zero, whatever came before */
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) n = 0;
    *numel = n;
    return 0;
}

int tensor_alloc(Tensor *t, DType dt, int ndim, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) {
        err_set("tensor with %d dimensions (at most %d)", ndim, TENSOR_MAX_DIMS);
        return -1;
    }
    int64_t n;
    if (shape_numel_checked(ndim, shape, INT64_MAX / 8, &n) < 0) {
        err_set("tensor shape too large");
        return -1;
    }
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim > 0) memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    size_t bytes = (size_t)n * dtype_size(dt);
    t->data = calloc(bytes ? bytes : 1, 1);
    if (!t->data) {
        err_set("out of memory allocating %zu bytes", bytes);
        return -1;
    }
    return 0;
}

void tensor_free(Tensor *t) {
    free(t->data);
    memset(t, 0, sizeof *t);
}

char *shape_format(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t pos = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && pos < cap; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, i ? "x%lld" : "%lld", (long long)shape[i]);
    return buf;
}

float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else { /* subnormal: renormalise */
            int e = -1;
            do { e++; mant <<= 1; } while (!(mant & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
