/* progress.h - progress on stderr for long work.
 *
 * Promise: draws a single updating line ("tool: 120/3000 files  4%  ETA 12s") only when stderr is a
 * terminal and the tool is not quiet; otherwise prints nothing. At most ~10 redraws a second.
 * Thread-safe: progress_add() may be called from worker threads. */
#ifndef AUDIOCNN_PROGRESS_H
#define AUDIOCNN_PROGRESS_H

#include <stdint.h>

typedef struct Progress Progress;

/* verbosity: -1 quiet (-q), 0 default, 1 verbose (-v). `unit` e.g. "files". NULL when not shown. */
Progress *progress_start(const char *what, int64_t total, const char *unit, int verbosity);
void progress_add(Progress *p, int64_t n);
void progress_finish(Progress *p); /* clears the line; accepts NULL */
/* A short note shown after the count, e.g. "loss 0.412" (copied; accepts NULL p). */
void progress_note(Progress *p, const char *note);

#endif
