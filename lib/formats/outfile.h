/* outfile.h - outputs that appear whole or not at all.
 *
 * Promise: outfile_open(PATH) writes into a temporary file beside PATH (same directory, so rename is
 * atomic); outfile_commit() flushes, checks for write errors and renames it into place; outfile_abort()
 * removes it. PATH "-" means stdout (nothing to rename; a write error is still reported). Temporary files
 * still open when the process gets SIGINT/SIGTERM/SIGHUP/SIGPIPE or calls exit() are removed, so a failed
 * or interrupted tool leaves no partial output behind. A PATH that exists and is not a regular file
 * (/dev/null, /dev/stdout, a FIFO) is written directly: renaming over it would replace the device with a
 * file (as root, /dev/null itself). */
#ifndef AUDIOCNN_OUTFILE_H
#define AUDIOCNN_OUTFILE_H

#include <stdio.h>

typedef struct OutFile {
    FILE *f;
    char *path; /* final name ("-" for stdout) */
    char *tmp;  /* temporary name, NULL for stdout */
    int slot;   /* registry slot for cleanup on signals */
    int direct; /* 1: a device or FIFO opened in place (no temporary file) */
} OutFile;

/* Returns 0, or -1 with err_set() naming PATH (e.g. directory missing or not writable). */
int outfile_open(OutFile *o, const char *path);
int outfile_commit(OutFile *o);
void outfile_abort(OutFile *o);

/* Remove an output written earlier in this run (rolling back a failed run): only a regular file is
 * removed, never a device or FIFO the output went to. */
void outfile_remove(const char *path);

/* mkdir -p: create DIR and missing parents (mode 0777 minus umask). Each directory it creates is
 * passed to on_created (may be NULL), e.g. to remove them again if the run fails; a negative return
 * from on_created removes that directory and fails. Returns 0, or -1 with err_set(). */
int mkdir_p(const char *dir, int (*on_created)(const char *path, void *ctx), void *ctx);

/* Install the signal/atexit cleanup once per process (tools call it first thing). */
void outfile_install_cleanup(void);

#endif
