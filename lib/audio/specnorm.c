#define _POSIX_C_SOURCE 200809L
#include "audio/specnorm.h"

#include "core/clones.h"
#include "core/error.h"
#include "core/ordered_sum.h"
#include "formats/npy.h"
#include "formats/outfile.h"
#include "core/strlist.h"
#include "core/progress.h"
#include "core/rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- options ----------------------------------------------------------------------------------- */

void specnorm_config_default(SpecnormConfig *c) {
    memset(c, 0, sizeof *c);
    c->mode = SPECNORM_SAMPLE;
    c->frames = SPECNORM_DEFAULT_FRAMES;
    c->crop = SPECNORM_CROP_CENTRE;
    c->pad = SPECNORM_PAD_ZERO;
    c->seed = SPECNORM_DEFAULT_SEED;
}

int specnorm_mode_parse(const char *s, SpecnormMode *m) {
    static const char *names[] = {"sample", "minmax", "stats", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) { *m = (SpecnormMode)i; return 0; }
    err_set("unknown mode '%s' (expected sample, minmax, stats or none)", s);
    return -1;
}

int specnorm_crop_parse(const char *s, SpecnormCrop *c) {
    if (strcmp(s, "centre") == 0 || strcmp(s, "center") == 0) *c = SPECNORM_CROP_CENTRE;
    else if (strcmp(s, "start") == 0) *c = SPECNORM_CROP_START;
    else if (strcmp(s, "random") == 0) *c = SPECNORM_CROP_RANDOM;
    else {
        err_set("unknown crop '%s' (expected start, centre or random)", s);
        return -1;
    }
    return 0;
}

int specnorm_pad_parse(const char *s, SpecnormPad *p) {
    if (strcmp(s, "zero") == 0) *p = SPECNORM_PAD_ZERO;
    else if (strcmp(s, "edge") == 0) *p = SPECNORM_PAD_EDGE;
    else {
        err_set("unknown pad '%s' (expected zero or edge)", s);
        return -1;
    }
    return 0;
}

const char *specnorm_mode_name(SpecnormMode m) {
    return m == SPECNORM_SAMPLE ? "sample" : m == SPECNORM_MINMAX ? "minmax" : m == SPECNORM_STATS ? "stats" : "none";
}
const char *specnorm_crop_name(SpecnormCrop c) {
    return c == SPECNORM_CROP_START ? "start" : c == SPECNORM_CROP_RANDOM ? "random" : "centre";
}
const char *specnorm_pad_name(SpecnormPad p) { return p == SPECNORM_PAD_EDGE ? "edge" : "zero"; }

/* ---- stats files ------------------------------------------------------------------------------- */

int specnorm_stats_load(const char *path, SpecnormStats *s) {
    memset(s, 0, sizeof *s);
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    Tensor t;
    if (npy_load(path, NPY_WANT_NATURAL, &t) < 0) return -1;
    char sh[160];
    if (t.dtype != DT_F32) {
        err_set("%s: not a statistics file: integer array, expected float32 (2, F) as --fit writes", name);
        tensor_free(&t);
        return -1;
    }
    if (t.ndim != 2 || t.shape[0] != 2 || t.shape[1] < 1) {
        err_set("%s: not a statistics file: shape %s, expected (2, F) as --fit writes", name,
                t.ndim ? shape_format(t.ndim, t.shape, sh, sizeof sh) : "()");
        tensor_free(&t);
        return -1;
    }
    return specnorm_stats_adopt(s, &t, name);
}

int specnorm_stats_adopt(SpecnormStats *s, Tensor *t, const char *name) {
    memset(s, 0, sizeof *s);
    int64_t f = t->shape[1];
    const float *d = tensor_f32(t);
    for (int64_t i = 0; i < f; i++) {
        if (!isfinite(d[i])) {
            err_set("%s: mean of band %lld is not finite", name, (long long)i);
            goto fail;
        }
        if (!isfinite(d[f + i]) || d[f + i] < 0) {
            err_set("%s: std of band %lld is negative or not finite", name, (long long)i);
            goto fail;
        }
    }
    s->name = strdup(name);
    if (!s->name) {
        err_set("out of memory");
        goto fail;
    }
    s->t = *t;
    s->f = f;
    s->mean = tensor_f32(&s->t);
    s->std = s->mean + f;
    return 0;
fail:
    tensor_free(t);
    return -1;
}

