/* wav2mel - recordings to (mel) spectrograms as .npy, with a manifest. See wav2mel(1). */
#define _POSIX_C_SOURCE 200809L
#include "core/error.h"
#include "audio/audio.h"
#include "audio/frontend.h"
#include "audio/frontend_args.h"
#include "formats/manifest.h"
#include "formats/npy.h"
#include "formats/outfile.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "core/strlist.h"
#include "formats/tsv.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: wav2mel [options] IN... OUT        all spectrograms to OUT (.npy, or '-' for stdout), back to back\n"
    "       wav2mel [options] -o DIR IN...     one DIR/<name>.npy per spectrogram\n"
    "       wav2mel [options] --list FILE OUT  (or -o DIR) recordings listed in FILE\n"
    "IN is any file libsndfile reads (WAV, FLAC, OGG, MP3, ...) or '-' for stdin.\n"
    "\n"
    "Input and output:\n"
    "  -o, --outdir DIR        write DIR/<name>.npy per recording (DIR/<name>_NNNN.npy per window)\n"
    "  -l, --list FILE         read input paths from FILE ('-' = stdin): one per line, or a TSV with a\n"
    "                          'path' column (splitset's train.tsv); its label, index and group columns\n"
    "                          are carried into the manifest; with start and end columns (splitset\n"
    "                          --windows) each row's part [start, end) s is cut from its recording and\n"
    "                          the other columns (the classes) follow shape in the manifest\n"
    "  -m, --manifest FILE     write the manifest TSV (key npy source label index group start end shape)\n"
    "  -j, --jobs N            decode and transform on N threads (default 1); output bytes do not depend on N\n"
    "  -k, --keep-going        skip recordings that fail (warning each), exit 1 at the end if any failed\n"
    "  -q, --quiet             no progress line      -v, --verbose  a summary at the end\n"
    "\n"
    "Audio (defaults follow librosa.load):\n"
    "      --sr HZ             resample to HZ with soxr HQ (default 22050; 0 keeps each file's rate)\n"
    "      --trim DB           trim leading/trailing audio quieter than DB below the peak (librosa.effects.trim)\n"
    "      --duration SEC      pad with zeros or cut to SEC seconds\n"
    "      --segment SEC       cut into windows of SEC seconds, one spectrogram each\n"
    "      --overlap FRAC      fraction of a window shared with the next (default 0)\n"
    "\n"
    "Spectrogram (defaults follow librosa.feature.melspectrogram / torchaudio MelSpectrogram):\n"
    "      --kind mel|stft     mel spectrogram, or linear-frequency STFT power (default mel)\n"
    "      --n-fft N           FFT size (default 1024)\n"
    "      --hop N             hop length in samples (default 256)\n"
    "      --win-length N      periodic Hann window length, centred in n_fft (default n_fft)\n"
    "      --no-center         frames start at sample 0 instead of being centred\n"
    "      --pad reflect|constant   padding of centred frames at the edges (default reflect)\n"
    "      --n-mels N          mel bands (default 128)\n"
    "      --fmin HZ           lowest mel frequency (default 0)\n"
    "      --fmax HZ           highest mel frequency (default sr/2)\n"
    "      --mel-scale slaney|htk   (default slaney)\n"
    "      --mel-norm slaney|none   filter area normalisation (default slaney)\n"
    "      --power P           exponent of the magnitude: 2 power, 1 magnitude (default 2)\n"
    "      --scale db|log1p|linear  output scale (default db)\n"
    "      --amin X            floor before the logarithm (default 1e-10)\n"
    "      --ref 1|max|VALUE   dB reference: a value or the spectrogram's maximum (default 1)\n"
    "      --top-db DB         floor the dB output at max - DB (default none)\n"
    "\n"
    "  -h, --help              this help      --version   print the version\n"
    "Exit status: 0 success, 1 a recording or output failed, 2 bad usage.\n";

enum {
    OPT_SR = 256, OPT_TRIM, OPT_DURATION, OPT_SEGMENT, OPT_OVERLAP, OPT_KIND, OPT_NFFT, OPT_HOP, OPT_WIN,
    OPT_NOCENTER, OPT_PAD, OPT_NMELS, OPT_FMIN, OPT_FMAX, OPT_MELSCALE, OPT_MELNORM, OPT_POWER, OPT_SCALE,
    OPT_AMIN, OPT_REF, OPT_TOPDB, OPT_VERSION, OPT_INFO
};

