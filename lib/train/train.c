#define _POSIX_C_SOURCE 200809L
#include "train/train.h"
#include "nn/device.h"

#include "core/error.h"
#include "formats/json.h"
#include "nn/loss.h"
#include "nn/lossscale.h"
#include "train/metrics.h"
#include "nn/optim.h"
#include "formats/outfile.h"
#include "core/progress.h"
#include "formats/safetensors.h"
#include "nn/staging.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) { stop_requested = sig; }

void train_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int train_stop_signal(void) { return stop_requested; }

void train_options_default(TrainOptions *o) {
    memset(o, 0, sizeof *o);
    o->epochs = 60;
    o->batch = 32;
    o->lr = 2e-3;
    o->weight_decay = 1e-2;
    o->momentum = 0.9;
    o->schedule = 1;
    o->plateau_factor = 0.5;
    o->plateau_patience = 3;
    o->warmup_epochs = 1;
    o->patience = 15;
    o->lr_backbone = -1;
    o->cuda_index = -1;
    o->class_weights = 1;
    o->augment = 1;
    o->aug = (SpecAugment){.freq_mask_param = 12, .time_mask_param = 12, .n_freq_masks = 1, .n_time_masks = 1, .p = 1.0};
    o->seed = 42;
    o->threads = 2;
    o->out = "model.safetensors";
}

/* Where training stands: everything a resumed run needs besides weights and optimiser moments. */
typedef struct {
    int epoch;            /* epoch in progress, from 0 */
    int64_t batch;        /* next batch of that epoch */
    int64_t step;         /* batches trained in all */
    double loss_sum;      /* of the epoch in progress */
    int64_t correct, seen;
    double best;          /* best monitored value so far */
    int best_epoch, bad_epochs, finished;
    double lr;
    LrPlateau plateau;
    LossScale scaler;     /* fp16: GradScaler's state (disabled otherwise) */
} State;

typedef struct {
    int epoch;
    double train_loss, train_acc, val_loss, val_acc, lr, seconds;
} HistoryRow;

/* ---- metadata --------------------------------------------------------------------------------- */

typedef struct {
    StMeta m[48];
    char v[48][320];
    int n;
} Meta;

