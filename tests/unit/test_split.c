/* Splits: ratio parsing, audio extensions, the assignment rule. */
#include "split/audiofiles.h"
#include "check.h"
#include "core/error.h"
#include "split/split.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Load a TSV given as text through a temporary file. */
static int load_text(const char *text, SplitSet *s) {
    char path[] = "/tmp/audiocnn-test-split-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    close(fd);
    int rc = ok ? split_load_tsv(path, s) : -1;
    unlink(path);
    return rc;
}

/* N files per class for K classes; file i of class c in group g(i) when groups > 0 */
static char *make_list(int K, int N, int groups) {
    size_t cap = (size_t)K * (size_t)N * 64 + 64, k = 0;
    char *t = malloc(cap);
    k += (size_t)snprintf(t + k, cap - k, "path\tlabel\tgroup\n");
    for (int c = 0; c < K; c++)
        for (int i = 0; i < N; i++) {
            if (groups) k += (size_t)snprintf(t + k, cap - k, "c%d/f%d.wav\tc%d\tg%d\n", c, i, c, i % groups);
            else k += (size_t)snprintf(t + k, cap - k, "c%d/f%d.wav\tc%d\t\n", c, i, c);
        }
    return t;
}

int main(void) {
    CHECK(audio_name_ok("a.wav") && audio_name_ok("B.WAV") && audio_name_ok("x.Rf64") && audio_name_ok("y.aifc") &&
              audio_name_ok("z.opus"),
          "audio extensions, any case");
    CHECK(!audio_name_ok("a.txt") && !audio_name_ok("wav") && !audio_name_ok("a.wav.bak") && !audio_name_ok(".wav") &&
              !audio_name_ok("a.wa"),
          "other names refused");

    double r[SPLIT_N];
    CHECK(split_parse_ratios("70/15/15", r) == 0 && r[0] == 70 && r[1] == 15 && r[2] == 15, "ratios 70/15/15");
    CHECK(split_parse_ratios("0.8/0.2/0", r) == 0 && r[2] == 0, "ratios with a zero");
    CHECK(split_parse_ratios("0/0/0", r) < 0 && strstr(err_msg(), "all zero"), "all-zero ratios refused");
    const char *bad[] = {"1/2", "1/2/3/4", "-1/2/3", "1/-2/3", "nan/1/1", "inf/1/1", "1/ 2/3", "", "a/b/c", "1//2", "1/2/3x"};
    int nbad = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) nbad += split_parse_ratios(bad[i], r) < 0;
    CHECK(nbad == (int)(sizeof bad / sizeof bad[0]), "malformed ratios refused (%d of %zu)", nbad, sizeof bad / sizeof bad[0]);

    /* singletons: exact per-class targets */
    SplitSet s;
    SplitStats st;
    char *t = make_list(3, 1000, 0);
    double r701515[SPLIT_N] = {70, 15, 15};
    CHECK(load_text(t, &s) == 0 && s.n == 3000 && s.nclasses == 3 && !s.grouped, "load a TSV list (empty groups)");
    CHECK(split_assign(&s, r701515, 42, &st) == 0, "assign");
    int exact = 1;
    for (int c = 0; c < 3; c++)
        exact &= st.per_class[c * SPLIT_N] == 700 && st.per_class[c * SPLIT_N + 1] == 150 && st.per_class[c * SPLIT_N + 2] == 150;
    CHECK(exact, "without groups, 70/15/15 exactly per class");
    char buf[64];
    CHECK(strcmp(split_group_of(&s, 5, buf, sizeof buf), "f5") == 0, "group column without groups: the stem");
    /* determinism; a different seed moves files */
    int *first = malloc(s.n * sizeof *first);
    for (size_t i = 0; i < s.n; i++) first[i] = s.files[i].split;
    split_stats_free(&st);
    split_assign(&s, r701515, 42, &st);
    int same = 1;
    for (size_t i = 0; i < s.n; i++) same &= first[i] == s.files[i].split;
    CHECK(same, "same seed, same assignment");
    split_stats_free(&st);
    split_assign(&s, r701515, 43, &st);
    int moved = 0;
    for (size_t i = 0; i < s.n; i++) moved += first[i] != s.files[i].split;
    CHECK(moved > 100 && st.per_class[0] == 700, "another seed, another (still exact) assignment: %d moved", moved);
    free(first);
    split_stats_free(&st);
    split_free(&s);
    free(t);

    /* groups across classes stay whole; proportions close */
    t = make_list(4, 200, 40);
    CHECK(load_text(t, &s) == 0 && s.grouped, "load a TSV list with groups");
    CHECK(split_assign(&s, r701515, 1, &st) == 0, "assign groups");
    int whole = 1;
    int gsplit[40];
    for (int g = 0; g < 40; g++) gsplit[g] = -1;
    for (size_t i = 0; i < s.n; i++) {
        int g = atoi(s.files[i].group + 1);
        if (gsplit[g] < 0) gsplit[g] = s.files[i].split;
        whole &= gsplit[g] == s.files[i].split;
    }
    CHECK(whole, "a group is never in two splits");
    CHECK(st.units[0] == 28 && st.units[1] == 6 && st.units[2] == 6, "40 equal groups -> 28/6/6 (%ld/%ld/%ld)", st.units[0],
          st.units[1], st.units[2]);
    split_stats_free(&st);
    double r80200[SPLIT_N] = {80, 20, 0};
    CHECK(split_assign(&s, r80200, 1, &st) == 0 && st.files[SPLIT_TEST] == 0 && st.units[0] == 32, "ratio 0: split left empty");
    split_stats_free(&st);
    split_free(&s);
    free(t);

    CHECK(load_text("path\tlabel\nx.wav\ta\nx.wav\tb\n", &s) < 0 && strstr(err_msg(), "listed twice"), "duplicate path refused");
    CHECK(load_text("path\tclass\nx.wav\ta\n", &s) < 0 && strstr(err_msg(), "path and label"), "missing label column refused");
    return check_failures ? 1 : 0;
}
