/* The GPU backend's host-side logic, on the CPU (no GPU library is touched): --device parsing and the
 * resolution rules against made-up GPU lists (nn/device.h), the device description, the build's own probe
 * (a CPU-only build says it has no CUDA), the cuDNN algorithm cache (nn/algocache.h), the AMP loss scale
 * state machine against GradScaler's rules (nn/lossscale.h) and the pinned-buffer rotation
 * (nn/staging.h). */
#include "check.h"
#include "nn/algocache.h"
#include "nn/device.h"
#include "nn/lossscale.h"
#include "nn/staging.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static NnGpuList gpus(int n) {
    NnGpuList l;
    memset(&l, 0, sizeof l);
    l.built = 1;
    l.count = n;
    for (int i = 0; i < n; i++) {
        snprintf(l.gpu[i].name, sizeof l.gpu[i].name, "Test GPU %d", i);
        l.gpu[i].mem_total = (size_t)(80 + i) << 30;
        l.gpu[i].cc_major = 9;
    }
    if (!n) snprintf(l.why, sizeof l.why, "no usable CUDA GPU (no CUDA-capable device is detected)");
    return l;
}

static void test_parse(void) {
    NnDeviceSpec s;
    CHECK(nn_device_parse("cpu", &s) == 0 && s.kind == NN_DEV_CPU, "device: parse cpu");
    CHECK(nn_device_parse("cuda", &s) == 0 && s.kind == NN_DEV_CUDA && s.index == 0, "device: parse cuda = cuda:0");
    CHECK(nn_device_parse("cuda:3", &s) == 0 && s.kind == NN_DEV_CUDA && s.index == 3, "device: parse cuda:3");
    CHECK(nn_device_parse("cuda:15", &s) == 0 && s.index == 15, "device: parse cuda:15");
    CHECK(nn_device_parse("auto", &s) == 0 && s.kind == NN_DEV_AUTO, "device: parse auto");
    const char *bad[] = {"", "gpu", "CUDA", "cuda:", "cuda:-1", "cuda:+1", "cuda:01", "cuda:16", "cuda:1x", "cuda: 1", "cuda1", "cpu:0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = nn_device_parse(bad[i], &s);
        CHECK(rc < 0 && strstr(err_msg(), "bad --device") && strstr(err_msg(), "cpu, cuda, cuda:N or auto"),
              "device: '%s' refused: %s", bad[i], err_msg());
    }
}

static void test_resolve(void) {
    NnDeviceSpec cpu = {NN_DEV_CPU, 0}, cuda = {NN_DEV_CUDA, 0}, cuda1 = {NN_DEV_CUDA, 1}, autod = {NN_DEV_AUTO, 0};
    NnDeviceChoice c;
    const char *why;
    NnGpuList none_built;
    memset(&none_built, 0, sizeof none_built);
    NnGpuList zero = gpus(0), one = gpus(1), two = gpus(2);
    CHECK(nn_device_resolve(&cpu, &two, NULL, &c, &why) == 0 && c.device == NN_CPU && !why, "device: cpu with GPUs present is the CPU");
    CHECK(nn_device_resolve(&cuda, &none_built, NULL, &c, NULL) < 0 && strcmp(err_msg(), "this build has no CUDA (build with make CUDA=1)") == 0,
          "device: cuda in a CPU-only build: %s", err_msg());
    /* the CPU-only build's engine status is the same text as the build's reason */
    CHECK(nn_device_resolve(&cuda, &none_built, "this build has no CUDA (build with make CUDA=1)", &c, NULL) < 0 &&
              strcmp(err_msg(), "this build has no CUDA (build with make CUDA=1)") == 0,
          "device: cuda in a CPU-only build, with its engine status: %s", err_msg());
    CHECK(nn_device_select("cuda", &c, NULL) < 0 && strstr(err_msg(), "--device cuda: ") == err_msg(),
          "device: the tools' select names the option: %s", err_msg());
    CHECK(nn_device_select("gpu", &c, NULL) == -2 && nn_device_select("cpu", &c, NULL) == 0 && c.device == NN_CPU,
          "device: the tools' select: misspelt is -2 (usage), cpu is the CPU");
    CHECK(nn_device_resolve(&cuda, &zero, NULL, &c, NULL) < 0 && strstr(err_msg(), "no usable CUDA GPU"),
          "device: cuda without a GPU: %s", err_msg());
    CHECK(nn_device_resolve(&cuda1, &one, NULL, &c, NULL) < 0 && strstr(err_msg(), "no such GPU (1 found: cuda:0 to cuda:0)"),
          "device: cuda:1 with one GPU: %s", err_msg());
    CHECK(nn_device_resolve(&cuda1, &two, NULL, &c, NULL) == 0 && c.device == NN_CUDA && c.index == 1 &&
              strcmp(c.gpu.name, "Test GPU 1") == 0, "device: cuda:1 with two GPUs is GPU 1");
    CHECK(nn_device_resolve(&cuda, &one, "the engine is not ready", &c, NULL) < 0 &&
              strcmp(err_msg(), "Test GPU 0 found, but the engine is not ready") == 0, "device: cuda, engine not ready: %s", err_msg());
    CHECK(nn_device_resolve(&autod, &none_built, NULL, &c, &why) == 0 && c.device == NN_CPU && why && strstr(why, "no CUDA"),
          "device: auto in a CPU-only build is the CPU (%s)", why ? why : "");
    CHECK(nn_device_resolve(&autod, &zero, NULL, &c, &why) == 0 && c.device == NN_CPU && why, "device: auto without a GPU is the CPU");
    CHECK(nn_device_resolve(&autod, &two, "not ready", &c, &why) == 0 && c.device == NN_CPU && why && strcmp(why, "not ready") == 0,
          "device: auto with a GPU but an engine not ready is the CPU");
    CHECK(nn_device_resolve(&autod, &two, NULL, &c, &why) == 0 && c.device == NN_CUDA && c.index == 0 && !why,
          "device: auto with GPUs and a ready engine is GPU 0");
    char buf[256];
    nn_device_describe(&c, buf, sizeof buf);
    CHECK(strcmp(buf, "cuda:0 Test GPU 0, 80.0 GiB, compute capability 9.0") == 0, "device: description '%s'", buf);
    nn_device_resolve(&cpu, &two, NULL, &c, NULL);
    nn_device_describe(&c, buf, sizeof buf);
    CHECK(strcmp(buf, "cpu") == 0, "device: the CPU's description is 'cpu'");
    NnGpuList probe;
    nn_gpu_probe(&probe);
#ifdef AUDIOCNN_CUDA
    CHECK(probe.built == 1 && (probe.count > 0 || probe.why[0]), "device: the CUDA build's probe: %d GPU(s)%s%s", probe.count,
          probe.count ? "" : ", ", probe.count ? "" : probe.why);
#else
    CHECK(probe.built == 0 && probe.count == 0 && nn_cuda_engine_status(), "device: the CPU-only build's probe reports no CUDA");
#endif
}

