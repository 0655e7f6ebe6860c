/* split.h - train/validation/test splits of a labelled set of recordings: stratified, grouped, stable.
 *
 * A SplitSet is the list of files (path, class, optional group) that splitset reads from a folder of class
 * folders or from a TSV list; the steps below fill in each file's split. Call them in this order:
 *   split_load            files and classes (split_load_dir / split_load_tsv)
 *   split_group_regex     optional: groups from the file names (replaces a TSV group column)
 *   split_test_regex / split_test_list   optional: a fixed test set
 *   split_read_prior      optional: the splits of an earlier run, kept for groups still present
 *   split_assign          everything else, by the rule below
 *   split_write           train.tsv, val.tsv, test.tsv, classes.tsv (all four or none)
 *
 * Promises:
 * - Units are groups (all files with one group key, across classes) or, for a file without a group, the
 *   file alone; a unit never straddles two splits.
 * - Assignment: the target of split s for class c is ratio(s) * (files of class c). Units already placed
 *   (fixed test set, earlier run) count first; the others are visited in the order of a 64-bit hash of
 *   (seed, key), where key is the group key, or the file name's stem for a file without a group. So the
 *   order of two units never depends on which other files exist. Each goes to the split with the largest
 *   deficit, sum over the unit's classes of count * (target - assigned), among splits with a ratio > 0;
 *   ties go to train, then val, then test. With a fixed test set, test takes exactly that set and the
 *   rest is split by train:val.
 * - Stable: with split_read_prior, a unit any of whose files (by exact path) or whose group key appears in
 *   the earlier train/val/test.tsv keeps that split; only new units are placed by the rule. (A fixed test
 *   set still wins: its files go to test, and a unit earlier in test but no longer in the fixed set is
 *   placed anew in train/val.)
 * - Deterministic: same files, options and seed give the same bytes.
 * - Paths, labels and groups holding a tab, CR or newline are refused (a TSV cannot hold them).
 * Nothing here prints; warnings come back as data (SplitSet.skipped, split_test_list's count, SplitStats). */
#ifndef AUDIOCNN_SPLIT_H
#define AUDIOCNN_SPLIT_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

enum { SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2, SPLIT_N = 3 };
extern const char *const split_names[SPLIT_N]; /* "train", "val", "test" */

typedef struct SplitFile {
    char *path;
    int cls;        /* index into SplitSet.classes */
    char *group;    /* group key, or NULL: the file is a group of its own */
    int fixed_test; /* in the fixed test set */
    int prior;      /* bit mask (1 << split) of splits an earlier run put this file's unit in */
    int split;      /* SPLIT_*, or -1 before split_assign */
    int is_new;     /* placed by the rule, not kept from an earlier run */
    int fold;       /* 1..K after split_folds, 0 before */
    int prior_fold; /* the fold an earlier run put this file's unit in (split_read_prior_folds), 0: none */
} SplitFile;

typedef struct SplitSet {
    SplitFile *files;
    size_t n;
    char **classes; /* sorted bytewise; index = position */
    int nclasses;
    char **skipped; /* class folders without audio (split_load_dir) */
    size_t nskipped;
    char *input;    /* what was loaded, for messages */
    int grouped;    /* some file has a group */
    int fixed;      /* a fixed test set was given */
    int prior_read; /* an earlier run was found */
    char *prior_dir; /* where (split_read_prior), for messages */
} SplitSet;

/* A folder (class folders, see audiofiles.h) or a TSV with a header holding columns path and label, and
 * optionally group (an empty group value: the file is a group of its own); "-" reads the TSV from stdin.
 * Errors (-1, err_set naming the file): missing or unreadable input, no class folders, no audio files,
 * a TSV without path/label columns or rows, empty path or label, a path listed twice, tabs/newlines. */
int split_load(const char *input, SplitSet *s);
int split_load_dir(const char *dir, SplitSet *s);
int split_load_tsv(const char *path, SplitSet *s);
void split_free(SplitSet *s);

/* Compile a POSIX extended regular expression; -1 with err_set() naming OPTION when it is invalid. */
int split_regex_compile(regex_t *re, const char *pattern, const char *option);

/* Group of each file = first parenthesised capture of RE in the file's base name (the whole match when
 * RE has no group). A file that does not match, or gives an empty group, is an error naming it. */
int split_group_regex(SplitSet *s, const regex_t *re, const char *pattern);

