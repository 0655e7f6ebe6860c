#define _POSIX_C_SOURCE 200809L
#include "split/split.h"

#include "split/audiofiles.h"
#include "core/error.h"
#include "formats/outfile.h"
#include "core/rng.h"
#include "formats/tsv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const split_names[SPLIT_N] = {"train", "val", "test"};

/* ---- small helpers ---------------------------------------------------------------------------------- */

/* S for a one-line message: tabs, CR and LF (and other control bytes) written as \t \r \n \xNN. */
static const char *esc(const char *s, char *buf, size_t cap) {
    size_t k = 0;
    for (; *s && k + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\t') { buf[k++] = '\\'; buf[k++] = 't'; }
        else if (c == '\n') { buf[k++] = '\\'; buf[k++] = 'n'; }
        else if (c == '\r') { buf[k++] = '\\'; buf[k++] = 'r'; }
        else if (c < 0x20 || c == 0x7f) k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", c);
        else buf[k++] = (char)c;
    }
    if (*s && k + 4 <= cap) { memcpy(buf + k, "...", 3); k += 3; }
    buf[k] = 0;
    return buf;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int cmp_strp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int popcount3(int m) { return (m & 1) + ((m >> 1) & 1) + ((m >> 2) & 1); }

const char *split_group_of(const SplitSet *s, size_t i, char *buf, size_t cap) {
    const SplitFile *f = &s->files[i];
    if (f->group) return f->group;
    const char *b = base_name(f->path);
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    if (n >= cap) n = cap - 1;
    memcpy(buf, b, n);
    buf[n] = 0;
    return buf;
}

void split_free(SplitSet *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->files[i].path);
        free(s->files[i].group);
    }
    free(s->files);
    for (int c = 0; c < s->nclasses; c++) free(s->classes[c]);
    free(s->classes);
    for (size_t i = 0; i < s->nskipped; i++) free(s->skipped[i]);
    free(s->skipped);
    free(s->input);
    free(s->prior_dir);
    memset(s, 0, sizeof *s);
}

static int oom(const char *name) {
    err_set("%s: out of memory", name);
    return -1;
}

static int init_set(SplitSet *s, const char *input, size_t n) {
    memset(s, 0, sizeof *s);
    s->input = strdup(strcmp(input, "-") == 0 ? "<stdin>" : input);
    s->files = calloc(n ? n : 1, sizeof *s->files);
    if (!s->input || !s->files) {
        split_free(s);
        return oom(input);
    }
    return 0;
}

static int add_file(SplitSet *s, const char *path, int cls, const char *group) {
    SplitFile *f = &s->files[s->n];
    memset(f, 0, sizeof *f);
    f->cls = cls;
    f->split = -1;
    f->path = strdup(path);
    if (group && group[0]) {
        f->group = strdup(group);
        s->grouped = 1;
        if (!f->group) { free(f->path); return oom(s->input); }
    }
    if (!f->path) { free(f->group); return oom(s->input); }
    s->n++;
    return 0;
}

/* ---- loading ---------------------------------------------------------------------------------------- */

int split_load_dir(const char *dir, SplitSet *s) {
    AudioTree t;
    if (audio_tree_scan(dir, &t) < 0) return -1;
    char eb[600];
    size_t total = 0, nclass = 0;
    for (size_t i = 0; i < t.n; i++) {
        total += t.classes[i].n;
        nclass += t.classes[i].n > 0;
    }
    if (t.n == 0) {
        err_set("%s: no class folders (expected one folder of recordings per class)", dir);
        goto fail_tree;
    }
    if (total == 0) {
        err_set("%s: no audio files in its class folders", dir);
        goto fail_tree;
    }
    if (init_set(s, dir, total) < 0) goto fail_tree;
    s->classes = calloc(nclass, sizeof *s->classes);
    s->skipped = calloc(t.n - nclass + 1, sizeof *s->skipped);
    if (!s->classes || !s->skipped) { oom(dir); goto fail; }
    for (size_t i = 0; i < t.n; i++) {
        AudioClass *c = &t.classes[i];
        if (c->n == 0) {
            s->skipped[s->nskipped++] = c->name;
            c->name = NULL;
            continue;
        }
        int idx = s->nclasses;
        s->classes[s->nclasses++] = c->name;
        c->name = NULL;
        for (size_t j = 0; j < c->n; j++) {
            if (!tsv_field_ok(c->paths[j])) {
                err_set("%s: the path contains a tab or newline, which a TSV list cannot hold",
                        esc(c->paths[j], eb, sizeof eb));
                goto fail;
            }
            if (add_file(s, c->paths[j], idx, NULL) < 0) goto fail;
        }
    }
    audio_tree_free(&t);
    return 0;
fail:
    split_free(s);
fail_tree:
    audio_tree_free(&t);
    return -1;
}

