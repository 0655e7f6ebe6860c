/* error.h - how lib/ reports failure.
 *
 * Promise: a lib function that fails returns -1 (or NULL) after recording one line of text with
 * err_set(); the message names the file or value it is about and carries no "tool: error:" prefix and
 * no newline. Tools print it as "TOOL: error: MESSAGE". The buffer is thread-local, so worker threads
 * can fail independently. */
#ifndef AUDIOCNN_ERROR_H
#define AUDIOCNN_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" { /* the .cu files of lib/nn report through err_set too */
#endif

void err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void err_vset(const char *fmt, va_list ap);
/* Prefix the current message with "PREFIX: " (e.g. a file name), keeping the rest. */
void err_prefix(const char *prefix);
const char *err_msg(void);

/* Tool-side helpers: the program name used in diagnostics, and the three kinds of exit. */
void diag_set_program(const char *name);
const char *diag_program(void);
void diag_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void diag_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Documented exit codes, shared by every tool. */
enum { EXIT_OK = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

#ifdef __cplusplus
}
#endif

#endif
