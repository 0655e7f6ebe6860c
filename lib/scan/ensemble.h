/* ensemble.h - several checkpoints as one classifier: the mean of their softmax probabilities.
 *
 * Promise: ensemble_combine() takes n rows of k logits from each of m members (member j's rows at
 * logits + j*n*k) and gives, per row, the ensemble's probabilities (the mean over the members, in
 * member order, of each member's softmax probabilities, computed in double as softmax_rows computes
 * them and rounded to float once), the scores metrics_compute() takes as logits, and the prediction
 * (argmax of the scores, lowest index on ties). With one member it is softmax_rows() exactly (the same
 * bytes): scores are the member's logits. With several, scores are the log of the averaged
 * probabilities (a probability that underflows to 0 in double counts as e^-746), so that metrics'
 * softmax of them gives the averaged probabilities back (to float rounding) and its loss is the
 * cross-entropy of the averaged probabilities. Deterministic: fixed summation order. */
#ifndef AUDIOCNN_ENSEMBLE_H
#define AUDIOCNN_ENSEMBLE_H

#include <stdint.h>

/* probs and scores: n*k each (scores may be NULL); pred: n (may be NULL). */
void ensemble_combine(const float *logits, int m, int64_t n, int k, float *probs, float *scores, int64_t *pred);

/* Multi-label members (one sigmoid per class): probs (n*k) = the mean over the m members, in member
 * order, of 1 / (1 + e^-z), computed in double and rounded to float once (one member: the float of the
 * double sigmoid). Deterministic. */
void ensemble_sigmoid(const float *logits, int m, int64_t n, int k, float *probs);

#endif
