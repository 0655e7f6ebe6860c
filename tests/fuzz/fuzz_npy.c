/* libFuzzer target: a stream of .npy arrays from arbitrary bytes (npy_read until the end or an error). */
#define _GNU_SOURCE
#include "formats/npy.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return 0;
    Tensor t;
    for (int i = 0; i < 64; i++) {
        int rc = npy_read(f, "fuzz", i % 3 == 2 ? DT_F32 : NPY_WANT_NATURAL, &t);
        if (rc != 1) break;
        tensor_free(&t);
    }
    fclose(f);
    NpyHeader h;
    npy_parse_header((const char *)data, size, &h); /* the dict parser on its own */
    return 0;
}
