#define _POSIX_C_SOURCE 200809L
#include "split/audiofiles.h"
#include "core/strlist.h"

#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const audio_exts[] = {"wav", "flac", "ogg", "oga",  "opus", "mp3", "aif",
                                         "aiff", "aifc", "au", "snd", "w64", "caf", "rf64"};

int audio_name_ok(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (size_t i = 0; i < sizeof audio_exts / sizeof audio_exts[0]; i++)
        if (strcasecmp(dot + 1, audio_exts[i]) == 0) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "a" + "b" -> "a/b"; "/" + "b" -> "/b" */
static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *s = malloc(a + (size_t)slash + b + 1);
    if (!s) return NULL;
    memcpy(s, dir, a);
    if (slash) s[a] = '/';
    memcpy(s + a + (size_t)slash, name, b + 1);
    return s;
}

/* Non-hidden entry names of DIR, sorted. */
static int list_dir(const char *dir, StrList *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) {
        err_set("%s: cannot open folder: %s", dir, strerror(errno));
        return -1;
    }
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                err_set("%s: cannot read folder: %s", dir, strerror(errno));
                goto fail;
            }
            break;
        }
        if (e->d_name[0] == '.') continue; /* ".", ".." and hidden entries */
        if (strlist_push(out, strdup(e->d_name)) < 0) {
            err_set("%s: out of memory", dir);
            goto fail;
        }
    }
    closedir(d);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return 0;
fail:
    closedir(d);
    strlist_free(out);
    return -1;
}

/* The folders being walked, by device and inode, so that a symbolic link back up is not followed. */
#define MAX_DEPTH 256
typedef struct Walk {
    dev_t dev[MAX_DEPTH];
    ino_t ino[MAX_DEPTH];
    int depth;
} Walk;

static int walk(Walk *w, const char *dir, const struct stat *dst, StrList *files) {
    for (int i = 0; i < w->depth; i++)
        if (w->dev[i] == dst->st_dev && w->ino[i] == dst->st_ino) return 0; /* loop: already being walked */
    if (w->depth == MAX_DEPTH) {
        err_set("%s: folders nested too deeply (more than %d levels)", dir, MAX_DEPTH);
        return -1;
    }
    w->dev[w->depth] = dst->st_dev;
    w->ino[w->depth] = dst->st_ino;
    w->depth++;
    StrList names;
    int rc = list_dir(dir, &names);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        char *p = join(dir, names.v[i]);
        if (!p) {
            err_set("%s: out of memory", dir);
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(p, &st) != 0) {
            err_set("%s: cannot read: %s", p, strerror(errno));
            free(p);
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(w, p, &st, files);
            free(p);
        } else if (S_ISREG(st.st_mode) && audio_name_ok(names.v[i])) {
            if (strlist_push(files, p) < 0) {
                err_set("%s: out of memory", dir);
                rc = -1;
            }
        } else {
            free(p);
        }
    }
    strlist_free(&names);
    w->depth--;
    return rc;
}

int audio_tree_scan(const char *root, AudioTree *t) {
    memset(t, 0, sizeof *t);
    struct stat st;
    if (stat(root, &st) != 0) {
        err_set("%s: cannot open: %s", root, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        err_set("%s: not a folder", root);
        return -1;
    }
    /* ROOT without trailing slashes ("/" stays "/") */
    char *base = strdup(root);
    if (!base) {
        err_set("%s: out of memory", root);
        return -1;
    }
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/') base[--bl] = 0;

    StrList names;
    if (list_dir(base, &names) < 0) {
        free(base);
        return -1;
    }
    t->classes = calloc(names.n ? names.n : 1, sizeof *t->classes);
    if (!t->classes) {
        err_set("%s: out of memory", root);
        goto fail;
    }
    Walk w;
    w.depth = 0;
    w.dev[0] = st.st_dev;
    w.ino[0] = st.st_ino;
    w.depth = 1;
    for (size_t i = 0; i < names.n; i++) {
        char *p = join(base, names.v[i]);
        if (!p) {
            err_set("%s: out of memory", root);
            goto fail;
        }
        struct stat cst;
        if (stat(p, &cst) != 0) {
            err_set("%s: cannot read: %s", p, strerror(errno));
            free(p);
            goto fail;
        }
        if (!S_ISDIR(cst.st_mode)) { /* files beside the class folders (README.md, ...) are not classes */
            free(p);
            continue;
        }
        StrList files = {0};
        int rc = walk(&w, p, &cst, &files);
        free(p);
        if (rc < 0) {
            strlist_free(&files);
            goto fail;
        }
        if (files.n) qsort(files.v, files.n, sizeof *files.v, cmp_str);
        AudioClass *c = &t->classes[t->n++];
        c->name = names.v[i];
        names.v[i] = NULL;
        c->paths = files.v;
        c->n = files.n;
    }
    strlist_free(&names);
    free(base);
    return 0;
fail:
    strlist_free(&names);
    free(base);
    audio_tree_free(t);
    return -1;
}

void audio_tree_free(AudioTree *t) {
    for (size_t i = 0; i < t->n; i++) {
        for (size_t j = 0; j < t->classes[i].n; j++) free(t->classes[i].paths[j]);
        free(t->classes[i].paths);
        free(t->classes[i].name);
    }
    free(t->classes);
    memset(t, 0, sizeof *t);
}
