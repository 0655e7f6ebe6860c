/* mkreport - one self-contained HTML report of a pipeline run (data, models, evaluations, scans), with
 * sound, plus its figures as PNG files. See mkreport(1). */
#define _POSIX_C_SOURCE 200809L
#include "core/error.h"
#include "formats/outfile.h"
#include "report/font.h"
#include "report/report.h"
#include "core/strlist.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: mkreport [options] -o REPORT.html [OUTDIR]\n"
    "       mkreport [options] OUTDIR\n"
    "Writes one self-contained HTML page (figures drawn with cairo, inlined as SVG; sound clips as Ogg Vorbis\n"
    "data: URIs) and the figures as PNG files:\n"
    "data overview (recordings per class and split, durations, sample rates and channels, one waveform\n"
    "and spectrogram per class), a comparison of the models, learning curves, confusion matrices and\n"
    "per-class scores, galleries of the least confident and of random test predictions, confidence per\n"
    "class, the misclassified samples, the settings, scan results, cross-validation and the recipe search. Clicking a gallery tile plays the\n"
    "clip the model heard, clicking a per-class example its recording, clicking a scan event the event.\n"
    "OUTDIR is a pipeline.mk output folder: every input not given by an option is looked for there\n"
    "(OUTDIR/split, OUTDIR/models/NAME.safetensors with NAME.history and OUTDIR/eval/NAME, OUTDIR/test.npy\n"
    "named by OUTDIR/split/test.tsv, OUTDIR/scan, OUTDIR/cv, OUTDIR/tune); the report goes to OUTDIR/report.html by default.\n"
    "\n"
    "  -o, --output FILE       the HTML page (default OUTDIR/report.html)\n"
    "      --figures DIR       where the PNG files go (default: the page's directory/figures)\n"
    "      --no-figures        write the page only\n"
    "      --title TEXT        the page's title (default 'audiocnn report', with OUTDIR's name)\n"
    "      --split DIR         splitset's output: classes.tsv, train.tsv, val.tsv, test.tsv (data overview;\n"
    "                          the recordings they list are opened to read their headers)\n"
    "      --skipped TSV       recordings left out of the data (path, reason; pipeline.mk's skipped.tsv):\n"
    "                          not opened, listed in the data overview (OUTDIR: OUTDIR/skipped.tsv)\n"
    "  -m, --model [NAME=]CHECKPOINT[,HISTORY[,EVALDIR]]\n"
    "                          a model (repeat for several, in table order): cnntrain's checkpoint, its\n"
    "                          --history PREFIX (PREFIX.tsv is read) and cnneval's -o DIR; an empty or\n"
    "                          missing field leaves that part out. NAME defaults to the checkpoint's name\n"
    "                          without .safetensors\n"
    "      --test DATA         the data the models were evaluated on (the stack .npy or manifest given to\n"
    "                          cnneval): the spectrograms of the galleries\n"
    "      --test-list TSV     names of the test samples, one row per sample in DATA's order (its path or\n"
    "                          source column): a split table or the manifest DATA was stacked from\n"
    "      --scan DIR          cnneval --scan -o DIR: scores.tsv, results.tsv, threshold, and with\n"
    "                          --annotations detection.tsv, detection-events.tsv (section left out\n"
    "                          when DIR has neither scores nor results)\n"
    "      --threshold T       the detection threshold drawn on score timelines (default: DIR/threshold)\n"
    "      --cv DIR            make cv's output (results.tsv, summary.tsv, paired.tsv, foldK/eval/MODEL/\n"
    "                          metrics.json): per model mean +- std over the folds, the per-fold scores, the\n"
    "                          confusion matrix pooled over the folds, the paired comparison (OUTDIR: OUTDIR/cv\n"
    "                          when it has summary.tsv)\n"
    "      --tune DIR          make tune's output (results.tsv, recipe.opts): the candidates by rank and the\n"
    "                          chosen recipe (OUTDIR: OUTDIR/tune when it has recipe.opts)\n"
    "      --gallery N         predictions per gallery (default 25; 0: no galleries)\n"
    "      --seed N            random gallery and jitter of strip plots (default 42)\n"
    "      --no-audio          no sound clips in the page\n"
    "      --scan-audio N      events per scanned recording that play when clicked (default 5; 0: none)\n"
    "  -q, --quiet             nothing on stderr but errors\n"
    "  -v, --verbose           a line per stage on stderr\n"
    "  -h, --help              this help\n"
    "Exit status: 0 written, 1 data or file error, 2 bad usage.\n";

