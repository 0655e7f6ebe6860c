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

/* ---- multi-label ------------------------------------------------------------------------------
 * Scores s (n, k) (sigmoid probabilities or logits: only their order matters for AP and AUC) against
 * truth y (n, k) of 0/1, class by class, exactly as scikit-learn 1.5 computes them:
 *  - average precision (average_precision_score): over the distinct scores in decreasing order (ties form
 *    one threshold), AP = sum_i (R_i - R_{i-1}) P_i, R = tp/positives, P = tp/(tp+fp). A class with no
 *    positive gets 0 (sklearn warns "No positive class found" and returns 0) and counts in the macro mean.
 *  - ROC-AUC (roc_auc_score): the trapezoid area under (fpr, tpr) over the distinct scores (a tie between
 *    a positive and a negative counts 1/2), computed exactly in integers and divided once. A class with
 *    no positive or no negative gets NaN (sklearn raises "Only one class present in y_true") and is left
 *    out of the macro mean (NaN when no class has both).
 *  - micro averages: the same on all n*k (score, truth) pairs at once (sklearn's average="micro").
 *  - F1 at a threshold: predicted positive when s >= threshold; F1 = 2tp / (2tp + fp + fn), 0 when that
 *    is 0/0 (sklearn's f1_score, zero_division=0); precision and recall likewise (0 when undefined);
 *    macro F1 the mean over classes, micro F1 from the summed counts.
 *  - the threshold maximising F1 per class on this set: among the distinct scores (predicting s >= t),
 *    the one of highest F1; on ties the lowest such score (np.argmax over precision_recall_curve's
 *    increasing thresholds). A class with no positive has F1 0 at every threshold: NaN threshold. */
typedef struct MultiMetrics {
    int k;
    int64_t n;
    double threshold;                  /* of the F1 below */
    double *ap, *auc;                  /* k each */
    double *precision, *recall, *f1;   /* k each, at threshold */
    double *best_threshold, *best_f1;  /* k each */
    int64_t *support;                  /* k: positives per class */
    double macro_ap, micro_ap, macro_auc, micro_auc, macro_f1, micro_f1;
    int has_loss;                      /* set by the caller after multi_metrics_compute(): then the JSON */
    double loss;                       /* has "loss" (after "threshold"), e.g. cnneval's mean BCE */
} MultiMetrics;

/* Average precision, ROC-AUC and the best-F1 threshold of one class: n scores and 0/1 truths, element i
 * at score[i * stride], truth[i * stride]. Return as documented above. */
double binary_average_precision(const float *score, const uint8_t *truth, int64_t n, int64_t stride);
double binary_roc_auc(const float *score, const uint8_t *truth, int64_t n, int64_t stride);
double binary_best_f1(const float *score, const uint8_t *truth, int64_t n, int64_t stride, double *f1);

/* Returns 0, or -1 with err_set() (a truth not 0/1, out of memory). */
int multi_metrics_compute(MultiMetrics *m, const float *scores, const uint8_t *truth, int64_t n, int k,
                          double threshold);
void multi_metrics_free(MultiMetrics *m);
/* As one JSON object (NaN as null); class_names may be NULL (then "0", "1", ...). */
void multi_metrics_write_json(JsonWriter *w, const MultiMetrics *m, const char *const *class_names);

#endif
