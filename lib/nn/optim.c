#include "nn/optim.h"

#include "core/cpu.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAR_MIN 65536     /* floats below which threads cost more than they save */
#define CLIP_BLOCK NN_CLIP_BLOCK /* fixed summation blocks of clip_grad_norm (thread-count independent; kernels.h) */

OptimConfig optim_adamw_defaults(void) {
    OptimConfig c = {.kind = OPTIM_ADAMW, .lr = 1e-3, .weight_decay = 1e-2, .beta1 = 0.9, .beta2 = 0.999,
                     .eps = 1e-8};
    return c;
}

OptimConfig optim_sgd_defaults(double lr) {
    OptimConfig c = {.kind = OPTIM_SGD, .lr = lr};
    return c;
}

/* Per-entry scalars of one step, computed in double as PyTorch's Python code does, used in float:
 * kernels.h's NnOptStep, whose element updates (nn_adamw_elem, nn_sgd_elem) the CUDA step runs too. */
typedef NnOptStep EntryStep;

int optim_init(Optim *o, const OptimConfig *cfg, const ParamTable *t) {
    memset(o, 0, sizeof *o);
    if (!t->data) {
        err_set("optimiser: the parameter table is not allocated");
        return -1;
    }
    if (!(cfg->lr >= 0) || !(cfg->weight_decay >= 0) || !(cfg->eps >= 0) || !(cfg->momentum >= 0) ||
        (cfg->kind == OPTIM_ADAMW && !(cfg->beta1 >= 0 && cfg->beta1 < 1 && cfg->beta2 >= 0 && cfg->beta2 < 1)) ||
        (cfg->kind == OPTIM_SGD && cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0)) ||
        (cfg->kind != OPTIM_ADAMW && cfg->kind != OPTIM_SGD)) {
        err_set("optimiser: invalid configuration (PyTorch would refuse it too)");
        return -1;
    }
    o->cfg = *cfg;
    o->lr = cfg->lr;
    o->n = t->n;
    o->total = t->total;
    size_t blocks = cfg->kind == OPTIM_ADAMW ? 2 : 1;
    size_t bytes = ((o->total ? o->total : 1) * blocks * sizeof(float) + 63) & ~(size_t)63;
    if (posix_memalign((void **)&o->m, 64, bytes) != 0) {
        o->m = NULL;
        err_set("out of memory for optimiser state (%zu floats)", o->total * blocks);
        return -1;
    }
    memset(o->m, 0, bytes);
    if (blocks == 2) o->v = o->m + o->total;
    size_t ne = t->n ? (size_t)t->n : 1;
    o->step = calloc(ne, sizeof *o->step);
    o->lr_mult = malloc(ne * sizeof *o->lr_mult);
    o->wd_mult = malloc(ne * sizeof *o->wd_mult);
    o->entry_work = malloc(ne * sizeof(EntryStep));
    if (!o->step || !o->lr_mult || !o->wd_mult || !o->entry_work) {
        optim_free(o);
        err_set("out of memory for optimiser state");
        return -1;
    }
    for (int i = 0; i < t->n; i++) o->lr_mult[i] = o->wd_mult[i] = 1.0f;
    return 0;
}

void optim_free(Optim *o) {
#ifdef AUDIOCNN_CUDA
    optim_cuda_release(o);
#endif
    nn_free_on(o->device, o->m);
    free(o->step);
    free(o->lr_mult);
    free(o->wd_mult);
    free(o->entry_work);
    memset(o, 0, sizeof *o);
}

size_t optim_state_floats(const Optim *o) { return (o->total ? o->total : 1) * (o->cfg.kind == OPTIM_ADAMW ? 2 : 1); }

int optim_to_device(Optim *o, NnCtx *ctx) {
    if (ctx->device == NN_CPU || o->device == ctx->device) return 0;
    size_t bytes = optim_state_floats(o) * sizeof(float);
    float *d = nn_alloc(ctx, bytes);
    if (!d || nn_copy_to_device(ctx, d, o->m, bytes) < 0) {
        nn_free(ctx, d);
        return -1;
    }
    free(o->m);
    o->m = d;
    if (o->v) o->v = d + o->total;
    o->device = ctx->device;
    return 0;
}

