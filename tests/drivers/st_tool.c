/* Driver for tests/py/test_safetensors.py: lib/safetensors against the real safetensors library.
 *
 *   st_tool write OUT          the fixed test table (a small conv/bn/fc model, see make_table) with
 *                              known values, metadata and an extra tensor opt.m.fc.weight
 *   st_tool write-plain OUT    three tensors in the official writer's order, for a byte comparison
 *   st_tool dump FILE          every metadata pair and tensor (header order):
 *                                meta KEY<TAB>VALUE
 *                                tensor NAME<TAB>DTYPE<TAB>D0,D1,..<TAB>V0 V1 ...
 *                              strings escaped (\\ \t \n \xHH), floats %.9g, integers exact
 *   st_tool load-table FILE [--fc-out N] [--skip PREFIX]... [--allow-unexpected]
 *                              load into the fixed table (fc with N outputs, default 3); prints the
 *                              table as dump does, or "problem: ..." lines and the error, exit 1 */
#include "core/error.h"
#include "formats/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_escaped(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\') fputs("\\\\", stdout);
        else if (*p == '\t') fputs("\\t", stdout);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p < 0x20 || *p == 0x7f) printf("\\x%02x", *p);
        else putchar(*p);
    }
}

static void put_head(const char *name, const char *dtype, int ndim, const int64_t *shape) {
    fputs("tensor ", stdout);
    put_escaped(name);
    printf("\t%s\t", dtype);
    for (int d = 0; d < ndim; d++) printf(d ? ",%lld" : "%lld", (long long)shape[d]);
    putchar('\t');
}

static void put_floats(const float *v, size_t n) {
    for (size_t k = 0; k < n; k++) printf(k ? " %.9g" : "%.9g", (double)v[k]);
    putchar('\n');
}

/* conv1 = Conv2d(1, 4, 3, bias=False), bn1 = BatchNorm2d(4), fc = Linear(4, fc_out): PyTorch's names,
 * shapes and state_dict order. */
static int make_table(ParamTable *t, int fc_out) {
    params_init(t);
    int64_t cw[4] = {4, 1, 3, 3}, c[1] = {4}, fw[2] = {fc_out, 4}, fb[1] = {fc_out}, none[1] = {0};
    if (params_add(t, "conv1.weight", PARAM_WEIGHT, 4, cw) < 0 || params_add(t, "bn1.weight", PARAM_WEIGHT, 1, c) < 0 ||
        params_add(t, "bn1.bias", PARAM_WEIGHT, 1, c) < 0 || params_add(t, "bn1.running_mean", PARAM_BUFFER, 1, c) < 0 ||
        params_add(t, "bn1.running_var", PARAM_BUFFER, 1, c) < 0 ||
        params_add(t, "bn1.num_batches_tracked", PARAM_COUNT, 0, none) < 0 ||
        params_add(t, "fc.weight", PARAM_WEIGHT, 2, fw) < 0 || params_add(t, "fc.bias", PARAM_WEIGHT, 1, fb) < 0)
        return -1;
    return params_alloc(t);
}

static void print_table(const ParamTable *t) {
    for (int i = 0; i < t->n; i++) {
        const ParamEntry *p = &t->e[i];
        put_head(p->name, p->kind == PARAM_COUNT ? "I64" : "F32", p->ndim, p->shape);
        if (p->kind == PARAM_COUNT) {
            for (size_t k = 0; k < p->numel; k++) printf(k ? " %lld" : "%lld", (long long)params_data(t, i)[k]);
            putchar('\n');
        } else {
            put_floats(params_data(t, i), p->numel);
        }
    }
}

static int fail(void) {
    fprintf(stderr, "st_tool: error: %s\n", err_msg());
    return 1;
}

