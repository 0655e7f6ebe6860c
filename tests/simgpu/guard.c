/* tests/simgpu/guard.c - the simulated GPU's own checks (make SIMGPU=1 build-simgpu/tests/simgpu/guard; run by
 * tests/cli/simgpu.sh): device memory is out of the host's reach outside layer calls and copies (a read
 * or a write in a forked child dies of SIGSEGV), inside them it is usable (copies round-trip, a layer
 * twin computes the CPU layer's result), a host array handed to a layer under NN_CUDA stops the program
 * (SIGABRT), and a copy in the wrong direction too. Report lines as tests/run.sh counts them. */
#include "nn/activation.h"
#include "nn/device.h"
#include "nn/nn.h"
#include "nn/params.h"

#include "core/error.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                                          \
    do {                                                                                                          \
        printf((cond) ? "ok simgpu: " : "not ok simgpu: ");                                                       \
        printf(__VA_ARGS__);                                                                                      \
        printf("\n");                                                                                             \
        if (!(cond)) failures++;                                                                                  \
    } while (0)

/* The signal that ended fn(arg) run in a child (0: it returned normally). */
static int dies_of(void (*fn)(void *), void *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr); /* the simulator's own message on an abort */
        fn(arg);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static NnCtx ctx;

static void host_read(void *p) {
    volatile float v = *(volatile float *)p;
    (void)v;
}
static void host_write(void *p) { *(volatile float *)p = 1.0f; }
static void layer_on_host_memory(void *p) {
    float host[4] = {-1, 2, -3, 4};
    relu_forward(&ctx, 4, host, p); /* under NN_CUDA: x must be device memory */
}
static void copy_wrong_way(void *p) {
    float host[4];
    nn_copy_to_device(&ctx, host, p, sizeof host); /* destination on the host */
}

int main(void) {
    if (nn_ctx_init(&ctx, 2) < 0 || nn_ctx_use_cuda(&ctx, 0) < 0) {
        printf("not ok simgpu: a context on the simulated GPU: %s\n", err_msg());
        return 1;
    }
    NnGpuList l;
    nn_gpu_probe(&l);
    CHECK(l.built && l.count == 1 && strstr(l.gpu[0].name, "simulated") && !nn_cuda_engine_status(),
          "one simulated GPU (%s), the engine ready", l.gpu[0].name);
    float *d = nn_alloc(&ctx, 4 * sizeof(float)), *e = nn_alloc(&ctx, 4 * sizeof(float));
    CHECK(d && e, "nn_alloc under NN_CUDA");
    CHECK(dies_of(host_read, d) == SIGSEGV, "a host read of device memory outside a layer call: SIGSEGV");
    CHECK(dies_of(host_write, d) == SIGSEGV, "a host write of device memory outside a layer call: SIGSEGV");
    float in[4] = {-1, 2, -3, 4}, out[4] = {0}, zero[4] = {0};
    CHECK(nn_copy_to_host(&ctx, out, d, sizeof out) == 0 && !memcmp(out, zero, sizeof out), "nn_alloc's memory is zero");
    CHECK(nn_copy_to_device(&ctx, d, in, sizeof in) == 0 && nn_copy_to_host(&ctx, out, d, sizeof out) == 0 &&
              !memcmp(in, out, sizeof in),
          "copies to the device and back round-trip");
    relu_forward(&ctx, 4, d, e);
    float want[4] = {0, 2, 0, 4};
    CHECK(nn_sync(&ctx) == 0 && nn_copy_to_host(&ctx, out, e, sizeof out) == 0 && !memcmp(out, want, sizeof out),
          "a layer twin (relu) computes on device memory");
    CHECK(dies_of(host_read, e) == SIGSEGV, "the pages are closed again after the layer call");
    CHECK(dies_of(layer_on_host_memory, e) == SIGABRT, "a host array handed to a layer under NN_CUDA: stopped");
    CHECK(dies_of(copy_wrong_way, d) == SIGABRT, "a copy to the device whose destination is host memory: stopped");
    CHECK(nn_zero(&ctx, d, sizeof in) == 0 && nn_copy_to_host(&ctx, out, d, sizeof out) == 0 && !memcmp(out, zero, sizeof out),
          "nn_zero clears device memory");
    /* a parameter table moved to the device: its host blocks gone, its values there */
    ParamTable t;
    params_init(&t);
    int64_t shape[1] = {3};
    params_add(&t, "w", PARAM_WEIGHT, 1, shape);
    params_alloc(&t);
    t.data[0] = 1, t.data[1] = 2, t.data[2] = 3;
    int rc = params_to_device(&t, &ctx);
    float back[3] = {0};
    CHECK(rc == 0 && t.device == NN_CUDA && nn_copy_to_host(&ctx, back, t.data, sizeof back) == 0 && back[2] == 3 &&
              dies_of(host_read, t.grad) == SIGSEGV,
          "params_to_device: values on the device, the gradients out of the host's reach");
    params_free(&t);
    nn_free(&ctx, d);
    nn_free(&ctx, e);
    nn_ctx_free(&ctx);
    return failures ? 1 : 0;
}
