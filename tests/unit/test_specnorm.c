/* lib/specnorm: checks, normalisation, crop offsets, pad/crop and the statistics accumulator. */
#include "check.h"
#include "core/error.h"
#include "audio/specnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static Tensor make(int ndim, const int64_t *shape, const float *v) {
    Tensor t;
    tensor_alloc(&t, DT_F32, ndim, shape);
    memcpy(t.data, v, (size_t)tensor_numel(&t) * sizeof(float));
    return t;
}

static int fails_with(int rc, const char *want) {
    if (rc != -1) return 0;
    if (!strstr(err_msg(), want)) { printf("# message was: %s\n", err_msg()); return 0; }
    return 1;
}

int main(void) {
    SpecnormConfig c;
    specnorm_config_default(&c);
    CHECK(c.mode == SPECNORM_SAMPLE && c.frames == 400 && c.crop == SPECNORM_CROP_CENTRE &&
              c.pad == SPECNORM_PAD_ZERO && c.seed == 42,
          "defaults: sample, 400 frames, centre crop, zero pad, seed 42");

    /* names */
    SpecnormMode m;
    SpecnormCrop cr;
    SpecnormPad pd;
    int names_ok = 1;
    for (int i = 0; i < 4; i++)
        names_ok &= specnorm_mode_parse(specnorm_mode_name((SpecnormMode)i), &m) == 0 && (int)m == i;
    for (int i = 0; i < 3; i++)
        names_ok &= specnorm_crop_parse(specnorm_crop_name((SpecnormCrop)i), &cr) == 0 && (int)cr == i;
    for (int i = 0; i < 2; i++)
        names_ok &= specnorm_pad_parse(specnorm_pad_name((SpecnormPad)i), &pd) == 0 && (int)pd == i;
    CHECK(names_ok, "mode, crop and pad names round trip");
    CHECK(specnorm_crop_parse("center", &cr) == 0 && cr == SPECNORM_CROP_CENTRE, "'center' spelling accepted");
    CHECK(fails_with(specnorm_mode_parse("zscore", &m), "unknown mode 'zscore'"), "unknown mode rejected");

    /* shape checks */
    int64_t s2[2] = {2, 3}, s3[3] = {1, 2, 3}, sc2[3] = {2, 2, 3}, s1[1] = {6}, st0[3] = {1, 2, 0}, sf0[3] = {1, 0, 5};
    CHECK(specnorm_check_shape(2, s2, "x") == 0 && specnorm_check_shape(3, s3, "x") == 0,
          "(F, T) and (1, F, T) accepted");
    CHECK(fails_with(specnorm_check_shape(3, sc2, "x.npy (key 'k')"), "x.npy (key 'k'): expected one channel"),
          "two channels rejected, message names the array");
    CHECK(fails_with(specnorm_check_shape(1, s1, "x"), "got shape 6"), "1-D rejected");
    CHECK(fails_with(specnorm_check_shape(0, s1, "x"), "got shape ()"), "0-D rejected");
    CHECK(fails_with(specnorm_check_shape(3, st0, "x"), "empty spectrogram"), "T = 0 rejected");
    CHECK(fails_with(specnorm_check_shape(3, sf0, "x"), "no mel bands"), "F = 0 rejected");

    float v6[6] = {1, 2, 3, 4, 5, 6};
    Tensor t = make(2, s2, v6);
    CHECK(specnorm_check(&t, "x") == 0 && t.ndim == 3 && t.shape[0] == 1 && t.shape[1] == 2 && t.shape[2] == 3,
          "2-D array becomes (1, F, T)");
    tensor_free(&t);
    float vn[6] = {1, 2, 3, 4, NAN, 6};
    t = make(3, s3, vn);
    CHECK(fails_with(specnorm_check(&t, "x"), "x: NaN value at band 1, frame 1"), "NaN found with its position");
    tensor_free(&t);
    vn[4] = -INFINITY;
    t = make(3, s3, vn);
    CHECK(fails_with(specnorm_check(&t, "x"), "infinite value at band 1, frame 1"), "-Inf found");
    tensor_free(&t);

    /* normalisation */
    float vs[4] = {1, 3, 1, 3};
    int64_t s14[3] = {1, 1, 4};
    t = make(3, s14, vs);
    c.mode = SPECNORM_SAMPLE;
    specnorm_normalise(&c, &t, "x");
    float *x = tensor_f32(&t);
    float want = (float)(-1.0 / (1.0 + 1e-6));
    CHECK(x[0] == want && x[1] == -want && x[2] == want && x[3] == -want, "sample: (x - mean) / (std + 1e-6)");
    tensor_free(&t);
    float vm[4] = {-2, 0, 2, 6};
    t = make(3, s14, vm);
    c.mode = SPECNORM_MINMAX;
    specnorm_normalise(&c, &t, "x");
    x = tensor_f32(&t);
    CHECK(x[0] == 0 && x[1] == 0.25f && x[2] == 0.5f && x[3] == 1, "minmax to [0, 1]");
    tensor_free(&t);

    /* statistics */
    SpecnormAccum a;
    specnorm_accum_init(&a);
    enum { F = 3, T = 101 };
    float *big = malloc(sizeof(float) * F * T);
    srand(7);
    for (int i = 0; i < F * T; i++) big[i] = (float)(rand() % 20001 - 10000) / 100.0f + 1000.0f * (float)(i / T);
    double mean[F], sd[F];
    for (int b = 0; b < F; b++) {
        double s = 0, ss = 0;
        for (int i = 0; i < T; i++) s += big[b * T + i];
        mean[b] = s / T;
        for (int i = 0; i < T; i++) ss += (big[b * T + i] - mean[b]) * (big[b * T + i] - mean[b]);
        sd[b] = sqrt(ss / T);
    }
    /* feed the same data as three arrays of 10, 1 and 90 frames */
    int cuts[4] = {0, 10, 11, T}, add_ok = 1;
    for (int k = 0; k < 3; k++) {
        int n = cuts[k + 1] - cuts[k];
        int64_t sh[3] = {1, F, n};
        Tensor p;
        tensor_alloc(&p, DT_F32, 3, sh);
        for (int b = 0; b < F; b++) memcpy(tensor_f32(&p) + b * n, big + b * T + cuts[k], sizeof(float) * (size_t)n);
        add_ok &= specnorm_accum_add(&a, &p, "p") == 0;
        tensor_free(&p);
    }
    Tensor r;
    int got = add_ok && specnorm_accum_result(&a, &r) == 0;
    double err = 0;
    for (int b = 0; got && b < F; b++) {
        err = fmax(err, fabs(tensor_f32(&r)[b] - mean[b]) / (1 + fabs(mean[b])));
        err = fmax(err, fabs(tensor_f32(&r)[F + b] - sd[b]) / (1 + sd[b]));
    }
    CHECK(got && r.ndim == 2 && r.shape[0] == 2 && r.shape[1] == F && err < 1e-6,
          "accumulator over split arrays = two-pass over all frames (rel err %.2g)", err);
    if (got) tensor_free(&r);
    int64_t s_other[3] = {1, 4, 2};
    Tensor o;
    tensor_alloc(&o, DT_F32, 3, s_other);
    CHECK(fails_with(specnorm_accum_add(&a, &o, "o.npy"), "o.npy: has 4 mel bands but earlier arrays have 3"),
          "accumulator refuses another F");
    specnorm_accum_free(&a);
    specnorm_accum_init(&a);
    CHECK(fails_with(specnorm_accum_result(&a, &r), "no arrays"), "empty accumulator is an error");
    specnorm_accum_free(&a);

    SpecnormStats st = {0};
    int64_t ss2[2] = {2, F};
    tensor_alloc(&st.t, DT_F32, 2, ss2);
    st.f = F;
    st.mean = tensor_f32(&st.t);
    st.std = st.mean + F;
    st.name = "st.npy";
    c.mode = SPECNORM_STATS;
    c.stats = &st;
    CHECK(fails_with(specnorm_normalise(&c, &o, "o.npy"),
                     "o.npy: has 4 mel bands but the statistics in st.npy have 3"),
          "stats with another F refused");
    tensor_free(&o);
    tensor_free(&st.t);
    free(big);

    /* crop offsets */
    specnorm_config_default(&c);
    c.frames = 10;
    CHECK(specnorm_crop_offset(&c, 10, "k") == 0 && specnorm_crop_offset(&c, 5, "k") == 0, "no crop when T <= frames");
    CHECK(specnorm_crop_offset(&c, 15, "k") == 2 && specnorm_crop_offset(&c, 16, "k") == 3,
          "centre: (T - N) / 2 rounded down");
    c.crop = SPECNORM_CROP_START;
    CHECK(specnorm_crop_offset(&c, 15, "k") == 0, "start: 0");
    c.crop = SPECNORM_CROP_RANDOM;
    int in_range = 1, varies = 0;
    int64_t first = specnorm_crop_offset(&c, 40, "key0");
    for (int i = 0; i < 200; i++) {
        char key[16];
        snprintf(key, sizeof key, "key%d", i);
        int64_t off = specnorm_crop_offset(&c, 40, key);
        in_range &= off >= 0 && off <= 30 && off == specnorm_crop_offset(&c, 40, key);
        varies |= off != first;
    }
    CHECK(in_range, "random: offset in [0, T - N], same for the same key");
    CHECK(varies, "random: offset depends on the key");
    int64_t o1 = specnorm_crop_offset(&c, 1000, "k");
    c.seed = 43;
    CHECK(o1 != specnorm_crop_offset(&c, 1000, "k"), "random: offset depends on the seed");
    c.frames = 0;
    CHECK(specnorm_crop_offset(&c, 1000, "k") == 0 && specnorm_out_frames(&c, 77) == 77, "frames 0 keeps the length");

    /* pad / crop */
    specnorm_config_default(&c);
    c.frames = 4;
    float vp[4] = {1, 2, 3, 4};
    int64_t s22[3] = {1, 2, 2};
    t = make(3, s22, vp);
    float out[8];
    specnorm_pad_crop(&c, &t, "k", out);
    float wz[8] = {1, 2, 0, 0, 3, 4, 0, 0}, we[8] = {1, 2, 2, 2, 3, 4, 4, 4};
    CHECK(memcmp(out, wz, sizeof out) == 0, "zero padding at the end of each band");
    c.pad = SPECNORM_PAD_EDGE;
    specnorm_pad_crop(&c, &t, "k", out);
    CHECK(memcmp(out, we, sizeof out) == 0, "edge padding repeats the last frame");
    tensor_free(&t);
    float vc[12] = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15};
    int64_t s26[3] = {1, 2, 6};
    t = make(3, s26, vc);
    specnorm_pad_crop(&c, &t, "k", out);
    float wc[8] = {1, 2, 3, 4, 11, 12, 13, 14};
    CHECK(memcmp(out, wc, sizeof out) == 0, "centre crop of each band");
    tensor_free(&t);

    /* the whole chain */
    specnorm_config_default(&c);
    c.mode = SPECNORM_NONE;
    c.frames = 3;
    t = make(2, s2, v6);
    Tensor y;
    CHECK(specnorm_process(&c, &t, "k", "x", &y) == 0 && y.ndim == 3 && y.shape[1] == 2 && y.shape[2] == 3 &&
              memcmp(y.data, v6, sizeof v6) == 0, "process: (F, T) in, (1, F, frames) out");
    tensor_free(&t);
    tensor_free(&y);

    return check_failures ? 1 : 0;
}