static AlgoKey key(int pass, int n, int c, int k) {
    AlgoKey a;
    memset(&a, 0, sizeof a);
    a.pass = pass, a.n = n, a.c = c, a.h = 32, a.w = 100, a.k = k, a.kh = a.kw = 3, a.stride_h = a.stride_w = 1;
    a.pad_h = a.pad_w = 1, a.dil_h = a.dil_w = 1, a.groups = 1;
    return a;
}

static void test_algocache(void) {
    NnAlgoCache c;
    algocache_init(&c);
    AlgoKey k1 = key(ALGO_FWD, 32, 16, 32), k2 = key(ALGO_BWD_DATA, 32, 16, 32), k3 = key(ALGO_FWD, 64, 16, 32);
    CHECK(!algocache_find(&c, &k1) && c.misses == 1, "algocache: empty cache misses");
    int ok = 1;
    for (int i = 0; i < 100; i++) { /* grows past its first capacity */
        AlgoEntry e = {key(i % 3, i, 8, 8), i % 7, 0, (size_t)i * 1000};
        ok &= algocache_put(&c, &e) == 0;
    }
    AlgoEntry e1 = {k1, 5, 1, 4096}, e2 = {k2, 1, 0, 0};
    ok &= algocache_put(&c, &e1) == 0 && algocache_put(&c, &e2) == 0;
    const AlgoEntry *f1 = algocache_find(&c, &k1), *f2 = algocache_find(&c, &k2);
    CHECK(ok && c.n == 102 && f1 && f1->algo == 5 && f1->workspace == 4096 && f2 && f2->algo == 1,
          "algocache: 102 shapes stored, each found with its algorithm");
    CHECK(!algocache_find(&c, &k3), "algocache: another batch size is another shape");
    AlgoKey kd = k1;
    kd.deterministic = 1;
    CHECK(!algocache_find(&c, &kd), "algocache: the deterministic restriction is part of the key");
    AlgoEntry e1b = {k1, 6, 0, 0};
    algocache_put(&c, &e1b);
    f1 = algocache_find(&c, &k1);
    CHECK(c.n == 102 && f1 && f1->algo == 6, "algocache: putting a known shape replaces its entry");
    const AlgoEntry *f50 = NULL;
    AlgoKey k50 = key(50 % 3, 50, 8, 8);
    f50 = algocache_find(&c, &k50);
    CHECK(f50 && f50->algo == 50 % 7 && f50->workspace == 50000, "algocache: entries survive the growth");
    algocache_free(&c);
}

