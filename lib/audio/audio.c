#define _POSIX_C_SOURCE 200809L
#include "audio/audio.h"

#include "core/error.h"
#include "formats/tsv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define IN_MEMORY_MAX (64 << 20) /* bytes */
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In-memory virtual file for stdin: libsndfile needs to seek to sniff most formats. */
typedef struct {
    unsigned char *data;
    sf_count_t len, pos;
} MemFile;

static sf_count_t mem_len(void *u) { return ((MemFile *)u)->len; }
static sf_count_t mem_seek(sf_count_t off, int whence, void *u) {
    MemFile *m = u;
    sf_count_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->len + off;
    if (p < 0 || p > m->len) return -1;
    return m->pos = p;
}
static sf_count_t mem_read(void *ptr, sf_count_t count, void *u) {
    MemFile *m = u;
    if (count > m->len - m->pos) count = m->len - m->pos;
    if (count <= 0) return 0;
    memcpy(ptr, m->data + m->pos, (size_t)count);
    m->pos += count;
    return count;
}
static sf_count_t mem_write(const void *ptr, sf_count_t count, void *u) { return 0; }
static sf_count_t mem_tell(void *u) { return ((MemFile *)u)->pos; }

struct AudioReader {
    SNDFILE *sf;
    SF_INFO info;
    MemFile mem;
    char *name;
    float *ibuf; /* interleaved scratch */
    int64_t ibuf_frames;
    int64_t read_total;
};

static const char *major_name(int fmt) {
    switch (fmt & SF_FORMAT_TYPEMASK) {
    case SF_FORMAT_WAV: return "WAV";
    case SF_FORMAT_WAVEX: return "WAVEX";
    case SF_FORMAT_AIFF: return "AIFF";
    case SF_FORMAT_AU: return "AU";
    case SF_FORMAT_FLAC: return "FLAC";
    case SF_FORMAT_OGG: return "OGG";
    case SF_FORMAT_W64: return "W64";
    case SF_FORMAT_RF64: return "RF64";
    case SF_FORMAT_CAF: return "CAF";
#ifdef SF_FORMAT_MPEG
    case SF_FORMAT_MPEG: return "MPEG";
#endif
    default: return "audio";
    }
}

/* Common to files, stdin and memory: open the decoder and vet the header. */
static AudioReader *finish_open(AudioReader *r) {
    if (r->mem.data) {
        SF_VIRTUAL_IO vio = {mem_len, mem_seek, mem_read, mem_write, mem_tell};
        r->sf = sf_open_virtual(&vio, SFM_READ, &r->info, &r->mem);
    }
    if (!r->sf) {
        const char *why = sf_strerror(NULL);
        err_set("%s: not a readable audio file (%s)", r->name, why);
        audio_close(r);
        return NULL;
    }
    /* libsndfile quietly shortens a WAV/AIFF whose data chunk runs past the end of the file; its log
     * says "data : N (should be M)". Size fields of 0 or near 4 GiB are the placeholders that writers
     * on a pipe leave (sox: "length in output header will be wrong"), not truncation. */
    char log[8192];
    sf_command(r->sf, SFC_GET_LOG_INFO, log, sizeof log);
    const char *d = strstr(log, "\ndata : ");
    if (!d) d = strstr(log, "\nSSND : ");
    const char *line_end = d ? strchr(d + 1, '\n') : NULL, *should = d ? strstr(d, "(should be") : NULL;
    if (should && (!line_end || should < line_end)) {
        long long declared = strtoll(d + 8, NULL, 10);
        if (declared > 0 && declared < 0x7ffff000LL) {
            err_set("%s: truncated audio: the header promises %lld data bytes, the file is shorter", r->name, declared);
            audio_close(r);
            return NULL;
        }
    }
    if (r->info.channels < 1 || r->info.samplerate < 1) {
        err_set("%s: bad audio header (%d channels, %d Hz)", r->name, r->info.channels, r->info.samplerate);
        audio_close(r);
        return NULL;
    }
    return r;
}

static AudioReader *open_file(const char *path, off_t in_memory_max) {
    AudioReader *r = calloc(1, sizeof *r);
    if (!r) {
        err_set("%s: out of memory", path);
        return NULL;
    }
    int is_stdin = strcmp(path, "-") == 0;
    r->name = strdup(is_stdin ? "<stdin>" : path);
    /* Small files are read with one system call and decoded from memory; libsndfile's many small
     * reads and seeks on a file cost more than decoding a short clip. Long recordings stream. */
    if (is_stdin) {
        size_t len;
        char *buf = read_whole_file("-", &len);
        if (!buf) { audio_close(r); return NULL; }
        r->mem.data = (unsigned char *)buf;
        r->mem.len = (sf_count_t)len;
        if (len == 0) {
            err_set("<stdin>: empty input");
            audio_close(r);
            return NULL;
        }
    } else {
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            err_set("%s: cannot open: %s", path, strerror(errno));
            if (fd >= 0) close(fd);
            audio_close(r);
            return NULL;
        }
        if (S_ISDIR(st.st_mode)) {
            err_set("%s: is a directory", path);
            close(fd);
            audio_close(r);
            return NULL;
        }
        if (S_ISREG(st.st_mode) && st.st_size == 0) {
            err_set("%s: empty file", path);
            close(fd);
            audio_close(r);
            return NULL;
        }
        if (S_ISREG(st.st_mode) && st.st_size <= in_memory_max) {
            r->mem.data = malloc((size_t)st.st_size);
            ssize_t got = 0;
            while (r->mem.data && got < st.st_size) {
                ssize_t k = read(fd, r->mem.data + got, (size_t)(st.st_size - got));
                if (k <= 0) break;
                got += k;
            }
            close(fd);
            if (!r->mem.data || got != st.st_size) {
                err_set("%s: read error: %s", path, r->mem.data ? strerror(errno) : "out of memory");
                audio_close(r);
                return NULL;
            }
            r->mem.len = got;
        } else {
            close(fd);
            r->sf = sf_open(path, SFM_READ, &r->info);
        }
    }
    return finish_open(r);
}