static const struct option LONGOPTS[] = {
    {"outdir", required_argument, 0, 'o'}, {"list", required_argument, 0, 'l'},
    {"manifest", required_argument, 0, 'm'}, {"jobs", required_argument, 0, 'j'},
    {"keep-going", no_argument, 0, 'k'}, {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},
    {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, OPT_VERSION}, {"info", no_argument, 0, OPT_INFO},
    {"sr", required_argument, 0, OPT_SR}, {"trim", required_argument, 0, OPT_TRIM},
    {"duration", required_argument, 0, OPT_DURATION}, {"segment", required_argument, 0, OPT_SEGMENT},
    {"overlap", required_argument, 0, OPT_OVERLAP}, {"kind", required_argument, 0, OPT_KIND},
    {"n-fft", required_argument, 0, OPT_NFFT}, {"hop", required_argument, 0, OPT_HOP},
    {"win-length", required_argument, 0, OPT_WIN}, {"no-center", no_argument, 0, OPT_NOCENTER},
    {"pad", required_argument, 0, OPT_PAD}, {"n-mels", required_argument, 0, OPT_NMELS},
    {"fmin", required_argument, 0, OPT_FMIN}, {"fmax", required_argument, 0, OPT_FMAX},
    {"mel-scale", required_argument, 0, OPT_MELSCALE}, {"mel-norm", required_argument, 0, OPT_MELNORM},
    {"power", required_argument, 0, OPT_POWER}, {"scale", required_argument, 0, OPT_SCALE},
    {"amin", required_argument, 0, OPT_AMIN}, {"ref", required_argument, 0, OPT_REF},
    {"top-db", required_argument, 0, OPT_TOPDB}, {0, 0, 0, 0}};

static void usage_error(const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    diag_error("%s (see wav2mel --help)", msg);
    exit(EXIT_USAGE);
}

static double parse_num(const char *opt, const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) usage_error("bad number for %s", opt);
    return v;
}

static int parse_int(const char *opt, const char *s) {
    double v = parse_num(opt, s);
    if (v != (int)v) usage_error("%s needs an integer", opt);
    return (int)v;
}

/* One input recording, with what the list said about it. */
typedef struct {
    const char *path, *label, *group;
    long long index;
    char *key; /* output name stem */
    int has_range;     /* a windows list (splitset --windows): cut [start, end) out of the recording */
    double start, end;
    char *extra;       /* the list's other columns (the classes), tab-joined, carried into the manifest */
} Input;

typedef struct {
    FrontEnd fe;
    Input *in;
    int64_t n;
    Clips *res;
    int *rcs;
    char **errs;
    /* output */
    const char *outdir, *out;
    OutFile stream;
    int keep_going, failed;
    StrList written; /* files written in -o mode, for rollback */
    FILE *man;      /* manifest rows collected here, copied into place at the end */
    char *extra_names; /* the extra columns' names, tab-joined (NULL: none) */
    int64_t arrays;
    Progress *progress;
    /* windows lists: one PartReader per job, so that a recording's windows (consecutive rows, in time
     * order) are decoded in one pass; a batch takes the free reader left furthest along its recording */
    PartReader *readers;
    unsigned char *busy;
    int nreaders;
    pthread_mutex_t readers_lock;
} Run;

/* Work comes in batches of BATCH recordings (fixed by position, so outputs never depend on -j):
 * frontend_run_batch() resamples clips of one rate together. */
#define BATCH 16

static int64_t batch_len(const Run *r, int64_t b) {
    int64_t left = r->n - b * BATCH;
    return left < BATCH ? left : BATCH;
}

static int work(void *ctx, int64_t b) {
    Run *r = ctx;
    int64_t first = b * BATCH, k = batch_len(r, b);
    const char *paths[BATCH];
    int ranged = 0;
    for (int64_t i = 0; i < k; i++) {
        paths[i] = r->in[first + i].path;
        ranged |= r->in[first + i].has_range;
    }
    if (!ranged) {
        frontend_run_batch(&r->fe, paths, (int)k, r->res + first, r->rcs + first, r->errs + first);
    } else {
        pthread_mutex_lock(&r->readers_lock);
        int pick = -1, same = -1; /* any free reader; better, one furthest along this batch's recording */
        for (int j = 0; j < r->nreaders; j++) {
            const PartReader *pr = &r->readers[j];
            if (r->busy[j]) continue;
            if (pick < 0) pick = j;
            if (pr->path && strcmp(pr->path, r->in[first].path) == 0 && (same < 0 || pr->last_start > r->readers[same].last_start))
                same = j;
        }
        if (same >= 0) pick = same;
        r->busy[pick] = 1; /* as many readers as jobs: one is always free */
        pthread_mutex_unlock(&r->readers_lock);
        for (int64_t i = first; i < first + k; i++) {
            const Input *x = &r->in[i];
            r->rcs[i] = x->has_range ? frontend_run_range(&r->fe, &r->readers[pick], x->path, x->start, x->end, &r->res[i])
                                     : frontend_run(&r->fe, x->path, &r->res[i]);
            r->errs[i] = r->rcs[i] < 0 ? strdup(err_msg()) : NULL;
        }
        pthread_mutex_lock(&r->readers_lock);
        r->busy[pick] = 0;
        pthread_mutex_unlock(&r->readers_lock);
    }
    progress_add(r->progress, k);
    return 0;
}

