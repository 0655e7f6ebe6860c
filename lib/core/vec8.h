#ifndef AUDIOCNN_VEC8_H
#define AUDIOCNN_VEC8_H
/* Eight floats and eight doubles as GCC/clang vector types, and the ordered sum built on them.
 *
 * Ordered sums keep 8 partial sums (element i in lane i % 8), which compilers do not vectorise from
 * plain arrays; written with vectors they run 8 lanes wide (one AVX-512 register, or four SSE ones) with
 * exactly the scalar lanes' bits (core/ordered_sum.h's plane sums are built on them). Macros, not functions: vector values crossing a function boundary
 * would draw GCC's ABI warnings. Host C only (the .cu files never need them). */
#ifndef __CUDACC__
#include "core/clones.h"

#include <stdint.h>
#include <string.h>

typedef float vec8f __attribute__((vector_size(32)));
typedef double vec8d __attribute__((vector_size(64)));
#define VEC8_LOADF(p) (__extension__({ vec8f v8_; memcpy(&v8_, (p), sizeof v8_); v8_; }))
#define VEC8_LOADD(p) (__extension__({ vec8d v8_; memcpy(&v8_, (p), sizeof v8_); v8_; }))
#define VEC8_STORED(p, v) (__extension__({ vec8d s8_ = (v); memcpy((p), &s8_, sizeof s8_); }))
#define VEC8_TOD(v) __builtin_convertvector((v), vec8d)
/* ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) of a variable a */
#define VEC8_HSUMD(a) ((((a)[0] + (a)[1]) + ((a)[2] + (a)[3])) + (((a)[4] + (a)[5]) + ((a)[6] + (a)[7])))

#endif
#endif
