/* Driver for tests/py/test_metrics.py: metrics JSON of LOGITS.npy (N, K) against LABELS.npy (N,).
 * usage: metrics LOGITS.npy LABELS.npy TOPK */
#include "core/error.h"
#include "train/metrics.h"
#include "formats/npy.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    Tensor z, y;
    if (argc != 4 || npy_load(argv[1], DT_F32, &z) < 0 || npy_load(argv[2], DT_I64, &y) < 0 || z.ndim != 2) {
        fprintf(stderr, "metrics: error: %s\n", argc == 4 ? err_msg() : "usage: metrics LOGITS.npy LABELS.npy TOPK");
        return 1;
    }
    Metrics m;
    if (metrics_compute(&m, tensor_f32(&z), tensor_i64(&y), z.shape[0], (int)z.shape[1], atoi(argv[3])) < 0) {
        fprintf(stderr, "metrics: error: %s\n", err_msg());
        return 1;
    }
    JsonWriter w;
    json_init(&w, stdout, 2);
    metrics_write_json(&w, &m, NULL);
    metrics_free(&m);
    tensor_free(&z);
    tensor_free(&y);
    return json_error(&w) ? 1 : 0;
}