enum { OPT_FIGURES = 256, OPT_NOFIG, OPT_TITLE, OPT_SPLIT, OPT_SKIPPED, OPT_TEST, OPT_TESTLIST, OPT_SCAN, OPT_THRESHOLD, OPT_GALLERY, OPT_SEED,
       OPT_NOAUDIO, OPT_SCANAUDIO, OPT_CV, OPT_TUNE };

static const struct option LONGOPTS[] = {
    {"output", 1, 0, 'o'}, {"figures", 1, 0, OPT_FIGURES}, {"no-figures", 0, 0, OPT_NOFIG}, {"title", 1, 0, OPT_TITLE},
    {"split", 1, 0, OPT_SPLIT}, {"skipped", 1, 0, OPT_SKIPPED}, {"model", 1, 0, 'm'}, {"test", 1, 0, OPT_TEST}, {"test-list", 1, 0, OPT_TESTLIST},
    {"scan", 1, 0, OPT_SCAN}, {"threshold", 1, 0, OPT_THRESHOLD}, {"gallery", 1, 0, OPT_GALLERY},
    {"seed", 1, 0, OPT_SEED}, {"no-audio", 0, 0, OPT_NOAUDIO}, {"scan-audio", 1, 0, OPT_SCANAUDIO}, {"cv", 1, 0, OPT_CV}, {"tune", 1, 0, OPT_TUNE}, {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};

static void usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "%s: error: ", diag_program());
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see --help)\n");
    exit(EXIT_USAGE);
}

/* An option's value that must be a whole number from 0 to max. */
static int count_arg(const char *opt, const char *arg, long max) {
    char *end, what[128];
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 0 || v > max) {
        snprintf(what, sizeof what, "%s %%s: not a number from 0 to %ld", opt, max);
        usage_error(what, arg);
    }
    return (int)v;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static StrList owned; /* strings the ReportConfig points to */

static char *keep(char *s) {
    if (!s || strlist_push(&owned, s) < 0) { diag_error("out of memory"); exit(EXIT_DATA); }
    return s;
}

static char *fmt2(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", a, b);
    return keep(s);
}

/* "[NAME=]CKPT[,HISTORY[,EVAL]]" */
static void parse_model(const char *arg, ReportModel *m) {
    char *s = keep(strdup(arg));
    char *eq = strchr(s, '='), *comma = strchr(s, ',');
    memset(m, 0, sizeof *m);
    if (eq && (!comma || eq < comma)) { *eq = '\0'; m->name = s; s = eq + 1; }
    char *f[3] = {s, NULL, NULL};
    for (int i = 1; i < 3; i++) {
        char *c = f[i - 1] ? strchr(f[i - 1], ',') : NULL;
        if (c) { *c = '\0'; f[i] = c + 1; }
    }
    if (f[2] && strchr(f[2], ',')) usage_error("--model %s: more than three fields", arg);
    if (!*f[0]) usage_error("--model %s: no checkpoint", arg);
    if (m->name && !*m->name) usage_error("--model %s: empty name", arg);
    m->ckpt = f[0];
    m->history = f[1] && *f[1] ? f[1] : NULL;
    m->eval = f[2] && *f[2] ? f[2] : NULL;
    if (!m->name) {
        const char *b = strrchr(m->ckpt, '/');
        char *n = keep(strdup(b ? b + 1 : m->ckpt));
        if (ends_with(n, ".safetensors")) n[strlen(n) - 12] = '\0';
        m->name = n;
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Models of a pipeline folder: OUTDIR/models/NAME.safetensors (not *.state.safetensors), sorted. */
static int discover_models(const char *outdir, ReportModel **models, int *n) {
    char *dir = fmt2(outdir, "/models");
    DIR *d = opendir(dir);
    if (!d) return 0;
    StrList names = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && ends_with(e->d_name, ".safetensors") && !ends_with(e->d_name, ".state.safetensors"))
            if (strlist_push(&names, strdup(e->d_name)) < 0) { closedir(d); strlist_free(&names); return -1; }
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof *names.v, cmp_str); /* v is NULL when empty */
    *models = calloc(names.n ? names.n : 1, sizeof **models);
    if (!*models) { strlist_free(&names); err_set("out of memory"); return -1; }
    for (size_t i = 0; i < names.n; i++) {
        ReportModel *m = &(*models)[i];
        char *name = keep(strdup(names.v[i]));
        name[strlen(name) - 12] = '\0';
        m->name = name;
        m->ckpt = fmt2(dir, fmt2("/", names.v[i]));
        char *hist = fmt2(dir, fmt2("/", fmt2(name, ".history")));
        if (file_exists(fmt2(hist, ".tsv"))) m->history = hist;
        char *ev = fmt2(outdir, fmt2("/eval/", name));
        if (file_exists(fmt2(ev, "/predictions.tsv"))) m->eval = ev;
    }
    *n = (int)names.n;
    strlist_free(&names);
    return 0;
}

