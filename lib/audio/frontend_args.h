/* frontend_args.h - the front end's settings as command-line options, shared by wav2mel (which parses
 * them) and checkpoints (which record them so cnneval can turn raw recordings into the same inputs).
 *
 * Promise: frontend_option() applies one wav2mel audio/spectrogram option (its long name without the
 * dashes, e.g. "n-mels", with its value, or NULL for a flag such as "no-center") exactly as wav2mel does;
 * frontend_parse_text() reads a recorded front end, "WAV2MEL-OPTIONS | SPECNORM-OPTIONS" (words separated
 * by spaces, e.g. "--sr 22050 --n-mels 128 | --frames 96 --mode sample"), into a FrontEnd and a
 * SpecnormConfig. specnorm's --stats cannot be recorded this way (the statistics are a file) and is
 * refused. */
#ifndef AUDIOCNN_FRONTEND_ARGS_H
#define AUDIOCNN_FRONTEND_ARGS_H

#include "audio/frontend.h"
#include "audio/specnorm.h"

/* 1: applied; 0: not a front-end option; -1: bad value (err_set names the option). */
int frontend_option(FrontEnd *fe, const char *name, const char *value);
/* 1 if NAME takes no value. */
int frontend_option_is_flag(const char *name);
/* Returns 0, or -1 with err_set(). fe must be frontend_init()ed; norm is set to specnorm's defaults first. */
int frontend_parse_text(const char *text, FrontEnd *fe, SpecnormConfig *norm);

#endif
