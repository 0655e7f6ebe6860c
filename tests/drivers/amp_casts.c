/* Driver for tests/py/test_amp_casts.py: nn/kernels.h's float -> fp16 / bf16 casts (AMP, nn/amp.h) on raw
 * floats.
 *   amp_casts IN OUT   IN: little-endian float32s; OUT: for each, its fp16 bits then its bf16 bits (uint16 LE)
 * The casts are plain integer code: the same bits on any machine. */
#include "nn/kernels.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: amp_casts IN OUT\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    if (!in || !out) {
        fprintf(stderr, "amp_casts: error: cannot open %s\n", in ? argv[2] : argv[1]);
        return 1;
    }
    float f;
    while (fread(&f, sizeof f, 1, in) == 1) {
        uint16_t h[2] = {kb_f32_to_f16(f), kb_f32_to_bf16(f)};
        if (fwrite(h, sizeof h, 1, out) != 1) {
            fprintf(stderr, "amp_casts: error: write failed\n");
            return 1;
        }
    }
    if (ferror(in) || fclose(out) != 0) {
        fprintf(stderr, "amp_casts: error: read or write failed\n");
        return 1;
    }
    fclose(in);
    return 0;
}
