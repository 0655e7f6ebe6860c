/* Driver for tests/py/test_specaugment.py: specaugment_mask on every plane of X.npy (N, C, F, T) along
 * AXIS with MASK_PARAM and P, taking the uniforms from U1.npy and U2.npy (N, C); writes OUT.npy.
 * usage: specaugment X.npy U1.npy U2.npy AXIS MASK_PARAM P OUT.npy */
#include "core/error.h"
#include "formats/npy.h"
#include "train/specaugment.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: specaugment X.npy U1.npy U2.npy AXIS MASK_PARAM P OUT.npy\n");
        return 2;
    }
    Tensor x, u1, u2;
    if (npy_load(argv[1], DT_F32, &x) < 0 || npy_load(argv[2], DT_F32, &u1) < 0 || npy_load(argv[3], DT_F32, &u2) < 0 ||
        x.ndim != 4) {
        fprintf(stderr, "specaugment: error: %s\n", err_msg());
        return 1;
    }
    int n = (int)x.shape[0], c = (int)x.shape[1], f = (int)x.shape[2], t = (int)x.shape[3];
    for (int i = 0; i < n * c; i++)
        specaugment_mask(tensor_f32(&x) + (int64_t)i * f * t, f, t, atoi(argv[4]), atoi(argv[5]), atof(argv[6]),
                         tensor_f32(&u1)[i], tensor_f32(&u2)[i], 0.0f);
    if (npy_save(argv[7], &x) < 0) {
        fprintf(stderr, "specaugment: error: %s\n", err_msg());
        return 1;
    }
    tensor_free(&x);
    tensor_free(&u1);
    tensor_free(&u2);
    return 0;
}