static void meta_add(Meta *md, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void meta_add(Meta *md, const char *key, const char *fmt, ...) {
    if (md->n >= 48) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(md->v[md->n], sizeof md->v[md->n], fmt, ap);
    va_end(ap);
    md->m[md->n].key = key;
    md->m[md->n].value = md->v[md->n];
    md->n++;
}

static const char *monitor_name(const TrainOptions *o) {
    return o->monitor_acc ? (o->multilabel ? "val_map" : "val_acc") : "val_loss";
}

static void meta_model(Meta *md, const TrainOptions *o, const Model *m, const State *s) {
    meta_add(md, "format", "audiocnn-checkpoint-1");
    meta_add(md, "arch", "%s", m->arch);
    meta_add(md, "input_shape", "%dx%dx%d", m->in_c, m->in_h, m->in_w);
    meta_add(md, "n_classes", "%d", m->n_classes);
    meta_add(md, "in_chans", "%s", m->stem_repeat ? "repeat" : "native");
    meta_add(md, "in_norm", "%s", m->in_norm ? "imagenet" : "none");
    meta_add(md, "epoch", "%d", s->best_epoch + 1);
    meta_add(md, "monitor", "%s", monitor_name(o));
    if (o->multilabel) meta_add(md, "multilabel", "1");
    if (o->device) meta_add(md, "device", "%s", o->device);
    if (o->amp) meta_add(md, "amp", "%s", nn_amp_name(o->amp));
    if (o->tf32) meta_add(md, "tf32", "on");
    meta_add(md, "best", "%.17g", s->best);
    meta_add(md, "training", "epochs=%d batch=%d lr=%g wd=%g opt=%s schedule=%s seed=%llu smoothing=%g "
             "class_weights=%d augment=%d F=%d T=%d dropout=%g mixup=%g drop_path=%g freeze=%d unfreeze_at=%d "
             "lr_backbone=%g%s", o->epochs, o->batch, o->lr, o->weight_decay,
             o->sgd ? "sgd" : "adamw", o->schedule == 1 ? "plateau" : o->schedule == 2 ? "cosine" : "none",
             (unsigned long long)o->seed, o->label_smoothing, o->class_weights, o->augment, o->aug.freq_mask_param,
             o->aug.time_mask_param, m->dropout, o->mixup, m->stochastic_depth, o->freeze_backbone, o->unfreeze_at,
             o->lr_backbone < 0 ? o->lr : o->lr_backbone,
             o->multilabel ? (o->pos_weight ? " multilabel=1 pos_weight=balanced" : " multilabel=1 pos_weight=none") : "");
}

/* The class list and front end can be long: they go in as separate, unbounded entries. The front end's
 * tensors (o->tensors) follow the weights, then `extra` (the state's). */
static int save_checkpoint(const char *path, const TrainOptions *o, const Model *m, Meta *md, const StItem *extra,
                           int nextra) {
    StMeta all[52];
    int n = 0;
    for (int i = 0; i < md->n; i++) all[n++] = md->m[i];
    all[n++] = (StMeta){"classes", o->classes_json ? o->classes_json : "[]"};
    all[n++] = (StMeta){"frontend", o->frontend ? o->frontend : ""};
    StItem *items = malloc(sizeof(StItem) * (size_t)(o->ntensors + nextra + 1));
    if (!items) {
        err_set("out of memory");
        return -1;
    }
    for (int i = 0; i < o->ntensors; i++) items[i] = o->tensors[i];
    for (int i = 0; i < nextra; i++) items[o->ntensors + i] = extra[i];
    int rc = st_save_params(path, &m->params, all, n, items, o->ntensors + nextra);
    free(items);
    return rc;
}

/* ---- resumable state -------------------------------------------------------------------------- */

/* scores: multi-label, the epoch's training logits (n, k) by sample (NULL otherwise). */
static int save_state(const TrainOptions *o, const Model *m, const Optim *opt, const State *s, const float *scores,
                      int64_t n) {
    const ParamTable *t = &m->params;
    StItem *extra = calloc((size_t)(2 * t->n + 2), sizeof(StItem));
    char(*names)[PARAM_NAME_MAX + 8] = calloc((size_t)(2 * t->n), sizeof *names);
    if (!extra || !names) {
        free(extra);
        free(names);
        err_set("out of memory");
        return -1;
    }
    int k = 0;
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *e = &t->e[i];
        if (e->kind != PARAM_WEIGHT) continue;
        for (int which = 0; which < 2; which++) {
            const float *src = which ? opt->v : opt->m;
            if (!src) continue;
            snprintf(names[k], sizeof names[k], "opt.%c.%s", which ? 'v' : 'm', e->name);
            extra[k] = (StItem){.name = names[k], .dtype = ST_F32, .ndim = e->ndim, .data = src + e->offset};
            memcpy(extra[k].shape, e->shape, sizeof(int64_t) * (size_t)e->ndim);
            k++;
        }
    }
    extra[k] = (StItem){.name = "opt.step", .dtype = ST_I64, .ndim = 1, .shape = {t->n}, .data = opt->step};
    k++;
    if (scores)
        extra[k++] = (StItem){.name = "state.train_scores", .dtype = ST_F32, .ndim = 2, .shape = {n, m->n_classes},
                              .data = scores};
    Meta md = {0};
    meta_model(&md, o, m, s);
    meta_add(&md, "state.epoch", "%d", s->epoch);
    meta_add(&md, "state.batch", "%lld", (long long)s->batch);
    meta_add(&md, "state.step", "%lld", (long long)s->step);
    meta_add(&md, "state.loss_sum", "%.17g", s->loss_sum);
    meta_add(&md, "state.correct", "%lld", (long long)s->correct);
    meta_add(&md, "state.seen", "%lld", (long long)s->seen);
    meta_add(&md, "state.best", "%.17g", s->best);
    meta_add(&md, "state.best_epoch", "%d", s->best_epoch);
    meta_add(&md, "state.bad_epochs", "%d", s->bad_epochs);
    meta_add(&md, "state.finished", "%d", s->finished);
    meta_add(&md, "state.lr", "%.17g", s->lr);
    meta_add(&md, "state.plateau", "%.17g %d %d %lld", s->plateau.best, s->plateau.num_bad_epochs,
             s->plateau.cooldown_counter, (long long)s->plateau.last_epoch);
    if (s->scaler.enabled) {
        char text[96];
        lossscale_format(&s->scaler, text, sizeof text);
        meta_add(&md, "state.amp_scale", "%s", text);
    }
    int rc = save_checkpoint(o->state, o, m, &md, extra, k);
    free(extra);
    free(names);
    return rc;
}

static int meta_num(const StFile *f, const char *key, double *v) {
    const char *s = st_meta_get(f, key);
    char *end;
    if (!s) {
        err_set("%s: not a resumable state (no '%s')", f->name, key);
        return -1;
    }
    *v = strtod(s, &end);
    if (*end) {
        err_set("%s: bad value for '%s'", f->name, key);
        return -1;
    }
    return 0;
}

