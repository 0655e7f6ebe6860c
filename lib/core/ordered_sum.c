#include "core/ordered_sum.h"

#include "core/cpu.h"
#include "core/prefetch.h"
#include "core/vec8.h"

enum { SUM, SQ_DEV, DOT };

/* s plus the elements [i, n) one by one (the tail after the lanes) */
CPU_INLINE double tail(int kind, const float *a, const float *b, int64_t i, int64_t n, double mean, double s) {
    for (; i < n; i++) {
        double v = (double)a[i];
        if (kind == SUM) s += v;
        else if (kind == SQ_DEV) s += (v - mean) * (v - mean);
        else s += v * (double)b[i];
    }
    return s;
}

/* The portable forms: vec8d lanes (the AVX2 and baseline clones; AVX-512 CPUs with AUDIOCNN_AVX512=0). */
CPU_CLONES static double sum_portable(const float *p, int64_t n) {
    vec8d acc = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc += VEC8_TOD(VEC8_LOADF(p + i));
    return tail(SUM, p, NULL, i, n, 0.0, VEC8_HSUMD(acc));
}

CPU_CLONES static double sum_sq_dev_portable(const float *p, int64_t n, double mean) {
    vec8d acc = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vec8d d = VEC8_TOD(VEC8_LOADF(p + i)) - mean;
        acc += d * d;
    }
    return tail(SQ_DEV, p, NULL, i, n, mean, VEC8_HSUMD(acc));
}

CPU_CLONES static double dot_portable(const float *a, const float *b, int64_t n) {
    vec8d acc = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc += VEC8_TOD(VEC8_LOADF(a + i)) * VEC8_TOD(VEC8_LOADF(b + i));
    return tail(DOT, a, b, i, n, 0.0, VEC8_HSUMD(acc));
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512 1
#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __m512d load8(const float *p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }

/* (x - mean)^2 with the square rounded before the add that takes it */
AVX512 static inline __m512d sq_dev(const float *p, __m512d mean) {
    __m512d d = _mm512_sub_pd(load8(p), mean);
    return _mm512_mul_pd(d, d);
}

/* Four planes at a + j * stride (and b + j * stride) at once, four independent chains. The product of two
 * floats is exact in double, so the dot's fused multiply-add rounds as the separate product and add do. */
AVX512 static void planes4_avx512(int kind, const float *a, const float *b, int64_t stride, int64_t n, double mean,
                                  double out[4]) {
    __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
    __m512d m = _mm512_set1_pd(mean);
    int64_t i = 0;
    if (kind == SUM)
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 4; j++) {
                if (!(i & 15)) stream_prefetch(a + j * stride + i);
                acc[j] = _mm512_add_pd(acc[j], load8(a + j * stride + i));
            }
    else if (kind == SQ_DEV)
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 4; j++) {
                if (!(i & 15)) stream_prefetch(a + j * stride + i);
                acc[j] = _mm512_add_pd(acc[j], sq_dev(a + j * stride + i, m));
            }
    else
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 4; j++) {
                if (!(i & 15)) stream_prefetch(a + j * stride + i), stream_prefetch(b + j * stride + i);
                acc[j] = _mm512_fmadd_pd(load8(a + j * stride + i), load8(b + j * stride + i), acc[j]);
            }
    for (int j = 0; j < 4; j++) out[j] = tail(kind, a + j * stride, b ? b + j * stride : NULL, i, n, mean, VEC8_HSUMD(acc[j]));
}

/* One plane: a single chain, without the four-plane form's idle lanes. */
AVX512 static double plane_avx512(int kind, const float *a, const float *b, int64_t n, double mean) {
    __m512d acc = _mm512_setzero_pd(), m = _mm512_set1_pd(mean);
    int64_t i = 0;
    if (kind == SUM)
        for (; i + 8 <= n; i += 8) acc = _mm512_add_pd(acc, load8(a + i));
    else if (kind == SQ_DEV)
        for (; i + 8 <= n; i += 8) acc = _mm512_add_pd(acc, sq_dev(a + i, m));
    else
        for (; i + 8 <= n; i += 8) acc = _mm512_fmadd_pd(load8(a + i), load8(b + i), acc);
    return tail(kind, a, b, i, n, mean, VEC8_HSUMD(acc)); /* __m512d is a vec8d */
}
#else
#define HAVE_AVX512 0
#endif

/* One plane, or four planes stride apart, of a kind: the hand-written lanes or the portable ones. */
static double one(int kind, const float *a, const float *b, int64_t n, double mean) {
#if HAVE_AVX512
    if (cpu_avx512()) return plane_avx512(kind, a, b, n, mean);
#endif
    return kind == SUM ? sum_portable(a, n) : kind == SQ_DEV ? sum_sq_dev_portable(a, n, mean) : dot_portable(a, b, n);
}

static void four(int kind, const float *a, const float *b, int64_t stride, int64_t n, double mean, double out[4]) {
#if HAVE_AVX512
    if (cpu_avx512()) {
        planes4_avx512(kind, a, b, stride, n, mean, out);
        return;
    }
#endif
    for (int j = 0; j < 4; j++) out[j] = one(kind, a + j * stride, b ? b + j * stride : NULL, n, mean);
}

/* count planes' sums added in plane order from 0, four planes at a time */
static double planes(int kind, const float *p, int64_t count, int64_t stride, int64_t n, double mean) {
    double s = 0, o[4];
    int64_t j = 0;
    for (; j + 4 <= count; j += 4) {
        four(kind, p + j * stride, NULL, stride, n, mean, o);
        s = (((s + o[0]) + o[1]) + o[2]) + o[3];
    }
    for (; j < count; j++) s += one(kind, p + j * stride, NULL, n, mean);
    return s;
}

double ordered_sum_f64(const float *p, int64_t n) { return one(SUM, p, NULL, n, 0.0); }
double ordered_sum_sq_dev_f64(const float *p, int64_t n, double mean) { return one(SQ_DEV, p, NULL, n, mean); }
double ordered_dot_f64(const float *a, const float *b, int64_t n) { return one(DOT, a, b, n, 0.0); }

void ordered_sum4_f64(const float *p, int64_t stride, int64_t n, double out[4]) { four(SUM, p, NULL, stride, n, 0.0, out); }
void ordered_sum_sq_dev4_f64(const float *p, int64_t stride, int64_t n, double mean, double out[4]) {
    four(SQ_DEV, p, NULL, stride, n, mean, out);
}
void ordered_dot4_f64(const float *a, const float *b, int64_t stride, int64_t n, double out[4]) {
    four(DOT, a, b, stride, n, 0.0, out);
}

double ordered_sum_planes_f64(const float *p, int64_t count, int64_t stride, int64_t n) {
    return planes(SUM, p, count, stride, n, 0.0);
}
double ordered_sum_sq_dev_planes_f64(const float *p, int64_t count, int64_t stride, int64_t n, double mean) {
    return planes(SQ_DEV, p, count, stride, n, mean);
}
