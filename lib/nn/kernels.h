/* kernels.h - the arithmetic of the engine's own CUDA kernels, as __host__ __device__ functions: every
 * own kernel in the .cu files of lib/nn is a one-line __global__ wrapper around a body kb_X here, so the
 * CPU runs the very same code over the same launch grid (tests/unit/test_kernels.c: every block and
 * thread of the grid nn_grid_1d chooses) and compares with the CPU layer, bit for bit where the CPU layer
 * does the same float operations in the same order (all bodies here), on a machine without a GPU.
 *
 * Conventions: C and CUDA C++ alike (no GCC vector extensions, no libm beyond sqrtf and fmaf); .cu files
 * are compiled with --fmad=false, so no multiply-add is contracted on either side: a fused multiply-add
 * is always an explicit fmaf. NnGrid is the launch
 * position (blockIdx.x, threadIdx.x, blockDim.x, gridDim.x); element bodies stride over the grid. */
#ifndef AUDIOCNN_NN_KERNELS_H
#define AUDIOCNN_NN_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define NN_HD static inline __host__ __device__
#else
#define NN_HD static inline
#endif

typedef struct NnGrid {
    int64_t block, thread, bdim, gdim;
} NnGrid;

#define NN_BLOCK 256      /* threads per block of every element-wise kernel */
#define NN_GRID_MAX 4096  /* blocks at most; larger tensors are strided over */

/* The launch of an element-wise kernel over n items: blocks of NN_BLOCK threads, at most NN_GRID_MAX. */
NN_HD int64_t nn_grid_1d(int64_t n) {
    int64_t b = (n + NN_BLOCK - 1) / NN_BLOCK;
    return b < 1 ? 1 : b > NN_GRID_MAX ? NN_GRID_MAX : b;
}

/* for (i = this thread's first item; i < n; i += the grid's threads) */
#define NN_GRID_LOOP(g, i, n) for (int64_t i = (g).block * (g).bdim + (g).thread; i < (n); i += (g).gdim * (g).bdim)

/* An element's plane or channel from its index (i / hw, (i / hw) % C) without an integer division per
 * element: a GPU has no divide instruction, and its 64-bit division is a subroutine of about a hundred
 * instructions, more than a bandwidth-bound pass over fp32 has per element. The launch's divisor d is
 * turned once on the host into a multiplier and a shift (Granlund and Montgomery's division by invariant
 * integers, the form of CUTLASS's FastDivmod): with l = ceil(log2 d) and m = floor(2^32 (2^l - d) / d) + 1,
 * n / d = (umulhi(n, m) + n) >> l for every 0 <= n < 2^31 (the sum fits 32 bits). nn_div_for(d, n_end)
 * chooses that form when d and every dividend (below n_end) fit in 31 bits, else plain division; the
 * quotient is the same either way (tests/unit/test_kernels.c checks it against /). d >= 1. */
typedef struct NnDiv {
    int64_t d;
    uint32_t mul, shift;
    int fast;
} NnDiv;
NN_HD NnDiv nn_div_for(int64_t d, int64_t n_end) {
    NnDiv v = {d, 0, 0, 0};
    if (d < 1 || d > INT32_MAX || n_end > (int64_t)INT32_MAX + 1) return v;
    uint32_t l = 0;
    while (((uint64_t)1 << l) < (uint64_t)d) l++;
    v.mul = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << l) - (uint64_t)d)) / (uint64_t)d + 1);
    v.shift = l;
    v.fast = 1;
    return v;
}
NN_HD int64_t nn_div(int64_t n, NnDiv v) {
    if (!v.fast) return n / v.d;
    uint32_t u = (uint32_t)n, t = (uint32_t)(((uint64_t)u * v.mul) >> 32);
    return (int64_t)((t + u) >> v.shift);
}
NN_HD int64_t nn_mod(int64_t n, NnDiv v) { return n - nn_div(n, v) * v.d; }

/* exp(x) in float without a libm call, so that loops of it vectorise (SiLU and sigmoid are a third
 * of EfficientNet's time with libm's scalar expf): n = round(x / ln 2) by the 1.5 * 2^23 trick,
 * r = x - n ln 2 in two parts (Cody-Waite), Cephes' degree-6 polynomial for exp(r) in Horner form, times
 * 2^n built in the exponent bits. Below -87.3 the result is 0 (exp is a denormal there) and above 88.3 inf
 * (2^n must stay normal), so sigmoid and SiLU saturate exactly as torch's do. Within 2 ulp of libm's expf
 * in between (tests/unit/test_nn_misc.c); NaN gives NaN. The CPU layers and the kernels share it.
 * Every step is an explicit fmaf: one rounding each, the same bits on every CPU, in CUDA and in
 * act_avx512.h's 16 lanes, and half the instructions of a product and a sum where the CPU has FMA (the
 * CPU_CLONES loops and the CUDA kernels do; x86-64-v2 code calls libm's fmaf, slower but the same bits). */
NN_HD float nn_expf(float x) {
    float xo = x;
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float t = fmaf(x, 1.44269504088896341f, 12582912.0f); /* 1.5 * 2^23: the low mantissa bits hold round(x/ln2) */
    float n = t - 12582912.0f;
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p * r, r, r) + 1.0f;
    uint32_t ti, si;
    memcpy(&ti, &t, sizeof ti);
    si = (ti - (0x4B400000u - 127u)) << 23; /* the integer in t's mantissa, biased, into the exponent field */
    float scale;
    memcpy(&scale, &si, sizeof scale);
    float y = p * scale;
    y = xo < -87.3f ? 0.0f : y;
    return xo > 88.3f ? (float)INFINITY : y;
}

/* ---- activations (activation.h's formulas, element by element) ---- */
NN_HD float nn_relu_f(float x) { return x < 0.0f ? 0.0f : x; }
NN_HD float nn_relu_b(float g, float y) { return y <= 0.0f ? 0.0f : g; }
NN_HD float nn_sigmoid_f(float x) { return 1.0f / (1.0f + nn_expf(-x)); }
NN_HD float nn_sigmoid_b(float g, float y) { return g * (1.0f - y) * y; }
NN_HD float nn_silu_f(float x) { return x / (1.0f + nn_expf(-x)); }
NN_HD float nn_silu_b(float g, float x) {
    float s = 1.0f / (1.0f + nn_expf(-x));
    return g * s * (1.0f + x * (1.0f - s));
}

typedef enum { EW_RELU_F, EW_RELU_B, EW_SIGMOID_F, EW_SIGMOID_B, EW_SILU_F, EW_SILU_B, EW_ADD, EW_ADD_RELU, EW_ACC } EwOp;

/* out[i] = op(a[i], b[i]) over n: forward ops read a (b unused); backward ops a = dout, b = the saved
 * tensor; EW_ADD / EW_ADD_RELU a + b; EW_ACC out[i] += a[i]. out may alias a or b. */
NN_HD void kb_elementwise(NnGrid g, int op, int64_t n, const float *a, const float *b, float *out) {
    NN_GRID_LOOP(g, i, n) {
        float r;
        switch (op) {
        case EW_RELU_F: r = nn_relu_f(a[i]); break;
        case EW_RELU_B: r = nn_relu_b(a[i], b[i]); break;
        case EW_SIGMOID_F: r = nn_sigmoid_f(a[i]); break;
        case EW_SIGMOID_B: r = nn_sigmoid_b(a[i], b[i]); break;
        case EW_SILU_F: r = nn_silu_f(a[i]); break;
        case EW_SILU_B: r = nn_silu_b(a[i], b[i]); break;
        case EW_ADD: r = a[i] + b[i]; break;
        case EW_ADD_RELU: r = nn_relu_f(a[i] + b[i]); break;
        default: r = out[i] + a[i]; break; /* EW_ACC */
        }
        out[i] = r;
    }
}

/* ---- linear's bias (linear.c's order: the GEMM, then + b) and its gradient ---- */
/* y (rows, cols) += b (cols), one element per item (cols = nn_div_for(cols, rows * cols)). */
NN_HD void kb_add_bias_rows(NnGrid g, int64_t rows, NnDiv cols, const float *b, float *y) {
    NN_GRID_LOOP(g, i, rows * cols.d) y[i] += b[nn_mod(i, cols)];
}
/* db (cols) += the column sums of dy (rows, cols), one column per item: summed in double over the rows
 * in order, then rounded once (linear.c's db). */