/* A manifest row, then the list's extra columns (a windows list's classes) when there are any. */
static int write_row(FILE *man, const ManifestRow *row, const char *extra) {
    if (!extra) return manifest_write_row(man, row);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) { err_set("out of memory"); return -1; }
    int rc = manifest_write_row(m, row);
    if (fclose(m) != 0) rc = -1;
    if (rc == 0 && len > 0) {
        fwrite(text, 1, len - 1, man); /* without its newline */
        fprintf(man, "\t%s\n", extra);
    }
    free(text);
    return rc;
}

static int write_header(FILE *man, const char *extra_names) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) { err_set("out of memory"); return -1; }
    manifest_write_header(m);
    if (fclose(m) != 0 || len == 0) { free(text); err_set("out of memory"); return -1; }
    fwrite(text, 1, len - 1, man);
    if (extra_names) fprintf(man, "\t%s", extra_names);
    fputc('\n', man);
    free(text);
    return 0;
}

static int emit_one(Run *r, int64_t i, int rc) {
    Input *in = &r->in[i];
    Clips *c = &r->res[i];
    if (rc < 0) {
        if (!r->keep_going) {
            err_set("%s", r->errs[i]);
            return -1;
        }
        diag_warn("%s (skipped)", r->errs[i]);
        r->failed++;
        return 0;
    }
    for (int k = 0; k < c->n; k++) {
        char key[4096], npy[8192];
        if (r->fe.segment > 0) snprintf(key, sizeof key, "%s_%04d", in->key, k);
        else snprintf(key, sizeof key, "%s", in->key);
        const Tensor *t = &c->v[k].spec;
        if (r->outdir) {
            snprintf(npy, sizeof npy, "%s/%s.npy", r->outdir, key);
            if (npy_save(npy, t) < 0) return -1;
            if (strlist_push(&r->written, strdup(npy)) < 0) return -1;
        } else {
            snprintf(npy, sizeof npy, "%s", r->out);
            if (npy_write(r->stream.f, t) < 0) {
                err_prefix(strcmp(r->out, "-") == 0 ? "<stdout>" : r->out);
                return -1;
            }
        }
        r->arrays++;
        ManifestRow row = {.key = key, .npy = npy, .source = in->path, .label = in->label, .group = in->group,
                           .index = in->index, .start = c->v[k].start, .end = c->v[k].end, .ndim = t->ndim};
        memcpy(row.shape, t->shape, sizeof row.shape);
        if (r->man && write_row(r->man, &row, in->extra) < 0) {
            err_prefix(in->path);
            return -1;
        }
    }
    clips_free(c);
    return 0;
}

static int emit(void *ctx, int64_t b, int unused) {
    Run *r = ctx;
    for (int64_t i = b * BATCH; i < b * BATCH + batch_len(r, b); i++)
        if (emit_one(r, i, r->rcs[i]) < 0) return -1;
    return 0;
}

