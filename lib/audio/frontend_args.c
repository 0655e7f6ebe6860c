#include "audio/frontend_args.h"

#include "core/error.h"
#include "formats/safetensors.h"

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

/* Where a text's specnorm --stats value is: byte offset and length in the text (len 0: none). */
typedef struct {
    size_t off, len;  /* the value as written (quotes included) */
    const char *path; /* the value (quotes removed), pointing into parse_text's copy: valid until it returns */
    int mode_given;
} StatsWord;

static int norm_option(SpecnormConfig *c, const char *name, const char *value, size_t value_off, size_t value_len,
                       StatsWord *sw) {
    if (!value) {
        err_set("--%s needs a value", name);
        return -1;
    }
    if (!strcmp(name, "mode")) {
        sw->mode_given = 1;
        return specnorm_mode_parse(value, &c->mode);
    }
    if (!strcmp(name, "stats")) {
        if (!*value) {
            err_set("--stats needs a value");
            return -1;
        }
        sw->off = value_off;
        sw->len = value_len;
        sw->path = value;
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

/* TEXT's words (split at spaces and tabs; '...' quotes a part of a word, spaces included, the quotes
 * dropped) as strings in buf (strlen(text) + 1 bytes), with where each stands in TEXT ([at, end)).
 * Returns the count (at most cap), or -1 with err_set() for an unmatched quote. */
static int split_words(const char *text, char *buf, char **words, size_t (*at)[2], int cap) {
    int n = 0;
    size_t i = 0;
    char *o = buf;
    while (text[i] && n < cap) {
        if (text[i] == ' ' || text[i] == '\t') {
            i++;
            continue;
        }
        words[n] = o;
        at[n][0] = i;
        while (text[i] && text[i] != ' ' && text[i] != '\t') {
            if (text[i] != '\'') {
                *o++ = text[i++];
                continue;
            }
            const char *q = strchr(text + i + 1, '\'');
            if (!q) {
                err_set("recorded front end '%s': a quote (') is not closed", text);
                return -1;
            }
            memcpy(o, text + i + 1, (size_t)(q - text - i - 1));
            o += q - text - i - 1;
            i = (size_t)(q - text) + 1;
        }
        *o++ = 0;
        at[n++][1] = i;
    }
    return n;
}

/* Both forms of the text: the --stats value is left to the caller (sw; sw->path only until return). */
static int parse_text(const char *text, FrontEnd *fe, SpecnormConfig *norm, StatsWord *sw, char **copy_out) {
    specnorm_config_default(norm);
    memset(sw, 0, sizeof *sw);
    *copy_out = NULL;
    if (!text) text = "";
    char *copy = malloc(strlen(text) + 1);
    if (!copy) {
        err_set("out of memory");
        return -1;
    }
    char *words[256];
    size_t at[256][2];
    int n = split_words(text, copy, words, at, 256), part = 0, rc = n < 0 ? -1 : 0;
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
        size_t voff = 0, vend = 0;
        if (eq) {
            *eq = 0;
            value = eq + 1;
            voff = at[i][0] + (size_t)(value - words[i]); /* the option's name holds no quote */
            vend = at[i][1];
        } else if (!(part == 0 && frontend_option_is_flag(name)) && i + 1 < n) {
            value = words[++i];
            voff = at[i][0];
            vend = at[i][1];
        }
        if (part == 0) {
            int r = frontend_option(fe, name, value);
            if (r == 0) err_set("recorded front end: --%s is not a wav2mel front-end option", name);
            rc = r == 1 ? 0 : -1;
        } else {
            rc = norm_option(norm, name, value, voff, vend - voff, sw);
        }
    }
    *copy_out = copy;
    if (rc == 0 && sw->len && norm->mode != SPECNORM_STATS) {
        if (sw->mode_given) {
            err_set("recorded front end: --stats goes with --mode stats, not --mode %s", specnorm_mode_name(norm->mode));
            return -1;
        }
        norm->mode = SPECNORM_STATS; /* --stats implies --mode stats, as in specnorm */
    }
    if (rc == 0 && norm->mode == SPECNORM_STATS && !sw->len) {
        err_set("recorded front end: --mode stats needs --stats (cnntrain --frontend '... | --stats FILE')");
        return -1;
    }
    if (rc == 0) rc = frontend_validate(fe);
    return rc;
}

int frontend_parse_text(const char *text, FrontEnd *fe, SpecnormConfig *norm) {
    StatsWord sw;
    char *copy;
    int rc = parse_text(text, fe, norm, &sw, &copy);
    if (rc == 0 && sw.path && strcmp(sw.path, FRONTEND_STATS_HERE) != 0) {
        err_set("recorded front end: --stats %.200s: a checkpoint's front end takes its statistics from its own "
                "tensors (--stats " FRONTEND_STATS_HERE ")", sw.path);
        rc = -1;
    }
    free(copy);
    norm->stats = NULL; /* the caller's: frontend_from_checkpoint reads them */
    return rc;
}

/* 1 when a word of TEXT is --stats or --stats=...: the text names a statistics file. */
static int names_stats(const char *text) {
    for (const char *p = text; (p = strstr(p, "--stats")) != NULL; p += 7)
        if ((p == text || p[-1] == ' ' || p[-1] == '\t') && (!p[7] || p[7] == ' ' || p[7] == '\t' || p[7] == '='))
            return 1;
    return 0;
}

int frontend_text_for_checkpoint(const char *text, int n_mels, SpecnormStats *stats, char **recorded) {
    memset(stats, 0, sizeof *stats);
    *recorded = NULL;
    if (!text || !names_stats(text)) return 0;
    FrontEnd fe;
    frontend_init(&fe);
    SpecnormConfig norm;
    StatsWord sw;
    char *path; /* the copy sw.path points into */
    int rc = parse_text(text, &fe, &norm, &sw, &path);
    frontend_free(&fe);
    if (rc < 0) {
        free(path);
        err_prefix("--frontend");
        return -2;
    }
    rc = specnorm_stats_load(sw.path, stats);
    if (rc == 0 && stats->f != n_mels) {
        err_set("%s: statistics of %lld mel bands, but the model's input has %d", stats->name, (long long)stats->f,
                n_mels);
        specnorm_stats_free(stats);
        rc = -1;
    }
    free(path);
    if (rc < 0) return -1;
    size_t n = strlen(text), k = strlen(FRONTEND_STATS_HERE);
    if (!(*recorded = malloc(n - sw.len + k + 1))) {
        specnorm_stats_free(stats);
        err_set("out of memory");
        return -1;
    }
    memcpy(*recorded, text, sw.off);
    memcpy(*recorded + sw.off, FRONTEND_STATS_HERE, k);
    memcpy(*recorded + sw.off + k, text + sw.off + sw.len, n - sw.off - sw.len + 1);
    return 0;
}

int frontend_stats_items(const SpecnormStats *s, StItem items[2]) {
    if (!s->t.data) return 0;
    items[0] = (StItem){.name = FRONTEND_STATS_MEAN, .dtype = ST_F32, .ndim = 1, .shape = {s->f}, .data = s->mean};
    items[1] = (StItem){.name = FRONTEND_STATS_STD, .dtype = ST_F32, .ndim = 1, .shape = {s->f}, .data = s->std};
    return 2;
}

int frontend_from_checkpoint(const StFile *f, int n_mels, FrontEnd *fe, SpecnormConfig *norm, SpecnormStats *stats) {
    memset(stats, 0, sizeof *stats);
    const char *text = st_meta_get(f, "frontend");
    if (frontend_parse_text(text ? text : "", fe, norm) < 0) {
        err_prefix(f->name);
        return -1;
    }
    if (norm->mode != SPECNORM_STATS) return 0;
    int im = st_find(f, FRONTEND_STATS_MEAN), is = st_find(f, FRONTEND_STATS_STD);
    if (im < 0 || is < 0) {
        err_set("%s: the recorded front end normalises with the checkpoint's statistics, but it has no tensor '%s'",
                f->name, im < 0 ? FRONTEND_STATS_MEAN : FRONTEND_STATS_STD);
        return -1;
    }
    const StEntry *a = &f->e[im], *b = &f->e[is];
    if (a->dtype != ST_F32 || b->dtype != ST_F32 || a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0] ||
        a->shape[0] < 1) {
        err_set("%s: '" FRONTEND_STATS_MEAN "' and '" FRONTEND_STATS_STD "' must be F32 vectors of the same length "
                "(one value per mel band)", f->name);
        return -1;
    }
    if (n_mels > 0 && a->shape[0] != n_mels) {
        err_set("%s: statistics of %lld mel bands, but the model's input has %d", f->name, (long long)a->shape[0],
                n_mels);
        return -1;
    }
    Tensor t;
    int64_t sh[2] = {2, a->shape[0]};
    if (tensor_alloc(&t, DT_F32, 2, sh) < 0) return -1;
    if (st_read_f32(f, im, tensor_f32(&t), sh[1], 0) < 0 || st_read_f32(f, is, tensor_f32(&t) + sh[1], sh[1], 0) < 0) {
        tensor_free(&t);
        return -1;
    }
    char name[4200];
    snprintf(name, sizeof name, "%s (frontend.stats)", f->name);
    if (specnorm_stats_adopt(stats, &t, name) < 0) return -1;
    norm->stats = stats;
    return 0;
}