NN_HD void kb_colsum_add(NnGrid g, int64_t rows, int64_t cols, const float *dy, float *db) {
    NN_GRID_LOOP(g, c, cols) {
        double acc = 0.0;
        for (int64_t r = 0; r < rows; r++) acc += dy[r * cols + c];
        db[c] += (float)acc;
    }
}

/* ---- conv2d_forward_ep's epilogue (act_affine's operations), per element of y (N, K, P) ---- */
NN_HD float nn_act_apply(float p, int act) { /* ActKind: 0 none, 1 ReLU, 2 SiLU */
    if (act == 1) return p < 0.0f ? 0.0f : p;
    if (act == 2) return p / (1.0f + nn_expf(-p));
    return p;
}
/* k = nn_div_for(k, n * k), p = nn_div_for(p, n * k * p) */
NN_HD void kb_affine_act(NnGrid g, int64_t n, NnDiv k, NnDiv p, const float *scale, const float *shift,
                         const float *res, int act, float *y) {
    NN_GRID_LOOP(g, i, n * k.d * p.d) {
        int64_t c = nn_mod(nn_div(i, p), k);
        float v = y[i] * scale[c] + shift[c];
        if (res) v = v + res[i];
        y[i] = nn_act_apply(v, act);
    }
}

/* ---- pooling (pool.h's semantics) ---- */
typedef struct NnPoolGeom {
    int64_t planes;        /* N * C */
    int H, W, OH, OW, KH, KW, sh, sw, ph, pw;
    NnDiv ohw, ow, hw, w;  /* nn_pool_divisors: an output's plane and row, an input's plane and row */
} NnPoolGeom;
/* The geometry's divisors, for index arithmetic without per-element division (nn_div) */
NN_HD NnPoolGeom nn_pool_divisors(NnPoolGeom s) {
    s.ohw = nn_div_for((int64_t)s.OH * s.OW, s.planes * s.OH * s.OW);
    s.ow = nn_div_for(s.OW, (int64_t)s.OH * s.OW);
    s.hw = nn_div_for((int64_t)s.H * s.W, s.planes * s.H * s.W);
    s.w = nn_div_for(s.W, (int64_t)s.H * s.W);
    return s;
}

/* Max pool forward, one output per item: the window clipped to the input, -inf start, the first maximum
 * in row-major order wins, NaN propagates (v > m || v != v): pool.c's scalar loop. */
NN_HD void kb_maxpool_fwd(NnGrid g, NnPoolGeom s, const float *x, float *y, int32_t *argmax) {
    int64_t n = s.planes * s.OH * s.OW;
    NN_GRID_LOOP(g, i, n) {
        int64_t pl = nn_div(i, s.ohw);
        int o = (int)(i - pl * s.OH * s.OW), oh = (int)nn_div(o, s.ow), ow = o - oh * s.OW;
        int h0 = oh * s.sh - s.ph, h1 = h0 + s.KH < s.H ? h0 + s.KH : s.H;
        int w0 = ow * s.sw - s.pw, w1 = w0 + s.KW < s.W ? w0 + s.KW : s.W;
        if (h0 < 0) h0 = 0;
        if (w0 < 0) w0 = 0;
        const float *xp = x + pl * s.H * s.W;
        int32_t best = h0 * s.W + w0;
        float m = -INFINITY;
        for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++) {
                float v = xp[(int64_t)h * s.W + w];
                if (v > m || v != v) {
                    m = v;
                    best = h * s.W + w;
                }
            }
        y[i] = m;
        argmax[i] = best;
    }
}

/* The outputs whose window [o*stride - pad, + kernel) holds input (h, w): rows oh0..oh1, columns ow0..ow1
 * (ceil((h + pad - K + 1) / stride) .. floor((h + pad) / stride), clipped); the backward gathers of both pools. */
NN_HD void kb_pool_outputs_over(const NnPoolGeom *s, int h, int w, int *oh0, int *oh1, int *ow0, int *ow1) {
    int a = h + s->ph - s->KH + 1, b = w + s->pw - s->KW + 1;
    *oh0 = a <= 0 ? 0 : (a + s->sh - 1) / s->sh;
    *ow0 = b <= 0 ? 0 : (b + s->sw - 1) / s->sw;
    *oh1 = (h + s->ph) / s->sh;
    *ow1 = (w + s->pw) / s->sw;
    if (*oh1 > s->OH - 1) *oh1 = s->OH - 1;
    if (*ow1 > s->OW - 1) *ow1 = s->OW - 1;
}

/* Max pool backward as a gather, one input per item: the sum of dy over the outputs whose window holds
 * the input and chose it, in ascending output order from 0: the same additions, in the same order, as
 * pool.c's scatter (dx = 0; dx[argmax[o]] += dy[o] for o = 0, 1, ...), and no atomics. */
NN_HD void kb_maxpool_bwd(NnGrid g, NnPoolGeom s, const float *dy, const int32_t *argmax, float *dx) {
    int64_t n = s.planes * s.H * s.W;
    NN_GRID_LOOP(g, i, n) {
        int64_t pl = nn_div(i, s.hw);
        int idx = (int)(i - pl * s.H * s.W), h = (int)nn_div(idx, s.w), w = idx - h * s.W;
        int oh0, oh1, ow0, ow1;
        kb_pool_outputs_over(&s, h, w, &oh0, &oh1, &ow0, &ow1);
        const float *dyp = dy + pl * s.OH * s.OW;
        const int32_t *ap = argmax + pl * s.OH * s.OW;
        float acc = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++) {
                int o = oh * s.OW + ow;
                if (ap[o] == idx) acc += dyp[o];
            }
        dx[i] = acc;
    }
}

/* Average pool: the window of output (oh, ow) clipped to the input, and its divisor (pool.c's avg_window:
 * count_include_pad counts the padding inside the padded input, exclude_pad only real inputs). */
typedef struct NnAvgWin {
    int h0, h1, w0, w1;
    double div;
} NnAvgWin;
NN_HD NnAvgWin nn_avg_window(NnPoolGeom s, int exclude_pad, int oh, int ow) {
    NnAvgWin v;
    int h0 = oh * s.sh - s.ph, w0 = ow * s.sw - s.pw;
    int h1 = h0 + s.KH, w1 = w0 + s.KW;
    if (h1 > s.H + s.ph) h1 = s.H + s.ph;
    if (w1 > s.W + s.pw) w1 = s.W + s.pw;
    int pool = (h1 - h0) * (w1 - w0);
    v.h0 = h0 < 0 ? 0 : h0;
    v.w0 = w0 < 0 ? 0 : w0;
    v.h1 = h1 < s.H ? h1 : s.H;
    v.w1 = w1 < s.W ? w1 : s.W;
    v.div = exclude_pad ? (double)(v.h1 - v.h0) * (v.w1 - v.w0) : (double)pool;
    return v;
}
/* forward, one output per item: the window's sum in double, row-major, divided once */
NN_HD void kb_avgpool_fwd(NnGrid g, NnPoolGeom s, int exclude_pad, const float *x, float *y) {
    NN_GRID_LOOP(g, i, s.planes * s.OH * s.OW) {
        int64_t pl = nn_div(i, s.ohw);
        int o = (int)(i - pl * s.OH * s.OW), oh = (int)nn_div(o, s.ow), ow = o - oh * s.OW;
        NnAvgWin v = nn_avg_window(s, exclude_pad, oh, ow);
        const float *xp = x + pl * s.H * s.W;
        double acc = 0.0;
        for (int h = v.h0; h < v.h1; h++)
            for (int w = v.w0; w < v.w1; w++) acc += xp[(int64_t)h * s.W + w];
        y[i] = v.h0 < v.h1 && v.w0 < v.w1 ? (float)(acc / v.div) : 0.0f;
    }
}
/* backward as a gather, one input per item: (float)(dy / div) of every output whose window holds it, added
 * from 0 in ascending output order: pool.c's scatter's additions in its order */
