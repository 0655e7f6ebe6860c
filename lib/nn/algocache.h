/* algocache.h - the convolution algorithm chosen once per shape: a table from a convolution's shape and
 * pass to the algorithm a search picked and its workspace, so that cuDNN's search (or heuristic) runs
 * once per shape in a process, not once per call.
 *
 * Promise: plain C with no GPU in it (tests/unit/test_gpu_host.c). A key is every field that changes
 * which algorithm is valid or fastest: the pass (forward, backward data, backward filter), N C H W, K,
 * kernel, stride, padding, dilation, groups, the data type and whether only deterministic algorithms may
 * be chosen. algocache_find gives the stored entry or NULL; algocache_put stores (or replaces) one;
 * entries live until algocache_free. Lookups compare whole keys (no hash collisions can alias two
 * shapes). The table grows; a failed growth is reported (-1, err_set) and leaves it as it was. */
#ifndef AUDIOCNN_NN_ALGOCACHE_H
#define AUDIOCNN_NN_ALGOCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ALGO_FWD = 0, ALGO_BWD_DATA = 1, ALGO_BWD_FILTER = 2 } AlgoPass;
/* What the convolution computes in: NnAmp's values for AMP's half types, and fp32 with or without TF32 */
typedef enum { ALGO_FP32 = 0, ALGO_BF16 = 1, ALGO_FP16 = 2, ALGO_TF32 = 3 } AlgoDtype;

typedef struct AlgoKey {
    int32_t pass;          /* AlgoPass */
    int32_t n, c, h, w, k, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    int32_t dtype;         /* AlgoDtype */
    int32_t deterministic; /* 1: only deterministic algorithms were eligible */
} AlgoKey;

typedef struct AlgoEntry {
    AlgoKey key;
    int32_t algo;          /* cudnnConvolution*Algo_t */
    int32_t math;          /* cudnnMathType_t the algorithm runs with */
    size_t workspace;      /* bytes it needs */
} AlgoEntry;

typedef struct NnAlgoCache {
    AlgoEntry *e;
    int n, cap;
    int64_t hits, misses;  /* for -v and the tests */
} NnAlgoCache;

void algocache_init(NnAlgoCache *c);
void algocache_free(NnAlgoCache *c);
/* The entry for *k, or NULL (counts a hit or a miss). */
const AlgoEntry *algocache_find(NnAlgoCache *c, const AlgoKey *k);
/* Stores e (replacing an entry with the same key). Returns 0, or -1 with err_set(). */
int algocache_put(NnAlgoCache *c, const AlgoEntry *e);

struct Conv2dShape;
struct NnCtx;
/* The key of convolution s's pass under ctx's settings: AMP's half type, else TF32 (ctx->tf32) or fp32;
 * ctx->deterministic. conv2d.cu and the simulated GPU both key their caches by it. */
AlgoKey algocache_conv_key(const struct NnCtx *ctx, const struct Conv2dShape *s, AlgoPass pass);

#ifdef __cplusplus
}
#endif

#endif