void specnorm_stats_free(SpecnormStats *s) {
    tensor_free(&s->t);
    free(s->name);
    memset(s, 0, sizeof *s);
}

/* ---- one array --------------------------------------------------------------------------------- */

static const char *shape_text(int ndim, const int64_t *shape, char *buf, size_t cap) {
    if (ndim == 0) {
        snprintf(buf, cap, "() (a scalar)");
        return buf;
    }
    return shape_format(ndim, shape, buf, cap);
}

int specnorm_check_shape(int ndim, const int64_t *shape, const char *what) {
    char sh[160];
    if (ndim != 2 && ndim != 3) {
        err_set("%s: expected a (1, F, T) or (F, T) spectrogram, got shape %s", what,
                shape_text(ndim, shape, sh, sizeof sh));
        return -1;
    }
    if (ndim == 3 && shape[0] != 1) {
        err_set("%s: expected one channel (1, F, T), got shape %s", what, shape_text(ndim, shape, sh, sizeof sh));
        return -1;
    }
    if (shape[ndim - 2] == 0) {
        err_set("%s: no mel bands (shape %s)", what, shape_text(ndim, shape, sh, sizeof sh));
        return -1;
    }
    if (shape[ndim - 1] == 0) {
        err_set("%s: empty spectrogram (0 frames, shape %s)", what, shape_text(ndim, shape, sh, sizeof sh));
        return -1;
    }
    return 0;
}

int specnorm_check(Tensor *t, const char *what) {
    if (specnorm_check_shape(t->ndim, t->shape, what) < 0) return -1;
    if (t->dtype != DT_F32) {
        err_set("%s: expected a float32 array, got %s", what, dtype_name(t->dtype));
        return -1;
    }
    if (t->ndim == 2) {
        t->shape[2] = t->shape[1];
        t->shape[1] = t->shape[0];
        t->shape[0] = 1;
        t->ndim = 3;
    }
    int64_t f = t->shape[1], n = t->shape[2];
    const float *x = tensor_f32(t);
    for (int64_t i = 0; i < f * n; i++)
        if (!isfinite(x[i])) {
            err_set("%s: %s value at band %lld, frame %lld", what, isnan(x[i]) ? "NaN" : "infinite",
                    (long long)(i / n), (long long)(i % n));
            return -1;
        }
    return 0;
}

/* A window's statistics 8 lanes wide (core/ordered_sum.h) instead of one serial chain each. */
static double sample_mean(const float *x, int64_t n) { return ordered_sum_f64(x, n) / (double)n; }

CPU_CLONES static void standardise(float *x, int64_t n, double mean, double den) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)((x[i] - mean) / den);
}

int specnorm_normalise(const SpecnormConfig *c, Tensor *t, const char *what) {
    int64_t f = t->shape[1], n = t->shape[2], total = f * n;
    float *x = tensor_f32(t);
    switch (c->mode) {
    case SPECNORM_SAMPLE: {
        double mean = sample_mean(x, total);
        double den = sqrt(ordered_sum_sq_dev_f64(x, total, mean) / (double)total) + SPECNORM_EPS;
        standardise(x, total, mean, den);
        break;
    }
    case SPECNORM_MINMAX: {
        float lo = x[0], hi = x[0];
        for (int64_t i = 1; i < total; i++) {
            if (x[i] < lo) lo = x[i];
            if (x[i] > hi) hi = x[i];
        }
        double range = (double)hi - (double)lo;
        for (int64_t i = 0; i < total; i++) x[i] = range > 0 ? (float)((x[i] - (double)lo) / range) : 0.0f;
        break;
    }
    case SPECNORM_STATS: {
        const SpecnormStats *s = c->stats;
        if (!s || s->f != f) {
            err_set("%s: has %lld mel bands but the statistics in %s have %lld", what, (long long)f,
                    s ? s->name : "(none)", s ? (long long)s->f : 0LL);
            return -1;
        }
        for (int64_t b = 0; b < f; b++) {
            double mean = s->mean[b], den = (double)s->std[b] + SPECNORM_EPS;
            float *row = x + b * n;
            for (int64_t i = 0; i < n; i++) {
                row[i] = (float)((row[i] - mean) / den);
                if (!isfinite(row[i])) {
                    err_set("%s: value at band %lld, frame %lld is out of float32 range after normalisation "
                            "(std %g in %s)", what, (long long)b, (long long)i, (double)s->std[b], s->name);
                    return -1;
                }
            }
        }
        break;
    }
    case SPECNORM_NONE:
        break;
    }
    return 0;
}

