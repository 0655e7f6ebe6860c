/* lib/pth (and lib/zip, lib/weights) on the .pth corpus (tests/corpus/pth, made by make_pth_corpus.py):
 *   - every bad_*.pth is refused - when opened, or for a few when a tensor is read - with one line that
 *     names the file, and pth_parse on the bytes in memory gives the same verdict; the hostile pickles
 *     and archives are refused for the reason they were made for (global named, opcode named, ...);
 *   - every good_*.pth loads, and each tensor (float32 for floats, int64 for integers, C order, views
 *     gathered) is bit-identical to good_*.expected.safetensors, which the real safetensors library wrote
 *     from the same state_dict;
 *   - pth_load_params / weights_load: st_load_params's semantics (mismatches named, nothing loaded,
 *     skip prefixes, allow_unexpected, PARAM_COUNT from int64), the same messages as for safetensors.
 * Runs under ASan/UBSan in `make asan`. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "core/error.h"
#include "formats/pth.h"
#include "formats/safetensors.h"
#include "formats/weights.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static char dir[4096];

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *P(const char *name) {
    static char buf[32][8192]; /* a few paths live at once */
    static int k;
    k = (k + 1) % 32;
    snprintf(buf[k], sizeof buf[k], "%.4000s/%.300s", dir, name);
    return buf[k];
}

static int read_all(const PthFile *f) {
    for (int i = 0; i < f->n; i++) {
        Tensor t;
        WtSource src = pth_source(f);
        if (wt_read_tensor(&src, i, ST_WANT_NATURAL, &t) < 0) return -1;
        tensor_free(&t);
    }
    return 0;
}

static int load_path(const char *path) {
    PthFile f;
    if (pth_open(path, &f) < 0) return -1;
    int rc = read_all(&f);
    pth_close(&f);
    return rc;
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0, r;
    unsigned char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(fp);
    *len = n;
    return b;
}

static int load_memory(const char *path) {
    size_t n;
    unsigned char *b = slurp(path, &n);
    if (!b) return -2;
    PthFile f;
    int rc = pth_parse(b, n, path, &f);
    if (rc == 0) {
        rc = read_all(&f);
        pth_close(&f);
    }
    free(b);
    return rc;
}

/* Every tensor of the .pth against the expected safetensors file: names, shapes, dtypes, bits. */
static void check_expected(const char *name) {
    char stem[400], exp[400];
    snprintf(stem, sizeof stem, "%.300s", name);
    stem[strlen(stem) - 4] = 0;
    snprintf(exp, sizeof exp, "%.300s.expected.safetensors", stem);
    PthFile f;
    StFile s;
    if (pth_open(P(name), &f) < 0) {
        CHECK(0, "%s: values (%s)", name, err_msg());
        return;
    }
    if (st_open(P(exp), &s) < 0) {
        SKIP("%s: values: %s", name, err_msg());
        pth_close(&f);
        return;
    }
    char why[600] = "";
    if (f.n != s.n) snprintf(why, sizeof why, "%d tensors, expected %d", f.n, s.n);
    for (int i = 0; i < f.n && !why[0]; i++) {
        const PthTensor *t = &f.t[i];
        int j = st_find(&s, t->name);
        if (j < 0) {
            snprintf(why, sizeof why, "'%.200s' not expected", t->name);
            break;
        }
        const StEntry *e = &s.e[j];
        int same = e->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = e->shape[d] == t->shape[d];
        if (!same) {
            snprintf(why, sizeof why, "'%.200s': shape differs", t->name);
            break;
        }
        Tensor a, b;
        WtSource src = pth_source(&f);
        if (wt_read_tensor(&src, i, ST_WANT_NATURAL, &a) < 0) {
            snprintf(why, sizeof why, "%.500s", err_msg());
            break;
        }
        if (st_read_tensor(&s, j, ST_WANT_NATURAL, &b) < 0) {
            tensor_free(&a);
            snprintf(why, sizeof why, "%.500s", err_msg());
            break;
        }
        if (a.dtype != b.dtype) snprintf(why, sizeof why, "'%.200s': dtype differs", t->name);
        else if (t->numel && memcmp(a.data, b.data, (size_t)t->numel * dtype_size(a.dtype)) != 0)
            snprintf(why, sizeof why, "'%.200s': values differ", t->name);
        tensor_free(&a);
        tensor_free(&b);
    }
    CHECK(!why[0], "%s: %d tensors bit-identical to %s%s%s", name, f.n, exp, why[0] ? ": " : "", why);
    pth_close(&f);
    st_close(&s);
}

