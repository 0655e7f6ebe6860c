#define _DEFAULT_SOURCE /* madvise(MADV_DONTNEED): posix_madvise ignores DONTNEED on Linux */
#include "train/dataset.h"

#include "core/error.h"
#include "core/parallel.h"
#include "formats/manifest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static int check_finite(const Dataset *d) {
    size_t per = (size_t)d->c * d->f * d->t;
    for (int64_t i = 0; i < d->n; i++) {
        const float *s = d->x + (size_t)i * per;
        for (size_t k = 0; k < per; k++)
            if (!isfinite(s[k])) {
                err_set("%s: sample %lld (%s) holds NaN or infinite values", d->name, (long long)i, d->keys[i]);
                return -1;
            }
        dataset_release(d, i);
    }
    return 0;
}

static int make_keys(Dataset *d) {
    d->keys = calloc((size_t)(d->n ? d->n : 1), sizeof(char *));
    if (!d->keys) return -1;
    for (int64_t i = 0; i < d->n; i++) {
        char k[32];
        snprintf(k, sizeof k, "#%lld", (long long)i);
        if (!(d->keys[i] = strdup(k))) return -1;
    }
    return 0;
}

/* Multi-label targets from a 2-D labels array (already converted to float32 or int64). */
static int load_targets(Dataset *d, const Tensor *l, const char *path) {
    int64_t k = l->shape[1];
    if (k < 1 || k > 100000) {
        err_set("%s: multi-label targets of %lld classes", path, (long long)k);
        return -1;
    }
    if (!(d->targets = malloc(sizeof(float) * (size_t)(d->n * k)))) {
        err_set("%s: out of memory", path);
        return -1;
    }
    d->ntargets = (int)k;
    for (int64_t i = 0; i < d->n * k; i++) {
        double v = l->dtype == DT_F32 ? (double)tensor_f32(l)[i] : (double)tensor_i64(l)[i];
        if (!(v >= 0 && v <= 1) || (l->dtype == DT_I64 && v != 0 && v != 1)) {
            err_set("%s: target %g of sample %lld, class %lld is %s", path, v, (long long)(i / k), (long long)(i % k),
                    isnan(v) ? "not a number" : l->dtype == DT_F32 ? "outside [0, 1]" : "not 0 or 1");
            return -1;
        }
        d->targets[i] = (float)v;
    }
    return 0;
}

/* Labels: (N) int64 class indices, or (N, K) multi-label targets. */
static int load_labels(Dataset *d, const char *labels_path, const char *x_path) {
    Tensor l;
    if (!(d->labels_name = strdup(labels_path))) {
        err_set("out of memory");
        return -1;
    }
    if (npy_load(labels_path, NPY_WANT_NATURAL, &l) < 0) return -1;
    int rc = -1;
    char s[160];
    if ((l.ndim != 1 && l.ndim != 2) || l.shape[0] != d->n) {
        err_set("%s: labels of shape %s do not match the %lld samples of %s", labels_path,
                shape_format(l.ndim, l.shape, s, sizeof s), (long long)d->n, x_path);
    } else if (l.ndim == 2) {
        rc = load_targets(d, &l, labels_path);
    } else if (l.dtype != DT_I64) {
        err_set("%s: class indices must be integers (int64), not floats", labels_path);
    } else {
        rc = 0;
        memcpy(d->labels, l.data, sizeof(int64_t) * (size_t)d->n);
        for (int64_t i = 0; i < d->n && rc == 0; i++)
            if (d->labels[i] < -1 || d->labels[i] > 100000) {
                err_set("%s: label %lld of sample %lld is out of range", labels_path, (long long)d->labels[i], (long long)i);
                rc = -1;
            }
    }
    tensor_free(&l);
    return rc;
}