typedef struct PathLine {
    const char *path;
    size_t line;
} PathLine;

static int cmp_pathline(const void *a, const void *b) {
    const PathLine *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

int split_load_tsv(const char *path, SplitSet *s) {
    Tsv t;
    if (tsv_read(path, &t) < 0) return -1;
    const char *name = t.name;
    char eb[600];
    int cp = tsv_col(&t, "path"), cl = tsv_col(&t, "label"), cg = tsv_col(&t, "group");
    char **labels = NULL;
    PathLine *pl = NULL;
    if (cp < 0 || cl < 0) {
        err_set("%s: not a list of recordings: the header needs columns path and label (and optionally group)",
                name);
        goto fail_tsv;
    }
    if (t.nrows == 0) {
        err_set("%s: no recordings listed (only a header)", name);
        goto fail_tsv;
    }
    for (size_t i = 0; i < t.nrows; i++) {
        char **r = t.rows[i];
        if (!r[cp][0] || !r[cl][0]) {
            err_set("%s: line %zu: empty %s", name, t.lineno[i], r[cp][0] ? "label" : "path");
            goto fail_tsv;
        }
        for (int k = 0; k < 3; k++) {
            int col = k == 0 ? cp : k == 1 ? cl : cg;
            if (col >= 0 && !tsv_field_ok(r[col])) {
                err_set("%s: line %zu: %s '%s' contains a carriage return", name, t.lineno[i],
                        k == 0 ? "path" : k == 1 ? "label" : "group", esc(r[col], eb, sizeof eb));
                goto fail_tsv;
            }
        }
    }
    /* a path listed twice */
    pl = malloc(t.nrows * sizeof *pl);
    labels = malloc(t.nrows * sizeof *labels);
    if (!pl || !labels) { oom(name); goto fail_tsv; }
    for (size_t i = 0; i < t.nrows; i++) {
        pl[i].path = t.rows[i][cp];
        pl[i].line = t.lineno[i];
        labels[i] = t.rows[i][cl];
    }
    qsort(pl, t.nrows, sizeof *pl, cmp_pathline);
    for (size_t i = 1; i < t.nrows; i++)
        if (strcmp(pl[i].path, pl[i - 1].path) == 0) {
            err_set("%s: line %zu: '%s' is listed twice (also line %zu)", name, pl[i].line,
                    esc(pl[i].path, eb, sizeof eb), pl[i - 1].line);
            goto fail_tsv;
        }
    /* classes: sorted unique labels */
    qsort(labels, t.nrows, sizeof *labels, cmp_strp);
    size_t nl = 0;
    for (size_t i = 0; i < t.nrows; i++)
        if (nl == 0 || strcmp(labels[i], labels[nl - 1]) != 0) labels[nl++] = labels[i];
    if (init_set(s, path, t.nrows) < 0) goto fail_tsv;
    s->classes = calloc(nl, sizeof *s->classes);
    if (!s->classes) { oom(name); goto fail; }
    for (size_t i = 0; i < nl; i++) {
        if (!(s->classes[i] = strdup(labels[i]))) { oom(name); goto fail; }
        s->nclasses++;
    }
    for (size_t i = 0; i < t.nrows; i++) {
        char **r = t.rows[i];
        char **hit = bsearch(&r[cl], labels, nl, sizeof *labels, cmp_strp);
        if (add_file(s, r[cp], (int)(hit - labels), cg >= 0 ? r[cg] : NULL) < 0) goto fail;
    }
    free(pl);
    free(labels);
    tsv_free(&t);
    return 0;
fail:
    split_free(s);
fail_tsv:
    free(pl);
    free(labels);
    tsv_free(&t);
    return -1;
}

int split_load(const char *input, SplitSet *s) {
    struct stat st;
    if (strcmp(input, "-") != 0 && stat(input, &st) == 0 && S_ISDIR(st.st_mode)) return split_load_dir(input, s);
    return split_load_tsv(input, s);
}

/* ---- groups and the fixed test set ------------------------------------------------------------------ */

int split_regex_compile(regex_t *re, const char *pattern, const char *option) {
    int rc = regcomp(re, pattern, REG_EXTENDED);
    if (rc != 0) {
        char msg[256], eb[300];
        regerror(rc, re, msg, sizeof msg);
        err_set("%s: bad regular expression '%s': %s", option, esc(pattern, eb, sizeof eb), msg);
        return -1;
    }
    return 0;
}

int split_group_regex(SplitSet *s, const regex_t *re, const char *pattern) {
    char eb[600], pb[300];
    for (size_t i = 0; i < s->n; i++) {
        SplitFile *f = &s->files[i];
        const char *b = base_name(f->path);
        regmatch_t m[2];
        int k = re->re_nsub > 0 ? 1 : 0;
        if (regexec(re, b, 2, m, 0) != 0) {
            err_set("%s: the file name does not match --group '%s'", esc(f->path, eb, sizeof eb),
                    esc(pattern, pb, sizeof pb));
            return -1;
        }
        if (m[k].rm_so < 0 || m[k].rm_eo <= m[k].rm_so) {
            err_set("%s: --group '%s' gives an empty group for this file name", esc(f->path, eb, sizeof eb),
                    esc(pattern, pb, sizeof pb));
            return -1;
        }
        char *g = strndup(b + m[k].rm_so, (size_t)(m[k].rm_eo - m[k].rm_so));
        if (!g) return oom(f->path);
        free(f->group);
        f->group = g;
    }
    s->grouped = s->n > 0;
    return 0;
}

long split_test_regex(SplitSet *s, const regex_t *re) {
    long marked = 0;
    s->fixed = 1;
    for (size_t i = 0; i < s->n; i++)
        if (regexec(re, base_name(s->files[i].path), 0, NULL, 0) == 0) {
            marked += !s->files[i].fixed_test;
            s->files[i].fixed_test = 1;
        }
    return marked;
}

typedef struct Entry {
    const char *base;
    int used;
} Entry;

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const Entry *)a)->base, ((const Entry *)b)->base);
}

