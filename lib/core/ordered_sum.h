#ifndef AUDIOCNN_ORDERED_SUM_H
#define AUDIOCNN_ORDERED_SUM_H
/* Sums of float planes in double, in one fixed order whatever the CPU or thread count: element i into
 * partial sum (lane) i % 8 for i below n rounded down to 8, the lanes combined as
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), then the tail elements one by one. The one reduction
 * of BatchNorm's statistics, the global average pool, SE's gate gradient, the conv epilogue's plane means
 * and specnorm's per-sample statistics; kernels.h's GPU twins follow the same order.
 *
 * Each function runs hand-written AVX-512 when cpu_avx512() (GCC lowers core/vec8.h's float-to-double
 * conversion to two halves and an insert, and one chain per plane waits on the adder: 1.5-2x slower),
 * else core/vec8.h's portable vectors: the same operations on the same lanes, so the same bits. The
 * four-plane forms give each plane's own result, bit for bit what the one-plane form gives it. */
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

double ordered_sum_f64(const float *p, int64_t n);
/* sum((p[i] - mean)^2), each square rounded before its add (no fused multiply-add) */
double ordered_sum_sq_dev_f64(const float *p, int64_t n, double mean);
/* sum(a[i] * b[i]): each product of two floats is exact in double */
double ordered_dot_f64(const float *a, const float *b, int64_t n);

/* out[j] = ordered_sum_f64(p + j * stride, n), j = 0..3 (four independent chains in one sweep) */
void ordered_sum4_f64(const float *p, int64_t stride, int64_t n, double out[4]);
/* out[j] = ordered_sum_sq_dev_f64(p + j * stride, n, mean), j = 0..3 */
void ordered_sum_sq_dev4_f64(const float *p, int64_t stride, int64_t n, double mean, double out[4]);
/* out[j] = ordered_dot_f64(a + j * stride, b + j * stride, n), j = 0..3 */
void ordered_dot4_f64(const float *a, const float *b, int64_t stride, int64_t n, double out[4]);

/* The sum over count planes at p + j * stride of ordered_sum_f64 (of ordered_sum_sq_dev_f64), added in
 * plane order from 0: a BatchNorm channel's statistic over its N planes. */
double ordered_sum_planes_f64(const float *p, int64_t count, int64_t stride, int64_t n);
double ordered_sum_sq_dev_planes_f64(const float *p, int64_t count, int64_t stride, int64_t n, double mean);

#ifdef __cplusplus
}
#endif

#endif
