#include "audio/frontend_args.h"

#include "core/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int num(const char *name, const char *s, double *v) {
    char *end;
    errno = 0;
    if (!s) {
        err_set("--%s needs a value", name);
        return -1;
    }
    *v = strtod(s, &end);
    if (errno || end == s || *end) {
        err_set("bad number for --%s: '%s'", name, s);
        return -1;
    }
    return 0;
}

static int integer(const char *name, const char *s, int *v) {
    double d;
    if (num(name, s, &d) < 0) return -1;
    if (d != (int)d) {
        err_set("--%s needs an integer", name);
        return -1;
    }
    *v = (int)d;
    return 0;
}

static int pick(const char *name, const char *s, const char *const *names, int *v) {
    for (int i = 0; s && names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *v = i;
            return 0;
        }
    err_set("bad value for --%s: '%s'", name, s ? s : "");
    return -1;
}

int frontend_option_is_flag(const char *name) { return strcmp(name, "no-center") == 0; }

int frontend_option(FrontEnd *fe, const char *name, const char *value) {
    static const char *const KINDS[] = {"mel", "stft", 0}, *const PADS[] = {"reflect", "constant", 0},
                             *const MSCALES[] = {"slaney", "htk", 0}, *const MNORMS[] = {"slaney", "none", 0},
                             *const SCALES[] = {"db", "log1p", "linear", 0};
    SpecConfig *sc = &fe->spec;
    int e, rc = 0;
    if (!strcmp(name, "sr")) rc = num(name, value, &fe->sr);
    else if (!strcmp(name, "trim")) rc = num(name, value, &fe->trim_db);
    else if (!strcmp(name, "duration")) rc = num(name, value, &fe->duration);
    else if (!strcmp(name, "segment")) rc = num(name, value, &fe->segment);
    else if (!strcmp(name, "overlap")) rc = num(name, value, &fe->overlap);
    else if (!strcmp(name, "n-fft")) {
        rc = integer(name, value, &sc->n_fft);
        if (!fe->win_set) sc->win_length = sc->n_fft;
    } else if (!strcmp(name, "hop")) rc = integer(name, value, &sc->hop);
    else if (!strcmp(name, "win-length")) {
        rc = integer(name, value, &sc->win_length);
        fe->win_set = 1;
    } else if (!strcmp(name, "no-center")) sc->center = 0;
    else if (!strcmp(name, "n-mels")) rc = integer(name, value, &sc->n_mels);
    else if (!strcmp(name, "fmin")) rc = num(name, value, &sc->fmin);
    else if (!strcmp(name, "fmax")) rc = num(name, value, &sc->fmax);
    else if (!strcmp(name, "power")) rc = num(name, value, &sc->power);
    else if (!strcmp(name, "amin")) rc = num(name, value, &sc->amin);
    else if (!strcmp(name, "top-db")) rc = num(name, value, &sc->top_db);
    else if (!strcmp(name, "ref")) {
        if (value && !strcmp(value, "max")) sc->ref_max = 1;
        else {
            sc->ref_max = 0;
            rc = num(name, value, &sc->ref);
        }
    } else if (!strcmp(name, "kind")) {
        if ((rc = pick(name, value, KINDS, &e)) == 0) sc->kind = (SpecKind)e;
    } else if (!strcmp(name, "pad")) {
        if ((rc = pick(name, value, PADS, &e)) == 0) sc->pad = (PadMode)e;
    } else if (!strcmp(name, "mel-scale")) {
        if ((rc = pick(name, value, MSCALES, &e)) == 0) sc->scale = (MelScale)e;
    } else if (!strcmp(name, "mel-norm")) {
        if ((rc = pick(name, value, MNORMS, &e)) == 0) sc->norm = (MelNorm)e;
    } else if (!strcmp(name, "scale")) {
        if ((rc = pick(name, value, SCALES, &e)) == 0) sc->output = (SpecOutput)e;
    } else return 0;
    return rc < 0 ? -1 : 1;
}

static int norm_option(SpecnormConfig *c, const char *name, const char *value) {
    if (!value) {
        err_set("--%s needs a value", name);
        return -1;
    }
    if (!strcmp(name, "mode")) {
        if (specnorm_mode_parse(value, &c->mode) < 0) return -1;
        if (c->mode == SPECNORM_STATS) {
            err_set("a recorded front end cannot use --mode stats (the statistics are a file)");
            return -1;
        }
        return 0;
    }
    if (!strcmp(name, "frames")) {
        double v;
        if (num(name, value, &v) < 0 || v < 0 || v != (int64_t)v) {
            err_set("bad value for --frames: '%s'", value);
            return -1;
        }
        c->frames = (int64_t)v;
        return 0;
    }
    if (!strcmp(name, "crop")) return specnorm_crop_parse(value, &c->crop);
    if (!strcmp(name, "pad")) return specnorm_pad_parse(value, &c->pad);
    if (!strcmp(name, "seed")) {
        double v;
        if (num(name, value, &v) < 0) return -1;
        c->seed = (uint64_t)v;
        return 0;
    }
    err_set("--%s is not a specnorm option a recorded front end can use", name);
    return -1;
}

int frontend_parse_text(const char *text, FrontEnd *fe, SpecnormConfig *norm) {
    specnorm_config_default(norm);
    char *copy = strdup(text ? text : "");
    if (!copy) {
        err_set("out of memory");
        return -1;
    }
    char *words[256];
    int n = 0;
    for (char *tok = strtok(copy, " \t"); tok && n < 256; tok = strtok(NULL, " \t")) words[n++] = tok;
    int part = 0, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!strcmp(words[i], "|")) {
            part++;
            continue;
        }
        if (strncmp(words[i], "--", 2) != 0 || part > 1) {
            err_set("recorded front end '%s': unexpected '%s'", text, words[i]);
            rc = -1;
            break;
        }
        char *name = words[i] + 2, *value = NULL, *eq = strchr(name, '=');
        if (eq) {
            *eq = 0;
            value = eq + 1;
        } else if (!(part == 0 && frontend_option_is_flag(name)) && i + 1 < n) {
            value = words[++i];
        }
        if (part == 0) {
            int r = frontend_option(fe, name, value);
            if (r == 0) err_set("recorded front end: --%s is not a wav2mel front-end option", name);
            rc = r == 1 ? 0 : -1;
        } else {
            rc = norm_option(norm, name, value);
        }
    }
    free(copy);
    if (rc == 0) rc = frontend_validate(fe);
    return rc;
}
