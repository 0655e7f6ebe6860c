/* SpecAugment: seeded, masks only whole bands/frames, at most the configured widths. */
#include "check.h"
#include "train/specaugment.h"

#include <string.h>

enum { N = 4, F = 32, T = 50 };
static float x[N * F * T], y[N * F * T];

int main(void) {
    SpecAugment sa = {.freq_mask_param = 8, .time_mask_param = 10, .n_freq_masks = 2, .n_time_masks = 2, .p = 1.0};
    for (int i = 0; i < N * F * T; i++) x[i] = 1.0f + (float)(i % 7);
    memcpy(y, x, sizeof x);
    Rng a, b;
    rng_seed(&a, 11);
    rng_seed(&b, 11);
    specaugment_apply(&sa, x, N, 1, F, T, &a);
    specaugment_apply(&sa, y, N, 1, F, T, &b);
    CHECK(memcmp(x, y, sizeof x) == 0, "same seed, same masks");
    int rows_ok = 1, widest_rows = 0, widest_cols = 0;
    for (int n = 0; n < N; n++) {
        int zr = 0, zc = 0;
        for (int f = 0; f < F; f++) {
            int z = 0;
            for (int t = 0; t < T; t++) z += x[(n * F + f) * T + t] == 0;
            zr += z == T;
        }
        for (int t = 0; t < T; t++) {
            int z = 0;
            for (int f = 0; f < F; f++) z += x[(n * F + f) * T + t] == 0;
            zc += z == F;
        }
        /* every zero lies in a fully masked band or frame */
        for (int f = 0; f < F; f++)
            for (int t = 0; t < T; t++) {
                if (x[(n * F + f) * T + t] != 0) continue;
                int full_row = 1, full_col = 1;
                for (int k = 0; k < T; k++) full_row &= x[(n * F + f) * T + k] == 0;
                for (int k = 0; k < F; k++) full_col &= x[(n * F + k) * T + t] == 0;
                rows_ok &= full_row || full_col;
            }
        widest_rows = zr > widest_rows ? zr : widest_rows;
        widest_cols = zc > widest_cols ? zc : widest_cols;
    }
    CHECK(rows_ok, "masks are whole bands or whole frames");
    CHECK(widest_rows <= 2 * 7 && widest_cols <= 2 * 9, "mask widths below the parameters (bands %d, frames %d)",
          widest_rows, widest_cols);
    rng_seed(&b, 12);
    memcpy(y, x, sizeof x);
    for (int i = 0; i < N * F * T; i++) y[i] = 1.0f + (float)(i % 7);
    specaugment_apply(&sa, y, N, 1, F, T, &b);
    CHECK(memcmp(x, y, sizeof x) != 0, "another seed, other masks");
    return check_failures ? 1 : 0;
}
