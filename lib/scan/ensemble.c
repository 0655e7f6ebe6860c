#include "scan/ensemble.h"

#include "train/metrics.h"

#include <math.h>
#include <string.h>

void ensemble_combine(const float *logits, int m, int64_t n, int k, float *probs, float *scores, int64_t *pred) {
    if (m == 1) {
        if (scores) memcpy(scores, logits, sizeof(float) * (size_t)n * (size_t)k);
        softmax_rows(logits, n, k, probs, pred);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float *p = probs + i * k;
        int best = 0;
        double mean[k > 0 ? k : 1];
        for (int c = 0; c < k; c++) mean[c] = 0;
        for (int j = 0; j < m; j++) { /* softmax_rows's arithmetic, kept in double */
            const float *z = logits + ((int64_t)j * n + i) * k;
            int top = 0;
            for (int c = 1; c < k; c++)
                if (z[c] > z[top]) top = c;
            double mx = z[top], sum = 0;
            for (int c = 0; c < k; c++) sum += exp((double)z[c] - mx);
            for (int c = 0; c < k; c++) mean[c] += exp((double)z[c] - mx) / sum;
        }
        float sc[k > 0 ? k : 1];
        for (int c = 0; c < k; c++) {
            mean[c] /= m;
            p[c] = (float)mean[c];
            sc[c] = (float)(mean[c] > 0 ? log(mean[c]) : -746.0);
            if (sc[c] > sc[best]) best = c;
        }
        if (scores) memcpy(scores + i * k, sc, sizeof(float) * (size_t)k);
        if (pred) pred[i] = best;
    }
}

void ensemble_sigmoid(const float *logits, int m, int64_t n, int k, float *probs) {
    int64_t nk = n * k;
    for (int64_t i = 0; i < nk; i++) {
        double sum = 0;
        for (int j = 0; j < m; j++) sum += 1.0 / (1.0 + exp(-(double)logits[(int64_t)j * nk + i]));
        probs[i] = (float)(sum / m);
    }
}
