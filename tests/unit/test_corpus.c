/* The hostile .npy corpus (tests/corpus/npy, made by make_corpus.py): every bad_* file is refused
 * with a message naming it, every good_* file loads. Runs under ASan/UBSan in `make asan`. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "core/error.h"
#include "formats/npy.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
    const char *tests = getenv("TESTS") ? getenv("TESTS") : "tests";
    char dir[4096];
    snprintf(dir, sizeof dir, "%.3000s/corpus/npy", tests);
    DIR *d = opendir(dir);
    if (!d) {
        SKIP("npy corpus: %.400s not found", dir);
        return 0;
    }
    char *names[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (strstr(e->d_name, ".npy")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%.4000s/%.300s", dir, names[i]);
        Tensor t;
        int rc = npy_load(path, NPY_WANT_NATURAL, &t);
        if (strncmp(names[i], "bad_", 4) == 0) {
            CHECK(rc == -1 && strncmp(err_msg(), path, strlen(path)) == 0 && !strchr(err_msg(), 10),
                  "%.100s refused: %.300s", names[i], rc == -1 ? err_msg() : "(accepted!)");
        } else {
            CHECK(rc == 0, "%.100s loads", names[i]);
        }
        if (rc == 0) tensor_free(&t);
        if (strncmp(names[i], "bad_", 4) == 0) {
            NpyMap m;
            int mrc = npy_map(path, &m);
            CHECK(mrc == -1 && strncmp(err_msg(), path, strlen(path)) == 0, "%.100s refused by npy_map: %.300s", names[i],
                  mrc == -1 ? err_msg() : "(mapped!)");
            if (mrc == 0) npy_unmap(&m);
        }
        free(names[i]);
    }
    return check_failures ? 1 : 0;
}
