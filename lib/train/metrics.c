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

/* Opens class c's object of a per_class array: its index and name. */
static void class_begin(JsonWriter *w, int c, const char *const *class_names) {
    char idx[24];
    snprintf(idx, sizeof idx, "%d", c);
    json_object_begin(w);
    json_key(w, "index"); json_int(w, c);
    json_key(w, "name"); json_string(w, class_names ? class_names[c] : idx);
}

/* Two averages as objects names[a]: {keys[0..2]: vals[a][..], "support": support (when >= 0)}. */
static void averages(JsonWriter *w, const char *const names[2], const char *const keys[3], double vals[2][3],
                     int64_t support) {
    for (int a = 0; a < 2; a++) {
        json_key(w, names[a]);
        json_object_begin(w);
        for (int j = 0; j < 3; j++) {
            json_key(w, keys[j]);
            json_number(w, vals[a][j]);
        }
        if (support >= 0) {
            json_key(w, "support");
            json_int(w, support);
        }
        json_object_end(w);
    }
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
        class_begin(w, c, class_names);
        json_key(w, "precision"); json_number(w, m->precision[c]);
        json_key(w, "recall"); json_number(w, m->recall[c]);
        json_key(w, "f1"); json_number(w, m->f1[c]);
        json_key(w, "support"); json_int(w, m->support[c]);
        json_object_end(w);
    }
    json_array_end(w);
    const char *avg_names[2] = {"macro_avg", "weighted_avg"}, *keys[3] = {"precision", "recall", "f1"};
    double vals[2][3] = {{m->macro_p, m->macro_r, m->macro_f1}, {m->weighted_p, m->weighted_r, m->weighted_f1}};
    averages(w, avg_names, keys, vals, m->n);
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

/* ---- multi-label ------------------------------------------------------------------------------ */

typedef struct {
    float s;
    uint8_t t;
} Scored;

static int by_score_desc(const void *a, const void *b) {
    float x = ((const Scored *)a)->s, y = ((const Scored *)b)->s;
    return (x < y) - (x > y);
}

/* The points of a ranking curve: at each distinct score in decreasing order (ties are one threshold),
 * the positives (tp) and negatives (fp) scored at or above it. */
typedef struct {
    float s;
    int64_t tp, fp;
} CurvePoint;

/* The curve of n (score, truth) pairs, element i at [i * stride]: *npts points, *pos positives (the
 * last point's tp). NULL when out of memory. */
static CurvePoint *curve(const float *score, const uint8_t *truth, int64_t n, int64_t stride, int64_t *npts,
                         int64_t *pos) {
    Scored *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    CurvePoint *c = malloc(sizeof *c * (size_t)(n ? n : 1));
    if (!v || !c) {
        free(v);
        free(c);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) v[i] = (Scored){score[i * stride], truth[i * stride]};
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    int64_t tp = 0, fp = 0, k = 0;
    for (int64_t i = 0; i < n; i++) {
        tp += v[i].t;
        fp += !v[i].t;
        if (i + 1 == n || v[i + 1].s != v[i].s) c[k++] = (CurvePoint){v[i].s, tp, fp};
    }
    free(v);
    *npts = k;
    *pos = tp;
    return c;
}

double binary_average_precision(const float *score, const uint8_t *truth, int64_t n, int64_t stride) {
    int64_t k, pos, prev = 0;
    CurvePoint *c = curve(score, truth, n, stride, &k, &pos);
    if (!c) return NAN;
    double ap = 0;
    for (int64_t i = 0; i < k && pos > 0; i++) {
        ap += (double)(c[i].tp - prev) / (double)pos * ((double)c[i].tp / (double)(c[i].tp + c[i].fp));
        prev = c[i].tp;
    }
    free(c);
    return ap;
}

double binary_roc_auc(const float *score, const uint8_t *truth, int64_t n, int64_t stride) {
    int64_t k, pos;
    CurvePoint *c = curve(score, truth, n, stride, &k, &pos);
    if (!c) return NAN;
    double area = NAN;
    if (pos > 0 && pos < n) {
        int64_t twice = 0; /* twice the area in (fp, tp) counts: exact */
        for (int64_t i = 0; i < k; i++)
            twice += (c[i].fp - (i ? c[i - 1].fp : 0)) * (c[i].tp + (i ? c[i - 1].tp : 0));
        area = (double)twice / (2.0 * (double)pos * (double)(n - pos));
    }
    free(c);
    return area;
}

double binary_best_f1(const float *score, const uint8_t *truth, int64_t n, int64_t stride, double *f1) {
    int64_t k, pos;
    CurvePoint *c = curve(score, truth, n, stride, &k, &pos);
    double best = NAN;
    *f1 = 0;
    for (int64_t i = 0; c && pos > 0 && i < k; i++) {
        double f = 2.0 * (double)c[i].tp / (double)(c[i].tp + c[i].fp + pos); /* 2tp / (2tp + fp + fn) */
        if (f >= *f1) { /* >=: on ties the later, lower threshold */
            *f1 = f;
            best = c[i].s;
        }
    }
    free(c);
    return best;
}

