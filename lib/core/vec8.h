#ifndef AUDIOCNN_VEC8_H
#define AUDIOCNN_VEC8_H
/* Eight floats and eight doubles as GCC/clang vector types, and the ordered sum built on them.
 *
 * Ordered sums keep 8 partial sums (element i in lane i % 8), which compilers do not vectorise from
 * plain arrays; written with vectors they run 8 lanes wide (one AVX-512 register, or four SSE ones) with
 * exactly the scalar lanes' bits. Macros, not functions: vector values crossing a function boundary
 * would draw GCC's ABI warnings. Host C only (the .cu files never need them). */
#ifndef __CUDACC__
#include "core/clones.h"

#include <stdint.h>
#include <string.h>

typedef float vec8f __attribute__((vector_size(32)));
typedef double vec8d __attribute__((vector_size(64)));
#define VEC8_LOADF(p) (__extension__({ vec8f v8_; memcpy(&v8_, (p), sizeof v8_); v8_; }))
#define VEC8_LOADD(p) (__extension__({ vec8d v8_; memcpy(&v8_, (p), sizeof v8_); v8_; }))
#define VEC8_STORED(p, v) (__extension__({ vec8d s8_ = (v); memcpy((p), &s8_, sizeof s8_); }))
#define VEC8_TOD(v) __builtin_convertvector((v), vec8d)
/* ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) of a variable a */
#define VEC8_HSUMD(a) ((((a)[0] + (a)[1]) + ((a)[2] + (a)[3])) + (((a)[4] + (a)[5]) + ((a)[6] + (a)[7])))

/* sum(p[0..n)) in double, in a fixed order (8 interleaved partial sums, then the tail): the one
 * reduction of BatchNorm's statistics, the global average pool, the conv epilogue's plane means and
 * specnorm's per-sample mean. */
CPU_INLINE double ordered_sum_f64(const float *p, int64_t n) {
    vec8d acc = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc += VEC8_TOD(VEC8_LOADF(p + i));
    double s = VEC8_HSUMD(acc);
    for (; i < n; i++) s += (double)p[i];
    return s;
}

/* sum(a[i] * b[i]) in double (each product of two floats exact), in ordered_sum_f64's order: SE's gate
 * gradient (kernels.h's kb_se_gate_dot does the same lanes). */
CPU_INLINE double ordered_dot_f64(const float *a, const float *b, int64_t n) {
    vec8d acc = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc += VEC8_TOD(VEC8_LOADF(a + i)) * VEC8_TOD(VEC8_LOADF(b + i));
    double s = VEC8_HSUMD(acc);
    for (; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* sum((p[i] - mean)^2) in double, in ordered_sum_f64's order: BatchNorm's batch variance and
 * specnorm's per-sample deviation. */
CPU_INLINE double ordered_sum_sq_dev_f64(const float *p, int64_t n, double mean) {
    vec8d acc = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vec8d d = VEC8_TOD(VEC8_LOADF(p + i)) - mean;
        acc += d * d;
    }
    double s = VEC8_HSUMD(acc);
    for (; i < n; i++) {
        double d = (double)p[i] - mean;
        s += d * d;
    }
    return s;
}
#endif
#endif
