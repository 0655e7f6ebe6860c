/* TSV tables and manifests. */
#include "check.h"
#include "core/error.h"
#include "formats/manifest.h"
#include "formats/tsv.h"

#include <string.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    Tsv t;
    const char *txt = "path\tlabel\r\na.wav\tdog\n\nb.wav\tcat\n";
    CHECK(tsv_parse(txt, strlen(txt), "l.tsv", &t) == 0 && t.nrows == 2 && t.ncols == 2, "parse, CRLF and blank lines");
    CHECK(tsv_col(&t, "label") == 1 && strcmp(t.rows[1][1], "cat") == 0 && strcmp(t.rows[0][1], "dog") == 0, "columns by name");
    tsv_free(&t);
    const char *ragged = "a\tb\n1\t2\n3\n";
    CHECK(tsv_parse(ragged, strlen(ragged), "r.tsv", &t) == -1 && strstr(err_msg(), "r.tsv: line 3 has 1 fields"), "ragged row refused");
    CHECK(tsv_parse("", 0, "e.tsv", &t) == -1 && strstr(err_msg(), "empty table"), "empty table refused");
    CHECK(tsv_parse("a\0b\n", 4, "n.tsv", &t) == -1 && strstr(err_msg(), "NUL"), "binary file refused");
    CHECK(!tsv_field_ok("a\tb") && !tsv_field_ok("a\nb") && tsv_field_ok("a b"), "field check");

    int64_t s[8];
    CHECK(shape_parse("1x128x44", s) == 3 && s[1] == 128 && s[2] == 44, "shape parse");
    CHECK(shape_parse("1x", s) < 0 && shape_parse("", s) < 0 && shape_parse("-1", s) < 0 && shape_parse("1x2x3x4x5x6x7x8x9", s) < 0,
          "bad shapes refused");

    /* write a manifest and read it back */
    FILE *f = tmpfile();
    ManifestRow r = {.key = "k1", .npy = "m.npy", .source = "a.wav", .label = "dog", .group = "g", .index = 3,
                     .start = 0.5, .end = 1.25, .ndim = 3, .shape = {1, 128, 44}};
    manifest_write_header(f);
    manifest_write_row(f, &r);
    ManifestRow bad = r;
    bad.source = "a\tb.wav";
    CHECK(manifest_write_row(f, &bad) == -1 && strstr(err_msg(), "tab or newline"), "tab in a field refused");
    fflush(f);
    char path[] = "/tmp/audiocnn-test-manifest-XXXXXX";
    int fd = mkstemp(path);
    rewind(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    write(fd, buf, n);
    close(fd);
    fclose(f);
    Manifest m;
    CHECK(manifest_read(path, &m) == 0 && m.n == 1 && m.rows[0].index == 3 && m.rows[0].end == 1.25 &&
              m.rows[0].shape[2] == 44 && strcmp(m.rows[0].label, "dog") == 0, "manifest round trip");
    manifest_free(&m);
    unlink(path);
    return check_failures ? 1 : 0;
}
