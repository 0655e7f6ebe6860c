#include "scan/scanjob.h"

#include "audio/audio.h"
#include "core/error.h"
#include "core/parallel.h"
#include "scan/events.h"
#include "formats/outfile.h"

#include <pthread.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *scanjob_table_name(const char *path, char *buf, size_t cap) {
    if (strcmp(path, "-") == 0) {
        snprintf(buf, cap, "stdin");
        return buf;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, cap, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

/* The events of one recording, kept until the end of the job. */
typedef struct {
    Event *v;
    int64_t n;
    double low_hz, high_hz;
} RecEvents;

typedef struct {
    const ScanJob *job;
    FILE *scores;
    const char *path;
    EventMerger merger;
} State;

static int on_window(void *arg, const ScanWindow *w) {
    State *st = arg;
    if (st->scores) {
        fprintf(st->scores, "%s\t%.6f\t%.6f", st->path, w->start, w->end);
        for (int c = 0; c < st->job->k; c++) fprintf(st->scores, "\t%.6g", (double)w->probs[c]);
        fputc('\n', st->scores);
    }
    return events_window(&st->merger, w->start, w->end, w->probs);
}

/* Checks before any work: distinct table names, one stdout, recordings that open as audio (their
 * headers only); *seconds gets their total duration where the headers say it. */
static int precheck(const ScanJob *job, const char *const *paths, int n, double *seconds) {
    *seconds = 0;
    int stdout_users = 0, stdin_users = 0;
    const char *outs[] = {job->scores, job->results, job->threshold_file, job->inputs};
    for (int i = 0; i < 4; i++) stdout_users += outs[i] && strcmp(outs[i], "-") == 0;
    if (stdout_users > 1) {
        err_set("only one output can go to stdout ('-')");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(paths[i], "-") == 0) {
            if (++stdin_users > 1) {
                err_set("stdin ('-') can be scanned only once");
                return -1;
            }
            continue;
        }
        AudioReader *r = audio_open_stream(paths[i]);
        if (!r) return -1;
        if (audio_reader_frames(r) > 0) *seconds += (double)audio_reader_frames(r) / audio_reader_rate(r);
        audio_close(r);
    }
    if (job->events)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) {
                char a[4096], b[4096];
                if (strcmp(scanjob_table_name(paths[i], a, sizeof a), scanjob_table_name(paths[j], b, sizeof b)) == 0) {
                    err_set("%s and %s would both write %s/%s.selections.txt: give recordings distinct names", paths[j],
                            paths[i], job->events, a);
                    return -1;
                }
            }
    return 0;
}

/* Files renamed into place, removed again if the job fails later. */
typedef struct {
    char **v;
    int n;
} Written;

/* Commit o (if open) and remember its name. w has room for it. */
static int commit_tracked(OutFile *o, Written *w) {
    if (!o->f) return 0;
    char *keep = o->tmp ? strdup(o->path) : NULL;
    if (o->tmp && !keep) {
        err_set("out of memory");
        return -1;
    }
    if (outfile_commit(o) < 0) {
        free(keep);
        return -1;
    }
    if (keep) w->v[w->n++] = keep;
    return 0;
}

static void unwind(Written *w) {
    for (int i = 0; i < w->n; i++) {
        outfile_remove(w->v[i]);
        free(w->v[i]);
    }
    free(w->v);
}

/* The detection metrics of the annotated recordings into job->detection/. */
static int write_detection(const ScanJob *job, const char *const *paths, int n, const RecEvents *rec, Written *done) {
    Detection d;
    if (detect_init(&d, job->k, job->counted, job->match_fraction) < 0) return -1;
    int rc = -1;
    for (int i = 0; i < n; i++)
        if (job->annotated[i] && detect_add(&d, paths[i], rec[i].v, rec[i].n, &job->truth[i]) < 0) goto done;
    if (mkdir_p(job->detection, NULL, NULL) < 0) goto done;
    char path[8192];
    OutFile o;
    snprintf(path, sizeof path, "%s/detection.tsv", job->detection);
    if (outfile_open(&o, path) < 0) goto done;
    detect_write_tsv(&d, o.f, job->names);
    if (commit_tracked(&o, done) < 0) goto done;
    snprintf(path, sizeof path, "%s/detection-events.tsv", job->detection);
    if (outfile_open(&o, path) < 0) goto done;
    detect_write_marks(&d, o.f, job->names);
    if (commit_tracked(&o, done) < 0) goto done;
    snprintf(path, sizeof path, "%s/detection.json", job->detection);
    if (outfile_open(&o, path) < 0) goto done;
    JsonWriter w;
    json_init(&w, o.f, 2);
    detect_write_json(&d, &w, job->names);
    fputc('\n', o.f);
    if (json_error(&w)) {
        outfile_abort(&o);
        err_set("%s: write failed", path);
        goto done;
    }
    if (commit_tracked(&o, done) < 0) goto done;
    rc = 0;
done:
    detect_free(&d);
    return rc;
}