static int set_mult(float *mult, const Optim *o, const ParamTable *t, const char *prefix, float v) {
    int k = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < t->n && i < o->n; i++)
        if (strncmp(t->e[i].name, prefix, len) == 0) {
            mult[i] = v;
            k++;
        }
    return k;
}

int optim_set_lr_mult(Optim *o, const ParamTable *t, const char *prefix, float mult) {
    return set_mult(o->lr_mult, o, t, prefix, mult);
}

int optim_set_wd_mult(Optim *o, const ParamTable *t, const char *prefix, float mult) {
    return set_mult(o->wd_mult, o, t, prefix, mult);
}


typedef struct {
    const Optim *o;
    ParamTable *t;
    const EntryStep *es;
    double *blocks; /* clip: per-block sums of squares */
    float coef;     /* clip: the scale */
    NnOptConsts k;  /* step: the configuration's float constants */
} OptArgs;

NnOptConsts optim_consts(const OptimConfig *c) {
    NnOptConsts k = {.b1 = (float)c->beta1, .b2 = (float)c->beta2, .a1 = (float)(1.0 - c->beta1),
                     .a2 = (float)(1.0 - c->beta2), .eps = (float)c->eps, .mom = (float)c->momentum,
                     .damp = (float)(1.0 - c->dampening), .momentum_on = c->momentum != 0, .nesterov = c->nesterov};
    return k;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "nn/lanes_avx512.h"
/* nn_adamw_elem on 16 lanes: its operations in its order, each rounded as there (IEEE square root and
 * division are correctly rounded in both), so the same bits; GCC keeps the scalar loop scalar (sqrtf's
 * errno). */
__attribute__((target("avx512f"))) static void adamw_avx512(const NnOptConsts *c, const EntryStep *es, float *p,
                                                           const float *g, float *m, float *v, size_t n) {
    const __m512 decay = _mm512_set1_ps(es->decay), b1 = _mm512_set1_ps(c->b1), a1 = _mm512_set1_ps(c->a1),
                 b2 = _mm512_set1_ps(c->b2), a2 = _mm512_set1_ps(c->a2), bc2 = _mm512_set1_ps(es->bc2_sqrt),
                 eps = _mm512_set1_ps(c->eps), step = _mm512_set1_ps(es->step_size);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = lanes_between(0, (int64_t)(n - i));
        __m512 gi = _mm512_maskz_loadu_ps(k, g + i);
        __m512 pi = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + i), decay);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, m + i), b1), _mm512_mul_ps(a1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, v + i), b2),
                                  _mm512_mul_ps(_mm512_mul_ps(a2, gi), gi));
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
        _mm512_mask_storeu_ps(p + i, k, _mm512_add_ps(pi, _mm512_mul_ps(step, _mm512_div_ps(mi, denom))));
        _mm512_mask_storeu_ps(m + i, k, mi);
        _mm512_mask_storeu_ps(v + i, k, vi);
    }
}
#define HAVE_ADAMW_AVX512 1
#else
#define HAVE_ADAMW_AVX512 0
#endif

static void adamw_elems(const NnOptConsts *c, const EntryStep *es, float *p, const float *g, float *m, float *v,
                        size_t n) {
#if HAVE_ADAMW_AVX512
    if (cpu_avx512()) {
        adamw_avx512(c, es, p, g, m, v, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) nn_adamw_elem(c, es, &p[i], g[i], &m[i], &v[i]);
}

static void sgd_elems(const NnOptConsts *c, const EntryStep *es, float *p, const float *g, float *buf, size_t n) {
    for (size_t i = 0; i < n; i++) nn_sgd_elem(c, es, &p[i], g[i], &buf[i]);
}

/* Over flat float indices [f0, f1): the parts of optimised entries inside. */
static void step_range(void *arg, int64_t f0, int64_t f1) {
    const OptArgs *a = arg;
    const Optim *o = a->o;
    ParamTable *t = a->t;
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *e = &t->e[i];
        if (!optim_updates(e)) continue;
        size_t b = e->offset > (size_t)f0 ? e->offset : (size_t)f0;
        size_t end = e->offset + e->numel < (size_t)f1 ? e->offset + e->numel : (size_t)f1;
        if (b >= end) continue;
        if (o->cfg.kind == OPTIM_ADAMW)
            adamw_elems(&a->k, &a->es[i], t->data + b, t->grad + b, o->m + b, o->v + b, end - b);
        else
            sgd_elems(&a->k, &a->es[i], t->data + b, t->grad + b, o->m + b, end - b);
    }
}

