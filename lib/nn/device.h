/* device.h - which device the engine runs on: `--device cpu|cuda|cuda:N|auto` checked, resolved against
 * the GPUs present, and described for -v output and a checkpoint's metadata.
 *
 * Promise: the rules are plain C decided from a list of GPUs (nn_gpu_probe's, or a test's), so every one
 * is tested on a machine without a GPU (tests/unit/test_device.c):
 *   cpu      the CPU, always.
 *   cuda     GPU 0.  cuda:N  GPU N.  Errors (err_set(), one line without the option, which the tool
 *            prefixes: "--device cuda: MESSAGE"): the build has no CUDA ("this build has no CUDA (build
 *            with make CUDA=1)"); no usable GPU (the driver's reason); N out of range; the GPU engine
 *            cannot run this job yet ("NAME found, but " + nn_cuda_engine_status()'s reason).
 *   auto     GPU 0 when the build has CUDA, a GPU is present and the GPU engine can run the job; the CPU
 *            otherwise (never an error; *why says why not the GPU, for -v).
 * nn_gpu_probe() is the one function that asks the CUDA runtime (device.cu); a build without CUDA links
 * device.c's stub, which reports built = 0 and never touches a GPU library. */
#ifndef AUDIOCNN_NN_DEVICE_H
#define AUDIOCNN_NN_DEVICE_H

#include "nn/nn.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NN_MAX_GPUS 16

typedef struct NnGpuInfo {
    char name[128];       /* "NVIDIA H200" */
    size_t mem_total;     /* bytes */
    int cc_major, cc_minor; /* compute capability */
} NnGpuInfo;

typedef struct NnGpuList {
    int built;            /* 1: this build has the CUDA backend */
    int count;            /* usable GPUs (at most NN_MAX_GPUS) */
    NnGpuInfo gpu[NN_MAX_GPUS];
    char why[256];        /* count == 0: why none (the driver's error), for messages */
} NnGpuList;

typedef enum { NN_DEV_CPU = 0, NN_DEV_CUDA = 1, NN_DEV_AUTO = 2 } NnDeviceKind;

typedef struct NnDeviceSpec {
    NnDeviceKind kind;
    int index;            /* cuda:N's N (0 for cuda and auto) */
} NnDeviceSpec;

typedef struct NnDeviceChoice {
    NnDevice device;      /* NN_CPU or NN_CUDA */
    int index;            /* GPU ordinal (NN_CUDA) */
    NnGpuInfo gpu;        /* NN_CUDA: the GPU */
} NnDeviceChoice;

/* "cpu", "cuda", "cuda:N" (N a decimal ordinal < NN_MAX_GPUS, no sign or spaces), "auto". Returns 0, or
 * -1 with err_set("bad --device 'X' (cpu, cuda, cuda:N or auto)"). */
int nn_device_parse(const char *s, NnDeviceSpec *spec);

/* The build's GPUs: built, count, names and memory (device.cu; the stub says built = 0). Never fails:
 * a driver error gives count 0 and the reason in why. */
void nn_gpu_probe(NnGpuList *l);

/* NULL when the GPU engine can run a job on its own; else the reason it cannot yet (one phrase, used in
 * errors and by auto). */
const char *nn_cuda_engine_status(void);

/* Decides per the rules above; engine_why is nn_cuda_engine_status()'s answer (NULL: ready). For auto,
 * *why (may be NULL) gets NULL when a GPU was chosen, else the reason the CPU was. Returns 0, or -1 with
 * err_set(). */
int nn_device_resolve(const NnDeviceSpec *spec, const NnGpuList *l, const char *engine_why, NnDeviceChoice *out,
                      const char **why);

/* The tools' --device SPEC in one call: parse, probe the GPUs only when SPEC can pick one, resolve with
 * nn_cuda_engine_status(). Returns 0; -2 when SPEC is misspelt (err_set: bad usage, exit 2); -1 when it
 * cannot be had (err_set("--device SPEC: REASON"): exit 1). *auto_why as nn_device_resolve's why. */
int nn_device_select(const char *spec, NnDeviceChoice *out, const char **auto_why);

/* How many convolution algorithms ctx's cache holds (0 on the CPU and in builds without CUDA). */
size_t nn_cuda_algo_entries(const NnCtx *ctx);

/* "cpu", or "cuda:0 NVIDIA H200, 139.8 GiB, compute capability 9.0": the -v line and the checkpoint's
 * "device" metadata. */
void nn_device_describe(const NnDeviceChoice *c, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
