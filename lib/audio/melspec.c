#include "audio/melspec.h"

#include "core/clones.h"
#include "core/error.h"
#include "core/vec8.h"

#include <fftw3.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The FFTW planner is not thread-safe; plans are made under this lock, execution needs none. */
static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    int first, count; /* nonzero FFT bins [first, first+count) */
    double *w;
} MelBand;

struct SpecPlan {
    SpecConfig c;
    int n_freq, bins;
    double *window; /* n_fft, centred */
    MelBand *bands; /* n_mels, NULL for kind stft */
    fftw_plan fft;
};

void spec_config_default(SpecConfig *c) {
    memset(c, 0, sizeof *c);
    c->sr = 22050;
    c->n_fft = 1024;
    c->hop = 256;
    c->win_length = 1024;
    c->center = 1;
    c->pad = PAD_REFLECT;
    c->kind = SPEC_MEL;
    c->n_mels = 128;
    c->fmin = 0;
    c->fmax = 0;
    c->scale = MEL_SLANEY;
    c->norm = MELNORM_SLANEY;
    c->power = 2;
    c->output = SPEC_OUT_DB;
    c->amin = 1e-10;
    c->ref_max = 0;
    c->ref = 1;
    c->top_db = 0;
}

/* Slaney's auditory toolbox scale: linear below 1 kHz, logarithmic above (librosa's default). */
static const double F_SP = 200.0 / 3, MIN_LOG_HZ = 1000, MIN_LOG_MEL = 15; /* 1000 / F_SP */
#define LOGSTEP (log(6.4) / 27.0)

double hz_to_mel(double hz, MelScale s) {
    if (s == MEL_HTK) return 2595.0 * log10(1.0 + hz / 700.0);
    return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + log(hz / MIN_LOG_HZ) / LOGSTEP : hz / F_SP;
}

