/* specnorm.h - normalise spectrograms and fit their time axis to a fixed length.
 *
 * A spectrogram is a float32 (1, F, T) array (channel, mel bands, frames); a 2-D (F, T) array is taken
 * as (1, F, T). Processing one array is, in this order:
 *   1. check: 3-D with C = 1 (or 2-D), F > 0, T > 0, every value finite;
 *   2. normalise the whole array as read (before any crop, so statistics never depend on the crop):
 *        SPECNORM_SAMPLE  (x - mean) / (std + 1e-6), mean and population std over all F*T values
 *        SPECNORM_MINMAX  (x - min) / (max - min); a constant array becomes all zeros
 *        SPECNORM_STATS   (x - mean[f]) / (std[f] + 1e-6) per mel band f, from a SpecnormStats
 *        SPECNORM_NONE    unchanged
 *      (accumulated and computed in double, rounded to float32 once);
 *   3. fit the time axis to `frames` (0 keeps T): a longer array keeps frames [off, off + frames)
 *      with off = 0 (start), (T - frames) / 2 rounded down (centre), or uniform in [0, T - frames] from
 *      rng_derive(seed, hash_string(key)) (random); a shorter one is padded at the end of the time axis
 *      with 0 (zero) or copies of its last frame (edge), after normalisation.
 * So the output only depends on the array, the options and its key, never on processing order.
 *
 * Dataset statistics (SpecnormAccum): per-band mean and population std over all frames of all arrays,
 * merged array by array with Chan's formula (double, deterministic order), stored as a (2, F) float32
 * array: row 0 mean, row 1 std.
 *
 * The drivers at the end run whole jobs (a .npy stream, a manifest to a directory or to one stacked
 * (N, 1, F, T) array plus int64 labels, or a fit); they write every output through outfile, so a
 * failure leaves no partial output (see specnorm_to_dir for the directory case). */
#ifndef AUDIOCNN_SPECNORM_H
#define AUDIOCNN_SPECNORM_H

#include "formats/manifest.h"
#include "core/tensor.h"

#include <stdint.h>

#define SPECNORM_EPS 1e-6 /* added to std in SPECNORM_SAMPLE and SPECNORM_STATS */
#define SPECNORM_DEFAULT_FRAMES 400
#define SPECNORM_DEFAULT_SEED 42

typedef enum { SPECNORM_SAMPLE = 0, SPECNORM_MINMAX, SPECNORM_STATS, SPECNORM_NONE } SpecnormMode;
typedef enum { SPECNORM_CROP_CENTRE = 0, SPECNORM_CROP_START, SPECNORM_CROP_RANDOM } SpecnormCrop;
typedef enum { SPECNORM_PAD_ZERO = 0, SPECNORM_PAD_EDGE } SpecnormPad;

/* Per-band statistics, as --fit writes them. */
typedef struct SpecnormStats {
    int64_t f;
    float *mean, *std; /* point into t */
    Tensor t;          /* (2, F) float32 */
    char *name;        /* file name for messages */
} SpecnormStats;

typedef struct SpecnormConfig {
    SpecnormMode mode;
    const SpecnormStats *stats; /* required for SPECNORM_STATS */
    int64_t frames;             /* output frames; 0 keeps each array's length */
    SpecnormCrop crop;
    SpecnormPad pad;
    uint64_t seed;              /* for SPECNORM_CROP_RANDOM */
} SpecnormConfig;

/* mode sample, frames 400, crop centre, pad zero, seed 42. */
void specnorm_config_default(SpecnormConfig *c);

/* Names on the command line <-> enums: "sample|minmax|stats|none", "start|centre|center|random",
 * "zero|edge". Return 0, or -1 with err_set(). */
int specnorm_mode_parse(const char *s, SpecnormMode *m);
int specnorm_crop_parse(const char *s, SpecnormCrop *c);
int specnorm_pad_parse(const char *s, SpecnormPad *p);
const char *specnorm_mode_name(SpecnormMode m);
const char *specnorm_crop_name(SpecnormCrop c);
const char *specnorm_pad_name(SpecnormPad p);

/* Load a stats file: a (2, F) float array with finite means and finite, non-negative stds. */
int specnorm_stats_load(const char *path, SpecnormStats *s);
/* The same checks of the values on a float32 (2, F) tensor from elsewhere (a checkpoint's
 * frontend.stats.* tensors), which s then owns (freed here on error); name is for messages. */
int specnorm_stats_adopt(SpecnormStats *s, Tensor *t, const char *name);
void specnorm_stats_free(SpecnormStats *s);

