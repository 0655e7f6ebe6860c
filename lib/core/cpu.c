#include "core/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t avx512_once = PTHREAD_ONCE_INIT;
static int avx512_on = -1; /* -1 until detected; then read without the once (kernels ask per plane) */

static void detect_avx512(void) {
    int on = 0;
    const char *e = getenv("AUDIOCNN_AVX512");
#if defined(__x86_64__) && defined(__GNUC__)
    if (!(e && strcmp(e, "0") == 0)) {
        __builtin_cpu_init();
        on = __builtin_cpu_supports("avx512f") != 0;
    }
#else
    (void)e;
#endif
    __atomic_store_n(&avx512_on, on, __ATOMIC_RELEASE);
}

int cpu_avx512(void) {
    int on = __atomic_load_n(&avx512_on, __ATOMIC_ACQUIRE);
    if (on >= 0) return on;
    pthread_once(&avx512_once, detect_avx512);
    return __atomic_load_n(&avx512_on, __ATOMIC_ACQUIRE);
}
