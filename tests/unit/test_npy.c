/* .npy reader/writer: round trips, streams, conversions, and hostile headers (the file corpus in
 * tests/corpus/npy is exercised by test_corpus.c and the fuzz target). */
#include "check.h"
#include "core/error.h"
#include "formats/npy.h"


#include <math.h>
#include <stdint.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static FILE *mem(const void *data, size_t n) {
    FILE *f = tmpfile();
    fwrite(data, 1, n, f);
    rewind(f);
    return f;
}

/* A v1.0 file with the given dict text, followed by `data` bytes. */
static FILE *with_header(const char *dict, const void *data, size_t n) {
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    size_t hl = strlen(dict);
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);
    FILE *f = tmpfile();
    fwrite(pre, 1, 10, f);
    fwrite(dict, 1, hl, f);
    if (n) fwrite(data, 1, n, f);
    rewind(f);
    return f;
}

static int read_err(const char *dict, const void *data, size_t n, const char *want) {
    FILE *f = with_header(dict, data, n);
    Tensor t;
    int rc = npy_read(f, "x.npy", NPY_WANT_NATURAL, &t);
    fclose(f);
    if (rc == 1) tensor_free(&t);
    if (rc != -1) return 0;
    if (!strstr(err_msg(), want)) { printf("# message was: %s\n", err_msg()); return 0; }
    return strncmp(err_msg(), "x.npy", 5) == 0;
}

