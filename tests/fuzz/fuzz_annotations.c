/* libFuzzer target: Raven selection tables and Audacity label tracks from arbitrary bytes. */
#include "formats/annotations.h"

#include <stddef.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    Annotations a;
    if (ann_parse((const char *)data, size, "fuzz", size % 2 ? "Species" : NULL, size % 3 ? 10.0 : -1, &a) == 0)
        ann_free(&a);
    return 0;
}