static char *stem_of(const char *path) {
    if (strcmp(path, "-") == 0) return strdup("stdin");
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *s = strdup(b);
    char *dot = strrchr(s, '.');
    if (dot && dot != s) *dot = 0;
    return s;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* --list: plain lines of paths, or a TSV with a header holding a 'path' column. */
static const char *const KNOWN_COLS[] = {"path", "label", "index", "group", "start", "end"};
static const char *const MANIFEST_COLS[] = {"key", "npy", "source", "shape"};

/* A number of seconds >= 0 filling the field. */
static int parse_seconds(const char *s, double *v) {
    char *e;
    errno = 0;
    *v = strtod(s, &e);
    return !*s || *e || errno || !isfinite(*v) || *v < 0 ? -1 : 0;
}

static int read_list(const char *file, Tsv *t, Input **in, int64_t *n, char **extra_names) {
    size_t len;
    char *text = read_whole_file(file, &len);
    if (!text) return -1;
    const char *name = strcmp(file, "-") == 0 ? "<stdin>" : file;
    char *nl = strchr(text, '\n');
    size_t firstlen = nl ? (size_t)(nl - text) : len;
    int is_tsv = memchr(text, '\t', firstlen) != NULL;
    int rc;
    if (is_tsv) {
        rc = tsv_parse(text, len, name, t);
    } else { /* give the plain list a header so one parser handles both */
        char *with = malloc(len + 6);
        if (!with) { free(text); err_set("out of memory"); return -1; }
        memcpy(with, "path\n", 5);
        memcpy(with + 5, text, len);
        rc = tsv_parse(with, len + 5, name, t);
        free(with);
    }
    free(text);
    if (rc < 0) return -1;
    int cp = tsv_col(t, "path"), cl = tsv_col(t, "label"), ci = tsv_col(t, "index"), cg = tsv_col(t, "group");
    if (cp < 0) {
        err_set("%s: a TSV list needs a 'path' column", name);
        return -1;
    }
    int cs = tsv_col(t, "start"), ce = tsv_col(t, "end");
    if ((cs < 0) != (ce < 0)) {
        err_set("%s: a windows list needs both 'start' and 'end' columns", name);
        return -1;
    }
    /* a windows list: the other columns (its classes) travel into the manifest */
    int *extra = calloc((size_t)t->ncols + 1, sizeof *extra), nextra = 0;
    if (!extra) { err_set("out of memory"); return -1; }
    if (cs >= 0)
        for (int j = 0; j < t->ncols; j++) {
            int known = 0;
            for (size_t k = 0; k < sizeof KNOWN_COLS / sizeof *KNOWN_COLS; k++) known |= strcmp(t->header[j], KNOWN_COLS[k]) == 0;
            if (known) continue;
            for (size_t k = 0; k < sizeof MANIFEST_COLS / sizeof *MANIFEST_COLS; k++)
                if (strcmp(t->header[j], MANIFEST_COLS[k]) == 0) {
                    err_set("%s: column '%s' would clash with the manifest's own", name, t->header[j]);
                    free(extra);
                    return -1;
                }
            extra[nextra++] = j;
        }
    if (nextra) {
        size_t sz = 1;
        for (int k = 0; k < nextra; k++) sz += strlen(t->header[extra[k]]) + 1;
        char *names = *extra_names = calloc(sz, 1);
        if (!names) { free(extra); err_set("out of memory"); return -1; }
        for (int k = 0; k < nextra; k++) {
            if (k) strcat(names, "\t");
            strcat(names, t->header[extra[k]]);
        }
    }
    /* realloc(p, 0) would free p: an empty list (a split without windows) adds nothing */
    Input *v = t->nrows ? realloc(*in, sizeof(Input) * (size_t)(*n + (int64_t)t->nrows)) : *in;
    if (!v && t->nrows) { free(extra); err_set("out of memory"); return -1; }
    *in = v;
    for (size_t i = 0; i < t->nrows; i++) {
        Input *x = &v[(*n)++];
        memset(x, 0, sizeof *x);
        x->path = t->rows[i][cp];
        x->label = cl >= 0 ? t->rows[i][cl] : "";
        x->group = cg >= 0 ? t->rows[i][cg] : "";
        x->index = ci >= 0 ? strtoll(t->rows[i][ci], NULL, 10) : -1;
        if (cs >= 0) {
            x->has_range = 1;
            if (parse_seconds(t->rows[i][cs], &x->start) || parse_seconds(t->rows[i][ce], &x->end) || x->end <= x->start) {
                err_set("%s: line %zu: bad window [%s, %s)", name, t->lineno[i], t->rows[i][cs], t->rows[i][ce]);
                free(extra);
                return -1;
            }
        }
        if (nextra) {
            size_t sz = 1;
            for (int k = 0; k < nextra; k++) sz += strlen(t->rows[i][extra[k]]) + 1;
            if (!(x->extra = calloc(sz, 1))) { free(extra); err_set("out of memory"); return -1; }
            for (int k = 0; k < nextra; k++) {
                if (k) strcat(x->extra, "\t");
                strcat(x->extra, t->rows[i][extra[k]]);
            }
        }
    }
    free(extra);
    return 0;
}

/* --info: each recording's length from its header (decoded and counted only where the header has none),
 * as TSV on stdout; the whole table is built first so that a failure prints nothing. */
static int print_info(const Input *in, int64_t n) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        err_set("out of memory");
        return -1;
    }
    fputs("path\tframes\tsample_rate\tchannels\tseconds\n", f);
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        AudioReader *a = audio_open_stream(in[i].path);
        if (!a) {
            rc = -1;
            break;
        }
        int64_t frames = audio_length_frames(a);
        if (frames < 0) rc = -1;
        double sr = audio_reader_rate(a);
        if (rc == 0) fprintf(f, "%s\t%lld\t%.15g\t%d\t%.6f\n", in[i].path, (long long)frames, sr, audio_reader_channels(a),
                             sr > 0 ? (double)frames / sr : 0.0);
        audio_close(a);
    }
    fclose(f);
    if (rc == 0 && (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)) {
        err_set("standard output: write failed");
        rc = -1;
    }
    free(text);
    return rc;
}