int dataset_open_stack(Dataset *d, const char *x_path, const char *labels_path) {
    memset(d, 0, sizeof *d);
    d->name = strdup(x_path);
    if (npy_map(x_path, &d->map) < 0) goto fail;
    if (d->map.dtype != DT_F32 || d->map.ndim != 4 || d->map.shape[0] < 1 || d->map.shape[1] < 1 ||
        d->map.shape[2] < 1 || d->map.shape[3] < 1 || d->map.shape[1] * d->map.shape[2] * d->map.shape[3] > (1 << 30)) {
        char s[160];
        err_set("%s: expected a float32 stack of shape (N, C, F, T), got %s %s", x_path, dtype_name(d->map.dtype),
                shape_format(d->map.ndim, d->map.shape, s, sizeof s));
        goto fail;
    }
    d->n = d->map.shape[0];
    d->c = (int)d->map.shape[1];
    d->f = (int)d->map.shape[2];
    d->t = (int)d->map.shape[3];
    d->x = d->map.data;
    d->labels = malloc(sizeof(int64_t) * (size_t)d->n);
    if (!d->labels || make_keys(d) < 0) {
        err_set("%s: out of memory", x_path);
        goto fail;
    }
    for (int64_t i = 0; i < d->n; i++) d->labels[i] = -1;
    if (labels_path && load_labels(d, labels_path, x_path) < 0) goto fail;
    if (check_finite(d) < 0) goto fail;
    return 0;
fail:
    dataset_close(d);
    return -1;
}

int dataset_open_manifest(Dataset *d, const char *manifest_path) {
    memset(d, 0, sizeof *d);
    d->name = strdup(manifest_path);
    Manifest m;
    if (manifest_read(manifest_path, &m) < 0) goto fail_nom;
    if (m.n == 0) {
        err_set("%s: no samples", manifest_path);
        goto fail;
    }
    const ManifestRow *r0 = &m.rows[0];
    int nd = r0->ndim;
    if (nd != 3 && nd != 2) {
        err_set("%s: arrays must be (C, F, T) or (F, T) spectrograms", manifest_path);
        goto fail;
    }
    d->n = (int64_t)m.n;
    d->c = nd == 3 ? (int)r0->shape[0] : 1;
    d->f = (int)r0->shape[nd - 2];
    d->t = (int)r0->shape[nd - 1];
    for (size_t i = 0; i < m.n; i++) {
        const ManifestRow *r = &m.rows[i];
        int same = r->ndim == nd;
        for (int k = 0; same && k < nd; k++) same = r->shape[k] == r0->shape[k];
        if (!same) {
            err_set("%s line %zu: '%s' has another shape than the first array (pad or crop with specnorm --frames)",
                    manifest_path, m.tsv.lineno[i], r->key);
            goto fail;
        }
    }
    size_t per = (size_t)d->c * d->f * d->t;
    d->owned = malloc(sizeof(float) * per * (size_t)d->n);
    d->labels = malloc(sizeof(int64_t) * (size_t)d->n);
    d->keys = calloc((size_t)d->n, sizeof(char *));
    if (!d->owned || !d->labels || !d->keys) {
        err_set("%s: out of memory", manifest_path);
        goto fail;
    }
    ManifestArrays it;
    manifest_arrays_open(&it, &m);
    for (size_t i = 0; i < m.n; i++) {
        Tensor t;
        if (manifest_arrays_next(&it, DT_F32, &t) != 1) {
            manifest_arrays_close(&it);
            goto fail;
        }
        memcpy(d->owned + i * per, t.data, sizeof(float) * per);
        tensor_free(&t);
        d->labels[i] = m.rows[i].index;
        d->keys[i] = strdup(m.rows[i].key);
    }
    manifest_arrays_close(&it);
    d->x = d->owned;
    manifest_free(&m);
    if (check_finite(d) < 0) {
        dataset_close(d);
        return -1;
    }
    return 0;
fail:
    manifest_free(&m);
fail_nom:
    dataset_close(d);
    return -1;
}

