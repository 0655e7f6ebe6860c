#define _POSIX_C_SOURCE 200809L
#include "scan/scan.h"

#include "scan/ensemble.h"

#include "audio/audio.h"
#include "core/error.h"
#include "audio/melstream.h"
#include "formats/npy.h"
#include "audio/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Resampled samples held back until the end, where the length is fixed to ceil(n * sr / file_sr):
 * soxr's total differs from that by a sample or so. */
#define HOLD 4096
#define SAME_RATE_BLOCK 65536

struct Scanner {
    Model *m;       /* the first member (the shapes) */
    Model **members;
    int nm;
    NnCtx *ctx;
    FrontEnd *fe;
    SpecnormConfig norm; /* frames = W */
    ScanSettings set;
    int F, W, k;
    /* the batch being filled */
    float *x, *logits, *probs;
    double *wstart;
    int64_t *wfirst; /* first frame of each window in the batch */
    int nb;
    /* frames */
    double *ring;  /* W frames x F bins, frame t in slot t % W */
    double *bins;  /* one frame */
    double *dwin;  /* F x W, a window before a non-pointwise output scaling */
    float *win;    /* F x W, a window before normalisation */
    FILE *dump;
    ScanTimes times;
    /* the recording being scanned */
    const char *name;
    SpecPlan *plan;
    int pointwise, hop, step;
    double sr;
    int64_t samples_seen; /* resampled samples known so far (all of them after the end) */
    int64_t next_window;
    ScanFn fn;
    void *arg;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void scanner_free(Scanner *s) {
    if (!s) return;
    free(s->members);
    free(s->x);
    free(s->logits);
    free(s->probs);
    free(s->wstart);
    free(s->wfirst);
    free(s->ring);
    free(s->bins);
    free(s->dwin);
    free(s->win);
    spec_plan_free(s->plan);
    free(s);
}

Scanner *scanner_new(Model *m, NnCtx *ctx, FrontEnd *fe, const SpecnormConfig *norm, const ScanSettings *set) {
    return scanner_new_ensemble(&m, 1, ctx, fe, norm, set);
}

Scanner *scanner_new_ensemble(Model *const *models, int nm, NnCtx *ctx, FrontEnd *fe, const SpecnormConfig *norm,
                              const ScanSettings *set) {
    Model *m = models[0];
    for (int j = 1; j < nm; j++)
        if (models[j]->in_c != m->in_c || models[j]->in_h != m->in_h || models[j]->in_w != m->in_w ||
            models[j]->n_classes != m->n_classes) {
            err_set("the ensemble's members differ in input shape or classes");
            return NULL;
        }
    const SpecConfig *c = &fe->spec;
    int bins = c->kind == SPEC_MEL ? c->n_mels : c->n_fft / 2 + 1;
    if (m->in_c != 1 || bins != m->in_h || (norm->frames > 0 && norm->frames != m->in_w)) {
        char frames[32];
        if (norm->frames > 0) snprintf(frames, sizeof frames, "%lld", (long long)norm->frames);
        else snprintf(frames, sizeof frames, "T");
        err_set("the recorded front end gives 1x%dx%s inputs, the model takes %dx%dx%d", bins, frames, m->in_c, m->in_h,
                m->in_w);
        return NULL;
    }
    if (!(set->batch >= 1) || !(set->overlap >= 0 && set->overlap < 1) || !(set->step >= 0)) {
        err_set("bad scan settings: need batch >= 1, overlap in [0, 1), step >= 0");
        return NULL;
    }
    Scanner *s = calloc(1, sizeof *s);
    if (!s) {
        err_set("out of memory");
        return NULL;
    }
    s->m = m;
    s->nm = nm;
    s->ctx = ctx;
    s->fe = fe;
    s->norm = *norm;
    s->norm.frames = m->in_w;
    s->set = *set;
    s->F = m->in_h;
    s->W = m->in_w;
    s->k = m->n_classes;
    size_t per = (size_t)s->F * (size_t)s->W, B = (size_t)set->batch;
    s->x = malloc(sizeof(float) * per * B);
    s->members = malloc(sizeof(Model *) * (size_t)nm);
    s->logits = malloc(sizeof(float) * B * (size_t)s->k * (size_t)nm);
    s->probs = malloc(sizeof(float) * B * (size_t)s->k);
    s->wstart = malloc(sizeof(double) * B);
    s->wfirst = malloc(sizeof(int64_t) * B);
    s->ring = malloc(sizeof(double) * per);
    s->bins = malloc(sizeof(double) * (size_t)s->F);
    s->dwin = malloc(sizeof(double) * per);
    s->win = malloc(sizeof(float) * per);
    if (s->members) memcpy(s->members, models, sizeof(Model *) * (size_t)nm);
    if (!s->members || !s->x || !s->logits || !s->probs || !s->wstart || !s->wfirst || !s->ring || !s->bins || !s->dwin || !s->win) {
        scanner_free(s);
        err_set("out of memory for a batch of %d windows", set->batch);
        return NULL;
    }
    return s;
}

void scanner_dump_inputs(Scanner *s, FILE *f) { s->dump = f; }
const ScanTimes *scanner_times(const Scanner *s) { return &s->times; }

/* The batch through the network (each member's, the probabilities averaged), then each window to fn. */
static int flush(Scanner *s) {
    if (s->nb == 0) return 0;
    double t0 = now();
    for (int j = 0; j < s->nm; j++)
        if (model_forward_host(s->members[j], s->ctx, s->x, s->nb, NN_INFER, 0,
                                   s->logits + (size_t)j * (size_t)s->nb * (size_t)s->k) < 0) {
            err_prefix(s->name);
            return -1;
        }
    if (s->set.sigmoid) ensemble_sigmoid(s->logits, s->nm, s->nb, s->k, s->probs);
    else ensemble_combine(s->logits, s->nm, s->nb, s->k, s->probs, NULL, NULL);
    s->times.network += now() - t0;
    for (int i = 0; i < s->nb; i++) {
        int64_t e = (s->wfirst[i] + s->W) * (int64_t)s->hop;
        if (e > s->samples_seen) e = s->samples_seen;
        ScanWindow w = {.index = s->next_window - s->nb + i,
                        .start = s->wstart[i],
                        .end = (double)e / s->sr,
                        .probs = s->probs + (size_t)i * s->k};
        if (s->fn(s->arg, &w) != 0) return -1;
    }
    s->nb = 0;
    return 0;
}

/* Window starting at frame f0 with its w (<= W) frames in the ring: finish, normalise, pad, batch. */
static int add_window(Scanner *s, int64_t f0, int w) {
    int F = s->F, W = s->W;
    for (int i = 0; i < w; i++) { /* frame-major ring -> band-major window */
        const double *fr = s->ring + ((f0 + i) % W) * F;
        if (s->pointwise)
            for (int b = 0; b < F; b++) s->win[b * w + i] = (float)fr[b];
        else
            for (int b = 0; b < F; b++) s->dwin[b * w + i] = fr[b];
    }
    if (!s->pointwise) spec_finish(s->plan, s->dwin, (int64_t)F * w, s->win);
    Tensor t = {.dtype = DT_F32, .ndim = 3, .shape = {1, F, w}, .data = s->win};
    if (specnorm_normalise(&s->norm, &t, s->name) < 0) return -1;
    float *dst = s->x + (size_t)s->nb * F * W;
    specnorm_pad_crop(&s->norm, &t, s->name, dst);
    if (s->dump) {
        Tensor d = {.dtype = DT_F32, .ndim = 3, .shape = {1, F, W}, .data = dst};
        if (npy_write(s->dump, &d) < 0) return -1;
    }
    s->wstart[s->nb] = (double)(f0 * s->hop) / s->sr;
    s->wfirst[s->nb] = f0;
    s->nb++;
    s->next_window++;
    return s->nb == s->set.batch ? flush(s) : 0;
}

/* Frames from the stream into the ring; every window they complete into the batch. */
static int drain_frames(Scanner *s, MelStream *ms) {
    int rc = 0;
    while (rc == 0 && melstream_next(ms, s->bins)) {
        int64_t t = melstream_frames(ms) - 1;
        double *slot = s->ring + (t % s->W) * s->F;
        if (s->pointwise) {
            spec_finish(s->plan, s->bins, s->F, s->win); /* pointwise: frame by frame is the same */
            for (int b = 0; b < s->F; b++) slot[b] = s->win[b];
        } else {
            memcpy(slot, s->bins, sizeof(double) * (size_t)s->F);
        }
        int64_t f0 = s->next_window * s->step;
        if (f0 + s->W == t + 1) rc = add_window(s, f0, s->W);
    }
    return rc;
}

/* End of the recording: the windows that run past the last frame (see scan.h). */
static int last_windows(Scanner *s, int64_t T) {
    for (;;) {
        int64_t k = s->next_window, f0 = k * s->step;
        if (k > 0 && !((k - 1) * s->step + s->W < T && f0 < T)) break;
        int w = (int)(T - f0 < s->W ? T - f0 : s->W);
        if (add_window(s, f0, w) < 0) return -1;
    }
    return flush(s);
}

static int feed(Scanner *s, MelStream *ms, const float *x, int64_t n) {
    if (n <= 0) return 0;
    double t0 = now(), net0 = s->times.network;
    if (melstream_feed(ms, x, n) < 0) {
        err_prefix(s->name);
        return -1;
    }
    s->samples_seen = melstream_samples(ms);
    int rc = drain_frames(s, ms);
    s->times.spectrogram += now() - t0 - (s->times.network - net0); /* the network's share is counted in flush */
    return rc;
}

int scanner_run(Scanner *s, const char *path, ScanFn fn, void *arg, Progress *progress, ScanRecording *info) {
    memset(info, 0, sizeof *info);
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    s->name = name;
    s->fn = fn;
    s->arg = arg;
    s->nb = 0;
    s->next_window = 0;
    s->samples_seen = 0;
    double t0 = now();
    AudioReader *r = audio_open_stream(path);
    s->times.decode += now() - t0;
    if (!r) return -1;
    double file_sr = audio_reader_rate(r), sr = s->fe->sr > 0 ? s->fe->sr : file_sr;
    int64_t declared = audio_reader_frames(r);
    info->file_sr = file_sr;
    info->sr = sr;
    info->channels = audio_reader_channels(r);
    SpecConfig c = s->fe->spec;
    c.sr = sr;
    spec_plan_free(s->plan);
    s->plan = spec_plan_new(&c);
    MelStream *ms = s->plan ? melstream_new(s->plan, &c) : NULL;
    Resampler *rs = NULL;
    int same = sr == file_sr, rc = -1;
    size_t chunk = same ? SAME_RATE_BLOCK : (size_t)(48000 * file_sr / sr); /* resample_whole's chunks */
    if (chunk < 1) chunk = 1;
    size_t out_cap = (size_t)((double)chunk * sr / file_sr) + 2 * HOLD + 1024;
    float *in = malloc(sizeof(float) * chunk), *out = same ? NULL : malloc(sizeof(float) * out_cap);
    int64_t pend = 0; /* resampled samples held at the start of out */
    if (!ms || (!same && !(rs = resampler_new(file_sr, sr)))) {
        err_prefix(name);
        goto done;
    }
    if (!in || (!same && !out)) {
        err_set("%s: out of memory", name);
        goto done;
    }
    s->sr = sr;
    s->hop = c.hop;
    s->pointwise = spec_finish_is_pointwise(s->plan);
    s->step = s->set.step > 0 ? (int)llround(s->set.step * sr / c.hop) : (int)llround(s->W * (1 - s->set.overlap));
    if (s->step < 1) s->step = 1;
    int64_t n_in = 0;
    int nonzero = 0;
    double shown = 0; /* seconds reported to progress */
    for (;;) {
        /* a full chunk (as resample_whole feeds soxr) unless the recording ends */
        size_t have = 0;
        t0 = now();
        while (have < chunk) {
            int64_t got = audio_read_mono(r, in + have, (int64_t)(chunk - have));
            if (got < 0) {
                s->times.decode += now() - t0;
                goto done;
            }
            if (got == 0) break;
            have += (size_t)got;
        }
        s->times.decode += now() - t0;
        if (have == 0) break;
        for (size_t i = 0; i < have && !nonzero; i++) nonzero = in[i] != 0;
        n_in += (int64_t)have;
        if (same) {
            if (feed(s, ms, in, (int64_t)have) < 0) goto done;
        } else {
            t0 = now();
            int64_t got = resampler_process(rs, in, (int64_t)have, out + pend, (int64_t)(out_cap - (size_t)pend));
            s->times.resample += now() - t0;
            if (got < 0) {
                err_prefix(name);
                goto done;
            }
            pend += got;
            if (pend > HOLD) {
                if (feed(s, ms, out, pend - HOLD) < 0) goto done;
                memmove(out, out + pend - HOLD, sizeof(float) * HOLD);
                pend = HOLD;
            }
        }
        if (progress) {
            double sec = (double)n_in / file_sr;
            if ((int64_t)sec > (int64_t)shown) {
                progress_add(progress, (int64_t)sec - (int64_t)shown);
                shown = sec;
            }
        }
    }
    if (declared > 0 && n_in < declared) {
        err_set("%s: truncated audio: the header promises %lld frames, the file holds %lld", name, (long long)declared,
                (long long)n_in);
        goto done;
    }
    if (n_in == 0) {
        err_set("%s: no audio samples (empty recording)", name);
        goto done;
    }
    if (!nonzero) {
        err_set("%s: silent audio (every sample is zero)", name);
        goto done;
    }
    if (!same) { /* flush soxr, then fix the length as librosa does */
        for (;;) {
            t0 = now();
            int64_t got = resampler_process(rs, NULL, 0, out + pend, (int64_t)(out_cap - (size_t)pend));
            s->times.resample += now() - t0;
            if (got < 0) {
                err_prefix(name);
                goto done;
            }
            if (got == 0) break;
            pend += got;
            if (pend > HOLD) {
                if (feed(s, ms, out, pend - HOLD) < 0) goto done;
                memmove(out, out + pend - HOLD, sizeof(float) * HOLD);
                pend = HOLD;
            }
        }
        int64_t want = (int64_t)ceil((double)n_in * (sr / file_sr)), fed = melstream_samples(ms);
        if (want < fed) {
            err_set("%s: resampling gave %lld samples past the expected length", name, (long long)(fed - want));
            goto done;
        }
        int64_t take = want - fed < pend ? want - fed : pend;
        if (feed(s, ms, out, take) < 0) goto done;
        for (int64_t pad = want - fed - take; pad > 0;) { /* zeros, fix_length */
            int64_t z = pad < (int64_t)out_cap ? pad : (int64_t)out_cap;
            memset(out, 0, sizeof(float) * (size_t)z);
            if (feed(s, ms, out, z) < 0) goto done;
            pad -= z;
        }
    }
    melstream_end(ms);
    s->samples_seen = melstream_samples(ms);
    if (drain_frames(s, ms) < 0) goto done;
    int64_t T = melstream_frames(ms);
    if (T == 0) {
        err_set("%s: recording too short: %lld samples, one uncentred frame needs %d", name,
                (long long)s->samples_seen, c.n_fft);
        goto done;
    }
    if (last_windows(s, T) < 0) goto done;
    if (progress) progress_add(progress, (int64_t)((double)n_in / file_sr) - (int64_t)shown);
    info->samples = n_in;
    info->seconds = (double)n_in / file_sr;
    info->frames = T;
    info->windows = s->next_window;
    info->window_frames = s->W;
    info->step_frames = s->step;
    info->hop = c.hop;
    rc = 0;
done:
    s->nb = 0;
    free(in);
    free(out);
    resampler_free(rs);
    melstream_free(ms);
    audio_close(r);
    return rc;
}

int scan_default_batch(const Model *models, int n, NnDevice device) {
    if (device != NN_CPU) return 64;
    for (int i = 0; i < n; i++)
        if (strcmp(models[i].arch, "baseline") != 0) return 4;
    return 1;
}
