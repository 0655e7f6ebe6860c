/* The spectrogram's frames in groups: spec_frame_group() gives each frame the same bits whatever group
 * (and lane) it is computed in, and melstream's frames of a signal fed in blocks of any sizes equal
 * spec_compute()'s on the whole signal, bit for bit. spec_finish's dB (a logarithm of its own in float):
 * within 1e-5 dB + 2 float ulps of the double-precision value, each value alone (in pieces = whole), and values out of
 * float's range (a floor below 1e-37, powers past FLT_MAX) right too. */
#include "check.h"
#include "audio/melspec.h"
#include "audio/melstream.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void configs(SpecConfig *c, int i) {
    spec_config_default(c);
    switch (i) {
    case 1: c->kind = SPEC_STFT; c->n_fft = c->win_length = 512; break;
    case 2: c->n_fft = c->win_length = 1000; c->hop = 100; c->power = 1; break;
    case 3: c->n_fft = 2048; c->win_length = 1500; c->n_mels = 64; c->scale = MEL_HTK; c->center = 0; break;
    case 4: c->sr = 8000; c->n_fft = c->win_length = 17; c->hop = 5; c->n_mels = 3; c->pad = PAD_CONSTANT; break;
    case 5: c->power = 1.5; c->fmin = 300; c->fmax = 8000; break;
    }
}

/* Each of n frames alone (count 1), then in groups of `g`: the same bits. */
static int groups_agree(const SpecPlan *p, const SpecConfig *c, const float *x, int n, int g) {
    int bins = spec_bins(p);
    SpecWork *w = spec_work_new(p);
    double *alone = malloc(sizeof(double) * (size_t)bins * (size_t)n);
    double *grouped = malloc(sizeof(double) * (size_t)bins * (size_t)n);
    int same = w && alone && grouped;
    for (int t = 0; same && t < n; t++) {
        const float *src = x + (size_t)t * c->hop;
        spec_frame_group(p, w, &src, 1, alone + t, n);
    }
    for (int t0 = 0; same && t0 < n; t0 += g) {
        const float *src[SPEC_LANES];
        int count = n - t0 < g ? n - t0 : g;
        for (int j = 0; j < count; j++) src[j] = x + (size_t)(t0 + j) * c->hop;
        spec_frame_group(p, w, src, count, grouped + t0, n);
    }
    same = same && memcmp(alone, grouped, sizeof(double) * (size_t)bins * (size_t)n) == 0;
    spec_work_free(w);
    free(alone);
    free(grouped);
    return same;
}

/* The signal fed to a MelStream in random blocks against spec_compute on the whole (before scaling:
 * spec_compute's output is scaled, so both go through spec_finish). */
static int stream_agrees(const SpecPlan *p, const SpecConfig *c, const float *x, int64_t n, Rng *rng) {
    Tensor whole;
    if (spec_compute(p, x, n, &whole) < 0) return 0;
    int bins = spec_bins(p);
    int64_t frames = whole.shape[2];
    MelStream *m = melstream_new(p, c);
    double *all = malloc(sizeof(double) * (size_t)bins * (size_t)frames), *one = malloc(sizeof(double) * (size_t)bins);
    float *y = malloc(sizeof(float) * (size_t)bins * (size_t)frames);
    int ok = m && all && one && y;
    int64_t got = 0;
    for (int64_t at = 0; ok && at <= n;) {
        if (at < n) {
            int64_t len = 1 + (int64_t)rng_below(rng, (uint64_t)(3 * c->n_fft));
            if (len > n - at) len = n - at;
            ok = melstream_feed(m, x + at, len) == 0;
            at += len;
        } else {
            melstream_end(m);
            at++;
        }
        while (ok && melstream_next(m, one)) { /* every frame ready so far */
            ok = got < frames;
            for (int b = 0; ok && b < bins; b++) all[(size_t)b * frames + got] = one[b];
            got++;
        }
    }
    ok = ok && got == frames;
    if (ok) spec_finish(p, all, (int64_t)bins * frames, y);
    ok = ok && memcmp(y, tensor_f32(&whole), sizeof(float) * (size_t)bins * (size_t)frames) == 0;
    melstream_free(m);
    free(all);
    free(one);
    free(y);
    tensor_free(&whole);
    return ok;
}

/* n powers spread over 10^lo .. 10^hi through spec_finish (dB, ref 1, the given floor), against
 * 10 log10(max(v, amin)) in double; also finished in pieces of 7 (the scan's frame by frame). */
static void check_db(Rng *rng, double lo, double hi, double amin, const char *what) {
    SpecConfig c;
    spec_config_default(&c);
    c.amin = amin;
    SpecPlan *p = spec_plan_new(&c);
    enum { N = 200000 };
    double *S = malloc(sizeof(double) * N), *S2 = malloc(sizeof(double) * N), *want = malloc(sizeof(double) * N);
    float *y = malloc(sizeof(float) * N), *y2 = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        S[i] = S2[i] = pow(10.0, lo + (hi - lo) * rng_uniform(rng));
        want[i] = 10.0 * log10(fmax(S[i], amin));
    }
    spec_finish(p, S, N, y);
    for (int i = 0; i < N; i += 7) spec_finish(p, S2 + i, N - i < 7 ? N - i : 7, y2 + i);
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs((double)y[i] - want[i]) / (1e-5 + 2.4e-7 * fabs(want[i])));
    CHECK(worst <= 1, "dB of powers 1e%g..1e%g (floor %g) within 1e-5 dB + 2 float ulps of double (%.2f of the bound) %s",
          lo, hi, amin, worst, what);
    CHECK(memcmp(y, y2, sizeof(float) * N) == 0, "dB finished 7 values at a time equals the whole, bit for bit %s", what);
    free(S);
    free(S2);
    free(want);
    free(y);
    free(y2);
    spec_plan_free(p);
}

int main(void) {
    Rng rng;
    rng_seed(&rng, 11);
    check_db(&rng, -12, 12, 1e-10, "(the default floor)");
    check_db(&rng, -45, 0, 1e-44, "(a floor below float's normal range)");
    check_db(&rng, 30, 45, 1e-10, "(powers past FLT_MAX)");
    for (int i = 0; i < 6; i++) {
        SpecConfig c;
        configs(&c, i);
        SpecPlan *p = spec_plan_new(&c);
        CHECK(p != NULL, "config %d: plan", i);
        if (!p) continue;
        int frames = 21;
        int64_t n = (int64_t)(frames - 1) * c.hop + c.n_fft;
        float *x = malloc(sizeof(float) * (size_t)n);
        for (int64_t t = 0; t < n; t++) x[t] = (float)(rng_uniform(&rng) * 2 - 1) * (t % 97 == 0 ? 30.0f : 1.0f);
        for (int g = 2; g <= SPEC_LANES; g += 3)
            CHECK(groups_agree(p, &c, x, frames, g), "config %d: %d frames alone and in groups of %d, bit for bit",
                  i, frames, g);
        CHECK(stream_agrees(p, &c, x, n, &rng), "config %d: a stream fed in random blocks equals spec_compute, bit for bit", i);
        if (c.center) /* centred frames need only n > n_fft/2 samples */
            CHECK(stream_agrees(p, &c, x, c.n_fft / 2 + 3, &rng), "config %d: the same for a signal of n_fft/2 + 3 samples", i);
        free(x);
        spec_plan_free(p);
    }
    return check_failures ? 1 : 0;
}