NN_HD void kb_avgpool_bwd(NnGrid g, NnPoolGeom s, int exclude_pad, const float *dy, float *dx) {
    NN_GRID_LOOP(g, i, s.planes * s.H * s.W) {
        int64_t pl = nn_div(i, s.hw);
        int idx = (int)(i - pl * s.H * s.W), h = (int)nn_div(idx, s.w), w = idx - h * s.W;
        int oh0, oh1, ow0, ow1;
        kb_pool_outputs_over(&s, h, w, &oh0, &oh1, &ow0, &ow1);
        const float *dyp = dy + pl * s.OH * s.OW;
        float acc = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++) {
                NnAvgWin v = nn_avg_window(s, exclude_pad, oh, ow);
                if (v.h0 >= v.h1 || v.w0 >= v.w1 || h < v.h0 || h >= v.h1 || w < v.w0 || w >= v.w1) continue;
                acc += (float)(dyp[oh * s.OW + ow] / v.div);
            }
        dx[i] = acc;
    }
}

/* Global average pool forward, one (n, c) plane per item: ordered_sum_f64's order (8 interleaved double
 * partial sums, ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), then the tail), divided by H*W in double. */
NN_HD void kb_gap_fwd(NnGrid g, int64_t planes, int64_t hw, const float *x, float *y) {
    NN_GRID_LOOP(g, pl, planes) {
        const float *p = x + pl * hw;
        double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 8 <= hw; i += 8)
            for (int j = 0; j < 8; j++) l[j] += (double)p[i + j];
        double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        for (; i < hw; i++) s += (double)p[i];
        y[pl] = (float)(s / (double)hw);
    }
}

/* kb_gap_fwd's and kb_se_gate_dot's sums with eight threads per plane, as the GPU runs them: one thread
 * per plane read each plane alone (the threads of a warp 4*hw bytes apart: one 4-byte word used per
 * 32-byte sector) and left most of the GPU idle on EfficientNet's few, large planes. Item (plane, j) sums
 * lane j, the elements j, j + 8, ... below hw rounded down to 8, in that order: kb_gap_fwd's l[j], the same
 * operations; eight neighbouring items read one whole sector per step. kb_plane_lanes_finish combines a
 * plane's eight lanes as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)) and adds the tail: the single-thread bodies'
 * bits. b NULL: sums of a (mean 1: divided by hw in double, as kb_gap_fwd); else sums of a*b in double
 * (kb_se_gate_dot). part: planes * 8 doubles. */
NN_HD void kb_plane_lanes(NnGrid g, int64_t planes, int64_t hw, const float *a, const float *b, double *part) {
    int64_t body = hw & ~(int64_t)7;
    NN_GRID_LOOP(g, it, planes * 8) {
        const float *p = a + (it >> 3) * hw + (it & 7);
        double l = 0;
        if (b) {
            const float *q = b + (it >> 3) * hw + (it & 7);
            for (int64_t i = 0; i < body; i += 8) l += (double)p[i] * (double)q[i];
        } else {
            for (int64_t i = 0; i < body; i += 8) l += (double)p[i];
        }
        part[it] = l;
    }
}
NN_HD void kb_plane_lanes_finish(NnGrid g, int64_t planes, int64_t hw, const float *a, const float *b, const double *part,
                                 int mean, float *y) {
    NN_GRID_LOOP(g, pl, planes) {
        const double *l = part + pl * 8;
        const float *p = a + pl * hw, *q = b ? b + pl * hw : NULL;
        double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        for (int64_t i = hw & ~(int64_t)7; i < hw; i++) s += q ? (double)p[i] * (double)q[i] : (double)p[i];
        y[pl] = mean ? (float)(s / (double)hw) : (float)s;
    }
}

/* Global average pool backward, one input per item: dx = (float)(dy[plane] / (H*W)); hw = nn_div_for(H*W,
 * planes * H*W). */
NN_HD void kb_gap_bwd(NnGrid g, int64_t planes, NnDiv hw, const float *dy, float *dx) {
    NN_GRID_LOOP(g, i, planes * hw.d) dx[i] = (float)(dy[nn_div(i, hw)] / (double)hw.d);
}

/* ---- mixed precision (nn/amp.h): float <-> fp16 / bf16 (the casts and widening are further down) ----
 * Halves travel as uint16_t bit patterns. amp: 1 bf16, 2 fp16 (NnAmp's values). */

/* float -> IEEE binary16, round to nearest even: |f| >= 65520 (halfway past 65504) gives +-inf, below
 * 2^-14 the subnormals (units of 2^-24; below 2^-25, or exactly 2^-25, +-0), NaN a quiet NaN (sign and top
 * payload bits kept), the sign of zero kept. */
NN_HD uint16_t kb_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf, NaN */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x0200u | ((ax >> 13) & 0x3ffu) : 0u));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504 */
    if (ax >= 0x38800000u) { /* a normal half: rebias the exponent (127 - 15), round at bit 13 */
        uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);
        return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
    }
    int shift = 126 - (int)(ax >> 23); /* a subnormal half: the significand in units of 2^-24 */
    if (shift > 24) return sign;
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u, q = mant >> shift, rem = mant & ((1u << shift) - 1u),
             halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (q & 1u))) q++; /* 0x400: the smallest normal, encoded alike */
    return (uint16_t)(sign | q);
}

