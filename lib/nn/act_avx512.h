/* act_avx512.h - activation.h's activations on 16 lanes of AVX-512, for kernels that apply them while
 * a tile is still in registers or cache (gemm.c's and depthwise.c's epilogues) and for the SiLU loops of
 * act_affine and BatchNorm's backward, which GCC's vectorisation of the scalar code runs 25% slower.
 *
 * Promise: lane for lane the bits of the scalar code every other path runs: kernels.h's nn_expf, in the
 * same operations and order (its explicit fmaf as an FMA, every other product and sum as one; ISO C
 * contracts nothing else), x / (1 + exp(-x)) for SiLU, SiLU's backward as nn_silu_b, x < 0 ? 0 : x for
 * ReLU (-0 kept). A NaN stays a NaN; its sign and payload follow whichever operand the compiler put first,
 * which is not promised. Checked against the scalar functions on special values and random inputs
 * (tests/unit/test_gemm.c), and once over all 2^32 inputs (exp, SiLU; SiLU's backward for two gradients).
 * Include only from code compiled for, or marked with, target("avx512f"). */
#ifndef AUDIOCNN_NN_ACT_AVX512_H
#define AUDIOCNN_NN_ACT_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/activation.h"

#include <immintrin.h>

#define NN_AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* kernels.h's nn_expf, step by step (its fmaf as _mm512_fmadd_ps; the clamps as max/min with x second,
 * so that a NaN passes through as it does there) */
NN_AVX512_INLINE __m512 nn_expf_avx512(__m512 xo) {
    __m512 x = _mm512_min_ps(_mm512_set1_ps(88.3f), _mm512_max_ps(_mm512_set1_ps(-87.3f), xo));
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(12582912.0f));
    __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(12582912.0f));
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    /* p * 2^n by vscalefps, the clamps' two cases folded into the exponent: d = xo - x is 0 inside
     * [-87.3, 88.3] and at least an ulp of 87.3 (7.6e-6) outside, so n + d * 1e30 is n, or so large (or
     * +-inf) that the product overflows to inf above and underflows to 0 below, as nn_expf's selects do;
     * NaN stays NaN. 2^n is a normal float here (|n| <= 127) and both products round once: the same bits
     * as p times the exponent built from t's bits, in 3 operations instead of 7. */
    __m512 d = _mm512_sub_ps(xo, x);
    return _mm512_scalef_ps(p, _mm512_fmadd_ps(d, _mm512_set1_ps(1e30f), n));
}

/* batchnorm.c's act_grad for SiLU, d(pre) from d = d(silu(p)): d * sg * (1 + p * (1 - sg)) with
 * sg = 1 / (1 + exp(-p)), each operation rounded as there */
NN_AVX512_INLINE __m512 nn_silu_grad_avx512(__m512 d, __m512 p) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(p), _mm512_set1_epi32((int)0x80000000u)));
    __m512 sg = _mm512_div_ps(one, _mm512_add_ps(one, nn_expf_avx512(neg)));
    return _mm512_mul_ps(_mm512_mul_ps(d, sg), _mm512_add_ps(one, _mm512_mul_ps(p, _mm512_sub_ps(one, sg))));
}

/* activation.c's act_apply */
NN_AVX512_INLINE __m512 nn_act_avx512(__m512 v, ActKind act) {
    if (act == ACT_RELU) return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps());
    if (act == ACT_SILU)
    {
        __m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)));
        return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), nn_expf_avx512(neg)));
    }
    return v;
}

/* act_affine's operations (activation.c) on 16 lanes: act(v * scale + shift [+ res's lanes m]), res NULL:
 * no residual; a product, a sum, the residual's sum, the activation, each rounded as there */
NN_AVX512_INLINE __m512 nn_affine_act_avx512(__m512 v, __m512 scale, __m512 shift, const float *res, __mmask16 m,
                                             ActKind act) {
    v = _mm512_add_ps(_mm512_mul_ps(v, scale), shift);
    if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
    return nn_act_avx512(v, act);
}

#endif
#endif