int64_t specnorm_out_frames(const SpecnormConfig *c, int64_t t) { return c->frames > 0 ? c->frames : t; }

int64_t specnorm_crop_offset(const SpecnormConfig *c, int64_t t, const char *key) {
    if (c->frames <= 0 || t <= c->frames) return 0;
    int64_t spare = t - c->frames;
    switch (c->crop) {
    case SPECNORM_CROP_START: return 0;
    case SPECNORM_CROP_CENTRE: return spare / 2;
    case SPECNORM_CROP_RANDOM: {
        Rng r;
        rng_derive(&r, c->seed, hash_string(key ? key : ""));
        return (int64_t)rng_below(&r, (uint64_t)spare + 1);
    }
    }
    return 0;
}

void specnorm_pad_crop(const SpecnormConfig *c, const Tensor *t, const char *key, float *out) {
    int64_t f = t->shape[1], n = t->shape[2], m = specnorm_out_frames(c, n);
    int64_t off = specnorm_crop_offset(c, n, key);
    int64_t keep = n - off < m ? n - off : m;
    const float *x = tensor_f32(t);
    for (int64_t b = 0; b < f; b++) {
        const float *src = x + b * n + off;
        float *dst = out + b * m;
        memcpy(dst, src, (size_t)keep * sizeof *dst);
        float fill = c->pad == SPECNORM_PAD_EDGE ? src[keep - 1] : 0.0f;
        for (int64_t i = keep; i < m; i++) dst[i] = fill;
    }
}

int specnorm_process(const SpecnormConfig *c, Tensor *in, const char *key, const char *what, Tensor *out) {
    memset(out, 0, sizeof *out);
    if (specnorm_check(in, what) < 0 || specnorm_normalise(c, in, what) < 0) return -1;
    int64_t shape[3] = {1, in->shape[1], specnorm_out_frames(c, in->shape[2])};
    if (tensor_alloc(out, DT_F32, 3, shape) < 0) {
        err_prefix(what);
        return -1;
    }
    specnorm_pad_crop(c, in, key, tensor_f32(out));
    return 0;
}

/* ---- dataset statistics ------------------------------------------------------------------------ */

void specnorm_accum_init(SpecnormAccum *a) { memset(a, 0, sizeof *a); }

void specnorm_accum_free(SpecnormAccum *a) {
    free(a->mean);
    free(a->m2);
    memset(a, 0, sizeof *a);
}

int specnorm_accum_add(SpecnormAccum *a, const Tensor *t, const char *what) {
    int64_t f = t->shape[1], n = t->shape[2];
    if (a->f == 0) {
        a->mean = calloc((size_t)f, sizeof *a->mean);
        a->m2 = calloc((size_t)f, sizeof *a->m2);
        if (!a->mean || !a->m2) {
            err_set("out of memory");
            return -1;
        }
        a->f = f;
    } else if (a->f != f) {
        err_set("%s: has %lld mel bands but earlier arrays have %lld", what, (long long)f, (long long)a->f);
        return -1;
    }
    const float *x = tensor_f32(t);
    double na = (double)a->n, nb = (double)n, nt = na + nb;
    for (int64_t b = 0; b < f; b++) {
        const float *row = x + b * n;
        double sum = 0, ss = 0;
        for (int64_t i = 0; i < n; i++) sum += row[i];
        double mb = sum / nb;
        for (int64_t i = 0; i < n; i++) {
            double d = row[i] - mb;
            ss += d * d;
        }
        /* Chan et al.: merge (na, mean, m2) with (nb, mb, ss) */
        double delta = mb - a->mean[b];
        a->mean[b] += delta * (nb / nt);
        a->m2[b] += ss + delta * delta * (na * nb / nt);
    }
    a->n += n;
    return 0;
}

