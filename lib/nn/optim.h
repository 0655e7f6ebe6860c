/* optim.h - optimisers (AdamW, SGD), learning-rate schedules and gradient clipping over a ParamTable,
 * with PyTorch's exact semantics (torch 1.13 single-tensor code paths).
 *
 * Which entries are optimised: kind PARAM_WEIGHT and not frozen (optim_updates()). Buffers, counters and
 * frozen weights are never touched, and clipping ignores their gradients (in PyTorch they have no grad).
 *
 * State: m (AdamW exp_avg / SGD momentum_buffer) and v (AdamW exp_avg_sq) are flat float arrays
 * parallel to ParamTable.data (entry i's state is m + e[i].offset, numel floats), allocated as ONE
 * block; step[i] counts the updates applied to entry i (torch's state['step']; an entry unfrozen later
 * starts its bias correction at 1, as in PyTorch where a param without grad is skipped).
 * Groups: entry i uses lr * lr_mult[i] and weight_decay * wd_mult[i] (both 1 by default), so a backbone
 * can run at its own learning rate, and biases / BN parameters can be exempt from decay.
 *
 * AdamW (torch.optim.AdamW, amsgrad=False, maximize=False), per element, with t = ++step,
 * lr' = lr * lr_mult, wd' = weight_decay * wd_mult (scalars in double, applied in float):
 *   p *= 1 - lr' * wd'                                   (decoupled decay, before the Adam update)
 *   m = m * beta1 + (1 - beta1) * g
 *   v = v * beta2 + (1 - beta2) * g * g
 *   p += -(lr' / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * Defaults (optim_adamw_defaults): lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01.
 * SGD (torch.optim.SGD), per element:
 *   d = g + wd' * p                    (coupled L2, only when wd' != 0)
 *   momentum != 0: buf = d on the entry's first step, else buf = momentum * buf + (1 - dampening) * d;
 *                  d = nesterov ? d + momentum * buf : buf
 *   p += -lr' * d
 * Defaults (optim_sgd_defaults): momentum 0, dampening 0, weight_decay 0, nesterov off.
 *
 * Deterministic: every element is updated independently; clipping sums squares over fixed blocks and
 * adds the block sums in order, whatever ctx->threads. */
#ifndef AUDIOCNN_NN_OPTIM_H
#define AUDIOCNN_NN_OPTIM_H

#include "nn/kernels.h"
#include "nn/nn.h"
#include "nn/params.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { OPTIM_ADAMW = 0, OPTIM_SGD = 1 } OptimKind;

typedef struct OptimConfig {
    OptimKind kind;
    double lr;           /* base learning rate (Optim.lr starts here; schedules change Optim.lr) */
    double weight_decay; /* AdamW: decoupled; SGD: coupled (L2 added to the gradient) */
    double beta1, beta2, eps;                 /* AdamW */
    double momentum, dampening; int nesterov; /* SGD (nesterov needs momentum > 0, dampening 0) */
} OptimConfig;

OptimConfig optim_adamw_defaults(void);
OptimConfig optim_sgd_defaults(double lr);

typedef struct Optim {
    OptimConfig cfg;
    double lr;       /* current learning rate */
    int n;           /* entries (ParamTable.n at init) */
    size_t total;    /* floats (ParamTable.total at init) */
    float *m, *v;    /* one block; v is NULL for SGD */
    int64_t *step;   /* (n) */
    float *lr_mult;  /* (n) */
    float *wd_mult;  /* (n) */
    void *entry_work; /* (n) per-entry scalars of a step, allocated once (no malloc per step) */
    void *cuda;       /* NN_CUDA: the fused step's chunk table and scalars in device memory (optim.cu) */
    NnDevice device;  /* where m and v are (optim_to_device); step and the multipliers stay on the host */
} Optim;

static inline int optim_updates(const ParamEntry *e) { return e->kind == PARAM_WEIGHT && !e->frozen; }

/* Zeroed state for an allocated table. Returns 0, or -1 with err_set() (bad config, out of memory). */
int optim_init(Optim *o, const OptimConfig *cfg, const ParamTable *t);
void optim_free(Optim *o);
/* m and v (one block) into ctx's memory when ctx runs on a GPU (values copied, the host block freed), so
 * that optim_step's fused kernel finds them beside a table moved by params_to_device; nothing on the CPU.
 * Returns 0, or -1 with err_set() (o unchanged). optim_state_floats: the floats of that block (m, then v). */