static void progress(void *ctx, const char *what) {
    (void)ctx;
    fprintf(stderr, "mkreport: %s\n", what);
}

/* Paths written by this run, removed again if a later write fails. */
static StrList written, created;

static int on_created(const char *path, void *ctx) {
    (void)ctx;
    return strlist_push(&created, strdup(path));
}

static void roll_back(void) {
    for (size_t i = written.n; i-- > 0;) outfile_remove(written.v[i]);
    for (size_t i = created.n; i-- > 0;) rmdir(created.v[i]);
}

static int write_outputs(const Report *r, const char *out, const char *figdir) {
    const char *slash = strrchr(out, '/');
    if (slash && slash > out && mkdir_p(keep(strndup(out, (size_t)(slash - out))), on_created, NULL) < 0) return -1;
    if (figdir) {
        if (mkdir_p(figdir, on_created, NULL) < 0) return -1;
        for (int i = 0; i < r->nfigs; i++) {
            char *p = fmt2(figdir, fmt2("/", r->figs[i].file));
            OutFile o;
            if (outfile_open(&o, p) < 0) return -1;
            if (fwrite(r->figs[i].png, 1, r->figs[i].len, o.f) != r->figs[i].len) {
                outfile_abort(&o);
                err_set("%s: write error: %s", p, strerror(errno));
                return -1;
            }
            if (outfile_commit(&o) < 0) return -1;
            if (strlist_push(&written, strdup(p)) < 0) { unlink(p); return -1; }
        }
    }
    OutFile o;
    if (outfile_open(&o, out) < 0) return -1;
    if (fwrite(r->html.s, 1, r->html.len, o.f) != r->html.len) {
        outfile_abort(&o);
        err_set("%s: write error: %s", out, strerror(errno));
        return -1;
    }
    return outfile_commit(&o);
}

