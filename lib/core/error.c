#include "core/error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char err_buf[1024];
static const char *program = "audiocnn";

void err_vset(const char *fmt, va_list ap) { vsnprintf(err_buf, sizeof err_buf, fmt, ap); }

void err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err_vset(fmt, ap);
    va_end(ap);
}

void err_prefix(const char *prefix) {
    char tmp[sizeof err_buf];
    size_t n = strlen(prefix);
    if (n > sizeof tmp / 2) n = sizeof tmp / 2;
    memcpy(tmp, prefix, n);
    memcpy(tmp + n, ": ", 2);
    size_t rest = strlen(err_buf);
    if (rest > sizeof tmp - n - 3) rest = sizeof tmp - n - 3;
    memcpy(tmp + n + 2, err_buf, rest);
    tmp[n + 2 + rest] = 0;
    memcpy(err_buf, tmp, sizeof err_buf);
}

const char *err_msg(void) { return err_buf[0] ? err_buf : "unknown error"; }

void diag_set_program(const char *name) {
    const char *slash = strrchr(name, '/');
    program = slash ? slash + 1 : name;
}

const char *diag_program(void) { return program; }

static void diag_v(const char *kind, const char *fmt, va_list ap) {
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "%s: %s: %s\n", program, kind, line);
}

void diag_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_v("error", fmt, ap);
    va_end(ap);
}

void diag_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_v("warning", fmt, ap);
    va_end(ap);
}
