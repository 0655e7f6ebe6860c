/* tests/simgpu/amp.c - one AMP layer forward on the simulated GPU against an independent reference (make
 * SIMGPU=1 build-simgpu/tests/simgpu/amp; run by tests/cli/simgpu_amp.sh): a 3x3 convolution with a bias, a
 * depthwise one and a linear layer with a bias, in bf16 and fp16, through conv2d_forward / linear_forward
 * under NN_CUDA with nn_ctx_set_amp. The reference rounds x, w and b to the half type here (round to
 * nearest even in double arithmetic: frexp / nearbyint, not kernels.h's bit code), convolves in double,
 * rounds the sum to half, adds the rounded bias and rounds again (nn/amp.h's rule).
 *
 * Bound, per output: |sim - ref| <= one half-type ulp at |ref| (2^(e-10) for fp16, 2^(e-7) for bf16, e =
 * floor(log2 |ref|); the subnormal unit below) + 2^-16 * sum |terms|. The simulator sums the products in fp32
 * (the CPU layer, at most 72 terms here: an error below 72 * 2^-24 of the sum of magnitudes, inside the
 * second term), which can move a result across a rounding boundary of the half type: the neighbouring half,
 * one ulp away. Besides the bound: every output is a value of the half type, and at least 95% of them equal
 * the reference bit for bit (a missing rounding of the output or of an operand would break that). */
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/nn.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                                          \
    do {                                                                                                          \
        printf((cond) ? "ok simgpu amp: " : "not ok simgpu amp: ");                                               \
        printf(__VA_ARGS__);                                                                                      \
        printf("\n");                                                                                             \
        if (!(cond)) failures++;                                                                                  \
    } while (0)

static NnCtx ctx;

/* v rounded to the half type (amp 1 bf16: 8 significant bits, subnormal unit 2^-133; amp 2 fp16: 11 bits,
 * 2^-24, largest 65504), nearest even, in double */
static double hr(double v, int amp) {
    int sig = amp == 1 ? 8 : 11, emin = amp == 1 ? -133 : -24;
    double max = amp == 1 ? 0x1.fep127 : 65504.0;
    if (v == 0 || isnan(v) || isinf(v)) return v;
    int e;
    frexp(v, &e);
    int ue = e - sig < emin ? emin : e - sig;
    double unit = ldexp(1.0, ue), r = nearbyint(v / unit) * unit;
    return fabs(r) > max ? (v < 0 ? -INFINITY : INFINITY) : r;
}

/* the spacing of the half type at |v| */
static double ulp(double v, int amp) {
    int sig = amp == 1 ? 8 : 11, emin = amp == 1 ? -133 : -24;
    if (v == 0) return ldexp(1.0, emin);
    int e;
    frexp(v, &e);
    return ldexp(1.0, e - sig < emin ? emin : e - sig);
}

static uint64_t seed = 88172645463325252ull;
static float rnd(float lo, float hi) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    return lo + (hi - lo) * (float)((seed >> 40) / 16777216.0);
}

static float *up(const float *h, size_t n) {
    float *d = nn_alloc(&ctx, n * sizeof(float));
    if (!d || nn_copy_to_device(&ctx, d, h, n * sizeof(float)) < 0) {
        fprintf(stderr, "simgpu amp: %s\n", err_msg());
        exit(1);
    }
    return d;
}

/* compares y (n) with the reference; sums[i] = sum of |terms| of output i */
static void compare(const char *what, int amp, const float *y, const double *ref, const double *sums, size_t n) {
    size_t exact = 0, halves = 0;
    double worst = 0;
    int within = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)y[i] - ref[i]), b = ulp(ref[i], amp) + ldexp(sums[i], -16);
        within &= d <= b;
        if (d / b > worst) worst = d / b;
        exact += (double)y[i] == ref[i];
        halves += hr(y[i], amp) == (double)y[i];
    }
    CHECK(within && halves == n && exact * 100 >= n * 95,
          "%s (%s): %zu outputs within 1 ulp + 2^-16 sum|terms| of the double reference (worst %.2f of the bound), "
          "all of the half type, %zu bit-equal", what, amp == 1 ? "bf16" : "fp16", n, worst, exact);
}

