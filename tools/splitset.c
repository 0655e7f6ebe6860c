/* splitset - split a labelled set of recordings into train/val/test lists (see man/splitset.1).
 * Thin: options here, the work in lib/split/split.c. */
#define _POSIX_C_SOURCE 200809L
#include "core/error.h"
#include "formats/outfile.h"
#include "audio/audio.h"
#include "split/split.h"
#include "split/windows.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: splitset [options] INPUT OUTDIR\n"
            "Split recordings into OUTDIR/train.tsv, val.tsv, test.tsv and classes.tsv, stratified by class,\n"
            "keeping groups together and earlier assignments in place.\n"
            "INPUT is a folder of class folders, or a TSV with columns path, label [, group] ('-' = stdin).\n"
            "\n"
            "  -r, --ratios T/V/T      train/val/test proportions (default 70/15/15; normalised, 0 allowed)\n"
            "  -g, --group REGEX       group = first (capture) of REGEX in the file name, e.g.\n"
            "                          '^[0-9]+_([a-z]+)_' (a group never straddles two splits)\n"
            "  -m, --test-match REGEX  files whose name matches REGEX are the test set\n"
            "  -t, --test-list FILE    files named in FILE (compared by base name) are the test set\n"
            "  -k, --folds K           K-fold cross-validation instead (2..30): OUTDIR/folds.tsv (path label\n"
            "                          index group fold) and for each fold k OUTDIR/foldk/ with test.tsv = fold k\n"
            "                          and train.tsv/val.tsv from the other folds by --ratios' train/val\n"
            "                          (its test part is ignored); stratified, groups whole, stable\n"
            "  -s, --seed N            seed of the order in which groups are placed (default 42)\n"
            "      --windows SECONDS   annotated long recordings -> labelled windows of SECONDS: INPUT is a\n"
            "                          TSV (recording, table [, group]) or a folder of recordings with their\n"
            "                          Raven tables X.Table.1.selections.txt; lists are path start end\n"
            "                          CLASS... group (0/1 per class), a recording never in two splits\n"
            "      --step SECONDS      with --windows: start of one window to the next (default: the length)\n"
            "      --overlap F         with --windows: windows overlap by F of their length (0 <= F < 1)\n"
            "      --min-overlap S     a selection labels a window it overlaps by >= S seconds\n"
            "      --min-fraction F    ... by >= F of the shorter of selection and window (default 0.5)\n"
            "      --band LOW:HIGH     only selections whose band meets LOW..HIGH Hz\n"
            "      --classes A,B,...   only these classes (other labels ignored)\n"
            "      --background NAME   windows without a label get class NAME (else a row of zeros)\n"
            "      --label-column COL  Raven's column holding the label (default Annotation)\n"
            "  -f, --fresh             ignore the splits an earlier run left in OUTDIR\n"
            "  -q, --quiet             no summary on stderr\n"
            "  -h, --help              this help\n"
            "\n"
            "Exit status: 0 ok, 1 data error, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg) {
    if (fmt) {
        fprintf(stderr, "%s: error: ", diag_program());
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
    usage(stderr);
    return EXIT_USAGE;
}

/* --folds K: the folds, then each fold's split (test = the fold, train/val from the others, each
 * kept where an earlier run put it), then folds.tsv last (written only when every fold's tables are). */
static int run_folds(SplitSet *s, int K, const double ratios_in[SPLIT_N], uint64_t seed, int fresh, int quiet,
                     const char *outdir) {
    double ratios[SPLIT_N] = {ratios_in[SPLIT_TRAIN], ratios_in[SPLIT_VAL], 0};
    long per_fold[30];
    size_t plen = strlen(outdir) + 32;
    char *path = malloc(plen);
    if (!path || mkdir_p(outdir, NULL, NULL) < 0) goto fail;
    snprintf(path, plen, "%s/folds.tsv", outdir);
    if (!fresh && split_read_prior_folds(s, path) < 0) goto fail;
    if (split_folds(s, K, seed, per_fold) < 0) goto fail;
    s->fixed = 1;
    for (int k = 1; k <= K; k++) {
        SplitStats st;
        memset(&st, 0, sizeof st);
        for (size_t i = 0; i < s->n; i++) {
            SplitFile *f = &s->files[i];
            f->fixed_test = f->fold == k;
            f->split = -1;
            f->prior = f->is_new = 0;
        }
        s->prior_read = 0;
        snprintf(path, plen, "%s/fold%d", outdir, k);
        if ((!fresh && split_read_prior(s, path) < 0) || split_assign(s, ratios, seed, &st) < 0 ||
            split_write(s, &st, path) < 0) {
            split_stats_free(&st);
            goto fail;
        }
        for (int c = 0; c < s->nclasses; c++)
            for (int sp = 0; sp < SPLIT_N; sp++)
                if ((ratios[sp] > 0 || sp == SPLIT_TEST) && st.per_class[c * SPLIT_N + sp] == 0)
                    diag_warn("fold %d: class '%s' has no files in %s", k, s->classes[c], split_names[sp]);
        if (!quiet)
            fprintf(stderr, "%s: fold %d: test %ld, train %ld, val %ld files\n", diag_program(), k, st.files[SPLIT_TEST],
                    st.files[SPLIT_TRAIN], st.files[SPLIT_VAL]);
        split_stats_free(&st);
    }
    snprintf(path, plen, "%s/folds.tsv", outdir);
    if (split_write_folds(s, path) < 0) goto fail;
    free(path);
    return EXIT_OK;
fail:
    diag_error("%s", err_msg());
    free(path);
    return EXIT_DATA;
}

