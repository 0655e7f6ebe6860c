/* lanes_avx512.h - the AVX-512 mask of lanes lo <= l < hi (clipped to [0, 16)), for the masked loads and
 * stores at the edges of rows and the tails of runs (conv2d.c, convpool.c, depthwise.c, gemm.c, winograd.c,
 * activation.c, batchnorm.c). Include only where immintrin.h is available. */
#ifndef AUDIOCNN_NN_LANES_AVX512_H
#define AUDIOCNN_NN_LANES_AVX512_H

#include <immintrin.h>
#include <stdint.h>

static inline __mmask16 lanes_between(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)((hi == 16 ? 0xFFFFu : (1u << hi) - 1u) & ~((1u << lo) - 1u));
}

#endif
