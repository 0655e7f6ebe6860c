/* gemm.h - one thread's float32 matrix product, C = op(A) op(B) + beta C, row-major.
 *
 * Every convolution and linear layer reaches BLAS through here. Two kernels:
 *   avx512    our own blocked GEMM (packed panels, an 8x48 register tile of FMAs), compiled for
 *             AVX-512F with a function attribute and chosen at run time when the CPU has it; the rest
 *             of the build stays x86-64-v2. OpenBLAS 0.3.21 (Debian 12) does not know AMD Zen 4/5 and
 *             often runs its AVX2 "Haswell" kernels there (also when OPENBLAS_CORETYPE=Haswell is set),
 *             which leaves half of the FMA width unused.
 *   openblas  cblas_sgemm, on every other CPU, or when the environment says AUDIOCNN_AVX512=0
 *             (nn_avx512() in nn.h).
 *   avx2      our blocked GEMM with a 6x16 tile for CPUs without AVX-512, only when the environment says
 *             AUDIOCNN_GEMM=avx2 (and the CPU has AVX2 and FMA): the AVX-512 kernel's bits, exactly, on
 *             any AVX2 machine, at 0.87-1.00x the speed of OpenBLAS's Haswell kernel (bench/gemm with
 *             OPENBLAS_CORETYPE=Haswell), which is why it is not the default there.
 * AUDIOCNN_GEMM=openblas|avx512 forces the others (avx512 only where nn_avx512()).
 *
 * Promises: single-threaded (the layers split work into fixed tiles themselves: see conv2d.h);
 * deterministic: each C element is summed over k in ascending order in blocks of 256, the same for
 * any thread count, tile or call order (also where the AVX-512 kernel computes C^T = op(B)^T op(A)^T
 * for speed: the same products in the same order). The two kernels round differently (last bits). beta == 0
 * never reads C (NaN in C is overwritten), as in BLAS. Thread-safe: packing buffers are per thread
 * (freed when the thread exits).
 * For benchmarks: with AUDIOCNN_GEMM_LOG=FILE in the environment, every call appends one line
 * "TRANS M N K BETA" to FILE (TRANS: NN, NT, TN or TT; BETA: 0 or 1 for beta != 0); bench/gemm replays
 * the engine's real shapes from it. */
#ifndef AUDIOCNN_NN_GEMM_H
#define AUDIOCNN_NN_GEMM_H

#include "nn/activation.h"

typedef enum { GEMM_N = 0, GEMM_T = 1 } GemmTrans;

/* C (M x N, leading dimension ldc) = op(A) (M x K) * op(B) (K x N) + beta * C. op(A) = A (lda >= K)
 * or, with GEMM_T, A stored K x M (lda >= M); likewise B. Sizes >= 0. A buffer that cannot be
 * allocated falls back to cblas_sgemm (same result up to rounding). */
void gemm_f32(GemmTrans ta, GemmTrans tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);

/* What gemm_f32_ep does to each element of C once its sum is complete, while the tile is still in cache
 * (a convolution's bias and eval-mode BatchNorm + activation, without separate passes over the output):
 *   v = C[i][j]                                (the product, + beta C as above)
 *   v = v + bias[i]                            when bias
 *   v = v * scale[i] + shift[i]                when scale (shift with it); a product and a sum, each rounded
 *   v = v + res[i * ldr + j]                   when res (must not alias C)
 *   C[i][j] = act(v)                           activation.h's ReLU (x < 0 ? 0 : x) or SiLU (x / (1 + exp(-x)))
 * The same operations in the same order as adding the bias and then calling act_affine (activation.h) on
 * the finished C, so the same bits (tests/unit/test_gemm.c). */
typedef struct GemmEpilogue {
    const float *bias;          /* (M) or NULL */
    const float *scale, *shift; /* (M) each, or both NULL */
    const float *res;           /* M x N, leading dimension ldr, or NULL */
    int ldr;
    ActKind act;
    const float *b_scale;       /* (K) or NULL: row k of op(B) read as op(B)[k][j] * b_scale[k] (one rounded
                                 * product each: the bits of scaling B first), folded into the packing of B
                                 * (EfficientNet's SE excitation on the projection's input, conv2d.h) */
    const float *b_col_scale;   /* (N) or NULL: column j of op(B) read as op(B)[k][j] * b_col_scale[j], the same
                                 * way (the projection's weight gradient from the unscaled input); at most one of
                                 * b_scale and b_col_scale */
} GemmEpilogue;

/* gemm_f32 followed by the epilogue ep (NULL: none). */
void gemm_f32_ep(GemmTrans ta, GemmTrans tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc, const GemmEpilogue *ep);

/* "avx512", "avx2" or "openblas": the kernel gemm_f32 uses in this process. */
const char *gemm_kernel_name(void);

#endif