static int parse_pos(const char *opt, const char *arg, double *v, double lo, int lo_open, double hi, int hi_open) {
    char *end;
    errno = 0;
    double d = strtod(arg, &end);
    if (!arg[0] || *end || errno || !isfinite(d) || (lo_open ? d <= lo : d < lo) || (hi_open ? d >= hi : d > hi)) {
        diag_error("%s: '%s' is not a number in %c%g, %g%c", opt, arg, lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
        return -1;
    }
    *v = d;
    return 0;
}

/* "a,b,c" -> a list of names (the string is modified) */
static int split_commas(char *text, char ***out, int *n) {
    int k = 1;
    for (char *p = text; *p; p++) k += *p == ',';
    char **v = calloc((size_t)k, sizeof *v);
    if (!v) return -1;
    int i = 0;
    for (char *p = text;;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        if (!*p) { free(v); return -1; }
        v[i++] = p;
        if (!c) break;
        p = c + 1;
    }
    *out = v;
    *n = i;
    return 0;
}

int main(int argc, char **argv) {
    outfile_install_cleanup();
    diag_set_program("splitset");
    const char *ratios_text = "70/15/15", *group_pat = NULL, *match_pat = NULL, *test_list = NULL;
    uint64_t seed = 42;
    int fresh = 0, quiet = 0, folds = 0;
    WinOptions wo;
    memset(&wo, 0, sizeof wo);
    wo.min_overlap = 0.5;
    wo.min_overlap_frac = 1;
    wo.duration = audio_header_seconds;
    double overlap = -1, step = 0;
    int min_given = 0, win_opts = 0;
    char *classes_text = NULL;
    static const struct option longopts[] = {
        {"ratios", required_argument, NULL, 'r'},     {"group", required_argument, NULL, 'g'},
        {"test-match", required_argument, NULL, 'm'}, {"test-list", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},       {"fresh", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},            {"help", no_argument, NULL, 'h'},
        {"folds", required_argument, NULL, 'k'},
        {"windows", required_argument, NULL, 1000},   {"step", required_argument, NULL, 1001},
        {"overlap", required_argument, NULL, 1002},   {"min-overlap", required_argument, NULL, 1003},
        {"min-fraction", required_argument, NULL, 1004}, {"band", required_argument, NULL, 1005},
        {"classes", required_argument, NULL, 1006},   {"background", required_argument, NULL, 1007},
        {"label-column", required_argument, NULL, 1008},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "r:g:m:t:s:k:fqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': ratios_text = optarg; break;
        case 'g': group_pat = optarg; break;
        case 'm': match_pat = optarg; break;
        case 't': test_list = optarg; break;
        case 's': {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!optarg[0] || *end || errno || optarg[0] == '-' || optarg[0] == '+' || optarg[0] == ' ') {
                diag_error("--seed: '%s' is not a non-negative integer", optarg);
                return EXIT_USAGE;
            }
            seed = v;
            break;
        }
        case 'f': fresh = 1; break;
        case 'k': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (!optarg[0] || *end || v < 2 || v > 30) {
                diag_error("--folds: '%s' is not a number of folds from 2 to 30", optarg);
                return EXIT_USAGE;
            }
            folds = (int)v;
            break;
        }
        case 'q': quiet = 1; break;
        case 1000: if (parse_pos("--windows", optarg, &wo.length, 0, 1, 1e9, 0)) return EXIT_USAGE; break;
        case 1001: win_opts = 1; if (parse_pos("--step", optarg, &step, 0, 1, 1e9, 0)) return EXIT_USAGE; break;
        case 1002: win_opts = 1; if (parse_pos("--overlap", optarg, &overlap, 0, 0, 1, 1)) return EXIT_USAGE; break;
        case 1003:
            win_opts = 1, min_given++, wo.min_overlap_frac = 0;
            if (parse_pos("--min-overlap", optarg, &wo.min_overlap, 0, 0, 1e9, 0)) return EXIT_USAGE;
            break;
        case 1004:
            win_opts = 1, min_given++, wo.min_overlap_frac = 1;
            if (parse_pos("--min-fraction", optarg, &wo.min_overlap, 0, 0, 1, 0)) return EXIT_USAGE;
            break;
        case 1005: {
            win_opts = 1;
            char *end, *end2;
            errno = 0;
            wo.band_lo = strtod(optarg, &end);
            if (end == optarg || *end != ':' || (wo.band_hi = strtod(end + 1, &end2), end2 == end + 1) || *end2 || errno ||
                !isfinite(wo.band_lo) || !isfinite(wo.band_hi) || wo.band_lo < 0 || wo.band_hi < wo.band_lo) {
                diag_error("--band: '%s' is not LOW:HIGH in Hz (0 <= LOW <= HIGH)", optarg);
                return EXIT_USAGE;
            }
            wo.band = 1;
            break;
        }
        case 1006: win_opts = 1; classes_text = optarg; break;
        case 1007:
            win_opts = 1, wo.background = optarg;
            if (!optarg[0]) { diag_error("--background: an empty class name"); return EXIT_USAGE; }
            break;
        case 1008: win_opts = 1, wo.label_col = optarg; break;
        case 'h': usage(stdout); return fflush(stdout) == 0 && !ferror(stdout) ? EXIT_OK : EXIT_DATA;
        default: return usage_error(NULL, NULL); /* getopt has said what was wrong */
        }
    }
    if (argc - optind != 2)
        return usage_error("expected INPUT and OUTDIR (%s)", argc - optind < 2 ? "too few arguments" : "too many arguments");
    const char *input = argv[optind], *outdir = argv[optind + 1];
    if (strcmp(outdir, "-") == 0) {
        diag_error("OUTDIR must be a folder, not '-'");
        return EXIT_USAGE;
    }
    if (test_list && strcmp(test_list, "-") == 0 && strcmp(input, "-") == 0) {
        diag_error("INPUT and --test-list cannot both be '-' (standard input)");
        return EXIT_USAGE;
    }

    double ratios[SPLIT_N];
    if (split_parse_ratios(ratios_text, ratios) < 0) {
        diag_error("%s", err_msg());
        return EXIT_USAGE;
    }
    if (folds && (match_pat || test_list)) {
        diag_error("--folds and a fixed test set (--test-match, --test-list) do not go together");
        return EXIT_USAGE;
    }
    if (folds && !(ratios[SPLIT_TRAIN] > 0)) {
        diag_error("--ratios: '%s': with --folds, train must be above zero", ratios_text);
        return EXIT_USAGE;
    }
    if ((match_pat || test_list) && !(ratios[SPLIT_TRAIN] > 0) && !(ratios[SPLIT_VAL] > 0)) {
        diag_error("--ratios: '%s': with a fixed test set, train and val cannot both be zero", ratios_text);
        return EXIT_USAGE;
    }
    if (win_opts && !(wo.length > 0)) {
        diag_error("--step, --overlap, --min-overlap, --min-fraction, --band, --classes, --background and --label-column need --windows");
        return EXIT_USAGE;
    }
    if (wo.length > 0) {
        if (folds || test_list) {
            diag_error("--windows does not go with %s", folds ? "--folds" : "--test-list");
            return EXIT_USAGE;
        }
        if (step > 0 && overlap >= 0) {
            diag_error("--step and --overlap do not go together");
            return EXIT_USAGE;
        }
        if (min_given > 1) {
            diag_error("--min-overlap and --min-fraction do not go together");
            return EXIT_USAGE;
        }
        wo.step = step > 0 ? step : overlap >= 0 ? wo.length * (1 - overlap) : wo.length;
        if (classes_text && split_commas(classes_text, &wo.keep, &wo.nkeep) < 0) {
            diag_error("--classes: '%s' is not a comma-separated list of names", classes_text);
            return EXIT_USAGE;
        }
    }
    regex_t group_re, match_re;
    if (group_pat && split_regex_compile(&group_re, group_pat, "--group") < 0) {
        diag_error("%s", err_msg());
        return EXIT_USAGE;
    }
    if (match_pat && split_regex_compile(&match_re, match_pat, "--test-match") < 0) {
        diag_error("%s", err_msg());
        if (group_pat) regfree(&group_re);
        return EXIT_USAGE;
    }

    int rc = EXIT_DATA;
    SplitSet s;
    SplitStats st;
    memset(&s, 0, sizeof s);
    memset(&st, 0, sizeof st);
    if (wo.length > 0) {
        memcpy(wo.ratios, ratios, sizeof ratios);
        wo.seed = seed;
        wo.fresh = fresh;
        wo.group_re = group_pat ? &group_re : NULL;
        wo.group_pat = group_pat;
        wo.test_re = match_pat ? &match_re : NULL;
        WinStats ws;
        if (windows_split(input, outdir, &wo, &ws) < 0) goto fail;
        for (int k = 0; k < ws.nclasses; k++)
            for (int sp = 0; sp < SPLIT_N; sp++)
                if ((sp == SPLIT_TEST && match_pat ? 1 : ratios[sp] > 0) && ws.per_class[k * SPLIT_N + sp] == 0)
                    diag_warn("class '%s' has no windows in %s", ws.classes[k], split_names[sp]);
        if (ws.short_recordings)
            diag_warn("%ld recording%s shorter than one window (no windows)", ws.short_recordings,
                      ws.short_recordings == 1 ? "" : "s");
        if (!quiet)
            for (int sp = 0; sp < SPLIT_N; sp++)
                fprintf(stderr, "%s: %s: %ld windows, %ld recording%s\n", diag_program(), split_names[sp], ws.windows[sp],
                        ws.recordings[sp], ws.recordings[sp] == 1 ? "" : "s");
        win_stats_free(&ws);
        rc = EXIT_OK;
        goto done;
    }
    if (split_load(input, &s) < 0) goto fail;
    for (size_t i = 0; i < s.nskipped; i++)
        diag_warn("%s/%s: no audio files; class skipped", input, s.skipped[i]);
    if (group_pat && split_group_regex(&s, &group_re, group_pat) < 0) goto fail;
    if (match_pat && split_test_regex(&s, &match_re) == 0)
        diag_warn("--test-match '%s' matches no file; the test set is empty", match_pat);
    if (test_list) {
        char example[300];
        long marked = 0, missing = split_test_list(&s, test_list, example, sizeof example, &marked);
        if (missing < 0) goto fail;
        const char *tl = strcmp(test_list, "-") == 0 ? "<stdin>" : test_list;
        if (missing > 0)
            diag_warn("%s: %ld name%s match%s no file (e.g. '%s')", tl, missing, missing == 1 ? "" : "s",
                      missing == 1 ? "es" : "", example);
        if (marked == 0 && !match_pat) diag_warn("%s: no file is named in it; the test set is empty", tl);
    }
    if (folds) {
        rc = run_folds(&s, folds, ratios, seed, fresh, quiet, outdir);
        goto done;
    }
    if (!fresh && split_read_prior(&s, outdir) < 0) goto fail;
    if (split_assign(&s, ratios, seed, &st) < 0) goto fail;
    if (split_write(&s, &st, outdir) < 0) goto fail;

    for (int k = 0; k < s.nclasses; k++)
        for (int sp = 0; sp < SPLIT_N; sp++) {
            int wanted = sp == SPLIT_TEST && s.fixed ? 1 : ratios[sp] > 0;
            if (wanted && st.per_class[k * SPLIT_N + sp] == 0)
                diag_warn("class '%s' has no files in %s", s.classes[k], split_names[sp]);
        }
    if (!quiet) {
        for (int sp = 0; sp < SPLIT_N; sp++) {
            char line[200];
            int n = snprintf(line, sizeof line, "%s: %s: %ld files", diag_program(), split_names[sp], st.files[sp]);
            if (s.grouped && n > 0 && (size_t)n < sizeof line)
                n += snprintf(line + n, sizeof line - (size_t)n, ", %ld group%s", st.units[sp], st.units[sp] == 1 ? "" : "s");
            if (s.prior_read && n > 0 && (size_t)n < sizeof line)
                snprintf(line + n, sizeof line - (size_t)n, " (%ld new)", st.added[sp]);
            fprintf(stderr, "%s\n", line);
        }
    }
    rc = EXIT_OK;
    goto done;
fail:
    diag_error("%s", err_msg());
done:
    split_stats_free(&st);
    split_free(&s);
    if (group_pat) regfree(&group_re);
    if (match_pat) regfree(&match_re);
    free(wo.keep);
    return rc;
}