/* IEEE binary16 -> float, exact (subnormals normalised, inf and NaN payloads kept). */
NN_HD float kb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0x1fu) x = sign | 0x7f800000u | (m << 13);
    else if (e) x = sign | ((e + 112u) << 23) | (m << 13);
    else if (!m) x = sign;
    else {
        e = 113u;
        while (!(m & 0x400u)) m <<= 1, e--;
        x = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* float -> bfloat16 (the top half of the float), round to nearest even (the largest floats round to +-inf,
 * float subnormals are kept), NaN a quiet NaN: torch's and CUDA's __float2bfloat16_rn. */
NN_HD uint16_t kb_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

NN_HD float kb_bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

NN_HD uint16_t kb_to_half(float f, int amp) { return amp == 1 ? kb_f32_to_bf16(f) : kb_f32_to_f16(f); }
NN_HD float kb_from_half(uint16_t h, int amp) { return amp == 1 ? kb_bf16_to_f32(h) : kb_f16_to_f32(h); }
/* f rounded to the half type, as a float */
NN_HD float kb_round_half(float f, int amp) { return kb_from_half(kb_to_half(f, amp), amp); }

/* ---- BatchNorm2d (batchnorm.h's semantics): each channel's N*H*W elements in S slices, one block of
 * NN_BLOCK threads per (channel, slice), so that a few channels of large planes still fill a large GPU ----
 * A block reduces its slice in double: thread t takes the slice's elements t, t + NN_BLOCK, ... (image by
 * image), then the NN_BLOCK partial sums are added as a fixed binary tree (kb_tree_step for stride
 * NN_BLOCK/2, /4, ..., 1, a barrier between steps) and thread 0 stores the block's sum (kb_bn_part_store);
 * a per-channel kernel adds the S slices' sums in slice order. S is a function of the shape alone
 * (nn_bn_slices), so the sums, and the bits, are the same on every GPU: deterministic, but not the CPU
 * layer's order, so the CPU test compares with a bound (double sums rounded to float: equal or 1 ulp
 * apart). What lives across a block's phases is in NnBnShared (shared memory), so that the CPU runs the
 * same phases in the same order. Launches, forward in training: kb_bn_sums per block (one pass: the shifted
 * sum and sum of squares), kb_bn_stats per channel, kb_bn_apply per block; backward:
 * kb_bn_bwd_sums per block, kb_bn_bwd_params per channel, kb_bn_bwd_dx per block.
 * x (the layer's input) is floats, or halves (g.xh: amp.h's 1 bf16, 2 fp16) when it is a convolution's AMP
 * result kept as cuDNN wrote it (convbn.h): each is read widened, which is exact, so the results are the bits
 * of the float input's widened copy, with half the bytes read and no widening pass. */
typedef struct NnBnGeom {
    int64_t N, C, hw;
    double eps, momentum; /* momentum < 0: None (cumulative average) */
    int act;              /* ActKind fused into the output */
    int64_t slices;       /* blocks per channel (nn_bn_slices; 0 counts as 1) */
    int xh;               /* x's storage: 0 floats, 1 bf16, 2 fp16 */
    int douth;            /* the backward's dout, likewise (the following convolution's dx kept in halves) */
} NnBnGeom;
/* element o of an array BN reads (x, or the backward's dout) stored as floats (xh 0) or halves of type xh, as a float */
NN_HD float nn_bn_load(const void *x, int64_t o, int xh) {
    return xh ? kb_from_half(((const uint16_t *)x)[o], xh) : ((const float *)x)[o];
}

/* Slices per channel: about 1024 blocks in all (4 to 8 per multiprocessor of an A100 or H100), each with
 * at least 4096 elements (16 per thread), at least 1. */
NN_HD int64_t nn_bn_slices(int64_t C, int64_t count) {
    int64_t by_blocks = C > 0 ? (1024 + C - 1) / C : 1, by_size = count / 4096;
    int64_t s = by_blocks < by_size ? by_blocks : by_size;
    return s < 1 ? 1 : s;
}

typedef struct NnBnShared {
    double red[NN_BLOCK], red2[NN_BLOCK];
} NnBnShared;

NN_HD void kb_tree_step(int64_t t, int64_t stride, NnBnShared *sh) {
    if (t < stride) {
        sh->red[t] += sh->red[t + stride];
        sh->red2[t] += sh->red2[t + stride];
    }
}

/* Thread t's elements of slice s of channel c, in order: `for (int64_t o; nn_bn_next(&it, &o);)` gives each
 * element's offset in the NCHW tensor; the image and pixel advance without a division per element. */
typedef struct NnBnIter {
    int64_t j, hi, n, i, hw, C, c;
} NnBnIter;
NN_HD NnBnIter nn_bn_iter(NnBnGeom g, int64_t c, int64_t s, int64_t t) {
    int64_t cnt = g.N * g.hw, S = g.slices > 0 ? g.slices : 1, len = (cnt + S - 1) / S;
    int64_t lo = s * len < cnt ? s * len : cnt, hi = lo + len < cnt ? lo + len : cnt;
    NnBnIter it = {lo + t, hi, 0, 0, g.hw, g.C, c};
    if (it.j < hi) it.n = it.j / g.hw, it.i = it.j - it.n * g.hw;
    return it;
}
NN_HD int nn_bn_next(NnBnIter *it, int64_t *o) {
    if (it->j >= it->hi) return 0;
    while (it->i >= it->hw) it->i -= it->hw, it->n++;
    *o = (it->n * it->C + it->c) * it->hw + it->i;
    it->j += NN_BLOCK, it->i += NN_BLOCK;
    return 1;
}

/* after the tree (thread 0): the block's two sums into part[(c * S + s) * 2 + {0, 1}] */
NN_HD void kb_bn_part_store(int64_t c, int64_t s, NnBnGeom g, const NnBnShared *sh, double *part) {
    int64_t S = g.slices > 0 ? g.slices : 1;
    part[(c * S + s) * 2] = sh->red[0];
    part[(c * S + s) * 2 + 1] = sh->red2[0];
}
/* channel c's sums over its slices, in slice order (k: 0 the first sum, 1 the second) */
NN_HD double nn_bn_part_sum(NnBnGeom g, int64_t c, const double *part, int k) {
    int64_t S = g.slices > 0 ? g.slices : 1;
    double a = 0.0;
    for (int64_t s = 0; s < S; s++) a += part[(c * S + s) * 2 + k];
    return a;
}

/* forward train, per block (every thread), one pass over x: red[t] = the sum of d, red2[t] = the sum of d^2
 * over its elements, d = x - K in double with K = the channel's first element (image 0, pixel 0). Shifting
 * by a value of the data keeps E[d^2] - E[d]^2 close to the two-pass form's precision where the mean is large
 * against the spread: the relative error of the squared deviations is about 1e-16 (1 + 3 (mean - K)^2 / var),
 * and as K is one of the cnt values, (mean - K)^2 <= cnt var: at most about 3e-16 cnt, far below float's
 * precision for any batch. One read of x instead of two, no per-channel mean kernel between them. */
NN_HD double nn_bn_shift(NnBnGeom g, const void *x, int64_t c) { return g.N * g.hw > 0 ? (double)nn_bn_load(x, c * g.hw, g.xh) : 0.0; }
NN_HD void kb_bn_sums(int64_t c, int64_t s, int64_t t, NnBnGeom g, const void *x, NnBnShared *sh) {
    double acc = 0.0, acc2 = 0.0, k = nn_bn_shift(g, x, c);
    NnBnIter it = nn_bn_iter(g, c, s, t);
    for (int64_t o; nn_bn_next(&it, &o);) {
        double d = (double)nn_bn_load(x, o, g.xh) - k;
        acc += d;
        acc2 += d * d;
    }
    sh->red[t] = acc;
    sh->red2[t] = acc2;
}
/* per channel: mean and variance from the shifted sums, the mean/invstd caches, running statistics (nbt: the
 * counter BEFORE this step's increment, which a later single-thread kernel makes), the affine map
 * ab[2c] = alpha, ab[2c + 1] = beta */
NN_HD void kb_bn_stats(NnGrid gr, NnBnGeom g, const double *part, const void *x, const float *weight, const float *bias,
                       float *running_mean, float *running_var, const float *nbt, float *mean, float *invstd, float *ab) {
    int64_t cnt = g.N * g.hw;
    NN_GRID_LOOP(gr, c, g.C) {
        double s1 = nn_bn_part_sum(g, c, part, 0), s2 = nn_bn_part_sum(g, c, part, 1);
        double dm = cnt > 0 ? s1 / (double)cnt : 0.0, mean_d = nn_bn_shift(g, x, c) + dm;
        double sq = cnt > 0 ? s2 - s1 * dm : 0.0; /* the sum of squared deviations from the mean */
        if (!(sq >= 0.0) && sq == sq) sq = 0.0;    /* rounding below zero (NaN stays NaN) */
        double var = cnt > 0 ? sq / (double)cnt : 0.0;
        double m = g.momentum;
        if (nbt) {
            if (m < 0) m = 1.0 / (double)(*nbt + 1.0f);
        } else if (m < 0) {
            m = 0.0;
        }
        float meanf = (float)mean_d, invstdf = (float)(1.0 / sqrt(var + g.eps));
        mean[c] = meanf;
        invstd[c] = invstdf;
        if (running_mean) running_mean[c] = (float)(m * mean_d + (1.0 - m) * (double)running_mean[c]);
        if (running_var) {
            double unbiased = cnt > 1 ? sq / (double)(cnt - 1) : var;
            running_var[c] = (float)(m * unbiased + (1.0 - m) * (double)running_var[c]);
        }
        float alpha = (weight ? weight[c] : 1.0f) * invstdf;
        ab[2 * c] = alpha;
        ab[2 * c + 1] = (bias ? bias[c] : 0.0f) - meanf * alpha;
    }
}
/* per block (every thread): out = act(x * alpha + beta) over its elements (act_affine's operations) */
NN_HD void kb_bn_apply(int64_t c, int64_t s, int64_t t, NnBnGeom g, const void *x, const float *ab, float *out) {
    float alpha = ab[2 * c], beta = ab[2 * c + 1];
    NnBnIter it = nn_bn_iter(g, c, s, t);
    for (int64_t o; nn_bn_next(&it, &o);) out[o] = nn_act_apply(nn_bn_load(x, o, g.xh) * alpha + beta, g.act);
}
/* the counter's increment, once per forward (one thread, after the statistics kernel) */
NN_HD void kb_bn_count(float *nbt) {
    if (nbt) *nbt += 1.0f;
}

/* forward eval, one element per item (batchnorm.c's fwd_eval_range operations); mean/invstd (may be
 * NULL) written by the items of image 0, pixel 0. hw = nn_div_for(g.hw, N*C*hw), ch = nn_div_for(g.C, N*C). */
NN_HD void kb_bn_eval(NnGrid gr, NnBnGeom g, NnDiv hw, NnDiv ch, const void *x, const float *weight, const float *bias,
                      const float *running_mean, const float *running_var, float *out, float *mean, float *invstd) {
    NN_GRID_LOOP(gr, o, g.N * g.C * g.hw) {
        int64_t plane = nn_div(o, hw), c = nn_mod(plane, ch);
        float r = 1.0f / sqrtf(running_var[c] + (float)g.eps);
        float alpha = (weight ? weight[c] : 1.0f) * r;
        float beta = (bias ? bias[c] : 0.0f) - running_mean[c] * alpha;
        if (plane < g.C && o == plane * g.hw) {
            if (mean) mean[c] = running_mean[c];
            if (invstd) invstd[c] = r;
        }
        out[o] = nn_act_apply(nn_bn_load(x, o, g.xh) * alpha + beta, g.act);
    }
}

/* batchnorm2d_eval_affine, one channel per item: scale = weight / sqrt(running_var + eps), shift = bias -
 * running_mean * scale, with its float operations (the NN_INFER epilogue's constants) */
NN_HD void kb_bn_eval_affine(NnGrid gr, int64_t C, float eps, const float *weight, const float *bias,
                             const float *running_mean, const float *running_var, float *scale, float *shift) {
    NN_GRID_LOOP(gr, c, C) {
        float r = 1.0f / sqrtf(running_var[c] + eps);
        float a = (weight ? weight[c] : 1.0f) * r;
        scale[c] = a;
        shift[c] = (bias ? bias[c] : 0.0f) - running_mean[c] * a;
    }
}

/* backward, per block (every thread): red = sum of g, red2 = sum of (x - mean) * g over its elements, where
 * g is dout (floats, or halves: NnBnGeom.douth), or with a fused activation its backward from the recomputed
 * pre-activation (nn_bn_grad_in:
 * the CPU layer's operations; kb_bn_bwd_dx computes it again rather than have this pass store it, one
 * write per element saved for an exp in SiLU's case) */
NN_HD float nn_bn_act_grad(float d, float x, float alpha, float beta, int act) {
    float p = x * alpha + beta;
    if (act == 1) return p <= 0.0f ? 0.0f : d;
    float sg = 1.0f / (1.0f + nn_expf(-p));
    return d * sg * (1.0f + p * (1.0f - sg));
}
/* channel c's forward affine map (alpha, beta) from the saved statistics, as batchnorm.c's backward has it */
NN_HD void nn_bn_saved_affine(int64_t c, const float *weight, const float *bias, const float *mean, const float *invstd,
                              float *alpha, float *beta) {
    float w = weight ? weight[c] : 1.0f;
    *alpha = w * invstd[c];
    *beta = (bias ? bias[c] : 0.0f) - mean[c] * *alpha;
}
/* the gradient BN's own formulas take at element o: dout, through the fused activation's backward */
NN_HD float nn_bn_grad_in(NnBnGeom g, const void *dout, float xv, float alpha, float beta, int64_t o) {
    float d = nn_bn_load(dout, o, g.douth);
    return g.act ? nn_bn_act_grad(d, xv, alpha, beta, g.act) : d;
}
NN_HD void kb_bn_bwd_sums(int64_t c, int64_t s, int64_t t, NnBnGeom g, const void *dout, const void *x,
                          const float *weight, const float *bias, const float *mean, const float *invstd, NnBnShared *sh) {
    float meanf = mean[c], alpha, beta;
    nn_bn_saved_affine(c, weight, bias, mean, invstd, &alpha, &beta);
    double sum = 0.0, dot = 0.0;
    NnBnIter it = nn_bn_iter(g, c, s, t);
    for (int64_t o; nn_bn_next(&it, &o);) {
        float xv = nn_bn_load(x, o, g.xh), gv = nn_bn_grad_in(g, dout, xv, alpha, beta, o);
        sum += (double)gv;
        dot += (double)(xv - meanf) * (double)gv;
    }
    sh->red[t] = sum;
    sh->red2[t] = dot;
}
/* backward, per channel: the parameter gradients (+=) and dx's constants kg[2c] = k, kg[2c + 1] = gm */
NN_HD void kb_bn_bwd_params(NnGrid gr, NnBnGeom g, const double *part, const float *invstd, float *dweight, float *dbias,
                            float *kg) {
    int64_t cnt = g.N * g.hw;
    NN_GRID_LOOP(gr, c, g.C) {
        double sum = nn_bn_part_sum(g, c, part, 0), dot = nn_bn_part_sum(g, c, part, 1);
        float invstdf = invstd[c];
        kg[2 * c] = (float)(dot * (double)invstdf * (double)invstdf / (double)cnt);
        kg[2 * c + 1] = (float)(sum / (double)cnt);
        if (dweight) dweight[c] += (float)(dot * (double)invstdf);
        if (dbias) dbias[c] += (float)sum;
    }
}
/* backward, per block (every thread): dx over its elements, train (through the batch statistics) or eval;
 * dx as floats, or with dxh (dx NULL) as halves of type dxt (AMP: the following convolution's dy, which
 * would be cast to that type). dx may alias dout when both are floats. */
NN_HD void kb_bn_bwd_dx(int64_t c, int64_t s, int64_t t, NnBnGeom g, int train, const void *dout, const void *x,
                        const float *weight, const float *bias, const float *mean, const float *invstd, const float *kg,
                        float *dx, uint16_t *dxh, int dxt) {
    float meanf = mean[c], iw = invstd[c] * (weight ? weight[c] : 1.0f), k = kg[2 * c], gm = kg[2 * c + 1], alpha, beta;
    nn_bn_saved_affine(c, weight, bias, mean, invstd, &alpha, &beta);
    NnBnIter it = nn_bn_iter(g, c, s, t);
    for (int64_t o; nn_bn_next(&it, &o);) {
        float xv = train || g.act ? nn_bn_load(x, o, g.xh) : 0.0f, gv = nn_bn_grad_in(g, dout, xv, alpha, beta, o);
        float v = train ? (gv - gm - (xv - meanf) * k) * iw : gv * iw;
        if (dxh) dxh[o] = kb_to_half(v, dxt);
        else dx[o] = v;
    }
}

/* ---- dropout (dropout.h's masks: lib/core/rng's xoshiro256** by (key, block), the same numbers) ---- */
typedef struct NnRng {
    uint64_t s[4];
} NnRng;
NN_HD uint64_t nn_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
/* rng_derive(r, seed, stream) of lib/core/rng.c */
NN_HD void nn_rng_derive(NnRng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ 0x5851f42d4c957f2dULL;
    uint64_t mixed = nn_splitmix64(&x) ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++) r->s[i] = nn_splitmix64(&mixed);
}
NN_HD uint64_t nn_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
/* rng_uniform: the next xoshiro256** output's top 53 bits in [0, 1) */
NN_HD double nn_rng_uniform(NnRng *r) {
    uint64_t *s = r->s;
    uint64_t result = nn_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = nn_rotl(s[3], 45);
    return (double)(result >> 11) * (1.0 / 9007199254740992.0);
}
#define NN_DROPOUT_BLOCK 4096 /* dropout.h's DROPOUT_BLOCK */
/* dropout forward, one block of NN_DROPOUT_BLOCK elements per item (its draws are sequential) */
NN_HD void kb_dropout(NnGrid g, int64_t n, uint64_t key, double keep_p, float scale, const float *x, float *out,
                      uint8_t *mask) {
    NN_GRID_LOOP(g, b, (n + NN_DROPOUT_BLOCK - 1) / NN_DROPOUT_BLOCK) {
        NnRng r;
        nn_rng_derive(&r, key, (uint64_t)b);
        int64_t i1 = (b + 1) * NN_DROPOUT_BLOCK < n ? (b + 1) * NN_DROPOUT_BLOCK : n;
        for (int64_t i = b * NN_DROPOUT_BLOCK; i < i1; i++) {
            uint8_t k = nn_rng_uniform(&r) < keep_p;
            mask[i] = k;
            out[i] = x[i] * (k ? scale : 0.0f);
        }
    }
}
/* drop path's mask of nmask bytes (one per sample, or one for the batch), drawn as dropout.c draws it:
 * generator (key, 0), one uniform per byte in order; all ones when not active. A single item: the draws are
 * a sequence, and there are few (at most one per sample). */
