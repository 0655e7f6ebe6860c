#ifndef AUDIOCNN_PREFETCH_H
#define AUDIOCNN_PREFETCH_H
/* stream_prefetch(p): a hint to bring the cache line 1 KiB past p into L1, for the element-wise sweeps over
 * activations (BatchNorm's passes, the ordered sums, SiLU's epilogues). Their planes are read a 4 KiB page at
 * a time, and the hardware prefetchers stop at every page boundary: the loads there waited for memory
 * (30% of BatchNorm's backward first pass). A sweep that asks once per 64-byte vector keeps 16 lines in
 * flight across the boundary; a hint never faults, so it may point past the array's end. */
#define STREAM_PREFETCH_FLOATS 256

static inline void stream_prefetch(const float *p) { __builtin_prefetch(p + STREAM_PREFETCH_FLOATS, 0, 3); }

#endif
