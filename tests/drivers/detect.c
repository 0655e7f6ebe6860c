/* Driver for tests/py/test_detect.py: detect_match() of EVENTS.tsv against TRUTH.tsv (rows: class,
 * begin, end; no header) at FRACTION; prints the number of pairs, then the events' and the selections'
 * matched flags as two lines of 0/1.
 * usage: detect EVENTS.tsv TRUTH.tsv FRACTION */
#include "core/error.h"
#include "scan/detect.h"

#include <stdio.h>
#include <stdlib.h>

static Event *read_rows(const char *path, int64_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    Event *v = NULL;
    int64_t cap = 0;
    int c;
    double b, e;
    *n = 0;
    while (fscanf(f, "%d %lf %lf", &c, &b, &e) == 3) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            v = realloc(v, sizeof *v * (size_t)cap);
            if (!v) exit(1);
        }
        v[(*n)++] = (Event){c, b, e, 0.0f};
    }
    fclose(f);
    return v ? v : malloc(sizeof *v);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: detect EVENTS.tsv TRUTH.tsv FRACTION\n");
        return 2;
    }
    int64_t ne, nt;
    Event *e = read_rows(argv[1], &ne), *t = read_rows(argv[2], &nt);
    if (!e || !t) return 1;
    unsigned char *em = malloc((size_t)ne + 1), *tm = malloc((size_t)nt + 1);
    int64_t pairs = detect_match(e, ne, t, nt, atof(argv[3]), em, tm);
    if (pairs < 0) {
        fprintf(stderr, "detect: error: %s\n", err_msg());
        return 1;
    }
    printf("%lld\n", (long long)pairs);
    for (int64_t i = 0; i < ne; i++) putchar('0' + em[i]);
    putchar('\n');
    for (int64_t i = 0; i < nt; i++) putchar('0' + tm[i]);
    putchar('\n');
    free(e), free(t), free(em), free(tm);
    return 0;
}