NN_HD void kb_drop_path_mask(NnGrid g, int64_t nmask, uint64_t key, double keep_p, int active, uint8_t *mask) {
    NN_GRID_LOOP(g, it, 1) {
        NnRng r;
        nn_rng_derive(&r, key, 0);
        for (int64_t i = 0; i < nmask; i++) mask[i] = active ? nn_rng_uniform(&r) < keep_p : 1;
    }
}
/* out = x * (mask[i / per] ? scale : 0): dropout's backward, drop path's forward and backward
 * (per = nn_div_for(per, n)) */
NN_HD void kb_apply_mask(NnGrid g, int64_t n, NnDiv per, float scale, const float *x, const uint8_t *mask, float *out) {
    NN_GRID_LOOP(g, i, n) out[i] = x[i] * (mask[nn_div(i, per)] ? scale : 0.0f);
}

/* ---- optimisers (optim.h's formulas; the per-entry scalars are computed on the host in double) ---- */
typedef struct NnOptStep {
    float decay;      /* AdamW: 1 - lr*wd */
    float step_size;  /* AdamW: -lr / bc1; SGD: -lr */
    float bc2_sqrt;   /* AdamW */
    float wd;         /* SGD */
    int first;        /* SGD: first step of this entry (momentum buffer = d) */
} NnOptStep;

