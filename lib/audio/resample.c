#include "audio/resample.h"

#include "core/error.h"

#include <math.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

struct Resampler {
    soxr_t soxr;
};

/* The one soxr configuration of the toolkit: HQ, float32 in and out (python-soxr's for librosa). */
static soxr_t create_soxr(double in_sr, double out_sr, unsigned channels) {
    soxr_error_t e = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_t s = soxr_create(in_sr, out_sr, channels, &e, &io, &q, NULL);
    if (e || !s) {
        err_set("cannot resample %g Hz -> %g Hz: %s", in_sr, out_sr, e ? e : "out of memory");
        if (s) soxr_delete(s);
        return NULL;
    }
    return s;
}

Resampler *resampler_new(double in_sr, double out_sr) {
    Resampler *r = calloc(1, sizeof *r);
    if (!r) {
        err_set("out of memory");
        return NULL;
    }
    if (!(r->soxr = create_soxr(in_sr, out_sr, 1))) {
        free(r);
        return NULL;
    }
    return r;
}

int64_t resampler_process(Resampler *r, const float *in, int64_t n, float *out, int64_t cap) {
    size_t done = 0;
    soxr_error_t e = soxr_process(r->soxr, in, in ? (size_t)n : 0, NULL, out, (size_t)cap, &done);
    if (e) {
        err_set("resampling failed: %s", e);
        return -1;
    }
    return (int64_t)done;
}

void resampler_free(Resampler *r) {
    if (!r) return;
    soxr_delete(r->soxr);
    free(r);
}

int resample_whole(const float *x, int64_t n, double in_sr, double out_sr, float **y, int64_t *ny) {
    /* librosa: n_samples = int(np.ceil(n * (float(target_sr) / orig_sr))) */
    int64_t want = (int64_t)ceil((double)n * (out_sr / in_sr));
    if (in_sr == out_sr) {
        *y = malloc(sizeof(float) * (size_t)(n ? n : 1));
        if (!*y) { err_set("out of memory"); return -1; }
        memcpy(*y, x, sizeof(float) * (size_t)n);
        *ny = n;
        return 0;
    }
    /* python-soxr divide_proc: olen = ilen * out / in + 1, chunks of 48000 * in / out */
    size_t olen = (size_t)((double)n * out_sr / in_sr + 1);
    size_t chunk = (size_t)(48000 * in_sr / out_sr);
    if (chunk < 1) chunk = 1;
    size_t cap = olen > (size_t)want ? olen : (size_t)want;
    float *out = calloc(cap ? cap : 1, sizeof(float));
    Resampler *r = out ? resampler_new(in_sr, out_sr) : NULL;
    if (!r) {
        if (!out) err_set("out of memory");
        free(out);
        return -1;
    }
    size_t pos = 0;
    for (size_t i = 0; i < (size_t)n; i += chunk) {
        size_t len = (size_t)n - i < chunk ? (size_t)n - i : chunk;
        int64_t got = resampler_process(r, x + i, (int64_t)len, out + pos, (int64_t)(olen - pos));
        if (got < 0) goto fail;
        pos += (size_t)got;
    }
    int64_t got = resampler_process(r, NULL, 0, out + pos, (int64_t)(olen - pos));
    if (got < 0) goto fail;
    pos += (size_t)got;
    resampler_free(r);
    /* fix_length: pad with zeros (calloc) or cut */
    *y = out;
    *ny = want;
    return 0;
fail:
    resampler_free(r);
    free(out);
    return -1;
}

/* ---- several signals at once ---------------------------------------------------------------- */

/* The output length soxr gives a signal of n samples alone, when it can be known without running it:
 * n*out/in rounded to nearest. At an exact tie (fraction .5) soxr's internal arithmetic decides either
 * way, so those signals are resampled alone (returns -1). */
static int64_t lone_length(int64_t n, double in_sr, double out_sr) {
    double v = (double)n * out_sr / in_sr, f = v - floor(v);
    if (fabs(f - 0.5) < 1e-6) return -1;
    return (int64_t)floor(v + 0.5);
}

/* Design cost of one soxr, in input samples' worth of processing (measured with callgrind for
 * 8 kHz -> 22.05 kHz HQ: about 2.2M instructions against 450 per input sample). */
#define DESIGN_COST_SAMPLES 5000.0

