/* bench/gpu's own side: training steps or inference forwards of one architecture on a GPU, as cnntrain and
 * cnneval --device cuda run them: weights, gradients, AdamW moments and activations in device memory; each
 * training step's batch copied from pinned host memory through the staging ring (nn/staging.h), the logits
 * to the host for the loss, the loss's gradient back, backward, the fused AdamW step; inference forwards in
 * NN_INFER from the same ring. Input 1xFxT (default 1x128x400) random, BATCH samples, 10 classes; the
 * torchvision architectures with a one-channel stem (as bench/gpu/peer.py's PyTorch models). --amp bf16|fp16
 * (last): mixed precision as cnntrain --amp runs it (nn/amp.h; fp16 with GradScaler's loss scaling: the
 * gradients unscaled and checked every step, a step with inf/NaN skipped), as peer.py's autocast; --tf32
 * (last): fp32 convolutions on TF32 tensor cores (cnntrain --tf32), as PyTorch's default cudnn.allow_tf32.
 *   bench ARCH train|infer BATCH STEPS [F T] [--amp off|bf16|fp16] [--tf32]
 *   bench feed BATCH STEPS THREADS [F T]
 * feed: what the host can feed, no GPU needed: cnntrain's batcher over a stack of random samples in a
 * temporary file (its background thread preparing each shuffled batch on THREADS threads, as cnntrain
 * --threads does on a GPU: the gather, SpecAugment's default masks, mixup 0.2) straight into its output
 * buffers, which on a GPU are the pinned memory the device copies from (no copy on the training thread);
 * prints "<samples/s>", to set beside the GPU's training samples/s (bench/gpu/run.sh). The training lines'
 * own batches skip this: they are one random batch in pinned memory, copied to the device each step.
 * Prints "<samples/s> <device memory in use after the run, MiB (nn_device_mem_used)> <seconds> <GPU busy %>".
 * GPU busy: the mean of NVML's utilisation samples taken during the timed steps (the share of each sampling
 * period in which a kernel ran; the driver samples every 1/6 s or so, so the timed part runs at least 2 s,
 * more steps than STEPS where they are quick); "-" where NVML cannot be had (a build without CUDA, the
 * simulated GPU, a machine without the driver's libnvidia-ml). Built by
 * every build (make: $(BUILD)/bench/gpu); runs on the simulated GPU (make SIMGPU=1) too, where
 * tests/cli/simgpu.sh runs it as a smoke test and its figures mean nothing. */
#include "core/error.h"
#include "core/tensor.h"
#include "formats/npy.h"
#include "nn/device.h"
#include "nn/loss.h"
#include "nn/lossscale.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/staging.h"
#include "train/dataset.h"
#include "train/specaugment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(AUDIOCNN_CUDA) && !defined(AUDIOCNN_CUDA_SIM)
#include <cuda_runtime.h>
#include <dlfcn.h>
#define HAVE_NVML 1
/* The few NVML declarations used, as nvml.h has them (a stable ABI; the toolkit does not always ship the
 * header, and the library comes with the driver). */
typedef int nvmlReturn_t; /* NVML_SUCCESS = 0 */
typedef struct nvmlDevice_st *nvmlDevice_t;
enum { NVML_GPU_UTILIZATION_SAMPLES = 1 };                               /* nvmlSamplingType_t */
enum { NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3 }; /* nvmlValueType_t; utilisation comes as UNSIGNED_INT */
typedef struct {
    unsigned long long timeStamp; /* microseconds since the epoch */
    union {
        double dVal;
        int siVal;
        unsigned int uiVal;
        unsigned long ulVal;
        unsigned long long ullVal;
        signed long long sllVal;
        unsigned short usVal;
    } sampleValue;
} nvmlSample_t;
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The GPU's busy share over an interval, from NVML's utilisation samples: the driver's library is opened at
 * run time (it comes with the driver, not the toolkit), so the program needs it only to report this. */
typedef struct {
#ifdef HAVE_NVML
    nvmlDevice_t dev;
    nvmlReturn_t (*samples)(nvmlDevice_t, int, unsigned long long, int *, unsigned int *, nvmlSample_t *);
    unsigned long long since; /* microseconds since the epoch, as NVML's time stamps */
#endif
    int ok;
} Busy;