long split_test_list(SplitSet *s, const char *path, char *example, size_t cap, long *marked) {
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) return -1;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    if (memchr(text, 0, len)) {
        err_set("%s: not a text file (contains NUL bytes)", name);
        free(text);
        return -1;
    }
    Tsv t;
    int is_tsv = 0;
    memset(&t, 0, sizeof t);
    /* a TSV if the first non-blank line has a field "path" */
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        if (ll && p[ll - 1] == '\r') ll--;
        if (ll) {
            for (const char *q = p; q < p + ll;) {
                const char *tab = memchr(q, '\t', (size_t)(p + ll - q));
                const char *e = tab ? tab : p + ll;
                if (e - q == 4 && memcmp(q, "path", 4) == 0) is_tsv = 1;
                q = e + 1;
            }
            break;
        }
        if (!nl) break;
        p = nl + 1;
    }
    Entry *ent = NULL;
    size_t ne = 0;
    long unmatched = -1;
    if (is_tsv) {
        if (tsv_parse(text, len, name, &t) < 0) goto done;
        int cp = tsv_col(&t, "path");
        ent = calloc(t.nrows + 1, sizeof *ent);
        if (!ent) { oom(name); goto done; }
        for (size_t i = 0; i < t.nrows; i++) ent[ne++].base = base_name(t.rows[i][cp]);
    } else {
        size_t lines = 1;
        for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
        ent = calloc(lines, sizeof *ent);
        if (!ent) { oom(name); goto done; }
        for (char *p = text; *p;) {
            char *nl = strchr(p, '\n');
            if (nl) *nl = 0;
            size_t ll = strlen(p);
            if (ll && p[ll - 1] == '\r') p[--ll] = 0;
            if (ll) ent[ne++].base = base_name(p);
            if (!nl) break;
            p = nl + 1;
        }
    }
    if (ne) qsort(ent, ne, sizeof *ent, cmp_entry);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (k == 0 || strcmp(ent[i].base, ent[k - 1].base) != 0) ent[k++] = ent[i];
    ne = k;
    s->fixed = 1;
    long m = 0;
    for (size_t i = 0; i < s->n; i++) {
        Entry key = {base_name(s->files[i].path), 0};
        Entry *hit = ne ? bsearch(&key, ent, ne, sizeof *ent, cmp_entry) : NULL;
        if (hit) {
            hit->used = 1;
            m += !s->files[i].fixed_test;
            s->files[i].fixed_test = 1;
        }
    }
    unmatched = 0;
    if (example && cap) example[0] = 0;
    for (size_t i = 0; i < ne; i++)
        if (!ent[i].used) {
            if (unmatched == 0 && example && cap) esc(ent[i].base, example, cap);
            unmatched++;
        }
    if (marked) *marked = m;
done:
    free(ent);
    if (is_tsv) tsv_free(&t);
    free(text);
    return unmatched;
}

/* ---- an earlier run --------------------------------------------------------------------------------- */

typedef struct Prior {
    const char *key;
    int mask;
} Prior;

static int cmp_prior(const void *a, const void *b) { return strcmp(((const Prior *)a)->key, ((const Prior *)b)->key); }

/* Sort and merge duplicate keys (OR of masks). Returns the new count. */
static size_t merge_prior(Prior *p, size_t n) {
    if (n == 0) return 0;
    qsort(p, n, sizeof *p, cmp_prior);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && strcmp(p[i].key, p[k - 1].key) == 0) p[k - 1].mask |= p[i].mask;
        else p[k++] = p[i];
    }
    return k;
}

