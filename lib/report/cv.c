/* cv.c - see cv.h. */
#define _POSIX_C_SOURCE 200809L
#include "report/cv.h"

#include "core/error.h"
#include "formats/jsonread.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOL 5.0001e-5 /* the summaries' numbers are written with four decimals */

static char *path2(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *s = malloc(n);
    if (!s) err_set("out of memory");
    else snprintf(s, n, "%s/%s", dir, file);
    return s;
}

static void *zalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) err_set("out of memory");
    return p;
}

static int read_table(const char *dir, const char *file, Tsv *t) {
    char *p = path2(dir, file);
    int rc = p ? tsv_read(p, t) : -1;
    free(p);
    return rc;
}

/* The columns NAMES of t into idx; an error naming the file and the first missing column. */
static int find_cols(const Tsv *t, const char *const *names, int n, int *idx) {
    for (int i = 0; i < n; i++)
        if ((idx[i] = tsv_col(t, names[i])) < 0) {
            char want[400];
            size_t len = 0;
            for (int j = 0; j < n && len < sizeof want - 40; j++)
                len += (size_t)snprintf(want + len, sizeof want - len, "%s%s", j ? ", " : "", names[j]);
            err_set("%s: no column '%s' (needs %s)", t->name, names[i], want);
            return -1;
        }
    return 0;
}

/* Field (row, col) as a number in [lo, hi]. */
static int number(const Tsv *t, size_t row, int col, double lo, double hi, double *v) {
    const char *s = t->rows[row][col];
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !(*v >= lo && *v <= hi)) {
        err_set("%s: line %zu: %s '%s' is not a number from %g to %g", t->name, t->lineno[row], t->header[col], s, lo, hi);
        return -1;
    }
    return 0;
}

/* Field (row, col) as a whole number (digits only) in [lo, hi], lo >= 0. */
static int whole(const Tsv *t, size_t row, int col, long lo, long hi, int *v) {
    const char *s = t->rows[row][col];
    double x;
    if (s[strspn(s, "0123456789")] || number(t, row, col, (double)lo, (double)hi, &x) < 0) {
        err_set("%s: line %zu: %s '%s' is not a whole number from %ld to %ld", t->name, t->lineno[row], t->header[col], s, lo, hi);
        return -1;
    }
    *v = (int)x;
    return 0;
}

/* A written mean or std against the one computed (four decimals). */
static int agrees(const Tsv *t, size_t row, int col, double written, double computed, const char *from) {
    if (fabs(written - computed) <= TOL) return 0;
    err_set("%s: line %zu: %s %s, but %s gives %.4f", t->name, t->lineno[row], t->header[col], t->rows[row][col], from, computed);
    return -1;
}

/* Mean and sample standard deviation (n - 1) of v[0], v[stride], ... (n values), as pipeline.mk's awk. */
static void mean_std(const double *v, int n, int stride, double *mean, double *std) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) { s += v[i * stride]; q += v[i * stride] * v[i * stride]; }
    double mu = n ? s / n : 0, var = n > 1 ? (q - n * mu * mu) / (n - 1) : 0;
    *mean = mu;
    *std = var > 0 ? sqrt(var) : 0;
}

static int find_str(const char *const *v, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0) return i;
    return -1;
}

void cv_free(CvResults *cv) {
    tsv_free(&cv->results);
    tsv_free(&cv->summary);
    tsv_free(&cv->paired);
    free(cv->models); free(cv->fold); free(cv->score); free(cv->mean); free(cv->std); free(cv->pairs); free(cv->cm);
    for (int c = 0; cv->classes && c < cv->k; c++) free(cv->classes[c]);
    free(cv->classes);
    memset(cv, 0, sizeof *cv);
}

/* One fold's metrics.json of model m: its confusion matrix added to the model's, its classes checked
 * against the first one read (first_path). */