static void test_lossscale(void) {
    LossScale s;
    lossscale_init(&s, 1);
    CHECK(s.scale == 65536.0f && s.growth_interval == 2000 && s.growth_factor == 2.0f && s.backoff_factor == 0.5f,
          "lossscale: GradScaler's defaults (2^16, x2 every 2000, x0.5)");
    CHECK(lossscale_update(&s, 1) == 0 && s.scale == 32768.0f && s.growth_tracker == 0 && s.skipped == 1,
          "lossscale: inf/NaN skips the step and halves the scale");
    int taken = 1;
    for (int i = 0; i < 1999; i++) taken &= lossscale_update(&s, 0);
    CHECK(taken && s.scale == 32768.0f && s.growth_tracker == 1999, "lossscale: 1999 clean steps keep the scale");
    CHECK(lossscale_update(&s, 0) == 1 && s.scale == 65536.0f && s.growth_tracker == 0, "lossscale: the 2000th doubles it");
    for (int i = 0; i < 10; i++) lossscale_update(&s, 0);
    lossscale_update(&s, 1);
    CHECK(s.growth_tracker == 0 && s.scale == 32768.0f, "lossscale: an overflow resets the growth count");
    s.growth_interval = 1;
    s.scale = 3e38f;
    lossscale_update(&s, 0);
    CHECK(s.scale == 3e38f && s.growth_tracker == 0, "lossscale: growth that would overflow keeps the scale (as GradScaler)");
    s.growth_interval = 2000;
    s.scale = 1024.0f, s.growth_tracker = 37, s.skipped = 5;
    char buf[64];
    lossscale_format(&s, buf, sizeof buf);
    LossScale r;
    lossscale_init(&r, 1);
    CHECK(strcmp(buf, "1024 37 5") == 0 && lossscale_parse(&r, buf) == 0 && r.scale == 1024.0f && r.growth_tracker == 37 &&
              r.skipped == 5, "lossscale: state '%s' round-trips through the resumable state", buf);
    s.scale = 0.123456789f;
    lossscale_format(&s, buf, sizeof buf);
    CHECK(lossscale_parse(&r, buf) == 0 && r.scale == s.scale, "lossscale: any float scale round-trips exactly (%s)", buf);
    const char *bad[] = {"", "1024", "1024 37", "0 0 0", "-1 0 0", "inf 0 0", "nan 0 0", "1024 2000 0", "1024 -1 0", "1024 1 -1",
                         "1024 1 1 x", "1e300 0 0", "1024 1 00000000000000000000000000000000000000000000000000000000000001"};
    int refused = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) refused &= lossscale_parse(&r, bad[i]) < 0;
    CHECK(refused, "lossscale: malformed states refused");
    LossScale off;
    lossscale_init(&off, 0);
    CHECK(off.scale == 1.0f && lossscale_update(&off, 1) == 1 && off.scale == 1.0f, "lossscale: disabled (bf16/fp32) never skips");
}

static int done_upto; /* slots whose copies "finished": the fake event */
static int fake_done(void *arg, int slot) {
    (void)arg;
    return slot < done_upto;
}
static int all_done(void *arg, int slot) { /* every copy finished; arg: the in-flight flags, cleared */
    ((int *)arg)[slot] = 0;
    return 1;
}

static void test_staging(void) {
    Staging s;
    CHECK(staging_init(&s, 1) < 0 && staging_init(&s, STAGING_MAX + 1) < 0, "staging: 1 or too many buffers refused");
    staging_init(&s, 3);
    int a = staging_acquire(&s), b = staging_acquire(&s), c = staging_acquire(&s), d = staging_acquire(&s);
    CHECK(a == 0 && b == 1 && c == 2 && d == -1, "staging: slots handed out in ring order, none when all are busy");
    CHECK(staging_oldest(&s) == -1, "staging: nothing to wait for before a submission");
    staging_submit(&s, 1); /* submissions may come out of order; retirement stays in ring order */
    CHECK(staging_submit(&s, 0) == 0 && staging_submit(&s, 0) < 0, "staging: a slot is submitted once");
    staging_submit(&s, 2);
    done_upto = 3;
    /* slot 0, 1 and 2 in flight (1 was submitted above); retire in order */
    CHECK(staging_retire(&s, fake_done, NULL) == 3 && s.busy == 0, "staging: finished copies retire in order");
    a = staging_acquire(&s);
    b = staging_acquire(&s);
    staging_submit(&s, a);
    staging_submit(&s, b);
    done_upto = 0; /* slot 0 (b) done? no: a = 0, b = 1; nothing finished */
    CHECK(a == 0 && b == 1 && staging_oldest(&s) == 0 && staging_retire(&s, fake_done, NULL) == 0, "staging: an unfinished copy is waited for");
    done_upto = 1;
    CHECK(staging_retire(&s, fake_done, NULL) == 1 && staging_oldest(&s) == 1, "staging: the oldest retires first");
    /* a long run: K-deep pipelining never hands out a buffer whose copy is in flight */
    staging_init(&s, 2);
    int ok = 1, inflight[2] = {0, 0};
    for (int step = 0; step < 1000; step++) {
        int slot = staging_acquire(&s);
        if (slot < 0) {
            ok &= staging_oldest(&s) >= 0 && staging_retire(&s, all_done, inflight) >= 1;
            slot = staging_acquire(&s);
        }
        ok &= slot >= 0 && !inflight[slot];
        inflight[slot] = 1;
        staging_submit(&s, slot);
    }
    CHECK(ok && s.submitted == 1000 && s.retired >= 998, "staging: 1000 batches through 2 buffers, never one in flight reused");
}

int main(void) {
    test_parse();
    test_resolve();
    test_algocache();
    test_lossscale();
    test_staging();
    return check_failures != 0;
}
