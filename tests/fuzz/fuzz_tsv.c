/* libFuzzer target: TSV tables and manifests from arbitrary bytes. */
#include "formats/manifest.h"
#include "formats/tsv.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    Tsv t;
    if (tsv_parse((const char *)data, size, "fuzz", &t) == 0) {
        int c = tsv_col(&t, "shape");
        for (size_t i = 0; c >= 0 && i < t.nrows; i++) {
            int64_t shape[TENSOR_MAX_DIMS];
            shape_parse(t.rows[i][c], shape);
        }
        tsv_free(&t);
    }
    return 0;
}
