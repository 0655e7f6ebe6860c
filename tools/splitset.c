/* splitset - split a labelled set of recordings into train/val/test lists (see man/splitset.1).
 * Thin: options here, the work in lib/split/split.c. */
#define _POSIX_C_SOURCE 200809L
#include "core/error.h"
#include "formats/outfile.h"
#include "split/split.h"

#include <errno.h>
#include <getopt.h>
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

int main(int argc, char **argv) {
    outfile_install_cleanup();
    diag_set_program("splitset");
    const char *ratios_text = "70/15/15", *group_pat = NULL, *match_pat = NULL, *test_list = NULL;
    uint64_t seed = 42;
    int fresh = 0, quiet = 0, folds = 0;
    static const struct option longopts[] = {
        {"ratios", required_argument, NULL, 'r'},     {"group", required_argument, NULL, 'g'},
        {"test-match", required_argument, NULL, 'm'}, {"test-list", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},       {"fresh", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},            {"help", no_argument, NULL, 'h'},
        {"folds", required_argument, NULL, 'k'},
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
    return rc;
}