int specnorm_accum_result(const SpecnormAccum *a, Tensor *out) {
    if (a->n == 0) {
        err_set("no arrays to compute statistics from");
        return -1;
    }
    int64_t shape[2] = {2, a->f};
    if (tensor_alloc(out, DT_F32, 2, shape) < 0) return -1;
    float *d = tensor_f32(out);
    for (int64_t b = 0; b < a->f; b++) {
        d[b] = (float)a->mean[b];
        d[a->f + b] = (float)sqrt(a->m2[b] / (double)a->n);
    }
    return 0;
}

/* ---- helpers for the drivers ------------------------------------------------------------------- */

/* The .npy header numpy.save writes for (dt, shape), without data: the stacked output is streamed row
 * by row after it. Same bytes as npy_write() (lib/formats/npy.c) would write for such a tensor; the Python
 * tests compare the stack with numpy.save byte for byte. */
static const char *disp(const char *path) { return strcmp(path, "-") == 0 ? "<stdin>" : path; }
static const char *disp_out(const char *path) { return strcmp(path, "-") == 0 ? "<stdout>" : path; }

/* "FILE (key 'K')" for messages about manifest rows. */
static void row_what(char *buf, size_t cap, const ManifestRow *r) {
    snprintf(buf, cap, "%s (key '%s')", disp(r->npy), r->key);
}

/* "MANIFEST line L (key 'K')" for messages about what a row says. */
static void line_what(char *buf, size_t cap, const Manifest *m, size_t i) {
    snprintf(buf, cap, "%s line %zu (key '%s')", m->tsv.name, m->tsv.lineno[i], m->rows[i].key);
}

/* Shape checks on the manifest alone, before any array is read or any output written: each row a
 * spectrogram; F equal across rows when `same_f`; T equal when `same_t`; F matching the stats. */
static int preflight(const SpecnormConfig *c, const Manifest *m, int same_f, int same_t) {
    if (m->n == 0) {
        err_set("%s: no rows", m->tsv.name);
        return -1;
    }
    char what[1200];
    int64_t f0 = 0, t0 = 0;
    for (size_t i = 0; i < m->n; i++) {
        const ManifestRow *r = &m->rows[i];
        line_what(what, sizeof what, m, i);
        if (specnorm_check_shape(r->ndim, r->shape, what) < 0) return -1;
        int64_t f = r->shape[r->ndim - 2], t = r->shape[r->ndim - 1];
        if (c && c->mode == SPECNORM_STATS && c->stats && f != c->stats->f) {
            err_set("%s: has %lld mel bands but the statistics in %s have %lld", what, (long long)f, c->stats->name,
                    (long long)c->stats->f);
            return -1;
        }
        if (i == 0) { f0 = f; t0 = t; continue; }
        if (same_f && f != f0) {
            err_set("%s: has %lld mel bands but line %zu has %lld (all arrays need the same number)", what,
                    (long long)f, m->tsv.lineno[0], (long long)f0);
            return -1;
        }
        if (same_t && t != t0) {
            err_set("%s: has %lld frames but line %zu has %lld (stacking with --frames 0 needs equal lengths)",
                    what, (long long)t, m->tsv.lineno[0], (long long)t0);
            return -1;
        }
    }
    return 0;
}

static char *path_join(const char *dir, const char *key, const char *ext) {
    if (!dir[0]) dir = ".";
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    size_t n = dl + 1 + strlen(key) + strlen(ext) + 1;
    char *p = malloc(n);
    if (!p) {
        err_set("out of memory");
        return NULL;
    }
    snprintf(p, n, "%.*s%s%s%s", (int)dl, dir, dir[dl - 1] == '/' ? "" : "/", key, ext);
    return p;
}

/* mkdir_p callback: remember each directory this run creates, for the rollback. */
static int remember_dir(const char *path, void *ctx) {
    return strlist_push(ctx, strdup(path));
}

static int key_is_filename(const char *k) {
    return k[0] && strcmp(k, ".") != 0 && strcmp(k, "..") != 0 && !strchr(k, '/');
}

static const Manifest *sort_m; /* qsort has no context argument */
static int cmp_key(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(sort_m->rows[i].key, sort_m->rows[j].key);
    return c ? c : (i < j ? -1 : i > j);
}