static void corpus(void) {
    DIR *d = opendir(dir);
    if (!d) {
        SKIP("pth corpus: %.400s not found", dir);
        return;
    }
    char *names[1024];
    int n = 0, bad = 0, good = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".pth") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) {
        const char *path = P(names[i]);
        int rc = load_path(path);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rc == -1 ? err_msg() : "(accepted!)");
        int rm = load_memory(path);
        if (strncmp(names[i], "bad_", 4) == 0) {
            bad++;
            size_t pl = strlen(path);
            CHECK(rc == -1 && strncmp(msg, path, pl) == 0 && msg[pl] == ':' && !strchr(msg, '\n'), "%.100s refused: %.300s",
                  names[i], msg + (rc == -1 && strlen(msg) > pl ? pl + 2 : 0));
        } else if (strncmp(names[i], "good_", 5) == 0) {
            good++;
            CHECK(rc == 0, "%.100s loads%s%.300s", names[i], rc ? ": " : "", rc ? msg : "");
            if (rc == 0) check_expected(names[i]);
        }
        CHECK(rm == rc, "%.100s: same verdict from pth_parse in memory", names[i]);
        free(names[i]);
    }
    CHECK(bad >= 100 && good >= 8, "corpus holds %d bad and %d good files", bad, good);
}

/* The reason each hostile file is refused. */
static void reasons(void) {
    static const char *const want[][2] = {
        {"bad_pkl_os_system.pth", "global 'os.system' is not allowed"},
        {"bad_pkl_posix_system.pth", "global 'posix.system' is not allowed"},
        {"bad_pkl_builtins_eval.pth", "global 'builtins.eval' is not allowed"},
        {"bad_pkl_builtin_exec_stack_global.pth", "(STACK_GLOBAL): global 'builtins.exec'"},
        {"bad_pkl_inst.pth", "(INST): opcode not supported"},
        {"bad_pkl_obj.pth", "(OBJ): opcode not supported"},
        {"bad_pkl_newobj.pth", "(NEWOBJ): opcode not supported"},
        {"bad_pkl_unknown_opcode.pth", "byte 3: unknown opcode 0xff"},
        {"bad_pkl_deep_marks.pth", "more than 64 nested MARKs"},
        {"bad_pkl_memo_get_range.pth", "(BINGET): memo index 5 out of range"},
        {"bad_pkl_memo_put_range.pth", "(LONG_BINPUT): memo index 4026531840 out of range"},
        {"bad_deflate.pth", "is compressed (deflate)"},
        {"bad_zipslip_dotdot.pth", "path traversal"},
        {"bad_zipslip_abs.pth", "an absolute name"},
        {"bad_legacy.pth", "legacy torch.save format"},
        {"bad_torchscript.pth", "TorchScript archive"},
        {"bad_storage_missing.pth", "no entry archive/data/99 in the archive"},
        {"bad_view_stride_negative.pth", "negative stride -1"},
        {"bad_view_offset_negative.pth", "offset is not an int >= 0"},
        {"bad_view_past_storage.pth", "more elements than storage '0'"},
        {"bad_view_stride_huge.pth", "reaches past the 4 elements"},
        {"bad_checkpoint_dict.pth", "'epoch' holds an int, not a tensor"},
        {"bad_size_past_end.pth", "run past the central directory"},
        {"bad_overlap.pth", "overlap"},
        {"bad_cd_count_huge.pth", "entries cannot fit"},
    };
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
        int rc = load_path(P(want[k][0]));
        CHECK(rc == -1 && strstr(err_msg(), want[k][1]), "%s: refused because: %s", want[k][0], want[k][1]);
    }
}

/* conv1/bn1/fc as in pth_tool/st_tool, every value -7. */
static int make_table(ParamTable *t, int fc_out, int extra) {
    params_init(t);
    int64_t cw[4] = {4, 1, 3, 3}, c[1] = {4}, fw[2] = {fc_out, 4}, fb[1] = {fc_out}, none[1] = {0};
    if (params_add(t, "conv1.weight", PARAM_WEIGHT, 4, cw) < 0 || params_add(t, "bn1.weight", PARAM_WEIGHT, 1, c) < 0 ||
        params_add(t, "bn1.bias", PARAM_WEIGHT, 1, c) < 0 || params_add(t, "bn1.running_mean", PARAM_BUFFER, 1, c) < 0 ||
        params_add(t, "bn1.running_var", PARAM_BUFFER, 1, c) < 0 ||
        params_add(t, "bn1.num_batches_tracked", PARAM_COUNT, 0, none) < 0 ||
        params_add(t, "fc.weight", PARAM_WEIGHT, 2, fw) < 0 || params_add(t, "fc.bias", PARAM_WEIGHT, 1, fb) < 0 ||
        (extra && params_add(t, "extra.weight", PARAM_WEIGHT, 1, c) < 0) || params_alloc(t) < 0)
        return -1;
    for (size_t k = 0; k < t->total; k++) t->data[k] = -7;
    return 0;
}