static int lookup_prior(const Prior *p, size_t n, const char *key) {
    if (!n) return 0;
    Prior k = {key, 0};
    const Prior *hit = bsearch(&k, p, n, sizeof *p, cmp_prior);
    return hit ? hit->mask : 0;
}

int split_read_prior(SplitSet *s, const char *outdir) {
    Tsv t[SPLIT_N];
    memset(t, 0, sizeof t);
    int have[SPLIT_N] = {0}, any = 0, rc = -1;
    Prior *paths = NULL, *groups = NULL;
    size_t np = 0, ng = 0, total = 0;
    for (int sp = 0; sp < SPLIT_N; sp++) {
        size_t n = strlen(outdir) + 16;
        char *p = malloc(n);
        if (!p) { oom(outdir); goto done; }
        snprintf(p, n, "%s/%s.tsv", outdir, split_names[sp]);
        struct stat st;
        if (stat(p, &st) != 0) {
            int e = errno;
            if (e != ENOENT && e != ENOTDIR) {
                err_set("%s: cannot read: %s", p, strerror(e));
                free(p);
                goto done;
            }
            free(p);
            continue;
        }
        int r = tsv_read(p, &t[sp]);
        free(p);
        if (r < 0) goto done;
        have[sp] = 1;
        any = 1;
        if (tsv_col(&t[sp], "path") < 0) {
            err_set("%s: an earlier split without a path column (use --fresh to ignore it)", t[sp].name);
            goto done;
        }
        total += t[sp].nrows;
    }
    paths = calloc(total + 1, sizeof *paths);
    groups = calloc(total + 1, sizeof *groups);
    if (!paths || !groups) { oom(outdir); goto done; }
    for (int sp = 0; sp < SPLIT_N; sp++) {
        if (!have[sp]) continue;
        int cp = tsv_col(&t[sp], "path"), cg = tsv_col(&t[sp], "group");
        for (size_t i = 0; i < t[sp].nrows; i++) {
            paths[np].key = t[sp].rows[i][cp];
            paths[np++].mask = 1 << sp;
            if (cg >= 0 && t[sp].rows[i][cg][0]) {
                groups[ng].key = t[sp].rows[i][cg];
                groups[ng++].mask = 1 << sp;
            }
        }
    }
    np = merge_prior(paths, np);
    ng = merge_prior(groups, ng);
    for (size_t i = 0; i < s->n; i++) {
        SplitFile *f = &s->files[i];
        f->prior = lookup_prior(paths, np, f->path);
        if (f->group) f->prior |= lookup_prior(groups, ng, f->group);
        f->is_new = lookup_prior(paths, np, f->path) == 0;
    }
    s->prior_read = any;
    free(s->prior_dir);
    s->prior_dir = strdup(outdir);
    rc = any;
done:
    free(paths);
    free(groups);
    for (int sp = 0; sp < SPLIT_N; sp++)
        if (have[sp]) tsv_free(&t[sp]);
    return rc;
}

/* ---- assignment ------------------------------------------------------------------------------------- */

typedef struct Unit {
    size_t first, count; /* range of the sorted file pointers */
    const char *key;     /* group key or stem */
    const char *path;    /* first file's path, the last tie-break */
    uint64_t order;
    int split;
} Unit;

/* grouped files first, by group key, then by path; files without a group after them, by path */
static int cmp_files(const void *a, const void *b) {
    const SplitFile *x = *(SplitFile *const *)a, *y = *(SplitFile *const *)b;
    if (!x->group != !y->group) return x->group ? -1 : 1;
    if (x->group) {
        int c = strcmp(x->group, y->group);
        if (c) return c;
    }
    return strcmp(x->path, y->path);
}

static int cmp_units(const void *a, const void *b) {
    const Unit *x = a, *y = b;
    if (x->order != y->order) return x->order < y->order ? -1 : 1;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->path, y->path);
}

static const char *unit_name(SplitFile *const *fp, const Unit *u, char *buf, size_t cap) {
    const SplitFile *f = fp[u->first];
    char eb[512];
    if (f->group) snprintf(buf, cap, "group '%s'", esc(f->group, eb, sizeof eb));
    else snprintf(buf, cap, "%s", esc(f->path, eb, sizeof eb));
    return buf;
}

/* Units: runs of one group key in the sorted files, or single files without a group, each with the
 * seeded hash of its key (group key, or the file's stem). fp and units hold s->n + 1 entries; *stems
 * (freed by the caller) holds the stems. */