void multi_metrics_free(MultiMetrics *m) {
    double **arrays[] = {&m->ap, &m->auc, &m->precision, &m->recall, &m->f1, &m->best_threshold, &m->best_f1};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) free(*arrays[i]);
    free(m->support);
    memset(m, 0, sizeof *m);
}

static double ratio0(int64_t a, int64_t b) { return b ? (double)a / (double)b : 0; }

int multi_metrics_compute(MultiMetrics *m, const float *scores, const uint8_t *truth, int64_t n, int k,
                          double threshold) {
    memset(m, 0, sizeof *m);
    m->k = k;
    m->n = n;
    m->threshold = threshold;
    for (int64_t i = 0; i < n * k; i++) {
        if (truth[i] > 1) {
            err_set("truth %d of sample %lld, class %lld is not 0 or 1", truth[i], (long long)(i / k), (long long)(i % k));
            return -1;
        }
        if (isnan(scores[i])) {
            err_set("the score of sample %lld, class %lld is not a number", (long long)(i / k), (long long)(i % k));
            return -1;
        }
    }
    double **arrays[] = {&m->ap, &m->auc, &m->precision, &m->recall, &m->f1, &m->best_threshold, &m->best_f1};
    int oom = !(m->support = calloc((size_t)k + 1, sizeof(int64_t)));
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) oom |= !(*arrays[i] = calloc((size_t)k + 1, sizeof(double)));
    if (oom) {
        multi_metrics_free(m);
        err_set("out of memory");
        return -1;
    }
    int64_t TP = 0, FP = 0, FN = 0;
    int nauc = 0;
    for (int c = 0; c < k; c++) {
        const float *s = scores + c;
        const uint8_t *t = truth + c;
        int64_t tp = 0, fp = 0, fn = 0;
        for (int64_t i = 0; i < n; i++) {
            int pred = (double)s[i * k] >= threshold;
            tp += pred && t[i * k];
            fp += pred && !t[i * k];
            fn += !pred && t[i * k];
        }
        m->support[c] = tp + fn;
        m->precision[c] = ratio0(tp, tp + fp);
        m->recall[c] = ratio0(tp, tp + fn);
        m->f1[c] = ratio0(2 * tp, 2 * tp + fp + fn);
        m->ap[c] = binary_average_precision(s, t, n, k);
        m->auc[c] = binary_roc_auc(s, t, n, k);
        m->best_threshold[c] = binary_best_f1(s, t, n, k, &m->best_f1[c]);
        m->macro_ap += m->ap[c] / k;
        m->macro_f1 += m->f1[c] / k;
        if (!isnan(m->auc[c])) {
            m->macro_auc += m->auc[c];
            nauc++;
        }
        TP += tp;
        FP += fp;
        FN += fn;
    }
    m->macro_auc = nauc ? m->macro_auc / nauc : NAN;
    m->micro_f1 = ratio0(2 * TP, 2 * TP + FP + FN);
    m->micro_ap = binary_average_precision(scores, truth, n * k, 1);
    m->micro_auc = binary_roc_auc(scores, truth, n * k, 1);
    return 0;
}

void multi_metrics_write_json(JsonWriter *w, const MultiMetrics *m, const char *const *class_names) {
    json_object_begin(w);
    json_key(w, "samples"); json_int(w, m->n);
    json_key(w, "threshold"); json_number(w, m->threshold);
    if (m->has_loss) { json_key(w, "loss"); json_number(w, m->loss); }
    json_key(w, "per_class");
    json_array_begin(w);
    for (int c = 0; c < m->k; c++) {
        class_begin(w, c, class_names);
        json_key(w, "support"); json_int(w, m->support[c]);
        json_key(w, "average_precision"); json_number(w, m->ap[c]);
        json_key(w, "roc_auc"); json_number(w, m->auc[c]);
        json_key(w, "precision"); json_number(w, m->precision[c]);
        json_key(w, "recall"); json_number(w, m->recall[c]);
        json_key(w, "f1"); json_number(w, m->f1[c]);
        json_key(w, "best_threshold"); json_number(w, m->best_threshold[c]);
        json_key(w, "best_f1"); json_number(w, m->best_f1[c]);
        json_object_end(w);
    }
    json_array_end(w);
    const char *avg[2] = {"macro_avg", "micro_avg"}, *keys[3] = {"average_precision", "roc_auc", "f1"};
    double vals[2][3] = {{m->macro_ap, m->macro_auc, m->macro_f1}, {m->micro_ap, m->micro_auc, m->micro_f1}};
    averages(w, avg, keys, vals, -1);
    json_object_end(w);
}