static int write_tables(const ScanJob *job, const char *const *paths, int n, const RecEvents *rec, Written *done) {
    if (mkdir_p(job->events, NULL, NULL) < 0) return -1;
    for (int i = 0; i < n; i++) {
        char name[4096], path[8192];
        scanjob_table_name(paths[i], name, sizeof name);
        snprintf(path, sizeof path, "%s/%s.selections.txt", job->events, name);
        OutFile o;
        if (outfile_open(&o, path) < 0) return -1;
        EventMerger view = {.k = job->k, .v = rec[i].v, .n = rec[i].n};
        events_write_raven(&view, o.f, rec[i].low_hz, rec[i].high_hz, job->names);
        if (commit_tracked(&o, done) < 0) return -1;
    }
    return 0;
}

/* One recording through s: windows to st (scores rows, events), then its events and counts kept in
 * *rec and counts (k). Returns 0 or -1 with err_set(). */
static int scan_one(const ScanJob *job, Scanner *s, const FrontEnd *fe, State *st, const char *path, Progress *prog,
                    RecEvents *rec, int64_t *counts, ScanRecording *info) {
    st->path = path;
    events_reset(&st->merger);
    if (scanner_run(s, path, on_window, st, prog, info) < 0 || events_finish(&st->merger) < 0) return -1;
    rec->n = st->merger.n;
    rec->v = malloc(sizeof(Event) * (size_t)(st->merger.n ? st->merger.n : 1));
    if (!rec->v) {
        err_set("out of memory");
        return -1;
    }
    if (st->merger.n) memcpy(rec->v, st->merger.v, sizeof(Event) * (size_t)st->merger.n); /* v: NULL if none */
    rec->low_hz = fe->spec.fmin;
    rec->high_hz = fe->spec.fmax > 0 ? fe->spec.fmax : info->sr / 2;
    memcpy(counts, st->merger.counts, sizeof(int64_t) * (size_t)job->k);
    return 0;
}

static void add_summary(ScanSummary *sum, const ScanRecording *info, int64_t events) {
    sum->recordings++;
    sum->windows += info->windows;
    sum->events += events;
    sum->seconds += info->seconds;
}

/* --jobs: recordings on several Scanners at once. A worker takes a free Scanner, scans one recording
 * with its scores rows into memory, and gives the Scanner back; the rows, events and counts are
 * emitted strictly in input order (parallel_map), so the outputs are those of one Scanner. */
typedef struct {
    char *scores; /* the recording's score rows (open_memstream), or NULL */
    size_t len;
    ScanRecording info;
    char *err;    /* the worker's message when it failed (err_set is per thread) */
} Slot;

typedef struct {
    const ScanJob *job;
    const FrontEnd *fe;
    const char *const *paths;
    Scanner **idle;
    int nidle;
    pthread_mutex_t mu;
    Progress *prog;
    Slot *slot;
    RecEvents *rec;
    int64_t *counts;
    FILE *scores;
    ScanSummary *sum;
} Parallel;