/* Keys must be unique and usable as file names. */
static int check_keys(const Manifest *m) {
    for (size_t i = 0; i < m->n; i++)
        if (!key_is_filename(m->rows[i].key)) {
            err_set("%s line %zu: key '%s' cannot be used as a file name", m->tsv.name, m->tsv.lineno[i],
                    m->rows[i].key);
            return -1;
        }
    size_t *ix = malloc(m->n * sizeof *ix);
    if (!ix) {
        err_set("out of memory");
        return -1;
    }
    for (size_t i = 0; i < m->n; i++) ix[i] = i;
    sort_m = m;
    qsort(ix, m->n, sizeof *ix, cmp_key);
    for (size_t i = 1; i < m->n; i++)
        if (strcmp(m->rows[ix[i]].key, m->rows[ix[i - 1]].key) == 0) {
            err_set("%s line %zu: duplicate key '%s' (also on line %zu)", m->tsv.name, m->tsv.lineno[ix[i]],
                    m->rows[ix[i]].key, m->tsv.lineno[ix[i - 1]]);
            free(ix);
            return -1;
        }
    free(ix);
    return 0;
}

typedef struct FileId {
    dev_t dev;
    ino_t ino;
} FileId;

static int cmp_fileid(const void *a, const void *b) {
    const FileId *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* An output that is one of the inputs would be read after being replaced, and removed on rollback. */
static int check_not_inputs(const Manifest *m, const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0) return 0; /* no directory yet: nothing in it can be an input */
    FileId *ids = malloc(m->n * sizeof *ids);
    if (!ids) {
        err_set("out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++) {
        if ((i > 0 && strcmp(m->rows[i].npy, m->rows[i - 1].npy) == 0) || strcmp(m->rows[i].npy, "-") == 0) continue;
        if (stat(m->rows[i].npy, &st) == 0) ids[n++] = (FileId){st.st_dev, st.st_ino};
    }
    qsort(ids, n, sizeof *ids, cmp_fileid);
    int rc = 0;
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        char *p = path_join(dir, m->rows[i].key, ".npy");
        if (!p) { rc = -1; break; }
        if (stat(p, &st) == 0) {
            FileId id = {st.st_dev, st.st_ino};
            if (bsearch(&id, ids, n, sizeof *ids, cmp_fileid)) {
                err_set("%s: output for key '%s' is one of the input files; choose another output directory", p,
                        m->rows[i].key);
                rc = -1;
            }
        }
        free(p);
    }
    free(ids);
    return rc;
}

/* ---- drivers ----------------------------------------------------------------------------------- */

static void report_add(SpecnormReport *rep, const SpecnormConfig *c, const Tensor *out, int64_t in_frames) {
    rep->arrays++;
    if (c->frames > 0 && in_frames > c->frames) rep->cropped++;
    if (c->frames > 0 && in_frames < c->frames) rep->padded++;
    rep->f = out->shape[1];
    rep->frames = out->shape[2];
}

int specnorm_stream(const SpecnormConfig *c, const char *in, const char *out, SpecnormReport *rep) {
    memset(rep, 0, sizeof *rep);
    int is_stdin = strcmp(in, "-") == 0;
    const char *name = disp(in);
    FILE *f = is_stdin ? stdin : fopen(in, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", in, strerror(errno));
        return -1;
    }
    OutFile o;
    if (outfile_open(&o, out) < 0) {
        if (!is_stdin) fclose(f);
        return -1;
    }
    int rc = -1;
    for (int64_t i = 0;; i++) {
        Tensor t, y;
        int r = npy_read(f, name, DT_F32, &t);
        if (r < 0) goto done;
        if (r == 0) {
            if (i == 0) {
                err_set("%s: empty input (no .npy array)", name);
                goto done;
            }
            break;
        }
        char key[32], what[1100];
        snprintf(key, sizeof key, "%lld", (long long)i);
        snprintf(what, sizeof what, "%s (array %lld)", name, (long long)i);
        if (specnorm_process(c, &t, key, what, &y) < 0) {
            tensor_free(&t);
            goto done;
        }
        int64_t tin = t.shape[2]; /* specnorm_check made it (1, F, T) */
        tensor_free(&t);
        if (npy_write(o.f, &y) < 0) {
            err_prefix(disp_out(out));
            tensor_free(&y);
            goto done;
        }
        report_add(rep, c, &y, tin);
        tensor_free(&y);
    }
    rc = 0;
done:
    if (!is_stdin) fclose(f);
    if (rc == 0) return outfile_commit(&o);
    outfile_abort(&o);
    return -1;
}