static int make_units(SplitSet *s, uint64_t seed, SplitFile **fp, Unit *units, size_t *nunits, char **stems_out) {
    for (size_t i = 0; i < s->n; i++) fp[i] = &s->files[i];
    qsort(fp, s->n, sizeof *fp, cmp_files);
    size_t nu = 0, stem_bytes = 1;
    for (size_t i = 0; i < s->n;) {
        size_t j = i + 1;
        if (fp[i]->group)
            while (j < s->n && fp[j]->group && strcmp(fp[j]->group, fp[i]->group) == 0) j++;
        else
            stem_bytes += strlen(fp[i]->path) + 1;
        units[nu].first = i;
        units[nu].count = j - i;
        units[nu].split = -1;
        units[nu].path = fp[i]->path;
        nu++;
        i = j;
    }
    char *stems = *stems_out = malloc(stem_bytes);
    if (!stems) return oom(s->input);
    size_t so = 0;
    for (size_t u = 0; u < nu; u++) {
        SplitFile *f = fp[units[u].first];
        if (f->group) {
            units[u].key = f->group;
        } else {
            units[u].key = split_group_of(s, (size_t)(f - s->files), stems + so, strlen(f->path) + 1);
            so += strlen(stems + so) + 1;
        }
        Rng r;
        rng_derive(&r, seed, hash_string(units[u].key));
        units[u].order = rng_next(&r);
    }
    *nunits = nu;
    return 0;
}

int split_parse_ratios(const char *text, double ratios[SPLIT_N]) {
    const char *p = text;
    double sum = 0;
    for (int i = 0; i < SPLIT_N; i++) {
        char *end;
        errno = 0;
        if (*p == '-' || *p == '+' || *p == ' ' || *p == 0) goto bad;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || v < 0) goto bad;
        if (i < SPLIT_N - 1 && *end != '/') goto bad;
        if (i == SPLIT_N - 1 && *end) goto bad;
        ratios[i] = v;
        sum += v;
        p = end + 1;
    }
    if (!(sum > 0) || !isfinite(sum)) {
        char eb[200];
        err_set("--ratios: '%s': the ratios are all zero", esc(text, eb, sizeof eb));
        return -1;
    }
    return 0;
bad:;
    char eb[200];
    err_set("--ratios: '%s': expected TRAIN/VAL/TEST, three non-negative numbers such as 70/15/15",
            esc(text, eb, sizeof eb));
    return -1;
}

void split_stats_free(SplitStats *st) {
    free(st->per_class);
    memset(st, 0, sizeof *st);
}