double mel_to_hz(double mel, MelScale s) {
    if (s == MEL_HTK) return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
    return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * exp(LOGSTEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

/* librosa.filters.mel: triangles between consecutive points of n_mels+2 mel-spaced frequencies. */
static int build_mel(SpecPlan *p) {
    const SpecConfig *c = &p->c;
    int n = c->n_mels, nf = p->n_freq;
    double f_hi = c->fmax > 0 ? c->fmax : c->sr / 2;
    double *pts = malloc(sizeof(double) * (size_t)(n + 2));
    double *row = malloc(sizeof(double) * (size_t)nf);
    p->bands = calloc((size_t)n, sizeof(MelBand));
    if (!pts || !row || !p->bands) {
        free(pts); free(row);
        err_set("out of memory");
        return -1;
    }
    double lo = hz_to_mel(c->fmin, c->scale), hi = hz_to_mel(f_hi, c->scale);
    for (int i = 0; i < n + 2; i++) pts[i] = mel_to_hz(lo + (hi - lo) * i / (n + 1), c->scale);
    int empty = 0;
    for (int m = 0; m < n; m++) {
        double d0 = pts[m + 1] - pts[m], d1 = pts[m + 2] - pts[m + 1];
        double enorm = c->norm == MELNORM_SLANEY ? 2.0 / (pts[m + 2] - pts[m]) : 1.0;
        int first = -1, last = -1;
        for (int k = 0; k < nf; k++) {
            double f = (double)k * c->sr / c->n_fft;
            double lower = (f - pts[m]) / d0, upper = (pts[m + 2] - f) / d1;
            double w = fmax(0.0, fmin(lower, upper));
            row[k] = w * enorm;
            if (w > 0) {
                if (first < 0) first = k;
                last = k;
            }
        }
        MelBand *b = &p->bands[m];
        if (first < 0) {
            empty++;
            continue;
        }
        b->first = first;
        b->count = last - first + 1;
        b->w = malloc(sizeof(double) * (size_t)b->count);
        if (!b->w) {
            free(pts); free(row);
            err_set("out of memory");
            return -1;
        }
        memcpy(b->w, row + first, sizeof(double) * (size_t)b->count);
    }
    (void)empty; /* librosa warns about empty filters; a band of zeros is still well defined */
    free(pts);
    free(row);
    return 0;
}

/* The windowed frame FFTW reads: 64-byte aligned for the AVX-512 window loop's stores (the plan is made
 * on a buffer of the same alignment). */
static double *fft_buffer(int n_fft) {
    return aligned_alloc(64, (sizeof(double) * (size_t)n_fft + 63) / 64 * 64);
}

SpecPlan *spec_plan_new(const SpecConfig *c) {
    if (c->sr <= 0 || c->n_fft < 2 || c->hop < 1 || c->win_length < 1 || c->win_length > c->n_fft) {
        err_set("bad spectrogram settings: need sr > 0, n_fft >= 2, hop >= 1, 1 <= win_length <= n_fft");
        return NULL;
    }
    if (c->n_fft > (1 << 22)) {
        err_set("n_fft %d is too large", c->n_fft);
        return NULL;
    }
    double f_hi = c->fmax > 0 ? c->fmax : c->sr / 2;
    if (c->kind == SPEC_MEL && (c->n_mels < 1 || c->n_mels > 4096 || c->fmin < 0 || c->fmin >= f_hi || f_hi > c->sr / 2 + 1e-9)) {
        err_set("bad mel settings: need 1 <= n_mels <= 4096 and 0 <= fmin < fmax <= sr/2 (sr %g Hz)", c->sr);
        return NULL;
    }
    if (!(c->power > 0) || !(c->amin > 0) || (!c->ref_max && !(c->ref > 0))) {
        err_set("bad spectrogram settings: power, amin and ref must be positive");
        return NULL;
    }
    SpecPlan *p = calloc(1, sizeof *p);
    if (!p) {
        err_set("out of memory");
        return NULL;
    }
    p->c = *c;
    p->n_freq = c->n_fft / 2 + 1;
    p->bins = c->kind == SPEC_MEL ? c->n_mels : p->n_freq;
    p->window = calloc((size_t)c->n_fft, sizeof(double));
    if (!p->window) goto oom;
    int off = (c->n_fft - c->win_length) / 2; /* librosa.util.pad_center, torch.stft */
    for (int i = 0; i < c->win_length; i++)
        p->window[off + i] = 0.5 - 0.5 * cos(2.0 * M_PI * i / c->win_length); /* periodic Hann */
    if (c->kind == SPEC_MEL && build_mel(p) < 0) {
        spec_plan_free(p);
        return NULL;
    }
    double *in = fft_buffer(c->n_fft);
    fftw_complex *out = fftw_malloc(sizeof(fftw_complex) * (size_t)p->n_freq);
    if (!in || !out) {
        free(in);
        fftw_free(out);
        goto oom;
    }
    pthread_mutex_lock(&planner_lock);
    p->fft = fftw_plan_dft_r2c_1d(c->n_fft, in, out, FFTW_ESTIMATE);
    pthread_mutex_unlock(&planner_lock);
    free(in);
    fftw_free(out);
    if (!p->fft) goto oom;
    return p;
oom:
    spec_plan_free(p);
    err_set("out of memory");
    return NULL;
}

void spec_plan_free(SpecPlan *p) {
    if (!p) return;
    if (p->bands)
        for (int m = 0; m < p->c.n_mels; m++) free(p->bands[m].w);
    free(p->bands);
    free(p->window);
    if (p->fft) {
        pthread_mutex_lock(&planner_lock);
        fftw_destroy_plan(p->fft);
        pthread_mutex_unlock(&planner_lock);
    }
    free(p);
}

int spec_bins(const SpecPlan *p) { return p->bins; }

int64_t spec_frames(const SpecPlan *p, int64_t n) {
    if (p->c.center) return 1 + n / p->c.hop;
    return n < p->c.n_fft ? 0 : 1 + (n - p->c.n_fft) / p->c.hop;
}

/* numpy.pad(mode='reflect') for any pad length: reflection without repeating the edge sample is
 * periodic with period 2(n-1). */
int64_t spec_reflect_index(int64_t i, int64_t n) {
    if (n == 1) return 0;
    int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

/* A group's |X|^power is computed a frame at a time into rows (one per frame, n_freq rounded up to 8),
 * then transposed in 8x8 blocks so that the mel sums read each bin's SPEC_LANES values as one vector. */
static int padded_freqs(const SpecPlan *p) { return (p->n_freq + 7) / 8 * 8; }

struct SpecWork {
    double *buf;        /* n_fft windowed samples */
    fftw_complex *spec; /* n_freq, one frame's spectrum */
    double *rows;       /* SPEC_LANES x padded_freqs: |X|^power, a row per frame */
    double *mag;        /* padded_freqs x SPEC_LANES: the rows transposed */
    double *acc;        /* n_mels x SPEC_LANES: the mel sums */
};

SpecWork *spec_work_new(const SpecPlan *p) {
    SpecWork *w = calloc(1, sizeof *w);
    size_t lanes = (size_t)padded_freqs(p) * SPEC_LANES;
    if (w) {
        w->buf = fft_buffer(p->c.n_fft);
        w->spec = fftw_malloc(sizeof(fftw_complex) * (size_t)p->n_freq);
        /* zeroed: the rows' padding and the lanes past a short group's frames are summed too (and
         * dropped), never uninitialised memory */
        w->rows = aligned_alloc(64, sizeof(double) * lanes);
        w->mag = aligned_alloc(64, sizeof(double) * lanes);
        w->acc = aligned_alloc(64, sizeof(double) * (size_t)p->bins * SPEC_LANES);
        if (w->rows) memset(w->rows, 0, sizeof(double) * lanes);
    }
    if (!w || !w->buf || !w->spec || !w->rows || !w->mag || !w->acc) {
        spec_work_free(w);
        err_set("out of memory");
        return NULL;
    }
    return w;
}

void spec_work_free(SpecWork *w) {
    if (!w) return;
    free(w->buf);
    fftw_free(w->spec);
    free(w->rows);
    free(w->mag);
    free(w->acc);
    free(w);
}

CPU_CLONES static void apply_window(const double *window, const float *x, double *buf, int n) {
    for (int i = 0; i < n; i++) buf[i] = (double)x[i] * window[i];
}

CPU_CLONES static void power_spectrum(const fftw_complex *spec, int nf, double power, double *row) {
    if (power == 2) {
        for (int k = 0; k < nf; k++) row[k] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
    } else {
        for (int k = 0; k < nf; k++) {
            double pw = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
            row[k] = power == 1 ? sqrt(pw) : pow(pw, power / 2);
        }
    }
}

/* rows (SPEC_LANES x nfp) -> mag (nfp x SPEC_LANES), in 8x8 blocks: three rounds of two-input shuffles
 * (GCC's __builtin_shuffle; other compilers, such as clang for the fuzzers, copy element by element). */
#if defined(__GNUC__) && !defined(__clang__)
typedef long long vec8i __attribute__((vector_size(64))); /* shuffle indices */
CPU_CLONES static void transpose_rows(const double *rows, int nfp, double *mag) {
    const vec8i lo1 = {0, 8, 2, 10, 4, 12, 6, 14}, hi1 = {1, 9, 3, 11, 5, 13, 7, 15};
    const vec8i lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
    const vec8i lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
    for (int k = 0; k < nfp; k += 8) {
        vec8d r[8], t[8], u[8];
        for (int j = 0; j < 8; j++) r[j] = VEC8_LOADD(rows + (size_t)j * nfp + k);
        for (int j = 0; j < 8; j += 2) { /* pairs of frames: t[j] bins 0 2 4 6, t[j+1] bins 1 3 5 7 */
            t[j] = __builtin_shuffle(r[j], r[j + 1], lo1);
            t[j + 1] = __builtin_shuffle(r[j], r[j + 1], hi1);
        }
        for (int j = 0; j < 8; j += 4) /* quads: u[j+i] holds bins i and i + 4 of frames j..j+3 */
            for (int i = 0; i < 2; i++) {
                u[j + i] = __builtin_shuffle(t[j + i], t[j + i + 2], lo2);
                u[j + i + 2] = __builtin_shuffle(t[j + i], t[j + i + 2], hi2);
            }
        for (int i = 0; i < 4; i++) { /* all eight frames of bins i and i + 4 */
            VEC8_STORED(mag + (size_t)(k + i) * 8, __builtin_shuffle(u[i], u[i + 4], lo4));
            VEC8_STORED(mag + (size_t)(k + i + 4) * 8, __builtin_shuffle(u[i], u[i + 4], hi4));
        }
    }
}
#else
static void transpose_rows(const double *rows, int nfp, double *mag) {
    for (int k = 0; k < nfp; k++)
        for (int j = 0; j < SPEC_LANES; j++) mag[(size_t)k * SPEC_LANES + j] = rows[(size_t)j * nfp + k];
}
#endif

/* Each band's weighted sum over its bins, for SPEC_LANES frames at once: one lane per frame, each lane's
 * sum in bin order as a single frame's scalar loop would do it (no contraction in ISO C): the same bits. */
CPU_CLONES static void mel_lanes(const MelBand *bands, int n_mels, const double *mag, double *acc) {
    for (int m = 0; m < n_mels; m++) {
        const MelBand *b = &bands[m];
        vec8d a = {0};
        for (int k = 0; k < b->count; k++) a += b->w[k] * VEC8_LOADD(mag + (size_t)(b->first + k) * 8);
        VEC8_STORED(acc + (size_t)m * 8, a);
    }
}

void spec_frame_group(const SpecPlan *p, SpecWork *w, const float *const *x, int count, double *bins, int64_t stride) {
    const SpecConfig *c = &p->c;
    int nf = p->n_freq, nfp = padded_freqs(p);
    for (int j = 0; j < count; j++) {
        apply_window(p->window, x[j], w->buf, c->n_fft);
        fftw_execute_dft_r2c(p->fft, w->buf, w->spec);
        power_spectrum(w->spec, nf, c->power, w->rows + (size_t)j * nfp);
    }
    if (c->kind != SPEC_MEL) {
        for (int j = 0; j < count; j++)
            for (int k = 0; k < nf; k++) bins[(int64_t)k * stride + j] = w->rows[(size_t)j * nfp + k];
        return;
    }
    transpose_rows(w->rows, nfp, w->mag);
    mel_lanes(p->bands, c->n_mels, w->mag, w->acc);
    for (int m = 0; m < c->n_mels; m++)
        for (int j = 0; j < count; j++) bins[(int64_t)m * stride + j] = w->acc[(size_t)m * SPEC_LANES + j];
}

/* ln(x) of a positive normal float, in float operations only (Cephes' logf): x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), a degree-9 polynomial in m - 1, e ln 2 in two parts. Within 2 ulp of the true
 * value; no libm call, so that the dB loop vectorises, and plain products and sums (no contraction in ISO
 * C), so that every CPU and every clone gives the same bits (libm's log10f may not, across versions). */
CPU_INLINE float ln_normal(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    float e = (float)((int)(b >> 23) - 126);
    b = (b & 0x007FFFFFu) | 0x3F000000u; /* the mantissa as a float in [0.5, 1) */
    float m;
    memcpy(&m, &b, sizeof m);
    int low = m < 0.707106781186547524f;
    e = low ? e - 1.0f : e;
    float f = low ? (m + m) - 1.0f : m - 1.0f;
    float z = f * f;
    float y = 7.0376836292E-2f;
    y = y * f - 1.1514610310E-1f;
    y = y * f + 1.1676998740E-1f;
    y = y * f - 1.2420140846E-1f;
    y = y * f + 1.4249322787E-1f;
    y = y * f - 1.6668057665E-1f;
    y = y * f + 2.0000714765E-1f;
    y = y * f - 2.4999993993E-1f;
    y = y * f + 3.3333331174E-1f;
    y = y * f * z;
    y = y + -2.12194440e-4f * e;
    y = y + -0.5f * z;
    return (f + y) + 0.693359375f * e;
}

/* The dB value of one power value whose floor max(s, amin) a float holds as a normal number. */
#define LOG10_E 0.43429448190325182765
CPU_INLINE double db_of(double s, double amin, double mult, double shift) {
    double v = s > amin ? s : amin;
    return mult * ((double)ln_normal((float)v) * LOG10_E) - shift;
}
CPU_INLINE int float_normal(double v) { return v >= 1e-37 && v <= 3.4e38; }

CPU_CLONES static int64_t count_outside(const double *S, int64_t n, double amin) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += !float_normal(S[i] > amin ? S[i] : amin);
    return k;
}

CPU_CLONES static void db_values(double *S, int64_t n, double amin, double mult, double shift) {
    for (int64_t i = 0; i < n; i++) S[i] = db_of(S[i], amin, mult, shift);
}

void spec_finish(const SpecPlan *p, double *S, int64_t total, float *y) {
    const SpecConfig *c = &p->c;
    if (c->output == SPEC_OUT_DB) {
        double mult = 20.0 / c->power, ref = c->ref;
        if (c->ref_max) {
            ref = 0;
            for (int64_t i = 0; i < total; i++) ref = S[i] > ref ? S[i] : ref;
        }
        double shift = mult * log10(fmax(c->amin, ref));
        /* the logarithm in float (the result is float32 anyway: within 1e-5 dB); a value out of float's
         * normal range (a floor below 1e-37, a power past FLT_MAX) in double, each value alone either way */
        if (count_outside(S, total, c->amin) == 0) {
            db_values(S, total, c->amin, mult, shift);
        } else {
            for (int64_t i = 0; i < total; i++) {
                double v = fmax(S[i], c->amin);
                S[i] = float_normal(v) ? db_of(S[i], c->amin, mult, shift) : mult * log10(v) - shift;
            }
        }
        if (c->top_db > 0) {
            double top = -INFINITY;
            for (int64_t i = 0; i < total; i++) top = S[i] > top ? S[i] : top;
            for (int64_t i = 0; i < total; i++) S[i] = fmax(S[i], top - c->top_db);
        }
    } else if (c->output == SPEC_OUT_LOG1P) {
        for (int64_t i = 0; i < total; i++) S[i] = log1p(S[i]);
    }
    for (int64_t i = 0; i < total; i++) y[i] = (float)S[i];
}

int spec_finish_is_pointwise(const SpecPlan *p) {
    return p->c.output != SPEC_OUT_DB || (!p->c.ref_max && !(p->c.top_db > 0));
}

int spec_compute(const SpecPlan *p, const float *x, int64_t n, Tensor *out) {
    const SpecConfig *c = &p->c;
    int64_t frames = spec_frames(p, n);
    if (frames <= 0) {
        err_set("recording too short: %lld samples, one uncentred frame needs %d", (long long)n, c->n_fft);
        return -1;
    }
    int64_t shape[3] = {1, p->bins, frames};
    if (tensor_alloc(out, DT_F32, 3, shape) < 0) return -1;
    int nfft = c->n_fft;
    SpecWork *w = spec_work_new(p);
    float *edge = malloc(sizeof(float) * (size_t)nfft * SPEC_LANES); /* a padded copy per lane */
    double *S = malloc(sizeof(double) * (size_t)(p->bins * frames)); /* kept in double until the end */
    if (!w || !edge || !S) {
        spec_work_free(w); free(edge); free(S);
        tensor_free(out);
        err_set("out of memory");
        return -1;
    }
    int64_t offset = c->center ? nfft / 2 : 0;
    for (int64_t t0 = 0; t0 < frames; t0 += SPEC_LANES) {
        int count = frames - t0 < SPEC_LANES ? (int)(frames - t0) : SPEC_LANES;
        const float *src[SPEC_LANES];
        for (int l = 0; l < count; l++) {
            int64_t s0 = (t0 + l) * c->hop - offset;
            src[l] = x + s0;
            if (!(s0 >= 0 && s0 + nfft <= n)) {
                float *e = edge + (size_t)l * nfft;
                for (int i = 0; i < nfft; i++) {
                    int64_t j = s0 + i;
                    e[i] = j >= 0 && j < n ? x[j] : c->pad == PAD_REFLECT ? x[spec_reflect_index(j, n)] : 0.0f;
                }
                src[l] = e;
            }
        }
        spec_frame_group(p, w, src, count, S + t0, frames);
    }
    spec_finish(p, S, (int64_t)p->bins * frames, tensor_f32(out));
    spec_work_free(w);
    free(edge);
    free(S);
    return 0;
}
