/* libFuzzer target: a .pth file from arbitrary bytes (pth_parse: the zip reader, then the pickle
 * machine), then every tensor read in each of the ways a caller can (natural, float32, int64, into a
 * caller's buffer), and a load into a small parameter table with PyTorch-like names. Seeds:
 * tests/corpus/pth. */
#include "formats/pth.h"

#include <stdlib.h>
#include <string.h>

static ParamTable table;

static void make_table(void) {
    int64_t cw[4] = {4, 1, 3, 3}, c[1] = {4}, fw[2] = {3, 4}, none[1] = {0};
    params_init(&table);
    params_add(&table, "conv1.weight", PARAM_WEIGHT, 4, cw);
    params_add(&table, "bn1.weight", PARAM_WEIGHT, 1, c);
    params_add(&table, "bn1.running_var", PARAM_BUFFER, 1, c);
    params_add(&table, "bn1.num_batches_tracked", PARAM_COUNT, 0, none);
    params_add(&table, "fc.weight", PARAM_WEIGHT, 2, fw);
    params_alloc(&table);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (!table.data) make_table();
    PthFile f;
    if (pth_parse(data, size, "fuzz", &f) < 0) return 0;
    WtSource src = pth_source(&f);
    for (int i = 0; i < f.n && i < 64; i++) {
        Tensor t;
        if (wt_read_tensor(&src, i, ST_WANT_NATURAL, &t) == 0) tensor_free(&t);
        if (wt_read_tensor(&src, i, DT_F32, &t) == 0) tensor_free(&t);
        if (wt_read_tensor(&src, i, DT_I64, &t) == 0) tensor_free(&t);
        int64_t n = f.t[i].numel;
        if (n <= 4096) {
            float buf[4097];
            wt_read(&src, i, buf, n, 1, i & 1 ? ST_INT_OK : 0);
            wt_read(&src, i, buf, n + 1, 1, 0); /* wrong count: refused */
        }
    }
    pth_find(&f, "conv1.weight");
    static const char *const skip[] = {"fc."};
    StLoadOpts o = {skip, (int)(size & 1), (int)(size >> 1 & 1)};
    StrList probs = {0};
    wt_load_params(&src, &table, size & 4 ? &o : NULL, &probs);
    strlist_free(&probs);
    pth_close(&f);
    return 0;
}