int optim_to_device(Optim *o, NnCtx *ctx);
size_t optim_state_floats(const Optim *o);
/* Multiplier for every entry whose name starts with prefix ("" = all). Returns how many matched. */
int optim_set_lr_mult(Optim *o, const ParamTable *t, const char *prefix, float mult);
int optim_set_wd_mult(Optim *o, const ParamTable *t, const char *prefix, float mult);
/* One update of every optimised entry from t->grad (the caller zeroes the gradients afterwards).
 * Returns 0, or -1 with err_set() when t is not the table the state was made for. */
int optim_step(NnCtx *ctx, Optim *o, ParamTable *t);

/* The pieces of a step the GPU's fused step (optim.cu) shares with optim_step:
 * optim_consts: the configuration's float constants; optim_prepare_step: advances every optimised entry's
 * step counter and returns its scalars (o's own array, n entries, valid until the next call);
 * optim_chunks: runs of at most NN_OPT_CHUNK floats of the optimised entries, in table order (malloc'd,
 * *n of them; NULL with err_set() when out of memory). */
NnOptConsts optim_consts(const OptimConfig *c);
const NnOptStep *optim_prepare_step(Optim *o, const ParamTable *t);
NnOptChunk *optim_chunks(const ParamTable *t, int64_t *n);

#ifdef AUDIOCNN_CUDA
/* optim.cu: optim_step under NN_CUDA, one fused kernel (kernels.h's kb_optim_step) over t->data, t->grad,
 * o->m and o->v, which must then be device memory (nn_alloc); the chunk table goes to the device on the
 * first call. optim_cuda_release frees it (optim_free calls it). */
int optim_step_cuda(NnCtx *ctx, Optim *o, ParamTable *t);
void optim_cuda_release(Optim *o);
/* clip_grad_norm on device memory (t->grad): kernels.h's block sums (the CPU's, bit for bit), added in
 * order on the host; then the scaling kernel when coef < 1. */
float clip_grad_norm_cuda(NnCtx *ctx, ParamTable *t, float max_norm);
#endif

/* torch.nn.utils.clip_grad_norm_(params, max_norm) with norm_type 2: total = L2 norm of every
 * optimised gradient together; coef = max_norm / (total + 1e-6); when coef < 1 (or NaN) every such
 * gradient is multiplied by coef. Returns total (before clipping), or -1 when the workspace cannot be
 * had (err_set(); nothing changed). Uses ctx's scratch workspace (its previous contents are lost). */
float clip_grad_norm(NnCtx *ctx, ParamTable *t, float max_norm);

/* torch.optim.lr_scheduler.ReduceLROnPlateau, stepped once per epoch with the monitored metric:
 *   better = min/rel: a < best * (1 - threshold); min/abs: a < best - threshold;
 *            max/rel: a > best * (1 + threshold); max/abs: a > best + threshold   (best starts at +-inf)
 *   better ? (best = a, bad = 0) : bad++;
 *   in cooldown (cooldown_counter > 0): cooldown_counter--, bad = 0;
 *   bad > patience: new = max(lr * factor, min_lr); if lr - new > eps then lr = new;
 *                   cooldown_counter = cooldown; bad = 0.
 * With lr multiplier groups the one base lr is reduced (PyTorch reduces each group's own lr: the same
 * while min_lr is 0 and group lrs stay far above eps). Defaults: factor 0.1, patience 10, threshold
 * 1e-4 rel, cooldown 0, min_lr 0, eps 1e-8. */
typedef struct LrPlateau {
    int mode_max;      /* 0: 'min' (a loss), 1: 'max' (an accuracy) */
    int threshold_abs; /* 0: 'rel', 1: 'abs' */
    double factor, threshold, min_lr, eps;
    int patience, cooldown;
    /* state */
    double best;
    int num_bad_epochs, cooldown_counter;
    int64_t last_epoch;
} LrPlateau;

void lr_plateau_init(LrPlateau *p, int mode_max);
/* One epoch; *lr is the current learning rate, updated in place. Returns 1 when it was reduced. */
int lr_plateau_step(LrPlateau *p, double metric, double *lr);

/* Cosine annealing with linear warm-up, a pure function of the step t = 0, 1, ... (steps or epochs: use
 * the same unit for t, warmup and total):
 *   t < warmup:  lr = base_lr * t / warmup
 *   otherwise:   q = min(1, (t - warmup) / max(1, total - warmup)),
 *                lr = min_lr + (base_lr - min_lr) * 0.5 * (1 + cos(pi * q))
 * With min_lr = 0 this is transformers' get_cosine_schedule_with_warmup (LambdaLR); with warmup = 0 it
 * is torch's CosineAnnealingLR(T_max = total, eta_min = min_lr) closed form. */
double lr_cosine_warmup(double base_lr, double min_lr, int64_t warmup, int64_t total, int64_t t);

#ifdef __cplusplus
}
#endif

#endif
