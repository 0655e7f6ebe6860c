/* specnorm - normalise spectrograms and fit them to a fixed number of frames (see man/specnorm.1).
 * Options and reporting only; the work is in lib/audio/specnorm.c. */
#define _POSIX_C_SOURCE 200809L
#include "core/error.h"
#include "formats/manifest.h"
#include "formats/outfile.h"
#include "audio/specnorm.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: specnorm [options] IN OUT\n"
    "       specnorm [options] -m MANIFEST -o DIR [-M OUTMANIFEST]\n"
    "       specnorm [options] -m MANIFEST --stack OUT.npy [--labels LABELS.npy] [-M OUTMANIFEST]\n"
    "       specnorm --fit STATS.npy (-m MANIFEST | IN)\n"
    "\n"
    "Normalise float32 (1, F, T) spectrograms (.npy; a 2-D (F, T) array counts as (1, F, T)) and pad or\n"
    "crop them to a fixed number of frames. IN and OUT are .npy files or streams of arrays, '-' for\n"
    "stdin/stdout.\n"
    "\n"
    "Inputs and outputs:\n"
    "  -m, --manifest FILE     read the arrays listed in a manifest TSV instead of IN\n"
    "  -o, --outdir DIR        with -m: write each array to DIR/<key>.npy (DIR is created)\n"
    "      --stack FILE        with -m: write one (N, 1, F, T) float32 array\n"
    "      --labels FILE       with --stack: write the index column as int64 (N,)\n"
    "      --classes FILE      with --labels: multi-label targets instead, uint8 (N, K) from the\n"
    "                          manifest's 0/1 columns named in FILE's 'name' column (splitset's\n"
    "                          classes.tsv of a --windows split)\n"
    "  -M, --out-manifest FILE with -o or --stack: write a manifest describing the outputs\n"
    "      --fit FILE          compute per-band mean and std of the inputs, write them as a (2, F)\n"
    "                          float32 array and nothing else (fit on the training split only)\n"
    "\n"
    "Normalisation:\n"
    "      --mode MODE         sample (default): (x - mean) / (std + 1e-6) over the whole array;\n"
    "                          minmax: (x - min) / (max - min); stats: per band, with --stats;\n"
    "                          none: pad/crop only\n"
    "      --stats FILE        per-band statistics from --fit (implies --mode stats)\n"
    "\n"
    "Time axis (after normalisation):\n"
    "      --frames N          output frames (default 400; 0 keeps each array's length)\n"
    "      --crop HOW          longer arrays: start, centre (default) or random\n"
    "      --pad HOW           shorter arrays, padded at the end: zero (default) or edge\n"
    "      --seed N            seed for --crop random (default 42)\n"
    "\n"
    "  -q, --quiet             no progress line\n"
    "  -v, --verbose           a summary on stderr when done\n"
    "  -h, --help              this help\n"
    "\n"
    "Exit status: 0 ok, 1 data error, 2 usage error.\n";

enum { OPT_STACK = 256, OPT_LABELS, OPT_FIT, OPT_MODE, OPT_STATS, OPT_FRAMES, OPT_CROP, OPT_PAD, OPT_SEED, OPT_CLASSES };

static const struct option LONGOPTS[] = {
    {"manifest", required_argument, NULL, 'm'},
    {"outdir", required_argument, NULL, 'o'},
    {"stack", required_argument, NULL, OPT_STACK},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"classes", required_argument, NULL, OPT_CLASSES},
    {"out-manifest", required_argument, NULL, 'M'},
    {"fit", required_argument, NULL, OPT_FIT},
    {"mode", required_argument, NULL, OPT_MODE},
    {"stats", required_argument, NULL, OPT_STATS},
    {"frames", required_argument, NULL, OPT_FRAMES},
    {"crop", required_argument, NULL, OPT_CROP},
    {"pad", required_argument, NULL, OPT_PAD},
    {"seed", required_argument, NULL, OPT_SEED},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error("%s (see specnorm --help)", msg);
    return EXIT_USAGE;
}

/* Decimal integer in [0, max]. */
static int parse_u64(const char *s, unsigned long long max, unsigned long long *v) {
    if (!*s || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno || x > max) return -1;
    *v = x;
    return 0;
}