/* The next array of a manifest walk, normalised and padded/cropped into *y; *tin is its input length. */
static int next_processed(const SpecnormConfig *c, ManifestArrays *it, const ManifestRow *r, Tensor *y, int64_t *tin) {
    Tensor t;
    if (manifest_arrays_next(it, DT_F32, &t) != 1) return -1;
    char what[1200];
    row_what(what, sizeof what, r);
    *tin = t.shape[t.ndim - 1];
    int rc = specnorm_process(c, &t, r->key, what, y);
    tensor_free(&t);
    return rc < 0 ? -1 : 0;
}

static int write_out_row(FILE *f, const ManifestRow *r, const char *npy, const Tensor *y) {
    ManifestRow o = *r;
    o.npy = npy;
    o.ndim = 3;
    o.shape[0] = 1;
    o.shape[1] = y->shape[1];
    o.shape[2] = y->shape[2];
    return manifest_write_row(f, &o);
}

int specnorm_to_dir(const SpecnormConfig *c, const Manifest *m, const char *dir, const char *out_manifest,
                    int verbosity, SpecnormReport *rep) {
    memset(rep, 0, sizeof *rep);
    if (preflight(c, m, 0, 0) < 0 || check_keys(m) < 0 || check_not_inputs(m, dir) < 0) return -1;
    OutFile om = {0};
    om.slot = -1;
    int have_om = 0;
    StrList created = {0}, written = {0};
    ManifestArrays it;
    manifest_arrays_open(&it, m);
    Progress *p = NULL;
    int rc = -1;
    written.v = malloc(m->n * sizeof *written.v);
    if (!written.v) {
        err_set("out of memory");
        goto done;
    }
    written.cap = m->n;
    if (mkdir_p(dir, remember_dir, &created) < 0) goto done;
    if (out_manifest) { /* opened after DIR exists: it may live inside DIR */
        if (outfile_open(&om, out_manifest) < 0) goto done;
        have_om = 1;
        if (manifest_write_header(om.f) < 0) {
            err_set("%s: write error: %s", disp_out(out_manifest), strerror(errno));
            goto done;
        }
    }
    p = progress_start("normalising", (int64_t)m->n, "arrays", verbosity);
    for (size_t i = 0; i < m->n; i++) {
        Tensor y;
        int64_t tin;
        const ManifestRow *r = &m->rows[i];
        if (next_processed(c, &it, r, &y, &tin) < 0) goto done;
        char *path = path_join(dir, r->key, ".npy");
        if (!path) {
            tensor_free(&y);
            goto done;
        }
        if (npy_save(path, &y) < 0) {
            free(path);
            tensor_free(&y);
            goto done;
        }
        written.v[written.n++] = path; /* room reserved below */
        if (have_om && write_out_row(om.f, r, path, &y) < 0) {
            err_prefix(disp_out(out_manifest));
            tensor_free(&y);
            goto done;
        }
        report_add(rep, c, &y, tin);
        tensor_free(&y);
        progress_add(p, 1);
    }
    if (have_om) {
        have_om = 0;
        if (outfile_commit(&om) < 0) goto done;
    }
    rc = 0;
done:
    progress_finish(p);
    manifest_arrays_close(&it);
    if (have_om) outfile_abort(&om);
    if (rc < 0) { /* roll back: what this run wrote, then the directories it created (innermost first) */
        for (size_t i = 0; i < written.n; i++) outfile_remove(written.v[i]);
        for (size_t i = created.n; i-- > 0;) rmdir(created.v[i]);
    }
    strlist_free(&written);
    strlist_free(&created);
    return rc;
}

