#ifndef AUDIOCCPU_CLONES_H
#define AUDIOCCPU_CLONES_H
/* CPU_CLONES on a hot loop gives it an AVX-512 twin and an AVX2+FMA (x86-64-v3) twin beside the x86-64-v2
 * baseline, picked once at load time (GCC's target_clones, an ifunc): the same C, vectorised 16 or 8
 * floats wide instead of 4, kernels.h's explicit fmaf as one instruction instead of a libm call. Floating-
 * point contraction is off in ISO C mode and explicit partial sums fix every reduction's order, so both
 * give the same bits. Only where nothing inside is itself a clone (clones cannot be inlined). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(CPU_NO_CLONES)
#define CPU_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define CPU_CLONES
#endif
/* A helper of a CPU_CLONES loop: inlined, so that each clone compiles it for its own target. */
#define CPU_INLINE static inline __attribute__((always_inline))

#endif
