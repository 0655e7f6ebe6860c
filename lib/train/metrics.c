#include "train/metrics.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void softmax_rows(const float *logits, int64_t n, int k, float *probs, int64_t *pred) {
    for (int64_t i = 0; i < n; i++) {
        const float *z = logits + i * k;
        float *p = probs + i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best]) best = j;
        double mx = z[best], sum = 0;
        for (int j = 0; j < k; j++) sum += exp((double)z[j] - mx);
        for (int j = 0; j < k; j++) p[j] = (float)(exp((double)z[j] - mx) / sum);
        if (pred) pred[i] = best;
    }
}

int metrics_compute(Metrics *m, const float *logits, const int64_t *labels, int64_t n, int k, int topk) {
    memset(m, 0, sizeof *m);
    m->k = k;
    m->n = n;
    m->topk = topk < 1 ? 1 : topk > k ? k : topk;
    m->precision = calloc((size_t)k, sizeof(double));
    m->recall = calloc((size_t)k, sizeof(double));
    m->f1 = calloc((size_t)k, sizeof(double));
    m->support = calloc((size_t)k, sizeof(int64_t));
    m->confusion = calloc((size_t)k * (size_t)k, sizeof(int64_t));
    if (!m->precision || !m->recall || !m->f1 || !m->support || !m->confusion) {
        metrics_free(m);
        err_set("out of memory");
        return -1;
    }
    int64_t correct = 0, in_topk = 0;
    double loss = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t y = labels[i];
        if (y < 0 || y >= k) {
            err_set("label %lld of sample %lld is outside the %d classes", (long long)y, (long long)i, k);
            metrics_free(m);
            return -1;
        }
        const float *z = logits + i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best]) best = j;
        double mx = z[best], sum = 0;
        for (int j = 0; j < k; j++) sum += exp((double)z[j] - mx);
        loss += -((double)z[y] - mx - log(sum));
        correct += best == y;
        m->confusion[y * k + best]++;
        int above = 0; /* classes scored strictly higher than the true one, or equal with a lower index */
        for (int j = 0; j < k; j++) above += z[j] > z[y] || (z[j] == z[y] && j < y);
        in_topk += above < m->topk;
    }
    m->accuracy = n ? (double)correct / (double)n : 0;
    m->loss = n ? loss / (double)n : 0;
    m->topk_accuracy = n ? (double)in_topk / (double)n : 0;
    int64_t total = 0;
    for (int c = 0; c < k; c++) {
        int64_t tp = m->confusion[c * k + c], predicted = 0, actual = 0;
        for (int j = 0; j < k; j++) {
            predicted += m->confusion[j * k + c];
            actual += m->confusion[c * k + j];
        }
        m->support[c] = actual;
        m->precision[c] = predicted ? (double)tp / (double)predicted : 0;
        m->recall[c] = actual ? (double)tp / (double)actual : 0;
        double pr = m->precision[c] + m->recall[c];
        m->f1[c] = pr > 0 ? 2 * m->precision[c] * m->recall[c] / pr : 0;
        m->macro_p += m->precision[c] / k;
        m->macro_r += m->recall[c] / k;
        m->macro_f1 += m->f1[c] / k;
        m->weighted_p += m->precision[c] * (double)actual;
        m->weighted_r += m->recall[c] * (double)actual;
        m->weighted_f1 += m->f1[c] * (double)actual;
        total += actual;
    }
    if (total) {
        m->weighted_p /= (double)total;
        m->weighted_r /= (double)total;
        m->weighted_f1 /= (double)total;
    }
    return 0;
}

void metrics_free(Metrics *m) {
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

void metrics_write_json(JsonWriter *w, const Metrics *m, const char *const *class_names) {
    json_object_begin(w);
    json_key(w, "samples"); json_int(w, m->n);
    json_key(w, "accuracy"); json_number(w, m->accuracy);
    json_key(w, "loss"); json_number(w, m->loss);
    char key[32];
    snprintf(key, sizeof key, "top%d_accuracy", m->topk);
    json_key(w, key); json_number(w, m->topk_accuracy);
    json_key(w, "per_class");
    json_array_begin(w);
    for (int c = 0; c < m->k; c++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%d", c);
        json_object_begin(w);
        json_key(w, "index"); json_int(w, c);
        json_key(w, "name"); json_string(w, class_names ? class_names[c] : idx);
        json_key(w, "precision"); json_number(w, m->precision[c]);
        json_key(w, "recall"); json_number(w, m->recall[c]);
        json_key(w, "f1"); json_number(w, m->f1[c]);
        json_key(w, "support"); json_int(w, m->support[c]);
        json_object_end(w);
    }
    json_array_end(w);
    const char *avg_names[2] = {"macro_avg", "weighted_avg"};
    double vals[2][3] = {{m->macro_p, m->macro_r, m->macro_f1}, {m->weighted_p, m->weighted_r, m->weighted_f1}};
    for (int a = 0; a < 2; a++) {
        json_key(w, avg_names[a]);
        json_object_begin(w);
        json_key(w, "precision"); json_number(w, vals[a][0]);
        json_key(w, "recall"); json_number(w, vals[a][1]);
        json_key(w, "f1"); json_number(w, vals[a][2]);
        json_key(w, "support"); json_int(w, m->n);
        json_object_end(w);
    }
    json_key(w, "confusion_matrix");
    json_array_begin(w);
    for (int r = 0; r < m->k; r++) {
        json_array_begin(w);
        for (int c = 0; c < m->k; c++) json_int(w, m->confusion[r * m->k + c]);
        json_array_end(w);
    }
    json_array_end(w);
    json_object_end(w);
}
