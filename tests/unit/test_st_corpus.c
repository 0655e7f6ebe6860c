/* The safetensors corpus (tests/corpus/safetensors, made by make_safetensors_corpus.py): every bad_*
 * file is refused - when opened, or for a few when a tensor is read - with one line that names it;
 * every good_* file opens and all its tensors read. The same verdict comes from st_parse on the file's
 * bytes in memory. Runs under ASan/UBSan in `make asan`. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "core/error.h"
#include "formats/safetensors.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every tensor of f, naturally converted; 0 or -1 with err_set(). */
static int read_all(const StFile *f) {
    for (int i = 0; i < f->n; i++) {
        Tensor t;
        if (st_read_tensor(f, i, ST_WANT_NATURAL, &t) < 0) return -1;
        tensor_free(&t);
    }
    return 0;
}

static int load_path(const char *path) {
    StFile f;
    if (st_open(path, &f) < 0) return -1;
    int rc = read_all(&f);
    st_close(&f);
    return rc;
}

/* The same through st_parse on the whole file in memory (what the fuzz target exercises). */
static int load_memory(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -2;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; }
            b = nb;
        }
    }
    fclose(fp);
    if (!b) return -2;
    StFile f;
    int rc = st_parse(b, n, path, &f);
    if (rc == 0) {
        rc = read_all(&f);
        st_close(&f);
    }
    free(b);
    return rc;
}

int main(void) {
    const char *tests = getenv("TESTS") ? getenv("TESTS") : "tests";
    char dir[4096];
    snprintf(dir, sizeof dir, "%.3000s/corpus/safetensors", tests);
    DIR *d = opendir(dir);
    if (!d) {
        SKIP("safetensors corpus: %.400s not found", dir);
        return 0;
    }
    char *names[1024];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024)
        if (strstr(e->d_name, ".safetensors")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp);
    int bad = 0, good = 0;
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%.4000s/%.300s", dir, names[i]);
        int rc = load_path(path);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rc == -1 ? err_msg() : "(accepted!)");
        int rm = load_memory(path);
        if (strncmp(names[i], "bad_", 4) == 0) {
            bad++;
            CHECK(rc == -1 && strncmp(msg, path, strlen(path)) == 0 && msg[strlen(path)] == ':' && !strchr(msg, '\n'),
                  "%.100s refused: %.300s", names[i], msg + (rc == -1 && strlen(msg) > strlen(path) ? strlen(path) + 2 : 0));
        } else if (strncmp(names[i], "good_", 5) == 0) {
            good++;
            CHECK(rc == 0, "%.100s loads%s%.300s", names[i], rc ? ": " : "", rc ? msg : "");
        }
        CHECK(rm == rc, "%.100s: same verdict from st_parse in memory", names[i]);
        free(names[i]);
    }
    CHECK(bad >= 40 && good >= 5, "corpus holds %d bad and %d good files", bad, good);
    return check_failures ? 1 : 0;
}
