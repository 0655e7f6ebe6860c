#include "resample.h"

#include "error.h"

#include <math.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

struct Resampler {
    soxr_t soxr;
};

Resampler *resampler_new(double in_sr, double out_sr) {
    Resampler *r = calloc(1, sizeof *r);
    if (!r) {
        err_set("out of memory");
        return NULL;
    }
    soxr_error_t e = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    r->soxr = soxr_create(in_sr, out_sr, 1, &e, &io, &q, NULL);
    if (e) {
        err_set("cannot resample %g Hz -> %g Hz: %s", in_sr, out_sr, e);
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