static int all_minus7(const ParamTable *t, int from, int to) {
    for (int i = from; i < to; i++)
        for (size_t k = 0; k < t->e[i].numel; k++)
            if (params_data(t, i)[k] != -7) return 0;
    return 1;
}

static void params(void) {
    const char *pth = P("good_torch_small_model.pth"), *st = P("good_torch_small_model.expected.safetensors");
    const char *pth10 = P("good_torch_small_model_fc10.pth"), *st10 = P("good_torch_small_model_fc10.expected.safetensors");
    ParamTable a, b;
    if (make_table(&a, 3, 0) < 0 || make_table(&b, 3, 0) < 0) {
        CHECK(0, "tables: %s", err_msg());
        return;
    }
    int ra = pth_load_params(pth, &a, NULL, NULL), rb = st_load(st, &b, NULL, NULL);
    CHECK(ra == 0, "pth_load_params loads the small model%s%s", ra ? ": " : "", ra ? err_msg() : "");
    CHECK(ra == 0 && rb == 0 && memcmp(a.data, b.data, sizeof *a.data * a.total) == 0,
          "pth_load_params gives the same table as st_load of the expected safetensors");
    CHECK(ra == 0 && params_data(&a, params_find(&a, "bn1.num_batches_tracked"))[0] == 12345.0f,
          "num_batches_tracked (int64) loads as the count 12345");
    for (size_t k = 0; k < a.total; k++) a.data[k] = -7;
    CHECK(weights_load(pth, &a, NULL, NULL) == 0 && memcmp(a.data, b.data, sizeof *a.data * a.total) == 0,
          "weights_load sniffs the .pth");
    for (size_t k = 0; k < a.total; k++) a.data[k] = -7;
    CHECK(weights_load(st, &a, NULL, NULL) == 0 && memcmp(a.data, b.data, sizeof *a.data * a.total) == 0,
          "weights_load sniffs the .safetensors");
    CHECK(weights_load(P("bad_legacy.pth"), &a, NULL, NULL) == -1 && strstr(err_msg(), "legacy torch.save format"),
          "weights_load: a legacy file is refused as legacy");
    CHECK(weights_load(P("no-such-file.pth"), &a, NULL, NULL) == -1 && strstr(err_msg(), "cannot open"),
          "weights_load: a missing file");
    params_free(&a);
    params_free(&b);

    /* wrong shapes: nothing loaded, every problem named, the same text as for safetensors */
    make_table(&a, 3, 0);
    StrList probs = {0};
    int rc = pth_load_params(pth10, &a, NULL, &probs);
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", err_msg());
    CHECK(rc == -1 && strstr(msg, "does not match the model: 2 wrong shape (fc.weight: file [10, 4], model [3, 4], "
                                  "fc.bias: file [10], model [3])") && strncmp(msg, pth10, strlen(pth10)) == 0,
          "wrong shapes named: %.300s", msg);
    CHECK(probs.n == 2 && strcmp(probs.v[0], "wrong shape: fc.weight: file [10, 4], model [3, 4]") == 0,
          "one problem line each (%zu)", probs.n);
    CHECK(all_minus7(&a, 0, a.n), "nothing loaded on a mismatch");
    strlist_free(&probs);
    rc = st_load(st10, &a, NULL, NULL);
    CHECK(rc == -1 && strcmp(err_msg() + strlen(st10), msg + strlen(pth10)) == 0,
          "the same message as st_load on the same tensors");
    static const char *const skip[] = {"fc."};
    StLoadOpts o = {skip, 1, 0};
    rc = pth_load_params(pth10, &a, &o, NULL);
    CHECK(rc == 0 && all_minus7(&a, 6, 8) && !all_minus7(&a, 0, 6), "--skip fc. loads all but fc (kept at -7)");
    params_free(&a);

    make_table(&a, 3, 1);
    rc = pth_load_params(pth, &a, NULL, NULL);
    CHECK(rc == -1 && strstr(err_msg(), "1 missing (extra.weight (model [4]))"), "missing named: %.300s", err_msg());
    params_free(&a);

    params_init(&a);
    int64_t cw[4] = {4, 1, 3, 3};
    params_add(&a, "conv1.weight", PARAM_WEIGHT, 4, cw);
    params_alloc(&a);
    rc = pth_load_params(pth, &a, NULL, NULL);
    CHECK(rc == -1 && strstr(err_msg(), "7 unexpected (bn1.weight (F32 [4])") &&
              strstr(err_msg(), "bn1.num_batches_tracked (I64 [])"),
          "unexpected named: %.300s", err_msg());
    StLoadOpts au = {NULL, 0, 1};
    CHECK(pth_load_params(pth, &a, &au, NULL) == 0, "allow_unexpected loads the one tensor asked for");
    params_free(&a);

    /* a float tensor where a count is wanted, an int64 one where a weight is */
    params_init(&a);
    int64_t none[1] = {0};
    params_add(&a, "bn1.running_mean", PARAM_COUNT, 1, (int64_t[]){4});
    params_add(&a, "bn1.num_batches_tracked", PARAM_WEIGHT, 0, none);
    params_alloc(&a);
    rc = pth_load_params(pth, &a, &au, NULL);
    CHECK(rc == -1 && strstr(err_msg(), "2 wrong dtype (bn1.running_mean: file F32, model needs I64, "
                                        "bn1.num_batches_tracked: file I64, model needs a float dtype"),
          "wrong dtypes named: %.300s", err_msg());
    params_free(&a);
}

