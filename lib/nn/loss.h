/* loss.h - softmax and cross-entropy on logits with integer targets (torch.nn.functional.cross_entropy
 * semantics), and sklearn's 'balanced' class weights; binary cross-entropy on logits for multi-label
 * targets (torch.nn.BCEWithLogitsLoss semantics) and its 'balanced' pos_weight.
 *
 * Cross-entropy, logits z (N, C), targets y (N) in [0, C), optional class weights w (C) (w = 1 when
 * NULL), label smoothing e in [0, 1]; lp = log_softmax(z) computed stably (z - max - log sum exp):
 *   W    = sum_i w[y_i]                       (mean reduction; 1 for sum reduction)
 *   nll  = sum_i -w[y_i] * lp[i, y_i]
 *   smth = sum_i sum_c -w[c] * lp[i, c]      (only when e > 0)
 *   loss = (1 - e) * nll / W + (e / C) * smth / W
 * which is PyTorch's cross_entropy_loss_label_smoothing (aten/src/ATen/native/LossNLL.cpp): the
 * weighted-mean NLL plus the class-weighted smoothing term divided by the SAME sum of target weights.
 * With all target weights 0 the mean is 0/0 = NaN, as in PyTorch. ignore_index is not supported.
 * Gradient, with p = softmax(z), S = sum_c w[c]:
 *   dz[i, k] = dloss * ((1 - e) * w[y_i] / W * (p[i, k] - [k == y_i]) + e / (C * W) * (p[i, k] * S - w[k]))
 * Deterministic: rows are independent; the loss is summed over rows in order (in double). */
#ifndef AUDIOCNN_NN_LOSS_H
#define AUDIOCNN_NN_LOSS_H

#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LOSS_MEAN = 0, LOSS_SUM = 1 } LossReduction;

typedef struct CrossEntropyShape {
    int N, C;
    float label_smoothing;   /* 0 in PyTorch */
    LossReduction reduction; /* LOSS_MEAN in PyTorch */
} CrossEntropyShape;

/* logits, probs (N, C); probs may alias logits. Row-wise softmax, max-subtracted. */
void softmax_forward(NnCtx *ctx, int N, int C, const float *logits, float *probs);

/* logits (N, C), targets (N), class_weight (C) or NULL; probs (N, C) receives softmax(logits) for the
 * backward (NULL when none follows). Returns 0 and *loss, or -1 with err_set() when a target is outside
 * [0, C) (then nothing is written) or the workspace cannot be had. Uses ctx's scratch workspace (its
 * previous contents are lost). */
int cross_entropy_forward(NnCtx *ctx, const CrossEntropyShape *s, const float *logits, const int64_t *targets,
                          const float *class_weight, float *loss, float *probs);

/* probs (N, C) from the forward, targets (N), class_weight (C) or NULL; dlogits (N, C) is written
 * (it may alias probs). dloss is the gradient of the final objective with respect to the loss (1). */
void cross_entropy_backward(NnCtx *ctx, const CrossEntropyShape *s, float dloss, const float *probs,
                            const int64_t *targets, const float *class_weight, float *dlogits);

/* sklearn.utils.class_weight.compute_class_weight("balanced", classes=range(n_classes), y=y):
 * w[c] = n / (n_classes * count[c]) in double, rounded to float. Returns 0, or -1 with err_set() when a
 * label is outside [0, n_classes) or a class has no sample (sklearn raises "classes should have valid
 * labels that are in y"). */
int class_weight_balanced(const int64_t *y, size_t n, int n_classes, float *w);

/* Binary cross-entropy with logits (torch.nn.functional.binary_cross_entropy_with_logits), logits z (N, K),
 * targets y (N, K) in [0, 1] (soft targets allowed), optional pos_weight p (K) (p = 1 when NULL), label
 * smoothing e in [0, 1): the target becomes t = y (1 - e) + e / 2. Per element, in the stable form
 * ATen uses (no exp of a positive number):
 *   lw = (p[k] - 1) t + 1
 *   l  = (1 - t) z + lw (log1p(exp(-|z|)) + max(-z, 0))       (= -lw t log s(z) - (1 - t) log(1 - s(z)))
 *   loss = sum l / (N K)   (LOSS_MEAN, PyTorch's default)  or  sum l  (LOSS_SUM)
 * Gradient, s = sigmoid(z):  dz = dloss * (lw s - p[k] t) / (N K)   (= s - t without pos_weight).
 * The loss is linear in t, so the loss of blended targets equals the blend of the losses (mixup).
 * Elements are computed in double, summed in row-major order: deterministic. */
typedef struct BceShape {
    int N, K;
    float label_smoothing;   /* 0 in PyTorch */
    LossReduction reduction; /* LOSS_MEAN in PyTorch */
} BceShape;

/* logits, targets (N, K), pos_weight (K) or NULL. Returns 0 and *loss, or -1 with err_set() when a
 * target is outside [0, 1] or not a number (nothing written). */
int bce_with_logits_forward(const BceShape *s, const float *logits, const float *targets, const float *pos_weight,
                            float *loss);
/* dlogits (N, K) is written; dloss is the gradient of the final objective with respect to the loss. */
void bce_with_logits_backward(const BceShape *s, float dloss, const float *logits, const float *targets,
                              const float *pos_weight, float *dlogits);

/* The usual 'balanced' pos_weight of multi-label targets y (n, k): negatives / positives of each class,
 * pw[k] = (n - P_k) / P_k with P_k = sum_i y[i, k] (soft targets count their value), in double, rounded
 * to float. Returns 0, or -1 with err_set() when a class has no positive (an infinite weight) or no
 * negative (weight 0: the class would never learn a positive). */
int pos_weight_balanced(const float *y, size_t n, int k, float *pw);

#ifdef __cplusplus
}
#endif

#endif