static int load_state(const char *path, Model *m, Optim *opt, State *s, float *scores, int64_t n) {
    StFile f;
    if (st_open(path, &f) < 0) return -1;
    StLoadOpts lo = {.allow_unexpected = 1};
    int rc = -1;
    const char *arch = st_meta_get(&f, "arch");
    if (!arch || strcmp(arch, m->arch) != 0) {
        err_set("%s: a state of architecture '%s', not '%s'", path, arch ? arch : "?", m->arch);
        goto done;
    }
    if (st_load_params(&f, &m->params, &lo, NULL) < 0) goto done;
    const ParamTable *t = &m->params;
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *e = &t->e[i];
        if (e->kind != PARAM_WEIGHT) continue;
        for (int which = 0; which < 2; which++) {
            float *dst = which ? opt->v : opt->m;
            if (!dst) continue;
            char name[PARAM_NAME_MAX + 8];
            snprintf(name, sizeof name, "opt.%c.%s", which ? 'v' : 'm', e->name);
            int j = st_find(&f, name);
            if (j < 0) {
                err_set("%s: not a resumable state (no '%s')", path, name);
                goto done;
            }
            if (st_read_f32(&f, j, dst + e->offset, (int64_t)e->numel, 0) < 0) goto done;
        }
    }
    int j = st_find(&f, "opt.step");
    if (j < 0 || f.e[j].numel != t->n || st_read_i64(&f, j, opt->step, t->n) < 0) {
        if (j < 0 || f.e[j].numel != t->n) err_set("%s: optimiser steps missing or of the wrong size", path);
        goto done;
    }
    if (scores) {
        j = st_find(&f, "state.train_scores");
        if (j < 0 || f.e[j].numel != n * m->n_classes) {
            err_set("%s: not a multi-label state of this split (no 'state.train_scores' of %lld x %d)", path, (long long)n,
                    m->n_classes);
            goto done;
        }
        if (st_read_f32(&f, j, scores, n * m->n_classes, 0) < 0) goto done;
    }
    double v[12];
    const char *keys[] = {"state.epoch", "state.batch", "state.step", "state.loss_sum", "state.correct", "state.seen",
                          "state.best", "state.best_epoch", "state.bad_epochs", "state.finished", "state.lr"};
    for (int k = 0; k < 11; k++)
        if (meta_num(&f, keys[k], &v[k]) < 0) goto done;
    s->epoch = (int)v[0];
    s->batch = (int64_t)v[1];
    s->step = (int64_t)v[2];
    s->loss_sum = v[3];
    s->correct = (int64_t)v[4];
    s->seen = (int64_t)v[5];
    s->best = v[6];
    s->best_epoch = (int)v[7];
    s->bad_epochs = (int)v[8];
    s->finished = (int)v[9];
    s->lr = v[10];
    const char *pl = st_meta_get(&f, "state.plateau");
    long long last;
    if (!pl || sscanf(pl, "%lg %d %d %lld", &s->plateau.best, &s->plateau.num_bad_epochs, &s->plateau.cooldown_counter,
                      &last) != 4) {
        err_set("%s: not a resumable state (bad 'state.plateau')", path);
        goto done;
    }
    s->plateau.last_epoch = last;
    const char *sc = st_meta_get(&f, "state.amp_scale"); /* fp16's scaler; absent: a fresh one */
    if (s->scaler.enabled && sc && lossscale_parse(&s->scaler, sc) < 0) {
        err_prefix(path);
        goto done;
    }
    rc = 0;
done:
    st_close(&f);
    return rc;
}

/* ---- history -------------------------------------------------------------------------------- */

/* Multi-label histories name their accuracy columns train_map and val_map (macro average precision). */
static int write_history(const char *prefix, const HistoryRow *rows, int n, int multilabel) {
    const char *acc[2] = {multilabel ? "train_map" : "train_acc", multilabel ? "val_map" : "val_acc"};
    char path[4096];
    snprintf(path, sizeof path, "%s.tsv", prefix);
    OutFile of;
    if (outfile_open(&of, path) < 0) return -1;
    fprintf(of.f, "epoch\ttrain_loss\t%s\tval_loss\t%s\tlr\tseconds\n", acc[0], acc[1]);
    for (int i = 0; i < n; i++)
        fprintf(of.f, "%d\t%.6f\t%.6f\t%.6f\t%.6f\t%.6g\t%.2f\n", rows[i].epoch, rows[i].train_loss, rows[i].train_acc,
                rows[i].val_loss, rows[i].val_acc, rows[i].lr, rows[i].seconds);
    if (outfile_commit(&of) < 0) return -1;
    snprintf(path, sizeof path, "%s.json", prefix);
    if (outfile_open(&of, path) < 0) return -1;
    JsonWriter w;
    json_init(&w, of.f, 2);
    json_array_begin(&w);
    for (int i = 0; i < n; i++) {
        json_object_begin(&w);
        json_key(&w, "epoch"); json_int(&w, rows[i].epoch);
        json_key(&w, "train_loss"); json_number(&w, rows[i].train_loss);
        json_key(&w, acc[0]); json_number(&w, rows[i].train_acc);
        json_key(&w, "val_loss"); json_number(&w, rows[i].val_loss);
        json_key(&w, acc[1]); json_number(&w, rows[i].val_acc);
        json_key(&w, "lr"); json_number(&w, rows[i].lr);
        json_key(&w, "seconds"); json_number(&w, rows[i].seconds);
        json_object_end(&w);
    }
    json_array_end(&w);
    return outfile_commit(&of);
}