/* Fixed test set: files whose base name matches RE. Returns the number of files marked. */
long split_test_regex(SplitSet *s, const regex_t *re);
/* Fixed test set from a list file ("-" = stdin): one path per line, or a TSV whose header has a "path"
 * column. Compared by base name (the part after the last '/'), so "a/b/x.wav" and "x.wav" both select
 * every file named x.wav. Returns the number of distinct list entries that match no file (0 if all do),
 * or -1 with err_set(); one of them is copied into EXAMPLE (cap bytes), for a warning. *marked gets the
 * number of files marked. */
long split_test_list(SplitSet *s, const char *path, char *example, size_t cap, long *marked);

/* Read OUTDIR/train.tsv, val.tsv, test.tsv if present (a missing folder or file is not an error; a
 * malformed one is). Sets each file's prior mask. Returns 1 if any file was read, 0 if none, -1. */
int split_read_prior(SplitSet *s, const char *outdir);

typedef struct SplitStats {
    long files[SPLIT_N], units[SPLIT_N], added[SPLIT_N]; /* added: files placed by the rule */
    long *per_class;                                      /* [class * SPLIT_N + split] */
} SplitStats;

/* ratios: non-negative, not all zero (with a fixed test set, train + val > 0). Fills every file's split.
 * Errors: a group both inside and outside the fixed test set, a group an earlier run put in two splits. */
int split_assign(SplitSet *s, const double ratios[SPLIT_N], uint64_t seed, SplitStats *st);
void split_stats_free(SplitStats *st);

/* "70/15/15" -> {70, 15, 15}: three non-negative finite numbers separated by '/'; -1 with err_set() if
 * malformed or all zero. Not normalised. */
int split_parse_ratios(const char *text, double ratios[SPLIT_N]);

/* The group column written for file i: its group key, or its base name without the extension. */
const char *split_group_of(const SplitSet *s, size_t i, char *buf, size_t cap);

/* ---- cross-validation folds ----
 * split_folds puts every unit into one of K folds by the rule of split_assign with K equal ratios:
 * units in the order of the seeded hash of their key, each to the fold with the largest deficit (sum
 * over the unit's files of target - assigned, target = the class's files / K), ties to the lowest fold;
 * so folds are stratified by class, a group never spans two folds, and a unit's fold never depends on
 * which other files exist. With split_read_prior_folds first, a unit an earlier run put in fold k <= K
 * keeps it (stable when recordings are added); a unit earlier in two folds is an error. per_fold (K
 * longs, may be NULL) gets the files per fold. */
int split_folds(SplitSet *s, int K, uint64_t seed, long *per_fold);
/* Read FILE (OUTDIR/folds.tsv of an earlier run) if it exists: sets prior_fold by path or group. */
int split_read_prior_folds(SplitSet *s, const char *file);
/* FILE: path label index group fold (1-based), rows sorted by path; through outfile. */
int split_write_folds(const SplitSet *s, const char *file);

/* The four lists of a split, written all or nothing (split_write's and splitset --windows'): open makes
 * OUTDIR (one level) when missing and opens OUTDIR/{train,val,test,classes}.tsv as temporary files
 * (o[SPLIT_TRAIN..SPLIT_TEST], classes at o[SPLIT_N]; a folder in the way of a list is refused before
 * anything is written); close with ok = 1 checks every stream for write errors and renames all four into
 * place, with ok = 0 (or after an error) removes them and a folder open made. Both return 0 or -1 with
 * err_set(). */
#include "formats/outfile.h"
typedef struct SplitLists {
    OutFile o[SPLIT_N + 1];
    int opened, created;
    const char *outdir;
} SplitLists;
int split_lists_open(SplitLists *l, const char *outdir);
int split_lists_close(SplitLists *l, int ok);
/* classes.tsv's body: "index name train val test" and a row per class of per_class[c * SPLIT_N + split]. */
void split_write_classes(FILE *f, char *const *names, int n, const long *per_class);

/* Write OUTDIR/{train,val,test}.tsv (path label index group, rows sorted by path) and classes.tsv
 * (index name train val test). OUTDIR is created (one level) when missing. All four files are written to
 * temporary files first and renamed into place only when all are complete; on error nothing is left
 * (a folder created here is removed again). */
int split_write(const SplitSet *s, const SplitStats *st, const char *outdir);

#endif
