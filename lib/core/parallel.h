/* parallel.h - an ordered parallel map over n items on a few threads.
 *
 * Promise: work(i) runs on one of `threads` worker threads (any order); emit(i) runs on the calling
 * thread for i = 0, 1, ..., n-1 strictly in order, as soon as work(i) is done. Workers run at most
 * `window` items ahead of the next emit, bounding memory. The outcome therefore depends only on the
 * items, not on the thread count. A negative return from work or emit stops the map: no further emit
 * happens, and parallel_map returns the first failing index's code (work's or emit's). */
#ifndef AUDIOCNN_PARALLEL_H
#define AUDIOCNN_PARALLEL_H

#include <stdint.h>

typedef int (*parallel_work_fn)(void *ctx, int64_t i);
typedef int (*parallel_emit_fn)(void *ctx, int64_t i, int work_rc);

/* Returns 0, or the first negative rc in index order. emit also sees work's rc (so it may decide to
 * keep going after a failed item and return 0). */
int parallel_map(int64_t n, int threads, int window, parallel_work_fn work, parallel_emit_fn emit, void *ctx);

#endif