static void busy_open(Busy *b, int device) {
    memset(b, 0, sizeof *b);
#ifdef HAVE_NVML
    char bus[32];
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    if (!h || cudaDeviceGetPCIBusId(bus, sizeof bus, device) != cudaSuccess) return;
    nvmlReturn_t (*init)(void) = (nvmlReturn_t(*)(void))dlsym(h, "nvmlInit_v2");
    nvmlReturn_t (*by_bus)(const char *, nvmlDevice_t *) =
        (nvmlReturn_t(*)(const char *, nvmlDevice_t *))dlsym(h, "nvmlDeviceGetHandleByPciBusId_v2");
    *(void **)&b->samples = dlsym(h, "nvmlDeviceGetSamples");
    b->ok = init && by_bus && b->samples && init() == 0 && by_bus(bus, &b->dev) == 0;
#else
    (void)device;
#endif
}

static void busy_start(Busy *b) {
#ifdef HAVE_NVML
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    b->since = (unsigned long long)t.tv_sec * 1000000ull + (unsigned long long)t.tv_nsec / 1000;
#endif
    (void)b;
}

/* Mean utilisation (percent) of the samples taken since busy_start; negative when there are none. */
static double busy_percent(Busy *b) {
#ifdef HAVE_NVML
    int type;
    unsigned int n = 0;
    if (!b->ok || b->samples(b->dev, NVML_GPU_UTILIZATION_SAMPLES, b->since, &type, &n, NULL) != 0 || !n)
        return -1;
    nvmlSample_t *s = calloc(n, sizeof *s);
    double sum = 0;
    unsigned int got = 0;
    if (s && b->samples(b->dev, NVML_GPU_UTILIZATION_SAMPLES, b->since, &type, &n, s) == 0)
        for (unsigned int i = 0; i < n; i++) {
            if (s[i].timeStamp <= b->since) continue;
            sum += type == NVML_VALUE_TYPE_UNSIGNED_LONG_LONG ? (double)s[i].sampleValue.ullVal : s[i].sampleValue.uiVal;
            got++;
        }
    free(s);
    return got ? sum / got : -1;
#else
    (void)b;
    return -1;
#endif
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

/* n uniform values in [-1, 1) from a fixed xorshift sequence: the benchmark's input */
static void fill_random(float *x, size_t n) {
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((s >> 40) / 16777216.0 * 2 - 1);
    }
}