static int add_metrics(CvResults *cv, const char *dir, int m, int f, char **first_path) {
    char rel[1200];
    snprintf(rel, sizeof rel, "fold%d/eval/%s/metrics.json", cv->fold[f], cv->models[m]);
    char *p = path2(dir, rel);
    if (!p) return -1;
    JsonValue j;
    if (json_read_file(p, &j) < 0) { free(p); return -1; }
    int rc = -1;
    const JsonValue *pc = json_get(&j, "per_class"), *cm = json_get(&j, "confusion_matrix");
    double acc = json_get_number(&j, "accuracy"), samples = json_get_number(&j, "samples");
    if (!pc || pc->type != JV_ARRAY || pc->n < 1 || !cm || cm->type != JV_ARRAY || cm->n != pc->n || !isfinite(acc) || !isfinite(samples)) {
        err_set("%s: not cnneval's metrics (needs samples, accuracy, per_class and a square confusion_matrix)", p);
        goto out;
    }
    int k = (int)pc->n;
    if (!cv->classes) { /* the first: the classes of every other */
        cv->k = k;
        if (!(cv->classes = zalloc((size_t)k, sizeof *cv->classes)) ||
            !(cv->cm = zalloc((size_t)cv->nmodels * (size_t)k * (size_t)k, sizeof *cv->cm)))
            goto out;
        for (int c = 0; c < k; c++) {
            const JsonValue *name = json_get(&pc->items[c], "name");
            if (!name || name->type != JV_STRING) { err_set("%s: per_class[%d] has no name", p, c); goto out; }
            if (!(cv->classes[c] = strdup(name->string))) { err_set("out of memory"); goto out; }
        }
        *first_path = p;
        p = NULL;
    } else {
        if (k != cv->k) { err_set("%s: %d classes, but %s has %d", p, k, *first_path, cv->k); goto out; }
        for (int c = 0; c < k; c++) {
            const JsonValue *name = json_get(&pc->items[c], "name");
            if (!name || name->type != JV_STRING || strcmp(name->string, cv->classes[c]) != 0) {
                err_set("%s: class %d is '%.100s', but %s's is '%.100s' (the folds must agree on the classes)", p, c,
                        name && name->type == JV_STRING ? name->string : "?", *first_path, cv->classes[c]);
                goto out;
            }
        }
    }
    const char *where = p ? p : *first_path;
    double total = 0;
    int64_t *dst = cv->cm + (size_t)m * (size_t)k * (size_t)k;
    for (int r = 0; r < k; r++) {
        const JsonValue *row = &cm->items[r];
        if (row->type != JV_ARRAY || (int)row->n != k) { err_set("%s: confusion_matrix row %d is not %d numbers", where, r, k); goto out; }
        for (int c = 0; c < k; c++) {
            double v = row->items[c].number;
            if (row->items[c].type != JV_NUMBER || v < 0 || v != floor(v) || v > 1e15) {
                err_set("%s: confusion_matrix[%d][%d] is not a count", where, r, c);
                goto out;
            }
            dst[r * k + c] += (int64_t)v;
            total += v;
        }
    }
    double want = cv->score[((size_t)m * (size_t)cv->nfolds + (size_t)f) * CV_NSCORES + CV_ACC];
    if (total != samples || fabs(acc - want) > 1e-9) {
        err_set("%s: accuracy %g of %g samples (confusion matrix: %g), but %s gives %g for model '%s', fold %d", where, acc,
                samples, total, cv->results.name, want, cv->models[m], cv->fold[f]);
        goto out;
    }
    rc = 0;
out:
    free(p);
    json_value_free(&j);
    return rc;
}