int dataset_open(Dataset *d, const char *path, const char *labels, int labels_optional) {
    size_t n = strlen(path);
    if (n < 4 || strcmp(path + n - 4, ".npy") != 0) return dataset_open_manifest(d, path);
    if (labels) return dataset_open_stack(d, path, labels_optional && strcmp(labels, "-") == 0 ? NULL : labels);
    char *def = malloc(n + 16);
    if (!def) {
        memset(d, 0, sizeof *d);
        err_set("out of memory");
        return -1;
    }
    memcpy(def, path, n - 4);
    strcpy(def + n - 4, "-labels.npy");
    if (labels_optional && access(def, F_OK) != 0) {
        free(def);
        def = NULL;
    }
    int rc = dataset_open_stack(d, path, def);
    free(def);
    return rc;
}

void dataset_close(Dataset *d) {
    if (d->keys)
        for (int64_t i = 0; i < d->n; i++) free(d->keys[i]);
    free(d->keys);
    free(d->labels);
    free(d->targets);
    free(d->labels_name);
    free(d->owned);
    free(d->name);
    npy_unmap(&d->map);
    memset(d, 0, sizeof *d);
}

int dataset_label_count(const Dataset *d) {
    int64_t top = -1;
    for (int64_t i = 0; i < d->n; i++) top = d->labels[i] > top ? d->labels[i] : top;
    return (int)(top + 1);
}

void dataset_release(const Dataset *d, int64_t i) {
    if (!d->map.base) return;
    /* whole pages inside sample i only: the page cache keeps the file, RSS stays one batch */
    size_t per = sizeof(float) * (size_t)d->c * d->f * d->t, page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)(d->x + (size_t)i * (per / sizeof(float))), hi = lo + per;
    lo = (lo + page - 1) & ~(uintptr_t)(page - 1);
    hi &= ~(uintptr_t)(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* ---- batches ------------------------------------------------------------------------------- */

static int batch_size_at(const Batcher *b, int64_t k) {
    int64_t left = b->d->n - k * b->batch;
    return (int)(left < b->batch ? left : b->batch);
}

/* Gamma(a, 1) by Marsaglia and Tsang (a >= 1), boosted for a < 1; normals by Box-Muller. */
static double gamma_sample(Rng *r, double a) {
    if (a < 1) {
        double u = rng_uniform(r);
        return gamma_sample(r, a + 1) * pow(u > 0 ? u : 1e-300, 1.0 / a);
    }
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x, v;
        do {
            double u1 = rng_uniform(r), u2 = rng_uniform(r);
            x = sqrt(-2 * log(u1 > 0 ? u1 : 1e-300)) * cos(2 * M_PI * u2);
            v = 1 + c * x;
        } while (v <= 0);
        v = v * v * v;
        double u = rng_uniform(r);
        if (u < 1 - 0.0331 * x * x * x * x || log(u > 0 ? u : 1e-300) < 0.5 * x * x + d * (1 - v + log(v))) return d * v;
    }
}

static double beta_sample(Rng *r, double a) {
    double x = gamma_sample(r, a), y = gamma_sample(r, a);
    return x + y > 0 ? x / (x + y) : 0.5;
}

/* The per-sample passes of a batch's preparation, split into up to b->threads ranges of samples of at least
 * b->part_floats floats each (parallel_map): each sample's bytes come from the same operations whoever
 * computes them, so a batch does not depend on the thread count. The random draws stay on the preparing
 * thread, in their order. */
enum { PASS_GATHER, PASS_BLEND };
typedef struct {
    Batcher *b;
    int64_t k;
    int s, n, pass, parts, m;
    float *dst; /* where the samples are gathered: the slot, or with mixup the batch before mixing (b->orig) */
    double lam;
    const uint64_t *perm;
} BatchPass;