/* numpy.save's header of a uint8 ('|u1') array, as npy_write_header writes the others */
static int write_u8_header(FILE *f, int ndim, const int64_t *shape) {
    char dict[512];
    size_t n = 0;
    n += (size_t)snprintf(dict + n, sizeof dict - n, "{'descr': '|u1', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        n += (size_t)snprintf(dict + n, sizeof dict - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
    char first[32];
    int w = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
    for (int k = w; k < 21; k++) dict[n++] = ' ';
    size_t hlen = n + 1, pad = 64 - ((10 + hlen) % 64), total = hlen + pad;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(total & 0xff), (unsigned char)(total >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(dict, 1, n, f) != n) return -1;
    for (size_t k = 0; k < pad; k++)
        if (fputc(' ', f) == EOF) return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

/* The (N, K) 0/1 targets from the manifest's class columns (checked), or NULL with err_set(). */
static unsigned char *read_targets(const Manifest *m, const char *const *classes, int K) {
    int *col = calloc((size_t)K, sizeof *col);
    unsigned char *y = malloc(m->n * (size_t)K + 1);
    if (!col || !y) {
        err_set("%s: out of memory", m->tsv.name);
        goto fail;
    }
    for (int k = 0; k < K; k++)
        if ((col[k] = tsv_col(&m->tsv, classes[k])) < 0) {
            err_set("%s: no column for class '%s' (a windows manifest has one 0/1 column per class)", m->tsv.name, classes[k]);
            goto fail;
        }
    for (size_t i = 0; i < m->n; i++)
        for (int k = 0; k < K; k++) {
            const char *v = m->tsv.rows[i][col[k]];
            if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
                err_set("%s: line %zu: class '%s' is '%s', not 0 or 1", m->tsv.name, m->tsv.lineno[i], classes[k], v);
                goto fail;
            }
            y[i * (size_t)K + (size_t)k] = v[0] == '1';
        }
    free(col);
    return y;
fail:
    free(col);
    free(y);
    return NULL;
}

int specnorm_to_stack(const SpecnormConfig *c, const Manifest *m, const char *stack, const char *labels,
                      const char *out_manifest, int verbosity, SpecnormReport *rep) {
    return specnorm_to_stack_targets(c, m, stack, labels, NULL, 0, out_manifest, verbosity, rep);
}

int specnorm_to_stack_targets(const SpecnormConfig *c, const Manifest *m, const char *stack, const char *labels,
                              const char *const *classes, int K, const char *out_manifest, int verbosity,
                              SpecnormReport *rep) {
    memset(rep, 0, sizeof *rep);
    if (preflight(c, m, 1, c->frames == 0) < 0) return -1;
    unsigned char *targets = NULL;
    if (labels && K > 0 && !(targets = read_targets(m, classes, K))) return -1;
    if (labels && K == 0)
        for (size_t i = 0; i < m->n; i++)
            if (m->rows[i].index < 0) {
                char what[1200];
                line_what(what, sizeof what, m, i);
                err_set("%s: no class index (-1); labels need every row labelled", what);
                return -1;
            }
    const ManifestRow *r0 = &m->rows[0];
    int64_t f = r0->shape[r0->ndim - 2], frames = specnorm_out_frames(c, r0->shape[r0->ndim - 1]);
    int64_t n = (int64_t)m->n;
    int64_t shape[4] = {n, 1, f, frames}, numel;
    if (shape_numel_checked(4, shape, INT64_MAX / 8, &numel) < 0) {
        err_set("%s: stacked shape too large", disp_out(stack));
        free(targets);
        return -1;
    }
    OutFile os = {0}, ol = {0}, om = {0};
    int have_s = 0, have_l = 0, have_m = 0, rc = -1;
    Tensor lab = {0};
    ManifestArrays it;
    manifest_arrays_open(&it, m);
    Progress *p = NULL;
    if (outfile_open(&os, stack) < 0) goto done;
    have_s = 1;
    if (labels) {
        if (outfile_open(&ol, labels) < 0) goto done;
        have_l = 1;
    }
    if (out_manifest) {
        if (outfile_open(&om, out_manifest) < 0) goto done;
        have_m = 1;
        if (manifest_write_header(om.f) < 0) {
            err_set("%s: write error: %s", disp_out(out_manifest), strerror(errno));
            goto done;
        }
    }
    if (npy_write_header(os.f, DT_F32, 4, shape) < 0) {
        err_prefix(disp_out(stack));
        goto done;
    }
    p = progress_start("stacking", n, "arrays", verbosity);
    for (size_t i = 0; i < m->n; i++) {
        Tensor y;
        int64_t tin;
        const ManifestRow *r = &m->rows[i];
        if (next_processed(c, &it, r, &y, &tin) < 0) goto done;
        size_t cnt = (size_t)(f * frames);
        if (fwrite(y.data, sizeof(float), cnt, os.f) != cnt) {
            err_set("%s: write error: %s", disp_out(stack), strerror(errno));
            tensor_free(&y);
            goto done;
        }
        if (have_m && write_out_row(om.f, r, stack, &y) < 0) {
            err_prefix(disp_out(out_manifest));
            tensor_free(&y);
            goto done;
        }
        report_add(rep, c, &y, tin);
        tensor_free(&y);
        progress_add(p, 1);
    }
    if (have_l && targets) {
        int64_t ts[2] = {n, K};
        size_t bytes = (size_t)n * (size_t)K;
        if (write_u8_header(ol.f, 2, ts) < 0 || (bytes && fwrite(targets, 1, bytes, ol.f) != bytes)) {
            err_set("%s: write error: %s", disp_out(labels), strerror(errno));
            goto done;
        }
    } else if (have_l) {
        int64_t ls[1] = {n};
        if (tensor_alloc(&lab, DT_I64, 1, ls) < 0) goto done;
        for (size_t i = 0; i < m->n; i++) tensor_i64(&lab)[i] = m->rows[i].index;
        if (npy_write(ol.f, &lab) < 0) {
            err_prefix(disp_out(labels));
            goto done;
        }
    }
    /* everything is written: now let the files appear, one right after the other */
    have_s = 0;
    if (outfile_commit(&os) < 0) goto done;
    if (have_l) {
        have_l = 0;
        if (outfile_commit(&ol) < 0) goto done;
    }
    if (have_m) {
        have_m = 0;
        if (outfile_commit(&om) < 0) goto done;
    }
    rc = 0;
done:
    progress_finish(p);
    manifest_arrays_close(&it);
    tensor_free(&lab);
    free(targets);
    if (have_s) outfile_abort(&os);
    if (have_l) outfile_abort(&ol);
    if (have_m) outfile_abort(&om);
    return rc;
}

int specnorm_fit(const Manifest *m, const char *in, const char *stats, int verbosity, SpecnormReport *rep) {
    memset(rep, 0, sizeof *rep);
    SpecnormAccum a;
    specnorm_accum_init(&a);
    Tensor res = {0};
    int rc = -1;
    if (m) {
        if (preflight(NULL, m, 1, 0) < 0) return -1;
        ManifestArrays it;
        manifest_arrays_open(&it, m);
        Progress *p = progress_start("fitting", (int64_t)m->n, "arrays", verbosity);
        int ok = 1;
        for (size_t i = 0; i < m->n && ok; i++) {
            Tensor t;
            if (manifest_arrays_next(&it, DT_F32, &t) != 1) { ok = 0; break; }
            char what[1200];
            row_what(what, sizeof what, &m->rows[i]);
            ok = specnorm_check(&t, what) == 0 && specnorm_accum_add(&a, &t, what) == 0;
            if (ok) rep->arrays++;
            tensor_free(&t);
            progress_add(p, 1);
        }
        progress_finish(p);
        manifest_arrays_close(&it);
        if (!ok) goto done;
    } else {
        int is_stdin = strcmp(in, "-") == 0;
        const char *name = disp(in);
        FILE *f = is_stdin ? stdin : fopen(in, "rb");
        if (!f) {
            err_set("%s: cannot open: %s", in, strerror(errno));
            return -1;
        }
        int ok = 1;
        for (int64_t i = 0; ok; i++) {
            Tensor t;
            int r = npy_read(f, name, DT_F32, &t);
            if (r <= 0) {
                if (r == 0 && i == 0) err_set("%s: empty input (no .npy array)", name);
                ok = r == 0 && i > 0;
                break;
            }
            char what[1100];
            snprintf(what, sizeof what, "%s (array %lld)", name, (long long)i);
            ok = specnorm_check(&t, what) == 0 && specnorm_accum_add(&a, &t, what) == 0;
            if (ok) rep->arrays++;
            tensor_free(&t);
        }
        if (!is_stdin) fclose(f);
        if (!ok) goto done;
    }
    if (specnorm_accum_result(&a, &res) < 0 || npy_save(stats, &res) < 0) goto done;
    rep->f = a.f;
    rep->frames = a.n;
    rc = 0;
done:
    tensor_free(&res);
    specnorm_accum_free(&a);
    return rc;
}