/* bench feed BATCH STEPS THREADS [F T] */
static int feed(int n, int steps, int threads, int f, int t) {
    if (n < 1 || steps < 1 || threads < 1 || threads > 256 || f < 1 || t < 1 || (int64_t)n * f * t > ((int64_t)1 << 28)) {
        fprintf(stderr, "usage: bench feed BATCH STEPS THREADS [F T] (positive, BATCH*F*T at most 2^28)\n");
        return 2;
    }
    char dir[] = "/tmp/bench-feed.XXXXXX", xp[64], yp[64];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: error: a temporary directory: cannot create it\n");
        return 1;
    }
    snprintf(xp, sizeof xp, "%s/x.npy", dir);
    snprintf(yp, sizeof yp, "%s/y.npy", dir);
    int64_t ns = (int64_t)n * 8, xs[4] = {ns, 1, f, t}, ys[1] = {ns};
    Tensor x, y;
    int rc = 1;
    if (tensor_alloc(&x, DT_F32, 4, xs) < 0 || tensor_alloc(&y, DT_I64, 1, ys) < 0) {
        fprintf(stderr, "bench: error: out of memory\n");
        return 1;
    }
    fill_random(tensor_f32(&x), (size_t)tensor_numel(&x));
    for (int64_t i = 0; i < ns; i++) tensor_i64(&y)[i] = i % 10;
    Dataset d;
    Batcher b;
    SpecAugment sa = {.freq_mask_param = 12, .time_mask_param = 12, .n_freq_masks = 1, .n_time_masks = 1, .p = 1.0};
    if (npy_save(xp, &x) == 0 && npy_save(yp, &y) == 0 && dataset_open_stack(&d, xp, yp) == 0) {
        if (batcher_init(&b, &d, n, 1, 42, &sa) == 0) {
            b.mixup = 0.2;
            b.threads = threads;
            double t0 = now();
            int done = 0;
            for (int e = 0; done < steps; e++) {
                batcher_start_epoch(&b, e);
                const float *bx;
                const int64_t *by, *bi;
                int got;
                while (done < steps && (got = batcher_next(&b, &bx, &by, &bi)) > 0) done++;
            }
            printf("%.1f\n", (double)n * steps / (now() - t0));
            batcher_free(&b);
            rc = 0;
        }
        dataset_close(&d);
    }
    if (rc) fprintf(stderr, "bench: error: %s\n", err_msg());
    remove(xp), remove(yp), rmdir(dir);
    tensor_free(&x), tensor_free(&y);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "feed") == 0)
        return feed(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argc > 6 ? atoi(argv[5]) : 128, argc > 6 ? atoi(argv[6]) : 400);
    NnAmp amp = NN_AMP_OFF;
    int tf32 = 0;
    for (;;) { /* the options come last */
        if (argc >= 6 && strcmp(argv[argc - 1], "--tf32") == 0) {
            tf32 = 1;
            argc -= 1;
        } else if (argc >= 7 && strcmp(argv[argc - 2], "--amp") == 0) {
            if (nn_amp_parse(argv[argc - 1], &amp) < 0) {
                fprintf(stderr, "bench: error: bad value for --amp (off, bf16 or fp16): %s\n", argv[argc - 1]);
                return 2;
            }
            argc -= 2;
        } else {
            break;
        }
    }
    if (argc < 5) {
        fprintf(stderr, "usage: bench ARCH train|infer BATCH STEPS [F T] [--amp off|bf16|fp16] [--tf32]\n");
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
    ctx.tf32 = tf32;
    LossScale scaler;
    lossscale_init(&scaler, amp == NN_AMP_FP16);
    TRY(model_to_device(&m, &ctx));
    OptimConfig oc = optim_adamw_defaults();
    Optim opt;
    TRY(optim_init(&opt, &oc, &m.params));
    TRY(optim_to_device(&opt, &ctx));
    size_t per = (size_t)f * t, xs = (size_t)n * per;
    float *x = pinned_host_alloc(sizeof(float) * xs), *logits = malloc(sizeof(float) * n * k), *probs = malloc(sizeof(float) * n * k),
          *dl = malloc(sizeof(float) * n * k), *logits_d, *dl_d;
    int64_t *y = malloc(sizeof(int64_t) * n);
    if (!x || !logits || !probs || !dl || !y) {
        fprintf(stderr, "bench: error: out of memory\n");
        return 1;
    }
    fill_random(x, xs);
    for (int i = 0; i < n; i++) y[i] = i % k;
    TRYP(logits_d = nn_alloc(&ctx, sizeof(float) * n * k));
    TRYP(dl_d = nn_alloc(&ctx, sizeof(float) * n * k));
    PinnedRing ring;
    TRY(pinned_ring_init(&ctx, &ring, 2, sizeof(float) * xs));
    CrossEntropyShape ce = {.N = n, .C = k};
    double t0 = 0;
    Busy busy;
    busy_open(&busy, ctx.device_index);
    int timed = 0; /* steps since the warm-up */
    for (int it = 0; it < 3 || timed < steps || (busy.ok && now() - t0 < 2.0); it++) {
        if (it == 3) { /* three warm-up steps: cuDNN's algorithm searches */
            TRY(nn_sync(&ctx));
            t0 = now();
            busy_start(&busy);
        }
        if (it >= 3) timed++;
        int slot = pinned_ring_slot(&ring); /* the batch in pinned memory, where cnntrain's batcher gathers it */
        TRY(slot);
        const float *xd = pinned_ring_submit_from(&ctx, &ring, slot, x, sizeof(float) * xs);
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
    double dt = now() - t0, pct = busy_percent(&busy);
    char pct_s[16] = "-";
    if (pct >= 0) snprintf(pct_s, sizeof pct_s, "%.0f", pct);
    printf("%.2f %.0f %.2f %s\n", (double)n * timed / dt, nn_device_mem_used(&ctx) / 1048576.0, dt, pct_s);
    pinned_ring_free(&ring);
    return 0;
}
