/* bench/transfer's C side: training steps (forward, cross-entropy, backward, AdamW) or inference
 * forwards (eval mode) of one architecture on random input, as cnntrain/cnneval run them.
 *   bench ARCH train|infer BATCH STEPS THREADS [F T]
 * The one-channel input goes through the summed three-channel stem (cnntrain --in-chans repeat, what a
 * user fine-tuning torchvision weights runs). Prints "<samples/s> <peak RSS MiB>". */
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define TRY(x) do { if ((x) < 0) { fprintf(stderr, "bench: error: %s\n", err_msg()); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench ARCH train|infer BATCH STEPS THREADS [F T]\n");
        return 2;
    }
    const char *arch = argv[1];
    int train = strcmp(argv[2], "train") == 0, n = atoi(argv[3]), steps = atoi(argv[4]), threads = atoi(argv[5]);
    int f = argc > 7 ? atoi(argv[6]) : 128, t = argc > 7 ? atoi(argv[7]) : 400, k = 10;
    Model m;
    ModelOptions mo = {.stem_repeat = strcmp(arch, "baseline") != 0};
    TRY(model_create_opts(&m, arch, 1, f, t, k, &mo));
    model_init_weights(&m, 1);
    NnCtx ctx;
    TRY(nn_ctx_init(&ctx, threads));
    ctx.const_weights = !train; /* inference as cnneval runs it: weights that stay put (Winograd's cache) */
    size_t xs = (size_t)n * f * t;
    float *x = malloc(sizeof(float) * xs), *logits = malloc(sizeof(float) * n * k), *probs = malloc(sizeof(float) * n * k),
          *dl = malloc(sizeof(float) * n * k);
    int64_t *y = malloc(sizeof(int64_t) * n);
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < xs; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((s >> 40) / 16777216.0 * 2 - 1);
    }
    for (int i = 0; i < n; i++) y[i] = i % k;
    OptimConfig oc = optim_adamw_defaults();
    Optim opt;
    TRY(optim_init(&opt, &oc, &m.params));
    CrossEntropyShape ce = {.N = n, .C = k};
    double t0 = 0;
    for (int it = 0; it < steps + 2; it++) { /* two warm-up steps */
        if (it == 2) t0 = now();
        if (train) {
            float loss;
            params_zero_grad(&m.params);
            TRY(m.forward(&m, &ctx, x, n, NN_TRAIN, (uint64_t)it, logits));
            TRY(cross_entropy_forward(&ctx, &ce, logits, y, NULL, &loss, probs));
            cross_entropy_backward(&ctx, &ce, 1.0f, probs, y, NULL, dl);
            TRY(m.backward(&m, &ctx, dl));
            TRY(optim_step(&ctx, &opt, &m.params));
        } else {
            TRY(m.forward(&m, &ctx, x, n, NN_INFER, 0, logits));
        }
    }
    double dt = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%.2f %.0f\n", (double)n * steps / dt, ru.ru_maxrss / 1024.0);
    return 0;
}