static void run(NnCtx *ctx, int64_t n, nn_range_fn fn, void *a) {
    if (n <= 0) return;
    if (n < PAR_MIN || ctx->threads <= 1) fn(a, 0, n);
    else nn_parallel_for(ctx, n, fn, a);
}

const NnOptStep *optim_prepare_step(Optim *o, const ParamTable *t) {
    EntryStep *es = o->entry_work;
    memset(es, 0, (t->n ? (size_t)t->n : 1) * sizeof *es);
    const OptimConfig *c = &o->cfg;
    for (int i = 0; i < t->n; i++) {
        if (!optim_updates(&t->e[i])) continue;
        double lr = o->lr * (double)o->lr_mult[i];
        double wd = c->weight_decay * (double)o->wd_mult[i];
        es[i].first = o->step[i] == 0;
        double step = (double)++o->step[i];
        if (c->kind == OPTIM_ADAMW) {
            double bc1 = 1.0 - pow(c->beta1, step), bc2 = 1.0 - pow(c->beta2, step);
            es[i].decay = (float)(1.0 - lr * wd);
            es[i].step_size = (float)(-(lr / bc1));
            es[i].bc2_sqrt = (float)sqrt(bc2);
        } else {
            es[i].wd = (float)wd;
            es[i].step_size = (float)(-lr);
        }
    }
    return es;
}

NnOptChunk *optim_chunks(const ParamTable *t, int64_t *n) {
    int64_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        NnOptChunk *c = NULL;
        if (pass == 1 && !(c = malloc((size_t)(k ? k : 1) * sizeof *c))) {
            err_set("out of memory for the optimiser's chunks");
            return NULL;
        }
        k = 0;
        for (int i = 0; i < t->n; i++) {
            if (!optim_updates(&t->e[i])) continue;
            for (size_t b = 0; b < t->e[i].numel; b += NN_OPT_CHUNK) {
                if (c) {
                    size_t len = t->e[i].numel - b < NN_OPT_CHUNK ? t->e[i].numel - b : NN_OPT_CHUNK;
                    c[k] = (NnOptChunk){.begin = (int64_t)(t->e[i].offset + b), .len = (int32_t)len, .entry = i};
                }
                k++;
            }
        }
        if (c) {
            *n = k;
            return c;
        }
    }
    return NULL;
}

int optim_step(NnCtx *ctx, Optim *o, ParamTable *t) {
    if (t->n != o->n || t->total != o->total) {
        err_set("optimiser: the parameter table changed since the state was made (%d/%zu entries/floats, now %d/%zu)",
                o->n, o->total, t->n, t->total);
        return -1;
    }
    NN_DISPATCH_CUDA(ctx, optim_step_cuda(ctx, o, t));
    const EntryStep *es = optim_prepare_step(o, t);
    OptArgs a = {.o = o, .t = t, .es = es, .k = optim_consts(&o->cfg)};
    run(ctx, (int64_t)t->total, step_range, &a);
    return 0;
}