/* Rows of an earlier run's history (epochs 1..epochs, in order), so a resumed run keeps them. They are
 * read back from PREFIX.json, which holds every value at full precision (the TSV rounds to 6 digits),
 * so that the rewritten history has the bytes of an uninterrupted run. Our own writer's layout: one
 * "key": value per line, each row an object. */
static int read_history(const char *prefix, HistoryRow *rows, int epochs) {
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s.json", prefix);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, have = 0;
    HistoryRow r;
    memset(&r, 0, sizeof r);
    while (n < epochs && fgets(line, sizeof line, f)) {
        char key[32], val[64];
        if (strchr(line, '{')) {
            memset(&r, 0, sizeof r);
            have = 0;
        } else if (strchr(line, '}')) {
            if (have == 7 && r.epoch == n + 1) rows[n++] = r;
            have = 0;
        } else if (sscanf(line, " \"%31[^\"]\": %63[^,\n]", key, val) == 2) {
            double v = strcmp(val, "null") == 0 ? NAN : strtod(val, NULL);
            if (!strcmp(key, "epoch")) r.epoch = (int)v;
            else if (!strcmp(key, "train_loss")) r.train_loss = v;
            else if (!strcmp(key, "train_acc") || !strcmp(key, "train_map")) r.train_acc = v;
            else if (!strcmp(key, "val_loss")) r.val_loss = v;
            else if (!strcmp(key, "val_acc") || !strcmp(key, "val_map")) r.val_acc = v;
            else if (!strcmp(key, "lr")) r.lr = v;
            else if (!strcmp(key, "seconds")) r.seconds = v;
            else continue;
            have++;
        }
    }
    fclose(f);
    return n;
}

/* Rows of logits (n, k) whose argmax (lowest index on ties) is the label. */
static int64_t count_correct(const float *logits, const int64_t *labels, int n, int k) {
    int64_t correct = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int j = 1; j < k; j++)
            if (logits[i * k + j] > logits[i * k + best]) best = j;
        correct += best == labels[i];
    }
    return correct;
}

/* ---- evaluation ------------------------------------------------------------------------------ */

static int evaluate(NnCtx *ctx, Model *m, const Dataset *d, int batch, float *logits, float *probs, double *loss,
                    double *acc) {
    int k = m->n_classes;
    size_t per = (size_t)d->c * d->f * d->t;
    double sum = 0;
    int64_t correct = 0;
    for (int64_t s = 0; s < d->n; s += batch) {
        int n = (int)(d->n - s < batch ? d->n - s : batch);
        if (model_forward_host(m, ctx, d->x + (size_t)s * per, n, NN_INFER, 0, logits) < 0) return -1;
        CrossEntropyShape ce = {.N = n, .C = k};
        float l;
        if (cross_entropy_forward(ctx, &ce, logits, d->labels + s, NULL, &l, probs) < 0) return -1;
        sum += (double)l * n;
        correct += count_correct(logits, d->labels + s, n, k);
    }
    *loss = sum / (double)d->n;
    *acc = (double)correct / (double)d->n;
    return 0;
}

/* Macro average precision of logits (n, k) against targets (n, k) taken as positive when >= 0.5; NaN when
 * out of memory. */
static double macro_ap(const float *logits, const float *targets, int64_t n, int k) {
    uint8_t *t = malloc((size_t)(n * k > 0 ? n * k : 1));
    if (!t) return NAN;
    for (int64_t i = 0; i < n * k; i++) t[i] = targets[i] >= 0.5f;
    double sum = 0;
    for (int c = 0; c < k; c++) sum += binary_average_precision(logits + c, t + c, n, k);
    free(t);
    return sum / k;
}

/* Multi-label validation: the plain BCE (mean over n*k) and the macro AP of the split's logits, which
 * go to all (d->n * k). */
static int evaluate_multi(NnCtx *ctx, Model *m, const Dataset *d, int batch, float *all, double *loss, double *map) {
    int k = m->n_classes;
    size_t per = (size_t)d->c * d->f * d->t;
    double sum = 0;
    for (int64_t s = 0; s < d->n; s += batch) {
        int n = (int)(d->n - s < batch ? d->n - s : batch);
        float *z = all + (size_t)s * k;
        if (model_forward_host(m, ctx, d->x + (size_t)s * per, n, NN_INFER, 0, z) < 0) return -1;
        BceShape bs = {.N = n, .K = k, .reduction = LOSS_SUM};
        float l;
        if (bce_with_logits_forward(&bs, z, d->targets + (size_t)s * k, NULL, &l) < 0) return -1;
        sum += (double)l;
    }
    *loss = sum / ((double)d->n * k);
    *map = macro_ap(all, d->targets, d->n, k);
    return 0;
}

/* Epoch e (from 0) of the cosine schedule: `warmup` epochs ramping linearly up to lr (lr*(e+1)/(warmup+1)),
 * then half a cosine from lr towards 0 over the remaining epochs, sampled at their starts so that no
 * epoch trains at exactly 0. */
