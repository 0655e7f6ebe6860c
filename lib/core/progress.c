#define _POSIX_C_SOURCE 200809L
#include "core/progress.h"

#include "core/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct Progress {
    const char *what, *unit;
    int64_t total, done;
    char note[64];
    double t0, last;
    pthread_mutex_t lock;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

Progress *progress_start(const char *what, int64_t total, const char *unit, int verbosity) {
    if (verbosity < 0 || !isatty(STDERR_FILENO)) return NULL;
    Progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->t0 = p->last = now();
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

static void draw(Progress *p, double t) {
    double el = t - p->t0;
    char eta[32] = "";
    if (p->done > 0 && p->total > 0 && p->done < p->total)
        snprintf(eta, sizeof eta, "  ETA %.0fs", el / (double)p->done * (double)(p->total - p->done));
    fprintf(stderr, "\r%s: %s %lld/%lld %s %3.0f%%%s  %s   ", diag_program(), p->what, (long long)p->done,
            (long long)p->total, p->unit, p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, eta, p->note);
}

void progress_add(Progress *p, int64_t n) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->done += n;
    double t = now();
    if (t - p->last > 0.1 || p->done == p->total) {
        p->last = t;
        draw(p, t);
    }
    pthread_mutex_unlock(&p->lock);
}

void progress_note(Progress *p, const char *note) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    snprintf(p->note, sizeof p->note, "%s", note);
    pthread_mutex_unlock(&p->lock);
}

void progress_finish(Progress *p) {
    if (!p) return;
    fprintf(stderr, "\r\033[K");
    pthread_mutex_destroy(&p->lock);
    free(p);
}
