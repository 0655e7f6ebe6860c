/* metrics.h - classification metrics, as scikit-learn computes them.
 *
 * From logits (N, K) and true labels in [0, K): softmax probabilities and predictions (argmax, lowest
 * index on ties), accuracy, mean cross-entropy (natural log, computed stably from the logits), top-k
 * accuracy, and per class precision, recall, F1 and support with scikit-learn's conventions
 * (classification_report with labels=range(K), zero_division=0: a class never predicted has precision
 * 0, one with no samples recall 0), macro and support-weighted averages, and the confusion matrix
 * (rows true class, columns predicted class; sklearn.metrics.confusion_matrix). */
#ifndef AUDIOCNN_METRICS_H
#define AUDIOCNN_METRICS_H

#include "formats/json.h"

#include <stdint.h>

typedef struct Metrics {
    int k;
    int64_t n;
    int topk;
    double accuracy, loss, topk_accuracy;
    double *precision, *recall, *f1; /* k each */
    int64_t *support;                /* k */
    double macro_p, macro_r, macro_f1, weighted_p, weighted_r, weighted_f1;
    int64_t *confusion;              /* k * k, row-major [true][pred] */
} Metrics;

/* Softmax of each row of logits into probs (may alias), and the predicted class of each row. */
void softmax_rows(const float *logits, int64_t n, int k, float *probs, int64_t *pred);

/* Returns 0 or -1 with err_set() (label out of range, out of memory). topk is clamped to [1, k]. */
int metrics_compute(Metrics *m, const float *logits, const int64_t *labels, int64_t n, int k, int topk);
void metrics_free(Metrics *m);
/* The metrics as one JSON object; class_names may be NULL (then "0", "1", ...). */
void metrics_write_json(JsonWriter *w, const Metrics *m, const char *const *class_names);

#endif