/* safetensors files whose 8-byte header length begins with 'P','K' or 0x80 still load as safetensors */
static void sniffing(void) {
    static const unsigned long lens[] = {0x4b50, 0x80, 0x0280};
    for (int k = 0; k < 3; k++) {
        char path[] = "/tmp/test_pth_sniff_XXXXXX";
        int fd = mkstemp(path);
        FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!fp) {
            SKIP("sniffing: no temporary file");
            return;
        }
        const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        unsigned char pre[8] = {0};
        for (int b = 0; b < 8; b++) pre[b] = (unsigned char)(lens[k] >> (8 * b));
        fwrite(pre, 1, 8, fp);
        fputs(h, fp);
        for (size_t i = strlen(h); i < lens[k]; i++) fputc(' ', fp);
        float one = 1.5f;
        fwrite(&one, 4, 1, fp);
        fclose(fp);
        ParamTable t;
        params_init(&t);
        params_add(&t, "w", PARAM_WEIGHT, 1, (int64_t[]){1});
        params_alloc(&t);
        int rc = weights_load(path, &t, NULL, NULL);
        CHECK(rc == 0 && t.data[0] == 1.5f, "weights_load: a safetensors file whose header length starts with "
              "bytes %02lx %02lx is read as safetensors%s%s", lens[k] & 0xff, lens[k] >> 8, rc ? ": " : "",
              rc ? err_msg() : "");
        params_free(&t);
        remove(path);
    }
}

static void reads(void) {
    PthFile f;
    if (pth_open(P("good_torch_dtypes.pth"), &f) < 0) {
        CHECK(0, "open good_torch_dtypes: %s", err_msg());
        return;
    }
    int i64 = pth_find(&f, "i64"), f16 = pth_find(&f, "f16"), sc = pth_find(&f, "scalar");
    CHECK(i64 >= 0 && f16 >= 0 && sc >= 0 && pth_find(&f, "nope") == -1, "pth_find");
    WtSource src = pth_source(&f); /* reading is weights.c's, the same for every format */
    float v[8];
    int64_t w[8];
    CHECK(wt_read(&src, i64, v, 3, 1, 0) == -1 && strstr(err_msg(), "tensor 'i64' has dtype I64, expected a float"),
          "read_f32 refuses an int64 tensor without ST_INT_OK");
    CHECK(wt_read(&src, i64, v, 3, 1, ST_INT_OK) == 0 && v[2] == 5.0f, "read_f32 converts with ST_INT_OK");
    CHECK(wt_read(&src, i64, w, 3, 0, 0) == 0 && w[0] == -(INT64_C(1) << 62) && w[1] == INT64_C(1) << 62,
          "read_i64 is exact");
    CHECK(wt_read(&src, f16, w, 7, 0, 0) == -1 && strstr(err_msg(), "expected an integer"), "read_i64 refuses floats");
    CHECK(wt_read(&src, f16, v, 6, 1, 0) == -1 && strstr(err_msg(), "has 7 elements, the destination holds 6"),
          "a wrong element count is refused");
    CHECK(wt_read(&src, f16, v, 7, 1, 0) == 0 && v[0] == -3.0f && v[6] == 3.0f, "float16 converts exactly");
    CHECK(f.t[sc].ndim == 0 && wt_read(&src, sc, v, 1, 1, 0) == 0 && v[0] == 2.5f, "a 0-d tensor");
    CHECK(wt_read(&src, f.n, v, 1, 1, 0) == -1 && wt_read(&src, -1, v, 1, 1, 0) == -1, "tensor index checked");
    pth_close(&f);
}

int main(void) {
    const char *tests = getenv("TESTS") ? getenv("TESTS") : "tests";
    snprintf(dir, sizeof dir, "%.3000s/corpus/pth", tests);
    corpus();
    reasons();
    params();
    sniffing();
    reads();
    return check_failures ? 1 : 0;
}
