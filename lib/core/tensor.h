/* tensor.h - the in-memory array every tool passes around.
 *
 * Promise: shape is in NumPy/PyTorch order (NCHW: last dimension contiguous, C order), never reversed.
 * data is owned by the tensor (tensor_free releases it) and holds numel * dtype_size bytes. */
#ifndef AUDIOCNN_TENSOR_H
#define AUDIOCNN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum { DT_F32 = 0, DT_I64 = 1 } DType;

#define TENSOR_MAX_DIMS 8

typedef struct Tensor {
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    void *data;
} Tensor;

size_t dtype_size(DType dt);
const char *dtype_name(DType dt); /* "float32", "int64" */

/* Product of the shape (1 for ndim 0). Callers that build shapes from untrusted input check overflow
 * with shape_numel_checked first. */
int64_t tensor_numel(const Tensor *t);
/* Returns 0 and the element count, or -1 when the product overflows `limit` elements. */
int shape_numel_checked(int ndim, const int64_t *shape, int64_t limit, int64_t *numel);

/* Zero-filled allocation. Returns 0, or -1 with err_set(). */
int tensor_alloc(Tensor *t, DType dt, int ndim, const int64_t *shape);
void tensor_free(Tensor *t);

static inline float *tensor_f32(const Tensor *t) { return (float *)t->data; }
static inline int64_t *tensor_i64(const Tensor *t) { return (int64_t *)t->data; }

/* IEEE 754 half precision (float16 bits) to float32, exactly (subnormals, infinities, NaN). */
float half_to_float(uint16_t h);

/* "1x128x44" (what manifests store); returns buf. */
char *shape_format(int ndim, const int64_t *shape, char *buf, size_t cap);

#endif