int split_assign(SplitSet *s, const double ratios[SPLIT_N], uint64_t seed, SplitStats *st) {
    memset(st, 0, sizeof *st);
    int K = s->nclasses;
    SplitFile **fp = malloc((s->n + 1) * sizeof *fp);
    Unit *units = malloc((s->n + 1) * sizeof *units);
    char *stems = NULL;
    double *target = calloc((size_t)K * SPLIT_N, sizeof *target); /* scaled by the ratio sum */
    double *assigned = calloc((size_t)K * SPLIT_N, sizeof *assigned);
    long *tot = calloc((size_t)K, sizeof *tot), *fixed_tot = calloc((size_t)K, sizeof *fixed_tot);
    st->per_class = calloc((size_t)K * SPLIT_N, sizeof *st->per_class);
    int rc = -1;
    char nb[700], eb[600], eb2[600];
    if (!fp || !units || !target || !assigned || !tot || !fixed_tot || !st->per_class) { oom(s->input); goto done; }

    size_t nu = 0;
    if (make_units(s, seed, fp, units, &nu, &stems) < 0) goto done;

    /* class totals and targets, scaled by the sum R of the ratios in play so that integer ratios give
     * exact arithmetic (and exact ties) */
    for (size_t i = 0; i < s->n; i++) {
        tot[s->files[i].cls]++;
        if (s->files[i].fixed_test) fixed_tot[s->files[i].cls]++;
    }
    int eligible[SPLIT_N];
    for (int sp = 0; sp < SPLIT_N; sp++) eligible[sp] = ratios[sp] > 0;
    if (s->fixed) eligible[SPLIT_TEST] = 0;
    if (!eligible[SPLIT_TRAIN] && !eligible[SPLIT_VAL] && !eligible[SPLIT_TEST]) {
        err_set("--ratios: no split left to fill (with a fixed test set, train and val cannot both be zero)");
        goto done;
    }
    double R = 0;
    for (int sp = 0; sp < SPLIT_N; sp++)
        if (eligible[sp]) R += ratios[sp];
    for (int c = 0; c < K; c++)
        for (int sp = 0; sp < SPLIT_N; sp++)
            target[c * SPLIT_N + sp] = eligible[sp] ? ratios[sp] * (double)(tot[c] - fixed_tot[c]) : 0;

    /* units placed in advance: the fixed test set, then an earlier run */
    for (size_t u = 0; u < nu; u++) {
        Unit *un = &units[u];
        size_t nfixed = 0;
        const SplitFile *in_fixed = NULL, *out_fixed = NULL;
        int mask = 0;
        for (size_t k = un->first; k < un->first + un->count; k++) {
            if (fp[k]->fixed_test) { nfixed++; in_fixed = fp[k]; }
            else out_fixed = fp[k];
            mask |= fp[k]->prior;
        }
        if (nfixed == un->count) {
            un->split = SPLIT_TEST;
            continue;
        }
        if (nfixed) {
            err_set("%s: %s has files both in the fixed test set (%s) and outside it (%s)", s->input,
                    unit_name(fp, un, nb, sizeof nb), esc(in_fixed->path, eb, sizeof eb),
                    esc(out_fixed->path, eb2, sizeof eb2));
            goto done;
        }
        if (s->fixed) mask &= ~(1 << SPLIT_TEST);
        if (popcount3(mask) > 1) {
            int a = mask & 1 ? 0 : 1, b = mask & 4 ? 2 : 1;
            err_set("%s: the earlier split there puts %s in both %s and %s (use --fresh to split again)",
                    s->prior_dir ? s->prior_dir : s->input, unit_name(fp, un, nb, sizeof nb), split_names[a],
                    split_names[b]);
            goto done;
        }
        if (mask) un->split = mask == 1 ? SPLIT_TRAIN : mask == 2 ? SPLIT_VAL : SPLIT_TEST;
    }
    for (size_t u = 0; u < nu; u++)
        if (units[u].split >= 0)
            for (size_t k = units[u].first; k < units[u].first + units[u].count; k++)
                assigned[fp[k]->cls * SPLIT_N + units[u].split] += R;

    /* the others, in seeded hash order, each to the split with the largest deficit */
    qsort(units, nu, sizeof *units, cmp_units);
    for (size_t u = 0; u < nu; u++) {
        Unit *un = &units[u];
        if (un->split >= 0) continue;
        int best = -1;
        double best_d = 0;
        for (int sp = 0; sp < SPLIT_N; sp++) {
            if (!eligible[sp]) continue;
            double d = 0;
            for (size_t k = un->first; k < un->first + un->count; k++)
                d += target[fp[k]->cls * SPLIT_N + sp] - assigned[fp[k]->cls * SPLIT_N + sp];
            if (best < 0 || d > best_d) { best = sp; best_d = d; }
        }
        un->split = best;
        for (size_t k = un->first; k < un->first + un->count; k++) assigned[fp[k]->cls * SPLIT_N + best] += R;
    }

    /* results and counts */
    for (size_t u = 0; u < nu; u++) {
        int sp = units[u].split;
        st->units[sp]++;
        for (size_t k = units[u].first; k < units[u].first + units[u].count; k++) {
            SplitFile *f = fp[k];
            f->split = sp;
            if (!s->prior_read) f->is_new = 1;
            st->files[sp]++;
            st->added[sp] += f->is_new;
            st->per_class[f->cls * SPLIT_N + sp]++;
        }
    }
    rc = 0;
done:
    free(fp);
    free(units);
    free(stems);
    free(target);
    free(assigned);
    free(tot);
    free(fixed_tot);
    if (rc < 0) split_stats_free(st);
    return rc;
}

/* ---- output ----------------------------------------------------------------------------------------- */

static int cmp_by_path(const void *a, const void *b) {
    return strcmp((*(SplitFile *const *)a)->path, (*(SplitFile *const *)b)->path);
}

static const char *const list_names[SPLIT_N + 1] = {"train.tsv", "val.tsv", "test.tsv", "classes.tsv"};

int split_lists_open(SplitLists *l, const char *outdir) {
    memset(l, 0, sizeof *l);
    l->outdir = outdir;
    struct stat sb;
    if (stat(outdir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            err_set("%s: not a folder", outdir);
            return -1;
        }
    } else if (errno != ENOENT || mkdir(outdir, 0777) != 0) {
        err_set("%s: cannot create folder: %s", outdir, strerror(errno));
        return -1;
    } else {
        l->created = 1;
    }
    for (int k = 0; k <= SPLIT_N; k++) {
        size_t n = strlen(outdir) + 16;
        char *p = malloc(n);
        if (!p) {
            oom(outdir);
            return split_lists_close(l, 0), -1;
        }
        snprintf(p, n, "%s/%s", outdir, list_names[k]);
        /* a folder in the way would only show when renaming, after some files are in place */
        struct stat tb;
        if (stat(p, &tb) == 0 && S_ISDIR(tb.st_mode)) {
            err_set("%s: is a folder, cannot write the list there", p);
            free(p);
            return split_lists_close(l, 0), -1;
        }
        int r = outfile_open(&l->o[k], p);
        free(p);
        if (r < 0) return split_lists_close(l, 0), -1;
        l->opened = k + 1;
    }
    return 0;
}

