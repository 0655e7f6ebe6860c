/* bench/gpu's own side: training steps or inference forwards of one architecture on a GPU, as cnntrain and
 * cnneval --device cuda run them: weights, gradients, AdamW moments and activations in device memory; each
 * training step's batch copied from a pinned host buffer through the staging ring (nn/staging.h), the logits
 * to the host for the loss, the loss's gradient back, backward, the fused AdamW step; inference forwards in
 * NN_INFER from the same ring. Input 1xFxT (default 1x128x400) random, BATCH samples, 10 classes; the
 * torchvision architectures with a one-channel stem (as bench/gpu/peer.py's PyTorch models). --amp bf16|fp16
 * (last): mixed precision as cnntrain --amp runs it (nn/amp.h; fp16 with GradScaler's loss scaling: the
 * gradients unscaled and checked every step, a step with inf/NaN skipped), as peer.py's autocast.
 *   bench ARCH train|infer BATCH STEPS [F T] [--amp off|bf16|fp16]
 * Prints "<samples/s> <device memory in use after the run, MiB (nn_device_mem_used)> <seconds>". Built by
 * every build (make: $(BUILD)/bench/gpu); runs on the simulated GPU (make SIMGPU=1) too, where
 * tests/cli/simgpu.sh runs it as a smoke test and its figures mean nothing. */
#include "core/error.h"
#include "nn/device.h"
#include "nn/loss.h"
#include "nn/lossscale.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/staging.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define TRY(x)                                                                                              \
    do {                                                                                                    \
        if ((x) < 0) {                                                                                      \
            fprintf(stderr, "bench: error: %s\n", err_msg());                                               \
            return 1;                                                                                       \
        }                                                                                                   \
    } while (0)
#define TRYP(p)                                                                                             \
    do {                                                                                                    \
        if (!(p)) {                                                                                         \
            fprintf(stderr, "bench: error: %s\n", err_msg());                                               \
            return 1;                                                                                       \
        }                                                                                                   \
    } while (0)

int main(int argc, char **argv) {
    NnAmp amp = NN_AMP_OFF;
    if (argc >= 7 && strcmp(argv[argc - 2], "--amp") == 0) {
        if (nn_amp_parse(argv[argc - 1], &amp) < 0) {
            fprintf(stderr, "bench: error: bad value for --amp (off, bf16 or fp16): %s\n", argv[argc - 1]);
            return 2;
        }
        argc -= 2;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: bench ARCH train|infer BATCH STEPS [F T] [--amp off|bf16|fp16]\n");
        return 2;
    }
    const char *arch = argv[1];
    int train = strcmp(argv[2], "train") == 0, n = atoi(argv[3]), steps = atoi(argv[4]);
    int f = argc > 6 ? atoi(argv[5]) : 128, t = argc > 6 ? atoi(argv[6]) : 400, k = 10;
    Model m;
    TRY(model_create(&m, arch, 1, f, t, k));
    model_init_weights(&m, 1);
    NnCtx ctx;
    TRY(nn_ctx_init(&ctx, 1));
    TRY(nn_ctx_use_cuda(&ctx, 0));
    TRY(nn_ctx_set_amp(&ctx, amp));
    LossScale scaler;
    lossscale_init(&scaler, amp == NN_AMP_FP16);
    TRY(model_to_device(&m, &ctx));
    OptimConfig oc = optim_adamw_defaults();
    Optim opt;
    TRY(optim_init(&opt, &oc, &m.params));
    TRY(optim_to_device(&opt, &ctx));
    size_t per = (size_t)f * t, xs = (size_t)n * per;
    float *x = malloc(sizeof(float) * xs), *logits = malloc(sizeof(float) * n * k), *probs = malloc(sizeof(float) * n * k),
          *dl = malloc(sizeof(float) * n * k), *logits_d, *dl_d;
    int64_t *y = malloc(sizeof(int64_t) * n);
    if (!x || !logits || !probs || !dl || !y) {
        fprintf(stderr, "bench: error: out of memory\n");
        return 1;
    }
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < xs; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((s >> 40) / 16777216.0 * 2 - 1);
    }
    for (int i = 0; i < n; i++) y[i] = i % k;
    TRYP(logits_d = nn_alloc(&ctx, sizeof(float) * n * k));
    TRYP(dl_d = nn_alloc(&ctx, sizeof(float) * n * k));
    PinnedRing ring;
    TRY(pinned_ring_init(&ctx, &ring, 2, sizeof(float) * xs));
    CrossEntropyShape ce = {.N = n, .C = k};
    double t0 = 0;
    for (int it = 0; it < steps + 3; it++) { /* three warm-up steps: cuDNN's algorithm searches */
        if (it == 3) {
            TRY(nn_sync(&ctx));
            t0 = now();
        }
        int slot;
        void *pinned = pinned_ring_acquire(&ring, &slot);
        TRYP(pinned);
        memcpy(pinned, x, sizeof(float) * xs); /* the host's gathering of a batch */
        const float *xd = pinned_ring_submit(&ctx, &ring, slot, sizeof(float) * xs);
        TRYP(xd);
        if (train) {
            float loss;
            TRY(nn_zero(&ctx, m.params.grad, sizeof(float) * m.params.total));
            TRY(m.forward(&m, &ctx, xd, n, NN_TRAIN, (uint64_t)it, logits_d));
            TRY(nn_copy_to_host(&ctx, logits, logits_d, sizeof(float) * n * k));
            TRY(cross_entropy_forward(&ctx, &ce, logits, y, NULL, &loss, probs));
            cross_entropy_backward(&ctx, &ce, scaler.scale, probs, y, NULL, dl); /* fp16: the scaled loss's gradient */
            TRY(nn_copy_to_device(&ctx, dl_d, dl, sizeof(float) * n * k));
            TRY(m.backward(&m, &ctx, dl_d));
            TRY(pinned_ring_release(&ctx, &ring, slot));
            int found_inf = 0;
            if (scaler.enabled)
                TRY(lossscale_unscale(&ctx, m.params.grad, m.params.total, lossscale_inv(&scaler), &found_inf));
            if (lossscale_update(&scaler, found_inf)) TRY(optim_step(&ctx, &opt, &m.params));
        } else {
            TRY(m.forward(&m, &ctx, xd, n, NN_INFER, 0, logits_d));
            TRY(pinned_ring_release(&ctx, &ring, slot));
            TRY(nn_copy_to_host(&ctx, logits, logits_d, sizeof(float) * n * k));
        }
    }
    TRY(nn_sync(&ctx));
    double dt = now() - t0;
    printf("%.2f %.0f %.2f\n", (double)n * steps / dt, nn_device_mem_used(&ctx) / 1048576.0, dt);
    pinned_ring_free(&ring);
    return 0;
}
