#include "audio/frontend.h"

#include "audio/audio.h"
#include "core/error.h"
#include "audio/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void frontend_init(FrontEnd *fe) {
    memset(fe, 0, sizeof *fe);
    spec_config_default(&fe->spec);
    fe->sr = 22050;
    fe->trim_frame = 2048;
    fe->trim_hop = 512;
    pthread_mutex_init(&fe->lock, NULL);
}

static SpecPlan *plan_for(FrontEnd *fe, double sr) {
    SpecPlan *p = NULL;
    pthread_mutex_lock(&fe->lock);
    for (int i = 0; i < fe->nplans; i++)
        if (fe->plan_sr[i] == sr) p = fe->plans[i];
    if (!p) {
        if (fe->nplans == fe->cap_plans) {
            int cap = fe->cap_plans ? 2 * fe->cap_plans : 8;
            double *nsr = realloc(fe->plan_sr, sizeof(double) * (size_t)cap);
            if (nsr) fe->plan_sr = nsr;
            SpecPlan **np = nsr ? realloc(fe->plans, sizeof(SpecPlan *) * (size_t)cap) : NULL;
            if (np) {
                fe->plans = np;
                fe->cap_plans = cap;
            }
        }
        SpecConfig c = fe->spec;
        c.sr = sr;
        if (fe->nplans == fe->cap_plans) err_set("out of memory");
        else if ((p = spec_plan_new(&c))) {
            fe->plan_sr[fe->nplans] = sr;
            fe->plans[fe->nplans++] = p;
        }
    }
    pthread_mutex_unlock(&fe->lock);
    return p;
}

int frontend_validate(FrontEnd *fe) {
    if (fe->sr < 0 || fe->trim_db < 0 || fe->duration < 0 || fe->segment < 0 || !(fe->overlap >= 0 && fe->overlap < 1)) {
        err_set("bad front-end settings: sr, trim, duration and segment must be >= 0, overlap in [0, 1)");
        return -1;
    }
    if (fe->trim_frame < 1 || fe->trim_hop < 1) {
        err_set("bad trim settings: frame and hop must be >= 1");
        return -1;
    }
    /* build the plan for the fixed rate now, or check the settings at a typical rate */
    if (fe->sr > 0) return plan_for(fe, fe->sr) ? 0 : -1;
    SpecConfig c = fe->spec;
    c.sr = c.fmax > 0 ? 2 * c.fmax : 22050;
    SpecPlan *p = spec_plan_new(&c);
    if (!p) return -1;
    spec_plan_free(p);
    return 0;
}

void frontend_free(FrontEnd *fe) {
    for (int i = 0; i < fe->nplans; i++) spec_plan_free(fe->plans[i]);
    free(fe->plans);
    free(fe->plan_sr);
    fe->plans = NULL;
    fe->plan_sr = NULL;
    fe->nplans = fe->cap_plans = 0;
    pthread_mutex_destroy(&fe->lock);
}

void trim_silence(const float *x, int64_t n, double top_db, int frame, int hop, int64_t *start, int64_t *end) {
    /* librosa.feature.rms(center=True, pad_mode='constant'): frame t covers padded[t*hop, t*hop+frame)
     * of the signal zero-padded by frame/2 on both sides; mean square over the whole frame. */
    int64_t nframes = 1 + n / hop, pad = frame / 2;
    if (n + 2 * pad < frame) nframes = 0;
    else nframes = 1 + (n + 2 * pad - frame) / hop;
    double *ms = malloc(sizeof(double) * (size_t)(nframes ? nframes : 1));
    *start = *end = 0;
    if (!ms) return;
    double peak = 0;
    for (int64_t t = 0; t < nframes; t++) {
        double acc = 0;
        int64_t a = t * hop - pad, b = a + frame;
        if (a < 0) a = 0;
        if (b > n) b = n;
        for (int64_t i = a; i < b; i++) acc += (double)x[i] * x[i];
        ms[t] = acc / frame;
        peak = ms[t] > peak ? ms[t] : peak;
    }
    /* amplitude_to_db(rms, ref=np.max): 10*log10(max(ms, 1e-10)) - 10*log10(max(1e-10, peak)) */
    double ref = 10 * log10(fmax(1e-10, peak));
    int64_t first = -1, last = -1;
    for (int64_t t = 0; t < nframes; t++) {
        double db = 10 * log10(fmax(1e-10, ms[t])) - ref;
        if (db > -top_db) {
            if (first < 0) first = t;
            last = t;
        }
    }
    free(ms);
    if (first >= 0) {
        *start = first * hop;
        *end = (last + 1) * hop < n ? (last + 1) * hop : n;
    }
}

