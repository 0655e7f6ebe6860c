/* partreader.c - parts of a long recording in one forward pass (see partreader.h). */
#include "audio/partreader.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void part_reader_init(PartReader *p) { memset(p, 0, sizeof *p); }

static void close_current(PartReader *p) {
    if (p->r) audio_close(p->r);
    free(p->path);
    p->r = NULL;
    p->path = NULL;
    p->buf_start = p->buf_len = 0;
}

void part_reader_free(PartReader *p) {
    close_current(p);
    free(p->buf);
    memset(p, 0, sizeof *p);
}

/* Room for n samples in the buffer. */
static int reserve(PartReader *p, int64_t n, const char *name) {
    if (n <= p->cap) return 0;
    int64_t cap = p->cap ? p->cap : 65536;
    while (cap < n) cap *= 2;
    float *b = realloc(p->buf, sizeof(float) * (size_t)cap);
    if (!b) {
        err_set("%s: out of memory", name);
        return -1;
    }
    p->buf = b;
    p->cap = cap;
    return 0;
}

int part_read(PartReader *p, const char *path, const char *name, double start, double end, const float **x,
              int64_t *n, double *rate, int *channels) {
    if (!(start >= 0) || !(end > start) || !isfinite(end)) {
        err_set("%s: bad part [%g, %g) s", name, start, end);
        return -1;
    }
    if (!p->path || strcmp(p->path, path) != 0 || !p->r) {
        close_current(p);
        if (!(p->path = strdup(path))) {
            err_set("%s: out of memory", name);
            return -1;
        }
        if (!(p->r = audio_open_stream(path))) {
            close_current(p);
            return -1;
        }
        p->rate = audio_reader_rate(p->r);
        p->channels = audio_reader_channels(p->r);
        p->total = audio_reader_frames(p->r);
        p->last_start = 0;
    }
    int64_t s0 = (int64_t)llround(start * p->rate), s1 = (int64_t)llround(end * p->rate);
    if (s0 < p->last_start) { /* before the previous part: from the start again */
        char *keep = strdup(path);
        if (!keep) {
            err_set("%s: out of memory", name);
            return -1;
        }
        close_current(p);
        int rc = part_read(p, keep, name, start, end, x, n, rate, channels);
        free(keep);
        return rc;
    }
    p->last_start = s0;
    if (p->total >= 0 && s1 > p->total) {
        if ((double)(s1 - p->total) > 0.001 * p->rate) {
            err_set("%s: part [%g, %g) s ends past the recording's end (%g s)", name, start, end, (double)p->total / p->rate);
            return -1;
        }
        s1 = p->total;
    }
    if (s1 <= s0) {
        err_set("%s: part [%g, %g) s holds no samples", name, start, end);
        return -1;
    }
    /* drop what lies before s0: shift the kept overlap down, or skip the gap by decoding */
    int64_t buf_end = p->buf_start + p->buf_len;
    if (s0 >= buf_end) {
        if (reserve(p, 65536, name) < 0) return -1;
        while (buf_end < s0) { /* decoded and dropped: the same samples whatever the format */
            int64_t want = s0 - buf_end < 65536 ? s0 - buf_end : 65536;
            int64_t k = audio_read_mono(p->r, p->buf, want);
            if (k < 0) {
                close_current(p);
                return -1;
            }
            if (k == 0) break;
            buf_end += k;
        }
        p->buf_start = buf_end;
        p->buf_len = 0;
    } else if (s0 > p->buf_start) {
        int64_t drop = s0 - p->buf_start;
        memmove(p->buf, p->buf + drop, sizeof(float) * (size_t)(p->buf_len - drop));
        p->buf_len -= drop;
        p->buf_start = s0;
    }
    /* then decode on up to s1 */
    if (reserve(p, s1 - p->buf_start, name) < 0) return -1;
    while (p->buf_start + p->buf_len < s1) {
        int64_t k = audio_read_mono(p->r, p->buf + p->buf_len, s1 - p->buf_start - p->buf_len);
        if (k < 0) {
            close_current(p);
            return -1;
        }
        if (k == 0) break;
        p->buf_len += k;
    }
    int64_t got = p->buf_start + p->buf_len - s0; /* < 0: the recording ended before s0 */
    if (got > s1 - s0) got = s1 - s0;
    if (got < s1 - s0 && (got <= 0 || (double)(s1 - s0 - got) > 0.001 * p->rate)) {
        err_set("%s: part [%g, %g) s ends past the recording's end (%g s)", name, start, end,
                (double)(s0 + (got > 0 ? got : 0)) / p->rate);
        return -1;
    }
    *x = p->buf;
    *n = got;
    *rate = p->rate;
    *channels = p->channels;
    return 0;
}
