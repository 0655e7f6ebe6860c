/* The AVX-512 twins of Winograd's input and output transforms (lib/nn/winograd.c, included here to reach
 * its static functions) against the portable ones, bit for bit: runs of 1..16 tiles at the plane's
 * edges and inside (partial last tiles, planes narrower than a run), NaN, infinities and -0 in the
 * data, every epilogue (none, plain affine, ReLU, SiLU, each with and without a residual). */
#include "../../lib/nn/winograd.c"

#include "check.h"
#include "core/rng.h"

#include <math.h>

static void fill(Rng *r, float *a, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = (float)(4.0 * rng_uniform(r) - 2.0);
}

int main(void) {
    if (!HAVE_AVX512_WINOGRAD || !nn_avx512()) {
        printf("skip winograd twins: this CPU has no AVX-512 (only the portable transforms run)\n");
        return 0;
    }
    Rng r;
    rng_seed(&r, 2026);
    int sizes[][2] = {{9, 70}, {4, 4}, {5, 3}, {13, 61}, {17, 66}, {8, 64}};
    int in_ok = 1, out_ok = 1, cases = 0;
    for (int sz = 0; sz < 6; sz++) {
        int H = sizes[sz][0], W = sizes[sz][1];
        int TH = (H + 3) / 4, TW = (W + 3) / 4;
        size_t plane = (size_t)H * W;
        float *x = malloc(plane * sizeof(float)), *res = malloc(plane * sizeof(float));
        fill(&r, x, plane);
        fill(&r, res, plane);
        x[plane / 2] = NAN;
        x[plane / 3] = -0.0f;
        x[1] = INFINITY;
        const size_t vs = 32;
        float v1[36 * 32], v2[36 * 32], m[36 * 32];
        float *y1 = malloc(plane * sizeof(float)), *y2 = malloc(plane * sizeof(float));
        for (int th = 0; th < TH; th++)
            for (int tw = 0; tw < TW; tw += RUN) {
                int len = TW - tw < RUN ? TW - tw : RUN;
                for (int l = 1; l <= len; l += (len > 4 ? 5 : 1)) { /* shorter runs too */
                    memset(v1, 0, sizeof v1);
                    memset(v2, 0, sizeof v2);
                    input_run(x, H, W, th, tw, l, v1, vs);
                    input_run_avx512(x, H, W, th, tw, l, v2, vs);
                    in_ok &= memcmp(v1, v2, sizeof v1) == 0;
                    fill(&r, m, 36 * 32);
                    m[7] = NAN;
                    m[40] = -0.0f;
                    for (int ep = 0; ep < 7; ep++) {
                        PlaneEp e = {0};
                        if (ep) e = (PlaneEp){1, 0.7f, -0.2f, ep % 2 ? res : NULL, (ActKind)((ep - 1) / 2), NULL, 0, 0};
                        for (size_t i = 0; i < plane; i++) y1[i] = y2[i] = 99.0f;
                        output_run(m, vs, l, 0.25f, y1, H, W, th, tw, &e);
                        output_run_avx512(m, vs, l, 0.25f, y2, H, W, th, tw, &e);
                        out_ok &= memcmp(y1, y2, plane * sizeof(float)) == 0;
                        cases++;
                    }
                }
            }
        free(x), free(res), free(y1), free(y2);
    }
    CHECK(in_ok, "winograd input transform: the AVX-512 twin gives the portable loops' bits (runs of 1-16 tiles, edges, NaN/inf/-0)");
    CHECK(out_ok, "winograd output transform + epilogue: the AVX-512 twin gives the portable loops' bits (%d cases)", cases);
    return check_failures ? 1 : 0;
}