AudioReader *audio_open(const char *path) { return open_file(path, IN_MEMORY_MAX); }
AudioReader *audio_open_stream(const char *path) { return open_file(path, 0); }

double audio_reader_rate(const AudioReader *r) { return r->info.samplerate; }
int audio_reader_channels(const AudioReader *r) { return r->info.channels; }

int64_t audio_length_frames(AudioReader *r) {
    int64_t frames = audio_reader_frames(r);
    if (frames >= 0) return frames;
    float buf[4096];
    int64_t got;
    frames = 0;
    while ((got = audio_read_mono(r, buf, 4096)) > 0) frames += got;
    return got < 0 ? -1 : frames;
}
int64_t audio_reader_frames(const AudioReader *r) {
    /* libsndfile reports SF_COUNT_MAX for streams of unknown length */
    return r->info.frames >= 0 && r->info.frames < (sf_count_t)1 << 60 ? r->info.frames : -1;
}

int64_t audio_read_mono(AudioReader *r, float *out, int64_t n) {
    int ch = r->info.channels;
    float *dst = out;
    if (ch > 1) {
        if (r->ibuf_frames < n) {
            float *nb = realloc(r->ibuf, sizeof(float) * (size_t)n * (size_t)ch);
            if (!nb) {
                err_set("%s: out of memory", r->name);
                return -1;
            }
            r->ibuf = nb;
            r->ibuf_frames = n;
        }
        dst = r->ibuf;
    }
    sf_count_t got = sf_readf_float(r->sf, dst, n);
    if (got < 0 || sf_error(r->sf) != SF_ERR_NO_ERROR) {
        err_set("%s: decoding error: %s", r->name, sf_strerror(r->sf));
        return -1;
    }
    for (sf_count_t i = 0; i < got; i++) {
        float v;
        if (ch == 1) {
            v = dst[i];
        } else { /* mean of the channels in float32, as librosa.to_mono (np.mean) gives it */
            float s = 0;
            for (int c = 0; c < ch; c++) s += dst[i * ch + c];
            v = s / (float)ch;
        }
        if (!isfinite(v)) {
            err_set("%s: sample %lld is NaN or infinite", r->name, (long long)(r->read_total + i));
            return -1;
        }
        out[i] = v;
    }
    r->read_total += got;
    return got;
}

AudioReader *audio_open_memory(const void *data, size_t len, const char *name) {
    AudioReader *r = calloc(1, sizeof *r);
    if (!r) {
        err_set("%s: out of memory", name);
        return NULL;
    }
    r->name = strdup(name);
    r->mem.data = malloc(len ? len : 1);
    if (!r->mem.data) {
        err_set("%s: out of memory", name);
        audio_close(r);
        return NULL;
    }
    memcpy(r->mem.data, data, len);
    r->mem.len = (sf_count_t)len;
    if (len == 0) {
        err_set("%s: empty input", name);
        audio_close(r);
        return NULL;
    }
    return finish_open(r);
}

void audio_close(AudioReader *r) {
    if (!r) return;
    if (r->sf) sf_close(r->sf);
    free(r->mem.data);
    free(r->ibuf);
    free(r->name);
    free(r);
}

int audio_load(const char *path, Audio *a) {
    memset(a, 0, sizeof *a);
    AudioReader *r = audio_open(path);
    if (!r) return -1;
    a->sr = audio_reader_rate(r);
    a->channels = audio_reader_channels(r);
    snprintf(a->format, sizeof a->format, "%s", major_name(r->info.format));
    int64_t declared = audio_reader_frames(r);
    int64_t cap = declared > 0 ? declared : 1 << 16, n = 0;
    float *x = malloc(sizeof(float) * (size_t)cap);
    for (;;) {
        if (!x) {
            err_set("%s: out of memory", r->name);
            audio_close(r);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            float *nx = realloc(x, sizeof(float) * (size_t)cap);
            if (!nx) { free(x); x = NULL; continue; }
            x = nx;
        }
        int64_t got = audio_read_mono(r, x + n, cap - n);
        if (got < 0) {
            free(x);
            audio_close(r);
            return -1;
        }
        if (got == 0) break;
        n += got;
    }
    if (declared > 0 && n < declared) {
        err_set("%s: truncated audio: the header promises %lld frames, the file holds %lld", r->name,
                (long long)declared, (long long)n);
        free(x);
        audio_close(r);
        return -1;
    }
    if (n == 0) {
        err_set("%s: no audio samples (empty recording)", r->name);
        free(x);
        audio_close(r);
        return -1;
    }
    audio_close(r);
    a->x = x;
    a->n = n;
    return 0;
}

void audio_free(Audio *a) {
    free(a->x);
    memset(a, 0, sizeof *a);
}

double audio_header_seconds(const char *path) {
    AudioReader *r = audio_open_stream(path);
    if (!r) return -1;
    int64_t n = audio_reader_frames(r);
    double sr = audio_reader_rate(r);
    audio_close(r);
    if (n < 0 || !(sr > 0)) {
        err_set("%s: the header does not give the recording's length", path);
        return -1;
    }
    return (double)n / sr;
}
