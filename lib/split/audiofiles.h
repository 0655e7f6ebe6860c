/* audiofiles.h - finding the recordings of a data set laid out as a folder of class folders.
 *
 * Promise: audio_tree_scan(ROOT) lists every non-hidden sub-folder of ROOT (the classes, sorted bytewise
 * like Python's sorted(), so a class's position is its index) and, inside each, recursively, every file
 * whose extension names an audio format (audio_name_ok). Hidden files and folders (name starting with '.')
 * are skipped, other files ignored, symbolic links followed (a link loop is visited once). Paths are
 * ROOT/CLASS/... exactly as found (relative stays relative; trailing slashes of ROOT dropped), sorted
 * bytewise within each class. Class folders without audio are listed with n == 0: the caller decides
 * (splitset warns and skips them). Nothing is decoded; the files are never opened. */
#ifndef AUDIOCNN_AUDIOFILES_H
#define AUDIOCNN_AUDIOFILES_H

#include <stddef.h>

/* 1 if NAME ends in an audio extension, case-insensitive: wav flac ogg oga opus mp3 aif aiff aifc au snd
 * w64 caf rf64. */
int audio_name_ok(const char *name);

typedef struct AudioClass {
    char *name;   /* folder name = class name */
    char **paths; /* ROOT/name/..., sorted */
    size_t n;
} AudioClass;

typedef struct AudioTree {
    AudioClass *classes; /* sorted by name */
    size_t n;
} AudioTree;

/* Returns 0, or -1 with err_set() naming the file or folder (ROOT missing or not a folder, a folder that
 * cannot be read). A tree with no class folders, or none with audio, is not an error here. */
int audio_tree_scan(const char *root, AudioTree *t);
void audio_tree_free(AudioTree *t);

#endif