/* Check a shape (from a header or a manifest): (1, F, T) or (F, T) with F, T > 0. `what` names the
 * array in the message, e.g. "x.npy (key 'dog_1')". Returns 0 or -1 with err_set(). */
int specnorm_check_shape(int ndim, const int64_t *shape, const char *what);
/* Check an array (shape as above, every value finite) and make a 2-D one (1, F, T) in place. */
int specnorm_check(Tensor *t, const char *what);

/* Normalise a checked (1, F, T) float32 array in place. SPECNORM_STATS needs F == stats->f. */
int specnorm_normalise(const SpecnormConfig *c, Tensor *t, const char *what);

/* Frames of the output for an input of t frames. */
int64_t specnorm_out_frames(const SpecnormConfig *c, int64_t t);
/* First kept frame of an input of t frames (0 when t <= frames or frames == 0). */
int64_t specnorm_crop_offset(const SpecnormConfig *c, int64_t t, const char *key);
/* Write the time-fitted (1, F, T) array into out (F * specnorm_out_frames(T) floats, row-major). */
void specnorm_pad_crop(const SpecnormConfig *c, const Tensor *t, const char *key, float *out);

/* check + normalise + pad/crop: `in` (modified in place) -> `out` (1, F, frames), allocated here. */
int specnorm_process(const SpecnormConfig *c, Tensor *in, const char *key, const char *what, Tensor *out);

/* ---- dataset statistics ------------------------------------------------------------------------ */

typedef struct SpecnormAccum {
    int64_t f;     /* 0 until the first array */
    int64_t n;     /* frames seen */
    double *mean;  /* running per-band mean */
    double *m2;    /* running per-band sum of squared deviations */
} SpecnormAccum;

void specnorm_accum_init(SpecnormAccum *a);
/* Add a checked (1, F, T) array; F must match earlier arrays. */
int specnorm_accum_add(SpecnormAccum *a, const Tensor *t, const char *what);
/* (2, F) float32: row 0 mean, row 1 population std. Fails when nothing was added. */
int specnorm_accum_result(const SpecnormAccum *a, Tensor *out);
void specnorm_accum_free(SpecnormAccum *a);

/* ---- drivers ----------------------------------------------------------------------------------- */

typedef struct SpecnormReport {
    int64_t arrays, cropped, padded;
    int64_t f, frames; /* of the last output (stack: of every row) */
} SpecnormReport;

/* Every array of the .npy stream IN ("-" = stdin) to OUT ("-" = stdout), back to back. The key of
 * array i (for random crops) is its 0-based position written in decimal ("0", "1", ...). */
int specnorm_stream(const SpecnormConfig *c, const char *in, const char *out, SpecnormReport *rep);

/* Every array of the manifest to DIR/<key>.npy (DIR created if missing); OUT_MANIFEST (or NULL) gets
 * the same rows with npy = DIR/<key>.npy and the new shape. Shapes, keys (unique, usable as file
 * names) and stats are checked for every row before anything is written; if an array fails later,
 * every file this run wrote is removed again (and directories it created, when empty). */
int specnorm_to_dir(const SpecnormConfig *c, const Manifest *m, const char *dir, const char *out_manifest,
                    int verbosity, SpecnormReport *rep);

/* All arrays of the manifest as one (N, 1, F, T) float32 array in STACK, written row by row after a
 * header for the known N; LABELS (or NULL) gets the index column as int64 (N,) (a row with index -1 is
 * an error); OUT_MANIFEST (or NULL) gets row i describing sample i (npy = STACK, shape 1xFxT). Needs
 * equal F, and equal T when c->frames == 0. All outputs appear together or not at all. */
int specnorm_to_stack(const SpecnormConfig *c, const Manifest *m, const char *stack, const char *labels,
                      const char *out_manifest, int verbosity, SpecnormReport *rep);
/* The same, but with CLASSES (K names, K > 0) LABELS gets multi-label targets instead: uint8 (N, K),
 * column k from the manifest's column named CLASSES[k] (a windows manifest: wav2mel on a splitset
 * --windows list), as numpy.save writes '|u1'. A missing column, or a value other than 0 or 1, is an
 * error naming the manifest's line and the class. */
int specnorm_to_stack_targets(const SpecnormConfig *c, const Manifest *m, const char *stack, const char *labels,
                              const char *const *classes, int K, const char *out_manifest, int verbosity,
                              SpecnormReport *rep);

/* Per-band statistics of every array of the manifest (m != NULL) or of the stream IN, to STATS. */
int specnorm_fit(const Manifest *m, const char *in, const char *stats, int verbosity, SpecnormReport *rep);

#endif
