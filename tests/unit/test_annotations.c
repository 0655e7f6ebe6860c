/* Raven selection tables and Audacity label tracks (lib/formats/annotations), and the hostile corpus
 * tests/corpus/annotations: every bad_* table is refused with one line naming it and its line, every
 * good_* table reads, odd_* ones may go either way but never crash. Recording length: 10 s. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "core/error.h"
#include "formats/annotations.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int parse(const char *txt, const char *col, Annotations *a) {
    return ann_parse(txt, strlen(txt), "t.txt", col, 10.0, a);
}

int main(void) {
    Annotations a;
    const char *raven = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation\tSpecies\n"
                        "1\tWaveform 1\t1\t1.0\t2.0\t0\t8000\tx\tbird\n"
                        "1\tSpectrogram 1\t1\t1.0\t2.0\t500\t1500\tx\tbird\n"
                        "2\tSpectrogram 1\t1\t3.5\t4.25\t100\t900\ty\tfrog\n"
                        "2\tWaveform 1\t1\t3.5\t4.25\t0\t8000\ty\tfrog\n";
    CHECK(parse(raven, "Species", &a) == 0 && a.raven && a.n == 2, "Raven: views collapse to 2 selections");
    CHECK(a.n == 2 && strcmp(a.sel[0].label, "bird") == 0 && a.sel[0].begin == 1.0 && a.sel[0].end == 2.0 &&
              a.sel[0].low == 500 && a.sel[0].high == 1500 && strcmp(a.sel[1].label, "frog") == 0 &&
              a.sel[1].low == 100 && a.sel[1].high == 900 && a.sel[1].line == 4,
          "Raven: times, band from the Spectrogram view, label column by name");
    ann_free(&a);
    CHECK(parse(raven, NULL, &a) == 0 && a.n == 2 && strcmp(a.sel[0].label, "x") == 0, "Raven: Annotation by default");
    ann_free(&a);
    CHECK(parse(raven, "Call", &a) == -1 && strstr(err_msg(), "t.txt: line 1: no label column 'Call'"), "unknown label column");
    CHECK(ann_parse(raven, strlen(raven), "t.txt", "Species", 4.0, &a) == -1 &&
              strstr(err_msg(), "t.txt: line 4: end 4.25 s past the recording's end (4 s)"),
          "Raven: past the recording's end, row named");
    const char *aud = "1\t2.5\tbird song\n\\\t500\t1500\n3\t3\tclick\n";
    CHECK(parse(aud, "Species", &a) == 0 && !a.raven && a.n == 2 && strcmp(a.sel[0].label, "bird song") == 0 &&
              a.sel[0].end == 2.5 && a.sel[0].low == 500 && a.sel[0].high == 1500 && isnan(a.sel[1].low) &&
              a.sel[1].begin == 3 && a.sel[1].end == 3,
          "Audacity: labels, a frequency line, a point label");
    ann_free(&a);
    CHECK(ann_parse(aud, strlen(aud), "t.txt", NULL, -1, &a) == 0 && a.n == 2, "no duration: not checked");
    ann_free(&a);

    const char *tests = getenv("TESTS") ? getenv("TESTS") : "tests";
    char dir[4096];
    snprintf(dir, sizeof dir, "%.3000s/corpus/annotations", tests);
    DIR *d = opendir(dir);
    if (!d) {
        SKIP("annotations corpus: %.400s not found", dir);
        return check_failures != 0;
    }
    char *names[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int rc = ann_read(path, NULL, 10.0, &a);
        if (strncmp(names[i], "bad_", 4) == 0)
            CHECK(rc == -1 && a.n == 0 && strstr(err_msg(), path) && !strchr(err_msg(), '\n') &&
                      (strstr(err_msg(), ": line ") || strstr(err_msg(), "NUL")),
                  "%s refused: %s", names[i], rc == -1 ? err_msg() : "accepted");
        else if (strncmp(names[i], "good_", 5) == 0)
            CHECK(rc == 0, "%s reads (%zu selections)", names[i], a.n);
        else
            CHECK(1, "%s: no crash (%s)", names[i], rc == 0 ? "read" : "refused");
        ann_free(&a);
        free(names[i]);
    }
    return check_failures != 0;
}
