/* Driver for tests/py/test_pth.py: lib/pth against PyTorch's own torch.save files.
 *
 *   pth_tool to-safetensors IN.pth OUT.safetensors
 *                              every tensor of the state_dict in its order, floats as F32 (F16/BF16/F64
 *                              converted), integers and BOOL as I64, through lib/safetensors's writer
 *   pth_tool list IN.pth       one line per tensor: NAME<TAB>DTYPE<TAB>D0,D1,..<TAB>contiguous|strided
 *   pth_tool load-table FILE [--fc-out N] [--skip PREFIX]... [--allow-unexpected]
 *                              weights_load (sniffs .pth or .safetensors) into st_tool's fixed table
 *                              (conv1/bn1/fc); prints "NAME<TAB>V0 V1 ..." per entry, or "problem: ..."
 *                              lines and the error, exit 1
 * Errors: "pth_tool: error: MESSAGE" on stderr, exit 1 (2 for usage). */
#include "core/error.h"
#include "formats/pth.h"
#include "formats/safetensors.h"
#include "formats/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(void) {
    fprintf(stderr, "pth_tool: error: %s\n", err_msg());
    return 1;
}

static int cmd_convert(const char *in, const char *out) {
    PthFile f;
    if (pth_open(in, &f) < 0) return fail();
    StItem *items = calloc(f.n ? (size_t)f.n : 1, sizeof *items);
    Tensor *ts = calloc(f.n ? (size_t)f.n : 1, sizeof *ts);
    int rc = 1, nread = 0;
    if (!items || !ts) {
        err_set("out of memory");
        goto out;
    }
    for (int i = 0; i < f.n; i++, nread++) {
        WtSource src = pth_source(&f);
        if (wt_read_tensor(&src, i, ST_WANT_NATURAL, &ts[i]) < 0) goto out;
        items[i].name = f.t[i].name;
        items[i].dtype = ts[i].dtype == DT_F32 ? ST_F32 : ST_I64;
        items[i].ndim = f.t[i].ndim;
        memcpy(items[i].shape, f.t[i].shape, sizeof f.t[i].shape);
        items[i].data = ts[i].data;
    }
    rc = st_save(out, items, f.n, NULL, 0) < 0;
out:
    if (rc) fail();
    for (int i = 0; i < nread; i++) tensor_free(&ts[i]);
    free(items);
    free(ts);
    pth_close(&f);
    return rc;
}

static int cmd_list(const char *in) {
    PthFile f;
    if (pth_open(in, &f) < 0) return fail();
    for (int i = 0; i < f.n; i++) {
        const PthTensor *t = &f.t[i];
        printf("%s\t%s\t", t->name, st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) printf(d ? ",%lld" : "%lld", (long long)t->shape[d]);
        printf("\t%s\n", t->contiguous ? "contiguous" : "strided");
    }
    pth_close(&f);
    return 0;
}

/* conv1 = Conv2d(1, 4, 3, bias=False), bn1 = BatchNorm2d(4), fc = Linear(4, fc_out) (st_tool's table). */
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

static int cmd_load_table(int argc, char **argv) {
    const char *skip[16];
    StLoadOpts o = {skip, 0, 0};
    int fc_out = 3;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--allow-unexpected") == 0) o.allow_unexpected = 1;
        else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc && o.nskip < 16) skip[o.nskip++] = argv[++i];
        else if (strcmp(argv[i], "--fc-out") == 0 && i + 1 < argc) fc_out = atoi(argv[++i]);
        else {
            fprintf(stderr, "pth_tool: error: bad option %s\n", argv[i]);
            return 2;
        }
    }
    ParamTable t;
    if (make_table(&t, fc_out) < 0) return fail();
    for (size_t k = 0; k < t.total; k++) t.data[k] = -7; /* what skipped entries keep */
    StrList probs = {0};
    if (weights_load(argv[2], &t, &o, &probs) < 0) {
        for (size_t i = 0; i < probs.n; i++) printf("problem: %s\n", probs.v[i]);
        strlist_free(&probs);
        params_free(&t);
        return fail();
    }
    for (int i = 0; i < t.n; i++) {
        printf("%s\t", t.e[i].name);
        for (size_t k = 0; k < t.e[i].numel; k++) printf(k ? " %.9g" : "%.9g", (double)params_data(&t, i)[k]);
        putchar('\n');
    }
    params_free(&t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "to-safetensors") == 0) return cmd_convert(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "list") == 0) return cmd_list(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "load-table") == 0) return cmd_load_table(argc, argv);
    fprintf(stderr, "usage: pth_tool to-safetensors IN.pth OUT.safetensors | list IN.pth | load-table FILE "
                    "[--fc-out N] [--skip PREFIX]... [--allow-unexpected]\n");
    return 2;
}