static int cmp_key(const void *a, const void *b) {
    return strcmp((*(const Input *const *)a)->key, (*(const Input *const *)b)->key);
}

int main(int argc, char **argv) {
    diag_set_program(argv[0]);
    outfile_install_cleanup();
    Run r;
    memset(&r, 0, sizeof r);
    frontend_init(&r.fe);
    const char *list = NULL, *manifest = NULL;
    int jobs = 1, verbosity = 0, info = 0;
    int c, longindex = -1;
    while ((c = getopt_long(argc, argv, "o:l:m:j:kqvh", LONGOPTS, &longindex)) != -1) {
        switch (c) {
        case 'o': r.outdir = optarg; break;
        case 'l': list = optarg; break;
        case 'm': manifest = optarg; break;
        case 'j': jobs = parse_int("--jobs", optarg); if (jobs < 1 || jobs > 256) usage_error("--jobs must be 1..256%s", ""); break;
        case 'k': r.keep_going = 1; break;
        case 'q': verbosity = -1; break;
        case 'v': verbosity = 1; break;
        case 'h': fputs(USAGE, stdout); return EXIT_OK;
        case OPT_VERSION: puts("wav2mel (audiocnn) 0.1"); return EXIT_OK;
        case OPT_INFO: info = 1; break;
        default:
            if (c >= OPT_SR && c < OPT_VERSION && longindex >= 0) { /* the front end's own options */
                if (frontend_option(&r.fe, LONGOPTS[longindex].name, optarg) < 0) {
                    diag_error("%s (see wav2mel --help)", err_msg());
                    return EXIT_USAGE;
                }
                break;
            }
            fputs(USAGE, stderr);
            return EXIT_USAGE;
        }
    }
    Tsv listtab;
    memset(&listtab, 0, sizeof listtab);
    Input *in = NULL;
    int64_t n = 0;
    OutFile man;
    memset(&man, 0, sizeof man);
    int status = EXIT_OK;
    if (frontend_validate(&r.fe) < 0) {
        diag_error("%s", err_msg());
        status = EXIT_USAGE;
        goto cleanup;
    }
    /* inputs and output */
    int npos = argc - optind;
    char **pos = argv + optind;
    if (!r.outdir && !info) {
        if (npos < 1) usage_error("missing OUT (a .npy file or '-')%s", "");
        r.out = pos[npos - 1];
        npos--;
        if (strcmp(r.out, "-") != 0 && !ends_with(r.out, ".npy"))
            usage_error("OUT must be '-' or end in .npy (got '%s'; use -o DIR for one file per recording)", r.out);
    }
    in = calloc((size_t)(npos ? npos : 1), sizeof(Input));
    for (int i = 0; i < npos; i++) {
        in[n].path = pos[i];
        in[n].label = in[n].group = "";
        in[n].index = -1;
        n++;
    }
    if (list && read_list(list, &listtab, &in, &n, &r.extra_names) < 0) {
        diag_error("%s", err_msg());
        { status = EXIT_DATA; goto cleanup; }
    }
    if (n == 0) usage_error("no input recordings%s", "");
    int stdin_uses = (list && strcmp(list, "-") == 0);
    for (int64_t i = 0; i < n; i++) {
        stdin_uses += strcmp(in[i].path, "-") == 0;
        in[i].key = stem_of(in[i].path);
        if (in[i].key && in[i].has_range) { /* a window: the stem and its start in milliseconds */
            size_t sz = strlen(in[i].key) + 32;
            char *k = malloc(sz);
            if (k) snprintf(k, sz, "%s_%06lld", in[i].key, llround(in[i].start * 1000));
            free(in[i].key);
            in[i].key = k;
        }
        if (!tsv_field_ok(in[i].path)) {
            diag_error("'%s': path contains a tab or newline", in[i].path);
            { status = EXIT_DATA; goto cleanup; }
        }
    }
    if (stdin_uses > 1) usage_error("stdin ('-') can be used only once%s", "");
    if (info) {
        status = print_info(in, n) < 0 ? EXIT_DATA : EXIT_OK;
        if (status != EXIT_OK) diag_error("%s", err_msg());
        goto cleanup;
    }
    if (r.outdir) { /* two recordings with one stem would overwrite each other */
        Input **order = malloc(sizeof(Input *) * (size_t)n);
        for (int64_t i = 0; i < n; i++) order[i] = &in[i];
        qsort(order, (size_t)n, sizeof *order, cmp_key);
        for (int64_t i = 1; i < n; i++)
            if (strcmp(order[i - 1]->key, order[i]->key) == 0) {
                diag_error("%s and %s would both write %s/%s.npy", order[i - 1]->path, order[i]->path, r.outdir, order[i]->key);
                free(order);
                status = EXIT_DATA;
                goto cleanup;
            }
        free(order);
        if (mkdir_p(r.outdir, NULL, NULL) < 0) {
            diag_error("%s", err_msg());
            status = EXIT_DATA;
            goto cleanup;
        }
    }
    r.in = in;
    r.n = n;
    r.res = calloc((size_t)n, sizeof(Clips));
    r.errs = calloc((size_t)n, sizeof(char *));
    r.rcs = calloc((size_t)n, sizeof(int));
    if (manifest) {
        if (outfile_open(&man, manifest) < 0) {
            diag_error("%s", err_msg());
            { status = EXIT_DATA; goto cleanup; }
        }
        r.man = man.f;
        write_header(r.man, r.extra_names);
    }
    if (!r.outdir && outfile_open(&r.stream, r.out) < 0) {
        diag_error("%s", err_msg());
        if (manifest) outfile_abort(&man);
        status = EXIT_DATA;
        goto cleanup;
    }
    r.nreaders = jobs;
    r.readers = calloc((size_t)jobs, sizeof *r.readers);
    r.busy = calloc((size_t)jobs, 1);
    if (!r.readers || !r.busy) {
        diag_error("out of memory");
        if (!r.outdir) outfile_abort(&r.stream);
        if (manifest) outfile_abort(&man);
        status = EXIT_DATA;
        goto cleanup;
    }
    pthread_mutex_init(&r.readers_lock, NULL);
    r.progress = progress_start("recordings", n, "", verbosity);
    int rc = parallel_map((n + BATCH - 1) / BATCH, jobs, 2 * jobs, work, emit, &r);
    pthread_mutex_destroy(&r.readers_lock);
    progress_finish(r.progress);
    if (rc == 0 && !r.outdir && outfile_commit(&r.stream) < 0) rc = -1;
    if (rc == 0 && manifest && outfile_commit(&man) < 0) rc = -1;
    if (rc < 0) {
        diag_error("%s", err_msg());
        if (!r.outdir && r.stream.f) outfile_abort(&r.stream);
        if (manifest && man.f) outfile_abort(&man);
        for (size_t i = 0; i < r.written.n; i++) outfile_remove(r.written.v[i]); /* no partial output */
        status = EXIT_DATA;
    } else if (r.failed) {
        diag_error("%d of %lld recordings failed", r.failed, (long long)n);
        status = EXIT_DATA;
    } else if (verbosity > 0) {
        fprintf(stderr, "wav2mel: %lld recordings, %lld spectrograms\n", (long long)n, (long long)r.arrays);
    }
cleanup:
    for (int j = 0; r.readers && j < r.nreaders; j++) part_reader_free(&r.readers[j]);
    free(r.readers);
    free(r.busy);
    for (int64_t i = 0; i < n; i++) {
        if (r.res) clips_free(&r.res[i]);
        if (r.errs) free(r.errs[i]);
        free(in[i].key);
        free(in[i].extra);
    }
    free(r.extra_names);
    strlist_free(&r.written);
    free(r.res);
    free(r.errs);
    free(r.rcs);
    free(in);
    tsv_free(&listtab);
    frontend_free(&r.fe);
    return status;
}
