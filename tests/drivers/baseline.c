/* Driver for tests/py/test_baseline.py: the baseline CNN on fixtures PyTorch made.
 *   baseline DIR N_CLASSES DROPOUT
 * reads DIR/x.npy (N,1,F,T), DIR/y.npy (N,) and DIR/p.<name>.npy for every parameter; writes
 * DIR/c.logits.npy, DIR/c.loss.npy, DIR/c.grad.<name>.npy (gradients of the first step),
 * DIR/c.stats.<name>.npy (buffers after the first forward) and DIR/c.step3.<name>.npy (every
 * parameter after three AdamW steps on the same batch). */
#include "core/error.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "formats/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[2048];

static int save_entry(const char *prefix, const ParamTable *t, int i, const float *src) {
    const ParamEntry *e = &t->e[i];
    Tensor out;
    if (tensor_alloc(&out, DT_F32, e->ndim, e->shape) < 0) return -1;
    memcpy(out.data, src, sizeof(float) * e->numel);
    char path[4096];
    snprintf(path, sizeof path, "%s/c.%s.%s.npy", dir, prefix, e->name);
    int rc = npy_save(path, &out);
    tensor_free(&out);
    return rc;
}

static int save_1(const char *name, const float *v, int ndim, const int64_t *shape) {
    Tensor out;
    if (tensor_alloc(&out, DT_F32, ndim, shape) < 0) return -1;
    memcpy(out.data, v, sizeof(float) * (size_t)tensor_numel(&out));
    char path[4096];
    snprintf(path, sizeof path, "%s/c.%s.npy", dir, name);
    int rc = npy_save(path, &out);
    tensor_free(&out);
    return rc;
}

#define TRY(x) do { if ((x) < 0) { fprintf(stderr, "baseline: error: %s\n", err_msg()); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: baseline DIR N_CLASSES DROPOUT\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    int k = atoi(argv[2]);
    char path[4096];
    Tensor x, y;
    snprintf(path, sizeof path, "%s/x.npy", dir);
    TRY(npy_load(path, DT_F32, &x));
    snprintf(path, sizeof path, "%s/y.npy", dir);
    TRY(npy_load(path, DT_I64, &y));
    int n = (int)x.shape[0];
    Model m;
    TRY(model_create(&m, "baseline", (int)x.shape[1], (int)x.shape[2], (int)x.shape[3], k));
    m.dropout = (float)atof(argv[3]);
    ParamTable *t = &m.params;
    for (int i = 0; i < t->n; i++) {
        Tensor p;
        snprintf(path, sizeof path, "%s/p.%s.npy", dir, t->e[i].name);
        TRY(npy_load(path, DT_F32, &p));
        if ((size_t)tensor_numel(&p) != t->e[i].numel) {
            fprintf(stderr, "baseline: error: %s has %lld values, expected %zu\n", path, (long long)tensor_numel(&p), t->e[i].numel);
            return 1;
        }
        memcpy(params_data(t, i), p.data, sizeof(float) * t->e[i].numel);
        tensor_free(&p);
    }
    NnCtx ctx;
    nn_ctx_init(&ctx, 2);
    float *logits = malloc(sizeof(float) * (size_t)n * k), *probs = malloc(sizeof(float) * (size_t)n * k),
          *dlogits = malloc(sizeof(float) * (size_t)n * k);
    CrossEntropyShape ce = {.N = n, .C = k};
    OptimConfig oc = optim_adamw_defaults();
    Optim opt;
    TRY(optim_init(&opt, &oc, t));
    for (int step = 0; step < 3; step++) {
        params_zero_grad(t);
        TRY(m.forward(&m, &ctx, tensor_f32(&x), n, NN_TRAIN, (uint64_t)step, logits));
        float loss;
        TRY(cross_entropy_forward(&ctx, &ce, logits, tensor_i64(&y), NULL, &loss, probs));
        cross_entropy_backward(&ctx, &ce, 1.0f, probs, tensor_i64(&y), NULL, dlogits);
        TRY(m.backward(&m, &ctx, dlogits));
        if (step == 0) {
            int64_t ls[2] = {n, k};
            TRY(save_1("logits", logits, 2, ls));
            TRY(save_1("loss", &loss, 0, ls));
            for (int i = 0; i < t->n; i++) {
                if (t->e[i].kind == PARAM_WEIGHT) TRY(save_entry("grad", t, i, params_grad(t, i)));
                else TRY(save_entry("stats", t, i, params_data(t, i)));
            }
        }
        TRY(optim_step(&ctx, &opt, t));
    }
    for (int i = 0; i < t->n; i++) TRY(save_entry("step3", t, i, params_data(t, i)));
    optim_free(&opt);
    model_free(&m);
    nn_ctx_free(&ctx);
    free(logits);
    free(probs);
    free(dlogits);
    tensor_free(&x);
    tensor_free(&y);
    return 0;
}
