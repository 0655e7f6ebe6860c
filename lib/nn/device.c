#include "nn/device.h"

#include "core/error.h"

#include <stdio.h>
#include <string.h>

/* A GPU ordinal: decimal digits, no leading zero (but "0"), below NN_MAX_GPUS. */
static int parse_ordinal(const char *p, int *out) {
    int v = 0;
    if (!*p || (p[0] == '0' && p[1])) return 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (*p - '0');
        if (v >= NN_MAX_GPUS) return 0;
    }
    *out = v;
    return 1;
}

int nn_device_parse(const char *s, NnDeviceSpec *spec) {
    spec->index = 0;
    if (strcmp(s, "cpu") == 0) spec->kind = NN_DEV_CPU;
    else if (strcmp(s, "cuda") == 0) spec->kind = NN_DEV_CUDA;
    else if (strcmp(s, "auto") == 0) spec->kind = NN_DEV_AUTO;
    else if (strncmp(s, "cuda:", 5) == 0 && parse_ordinal(s + 5, &spec->index)) spec->kind = NN_DEV_CUDA;
    else {
        err_set("bad --device '%s' (cpu, cuda, cuda:N or auto)", s);
        return -1;
    }
    return 0;
}

int nn_device_resolve(const NnDeviceSpec *spec, const NnGpuList *l, const char *engine_why, NnDeviceChoice *out,
                      const char **why) {
    memset(out, 0, sizeof *out);
    out->device = NN_CPU;
    if (why) *why = NULL;
    if (spec->kind == NN_DEV_CPU) return 0;
    const char *no = NULL;
    int engine = 0; /* the reason is the engine's (a GPU was found) */
    if (!l->built) no = "this build has no CUDA (build with make CUDA=1)";
    else if (l->count == 0) no = l->why[0] ? l->why : "no CUDA GPU found";
    else if (spec->index >= l->count) no = "no such GPU";
    else if (engine_why) no = engine_why, engine = 1;
    if (spec->kind == NN_DEV_AUTO) {
        if (no) {
            if (why) *why = no;
            return 0;
        }
    } else if (no) {
        if (engine) err_set("%s found, but %s", l->gpu[spec->index].name, engine_why);
        else if (spec->index >= l->count && l->count > 0)
            err_set("no such GPU (%d found: cuda:0 to cuda:%d)", l->count, l->count - 1);
        else err_set("%s", no);
        return -1;
    }
    out->device = NN_CUDA;
    out->index = spec->index;
    out->gpu = l->gpu[spec->index];
    return 0;
}

int nn_device_select(const char *spec, NnDeviceChoice *out, const char **auto_why) {
    NnDeviceSpec sp;
    memset(out, 0, sizeof *out);
    out->device = NN_CPU;
    if (auto_why) *auto_why = NULL;
    if (nn_device_parse(spec, &sp) < 0) return -2;
    if (sp.kind == NN_DEV_CPU) return 0;
    static NnGpuList l; /* probed once per process (the tools ask once) */
    static int probed;
    if (!probed) {
        nn_gpu_probe(&l);
        probed = 1;
    }
    if (nn_device_resolve(&sp, &l, nn_cuda_engine_status(), out, auto_why) < 0) {
        char what[32];
        snprintf(what, sizeof what, "--device %s", spec);
        err_prefix(what);
        return -1;
    }
    return 0;
}

void nn_device_describe(const NnDeviceChoice *c, char *buf, size_t n) {
    if (c->device != NN_CUDA) {
        snprintf(buf, n, "cpu");
        return;
    }
    snprintf(buf, n, "cuda:%d %s, %.1f GiB, compute capability %d.%d", c->index, c->gpu.name,
             (double)c->gpu.mem_total / (1024.0 * 1024.0 * 1024.0), c->gpu.cc_major, c->gpu.cc_minor);
}

#ifndef AUDIOCNN_CUDA
/* The build without CUDA: no GPU library is linked or opened. */
void nn_gpu_probe(NnGpuList *l) {
    memset(l, 0, sizeof *l);
    snprintf(l->why, sizeof l->why, "this build has no CUDA (build with make CUDA=1)");
}

const char *nn_cuda_engine_status(void) { return "this build has no CUDA (build with make CUDA=1)"; }

size_t nn_cuda_algo_entries(const NnCtx *ctx) {
    (void)ctx;
    return 0;
}
#endif
