#include "audio/melstream.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

struct MelStream {
    const SpecPlan *plan;
    int n_fft, hop, center;
    PadMode pad;
    float *buf;      /* samples [base, base + len) of the signal */
    int64_t base, len, cap;
    int64_t next;    /* index of the next frame */
    int ended;
    float *frame;    /* padded copies of a group's edge frames: n_fft samples per lane */
    SpecWork *work;
    /* frames computed together (spec_frame_group) and handed out one by one */
    int bins;
    double *group;   /* bins x SPEC_LANES */
    int grouped, used;
};

MelStream *melstream_new(const SpecPlan *plan, const SpecConfig *cfg) {
    MelStream *m = calloc(1, sizeof *m);
    if (!m) {
        err_set("out of memory");
        return NULL;
    }
    m->plan = plan;
    m->n_fft = cfg->n_fft;
    m->hop = cfg->hop;
    m->center = cfg->center;
    m->pad = cfg->pad;
    m->frame = malloc(sizeof(float) * (size_t)m->n_fft * SPEC_LANES);
    m->work = spec_work_new(plan);
    m->bins = spec_bins(plan);
    m->group = malloc(sizeof(double) * (size_t)m->bins * SPEC_LANES);
    if (!m->frame || !m->work || !m->group) {
        melstream_free(m);
        err_set("out of memory");
        return NULL;
    }
    return m;
}

void melstream_free(MelStream *m) {
    if (!m) return;
    free(m->buf);
    free(m->frame);
    free(m->group);
    spec_work_free(m->work);
    free(m);
}

/* First sample of frame t (negative in the left padding when centred). */
static int64_t frame_start(const MelStream *m, int64_t t) { return t * m->hop - (m->center ? m->n_fft / 2 : 0); }

int melstream_feed(MelStream *m, const float *x, int64_t n) {
    /* Keep what the next frame can still read: from n_fft before its first sample (reflection at the end
     * reads at most n_fft/2 + 1 samples back from the last one; at the start everything is kept). */
    int64_t keep_from = frame_start(m, m->next) - m->n_fft;
    if (keep_from > m->base) {
        int64_t drop = keep_from - m->base;
        if (drop > m->len) drop = m->len;
        memmove(m->buf, m->buf + drop, sizeof(float) * (size_t)(m->len - drop));
        m->base += drop;
        m->len -= drop;
    }
    if (m->len + n > m->cap) {
        int64_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + n) cap *= 2;
        float *nb = realloc(m->buf, sizeof(float) * (size_t)cap);
        if (!nb) {
            err_set("out of memory");
            return -1;
        }
        m->buf = nb;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, x, sizeof(float) * (size_t)n);
    m->len += n;
    return 0;
}

void melstream_end(MelStream *m) { m->ended = 1; }

int64_t melstream_samples(const MelStream *m) { return m->base + m->len; }
int64_t melstream_frames(const MelStream *m) { return m->next; }

/* Whether frame t can be computed from what has arrived. */
static int frame_ready(const MelStream *m, int64_t t) {
    int64_t n = m->base + m->len;
    if (m->ended) return n > 0 && t < spec_frames(m->plan, n);
    /* wait for one sample past the frame, so that a reflection at the start (which needs n > n_fft/2)
     * never reads beyond what has arrived; same values, one sample later */
    return frame_start(m, t) + m->n_fft < n;
}

/* The frames ready after the last one handed out, up to SPEC_LANES, computed together. */
static int compute_group(MelStream *m) {
    int64_t n = m->base + m->len;
    const float *src[SPEC_LANES];
    int count = 0;
    for (; count < SPEC_LANES && frame_ready(m, m->next + count); count++) {
        int64_t s0 = frame_start(m, m->next + count);
        if (s0 >= 0 && s0 + m->n_fft <= n) {
            src[count] = m->buf + (s0 - m->base);
            continue;
        }
        float *e = m->frame + (size_t)count * m->n_fft;
        for (int i = 0; i < m->n_fft; i++) {
            int64_t j = s0 + i;
            if (j < 0 || j >= n) j = m->pad == PAD_REFLECT ? spec_reflect_index(j, n) : -1;
            e[i] = j >= 0 ? m->buf[j - m->base] : 0.0f;
        }
        src[count] = e;
    }
    if (count > 0) spec_frame_group(m->plan, m->work, src, count, m->group, SPEC_LANES);
    m->grouped = count;
    m->used = 0;
    return count;
}

int melstream_next(MelStream *m, double *bins) {
    if (m->used == m->grouped && compute_group(m) == 0) return 0;
    for (int b = 0; b < m->bins; b++) bins[b] = m->group[(size_t)b * SPEC_LANES + m->used];
    m->used++;
    m->next++;
    return 1;
}