typedef struct NnOptConsts {
    float b1, b2, a1, a2, eps;   /* AdamW: beta1, beta2, 1 - beta1, 1 - beta2 (from double), eps */
    float mom, damp;             /* SGD: momentum, 1 - dampening */
    int momentum_on, nesterov;
} NnOptConsts;

NN_HD void nn_adamw_elem(const NnOptConsts *c, const NnOptStep *es, float *p, float g, float *m, float *v) {
    float pi = *p * es->decay;
    float mi = *m * c->b1 + c->a1 * g;
    float vi = *v * c->b2 + c->a2 * g * g;
    float denom = sqrtf(vi) / es->bc2_sqrt + c->eps;
    *p = pi + es->step_size * (mi / denom);
    *m = mi;
    *v = vi;
}

NN_HD void nn_sgd_elem(const NnOptConsts *c, const NnOptStep *es, float *p, float g, float *buf) {
    float d = g;
    if (es->wd != 0.0f) d = d + es->wd * *p;
    if (c->momentum_on) {
        float b = es->first ? d : *buf * c->mom + c->damp * d;
        *buf = b;
        d = c->nesterov ? d + c->mom * b : b;
    }
    *p = *p + es->step_size * d;
}

/* A run of at most NN_OPT_CHUNK floats of one optimised entry: the fused step's unit of work (one block
 * each), built once per parameter table (optim_chunks). */
#define NN_OPT_CHUNK 4096
typedef struct NnOptChunk {
    int64_t begin;    /* float offset into the data/grad/m/v blocks */
    int32_t len;
    int32_t entry;    /* index into the per-entry NnOptStep array */
} NnOptChunk;

/* One fused AdamW (v != NULL) or SGD (v == NULL: m is the momentum buffer) step over every chunk. */
NN_HD void kb_optim_step(NnGrid g, NnOptConsts c, const NnOptChunk *chunks, int64_t nchunks, const NnOptStep *es,
                         float *p, const float *grad, float *m, float *v) {
    for (int64_t k = g.block; k < nchunks; k += g.gdim) {
        NnOptChunk ch = chunks[k];
        const NnOptStep *e = &es[ch.entry];
        for (int64_t j = ch.begin + g.thread; j < ch.begin + ch.len; j += g.bdim) {
            if (v) nn_adamw_elem(&c, e, &p[j], grad[j], &m[j], &v[j]);
            else nn_sgd_elem(&c, e, &p[j], grad[j], &m[j]);
        }
    }
}

/* ---- clip_grad_norm (optim.c's order: sums of squares per fixed block of NN_CLIP_BLOCK floats, each over
 * the optimised entries inside it in table order with 4 interleaved double sums from the entry's start,
 * a tail into the first, ((s0 + s1) + (s2 + s3)); the block sums added in order on the host) ---- */