static int all_zero(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] != 0) return 0;
    return 1;
}

static const char *display_name(const char *path) { return strcmp(path, "-") == 0 ? "<stdin>" : path; }

/* Everything after resampling: x (n samples at sr, owned and freed here) -> out->v. */
static int finish(FrontEnd *fe, const char *name, float *x, int64_t n, double sr, Clips *out) {
    int64_t off = 0, len = n;
    if (fe->trim_db > 0) {
        int64_t s, e;
        trim_silence(x, n, fe->trim_db, fe->trim_frame, fe->trim_hop, &s, &e);
        off = s;
        len = e - s;
    }
    if (len == 0 || all_zero(x + off, len)) {
        err_set("%s: silent audio (every sample is zero%s)", name, fe->trim_db > 0 ? " or trimmed away" : "");
        free(x);
        return -1;
    }
    int64_t content = len; /* samples of real audio from off */
    if (fe->duration > 0) len = (int64_t)llround(fe->duration * sr);
    int64_t win = len, step = len, count = 1;
    if (fe->segment > 0) {
        win = (int64_t)llround(fe->segment * sr);
        if (win < 1) win = 1;
        step = (int64_t)llround((double)win * (1 - fe->overlap));
        if (step < 1) step = 1;
        count = len <= win ? 1 : (len - win + step - 1) / step + 1;
    }
    SpecPlan *plan = plan_for(fe, sr);
    float *buf = malloc(sizeof(float) * (size_t)(win ? win : 1));
    out->v = calloc((size_t)count, sizeof(Clip));
    if (!plan || !buf || !out->v) {
        if (plan) err_set("%s: out of memory", name);
        else err_prefix(name); /* plan_for's message: bad settings at this rate, or no memory */
        free(buf);
        free(x);
        clips_free(out);
        return -1;
    }
    for (int64_t k = 0; k < count; k++) {
        int64_t s = k * step; /* relative to off */
        int64_t have = content - s;
        if (have < 0) have = 0;
        if (have > win) have = win;
        if (have > 0) memcpy(buf, x + off + s, sizeof(float) * (size_t)have);
        memset(buf + have, 0, sizeof(float) * (size_t)(win - have));
        Clip *c = &out->v[k];
        if (spec_compute(plan, buf, win, &c->spec) < 0) {
            err_prefix(name);
            free(buf);
            free(x);
            clips_free(out);
            return -1;
        }
        out->n++;
        c->start = (double)(off + s) / sr;
        int64_t e = off + s + win;
        c->end = (double)(e < n ? e : n) / sr;
    }
    free(buf);
    free(x);
    return 0;
}

int frontend_run(FrontEnd *fe, const char *path, Clips *out) {
    memset(out, 0, sizeof *out);
    Audio a;
    if (audio_load(path, &a) < 0) return -1;
    out->file_sr = a.sr;
    out->channels = a.channels;
    out->seconds = (double)a.n / a.sr;
    double sr = fe->sr > 0 ? fe->sr : a.sr;
    float *x;
    int64_t n;
    int rc = resample_whole(a.x, a.n, a.sr, sr, &x, &n);
    audio_free(&a);
    if (rc < 0) {
        err_prefix(display_name(path));
        return -1;
    }
    return finish(fe, display_name(path), x, n, sr, out);
}

