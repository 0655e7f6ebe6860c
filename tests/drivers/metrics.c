/* Driver for tests/py/test_metrics.py: metrics JSON of LOGITS.npy (N, K) against LABELS.npy (N,), or
 * with "multi" the multi-label metrics of SCORES.npy (N, K) against 0/1 TRUTH.npy (N, K) at THRESHOLD.
 * usage: metrics LOGITS.npy LABELS.npy TOPK | metrics multi SCORES.npy TRUTH.npy THRESHOLD */
#include "core/error.h"
#include "train/metrics.h"
#include "formats/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *msg) {
    fprintf(stderr, "metrics: error: %s\n", msg);
    return 1;
}

static int multi(char **argv) {
    Tensor s, y;
    if (npy_load(argv[2], DT_F32, &s) < 0 || npy_load(argv[3], DT_I64, &y) < 0) return fail(err_msg());
    if (s.ndim != 2 || y.ndim != 2 || s.shape[0] != y.shape[0] || s.shape[1] != y.shape[1]) return fail("shapes differ");
    int64_t nk = s.shape[0] * s.shape[1];
    uint8_t *t = malloc((size_t)(nk ? nk : 1));
    for (int64_t i = 0; i < nk; i++) t[i] = (uint8_t)tensor_i64(&y)[i];
    MultiMetrics m;
    if (multi_metrics_compute(&m, tensor_f32(&s), t, s.shape[0], (int)s.shape[1], strtod(argv[4], NULL)) < 0)
        return fail(err_msg());
    JsonWriter w;
    json_init(&w, stdout, 2);
    multi_metrics_write_json(&w, &m, NULL);
    multi_metrics_free(&m);
    free(t);
    tensor_free(&s);
    tensor_free(&y);
    return json_error(&w) ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "multi")) return multi(argv);
    Tensor z, y;
    if (argc != 4 || npy_load(argv[1], DT_F32, &z) < 0 || npy_load(argv[2], DT_I64, &y) < 0 || z.ndim != 2)
        return fail(argc == 4 ? err_msg() : "usage: metrics LOGITS.npy LABELS.npy TOPK | metrics multi SCORES TRUTH T");
    Metrics m;
    if (metrics_compute(&m, tensor_f32(&z), tensor_i64(&y), z.shape[0], (int)z.shape[1], atoi(argv[3])) < 0)
        return fail(err_msg());
    JsonWriter w;
    json_init(&w, stdout, 2);
    metrics_write_json(&w, &m, NULL);
    metrics_free(&m);
    tensor_free(&z);
    tensor_free(&y);
    return json_error(&w) ? 1 : 0;
}
