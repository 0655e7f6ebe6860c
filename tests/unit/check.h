/* check.h - the unit tests' reporting: one line per check, "ok NAME", "not ok NAME: why" or
 * "skip NAME: why", which tests/run.sh counts. */
#ifndef AUDIOCNN_CHECK_H
#define AUDIOCNN_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        char check_name_[512];                                                                \
        snprintf(check_name_, sizeof check_name_, __VA_ARGS__);                               \
        if (cond) printf("ok %s\n", check_name_);                                             \
        else { printf("not ok %s (%s:%d: %s)\n", check_name_, __FILE__, __LINE__, #cond); check_failures++; } \
    } while (0)

#define SKIP(...)                                                                             \
    do { char check_name_[512]; snprintf(check_name_, sizeof check_name_, __VA_ARGS__);      \
         printf("skip %s\n", check_name_); } while (0)

#endif