int main(int argc, char **argv) {
    diag_set_program("specnorm");
    outfile_install_cleanup();
    SpecnormConfig cfg;
    specnorm_config_default(&cfg);
    const char *manifest = NULL, *outdir = NULL, *stack = NULL, *labels = NULL, *outman = NULL, *fit = NULL, *classes = NULL;
    const char *stats = NULL;
    int mode_given = 0, verbosity = 0;
    unsigned long long v;

    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":m:o:M:qvh", LONGOPTS, NULL)) != -1) {
        switch (ch) {
        case 'm': manifest = optarg; break;
        case 'o': outdir = optarg; break;
        case OPT_STACK: stack = optarg; break;
        case OPT_LABELS: labels = optarg; break;
        case OPT_CLASSES: classes = optarg; break;
        case 'M': outman = optarg; break;
        case OPT_FIT: fit = optarg; break;
        case OPT_STATS: stats = optarg; break;
        case OPT_MODE:
            if (specnorm_mode_parse(optarg, &cfg.mode) < 0) return usage_error("%s", err_msg());
            mode_given = 1;
            break;
        case OPT_FRAMES:
            if (parse_u64(optarg, 10000000, &v) < 0)
                return usage_error("--frames needs a whole number from 0 to 10000000, not '%s'", optarg);
            cfg.frames = (int64_t)v;
            break;
        case OPT_CROP:
            if (specnorm_crop_parse(optarg, &cfg.crop) < 0) return usage_error("%s", err_msg());
            break;
        case OPT_PAD:
            if (specnorm_pad_parse(optarg, &cfg.pad) < 0) return usage_error("%s", err_msg());
            break;
        case OPT_SEED:
            if (parse_u64(optarg, UINT64_MAX, &v) < 0)
                return usage_error("--seed needs a non-negative whole number, not '%s'", optarg);
            cfg.seed = (uint64_t)v;
            break;
        case 'q': verbosity = -1; break;
        case 'v': verbosity = 1; break;
        case 'h':
            fputs(USAGE, stdout);
            return fflush(stdout) == 0 && !ferror(stdout) ? EXIT_OK : EXIT_DATA;
        case ':': return usage_error("option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt) return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    int npos = argc - optind;
    char **pos = argv + optind;

    /* which job, and are the options consistent with it */
    if (fit) {
        if (stats || mode_given) return usage_error("--fit computes statistics; it takes no --mode or --stats");
        if (outdir || stack || labels || outman || classes)
            return usage_error("--fit writes only the statistics file; it takes no -o, --stack, --labels or -M");
        if (manifest ? npos != 0 : npos != 1)
            return usage_error(manifest ? "--fit with -m takes no IN or OUT"
                                        : "--fit needs one input: IN or -m MANIFEST");
    } else if (manifest) {
        if (npos != 0) return usage_error("with -m, inputs come from the manifest; unexpected argument '%s'", pos[0]);
        if (!outdir == !stack) return usage_error("-m needs exactly one of -o DIR, --stack FILE or --fit FILE");
        if (outdir && !outdir[0]) return usage_error("-o needs a directory name");
        if (labels && !stack) return usage_error("--labels goes with --stack");
        if (classes && !labels) return usage_error("--classes goes with --labels");
        if (stack) {
            int dashes = !strcmp(stack, "-") + (labels && !strcmp(labels, "-")) + (outman && !strcmp(outman, "-"));
            if (dashes > 1) return usage_error("only one output can go to standard output");
            if ((labels && !strcmp(labels, stack)) || (outman && !strcmp(outman, stack)) ||
                (labels && outman && !strcmp(labels, outman)))
                return usage_error("--stack, --labels and -M must name different files");
        }
    } else {
        if (outdir || stack || labels || outman || classes)
            return usage_error("-o, --stack, --labels, --classes and -M need -m MANIFEST");
        if (npos != 2) return usage_error(npos < 2 ? "missing IN and OUT" : "too many arguments");
    }
    if (stats) {
        if (mode_given && cfg.mode != SPECNORM_STATS)
            return usage_error("--stats goes with --mode stats, not --mode %s", specnorm_mode_name(cfg.mode));
        cfg.mode = SPECNORM_STATS;
    } else if (cfg.mode == SPECNORM_STATS && !fit) {
        return usage_error("--mode stats needs --stats FILE (make one with --fit)");
    }

    SpecnormStats st = {0};
    Manifest m = {0};
    SpecnormReport rep;
    int rc = -1;
    if (stats) {
        if (specnorm_stats_load(stats, &st) < 0) goto out;
        cfg.stats = &st;
    }
    if (manifest && manifest_read(manifest, &m) < 0) goto out;
    const char *dest;
    if (fit) {
        rc = specnorm_fit(manifest ? &m : NULL, manifest ? NULL : pos[0], fit, verbosity, &rep);
        dest = fit;
    } else if (outdir) {
        rc = specnorm_to_dir(&cfg, &m, outdir, outman, verbosity, &rep);
        dest = outdir;
    } else if (stack) {
        if (classes) {
            Tsv ct = {0};
            int cn = -1;
            if (tsv_read(classes, &ct) == 0 && (cn = tsv_col(&ct, "name")) < 0)
                err_set("%s: no 'name' column (splitset's classes.tsv)", ct.name);
            else if (cn >= 0 && ct.nrows == 0)
                err_set("%s: no classes", ct.name), cn = -1;
            if (cn >= 0) {
                const char **names = calloc(ct.nrows, sizeof *names);
                if (!names) err_set("out of memory");
                for (size_t i = 0; names && i < ct.nrows; i++) names[i] = ct.rows[i][cn];
                rc = names ? specnorm_to_stack_targets(&cfg, &m, stack, labels, names, (int)ct.nrows, outman, verbosity, &rep) : -1;
                free(names);
            }
            tsv_free(&ct);
        } else {
            rc = specnorm_to_stack(&cfg, &m, stack, labels, outman, verbosity, &rep);
        }
        dest = stack;
    } else {
        rc = specnorm_stream(&cfg, pos[0], pos[1], &rep);
        dest = pos[1];
    }
    if (rc == 0 && verbosity > 0) {
        if (fit)
            fprintf(stderr, "specnorm: statistics of %lld mel bands over %lld arrays (%lld frames) -> %s\n",
                    (long long)rep.f, (long long)rep.arrays, (long long)rep.frames, dest);
        else
            fprintf(stderr,
                    "specnorm: %lld arrays (%lld cropped, %lld padded), mode %s -> %s, last shape 1x%lldx%lld\n",
                    (long long)rep.arrays, (long long)rep.cropped, (long long)rep.padded, specnorm_mode_name(cfg.mode),
                    strcmp(dest, "-") ? dest : "<stdout>", (long long)rep.f, (long long)rep.frames);
    }
out:
    if (rc < 0) diag_error("%s", err_msg());
    manifest_free(&m);
    specnorm_stats_free(&st);
    return rc < 0 ? EXIT_DATA : EXIT_OK;
}