int split_lists_close(SplitLists *l, int ok) {
    int rc = -1;
    /* everything complete before anything is renamed into place */
    for (int k = 0; ok && k < l->opened; k++)
        if (fflush(l->o[k].f) != 0 || ferror(l->o[k].f)) {
            err_set("%s/%s: write error: %s", l->outdir, list_names[k], strerror(errno ? errno : EIO));
            ok = 0;
        }
    if (ok && l->opened == SPLIT_N + 1) {
        rc = 0;
        for (int k = 0; k <= SPLIT_N; k++)
            if (outfile_commit(&l->o[k]) < 0) {
                for (int j = k + 1; j <= SPLIT_N; j++) outfile_abort(&l->o[j]);
                l->opened = 0;
                l->created = 0; /* some files are in place already */
                return -1;
            }
        l->opened = 0;
    }
    for (int k = 0; k < l->opened; k++) outfile_abort(&l->o[k]);
    l->opened = 0;
    if (rc < 0 && l->created) rmdir(l->outdir);
    return rc;
}

void split_write_classes(FILE *f, char *const *names, int n, const long *per_class) {
    fputs("index\tname\ttrain\tval\ttest\n", f);
    for (int c = 0; c < n; c++)
        fprintf(f, "%d\t%s\t%ld\t%ld\t%ld\n", c, names[c], per_class[c * SPLIT_N + SPLIT_TRAIN],
                per_class[c * SPLIT_N + SPLIT_VAL], per_class[c * SPLIT_N + SPLIT_TEST]);
}

int split_write(const SplitSet *s, const SplitStats *st, const char *outdir) {
    SplitFile **fp = malloc((s->n + 1) * sizeof *fp);
    size_t maxlen = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t l = strlen(s->files[i].path);
        if (l > maxlen) maxlen = l;
    }
    char *buf = malloc(maxlen + 1);
    SplitLists l;
    int rc = -1;
    if (!fp || !buf) { oom(outdir); goto done; }
    for (size_t i = 0; i < s->n; i++) fp[i] = &s->files[i];
    qsort(fp, s->n, sizeof *fp, cmp_by_path);
    if (split_lists_open(&l, outdir) < 0) goto done;
    for (int sp = 0; sp < SPLIT_N; sp++) {
        FILE *f = l.o[sp].f;
        fputs("path\tlabel\tindex\tgroup\n", f);
        for (size_t i = 0; i < s->n; i++) {
            const SplitFile *x = fp[i];
            if (x->split != sp) continue;
            const char *g = split_group_of(s, (size_t)(x - s->files), buf, maxlen + 1);
            fprintf(f, "%s\t%s\t%d\t%s\n", x->path, s->classes[x->cls], x->cls, g);
        }
    }
    split_write_classes(l.o[SPLIT_N].f, s->classes, s->nclasses, st->per_class);
    rc = split_lists_close(&l, 1);
done:
    free(fp);
    free(buf);
    return rc;
}

/* ---- cross-validation folds ---------------------------------------------------------------------------- */

