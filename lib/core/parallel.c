#include "core/parallel.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    int64_t n, next_claim, next_emit;
    int window, stop;
    int *done;   /* per item: 0 pending, 1 finished */
    int *rc;
    parallel_work_fn work;
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t cv;
} Pool;

static void *worker(void *arg) {
    Pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->next_claim < p->n && p->next_claim >= p->next_emit + p->window)
            pthread_cond_wait(&p->cv, &p->lock);
        if (p->stop || p->next_claim >= p->n) break;
        int64_t i = p->next_claim++;
        pthread_mutex_unlock(&p->lock);
        int rc = p->work(p->ctx, i);
        pthread_mutex_lock(&p->lock);
        p->rc[i] = rc;
        p->done[i] = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int parallel_map(int64_t n, int threads, int window, parallel_work_fn work, parallel_emit_fn emit, void *ctx) {
    if (threads < 1) threads = 1;
    if (window < threads) window = threads;
    if (threads == 1) { /* no threads at all: simplest and easiest to debug */
        for (int64_t i = 0; i < n; i++) {
            int rc = emit(ctx, i, work(ctx, i));
            if (rc < 0) return rc;
        }
        return 0;
    }
    Pool p = {.n = n, .window = window, .work = work, .ctx = ctx};
    p.done = calloc((size_t)(n ? n : 1), sizeof(int));
    p.rc = calloc((size_t)(n ? n : 1), sizeof(int));
    pthread_t *tid = calloc((size_t)threads, sizeof(pthread_t));
    if (!p.done || !p.rc || !tid) {
        free(p.done); free(p.rc); free(tid);
        return -1;
    }
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cv, NULL);
    int started = 0;
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, worker, &p) == 0) started++;
    int result = 0;
    if (!started) result = -1;
    for (int64_t i = 0; i < n && started; i++) {
        pthread_mutex_lock(&p.lock);
        while (!p.done[i]) pthread_cond_wait(&p.cv, &p.lock);
        int wrc = p.rc[i];
        pthread_mutex_unlock(&p.lock);
        int rc = emit(ctx, i, wrc);
        pthread_mutex_lock(&p.lock);
        p.next_emit = i + 1;
        if (rc < 0) p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.lock);
        if (rc < 0) { result = rc; break; }
    }
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.cv);
    free(p.done);
    free(p.rc);
    free(tid);
    return result;
}
