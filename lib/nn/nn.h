/* nn.h - conventions every layer of the training engine follows (read this before writing a layer).
 *
 * Layers are pairs of free functions in the style of llm.c, one file per layer (lib/nn/conv2d.c, and
 * lib/nn/conv2d.cu beside it for CUDA, conv2d_forward_cuda behind the same signature, reached through
 * NN_DISPATCH_CUDA below in builds with CUDA):
 *
 *   void X_forward(NnCtx *ctx, const XShape *s, <inputs>, <params>, <outputs>, <caches>);
 *   void X_backward(NnCtx *ctx, const XShape *s, <dout>, <saved inputs/caches>, <params>,
 *                   <dinputs (may be NULL: not needed)>, <dparams (accumulated with +=)>);
 *
 * - Every tensor is a float32 array in NumPy/PyTorch order, contiguous: activations NCHW
 *   (N, C, H, W), conv weights (K, C/groups, KH, KW), linear weights (out, in). A shape comment opens
 *   each function.
 * - Parameter gradients ADD into their buffers (+=), so they can accumulate; the optimiser or the
 *   caller zeroes them. Input gradients are WRITTEN (=), never accumulated, unless the function's
 *   comment says otherwise.
 * - What backward needs from forward (BN's mean and inverse std, max-pool argmax, dropout mask) lives
 *   in explicit buffers the caller owns and passes in; nothing is hidden in static state.
 * - Results are deterministic: the same inputs give the same bits whatever the thread count (work is
 *   split by fixed ranges; reductions are ordered).
 * - Semantics are PyTorch's (default arguments, initialisations, BN momentum and unbiased running var,
 *   ...); each layer has a finite-difference gradient test and a parity test against torch.
 * - NnCtx carries the thread count and a scratch workspace (e.g. im2col buffers); layers never malloc
 *   in their hot path.
 */