static double cosine_lr(const TrainOptions *o, int e) {
    int w = o->warmup_epochs;
    if (e < w) return o->lr * (e + 1) / (w + 1);
    int rest = o->epochs - w;
    double p = rest > 0 ? (double)(e - w) / rest : 0;
    return o->lr * 0.5 * (1 + cos(M_PI * p));
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the device ------------------------------------------------------------------------------ */

/* Under NN_CUDA the weights, gradients and optimiser moments live in device memory (the model is made,
 * initialised, loaded and, on --resume, given its state on the host, then moved once). Checkpoints and
 * states are written from host memory: Host holds mirrors the device blocks are copied into before each
 * save, and views of the model and the optimiser over them that the writers read as they read the CPU's.
 * On the CPU the views are the real things (no copy). */
typedef struct {
    float *data, *m; /* host mirrors (NULL on the CPU) */
    Model model;     /* shallow copies whose blocks are the mirrors */
    Optim opt;
} Host;

static int host_view(NnCtx *ctx, const Model *m, const Optim *opt, Host *h, int with_opt) {
    h->model = *m;
    h->opt = *opt;
    if (ctx->device == NN_CPU) return 0;
    size_t nd = m->params.total, no = optim_state_floats(opt);
    if ((!h->data && !(h->data = malloc((nd ? nd : 1) * sizeof(float)))) ||
        (!h->m && !(h->m = malloc(no * sizeof(float))))) {
        err_set("out of memory for the host copy of the weights");
        return -1;
    }
    if (nn_copy_to_host(ctx, h->data, m->params.data, nd * sizeof(float)) < 0 ||
        (with_opt && nn_copy_to_host(ctx, h->m, opt->m, no * sizeof(float)) < 0))
        return -1;
    h->model.params.data = h->data;
    h->model.params.grad = NULL;
    h->model.params.device = NN_CPU;
    h->opt.m = h->m;
    h->opt.v = opt->v ? h->m + opt->total : NULL;
    h->opt.device = NN_CPU;
    return 0;
}

/* ---- the loop -------------------------------------------------------------------------------- */

int train_run(const TrainOptions *o, Model *m, const Dataset *train, const Dataset *val) {
    int k = m->n_classes, rc = TRAIN_ERROR;
    NnCtx ctx;
    nn_ctx_init(&ctx, o->threads);
    ctx.deterministic = o->deterministic;
    ctx.tf32 = o->tf32;
    if (o->cuda_index >= 0) { /* the whole network on the GPU: only once the engine can run it */
        const char *why = nn_cuda_engine_status();
        if (why || !m->cuda_ready) {
            if (why) err_set("--device cuda: %s", why);
            else err_set("%s does not run on CUDA yet (use --device cpu)", m->arch);
            nn_ctx_free(&ctx);
            return TRAIN_ERROR;
        }
        if (nn_ctx_use_cuda(&ctx, o->cuda_index) < 0) {
            nn_ctx_free(&ctx);
            return TRAIN_ERROR;
        }
    }
    if (nn_ctx_set_amp(&ctx, o->amp) < 0) { /* mixed precision: GPU only */
        nn_ctx_free(&ctx);
        return TRAIN_ERROR;
    }
    int gpu = ctx.device != NN_CPU;
    Host host;
    memset(&host, 0, sizeof host);
    /* NN_CUDA: the batcher gathers each batch straight into pinned memory (two buffers, its double
     * buffer), from which the ring's copy stream takes it to the device (the copy of batch i+1 queued
     * while batch i's backward and optimiser step still run); the logits come back every step for the
     * loss, the metrics and the history (B x K floats: small beside the batch), the loss's gradient goes
     * to the device. */
    PinnedRing ring;
    memset(&ring, 0, sizeof ring);
    int have_ring = 0;
    float *pinned_x[2] = {NULL, NULL};
    float *logits_d = NULL, *dlogits_d = NULL; /* the device's logits and dlogits (the host arrays on the CPU) */
    size_t per = (size_t)train->c * train->f * train->t;
    Optim opt;
    memset(&opt, 0, sizeof opt);
    OptimConfig oc = o->sgd ? optim_sgd_defaults(o->lr) : optim_adamw_defaults();
    oc.lr = o->lr;
    oc.weight_decay = o->weight_decay;
    if (o->sgd) oc.momentum = o->momentum;
    float *weights = NULL, *logits = malloc(sizeof(float) * (size_t)o->batch * k),
          *probs = malloc(sizeof(float) * (size_t)o->batch * k), *dlogits = malloc(sizeof(float) * (size_t)o->batch * k),
          *dlogits2 = NULL;
    HistoryRow *hist = calloc((size_t)o->epochs + 1, sizeof *hist);
    int ml = o->multilabel;
    /* multi-label: the epoch's training logits by sample, the validation logits, pos_weight */
    float *train_scores = NULL, *val_scores = NULL, *pos_weight = NULL;
    Batcher b;
    memset(&b, 0, sizeof b);
    Progress *prog = NULL;
    if (!logits || !probs || !dlogits || !hist) {
        err_set("out of memory");
        goto done;
    }
    if (optim_init(&opt, &oc, &m->params) < 0) goto done;
    if (o->lr_backbone >= 0) /* the backbone's own learning rate, as a multiple of the head's */
        for (int i = 0; i < m->params.n; i++)
            if (!model_is_head(m, m->params.e[i].name)) opt.lr_mult[i] = (float)(o->lr_backbone / o->lr);
    if (ml && (!(train_scores = calloc((size_t)(train->n * k), sizeof(float))) ||
               (val && !(val_scores = malloc(sizeof(float) * (size_t)(val->n * k)))))) {
        err_set("out of memory");
        goto done;
    }
    if (ml && o->pos_weight) {
        pos_weight = malloc(sizeof(float) * (size_t)k);
        if (!pos_weight || pos_weight_balanced(train->targets, (size_t)train->n, k, pos_weight) < 0) {
            if (pos_weight) err_prefix(train->labels_name ? train->labels_name : train->name);
            else err_set("out of memory");
            goto done;
        }
    }
    if (o->class_weights && !ml) {
        weights = malloc(sizeof(float) * (size_t)k);
        if (!weights || class_weight_balanced(train->labels, (size_t)train->n, k, weights) < 0) {
            if (weights) {
                err_prefix("class weights of the training split");
                if (train->name) err_prefix(train->name); /* name the file, as every message does */
            }
            goto done;
        }
    }
    State s = {.best = o->monitor_acc ? -INFINITY : INFINITY, .best_epoch = -1, .lr = o->lr};
    lr_plateau_init(&s.plateau, o->monitor_acc);
    lossscale_init(&s.scaler, o->amp == NN_AMP_FP16);
    if (s.scaler.enabled && o->amp_init_scale > 0) s.scaler.scale = (float)o->amp_init_scale;
    s.plateau.factor = o->plateau_factor;
    s.plateau.patience = o->plateau_patience;
    int nhist = 0;
    if (o->resume) {
        if (load_state(o->resume, m, &opt, &s, train_scores, train->n) < 0) goto done;
        /* hist holds o->epochs rows: a state further on than --epochs keeps only those */
        if (o->history) nhist = read_history(o->history, hist, s.epoch < o->epochs ? s.epoch : o->epochs);
    }
    /* the state is in place (on the host): weights and moments go to the device once */
    if (model_to_device(m, &ctx) < 0 || optim_to_device(&opt, &ctx) < 0) goto done;
    logits_d = logits;
    dlogits_d = dlogits;
    if (gpu) {
        if (!(logits_d = nn_alloc(&ctx, sizeof(float) * (size_t)o->batch * k)) ||
            !(dlogits_d = nn_alloc(&ctx, sizeof(float) * (size_t)o->batch * k)) ||
            pinned_ring_init(&ctx, &ring, 2, sizeof(float) * (size_t)o->batch * per) < 0)
            goto done;
        have_ring = 1;
    }
    if (batcher_init(&b, train, o->batch, 1, o->seed, o->augment ? &o->aug : NULL) < 0) goto done;
    if (gpu) {
        for (int i = 0; i < 2; i++)
            if (!(pinned_x[i] = pinned_host_alloc(sizeof(float) * (size_t)o->batch * per))) goto done;
        batcher_use_buffers(&b, pinned_x[0], pinned_x[1]);
    }
    b.mixup = o->mixup;
    b.threads = gpu ? o->threads : 1; /* on the CPU the engine's threads compute while a batch is prepared */
    if (o->mixup > 0 && !(dlogits2 = malloc(sizeof(float) * (size_t)o->batch * k))) {
        err_set("out of memory");
        goto done;
    }
    CrossEntropyShape ce = {.C = k, .label_smoothing = o->label_smoothing};
    BceShape bs = {.K = k, .label_smoothing = o->label_smoothing};
    stop_requested = 0;
    for (; s.epoch < o->epochs && !s.finished; s.epoch++) {
        double t0 = now();
        if (o->schedule == 2) s.lr = cosine_lr(o, s.epoch);
        /* fine-tuning: the backbone is frozen until --unfreeze-at (a function of the epoch, so a
         * resumed run freezes alike) */
        model_freeze_backbone(m, o->freeze_backbone && (o->unfreeze_at <= 0 || s.epoch + 1 < o->unfreeze_at));
        opt.lr = s.lr;
        /* on the GPU the buffer the batcher refills next was an earlier copy's source: that copy first */
        if (gpu && pinned_ring_drain(&ring) < 0) goto done;
        batcher_start_epoch(&b, s.epoch);
        const float *x;
        const int64_t *y, *idx;
        int n;
        for (int64_t skip = 0; skip < s.batch; skip++) batcher_next(&b, &x, &y, &idx); /* resume mid-epoch */
        char what[64];
        snprintf(what, sizeof what, "epoch %d/%d", s.epoch + 1, o->epochs);
        prog = progress_start(what, b.nbatches, "batches", o->verbosity);
        progress_add(prog, s.batch);
        long long skipped_epoch = 0; /* fp16 steps skipped in this run's part of the epoch */
        for (;;) {
            if (gpu && pinned_ring_drain(&ring) < 0) goto done; /* as before batcher_start_epoch */
            if ((n = batcher_next(&b, &x, &y, &idx)) <= 0) break;
            const float *xin = x;
            int slot = -1;
            if (gpu) { /* the batch, gathered and augmented on the host in pinned memory: its copy */
                if ((slot = pinned_ring_slot(&ring)) < 0 ||
                    !(xin = pinned_ring_submit_from(&ctx, &ring, slot, x, sizeof(float) * (size_t)n * per)))
                    goto done;
                if (nn_zero(&ctx, m->params.grad, sizeof(float) * m->params.total) < 0) goto done;
            } else {
                params_zero_grad(&m->params);
            }
            if (m->forward(m, &ctx, xin, n, NN_TRAIN, s.step, logits_d) < 0) goto done;
            /* the one host round trip of a step; it waits for the forward, so the context's error (a void
             * layer's, of this forward or the last step's backward and update) is read here for free */
            if (gpu && (nn_copy_to_host(&ctx, logits, logits_d, sizeof(float) * (size_t)n * k) < 0 || nn_sync(&ctx) < 0))
                goto done;
            ce.N = bs.N = n;
            float loss;
            const float *t = batcher_targets(&b);
            const int64_t *y2;
            double lam = o->mixup > 0 && !ml ? batcher_mixup(&b, &y2) : 1;
            if (ml) { /* mixup, if any, has blended the targets already */
                if (bce_with_logits_forward(&bs, logits, t, pos_weight, &loss) < 0) goto done;
                bce_with_logits_backward(&bs, 1.0f, logits, t, pos_weight, dlogits);
                for (int i = 0; i < n; i++) memcpy(train_scores + idx[i] * k, logits + i * k, sizeof(float) * k);
            } else if (cross_entropy_forward(&ctx, &ce, logits, y, weights, &loss, probs) < 0) {
                goto done;
            } else if (lam < 1) { /* mixup: lam * CE(y) + (1 - lam) * CE(y2) */
                float loss2;
                cross_entropy_backward(&ctx, &ce, (float)lam, probs, y, weights, dlogits);
                if (cross_entropy_forward(&ctx, &ce, logits, y2, weights, &loss2, probs) < 0) goto done;
                cross_entropy_backward(&ctx, &ce, (float)(1 - lam), probs, y2, weights, dlogits2);
                for (int i = 0; i < n * k; i++) dlogits[i] += dlogits2[i];
                loss = (float)(lam * loss + (1 - lam) * loss2);
            } else {
                cross_entropy_backward(&ctx, &ce, 1.0f, probs, y, weights, dlogits);
            }
            if (s.scaler.enabled) /* fp16: the loss's gradient scaled (a power of two: exact unless it overflows) */
                for (int i = 0; i < n * k; i++) dlogits[i] *= s.scaler.scale;
            if (gpu && nn_copy_to_device(&ctx, dlogits_d, dlogits, sizeof(float) * (size_t)n * k) < 0) goto done;
            if (m->backward(m, &ctx, dlogits_d) < 0) goto done;
            /* backward (the first convolution's weight gradient) was the last reader of the batch's buffer */
            if (gpu && pinned_ring_release(&ctx, &ring, slot) < 0) goto done;
            int take = 1; /* fp16: unscaled and checked; a step with inf/NaN is skipped and the scale backs off */
            if (s.scaler.enabled) {
                int found_inf = 0;
                float used = s.scaler.scale;
                if (lossscale_unscale(&ctx, m->params.grad, m->params.total, lossscale_inv(&s.scaler), &found_inf) < 0)
                    goto done;
                take = lossscale_update(&s.scaler, found_inf);
                if (!take) {
                    skipped_epoch++;
                    if (o->verbosity > 0)
                        fprintf(stderr, "%s: epoch %d, step %lld: inf/NaN gradients at loss scale %g: step skipped, scale %g\n",
                                diag_program(), s.epoch + 1, (long long)s.step + 1, (double)used, (double)s.scaler.scale);
                }
            }
            if (take && o->clip > 0 && clip_grad_norm(&ctx, &m->params, (float)o->clip) < 0 && gpu) goto done;
            if (take && optim_step(&ctx, &opt, &m->params) < 0) goto done;
            s.loss_sum += (double)loss * n;
            if (!ml) s.correct += count_correct(logits, y, n, k);
            s.seen += n;
            s.step++;
            s.batch++;
            char note[64];
            snprintf(note, sizeof note, "loss %.4f", s.loss_sum / (double)s.seen);
            progress_note(prog, note);
            progress_add(prog, 1);
            if (!isfinite(loss)) {
                /* fp16: activations beyond 65504 overflow in the forward, which no loss scale can undo */
                err_set("the training loss became %f at epoch %d, step %lld (lower --lr?%s)", loss, s.epoch + 1,
                        (long long)s.step, o->amp == NN_AMP_FP16 ? " fp16 activations may overflow: try --amp bf16" : "");
                goto done;
            }
            if (stop_requested && o->state) {
                progress_finish(prog);
                prog = NULL;
                if (host_view(&ctx, m, &opt, &host, 1) < 0 ||
                    save_state(o, &host.model, &host.opt, &s, train_scores, train->n) < 0)
                    goto done;
                rc = TRAIN_INTERRUPTED;
                goto done;
            }
        }
        progress_finish(prog);
        prog = NULL;
        HistoryRow r = {.epoch = s.epoch + 1, .train_loss = s.loss_sum / (double)s.seen,
                        .train_acc = ml ? macro_ap(train_scores, train->targets, train->n, k) : (double)s.correct / (double)s.seen,
                        .val_loss = NAN, .val_acc = NAN, .lr = s.lr};
        if (val && (ml ? evaluate_multi(&ctx, m, val, o->batch, val_scores, &r.val_loss, &r.val_acc)
                       : evaluate(&ctx, m, val, o->batch, logits, probs, &r.val_loss, &r.val_acc)) < 0)
            goto done;
        double metric = val ? (o->monitor_acc ? r.val_acc : r.val_loss) : -(double)s.epoch;
        int improved = o->monitor_acc ? metric > s.best : metric < s.best;
        if (!val) improved = 1; /* without validation the last epoch is kept */
        if (improved) {
            s.best = metric;
            s.best_epoch = s.epoch;
            s.bad_epochs = 0;
            Meta md = {0};
            meta_model(&md, o, m, &s);
            if (host_view(&ctx, m, &opt, &host, 0) < 0 || save_checkpoint(o->out, o, &host.model, &md, NULL, 0) < 0)
                goto done;
        } else {
            s.bad_epochs++;
        }
        if (o->schedule == 1 && val) lr_plateau_step(&s.plateau, metric, &s.lr);
        r.seconds = now() - t0;
        hist[nhist++] = r;
        if (o->history && write_history(o->history, hist, nhist, ml) < 0) goto done;
        if (o->verbosity >= 0) {
            char vtext[64] = "no validation"; /* without --val: nothing to report (the history has nan/null) */
            const char *acc = ml ? "mAP" : "acc";
            if (val) snprintf(vtext, sizeof vtext, "val loss %.4f %s %.4f", r.val_loss, acc, r.val_acc);
            fprintf(stderr, "%s: epoch %d/%d  train loss %.4f %s %.4f  %s  lr %.3g  %.1fs%s\n", diag_program(),
                    r.epoch, o->epochs, r.train_loss, acc, r.train_acc, vtext, r.lr, r.seconds, improved ? "  *" : "");
        }
        if (o->verbosity > 0 && s.scaler.enabled)
            fprintf(stderr, "%s: epoch %d: fp16 loss scale %g, %lld steps skipped (inf/NaN gradients), %lld in all\n",
                    diag_program(), r.epoch, (double)s.scaler.scale, skipped_epoch, s.scaler.skipped);
        if (o->patience > 0 && s.bad_epochs >= o->patience) s.finished = 1;
        s.batch = 0;
        s.loss_sum = 0;
        s.correct = s.seen = 0;
        if (o->state) {
            State next = s;
            next.epoch = s.epoch + 1;
            if (host_view(&ctx, m, &opt, &host, 1) < 0 ||
                save_state(o, &host.model, &host.opt, &next, train_scores, train->n) < 0)
                goto done;
        }
        if (s.finished && o->verbosity >= 0)
            fprintf(stderr, "%s: stopping early: no improvement of %s for %d epochs (best epoch %d)\n", diag_program(),
                    monitor_name(o), o->patience, s.best_epoch + 1);
    }
    if (gpu && nn_sync(&ctx) < 0) goto done;
    rc = TRAIN_OK;
done:
    progress_finish(prog);
    batcher_free(&b);
    if (have_ring) pinned_ring_free(&ring); /* waits for its copies */
    pinned_host_free(pinned_x[0]);
    pinned_host_free(pinned_x[1]);
    if (gpu) {
        nn_free(&ctx, logits_d);
        nn_free(&ctx, dlogits_d);
    }
    free(host.data);
    free(host.m);
    optim_free(&opt);
    nn_ctx_free(&ctx);
    free(weights);
    free(logits);
    free(probs);
    free(dlogits);
    free(dlogits2);
    free(hist);
    free(train_scores);
    free(val_scores);
    free(pos_weight);
    return rc;
}
