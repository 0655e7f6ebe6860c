/* annotated.c - recordings paired with their selection tables (see annotated.h). */
#define _POSIX_C_SOURCE 200809L
#include "split/annotated.h"

#include "core/error.h"
#include "formats/tsv.h"
#include "split/audiofiles.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char RAVEN_SUFFIX[] = ".Table.1.selections.txt";

static int oom(const char *name) {
    err_set("%s: out of memory", name);
    return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_path(const void *a, const void *b) {
    return strcmp(((const AnnotatedRecording *)a)->path, ((const AnnotatedRecording *)b)->path);
}

void annotated_free(AnnotatedRecording *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].path);
        free(v[i].table);
        free(v[i].group);
    }
    free(v);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A folder of recordings with their Raven tables beside them. */
static int load_dir(const char *dir, AnnotatedRecording **out, size_t *nout) {
    DIR *d = opendir(dir);
    if (!d) {
        err_set("%s: cannot open folder: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **t = realloc(names, cap * sizeof *t);
            if (!t) { closedir(d); goto oomf; }
            names = t;
        }
        if (!(names[n] = strdup(e->d_name))) { closedir(d); goto oomf; }
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    AnnotatedRecording *r = calloc(n + 1, sizeof *r);
    size_t nr = 0;
    if (!r) goto oomf;
    size_t sl = strlen(RAVEN_SUFFIX);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l <= sl || strcmp(names[i] + l - sl, RAVEN_SUFFIX) != 0) continue;
        size_t stem = l - sl;
        const char *found = NULL;
        for (size_t j = 0; j < n; j++)
            if (strncmp(names[j], names[i], stem) == 0 && names[j][stem] == '.' && !strchr(names[j] + stem + 1, '.') &&
                audio_name_ok(names[j])) {
                if (found) {
                    err_set("%s/%s: two recordings beside it (%s, %s)", dir, names[i], found, names[j]);
                    goto fail;
                }
                found = names[j];
            }
        if (!found) {
            err_set("%s/%s: no recording %.*s.EXT beside it", dir, names[i], (int)stem, names[i]);
            goto fail;
        }
        r[nr].path = join(dir, found);
        r[nr].table = join(dir, names[i]);
        nr++;
        if (!r[nr - 1].path || !r[nr - 1].table) { oom(dir); goto fail; }
    }
    if (nr == 0) {
        err_set("%s: no Raven selection tables (*%s)", dir, RAVEN_SUFFIX);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    *out = r;
    *nout = nr;
    return 0;
fail:
    annotated_free(r, nr);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return -1;
oomf:
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return oom(dir);
}

static int load_list(const char *path, AnnotatedRecording **out, size_t *nout) {
    Tsv t;
    if (tsv_read(path, &t) < 0) return -1;
    int cr = tsv_col(&t, "recording"), ct = tsv_col(&t, "table"), cg = tsv_col(&t, "group");
    AnnotatedRecording *r = NULL;
    size_t nr = 0;
    if (cr < 0 || ct < 0) {
        err_set("%s: the list needs columns 'recording' and 'table'", t.name);
        goto fail;
    }
    if (t.nrows == 0) {
        err_set("%s: no recordings listed", t.name);
        goto fail;
    }
    r = calloc(t.nrows, sizeof *r);
    if (!r) { oom(t.name); goto fail; }
    for (size_t i = 0; i < t.nrows; i++) {
        char **row = t.rows[i];
        if (!row[cr][0] || !row[ct][0]) {
            err_set("%s: line %zu: empty recording or table", t.name, t.lineno[i]);
            goto fail;
        }
        r[nr].path = strdup(row[cr]);
        r[nr].table = strdup(row[ct]);
        r[nr].group = cg >= 0 && row[cg][0] ? strdup(row[cg]) : NULL;
        nr++;
        if (!r[nr - 1].path || !r[nr - 1].table || (cg >= 0 && row[cg][0] && !r[nr - 1].group)) { oom(t.name); goto fail; }
    }
    qsort(r, nr, sizeof *r, cmp_path);
    for (size_t i = 1; i < nr; i++)
        if (strcmp(r[i].path, r[i - 1].path) == 0) {
            err_set("%s: recording %s listed twice", t.name, r[i].path);
            goto fail;
        }
    tsv_free(&t);
    *out = r;
    *nout = nr;
    return 0;
fail:
    annotated_free(r, nr);
    tsv_free(&t);
    return -1;
}


int annotated_list(const char *input, AnnotatedRecording **out, size_t *n) {
    struct stat sb;
    *out = NULL;
    *n = 0;
    if (strcmp(input, "-") != 0 && stat(input, &sb) == 0 && S_ISDIR(sb.st_mode)) return load_dir(input, out, n);
    return load_list(input, out, n);
}

const AnnotatedRecording *annotated_find(const AnnotatedRecording *v, size_t n, const char *path) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        int c = strcmp(v[m].path, path);
        if (c == 0) return &v[m];
        if (c < 0) lo = m + 1;
        else hi = m;
    }
    return NULL;
}
