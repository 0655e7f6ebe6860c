#ifndef AUDIOCNN_CPU_H
#define AUDIOCNN_CPU_H
/* Which of our own hand-vectorised kernels this process runs: decided once per process from the CPU and
 * the environment. Kernels picked here give the same bits as the portable code they replace, except where
 * a kernel's header says otherwise (gemm.c's and depthwise.c's rounding, see nn.h's nn_avx512). */

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the CPU has AVX-512F and the environment does not say AUDIOCNN_AVX512=0 (then every AVX-512
 * kernel of ours steps aside for its portable twin: OpenBLAS for GEMMs, the CPU_CLONES loops elsewhere). */
int cpu_avx512(void);

#ifdef __cplusplus
}
#endif

#endif