#define NN_CLIP_BLOCK 16384
/* one block of the flat gradient per item; ent: (offset, numel) of each optimised entry, in order */
NN_HD void kb_clip_sumsq(NnGrid g, int64_t total, const int64_t *ent, int64_t nent, const float *grad, double *blocks) {
    NN_GRID_LOOP(g, blk, (total + NN_CLIP_BLOCK - 1) / NN_CLIP_BLOCK) {
        int64_t f0 = blk * NN_CLIP_BLOCK, f1 = f0 + NN_CLIP_BLOCK < total ? f0 + NN_CLIP_BLOCK : total;
        double acc[4] = {0, 0, 0, 0};
        for (int64_t e = 0; e < nent; e++) {
            int64_t off = ent[2 * e], num = ent[2 * e + 1];
            int64_t b = off > f0 ? off : f0, end = off + num < f1 ? off + num : f1;
            int64_t j = b;
            for (; j + 4 <= end; j += 4)
                for (int k = 0; k < 4; k++) acc[k] += (double)grad[j + k] * (double)grad[j + k];
            for (; j < end; j++) acc[0] += (double)grad[j] * (double)grad[j];
        }
        blocks[blk] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}
/* grad *= coef over every optimised chunk (one block per chunk, as kb_optim_step) */
NN_HD void kb_clip_scale(NnGrid g, const NnOptChunk *chunks, int64_t nchunks, float coef, float *grad) {
    for (int64_t k = g.block; k < nchunks; k += g.gdim)
        for (int64_t j = chunks[k].begin + g.thread; j < chunks[k].begin + chunks[k].len; j += g.bdim) grad[j] *= coef;
}

/* ---- squeeze-and-excitation's own passes (se.c's loops), over (N*C) planes of hw floats ---- */
/* se_scale: y = x * sc[plane], one element per item (y may alias x; hw = nn_div_for(hw, planes * hw)) */
NN_HD void kb_se_scale(NnGrid g, int64_t planes, NnDiv hw, const float *x, const float *sc, float *y) {
    NN_GRID_LOOP(g, i, planes * hw.d) y[i] = x[i] * sc[nn_div(i, hw)];
}
/* the gate's gradient, one plane per item: ds[p] = sum over the plane of dy * x, in double, in
 * ordered_dot_f64's order (8 interleaved partial sums, ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), then the tail) */
NN_HD void kb_se_gate_dot(NnGrid g, int64_t planes, int64_t hw, const float *dy, const float *x, float *ds) {
    NN_GRID_LOOP(g, p, planes) {
        const float *a = dy + p * hw, *b = x + p * hw;
        double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t q = 0;
        for (; q + 8 <= hw; q += 8)
            for (int j = 0; j < 8; j++) l[j] += (double)a[q + j] * (double)b[q + j];
        double acc = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        for (; q < hw; q++) acc += (double)a[q] * (double)b[q];
        ds[p] = (float)acc;
    }
}
/* the scaling's input gradient added to the squeeze's: dx += dy * sc[plane], one element per item (hw as
 * kb_se_scale's) */
NN_HD void kb_se_dx_acc(NnGrid g, int64_t planes, NnDiv hw, const float *dy, const float *sc, float *dx) {
    NN_GRID_LOOP(g, i, planes * hw.d) dx[i] += dy[i] * sc[nn_div(i, hw)];
}

/* ---- the repeated one-channel stem (stem.h): a three-channel stem's weights summed over the channels,
 * normalised by ImageNet's std (and the mean's weight), the weight gradient spread back, the
 * all-ones-image correction ---- */
typedef struct NnStemNorm {
    float inv_std[3], mean_std[3]; /* 1 / s_c and m_c / s_c */
    int norm;                      /* 0: plain sum (no normalisation) */
} NnStemNorm;
/* one (o, i) of the summed weight (K, KK) per item, from w (K, 3, KK): (w0 + w1) + w2, or normalised
 * wsum = (w0 a0 + w1 a1) + w2 a2 and wm = (w0 b0 + w1 b1) + w2 b2 */
NN_HD void kb_stem_wsum(NnGrid g, int64_t k, int64_t kk, NnStemNorm s, const float *w, float *wsum, float *wm) {
    NN_GRID_LOOP(g, j, k * kk) {
        int64_t o = j / kk, i = j - o * kk;
        float w0 = w[(o * 3 + 0) * kk + i], w1 = w[(o * 3 + 1) * kk + i], w2 = w[(o * 3 + 2) * kk + i];
        if (!s.norm) {
            wsum[j] = (w0 + w1) + w2;
            continue;
        }
        wsum[j] = (w0 * s.inv_std[0] + w1 * s.inv_std[1]) + w2 * s.inv_std[2];
        wm[j] = (w0 * s.mean_std[0] + w1 * s.mean_std[1]) + w2 * s.mean_std[2];
    }
}
/* one element of dw (K, 3, KK) per item: dw += dwsum, or normalised dw += dwsum a_c - dwm b_c */
NN_HD void kb_stem_wgrad(NnGrid g, int64_t k, int64_t kk, NnStemNorm s, const float *dwsum, const float *dwm, float *dw) {
    NN_GRID_LOOP(g, j, k * 3 * kk) {
        int64_t o = j / (3 * kk), r = j - o * 3 * kk, c = r / kk, i = r - c * kk;
        if (!s.norm) dw[j] += dwsum[o * kk + i];
        else dw[j] += dwsum[o * kk + i] * s.inv_std[c] - dwm[o * kk + i] * s.mean_std[c];
    }
}
/* y (n, per) minus c (per) broadcast over the n images: y = y - c, one element per item
 * (per = nn_div_for(per, n * per)) */
NN_HD void kb_bcast_sub(NnGrid g, int64_t n, NnDiv per, const float *c, float *y) {
    NN_GRID_LOOP(g, i, n * per.d) y[i] = y[i] - c[nn_mod(i, per)];
}
/* y (per) = the sum of x's n images (n, per), image 0 first, then + image 1, ... in order (a copy and
 * grad_accumulate's additions), one element per item */
NN_HD void kb_batch_sum(NnGrid g, int64_t n, int64_t per, const float *x, float *y) {
    NN_GRID_LOOP(g, i, per) {
        float acc = x[i];
        for (int64_t m = 1; m < n; m++) acc = acc + x[m * per + i];
        y[i] = acc;
    }
}
/* y = v over n floats */
NN_HD void kb_fill(NnGrid g, int64_t n, float v, float *y) {
    NN_GRID_LOOP(g, i, n) y[i] = v;
}

/* ---- mixed precision: unscale the gradients by 1/scale and note a non-finite value ---- */
NN_HD void kb_unscale(NnGrid g, int64_t n, float inv_scale, float *grad, int *found_inf) {
    NN_GRID_LOOP(g, i, n) {
        float v = grad[i] * inv_scale;
        grad[i] = v;
        if (!(v - v == 0.0f)) *found_inf = 1; /* inf - inf and NaN - NaN are NaN; a benign race on the device */
    }
}

/* ---- mixed precision (nn/amp.h): the half copies and their widening (the conversions are above) ---- */
/* h[i] = half(x[i]): a conv/linear operand's copy */
NN_HD void kb_cast_half(NnGrid g, int64_t n, const float *x, uint16_t *h, int amp) {
    NN_GRID_LOOP(g, i, n) h[i] = kb_to_half(x[i], amp);
}
/* h[i] = half(x[i] * sc[i / hw]): a convolution's input scaled per (image, channel) plane as it is cast
 * (conv2d.h's in_scale: SE's excitation read by the projection), kb_se_scale's product then kb_cast_half's
 * rounding, so the bits of scaling first; n = planes * hw.d */
NN_HD void kb_cast_half_scaled(NnGrid g, int64_t n, NnDiv hw, const float *x, const float *sc, uint16_t *h, int amp) {
    NN_GRID_LOOP(g, i, n) h[i] = kb_to_half(x[i] * sc[nn_div(i, hw)], amp);
}
/* y[i] = widen(h[i]): a half result (dx) back to fp32 */
NN_HD void kb_widen(NnGrid g, int64_t n, const uint16_t *h, float *y, int amp) {
    NN_GRID_LOOP(g, i, n) y[i] = kb_from_half(h[i], amp);
}
/* y[i] += widen(h[i]): a half weight gradient into the fp32 gradient */
NN_HD void kb_widen_add(NnGrid g, int64_t n, const uint16_t *h, float *y, int amp) {
    NN_GRID_LOOP(g, i, n) y[i] = y[i] + kb_from_half(h[i], amp);
}
/* A half output (n, k, p) to fp32 with the bias of its channel added in half: y = widen(half(widen(h) +
 * widen(half(b[c])))); b NULL: y = widen(h). p = 1 for a linear layer's (N, out). k = nn_div_for(k, n * k),
 * p = nn_div_for(p, n * k * p). */
NN_HD void kb_widen_bias(NnGrid g, int64_t n, NnDiv k, NnDiv p, const uint16_t *h, const float *b, int amp, float *y) {
    NN_GRID_LOOP(g, i, n * k.d * p.d) {
        float v = kb_from_half(h[i], amp);
        if (b) v = kb_round_half(v + kb_round_half(b[nn_mod(nn_div(i, p), k)], amp), amp);
        y[i] = v;
    }
}
/* The bias gradient from a half dy (n, k, p), one thread per channel: the channel's values widened and
 * summed in fp32 (image by image, pixels in order), the sum rounded to half, widened and added to db[c]. */
NN_HD void kb_bias_grad_half(NnGrid g, int64_t n, int64_t k, int64_t p, const uint16_t *dyh, int amp, float *db) {
    NN_GRID_LOOP(g, c, k) {
        float s = 0.0f;
        for (int64_t im = 0; im < n; im++)
            for (int64_t q = 0; q < p; q++) s = s + kb_from_half(dyh[(im * k + c) * p + q], amp);
        db[c] = db[c] + kb_round_half(s, amp);
    }
}

/* ---- depthwise convolution's own kernels (groups == C == K; conv2d.cu runs them where a timing finds them
 * faster than cuDNN's grouped convolution on the shape: PyTorch and TensorFlow keep own fp32 depthwise
 * kernels rather than cuDNN's)
 * Forward, one output per item, and dx, one input per item (a gather, no atomics): the operations and order
 * of conv2d.c's portable direct path (taps in row-major order from 0, the bias last; dx's contributions
 * in its scatter's order: output row, then tap column), so the same bits as that path. dW: one block of
 * NN_BLOCK threads per (weight, slice) of the N*OH*OW products (kb_dw_wgrad_block; slices nn_bn_slices),
 * in double, the block's partials by the fixed tree, the slices added in order by kb_dw_wgrad_finish:
 * deterministic, not the CPU's order (its bound is the test's).
 * Under AMP (amp 1 bf16, 2 fp16; 0 fp32) they keep amp.h's semantics without the half copies: each operand
 * rounded to the half type as it is read (a product of two halves is exact in fp32), the fp32 (dW: double)
 * sum rounded to half, then widened: y = half(acc) and with a bias half(y + half(b)) (kb_widen_bias's),
 * dx = half(acc), dw += half(acc) (kb_widen_add's). ---- */
/* an operand as AMP reads it: rounded to the half type (amp 0: as it is) */
NN_HD float nn_amp_operand(float v, int amp) { return amp ? kb_round_half(v, amp) : v; }
/* element o of an operand given as floats f, or (AMP) already as its halves h (h[o] = the bits of f[o]
 * rounded: conv2d_backward_half's x and dy): the same value either way */
NN_HD float nn_dw_in(const float *f, const uint16_t *h, int64_t o, int amp) {
    return h ? kb_from_half(h[o], amp) : nn_amp_operand(f[o], amp);
}
typedef struct NnDwGeom {
    int64_t planes; /* N * C */
    int C, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw;
    int64_t slices; /* dW's blocks per weight */
    NnDiv ohw, ow, hw, w, ch;
    NnDiv p_step; /* OH*OW for dW's pixel index, which stays below OH*OW + NN_BLOCK */
} NnDwGeom;
/* The geometry from conv2d's fields (kept free of conv2d.h: conv2d.h's conv2d_dw_geom calls this). */
NN_HD NnDwGeom nn_dw_geom(int N, int C, int H, int W, int OH, int OW, int KH, int KW, int sh, int sw, int ph, int pw,
                         int dh, int dw) {
    NnDwGeom g = {(int64_t)N * C, C, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, 1,
                  {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
    g.slices = nn_bn_slices((int64_t)C * KH * KW, (int64_t)N * OH * OW);
    g.ohw = nn_div_for((int64_t)OH * OW, g.planes * OH * OW);
    g.ow = nn_div_for(OW, (int64_t)OH * OW);
    g.hw = nn_div_for((int64_t)H * W, g.planes * H * W);
    g.w = nn_div_for(W, (int64_t)H * W);
    g.ch = nn_div_for(C, g.planes);
    g.p_step = nn_div_for((int64_t)OH * OW, (int64_t)OH * OW + NN_BLOCK);
    return g;
}
/* q / d for a small d >= 1 (a stride or dilation), q >= 0; *exact: d divides q */
NN_HD int nn_small_div(int q, int d, int *exact) {
    if (d == 1) {
        *exact = 1;
        return q;
    }
    if (d == 2) {
        *exact = !(q & 1);
        return q >> 1;
    }
    *exact = q % d == 0;
    return q / d;
}
/* output i of the depthwise forward: the sum over the taps, rounded and with the bias as the comment above
 * says (b may be NULL) */
NN_HD float nn_dw_out(NnDwGeom s, int amp, const float *x, const float *w, const float *b, int64_t i) {
    int64_t pl = nn_div(i, s.ohw);
    int o = (int)(i - pl * s.OH * s.OW), oh = (int)nn_div(o, s.ow), ow = o - oh * s.OW;
    int c = (int)nn_mod(pl, s.ch);
    const float *xp = x + pl * s.H * s.W, *wk = w + (int64_t)c * s.KH * s.KW;
    float acc = 0.0f;
    for (int a = 0; a < s.KH; a++) {
        int ih = oh * s.sh - s.ph + a * s.dh;
        if (ih < 0 || ih >= s.H) continue;
        for (int j = 0; j < s.KW; j++) {
            int iw = ow * s.sw - s.pw + j * s.dw;
            if (iw >= 0 && iw < s.W)
                acc += nn_amp_operand(wk[a * s.KW + j], amp) * nn_amp_operand(xp[(int64_t)ih * s.W + iw], amp);
        }
    }
    if (amp) {
        acc = kb_round_half(acc, amp);
        if (b) acc = kb_round_half(acc + kb_round_half(b[c], amp), amp);
    } else if (b) {
        acc += b[c];
    }
    return acc;
}
NN_HD void kb_dw_fwd(NnGrid g, NnDwGeom s, int amp, const float *x, const float *w, const float *b, float *y) {
    NN_GRID_LOOP(g, i, s.planes * s.OH * s.OW) y[i] = nn_dw_out(s, amp, x, w, b, i);
}
/* AMP (amp 1 or 2), no bias: the half result itself, yh[i] = its bits (conv2d_forward_half's; kb_dw_fwd's
 * y is their widening) */
NN_HD void kb_dw_fwd_half(NnGrid g, NnDwGeom s, int amp, const float *x, const float *w, uint16_t *yh) {
    NN_GRID_LOOP(g, i, s.planes * s.OH * s.OW) yh[i] = kb_to_half(nn_dw_out(s, amp, x, w, NULL, i), amp);
}
/* dy as floats, or under AMP as halves dyh (dy then unused); dx as floats, or under AMP as halves dxh (dx then
 * unused: the bits kb_dw_dx's dx widens from, conv2d_backward_half's dx_half) */
NN_HD void kb_dw_dx(NnGrid g, NnDwGeom s, int amp, const float *dy, const uint16_t *dyh, const float *w, float *dx,
                    uint16_t *dxh) {
    NN_GRID_LOOP(g, i, s.planes * s.H * s.W) {
        int64_t pl = nn_div(i, s.hw);
        int idx = (int)(i - pl * s.H * s.W), h = (int)nn_div(idx, s.w), col = idx - h * s.W;
        int c = (int)nn_mod(pl, s.ch);
        const float *wk = w + (int64_t)c * s.KH * s.KW;
        int64_t dy0 = pl * s.OH * s.OW;
        /* output rows whose taps can reach row h: oh * sh in [h + ph - (KH-1) dh, h + ph] */
        int ex, top = h + s.ph - (s.KH - 1) * s.dh;
        int oh0 = top <= 0 ? 0 : nn_small_div(top + s.sh - 1, s.sh, &ex), oh1 = nn_small_div(h + s.ph, s.sh, &ex);
        if (oh1 > s.OH - 1) oh1 = s.OH - 1;
        float acc = 0.0f;
        for (int oh = oh0; oh <= oh1; oh++) {
            int a = nn_small_div(h + s.ph - oh * s.sh, s.dh, &ex);
            if (!ex || a >= s.KH) continue;
            for (int j = 0; j < s.KW; j++) {
                int q = col + s.pw - j * s.dw;
                if (q < 0) break; /* j only grows */
                int ow = nn_small_div(q, s.sw, &ex);
                if (ex && ow < s.OW) acc += nn_amp_operand(wk[a * s.KW + j], amp) * nn_dw_in(dy, dyh, dy0 + (int64_t)oh * s.OW + ow, amp);
            }
        }
        if (dxh) dxh[i] = kb_to_half(acc, amp);
        else dx[i] = amp ? kb_round_half(acc, amp) : acc;
    }
}
/* dW, block `blk` = (weight e = c*KH*KW + tap, slice sl): thread t's double sum of dy * x over its products
 * (n, oh, ow) = slice items t, t + NN_BLOCK, ... into sh->red[t] (red2 unused), for the tree that follows;
 * x and dy as floats, or under AMP as halves xh, dyh (nn_dw_in) */
NN_HD void kb_dw_wgrad_block(int64_t blk, int64_t t, NnDwGeom s, int amp, const float *x, const uint16_t *xh, const float *dy,
                             const uint16_t *dyh, NnBnShared *sh) {
    int64_t e = blk / s.slices, sl = blk - e * s.slices, KK = (int64_t)s.KH * s.KW;
    int64_t c = e / KK, tap = e - c * KK;
    int a = (int)(tap / s.KW), j = (int)(tap - (int64_t)a * s.KW);
    int64_t P = (int64_t)s.OH * s.OW, cnt = (int64_t)(s.planes / s.C) * P, len = (cnt + s.slices - 1) / s.slices;
    int64_t lo = sl * len < cnt ? sl * len : cnt, hi = lo + len < cnt ? lo + len : cnt;
    double acc = 0.0;
    int64_t it = lo + t, n = 0, o = 0;
    if (it < hi) n = it / P, o = it - n * P;
    for (; it < hi; it += NN_BLOCK, o += NN_BLOCK) {
        if (o >= P) { /* the next image(s): several when a plane has fewer pixels than a block has threads */
            int64_t q = nn_div(o, s.p_step);
            n += q, o -= q * P;
        }
        int oh = (int)nn_div(o, s.ow), ow = (int)(o - (int64_t)oh * s.OW);
        int ih = oh * s.sh - s.ph + a * s.dh, iw = ow * s.sw - s.pw + j * s.dw;
        if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
        int64_t pl = n * s.C + c;
        acc += (double)nn_dw_in(dy, dyh, pl * P + o, amp) * (double)nn_dw_in(x, xh, (pl * s.H + ih) * s.W + iw, amp);
    }
    sh->red[t] = acc;
    sh->red2[t] = 0.0;
}
/* after the tree (thread 0): the block's sum into part[blk] */
NN_HD void kb_dw_wgrad_store(int64_t blk, const NnBnShared *sh, double *part) { part[blk] = sh->red[0]; }
/* dw[e] += (float)(the sum of weight e's slices, in slice order) (AMP: its half), one weight per item */
NN_HD void kb_dw_wgrad_finish(NnGrid g, NnDwGeom s, int amp, const double *part, float *dw) {
    NN_GRID_LOOP(g, e, (int64_t)s.C * s.KH * s.KW) {
        double acc = 0.0;
        for (int64_t sl = 0; sl < s.slices; sl++) acc += part[e * s.slices + sl];
        dw[e] = dw[e] + (amp ? kb_round_half((float)acc, amp) : (float)acc);
    }
}

#endif