static int resample_group(const float *const *x, const int64_t *n, const int *idx, int k, double in_sr, double out_sr,
                          float **y, int64_t *ny) {
    int64_t L = 0;
    for (int j = 0; j < k; j++) L = n[idx[j]] > L ? n[idx[j]] : L;
    size_t chunk = (size_t)(48000 * in_sr / out_sr);
    if (chunk < 1) chunk = 1;
    size_t olen = (size_t)((double)L * out_sr / in_sr + 1);
    float *in = malloc(sizeof(float) * chunk * (size_t)k);
    float *out = malloc(sizeof(float) * olen * (size_t)k);
    soxr_error_t e = NULL;
    soxr_t s = in && out ? create_soxr(in_sr, out_sr, (unsigned)k) : NULL;
    if (!s) {
        if (!in || !out) err_set("out of memory");
        free(in);
        free(out);
        return -1;
    }
    size_t pos = 0, done = 0;
    for (size_t i = 0; i < (size_t)L && !e; i += chunk) {
        size_t len = (size_t)L - i < chunk ? (size_t)L - i : chunk;
        for (size_t t = 0; t < len; t++)
            for (int j = 0; j < k; j++) {
                int64_t src = (int64_t)(i + t);
                in[t * (size_t)k + (size_t)j] = src < n[idx[j]] ? x[idx[j]][src] : 0.0f;
            }
        e = soxr_process(s, in, len, NULL, out + pos * (size_t)k, olen - pos, &done);
        pos += done;
    }
    if (!e) e = soxr_process(s, NULL, 0, NULL, out + pos * (size_t)k, olen - pos, &done);
    pos += done;
    soxr_delete(s);
    free(in);
    if (e) {
        err_set("resampling failed: %s", e);
        free(out);
        return -1;
    }
    for (int j = 0; j < k; j++) {
        int i = idx[j];
        int64_t want = (int64_t)ceil((double)n[i] * (out_sr / in_sr));
        int64_t keep = lone_length(n[i], in_sr, out_sr);
        if (keep > (int64_t)pos) keep = (int64_t)pos;
        if (keep > want) keep = want;
        y[i] = calloc((size_t)(want ? want : 1), sizeof(float));
        if (!y[i]) {
            err_set("out of memory");
            free(out);
            return -1;
        }
        for (int64_t t = 0; t < keep; t++) y[i][t] = out[(size_t)t * (size_t)k + (size_t)j];
        ny[i] = want;
    }
    free(out);
    return 0;
}

static _Thread_local const int64_t *sort_lengths; /* qsort has no context argument in C11 */
static int by_length(const void *a, const void *b) {
    int64_t x = sort_lengths[*(const int *)a], z = sort_lengths[*(const int *)b];
    return x < z ? -1 : x > z ? 1 : *(const int *)a - *(const int *)b;
}

int resample_batch(const float *const *x, const int64_t *n, int count, double in_sr, double out_sr, float **y,
                   int64_t *ny) {
    for (int i = 0; i < count; i++) y[i] = NULL;
    int *order = malloc(sizeof(int) * (size_t)(count ? count : 1));
    double *best = malloc(sizeof(double) * (size_t)(count + 1));
    int *cut = malloc(sizeof(int) * (size_t)(count + 1));
    if (!order || !best || !cut) {
        free(order); free(best); free(cut);
        err_set("out of memory");
        return -1;
    }
    int m = 0, rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        if (in_sr == out_sr || lone_length(n[i], in_sr, out_sr) < 0 || n[i] > (1 << 20))
            rc = resample_whole(x[i], n[i], in_sr, out_sr, &y[i], &ny[i]); /* ties and long signals alone */
        else
            order[m++] = i;
    }
    /* Group the rest by length: sorted, then cut where padding short signals to the longest would cost
     * more than designing another filter (dynamic programming over the sorted lengths). */
    sort_lengths = n;
    qsort(order, (size_t)m, sizeof(int), by_length);
    best[0] = 0;
    for (int b = 1; b <= m; b++) {
        best[b] = INFINITY;
        double sum = 0;
        for (int a = b - 1; a >= 0; a--) { /* group order[a..b-1], longest is order[b-1] */
            sum += (double)n[order[a]];
            double cost = best[a] + DESIGN_COST_SAMPLES + (double)(b - a) * (double)n[order[b - 1]] - sum;
            if (cost < best[b]) { best[b] = cost; cut[b] = a; }
        }
    }
    for (int b = m; b > 0 && rc == 0; b = cut[b])
        rc = resample_group(x, n, order + cut[b], b - cut[b], in_sr, out_sr, y, ny);
    free(order);
    free(best);
    free(cut);
    if (rc < 0)
        for (int i = 0; i < count; i++) { free(y[i]); y[i] = NULL; }
    return rc;
}
