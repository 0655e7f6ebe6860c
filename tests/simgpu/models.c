/* tests/simgpu/models.c - one Model object moving from the CPU to the simulated GPU (make SIMGPU=1
 * build-simgpu/tests/simgpu/models; run by tests/cli/simgpu_models.sh): resnet18 and efficientnet_b0 (with
 * the repeated ImageNet-normalised stem, and without) run a training step (NN_TRAIN forward, backward) and
 * an NN_INFER forward on a CPU context, then the same weights go to the device (model_to_device) and the
 * same object runs the same step there: its buffers, made on the CPU, must be reallocated on the device
 * (a host buffer handed to a twin stops the program; a host access to device memory dies of SIGSEGV), and
 * the logits, the parameter gradients and the updated running statistics must be the CPU's bits. Then a
 * larger batch on the device (the buffers grow there). Report lines as tests/run.sh counts them. */
#include "nn/model.h"
#include "nn/nn.h"
#include "nn/params.h"

#include "core/error.h"
#include "core/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                                          \
    do {                                                                                                          \
        printf((cond) ? "ok simgpu models: " : "not ok simgpu models: ");                                         \
        printf(__VA_ARGS__);                                                                                      \
        if (!(cond) && err_msg()[0]) printf(" (%s)", err_msg());                                                  \
        printf("\n");                                                                                             \
        if (!(cond)) failures++;                                                                                  \
    } while (0)

static float *rnd(Rng *r, size_t n) {
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(rng_uniform(r) * 4 - 2);
    return a;
}
static float *dev_copy(NnCtx *g, const float *h, size_t n) {
    float *d = nn_alloc(g, n * sizeof *d);
    if (d) nn_copy_to_device(g, d, h, n * sizeof *d);
    return d;
}
static float *host_copy(NnCtx *g, const float *d, size_t n) {
    float *h = malloc(n * sizeof *h);
    nn_copy_to_host(g, h, d, n * sizeof *h);
    return h;
}

static void one(NnCtx *cpu, NnCtx *gpu, const char *arch, int repeat_norm) {
    const int N = 4, C = 1, H = 32, W = 48, K = 3;
    char what[96];
    snprintf(what, sizeof what, "%s%s", arch, repeat_norm ? " (repeated ImageNet-normalised stem)" : "");
    ModelOptions o = {.stem_repeat = repeat_norm, .in_norm = repeat_norm};
    Model m;
    memset(&m, 0, sizeof m);
    if (model_create_opts(&m, arch, C, H, W, K, &o) < 0) {
        CHECK(0, "%s: model_create", what);
        return;
    }
    model_init_weights(&m, 5);
    Rng r;
    rng_seed(&r, 9);
    size_t nx = (size_t)N * C * H * W, nl = (size_t)N * K, total = m.params.total;
    float *x = rnd(&r, nx), *dl = rnd(&r, nl), *x2 = rnd(&r, 2 * nx);
    float *w0 = malloc(total * sizeof *w0), *lc = malloc(nl * sizeof *lc), *li = malloc(nl * sizeof *li);
    float *li2 = malloc(2 * nl * sizeof *li2);
    memcpy(w0, m.params.data, total * sizeof *w0);
    /* the CPU: a training step, then inference on one batch and on a larger one */
    int rc = m.forward(&m, cpu, x, N, NN_TRAIN, 1, lc) | m.backward(&m, cpu, dl);
    float *gc = malloc(total * sizeof *gc), *dc = malloc(total * sizeof *dc);
    memcpy(gc, m.params.grad, total * sizeof *gc);
    memcpy(dc, m.params.data, total * sizeof *dc);
    rc |= m.forward(&m, cpu, x, N, NN_INFER, 0, li) | m.forward(&m, cpu, x2, 2 * N, NN_INFER, 0, li2);
    /* the same object from the same weights on the device */
    memcpy(m.params.data, w0, total * sizeof *w0);
    memset(m.params.grad, 0, total * sizeof *m.params.grad);
    int grc = model_to_device(&m, gpu);
    float *gx = dev_copy(gpu, x, nx), *gdl = dev_copy(gpu, dl, nl), *gx2 = dev_copy(gpu, x2, 2 * nx);
    float *gl = nn_alloc(gpu, 2 * nl * sizeof *gl);
    grc |= m.forward(&m, gpu, gx, N, NN_TRAIN, 1, gl) | m.backward(&m, gpu, gdl) | nn_sync(gpu);
    float *hl = host_copy(gpu, gl, nl), *hg = host_copy(gpu, m.params.grad, total), *hd = host_copy(gpu, m.params.data, total);
    CHECK(!rc && !grc && !memcmp(lc, hl, nl * 4) && !memcmp(gc, hg, total * 4) && !memcmp(dc, hd, total * 4),
          "%s: a training step on the CPU, then on the device with the same object: the same logits, gradients and "
          "running statistics, bit for bit", what);
    free(hl);
    grc = m.forward(&m, gpu, gx, N, NN_INFER, 0, gl) | nn_sync(gpu);
    hl = host_copy(gpu, gl, nl);
    CHECK(!grc && !memcmp(li, hl, nl * 4), "%s: NN_INFER on the device = on the CPU, bit for bit", what);
    free(hl);
    grc = m.forward(&m, gpu, gx2, 2 * N, NN_INFER, 0, gl) | nn_sync(gpu);
    hl = host_copy(gpu, gl, 2 * nl);
    CHECK(!grc && !memcmp(li2, hl, 2 * nl * 4), "%s: a larger batch on the device (buffers grown there) = the CPU's", what);
    nn_free(gpu, gx), nn_free(gpu, gdl), nn_free(gpu, gx2), nn_free(gpu, gl);
    free(x), free(dl), free(x2), free(w0), free(lc), free(li), free(li2), free(gc), free(dc), free(hl), free(hg), free(hd);
    model_free(&m); /* the buffers on the device they were made on, the parameters too */
}

int main(void) {
    NnCtx cpu, gpu;
    nn_ctx_init(&cpu, 2);
    nn_ctx_init(&gpu, 2);
    if (nn_ctx_use_cuda(&gpu, 0) < 0) {
        printf("not ok simgpu models: a context on the simulated GPU: %s\n", err_msg());
        return 1;
    }
    one(&cpu, &gpu, "resnet18", 0);
    one(&cpu, &gpu, "resnet18", 1);
    one(&cpu, &gpu, "efficientnet_b0", 0);
    one(&cpu, &gpu, "efficientnet_b0", 1);
    nn_ctx_free(&gpu);
    nn_ctx_free(&cpu);
    return failures != 0;
}
