/* resample_batch() must give every signal exactly what resample_whole() gives it alone. */
#include "check.h"
#include "audio/resample.h"
#include "core/rng.h"

#include <stdlib.h>
#include <string.h>

int main(void) {
    const double rates[][2] = {{8000, 22050}, {44100, 22050}, {48000, 22050}, {81920, 22050}, {166600, 22050},
                               {10240, 22050}, {5120, 22050}, {22050, 16000}, {22050, 22050}};
    Rng rng;
    rng_seed(&rng, 7);
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        enum { K = 24 };
        float *x[K], *yb[K], *yw;
        int64_t n[K], nb[K], nw;
        for (int i = 0; i < K; i++) {
            /* lengths from 1 sample to ~1 s, including exact .5 ties for 8k->22.05k (multiples of 80 + 80/2..) */
            n[i] = i < 4 ? 1 + i * 7 : (int64_t)(rng_below(&rng, (uint64_t)rates[r][0]) + 1);
            if (i >= 12) n[i] = 3000 + 13 * i; /* similar lengths: these share one soxr */
            if (i == 5) n[i] = 480;  /* 48000->22050: 220.5 exactly, a tie */
            if (i == 6) n[i] = 80;   /* 8000->22050: 220.5 */
            x[i] = malloc(sizeof(float) * (size_t)n[i]);
            for (int64_t t = 0; t < n[i]; t++) x[i][t] = (float)(rng_uniform(&rng) * 2 - 1);
        }
        int ok = resample_batch((const float *const *)x, n, K, rates[r][0], rates[r][1], yb, nb) == 0;
        int same = ok;
        for (int i = 0; i < K && ok; i++) {
            ok = resample_whole(x[i], n[i], rates[r][0], rates[r][1], &yw, &nw) == 0;
            if (ok && (nw != nb[i] || memcmp(yw, yb[i], sizeof(float) * (size_t)nw) != 0)) same = 0;
            if (ok) free(yw);
        }
        CHECK(ok && same, "batch equals one-by-one, bit for bit, %g Hz -> %g Hz, %d signals of 1..%g samples",
              rates[r][0], rates[r][1], K, rates[r][0]);
        for (int i = 0; i < K; i++) {
            free(x[i]);
            if (ok) free(yb[i]);
        }
    }
    return check_failures ? 1 : 0;
}