static int batch_pass_range(void *ctx, int64_t part) {
    BatchPass *p = ctx;
    Batcher *b = p->b;
    const Dataset *d = b->d;
    size_t per = (size_t)d->c * d->f * d->t;
    int lo = (int)((int64_t)p->n * part / p->parts), hi = (int)((int64_t)p->n * (part + 1) / p->parts);
    int s = p->s;
    if (p->pass == PASS_GATHER) {
        for (int i = lo; i < hi; i++) {
            int64_t j = b->order[p->k * b->batch + i];
            memcpy(p->dst + (size_t)i * per, d->x + (size_t)j * per, sizeof(float) * per);
            dataset_release(d, j);
            b->y[s][i] = d->labels[j];
            b->idx[s][i] = j;
            if (d->targets)
                memcpy(b->t[s] + (size_t)i * d->ntargets, d->targets + (size_t)j * d->ntargets, sizeof(float) * d->ntargets);
        }
    } else { /* mixup: the slot from the batch before mixing */
        double lam = p->lam;
        size_t K = (size_t)d->ntargets;
        for (int i = lo; i < hi; i++) {
            int j = i < p->m ? (int)p->perm[i] : i;
            float *out = b->x[s] + (size_t)i * per;
            const float *xi = b->orig + (size_t)i * per, *xj = b->orig + (size_t)j * per;
            for (size_t q = 0; q < per; q++) out[q] = (float)(lam * xi[q] + (1 - lam) * xj[q]);
            b->y2[s][i] = b->y[s][j];
            for (size_t c = 0; c < K; c++)
                b->t[s][i * K + c] = (float)(lam * b->torig[i * K + c] + (1 - lam) * b->torig[(size_t)j * K + c]);
        }
    }
    return 0;
}
static int batch_pass_done(void *ctx, int64_t part, int rc) { return rc; }

static void batch_pass(BatchPass *p, int pass) {
    p->pass = pass;
    parallel_map(p->parts, p->parts, p->parts, batch_pass_range, batch_pass_done, p);
}

/* Gather batch k into slot s and apply the augmentation seeded by (seed, epoch, k). */
static void prepare(Batcher *b, int64_t k, int s) {
    const Dataset *d = b->d;
    int n = batch_size_at(b, k);
    /* with mixup the samples are gathered (and augmented) straight into the batch before mixing, and the
     * blend writes the slot: no copy of the batch */
    int mixing = b->mixup > 0 && b->orig && n > 1;
    BatchPass p = {.b = b, .k = k, .s = s, .n = n, .dst = mixing ? b->orig : b->x[s]};
    int64_t floats = (int64_t)n * d->c * d->f * d->t, most = floats / (b->part_floats > 0 ? b->part_floats : 1);
    p.parts = b->threads;
    if (p.parts > most) p.parts = (int)most;
    if (p.parts > n) p.parts = n;
    if (p.parts < 1) p.parts = 1;
    batch_pass(&p, PASS_GATHER);
    if (b->augment) {
        Rng r;
        rng_derive(&r, b->seed ^ 0x5eca7a11ULL, (uint64_t)b->epoch * 1000003ULL + (uint64_t)k);
        specaugment_apply(b->augment, p.dst, n, d->c, d->f, d->t, &r);
    }
    b->lam[s] = 1;
    if (mixing) {
        Rng r;
        rng_derive(&r, b->seed ^ 0x313c5ULL, (uint64_t)b->epoch * 1000003ULL + (uint64_t)k);
        double lam = beta_sample(&r, b->mixup);
        uint64_t perm[4096];
        int m = n < 4096 ? n : 4096;
        for (int i = 0; i < m; i++) perm[i] = (uint64_t)i;
        rng_shuffle_size(&r, perm, (uint64_t)m);
        if (d->targets) memcpy(b->torig, b->t[s], sizeof(float) * (size_t)d->ntargets * (size_t)n);
        p.lam = lam, p.perm = perm, p.m = m;
        batch_pass(&p, PASS_BLEND);
        b->lam[s] = lam;
    }
}

double batcher_mixup(const Batcher *b, const int64_t **y2) {
    int s = 1 - b->cur; /* the slot batcher_next handed out last */
    *y2 = b->y2[s];
    return b->lam[s];
}

const float *batcher_targets(const Batcher *b) { return b->d->targets ? b->t[1 - b->cur] : NULL; }