int cv_load(const char *dir, CvResults *cv) {
    memset(cv, 0, sizeof *cv);
    static const char *const RC[] = {"model", "fold", "accuracy", "macro_f1", "loss"};
    static const char *const SC[] = {"model", "folds", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std",
                                     "loss_mean", "loss_std"};
    static const char *const PC[] = {"model_a", "model_b", "folds", "accuracy_diff_mean", "accuracy_diff_std", "wins_a",
                                     "wins_b", "ties"};
    int rc_[5], sc[8], pcol[8];
    char *first = NULL;
    if (read_table(dir, "results.tsv", &cv->results) < 0 || find_cols(&cv->results, RC, 5, rc_) < 0) goto fail;
    if (read_table(dir, "summary.tsv", &cv->summary) < 0 || find_cols(&cv->summary, SC, 8, sc) < 0) goto fail;
    const Tsv *r = &cv->results, *s = &cv->summary;
    if (s->nrows == 0 || r->nrows == 0) { err_set("%s: no models", s->nrows ? r->name : s->name); goto fail; }
    /* models: summary.tsv's */
    cv->nmodels = (int)s->nrows;
    if (!(cv->models = zalloc(s->nrows, sizeof *cv->models))) goto fail;
    for (size_t i = 0; i < s->nrows; i++) {
        const char *name = s->rows[i][sc[0]];
        if (!*name || find_str(cv->models, (int)i, name) >= 0) {
            err_set("%s: line %zu: model '%s' %s", s->name, s->lineno[i], name, *name ? "twice" : "without a name");
            goto fail;
        }
        cv->models[i] = name;
    }
    /* folds: the distinct fold numbers of results.tsv, ascending */
    if (!(cv->fold = zalloc(r->nrows, sizeof *cv->fold))) goto fail;
    for (size_t i = 0; i < r->nrows; i++) {
        int fv;
        if (whole(r, i, rc_[1], 1, 1000, &fv) < 0) goto fail;
        int j = 0;
        while (j < cv->nfolds && cv->fold[j] < fv) j++;
        if (j < cv->nfolds && cv->fold[j] == fv) continue;
        memmove(cv->fold + j + 1, cv->fold + j, sizeof *cv->fold * (size_t)(cv->nfolds - j));
        cv->fold[j] = fv;
        cv->nfolds++;
    }
    size_t cells = (size_t)cv->nmodels * (size_t)cv->nfolds;
    if (!(cv->score = zalloc(cells * CV_NSCORES, sizeof *cv->score))) goto fail;
    for (size_t i = 0; i < cells * CV_NSCORES; i++) cv->score[i] = NAN;
    for (size_t i = 0; i < r->nrows; i++) {
        int m = find_str(cv->models, cv->nmodels, r->rows[i][rc_[0]]), fv, f = 0;
        if (m < 0) { err_set("%s: line %zu: model '%s' is not in %s", r->name, r->lineno[i], r->rows[i][rc_[0]], s->name); goto fail; }
        whole(r, i, rc_[1], 1, 1000, &fv);
        while (cv->fold[f] != fv) f++;
        double *dst = cv->score + ((size_t)m * (size_t)cv->nfolds + (size_t)f) * CV_NSCORES;
        if (!isnan(dst[0])) { err_set("%s: line %zu: model '%s', fold %d twice", r->name, r->lineno[i], cv->models[m], fv); goto fail; }
        if (number(r, i, rc_[2], 0, 1, &dst[CV_ACC]) < 0 || number(r, i, rc_[3], 0, 1, &dst[CV_F1]) < 0 ||
            number(r, i, rc_[4], 0, HUGE_VAL, &dst[CV_LOSS]) < 0 || !isfinite(dst[CV_LOSS]))
            goto fail;
    }
    /* every model on every fold; summary.tsv = what results.tsv gives */
    if (!(cv->mean = zalloc((size_t)cv->nmodels * CV_NSCORES, sizeof *cv->mean)) ||
        !(cv->std = zalloc((size_t)cv->nmodels * CV_NSCORES, sizeof *cv->std)))
        goto fail;
    for (int m = 0; m < cv->nmodels; m++) {
        for (int f = 0; f < cv->nfolds; f++)
            if (isnan(cv->score[((size_t)m * (size_t)cv->nfolds + (size_t)f) * CV_NSCORES])) {
                err_set("%s: no row for model '%s', fold %d (every model needs every fold)", r->name, cv->models[m], cv->fold[f]);
                goto fail;
            }
        int folds;
        if (whole(s, (size_t)m, sc[1], 1, 1000, &folds) < 0) goto fail;
        if (folds != cv->nfolds) {
            err_set("%s: line %zu: %d folds, but %s has %d for model '%s'", s->name, s->lineno[m], folds, r->name, cv->nfolds, cv->models[m]);
            goto fail;
        }
        for (int k = 0; k < CV_NSCORES; k++) {
            double mu, sd;
            mean_std(cv->score + (size_t)m * (size_t)cv->nfolds * CV_NSCORES + k, cv->nfolds, CV_NSCORES, &mu, &sd);
            double *wm = &cv->mean[m * CV_NSCORES + k], *ws = &cv->std[m * CV_NSCORES + k];
            if (number(s, (size_t)m, sc[2 + 2 * k], 0, HUGE_VAL, wm) < 0 || number(s, (size_t)m, sc[3 + 2 * k], 0, HUGE_VAL, ws) < 0 ||
                agrees(s, (size_t)m, sc[2 + 2 * k], *wm, mu, r->name) < 0 || agrees(s, (size_t)m, sc[3 + 2 * k], *ws, sd, r->name) < 0)
                goto fail;
        }
    }
    /* paired.tsv, when there */
    char *pp = path2(dir, "paired.tsv");
    struct stat st;
    if (!pp) goto fail;
    cv->has_paired = stat(pp, &st) == 0;
    free(pp);
    if (cv->has_paired) {
        if (read_table(dir, "paired.tsv", &cv->paired) < 0 || find_cols(&cv->paired, PC, 8, pcol) < 0) goto fail;
        const Tsv *t = &cv->paired;
        if (!(cv->pairs = zalloc(t->nrows, sizeof *cv->pairs))) goto fail;
        for (size_t i = 0; i < t->nrows; i++) {
            CvPair *q = &cv->pairs[cv->npairs++];
            q->a = find_str(cv->models, cv->nmodels, t->rows[i][pcol[0]]);
            q->b = find_str(cv->models, cv->nmodels, t->rows[i][pcol[1]]);
            if (q->a < 0 || q->b < 0) {
                err_set("%s: line %zu: model '%s' is not in %s", t->name, t->lineno[i], t->rows[i][pcol[q->a < 0 ? 0 : 1]], s->name);
                goto fail;
            }
            if (whole(t, i, pcol[2], 1, 1000, &q->folds) < 0 || number(t, i, pcol[3], -1, 1, &q->diff_mean) < 0 ||
                number(t, i, pcol[4], 0, 2, &q->diff_std) < 0 || whole(t, i, pcol[5], 0, 1000, &q->wins_a) < 0 ||
                whole(t, i, pcol[6], 0, 1000, &q->wins_b) < 0 || whole(t, i, pcol[7], 0, 1000, &q->ties) < 0)
                goto fail;
            double d[1000];
            int wa = 0, wb = 0, ties = 0;
            for (int f = 0; f < cv->nfolds; f++) {
                d[f] = cv->score[((size_t)q->a * (size_t)cv->nfolds + (size_t)f) * CV_NSCORES + CV_ACC] -
                       cv->score[((size_t)q->b * (size_t)cv->nfolds + (size_t)f) * CV_NSCORES + CV_ACC];
                wa += d[f] > 0; wb += d[f] < 0; ties += d[f] == 0;
            }
            double mu, sd;
            mean_std(d, cv->nfolds, 1, &mu, &sd);
            if (q->folds != cv->nfolds || q->wins_a != wa || q->wins_b != wb || q->ties != ties) {
                err_set("%s: line %zu: %s vs %s: %d folds, wins %d and %d, %d ties, but %s gives %d, %d and %d, %d", t->name,
                        t->lineno[i], cv->models[q->a], cv->models[q->b], q->folds, q->wins_a, q->wins_b, q->ties, r->name,
                        cv->nfolds, wa, wb, ties);
                goto fail;
            }
            if (agrees(t, i, pcol[3], q->diff_mean, mu, r->name) < 0 || agrees(t, i, pcol[4], q->diff_std, sd, r->name) < 0) goto fail;
        }
    }
    /* the folds' confusion matrices, pooled per model */
    for (int m = 0; m < cv->nmodels; m++)
        for (int f = 0; f < cv->nfolds; f++)
            if (add_metrics(cv, dir, m, f, &first) < 0) goto fail;
    free(first);
    return 0;
fail:
    free(first);
    cv_free(cv);
    return -1;
}

