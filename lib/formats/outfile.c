#define _POSIX_C_SOURCE 200809L
#include "formats/outfile.h"

#include "core/error.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>

/* Temporary names of open outputs, for removal on signals. A fixed table keeps the signal handler
 * free of allocation; unlink() is async-signal-safe. */
#define MAX_OPEN 256
static char *volatile registry[MAX_OPEN];
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static int registry_add(char *tmp) {
    pthread_mutex_lock(&registry_lock);
    int slot = -1;
    for (int i = 0; i < MAX_OPEN; i++)
        if (!registry[i]) { registry[i] = tmp; slot = i; break; }
    pthread_mutex_unlock(&registry_lock);
    return slot;
}

static void registry_remove(int slot) {
    if (slot < 0) return;
    pthread_mutex_lock(&registry_lock);
    registry[slot] = NULL;
    pthread_mutex_unlock(&registry_lock);
}

static void remove_all(void) {
    for (int i = 0; i < MAX_OPEN; i++)
        if (registry[i]) unlink(registry[i]);
}

static void on_signal(int sig) {
    remove_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void outfile_install_cleanup(void) {
    static int done;
    if (done) return;
    done = 1;
    atexit(remove_all);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

int outfile_open(OutFile *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->slot = -1;
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        o->path = strdup("-");
        return 0;
    }
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        o->f = fopen(path, "wb");
        o->path = strdup(path);
        if (!o->f || !o->path) {
            err_set("%s: cannot open output: %s", path, strerror(errno));
            if (o->f) fclose(o->f);
            free(o->path);
            memset(o, 0, sizeof *o);
            return -1;
        }
        o->direct = 1;
        o->slot = -1;
        return 0;
    }
    size_t n = strlen(path);
    o->path = strdup(path);
    o->tmp = malloc(n + 16);
    if (!o->path || !o->tmp) {
        err_set("%s: out of memory", path);
        free(o->path); free(o->tmp);
        return -1;
    }
    /* Hidden-ish temporary name in the same directory: PATH.tmpXXXXXX */
    snprintf(o->tmp, n + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        err_set("%s: cannot create output: %s", path, strerror(errno));
        free(o->path); free(o->tmp);
        o->path = o->tmp = NULL;
        return -1;
    }
    /* mkstemp makes 0600; give the file the usual permissions (respecting umask). */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    o->slot = registry_add(o->tmp);
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        err_set("%s: cannot open output: %s", path, strerror(errno));
        close(fd);
        outfile_abort(o);
        return -1;
    }
    return 0;
}

int outfile_commit(OutFile *o) {
    int bad = 0;
    if (o->direct) { /* a device or FIFO: nothing to rename */
        if (fflush(o->f) != 0 || ferror(o->f)) bad = errno ? errno : EIO;
        if (fclose(o->f) != 0 && !bad) bad = errno ? errno : EIO;
        if (bad) err_set("%s: write error: %s", o->path, strerror(bad));
        free(o->path);
        memset(o, 0, sizeof *o);
        return bad ? -1 : 0;
    }
    if (!o->tmp) { /* stdout */
        if (fflush(stdout) != 0 || ferror(stdout)) {
            err_set("<stdout>: write error: %s", strerror(errno));
            bad = 1;
        }
        free(o->path);
        o->path = NULL;
        o->f = NULL;
        return bad ? -1 : 0;
    }
    if (fflush(o->f) != 0 || ferror(o->f)) bad = errno ? errno : EIO;
    if (fclose(o->f) != 0 && !bad) bad = errno ? errno : EIO;
    o->f = NULL;
    if (bad) {
        err_set("%s: write error: %s", o->path, strerror(bad));
        outfile_abort(o);
        return -1;
    }
    if (rename(o->tmp, o->path) != 0) {
        err_set("%s: cannot rename temporary file into place: %s", o->path, strerror(errno));
        outfile_abort(o);
        return -1;
    }
    registry_remove(o->slot);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    o->slot = -1;
    return 0;
}

void outfile_abort(OutFile *o) {
    if (o->f && o->f != stdout) fclose(o->f);
    if (o->tmp) {
        unlink(o->tmp);
        registry_remove(o->slot);
    }
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    o->slot = -1;
}

void outfile_remove(const char *path) {
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) unlink(path);
}

int mkdir_p(const char *dir, int (*on_created)(const char *path, void *ctx), void *ctx) {
    char *p = strdup(dir);
    if (!p) {
        err_set("%s: out of memory", dir);
        return -1;
    }
    size_t len = strlen(p);
    for (size_t i = 1; i <= len; i++) {
        if ((p[i] != '/' && p[i] != 0) || p[i - 1] == '/') continue;
        char saved = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) == 0) {
            if (on_created && on_created(p, ctx) < 0) {
                rmdir(p);
                free(p);
                return -1;
            }
        } else {
            struct stat st;
            int e = errno;
            if (e != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                const char *why = strerror(e == EEXIST ? ENOTDIR : e);
                if (saved) err_set("%s: cannot create directory: %s: %s", dir, p, why);
                else err_set("%s: cannot create directory: %s", dir, why);
                free(p);
                return -1;
            }
        }
        p[i] = saved;
    }
    free(p);
    return 0;
}