int main(int argc, char **argv) {
    diag_set_program("mkreport");
    outfile_install_cleanup();
    const char *out = NULL, *figdir = NULL, *title = NULL;
    int nofig = 0, quiet = 0, verbose = 0;
    ReportConfig c = {0};
    c.threshold = NAN;
    c.seed = 42;
    c.gallery = 25;
    c.audio = 1;
    c.scan_audio = 5;
    ReportModel *models = NULL;
    int nmodels = 0;
    int opt;
    opterr = 0; /* our own one-line messages */
    while ((opt = getopt_long(argc, argv, ":o:m:qvh", LONGOPTS, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'o': out = optarg; break;
        case OPT_FIGURES: figdir = optarg; break;
        case OPT_NOFIG: nofig = 1; break;
        case OPT_TITLE: title = optarg; break;
        case OPT_SPLIT: c.split_dir = optarg; break;
        case OPT_SKIPPED: c.skipped = optarg; break;
        case 'm': {
            ReportModel *nm = realloc(models, sizeof *nm * (size_t)(nmodels + 1));
            if (!nm) { diag_error("out of memory"); return EXIT_DATA; }
            models = nm;
            parse_model(optarg, &models[nmodels++]);
            break;
        }
        case OPT_TEST: c.test = optarg; break;
        case OPT_TESTLIST: c.test_list = optarg; break;
        case OPT_SCAN: c.scan_dir = optarg; break;
        case OPT_CV: c.cv_dir = optarg; break;
        case OPT_TUNE: c.tune_dir = optarg; break;
        case OPT_THRESHOLD:
            errno = 0;
            c.threshold = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(c.threshold >= 0 && c.threshold <= 1))
                usage_error("--threshold %s: not a number between 0 and 1", optarg);
            break;
        case OPT_GALLERY: c.gallery = count_arg("--gallery", optarg, 1000); break;
        case OPT_NOAUDIO: c.audio = 0; break;
        case OPT_SCANAUDIO: c.scan_audio = count_arg("--scan-audio", optarg, 10000); break;
        case OPT_SEED:
            errno = 0;
            c.seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') usage_error("--seed %s: not a non-negative integer", optarg);
            break;
        case 'q': quiet = 1; break;
        case 'v': verbose = 1; break;
        case 'h': fputs(USAGE, stdout); return fflush(stdout) == 0 ? EXIT_OK : EXIT_DATA;
        case ':': usage_error("%s: needs a value", argv[optind - 1]); break;
        default:
            if (optopt) { char o[3] = {'-', (char)optopt, 0}; usage_error("%s: unknown option", o); }
            usage_error("%s: unknown option", argv[optind - 1]);
        }
    }
    if (argc - optind > 1) usage_error("%s: at most one OUTDIR", argv[optind + 1]);
    const char *outdir = optind < argc ? argv[optind] : NULL;
    if (outdir) {
        struct stat st;
        if (stat(outdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            diag_error("%s: not a directory", outdir);
            return EXIT_DATA;
        }
        if (!c.split_dir && file_exists(fmt2(outdir, "/split/classes.tsv"))) c.split_dir = fmt2(outdir, "/split");
        if (!c.skipped && file_exists(fmt2(outdir, "/skipped.tsv"))) c.skipped = fmt2(outdir, "/skipped.tsv");
        if (!nmodels && discover_models(outdir, &models, &nmodels) < 0) { diag_error("%s", err_msg()); return EXIT_DATA; }
        if (!c.test && file_exists(fmt2(outdir, "/test.npy"))) {
            c.test = fmt2(outdir, "/test.npy");
            if (!c.test_list && file_exists(fmt2(outdir, "/split/test.tsv"))) c.test_list = fmt2(outdir, "/split/test.tsv");
        }
        if (!c.scan_dir && file_exists(fmt2(outdir, "/scan"))) c.scan_dir = fmt2(outdir, "/scan");
        if (!c.cv_dir && file_exists(fmt2(outdir, "/cv/summary.tsv"))) c.cv_dir = fmt2(outdir, "/cv");
        if (!c.tune_dir && file_exists(fmt2(outdir, "/tune/recipe.opts"))) c.tune_dir = fmt2(outdir, "/tune");
        if (!out) out = fmt2(outdir, "/report.html");
        if (!title) {
            char *t = keep(strdup(outdir));
            size_t l = strlen(t);
            while (l > 1 && t[l - 1] == '/') t[--l] = '\0';
            const char *b = strrchr(t, '/');
            title = fmt2("audiocnn report: ", b && b[1] ? b + 1 : t);
        }
    }
    if (!out) usage_error("%s", "no output: give -o REPORT.html or an OUTDIR");
    if (strcmp(out, "-") == 0) usage_error("%s", "-o -: the report is written to a file (its figures go beside it)");
    if (!c.split_dir && !nmodels && !c.scan_dir && !c.cv_dir && !c.tune_dir)
        usage_error("%s", "nothing to report: give OUTDIR, --split, --model, --scan, --cv or --tune");
    if (c.test_list && !c.test) usage_error("%s", "--test-list needs --test");
    c.title = title ? title : "audiocnn report";
    c.models = models;
    c.nmodels = nmodels;
    if (verbose && !quiet) c.progress = progress;
    if (!nofig && !figdir) {
        const char *slash = strrchr(out, '/');
        if (slash) {
            char *d = keep(strndup(out, (size_t)(slash - out + 1)));
            figdir = fmt2(d, "figures");
        } else {
            figdir = "figures";
        }
    }
    if (nofig) figdir = NULL;

    Report r;
    int rc = EXIT_OK;
    if (report_build(&c, &r) < 0) {
        diag_error("%s", err_msg());
        rc = EXIT_DATA;
    } else if (write_outputs(&r, out, figdir) < 0) {
        diag_error("%s", err_msg());
        roll_back();
        rc = EXIT_DATA;
    }
    font_release();
    if (rc != EXIT_OK) {
        report_free(&r);
        free(models);
        strlist_free(&owned);
        strlist_free(&written);
        strlist_free(&created);
        return rc;
    }
    if (!quiet)
        fprintf(stderr, "mkreport: %s: %d model%s, %d figures%s%s, %d sound clips\n", out, nmodels, nmodels == 1 ? "" : "s",
                r.nfigs, figdir ? " in " : "", figdir ? figdir : "", r.nclips);
    report_free(&r);
    free(models);
    strlist_free(&owned);
    strlist_free(&written);
    strlist_free(&created);
    return EXIT_OK;
}
