/* test_ensemble.c - ensemble_combine(): one member is softmax_rows() byte for byte (probabilities,
 * predictions, its logits as scores); several give the mean of their softmax probabilities (against a
 * double-precision reference), the argmax of the mean, scores whose softmax and cross-entropy are
 * those of the mean, and a zero mean probability as a finite score. */
#include "check.h"
#include "scan/ensemble.h"
#include "train/metrics.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define N 4
#define K 3

int main(void) {
    float logits[3 * N * K];
    for (int i = 0; i < 3 * N * K; i++) logits[i] = (float)sin(1.7 * i + 0.3) * 4.0f; /* 3 members */
    float p1[N * K], s1[N * K], ref[N * K];
    int64_t pr1[N], ref_pred[N];
    ensemble_combine(logits, 1, N, K, p1, s1, pr1);
    softmax_rows(logits, N, K, ref, ref_pred);
    CHECK(memcmp(p1, ref, sizeof ref) == 0 && memcmp(pr1, ref_pred, sizeof ref_pred) == 0 && memcmp(s1, logits, sizeof s1) == 0,
          "one member: softmax_rows's bytes, predictions, its logits as scores");

    float p3[N * K], s3[N * K];
    int64_t pr3[N];
    ensemble_combine(logits, 3, N, K, p3, s3, pr3);
    double worst = 0, worst_s = 0;
    int argmax_ok = 1;
    for (int i = 0; i < N; i++) {
        double mean[K] = {0};
        for (int m = 0; m < 3; m++) {
            const float *z = logits + (m * N + i) * K;
            double mx = fmax(fmax(z[0], z[1]), z[2]), sum = 0;
            for (int c = 0; c < K; c++) sum += exp(z[c] - mx);
            for (int c = 0; c < K; c++) mean[c] += exp(z[c] - mx) / sum / 3;
        }
        int best = 0;
        for (int c = 0; c < K; c++) {
            worst = fmax(worst, fabs(p3[i * K + c] - mean[c]));
            worst_s = fmax(worst_s, fabs(exp(s3[i * K + c]) - mean[c]));
            if (mean[c] > mean[best]) best = c;
        }
        argmax_ok &= pr3[i] == best;
    }
    CHECK(worst < 1e-7, "three members: probabilities = the mean of their softmax probabilities (max diff %.2g)", worst);
    CHECK(worst_s < 1e-6, "three members: exp(score) = the mean probability (max diff %.2g)", worst_s);
    CHECK(argmax_ok, "three members: prediction = argmax of the mean");
    Metrics met;
    int64_t labels[N] = {0, 1, 2, 0};
    double ce = 0;
    for (int i = 0; i < N; i++) ce -= log(p3[i * K + labels[i]]) / N;
    int mrc = metrics_compute(&met, s3, labels, N, K, 1);
    CHECK(mrc == 0 && fabs(met.loss - ce) < 1e-6,
          "metrics on the scores: loss = cross-entropy of the mean probabilities (%.8f vs %.8f)", met.loss, ce);
    metrics_free(&met);

    float far[2 * K] = {0, 0, 1000, 0, 0, 1000}, pf[K], sf[K]; /* class 0: probability 0 in both */
    ensemble_combine(far, 2, 1, K, pf, sf, NULL);
    CHECK(pf[0] == 0 && isfinite(sf[0]) && sf[0] < -700 && fabsf(pf[1] + pf[2] - 1) < 1e-6,
          "a zero mean probability: score finite (%g), the others sum to 1", sf[0]);
    return check_failures ? 1 : 0;
}