static void conv(int amp, int depthwise) {
    Conv2dShape s;
    memset(&s, 0, sizeof s);
    s.N = 2, s.C = 8, s.H = 12, s.W = 11, s.K = depthwise ? 8 : 6, s.KH = 3, s.KW = 3, s.stride_h = s.stride_w = 1;
    s.pad_h = s.pad_w = 1, s.dil_h = s.dil_w = 1, s.groups = depthwise ? 8 : 1;
    if (conv2d_shape_init(&s) < 0) exit(1);
    int cg = s.C / s.groups, kg = s.K / s.groups;
    size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.K * cg * 9, ny = (size_t)s.N * s.K * s.OH * s.OW;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), b[8], *y = malloc(ny * sizeof *y);
    double *ref = malloc(ny * sizeof *ref), *sums = malloc(ny * sizeof *sums);
    for (size_t i = 0; i < nx; i++) x[i] = rnd(-3, 3);
    for (size_t i = 0; i < nw; i++) w[i] = rnd(-0.4f, 0.4f);
    for (int k = 0; k < s.K; k++) b[k] = rnd(-1, 1);
    float *xd = up(x, nx), *wd = up(w, nw), *bd = up(b, (size_t)s.K), *yd = nn_alloc(&ctx, ny * sizeof(float));
    if (!yd || nn_ctx_set_amp(&ctx, (NnAmp)amp) < 0 || conv2d_forward(&ctx, &s, xd, wd, bd, yd) < 0 ||
        nn_ctx_set_amp(&ctx, NN_AMP_OFF) < 0 || nn_copy_to_host(&ctx, y, yd, ny * sizeof(float)) < 0) {
        CHECK(0, "conv forward: %s", err_msg());
        return;
    }
    for (int n = 0; n < s.N; n++)
        for (int k = 0; k < s.K; k++)
            for (int oh = 0; oh < s.OH; oh++)
                for (int ow = 0; ow < s.OW; ow++) {
                    double acc = 0, mag = fabs(hr(b[k], amp));
                    int g = k / kg;
                    for (int c = 0; c < cg; c++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                int ih = oh - 1 + i, iw = ow - 1 + j;
                                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                                double t = hr(x[(((size_t)n * s.C + g * cg + c) * s.H + ih) * s.W + iw], amp) *
                                           hr(w[(((size_t)k * cg + c) * 3 + i) * 3 + j], amp);
                                acc += t;
                                mag += fabs(t);
                            }
                    size_t o = (((size_t)n * s.K + k) * s.OH + oh) * s.OW + ow;
                    ref[o] = hr(hr(acc, amp) + hr(b[k], amp), amp);
                    sums[o] = mag;
                }
    compare(depthwise ? "depthwise conv 3x3 + bias, 2x8x12x11" : "conv 3x3 + bias, 2x8x12x11 -> 6", amp, y, ref, sums, ny);
    nn_free(&ctx, xd), nn_free(&ctx, wd), nn_free(&ctx, bd), nn_free(&ctx, yd);
    free(x), free(w), free(y), free(ref), free(sums);
}

static void linear(int amp) {
    LinearShape s = {.N = 4, .in = 40, .out = 7};
    float x[160], w[280], b[7], y[28];
    double ref[28], sums[28];
    for (int i = 0; i < 160; i++) x[i] = rnd(-2, 2);
    for (int i = 0; i < 280; i++) w[i] = rnd(-0.3f, 0.3f);
    for (int i = 0; i < 7; i++) b[i] = rnd(-1, 1);
    float *xd = up(x, 160), *wd = up(w, 280), *bd = up(b, 7), *yd = nn_alloc(&ctx, sizeof y);
    if (!yd || nn_ctx_set_amp(&ctx, (NnAmp)amp) < 0) {
        CHECK(0, "linear forward: %s", err_msg());
        return;
    }
    linear_forward(&ctx, &s, xd, wd, bd, yd);
    if (nn_ctx_set_amp(&ctx, NN_AMP_OFF) < 0 || nn_sync(&ctx) < 0 || nn_copy_to_host(&ctx, y, yd, sizeof y) < 0) {
        CHECK(0, "linear forward: %s", err_msg());
        return;
    }
    for (int n = 0; n < 4; n++)
        for (int o = 0; o < 7; o++) {
            double acc = 0, mag = fabs(hr(b[o], amp));
            for (int i = 0; i < 40; i++) {
                double t = hr(x[n * 40 + i], amp) * hr(w[o * 40 + i], amp);
                acc += t;
                mag += fabs(t);
            }
            ref[n * 7 + o] = hr(hr(acc, amp) + hr(b[o], amp), amp);
            sums[n * 7 + o] = mag;
        }
    compare("linear 4x40 -> 7 + bias", amp, y, ref, sums, 28);
    nn_free(&ctx, xd), nn_free(&ctx, wd), nn_free(&ctx, bd), nn_free(&ctx, yd);
}

int main(void) {
    if (nn_ctx_init(&ctx, 2) < 0 || nn_ctx_use_cuda(&ctx, 0) < 0) {
        printf("not ok simgpu amp: no simulated GPU: %s\n", err_msg());
        return 1;
    }
    NnCtx cpu;
    nn_ctx_init(&cpu, 1);
    CHECK(nn_ctx_set_amp(&cpu, NN_AMP_BF16) < 0 && strstr(err_msg(), "GPU only") && cpu.amp == NN_AMP_OFF,
          "nn_ctx_set_amp refuses a CPU context: %s", err_msg());
    nn_ctx_free(&cpu);
    for (int amp = 1; amp <= 2; amp++) {
        conv(amp, 0);
        conv(amp, 1);
        linear(amp);
    }
    nn_ctx_free(&ctx);
    return failures != 0;
}
