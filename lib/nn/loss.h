/* loss.h - softmax and cross-entropy on logits with integer targets (torch.nn.functional.cross_entropy
 * semantics), and sklearn's 'balanced' class weights.
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

#endif