static int par_work(void *arg, int64_t i) {
    Parallel *p = arg;
    Slot *sl = &p->slot[i];
    pthread_mutex_lock(&p->mu);
    Scanner *s = p->idle[--p->nidle]; /* as many Scanners as workers: one is always free */
    pthread_mutex_unlock(&p->mu);
    State st = {.job = p->job};
    FILE *mem = NULL;
    int rc = events_init(&st.merger, p->job->k, p->job->counted, p->job->threshold);
    if (rc == 0 && p->job->thresholds) events_set_thresholds(&st.merger, p->job->thresholds);
    if (rc == 0 && p->scores && !(mem = st.scores = open_memstream(&sl->scores, &sl->len))) {
        err_set("out of memory");
        rc = -1;
    }
    if (rc == 0)
        rc = scan_one(p->job, s, p->fe, &st, p->paths[i], p->prog, &p->rec[i], p->counts + (size_t)i * p->job->k, &sl->info);
    if (mem && fclose(mem) != 0 && rc == 0) {
        err_set("out of memory");
        rc = -1;
    }
    events_free(&st.merger);
    if (rc < 0) sl->err = strdup(err_msg());
    pthread_mutex_lock(&p->mu);
    p->idle[p->nidle++] = s;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int par_emit(void *arg, int64_t i, int work_rc) {
    Parallel *p = arg;
    Slot *sl = &p->slot[i];
    if (work_rc < 0) {
        err_set("%s", sl->err ? sl->err : "out of memory");
        return -1;
    }
    if (p->scores && sl->len && fwrite(sl->scores, 1, sl->len, p->scores) != sl->len) {
        err_set("%s: write failed", p->job->scores);
        return -1;
    }
    free(sl->scores);
    sl->scores = NULL;
    const int64_t *counts = p->counts + (size_t)i * p->job->k;
    add_summary(p->sum, &sl->info, p->rec[i].n);
    if (p->job->on_recording) p->job->on_recording(p->job->arg, p->paths[i], &sl->info, counts);
    return 0;
}

int scanjob_run(const ScanJob *job, Scanner *const *scanners, int nscanners, const FrontEnd *fe,
                const char *const *paths, int n, ScanSummary *sum) {
    Scanner *s = scanners[0];
    memset(sum, 0, sizeof *sum);
    if (nscanners > 1 && job->inputs) {
        err_set("--dump-inputs needs one job at a time (--jobs 1)");
        return -1;
    }
    double total;
    if (precheck(job, paths, n, &total) < 0) return -1;
    int k = job->k, rc = -1;
    State st = {.job = job};
    OutFile scores = {0}, results = {0}, thr = {0}, inputs = {0};
    RecEvents *rec = calloc((size_t)(n ? n : 1), sizeof(RecEvents));
    int64_t *counts = calloc((size_t)(n ? n : 1) * (size_t)k, sizeof(int64_t));
    Written written = {.v = calloc((size_t)n + 8, sizeof(char *))};
    if (!rec || !counts || !written.v) {
        err_set("out of memory");
        goto done;
    }
    if (events_init(&st.merger, k, job->counted, job->threshold) < 0) goto done;
    if (job->thresholds) events_set_thresholds(&st.merger, job->thresholds);
    if (job->scores) {
        if (outfile_open(&scores, job->scores) < 0) goto done;
        st.scores = scores.f;
        fputs("file\tstart\tend", st.scores);
        for (int c = 0; c < k; c++) fprintf(st.scores, "\t%s", job->names[c]);
        fputc('\n', st.scores);
    }
    if (job->inputs) {
        if (outfile_open(&inputs, job->inputs) < 0) goto done;
        scanner_dump_inputs(s, inputs.f);
    }
    Progress *prog = progress_start("scanning", (int64_t)total, "s of audio", job->verbosity);
    if (nscanners > 1) {
        Parallel par = {.job = job, .fe = fe, .paths = paths, .nidle = nscanners, .prog = prog, .rec = rec,
                        .counts = counts, .scores = st.scores, .sum = sum};
        par.idle = malloc(sizeof(Scanner *) * (size_t)nscanners);
        par.slot = calloc((size_t)(n ? n : 1), sizeof(Slot));
        int prc = -1;
        if (!par.idle || !par.slot) {
            err_set("out of memory");
        } else {
            memcpy(par.idle, scanners, sizeof(Scanner *) * (size_t)nscanners);
            pthread_mutex_init(&par.mu, NULL);
            prc = parallel_map(n, nscanners, 2 * nscanners, par_work, par_emit, &par);
            pthread_mutex_destroy(&par.mu);
        }
        for (int i = 0; par.slot && i < n; i++) {
            free(par.slot[i].scores);
            free(par.slot[i].err);
        }
        free(par.slot);
        free(par.idle);
        if (prc < 0) {
            progress_finish(prog);
            goto done;
        }
    }
    for (int i = 0; nscanners == 1 && i < n; i++) {
        ScanRecording info;
        if (scan_one(job, s, fe, &st, paths[i], prog, &rec[i], counts + (size_t)i * k, &info) < 0) {
            progress_finish(prog);
            goto done;
        }
        add_summary(sum, &info, rec[i].n);
        if (job->on_recording) job->on_recording(job->arg, paths[i], &info, st.merger.counts);
    }
    progress_finish(prog);
    scanner_dump_inputs(s, NULL);
    if (job->results) {
        if (outfile_open(&results, job->results) < 0) goto done;
        if (job->csv) results_write_csv(results.f, paths, n, counts, k, job->counted, job->names);
        else results_write_tsv(results.f, paths, n, counts, k, job->counted, job->names);
    }
    if (job->threshold_file) {
        if (outfile_open(&thr, job->threshold_file) < 0) goto done;
        if (job->thresholds) {
            fputs("class\tthreshold\n", thr.f);
            for (int c = 0; c < k; c++) fprintf(thr.f, "%s\t%.9g\n", job->names[c], job->thresholds[c]);
        } else {
            fprintf(thr.f, "%.15g\n", job->threshold);
        }
    }
    if (job->events && write_tables(job, paths, n, rec, &written) < 0) goto done;
    if (job->detection && write_detection(job, paths, n, rec, &written) < 0) goto done;
    if (commit_tracked(&inputs, &written) < 0 || commit_tracked(&scores, &written) < 0 ||
        commit_tracked(&results, &written) < 0 || commit_tracked(&thr, &written) < 0)
        goto done;
    for (int i = 0; i < written.n; i++) free(written.v[i]);
    written.n = 0;
    rc = 0;
done:
    scanner_dump_inputs(s, NULL);
    if (rc < 0) {
        if (inputs.f) outfile_abort(&inputs);
        if (scores.f) outfile_abort(&scores);
        if (results.f) outfile_abort(&results);
        if (thr.f) outfile_abort(&thr);
        unwind(&written);
    } else {
        free(written.v);
    }
    if (rec)
        for (int i = 0; i < n; i++) free(rec[i].v);
    free(rec);
    free(counts);
    events_free(&st.merger);
    return rc;
}