void tune_free(TuneResults *t) {
    tsv_free(&t->t);
    free(t->order); free(t->rank); free(t->name); free(t->options); free(t->f1); free(t->trained); free(t->status);
    free(t->mean); free(t->std);
    free(t->recipe); free(t->recipe_path);
    memset(t, 0, sizeof *t);
}

int tune_load(const char *dir, TuneResults *tr) {
    memset(tr, 0, sizeof *tr);
    static const char *const C[] = {"candidate", "options", "macro_f1_mean", "macro_f1_std", "rank"};
    int c[5];
    Tsv *t = &tr->t;
    if (read_table(dir, "results.tsv", t) < 0 || find_cols(t, C, 5, c) < 0) goto fail;
    int *fc = zalloc((size_t)t->ncols, sizeof *fc);
    if (!fc) goto fail;
    for (;;) { /* macro_f1_fold1, macro_f1_fold2, ... */
        char name[40];
        snprintf(name, sizeof name, "macro_f1_fold%d", tr->nfolds + 1);
        if ((fc[tr->nfolds] = tsv_col(t, name)) < 0) break;
        tr->nfolds++;
    }
    if (!tr->nfolds) { free(fc); err_set("%s: no column 'macro_f1_fold1' (needs macro_f1_fold1..K)", t->name); goto fail; }
    tr->n = (int)t->nrows;
    if (!tr->n) { free(fc); err_set("%s: no candidates", t->name); goto fail; }
    int st = tsv_col(t, "status"); /* make tune's early stopping: done, or stopped ('-' for the folds not trained) */
    if (!(tr->order = zalloc(t->nrows, sizeof *tr->order)) || !(tr->rank = zalloc(t->nrows, sizeof *tr->rank)) ||
        !(tr->name = zalloc(t->nrows, sizeof *tr->name)) || !(tr->options = zalloc(t->nrows, sizeof *tr->options)) ||
        !(tr->f1 = zalloc(t->nrows * (size_t)tr->nfolds, sizeof *tr->f1)) || !(tr->mean = zalloc(t->nrows, sizeof *tr->mean)) ||
        !(tr->std = zalloc(t->nrows, sizeof *tr->std)) || !(tr->trained = zalloc(t->nrows, sizeof *tr->trained)) ||
        (st >= 0 && !(tr->status = zalloc(t->nrows, sizeof *tr->status)))) {
        free(fc);
        goto fail;
    }
    for (int i = 0; i < tr->n; i++) tr->order[i] = -1;
    for (int i = 0; i < tr->n; i++) {
        tr->name[i] = t->rows[i][c[0]];
        tr->options[i] = t->rows[i][c[1]];
        double mu, sd;
        int bad = 0, stopped = 0;
        if (st >= 0) {
            tr->status[i] = t->rows[i][st];
            if (!(stopped = strcmp(tr->status[i], "stopped") == 0) && strcmp(tr->status[i], "done") != 0) {
                free(fc);
                err_set("%s: line %zu: status '%s' is neither 'done' nor 'stopped'", t->name, t->lineno[i], tr->status[i]);
                goto fail;
            }
        }
        int nf = tr->nfolds;
        if (stopped) /* the folds trained come first, then '-' */
            for (nf = 0; nf < tr->nfolds && strcmp(t->rows[i][fc[nf]], "-") != 0;) nf++;
        for (int f = nf; f < tr->nfolds && !bad; f++)
            if ((bad = strcmp(t->rows[i][fc[f]], "-") != 0))
                err_set("%s: line %zu: %s '%s' after a fold not trained", t->name, t->lineno[i], t->header[fc[f]], t->rows[i][fc[f]]);
            else tr->f1[i * tr->nfolds + f] = NAN;
        if (!bad && (!nf || nf == tr->nfolds) && stopped) {
            bad = 1;
            err_set("%s: line %zu: stopped, but %d of %d folds trained", t->name, t->lineno[i], nf, tr->nfolds);
        }
        for (int f = 0; f < nf && !bad; f++) bad = number(t, (size_t)i, fc[f], 0, 1, &tr->f1[i * tr->nfolds + f]) < 0;
        tr->trained[i] = nf;
        mean_std(tr->f1 + i * tr->nfolds, nf, 1, &mu, &sd);
        if (bad || number(t, (size_t)i, c[2], 0, 1, &tr->mean[i]) < 0 || number(t, (size_t)i, c[3], 0, 1, &tr->std[i]) < 0 ||
            agrees(t, (size_t)i, c[2], tr->mean[i], mu, "its folds") < 0 || agrees(t, (size_t)i, c[3], tr->std[i], sd, "its folds") < 0 ||
            whole(t, (size_t)i, c[4], 1, tr->n, &tr->rank[i]) < 0) {
            free(fc);
            goto fail;
        }
        if (tr->order[tr->rank[i] - 1] >= 0) {
            free(fc);
            err_set("%s: line %zu: rank %d twice", t->name, t->lineno[i], tr->rank[i]);
            goto fail;
        }
        tr->order[tr->rank[i] - 1] = i;
    }
    free(fc);
    if (!(tr->recipe_path = path2(dir, "recipe.opts"))) goto fail;
    size_t len;
    if (!(tr->recipe = read_whole_file(tr->recipe_path, &len))) goto fail;
    while (len && (tr->recipe[len - 1] == '\n' || tr->recipe[len - 1] == '\r')) tr->recipe[--len] = '\0';
    int best = tr->order[0];
    if (strlen(tr->recipe) != len || strchr(tr->recipe, '\n') || strcmp(tr->recipe, tr->options[best]) != 0) {
        err_set("%s: '%.200s' is not the options of rank 1 in %s (%s: '%.200s')", tr->recipe_path, tr->recipe, t->name,
                tr->name[best], tr->options[best]);
        goto fail;
    }
    return 0;
fail:
    tune_free(tr);
    return -1;
}
