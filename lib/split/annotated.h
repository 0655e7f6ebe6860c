/* annotated.h - which selection table belongs to which long recording (splitset --windows, cnneval
 * --scan --annotations).
 *
 * Promises: INPUT is either
 * - a folder, where each Raven table `X.Table.1.selections.txt` sits beside its recording `X.EXT` (EXT
 *   an audio extension, audio_name_ok; exactly one such recording, else an error naming the table), or
 * - a TSV list ('-' = stdin) with columns `recording` and `table`, optionally `group` (empty: none).
 * The pairs come sorted bytewise by recording path; a recording listed twice, an empty field, a list
 * without recordings or a folder without tables is an error naming INPUT. Paths are as written (a
 * folder's joined as FOLDER/NAME). Nothing is opened but the folder or list. */
#ifndef AUDIOCNN_ANNOTATED_H
#define AUDIOCNN_ANNOTATED_H

#include <stddef.h>

typedef struct AnnotatedRecording {
    char *path, *table, *group; /* group NULL: none given */
} AnnotatedRecording;

/* Returns 0 with *out (n entries) or -1 with err_set(). */
int annotated_list(const char *input, AnnotatedRecording **out, size_t *n);
void annotated_free(AnnotatedRecording *v, size_t n);
/* The entry whose path is PATH (bytewise), or NULL. v sorted as annotated_list gives it. */
const AnnotatedRecording *annotated_find(const AnnotatedRecording *v, size_t n, const char *path);

#endif