/* clip: sum of squares per fixed block (block index range [b0, b1)) */
static void sumsq_blocks(void *arg, int64_t b0, int64_t b1) {
    const OptArgs *a = arg;
    const ParamTable *t = a->t;
    for (int64_t blk = b0; blk < b1; blk++) {
        size_t f0 = (size_t)blk * CLIP_BLOCK, f1 = f0 + CLIP_BLOCK < t->total ? f0 + CLIP_BLOCK : t->total;
        double acc[4] = {0};
        for (int i = 0; i < t->n; i++) {
            const ParamEntry *e = &t->e[i];
            if (!optim_updates(e)) continue;
            size_t b = e->offset > f0 ? e->offset : f0;
            size_t end = e->offset + e->numel < f1 ? e->offset + e->numel : f1;
            const float *g = t->grad;
            size_t j = b;
            for (; j + 4 <= end; j += 4)
                for (int k = 0; k < 4; k++) acc[k] += (double)g[j + k] * (double)g[j + k];
            for (; j < end; j++) acc[0] += (double)g[j] * (double)g[j];
        }
        a->blocks[blk] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

static void scale_range(void *arg, int64_t f0, int64_t f1) {
    const OptArgs *a = arg;
    ParamTable *t = a->t;
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *e = &t->e[i];
        if (!optim_updates(e)) continue;
        size_t b = e->offset > (size_t)f0 ? e->offset : (size_t)f0;
        size_t end = e->offset + e->numel < (size_t)f1 ? e->offset + e->numel : (size_t)f1;
        for (size_t j = b; j < end; j++) t->grad[j] *= a->coef;
    }
}

float clip_grad_norm(NnCtx *ctx, ParamTable *t, float max_norm) {
    NN_DISPATCH_CUDA(ctx, clip_grad_norm_cuda(ctx, t, max_norm));
    int64_t nb = (int64_t)((t->total + CLIP_BLOCK - 1) / CLIP_BLOCK);
    double *blocks = (double *)nn_scratch(ctx, (size_t)(nb > 0 ? nb : 1) * 2);
    if (!blocks) return -1.0f;
    OptArgs a = {.t = t, .blocks = blocks};
    if (nb > 0) {
        if (t->total < PAR_MIN || ctx->threads <= 1) sumsq_blocks(&a, 0, nb);
        else nn_parallel_for(ctx, nb, sumsq_blocks, &a);
    }
    double sum = 0;
    for (int64_t b = 0; b < nb; b++) sum += blocks[b];
    float total = (float)sqrt(sum);
    float coef = max_norm / (total + 1e-6f);
    if (!(coef >= 1.0f)) { /* clamp(coef, max=1): multiplying by 1 changes nothing; NaN propagates */
        a.coef = coef;
        run(ctx, (int64_t)t->total, scale_range, &a);
    }
    return total;
}

void lr_plateau_init(LrPlateau *p, int mode_max) {
    memset(p, 0, sizeof *p);
    p->mode_max = mode_max;
    p->factor = 0.1;
    p->patience = 10;
    p->threshold = 1e-4;
    p->cooldown = 0;
    p->min_lr = 0;
    p->eps = 1e-8;
    p->best = mode_max ? -INFINITY : INFINITY;
}

static int plateau_better(const LrPlateau *p, double a) {
    if (!p->mode_max && !p->threshold_abs) return a < p->best * (1.0 - p->threshold);
    if (!p->mode_max) return a < p->best - p->threshold;
    if (!p->threshold_abs) return a > p->best * (p->threshold + 1.0);
    return a > p->best + p->threshold;
}

int lr_plateau_step(LrPlateau *p, double metric, double *lr) {
    int reduced = 0;
    p->last_epoch++;
    if (plateau_better(p, metric)) {
        p->best = metric;
        p->num_bad_epochs = 0;
    } else {
        p->num_bad_epochs++;
    }
    if (p->cooldown_counter > 0) {
        p->cooldown_counter--;
        p->num_bad_epochs = 0;
    }
    if (p->num_bad_epochs > p->patience) {
        double old = *lr, nw = old * p->factor;
        if (nw < p->min_lr) nw = p->min_lr;
        if (old - nw > p->eps) {
            *lr = nw;
            reduced = 1;
        }
        p->cooldown_counter = p->cooldown;
        p->num_bad_epochs = 0;
    }
    return reduced;
}

double lr_cosine_warmup(double base_lr, double min_lr, int64_t warmup, int64_t total, int64_t t) {
    if (t < warmup) return base_lr * (double)t / (double)warmup;
    double span = (double)(total - warmup);
    if (span < 1) span = 1;
    double q = (double)(t - warmup) / span;
    if (q > 1) q = 1;
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * q));
}