int frontend_run_range(FrontEnd *fe, PartReader *pr, const char *path, double start, double end, Clips *out) {
    memset(out, 0, sizeof *out);
    const char *name = display_name(path);
    PartReader local;
    if (!pr) part_reader_init(pr = &local);
    const float *x;
    int64_t got;
    double fsr;
    int channels;
    int rc = part_read(pr, path, name, start, end, &x, &got, &fsr, &channels);
    if (rc == 0) {
        out->file_sr = fsr;
        out->channels = channels;
        out->seconds = (double)got / fsr;
        double sr = fe->sr > 0 ? fe->sr : fsr;
        float *y;
        int64_t ny;
        if ((rc = resample_whole(x, got, fsr, sr, &y, &ny)) < 0) err_prefix(name);
        else rc = finish(fe, name, y, ny, sr, out);
    }
    if (pr == &local) part_reader_free(&local);
    if (rc < 0) return -1;
    double s0 = (double)llround(start * fsr) / fsr;
    for (int k = 0; k < out->n; k++) {
        out->v[k].start += s0;
        out->v[k].end += s0;
    }
    return 0;
}

void frontend_run_batch(FrontEnd *fe, const char *const *paths, int count, Clips *out, int *rc, char **errs) {
    Audio *a = calloc((size_t)count, sizeof(Audio));
    float **x = calloc((size_t)count, sizeof(float *)), **y = calloc((size_t)count, sizeof(float *));
    int64_t *n = calloc((size_t)count, sizeof(int64_t)), *ny = calloc((size_t)count, sizeof(int64_t));
    int *members = calloc((size_t)count, sizeof(int));
    if (!a || !x || !y || !n || !ny || !members) { /* fall back to one at a time */
        for (int i = 0; i < count; i++) {
            rc[i] = frontend_run(fe, paths[i], &out[i]);
            errs[i] = rc[i] < 0 ? strdup(err_msg()) : NULL;
        }
        goto done;
    }
    for (int i = 0; i < count; i++) {
        memset(&out[i], 0, sizeof out[i]);
        errs[i] = NULL;
        rc[i] = audio_load(paths[i], &a[i]);
        if (rc[i] < 0) errs[i] = strdup(err_msg());
    }
    /* recordings at one rate are resampled together (resample_batch: same bits as one by one) */
    for (int i = 0; i < count; i++) {
        if (rc[i] < 0 || y[i]) continue;
        double in_sr = a[i].sr, sr = fe->sr > 0 ? fe->sr : in_sr;
        int k = 0;
        for (int j = i; j < count; j++)
            if (rc[j] == 0 && !y[j] && a[j].sr == in_sr) {
                members[k] = j;
                x[k] = a[j].x;
                n[k++] = a[j].n;
            }
        float **tmp_y = calloc((size_t)k, sizeof(float *));
        int64_t *tmp_n = calloc((size_t)k, sizeof(int64_t));
        int brc = tmp_y && tmp_n ? resample_batch((const float *const *)x, n, k, in_sr, sr, tmp_y, tmp_n) : -1;
        for (int m = 0; m < k; m++) {
            int j = members[m];
            if (brc < 0) {
                rc[j] = -1;
                err_prefix(display_name(paths[j]));
                errs[j] = strdup(err_msg());
                y[j] = NULL;
            } else {
                y[j] = tmp_y[m];
                ny[j] = tmp_n[m];
            }
        }
        free(tmp_y);
        free(tmp_n);
    }
    for (int i = 0; i < count; i++) {
        if (rc[i] < 0) continue;
        out[i].file_sr = a[i].sr;
        out[i].channels = a[i].channels;
        out[i].seconds = (double)a[i].n / a[i].sr;
        double sr = fe->sr > 0 ? fe->sr : a[i].sr;
        audio_free(&a[i]);
        rc[i] = finish(fe, display_name(paths[i]), y[i], ny[i], sr, &out[i]);
        y[i] = NULL;
        if (rc[i] < 0) errs[i] = strdup(err_msg());
    }
done:
    if (a)
        for (int i = 0; i < count; i++) audio_free(&a[i]);
    if (y)
        for (int i = 0; i < count; i++) free(y[i]);
    free(a); free(x); free(y); free(n); free(ny); free(members);
}

void clips_free(Clips *c) {
    if (c->v)
        for (int i = 0; i < c->n; i++) tensor_free(&c->v[i].spec);
    free(c->v);
    memset(c, 0, sizeof *c);
}