int main(void) {
    /* round trip float32 and int64, through one stream */
    Tensor a, b;
    int64_t sa[3] = {1, 3, 4}, sb[1] = {5};
    tensor_alloc(&a, DT_F32, 3, sa);
    tensor_alloc(&b, DT_I64, 1, sb);
    for (int i = 0; i < 12; i++) tensor_f32(&a)[i] = (float)i * 0.5f - 2;
    for (int i = 0; i < 5; i++) tensor_i64(&b)[i] = (int64_t)i * 1000000000000LL - 7;
    const int64_t b_last = tensor_i64(&b)[4];
    FILE *f = tmpfile();
    CHECK(npy_write(f, &a) == 0 && npy_write(f, &b) == 0 && npy_write(f, &a) == 0, "write a stream of three arrays");
    rewind(f);
    Tensor r;
    CHECK(npy_read(f, "s", NPY_WANT_NATURAL, &r) == 1 && r.dtype == DT_F32 && r.ndim == 3 && r.shape[2] == 4 &&
              memcmp(r.data, a.data, 48) == 0, "stream array 1 float32 round trip");
    tensor_free(&r);
    CHECK(npy_read(f, "s", NPY_WANT_NATURAL, &r) == 1 && r.dtype == DT_I64 && memcmp(r.data, b.data, 40) == 0,
          "stream array 2 int64 round trip");
    tensor_free(&r);
    CHECK(npy_read(f, "s", DT_F32, &r) == 1 && r.dtype == DT_F32, "stream array 3");
    tensor_free(&r);
    CHECK(npy_read(f, "s", NPY_WANT_NATURAL, &r) == 0, "clean end of stream");
    /* header length is a multiple of 64, ends with newline */
    rewind(f);
    unsigned char hdr[128];
    fread(hdr, 1, 128, f);
    int hl = hdr[8] | hdr[9] << 8;
    CHECK((10 + hl) % 64 == 0 && hdr[10 + hl - 1] == '\n', "header padded to 64 bytes and ends with newline");
    fclose(f);

    /* int64 requested from float is refused; int to float converts */
    f = tmpfile();
    npy_write(f, &a);
    rewind(f);
    CHECK(npy_read(f, "f.npy", DT_I64, &r) == -1 && strstr(err_msg(), "expected an integer"), "float array refused as int64");
    fclose(f);
    f = tmpfile();
    npy_write(f, &b);
    rewind(f);
    CHECK(npy_read(f, "i.npy", DT_F32, &r) == 1 && r.dtype == DT_F32 && tensor_f32(&r)[1] == 1e12f - 7, "int64 converted to float32");
    tensor_free(&r);
    fclose(f);

    /* conversions from other dtypes, both byte orders */
    {
        double d[2] = {1.5, -2.25};
        f = with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", d, 16);
        CHECK(npy_read(f, "d", NPY_WANT_NATURAL, &r) == 1 && r.dtype == DT_F32 && tensor_f32(&r)[1] == -2.25f, "float64 -> float32");
        tensor_free(&r);
        fclose(f);
        uint16_t h[3] = {0x3c00, 0xc000, 0x0001}; /* 1, -2, smallest subnormal */
        f = with_header("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }\n", h, 6);
        CHECK(npy_read(f, "h", NPY_WANT_NATURAL, &r) == 1 && tensor_f32(&r)[0] == 1.0f && tensor_f32(&r)[1] == -2.0f &&
                  fabsf(tensor_f32(&r)[2] - 5.96046448e-08f) < 1e-12f, "float16 -> float32 incl. subnormal");
        tensor_free(&r);
        fclose(f);
        int16_t s[2] = {-32768, 1234};
        f = with_header("{'descr': '<i2', 'fortran_order': False, 'shape': (1, 2), }\n", s, 4);
        CHECK(npy_read(f, "s", NPY_WANT_NATURAL, &r) == 1 && r.dtype == DT_I64 && tensor_i64(&r)[0] == -32768, "int16 -> int64");
        tensor_free(&r);
        fclose(f);
        unsigned char be[4] = {0x00, 0x00, 0x01, 0x02}; /* big-endian int32 258 */
        f = with_header("{'shape': (1,), 'fortran_order': False, 'descr': '>i4'}", be, 4);
        CHECK(npy_read(f, "be", NPY_WANT_NATURAL, &r) == 1 && tensor_i64(&r)[0] == 258, "big-endian int32, keys in any order");
        tensor_free(&r);
        fclose(f);
        unsigned char v3[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 3, 0, 58, 0, 0, 0};
        const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n";
        float one = 1;
        f = tmpfile();
        fwrite(v3, 1, 12, f);
        fwrite(dict, 1, 58, f);
        fwrite(&one, 4, 1, f);
        rewind(f);
        CHECK(npy_read(f, "v3", NPY_WANT_NATURAL, &r) == 1 && tensor_f32(&r)[0] == 1, "format version 3.0");
        tensor_free(&r);
        fclose(f);
        f = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &one, 4);
        CHECK(npy_read(f, "0d", NPY_WANT_NATURAL, &r) == 1 && r.ndim == 0 && tensor_f32(&r)[0] == 1, "0-d array");
        tensor_free(&r);
        fclose(f);
        f = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", NULL, 0);
        CHECK(npy_read(f, "empty", NPY_WANT_NATURAL, &r) == 1 && r.shape[0] == 0, "zero-size array");
        tensor_free(&r);
        fclose(f);
    }

    /* hostile headers: each an error naming the file, never a crash */
    float z[4] = {0};
    CHECK(read_err("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", z, 8, "Fortran"), "fortran_order True refused");
    CHECK(read_err("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", z, 8, "unsupported dtype"), "complex dtype refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", z, 8, "unexpected key"), "extra key refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False}", z, 8, "missing key"), "missing shape refused");
    CHECK(read_err("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", z, 8, "duplicate"), "duplicate key refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", z, 8, "not a tuple"), "(2) is not a tuple");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", z, 8, "non-negative"), "negative dimension refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904)}", z, 8,
                   "too large"), "overflowing shape refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", z, 8, "more than 8"), "too many dims refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", z, 8, "truncated .npy data"), "short data refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", z, 8, "truncated .npy data"),
          "huge shape with little data refused without allocating");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", z, 8, "after the dict"), "junk after dict refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", z, 8, "expected"), "unterminated dict refused");
    CHECK(read_err("{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,)}", z, 8, "True or False"), "bad bool refused");
    CHECK(read_err("{'descr': '<f4\\x', 'fortran_order': False, 'shape': (2,)}", z, 8, "unexpected character"), "escape refused");
    {
        unsigned char bad[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0xff};
        f = mem(bad, 10);
        CHECK(npy_read(f, "big", NPY_WANT_NATURAL, &r) == -1 && strstr(err_msg(), "exceeds the limit"), "header length cap");
        fclose(f);
        bad[6] = 9;
        f = mem(bad, 10);
        CHECK(npy_read(f, "ver", NPY_WANT_NATURAL, &r) == -1 && strstr(err_msg(), "version 9.0"), "unknown version refused");
        fclose(f);
        f = mem("\x93NUM", 4);
        CHECK(npy_read(f, "short", NPY_WANT_NATURAL, &r) == -1 && strstr(err_msg(), "truncated"), "truncated magic");
        fclose(f);
        f = mem("RIFF....WAVEfmt ", 16);
        CHECK(npy_read(f, "a.wav", NPY_WANT_NATURAL, &r) == -1 && strstr(err_msg(), "bad magic"), "non-npy file refused");
        fclose(f);
    }
    /* memory maps */
    {
        char path[] = "/tmp/audiocnn-npymap-XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        NpyMap m;
        CHECK(npy_save(path, &a) == 0 && npy_map(path, &m) == 0 && m.dtype == DT_F32 && m.ndim == 3 && m.shape[1] == 3 &&
                  memcmp(m.data, a.data, 48) == 0 && ((uintptr_t)m.data % 64) == 0,
              "npy_map gives the array's data, 64-byte aligned");
        npy_unmap(&m);
        CHECK(npy_save(path, &b) == 0 && npy_map(path, &m) == 0 && m.dtype == DT_I64 && ((const int64_t *)m.data)[4] == b_last,
              "npy_map of int64 labels");
        npy_unmap(&m);
        truncate(path, 140); /* header (128 bytes) and part of the data */
        CHECK(npy_map(path, &m) == -1 && strstr(err_msg(), "truncated .npy data"), "npy_map refuses a truncated file");
        FILE *g = fopen(path, "wb");
        npy_write(g, &a);
        npy_write(g, &a);
        fclose(g);
        CHECK(npy_map(path, &m) == -1 && strstr(err_msg(), "trailing data"), "npy_map refuses a stream of two arrays");
        unlink(path);
        CHECK(npy_map(path, &m) == -1 && strstr(err_msg(), "cannot open"), "npy_map of a missing file");
    }
    tensor_free(&a);
    tensor_free(&b);
    return check_failures ? 1 : 0;
}
