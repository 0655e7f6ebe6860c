/* frontend_args.h - the front end's settings as command-line options, shared by wav2mel (which parses
 * them) and checkpoints (which record them so cnneval can turn raw recordings into the same inputs).
 *
 * Promise: frontend_option() applies one wav2mel audio/spectrogram option (its long name without the
 * dashes, e.g. "n-mels", with its value, or NULL for a flag such as "no-center") exactly as wav2mel does;
 * frontend_parse_text() reads a recorded front end, "WAV2MEL-OPTIONS | SPECNORM-OPTIONS" (words separated
 * by spaces and tabs, '...' quoting a part of a word, e.g. "--sr 22050 --n-mels 128 | --frames 96
 * --mode sample"), into a FrontEnd and a SpecnormConfig.
 *
 * Data-set statistics (specnorm --stats): cnntrain --frontend '... | --stats FILE ...' reads FILE
 * (frontend_text_for_checkpoint: specnorm's checks, band count = the model's input), the checkpoint
 * carries it as two F32 tensors (F,), FRONTEND_STATS_MEAN and FRONTEND_STATS_STD (frontend_stats_items),
 * and the recorded text says "--stats checkpoint" instead of the path. frontend_from_checkpoint() reads
 * such a checkpoint's front end back with its statistics; frontend_parse_text() alone accepts
 * "--stats checkpoint" and leaves norm->stats NULL (enough for the spectrogram settings). Tensors under
 * FRONTEND_TENSOR_PREFIX are not model parameters: loaders skip them. */
#ifndef AUDIOCNN_FRONTEND_ARGS_H
#define AUDIOCNN_FRONTEND_ARGS_H

#include "audio/frontend.h"
#include "audio/specnorm.h"
#include "formats/safetensors.h"

/* 1: applied; 0: not a front-end option; -1: bad value (err_set names the option). */
int frontend_option(FrontEnd *fe, const char *name, const char *value);
/* 1 if NAME takes no value. */
int frontend_option_is_flag(const char *name);
/* Returns 0, or -1 with err_set(). fe must be frontend_init()ed; norm is set to specnorm's defaults first. */
int frontend_parse_text(const char *text, FrontEnd *fe, SpecnormConfig *norm);

#define FRONTEND_TENSOR_PREFIX "frontend."
#define FRONTEND_STATS_MEAN "frontend.stats.mean"
#define FRONTEND_STATS_STD "frontend.stats.std"
#define FRONTEND_STATS_HERE "checkpoint" /* the recorded text's --stats value */

/* cnntrain's --frontend TEXT. Without a --stats word: returns 0, *recorded NULL (TEXT is kept as it is)
 * and stats zeroed. With one: TEXT must be a front end frontend_parse_text reads (else -2, err_set
 * "--frontend: ..."); the file is loaded into stats (specnorm_stats_load's checks, and F == n_mels; else
 * -1 with err_set naming the file), and *recorded (malloc'd) is TEXT with the path replaced by
 * "checkpoint". */
int frontend_text_for_checkpoint(const char *text, int n_mels, SpecnormStats *stats, char **recorded);
/* stats as the checkpoint's two tensors (pointing into stats): returns 2, or 0 when stats is empty. */
int frontend_stats_items(const SpecnormStats *s, StItem items[2]);
/* A checkpoint's front end ("frontend" metadata), with its statistics when it records "--stats
 * checkpoint": both tensors F32 (F,), F == n_mels when n_mels > 0, values checked as specnorm_stats_load
 * checks a file; norm->stats then points to stats (specnorm_stats_free it after use). Returns 0, or -1
 * with err_set() naming the checkpoint. */
int frontend_from_checkpoint(const StFile *f, int n_mels, FrontEnd *fe, SpecnormConfig *norm, SpecnormStats *stats);

#endif