static int cmd_write(const char *out) {
    ParamTable t;
    if (make_table(&t, 3) < 0) return fail();
    /* value of element k of entry i: (k % 7 - 3) / 8 + i, exact in float32; the count is 12345 */
    for (int i = 0; i < t.n; i++)
        for (size_t k = 0; k < t.e[i].numel; k++)
            params_data(&t, i)[k] = t.e[i].kind == PARAM_COUNT ? 12345.0f : (float)((int)(k % 7) - 3) / 8 + (float)i;
    float m[12];
    for (int k = 0; k < 12; k++) m[k] = -(float)k / 4;
    StItem extra[1] = {{"opt.m.fc.weight", ST_F32, 2, {3, 4}, m}};
    StMeta meta[3] = {{"format", "pt"}, {"step", "42"}, {"note", "caf\xc3\xa9 \"quoted\"\tand\nnew line \\ \x01"}};
    int rc = st_save_params(out, &t, meta, 3, extra, 1);
    params_free(&t);
    return rc < 0 ? fail() : 0;
}

static int cmd_write_plain(const char *out) {
    int64_t count = 5;
    float a[6] = {0.5f, -1, 2, 3.25f, 1e-3f, -7}, b[4] = {1, 2, 3, 4};
    StItem items[3] = {{"count", ST_I64, 0, {0}, &count}, {"a.w", ST_F32, 2, {2, 3}, a}, {"b.w", ST_F32, 1, {4}, b}};
    StMeta meta[1] = {{"format", "pt"}};
    return st_save(out, items, 3, meta, 1) < 0 ? fail() : 0;
}

static int cmd_dump(const char *path) {
    StFile f;
    if (st_open(path, &f) < 0) return fail();
    for (int i = 0; i < f.nmeta; i++) {
        fputs("meta ", stdout);
        put_escaped(f.meta[i].key);
        putchar('\t');
        put_escaped(f.meta[i].value);
        putchar('\n');
    }
    for (int i = 0; i < f.n; i++) {
        const StEntry *e = &f.e[i];
        Tensor t;
        if (st_read_tensor(&f, i, ST_WANT_NATURAL, &t) < 0) {
            st_close(&f);
            return fail();
        }
        put_head(e->name, st_dtype_name(e->dtype), e->ndim, e->shape);
        if (t.dtype == DT_F32) {
            put_floats(tensor_f32(&t), (size_t)e->numel);
        } else {
            for (int64_t k = 0; k < e->numel; k++) printf(k ? " %lld" : "%lld", (long long)tensor_i64(&t)[k]);
            putchar('\n');
        }
        tensor_free(&t);
    }
    st_close(&f);
    return 0;
}

static int cmd_load_table(int argc, char **argv) {
    const char *skip[16];
    StLoadOpts o = {skip, 0, 0};
    int fc_out = 3;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--allow-unexpected") == 0) o.allow_unexpected = 1;
        else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc && o.nskip < 16) skip[o.nskip++] = argv[++i];
        else if (strcmp(argv[i], "--fc-out") == 0 && i + 1 < argc) fc_out = atoi(argv[++i]);
        else {
            fprintf(stderr, "st_tool: error: bad option %s\n", argv[i]);
            return 2;
        }
    }
    ParamTable t;
    if (make_table(&t, fc_out) < 0) return fail();
    for (size_t k = 0; k < t.total; k++) t.data[k] = -7; /* what skipped entries keep */
    StrList probs = {0};
    int rc = st_load(argv[2], &t, &o, &probs);
    if (rc < 0) {
        for (size_t i = 0; i < probs.n; i++) printf("problem: %s\n", probs.v[i]);
        strlist_free(&probs);
        params_free(&t);
        return fail();
    }
    print_table(&t);
    params_free(&t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "write") == 0) return cmd_write(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "write-plain") == 0) return cmd_write_plain(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "dump") == 0) return cmd_dump(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "load-table") == 0) return cmd_load_table(argc, argv);
    fprintf(stderr, "usage: st_tool write OUT | write-plain OUT | dump FILE | load-table FILE [--fc-out N] "
                    "[--skip PREFIX]... [--allow-unexpected]\n");
    return 2;
}