#ifndef AUDIOCNN_NN_H
#define AUDIOCNN_NN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/clones.h"
#include "core/ordered_sum.h"
#include "core/vec8.h"
#include "nn/amp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a network's forward is for (Model.forward's mode):
 *   NN_INFER      eval mode (running BN statistics, no dropout), nothing kept for a backward: Conv-BN-
 *                 activation units run as one convolution with a fused epilogue, in place. backward()
 *                 after it is refused.
 *   NN_TRAIN      train mode (batch statistics, dropout), keeps what backward needs.
 *   NN_EVAL_GRAD  eval mode like NN_INFER, with the same output bits, but keeps what backward needs
 *                 (the gradient of an eval-mode network, as PyTorch's model.eval() then backward()). */
typedef enum { NN_INFER = 0, NN_TRAIN = 1, NN_EVAL_GRAD = 2 } NnMode;

typedef enum { NN_CPU = 0, NN_CUDA = 1 } NnDevice;

#define NN_MAX_THREADS 64

/* The device layer: ctx->device says where a layer's tensors live. NN_CPU (nn_ctx_init's) is the engine
 * as it always was. NN_CUDA (nn_ctx_use_cuda, CUDA builds only) puts the arrays a layer reads and writes
 * in that GPU's memory: each layer function of lib/nn/X.c starts with NN_DISPATCH_CUDA, which hands the
 * same arguments to X_cuda (lib/nn/X.cu) and returns; so the models (baseline.c, resnet.c,
 * efficientnet.c) stay single files, and what differs per device lives in the layer files. Buffers a
 * model or the trainer hands to layers come from nn_alloc(ctx, ...) (device memory under NN_CUDA), host
 * data crosses with nn_copy_to_device / nn_copy_to_host. A layer without a .cu twin yet refuses NN_CUDA
 * through nn_cuda_missing (err_set, naming it). */
typedef struct NnCtx {
    NnDevice device;
    int threads;       /* worker threads for own kernels (OpenBLAS is set to the same count) */
    float *scratch;    /* workspace, grown by nn_scratch() */
    size_t scratch_len;
    struct NnPool *pool; /* threads - 1 workers, started by the first parallel call */
    int device_index;  /* NN_CUDA: the GPU ordinal */
    struct NnCuda *cuda; /* NN_CUDA: stream, cuBLAS/cuDNN handles, algorithm cache, device workspace */
    int deterministic; /* NN_CUDA: deterministic algorithms only (--deterministic) */
    NnAmp amp;         /* NN_CUDA: conv/linear in bf16 or fp16 (nn/amp.h; nn_ctx_set_amp); the CPU ignores it */
    int tf32;          /* NN_CUDA: fp32 convolutions may run on TF32 tensor cores (--tf32, as PyTorch's default
                        * torch.backends.cudnn.allow_tf32); linear layers stay fp32; the CPU ignores it */
    int const_weights; /* 1: every weight array a layer gets through this context keeps its address and its
                        * values for the context's life (inference: cnneval sets it), so layers may keep
                        * what they derive from them (winograd.c's transformed filters) keyed by address */
    void *wcache;      /* that kept state, and how nn_ctx_free releases it */
    void (*wcache_free)(void *wcache);
} NnCtx;

#ifdef AUDIOCNN_CUDA
/* The one dispatch point of a layer function: under NN_CUDA, call the .cu twin with the same arguments
 * and return its result (NN_DISPATCH_CUDA_VOID: for void functions). Absent from CPU-only builds. */
#define NN_DISPATCH_CUDA(ctx, call) do { if ((ctx)->device == NN_CUDA) return (call); } while (0)
#define NN_DISPATCH_CUDA_VOID(ctx, call) do { if ((ctx)->device == NN_CUDA) { (call); return; } } while (0)
#else
#define NN_DISPATCH_CUDA(ctx, call) ((void)0)
#define NN_DISPATCH_CUDA_VOID(ctx, call) ((void)0)
#endif

/* Returns 0 or -1 with err_set(). The context runs on the CPU. */
int nn_ctx_init(NnCtx *ctx, int threads);
/* Moves an initialised context to GPU `index` (its stream and cuBLAS/cuDNN handles, made here).
 * Returns 0, or -1 with err_set() (no CUDA in this build, no such GPU, a driver/library error). */
int nn_ctx_use_cuda(NnCtx *ctx, int index);
/* Stops the workers and frees the workspace (and the GPU state). */
void nn_ctx_free(NnCtx *ctx);

/* Memory the layers of ctx's device read and write: host memory (64-byte aligned) on the CPU, device
 * memory under NN_CUDA. nn_alloc returns device memory zeroed; host memory as malloc leaves it (the
 * layers write before they read; untouched pages then cost nothing), or NULL with err_set(). nn_free(ctx,
 * NULL) is a no-op. The copies are synchronous (n bytes). */
void *nn_alloc(NnCtx *ctx, size_t bytes);
void nn_free(NnCtx *ctx, void *p);
/* nn_free when the context may be gone (a model's buffers outlive the contexts that ran it): the device
 * the memory was allocated on is enough. */
void nn_free_on(NnDevice device, void *p);
int nn_copy_to_device(NnCtx *ctx, void *dst, const void *src, size_t bytes);
int nn_copy_to_host(NnCtx *ctx, void *dst, const void *src, size_t bytes);
/* bytes of ctx's memory at p set to zero (a gradient block between steps): memset on the CPU, queued on the
 * stream under NN_CUDA. Returns 0, or -1 with err_set(). */
int nn_zero(NnCtx *ctx, void *p, size_t bytes);
/* Bytes of the GPU's memory in use now beyond what it used when ctx's GPU state was made (everything
 * this process allocated there since: nn_alloc's blocks, workspaces, the staging ring; other processes'
 * changes too), for bench/gpu; 0 on the CPU. The simulated GPU counts its nn_alloc blocks. */
size_t nn_device_mem_used(NnCtx *ctx);
/* Waits for the device's queued work (a no-op on the CPU). Returns 0, or -1 with err_set(). */
int nn_sync(NnCtx *ctx);
/* err_set("LAYER has no CUDA implementation yet") and -1: a layer's answer to NN_CUDA without a twin.
 * nn_cuda_missing_void: the same for a void layer function, also kept for the next nn_sync (CUDA
 * builds only). */
int nn_cuda_missing(const char *layer);
int nn_cuda_missing_void(NnCtx *ctx, const char *layer);
/* At least n floats of workspace (contents undefined), or NULL with err_set(). Valid until the next call. */
float *nn_scratch(NnCtx *ctx, size_t n);

/* Run fn(ctx_arg, begin, end) over [0, n) split into ctx->threads contiguous ranges, in parallel (the
 * calling thread runs the first, ctx's persistent workers the others), and return when all are done.
 * Ranges depend only on n and the thread count. One caller per ctx at a time; a range function that
 * calls nn_parallel_for itself gets a serial run. */
typedef void (*nn_range_fn)(void *arg, int64_t begin, int64_t end);
void nn_parallel_for(NnCtx *ctx, int64_t n, nn_range_fn fn, void *arg);

/* 1 when our own AVX-512 kernels run (gemm.c's GEMM, depthwise.c, core/ordered_sum.c): core/cpu.h's
 * cpu_avx512(), the CPU has AVX-512F and the environment does not say AUDIOCNN_AVX512=0. Decided once per
 * process. With 0, GEMMs go to OpenBLAS, depthwise convolution and the ordered sums to the portable loops
 * (the CPU_CLONES twins stay: they give the same bits). */
int nn_avx512(void);

#ifdef __cplusplus
}
#endif

#endif
