/* Driver for tests/py/test_transfer.py: one forward and backward of any architecture on fixtures
 * PyTorch made.
 *   model DIR ARCH N_CLASSES train|eval|frozen REPEAT
 * reads DIR/weights.pth or DIR/weights.safetensors (a torchvision state_dict), DIR/x.npy (N, C, H, W) and DIR/dlogits.npy
 * (N, K); REPEAT 1 feeds a one-channel x to a three-channel stem (ModelOptions.stem_repeat), 2 also
 * normalises the three channels with ImageNet's mean and std (ModelOptions.in_norm). Dropout
 * and stochastic depth are off (PyTorch draws other masks). Writes DIR/c.safetensors: "logits",
 * "grad.<name>" for every trainable tensor (after backward of sum(logits * dlogits)) and "after.<name>"
 * for every buffer (BN statistics after the forward). "frozen" trains with the backbone frozen. In eval
 * mode the backward follows an NN_EVAL_GRAD forward, and "logits_infer" holds the logits of an NN_INFER
 * forward run first (the fused inference path; backward after it must be refused). */
#include "core/error.h"
#include "nn/model.h"
#include "formats/npy.h"
#include "formats/safetensors.h"
#include "formats/weights.h"

#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { if ((x) < 0) { fprintf(stderr, "model: error: %s\n", err_msg()); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: model DIR ARCH N_CLASSES train|eval|frozen REPEAT\n");
        return 2;
    }
    const char *dir = argv[1], *arch = argv[2], *mode = argv[4];
    int k = atoi(argv[3]), train = strcmp(mode, "eval") != 0, frozen = strcmp(mode, "frozen") == 0;
    char path[4096];
    Tensor x, dl;
    snprintf(path, sizeof path, "%s/x.npy", dir);
    TRY(npy_load(path, DT_F32, &x));
    snprintf(path, sizeof path, "%s/dlogits.npy", dir);
    TRY(npy_load(path, DT_F32, &dl));
    int n = (int)x.shape[0];
    if (x.ndim != 4 || dl.ndim != 2 || dl.shape[0] != n || dl.shape[1] != k) {
        fprintf(stderr, "model: error: x.npy must be (N, C, H, W) and dlogits.npy (N, %d)\n", k);
        return 1;
    }
    Model m;
    ModelOptions mo = {.stem_repeat = atoi(argv[5]) >= 1, .in_norm = atoi(argv[5]) == 2};
    TRY(model_create_opts(&m, arch, (int)x.shape[1], (int)x.shape[2], (int)x.shape[3], k, &mo));
    snprintf(path, sizeof path, "%s/weights.pth", dir); /* torch.save's file when the test made one */
    if (access(path, F_OK) != 0) snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    TRY(weights_load(path, &m.params, NULL, NULL));
    m.dropout = 0;
    m.stochastic_depth = 0;
    if (frozen) model_freeze_backbone(&m, 1);
    NnCtx ctx;
    nn_ctx_init(&ctx, 2);
    ParamTable *t = &m.params;
    float *logits = malloc(sizeof(float) * (size_t)n * k), *logits_infer = malloc(sizeof(float) * (size_t)n * k);
    params_zero_grad(t);
    if (!train) {
        TRY(m.forward(&m, &ctx, tensor_f32(&x), n, NN_INFER, 0, logits_infer));
        if (m.backward(&m, &ctx, tensor_f32(&dl)) == 0) {
            fprintf(stderr, "model: error: backward after an NN_INFER forward was not refused\n");
            return 1;
        }
    }
    TRY(m.forward(&m, &ctx, tensor_f32(&x), n, train ? NN_TRAIN : NN_EVAL_GRAD, 0, logits));
    TRY(m.backward(&m, &ctx, tensor_f32(&dl)));
    StItem *items = calloc((size_t)t->n + 2, sizeof *items);
    char **names = calloc((size_t)t->n, sizeof *names);
    int ni = 0;
    items[ni++] = (StItem){.name = "logits", .dtype = ST_F32, .ndim = 2, .shape = {n, k}, .data = logits};
    if (!train)
        items[ni++] = (StItem){.name = "logits_infer", .dtype = ST_F32, .ndim = 2, .shape = {n, k}, .data = logits_infer};
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *e = &t->e[i];
        if (e->kind == PARAM_COUNT) continue;
        names[i] = malloc(strlen(e->name) + 8);
        sprintf(names[i], "%s.%s", e->kind == PARAM_WEIGHT ? "grad" : "after", e->name);
        StItem it = {.name = names[i], .dtype = ST_F32, .ndim = e->ndim,
                     .data = e->kind == PARAM_WEIGHT ? params_grad(t, i) : params_data(t, i)};
        memcpy(it.shape, e->shape, sizeof(int64_t) * (size_t)e->ndim);
        items[ni++] = it;
    }
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    TRY(st_save(path, items, ni, NULL, 0));
    for (int i = 0; i < t->n; i++) free(names[i]);
    free(names);
    free(items);
    free(logits);
    free(logits_infer);
    model_free(&m);
    nn_ctx_free(&ctx);
    tensor_free(&x);
    tensor_free(&dl);
    return 0;
}