static void *prepare_thread(void *p) {
    Batcher *b = p;
    prepare(b, b->job_k, b->job_slot);
    return NULL;
}

static void launch(Batcher *b, int64_t k, int s) {
    b->job_k = k;
    b->job_slot = s;
    b->running = pthread_create(&b->worker, NULL, prepare_thread, b) == 0;
    if (!b->running) prepare(b, k, s); /* no thread: do it now */
}

static void wait_worker(Batcher *b) {
    if (b->running) pthread_join(b->worker, NULL);
    b->running = 0;
}

int batcher_init(Batcher *b, const Dataset *d, int batch, int shuffle, uint64_t seed, const SpecAugment *augment) {
    memset(b, 0, sizeof *b);
    b->d = d;
    b->batch = batch < 1 ? 1 : batch;
    b->shuffle = shuffle;
    b->seed = seed;
    b->augment = augment;
    b->threads = 1;
    b->part_floats = (int64_t)1 << 20;
    size_t per = (size_t)d->c * d->f * d->t;
    b->order = malloc(sizeof(int64_t) * (size_t)(d->n ? d->n : 1));
    for (int s = 0; s < 2; s++) {
        b->x[s] = malloc(sizeof(float) * per * (size_t)b->batch);
        b->y[s] = malloc(sizeof(int64_t) * (size_t)b->batch);
        b->idx[s] = malloc(sizeof(int64_t) * (size_t)b->batch);
        b->y2[s] = malloc(sizeof(int64_t) * (size_t)b->batch);
        b->t[s] = malloc(sizeof(float) * (size_t)(d->ntargets ? d->ntargets : 1) * (size_t)b->batch);
    }
    b->orig = malloc(sizeof(float) * per * (size_t)b->batch);
    b->torig = malloc(sizeof(float) * (size_t)(d->ntargets ? d->ntargets : 1) * (size_t)b->batch);
    if (!b->order || !b->x[0] || !b->x[1] || !b->y[0] || !b->y[1] || !b->idx[0] || !b->idx[1] || !b->y2[0] ||
        !b->y2[1] || !b->orig || !b->t[0] || !b->t[1] || !b->torig) {
        batcher_free(b);
        err_set("out of memory for batches of %d", batch);
        return -1;
    }
    b->nbatches = (d->n + b->batch - 1) / b->batch;
    return 0;
}

void batcher_use_buffers(Batcher *b, float *x0, float *x1) {
    wait_worker(b);
    if (!b->x_external) free(b->x[0]), free(b->x[1]);
    b->x[0] = x0, b->x[1] = x1;
    b->x_external = 1;
}

void batcher_start_epoch(Batcher *b, int epoch) {
    wait_worker(b);
    b->epoch = epoch;
    for (int64_t i = 0; i < b->d->n; i++) b->order[i] = i;
    if (b->shuffle) {
        Rng r;
        rng_derive(&r, b->seed, (uint64_t)epoch);
        rng_shuffle_size(&r, (uint64_t *)b->order, (uint64_t)b->d->n);
    }
    b->next = 0;
    b->cur = 0;
    if (b->nbatches > 0) launch(b, 0, 0);
}

int batcher_next(Batcher *b, const float **x, const int64_t **y, const int64_t **idx) {
    if (b->next >= b->nbatches) return 0;
    wait_worker(b);
    int s = b->cur;
    int64_t k = b->next++;
    if (b->next < b->nbatches) launch(b, b->next, 1 - s); /* prepare the following one meanwhile */
    b->cur = 1 - s;
    *x = b->x[s];
    *y = b->y[s];
    *idx = b->idx[s];
    return batch_size_at(b, k);
}

void batcher_free(Batcher *b) {
    wait_worker(b);
    free(b->order);
    for (int s = 0; s < 2; s++) {
        if (!b->x_external) free(b->x[s]);
        free(b->y[s]);
        free(b->idx[s]);
        free(b->y2[s]);
        free(b->t[s]);
    }
    free(b->orig);
    free(b->torig);
    memset(b, 0, sizeof *b);
}