int split_read_prior_folds(SplitSet *s, const char *file) {
    for (size_t i = 0; i < s->n; i++) s->files[i].prior_fold = 0;
    struct stat sb;
    if (stat(file, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return 0;
        err_set("%s: cannot read: %s", file, strerror(errno));
        return -1;
    }
    Tsv t;
    if (tsv_read(file, &t) < 0) return -1;
    int cp = tsv_col(&t, "path"), cg = tsv_col(&t, "group"), cf = tsv_col(&t, "fold"), rc = -1;
    Prior *paths = calloc(t.nrows + 1, sizeof *paths), *groups = calloc(t.nrows + 1, sizeof *groups);
    size_t np = 0, ng = 0;
    if (!paths || !groups) { oom(file); goto done; }
    if (cp < 0 || cf < 0) {
        err_set("%s: an earlier folds table without path and fold columns (use --fresh to ignore it)", file);
        goto done;
    }
    for (size_t i = 0; i < t.nrows; i++) {
        char *end;
        long k = strtol(t.rows[i][cf], &end, 10);
        if (*end || k < 1 || k > 30) {
            err_set("%s: line %zu: fold '%s' is not a number from 1 to 30 (use --fresh to ignore the table)", file, i + 2,
                    t.rows[i][cf]);
            goto done;
        }
        paths[np].key = t.rows[i][cp];
        paths[np++].mask = 1 << (k - 1);
        if (cg >= 0 && t.rows[i][cg][0]) {
            groups[ng].key = t.rows[i][cg];
            groups[ng++].mask = 1 << (k - 1);
        }
    }
    np = merge_prior(paths, np);
    ng = merge_prior(groups, ng);
    for (size_t i = 0; i < s->n; i++) {
        SplitFile *f = &s->files[i];
        f->prior_fold = lookup_prior(paths, np, f->path); /* a mask here; split_folds reads it */
        if (f->group) f->prior_fold |= lookup_prior(groups, ng, f->group);
    }
    rc = 0;
done:
    free(paths);
    free(groups);
    tsv_free(&t);
    return rc;
}

int split_folds(SplitSet *s, int K, uint64_t seed, long *per_fold) {
    if (K < 2 || K > 30) {
        err_set("--folds: %d folds (2 to 30)", K);
        return -1;
    }
    int C = s->nclasses, rc = -1;
    SplitFile **fp = malloc((s->n + 1) * sizeof *fp);
    Unit *units = malloc((s->n + 1) * sizeof *units);
    char *stems = NULL;
    long *tot = calloc((size_t)C, sizeof *tot), *assigned = calloc((size_t)C * K, sizeof *assigned);
    char nb[700];
    if (!fp || !units || !tot || !assigned) { oom(s->input); goto done; }
    size_t nu = 0;
    if (make_units(s, seed, fp, units, &nu, &stems) < 0) goto done;
    for (size_t i = 0; i < s->n; i++) tot[s->files[i].cls]++;
    /* units an earlier run placed keep their fold */
    for (size_t u = 0; u < nu; u++) {
        int mask = 0;
        for (size_t k = units[u].first; k < units[u].first + units[u].count; k++) mask |= fp[k]->prior_fold;
        mask &= (1 << K) - 1; /* folds past K (K was larger) are placed anew */
        if (mask & (mask - 1)) {
            err_set("%s: the earlier folds put %s in two folds (use --fresh to fold again)", s->input,
                    unit_name(fp, &units[u], nb, sizeof nb));
            goto done;
        }
        units[u].split = -1;
        for (int f = 0; mask && f < K; f++)
            if (mask == 1 << f) units[u].split = f;
        if (units[u].split >= 0)
            for (size_t k = units[u].first; k < units[u].first + units[u].count; k++)
                assigned[fp[k]->cls * K + units[u].split]++;
    }
    /* the others in seeded hash order, to the largest deficit: target tot/K, compared as tot - K*assigned */
    qsort(units, nu, sizeof *units, cmp_units);
    for (size_t u = 0; u < nu; u++) {
        if (units[u].split >= 0) continue;
        int best = 0;
        long best_d = 0;
        for (int f = 0; f < K; f++) {
            long d = 0;
            for (size_t k = units[u].first; k < units[u].first + units[u].count; k++)
                d += tot[fp[k]->cls] - (long)K * assigned[fp[k]->cls * K + f];
            if (f == 0 || d > best_d) { best = f; best_d = d; }
        }
        units[u].split = best;
        for (size_t k = units[u].first; k < units[u].first + units[u].count; k++) assigned[fp[k]->cls * K + best]++;
    }
    if (per_fold) memset(per_fold, 0, sizeof(long) * (size_t)K);
    for (size_t u = 0; u < nu; u++)
        for (size_t k = units[u].first; k < units[u].first + units[u].count; k++) {
            fp[k]->fold = units[u].split + 1;
            if (per_fold) per_fold[units[u].split]++;
        }
    rc = 0;
done:
    free(fp);
    free(units);
    free(stems);
    free(tot);
    free(assigned);
    return rc;
}

int split_write_folds(const SplitSet *s, const char *file) {
    SplitFile **fp = malloc((s->n + 1) * sizeof *fp);
    size_t maxlen = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->files[i].path) > maxlen) maxlen = strlen(s->files[i].path);
    char *buf = malloc(maxlen + 1);
    OutFile o;
    int rc = -1;
    if (!fp || !buf) { oom(file); goto done; }
    for (size_t i = 0; i < s->n; i++) fp[i] = &s->files[i];
    qsort(fp, s->n, sizeof *fp, cmp_by_path);
    if (outfile_open(&o, file) < 0) goto done;
    fputs("path\tlabel\tindex\tgroup\tfold\n", o.f);
    for (size_t i = 0; i < s->n; i++) {
        const SplitFile *x = fp[i];
        fprintf(o.f, "%s\t%s\t%d\t%s\t%d\n", x->path, s->classes[x->cls], x->cls,
                split_group_of(s, (size_t)(x - s->files), buf, maxlen + 1), x->fold);
    }
    rc = outfile_commit(&o);
done:
    free(fp);
    free(buf);
    return rc;
}
