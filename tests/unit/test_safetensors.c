/* safetensors reader/writer: ParamTable round trip, exact header bytes, every validation rule on a
 * hand-made hostile buffer, dtype conversions, and missing/unexpected/wrong-shape reporting. The file
 * corpus (tests/corpus/safetensors) is test_st_corpus's; PyTorch interop is tests/py/test_safetensors.py. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "core/error.h"
#include "formats/safetensors.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *NAME = "x.safetensors";

/* 8-byte length (hl_field, or the header's length when ~0) + header + ndata bytes of data (0,1,2..). */
static unsigned char *mkfile(const char *hdr, size_t hlen, uint64_t hl_field, size_t ndata, size_t *len) {
    *len = 8 + hlen + ndata;
    unsigned char *b = malloc(*len);
    uint64_t hl = hl_field == UINT64_MAX ? hlen : hl_field;
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(hl >> (8 * k));
    memcpy(b + 8, hdr, hlen);
    for (size_t k = 0; k < ndata; k++) b[8 + hlen + k] = (unsigned char)k;
    return b;
}

/* Parsing HDR (+ ndata data bytes) fails with a one-line message naming the file and containing want. */
static int refused_raw(const char *hdr, size_t hlen, uint64_t hl_field, size_t ndata, const char *want) {
    size_t len;
    unsigned char *b = mkfile(hdr, hlen, hl_field, ndata, &len);
    StFile f;
    int rc = st_parse(b, len, NAME, &f);
    if (rc == 0) st_close(&f);
    free(b);
    if (rc != -1) { printf("# accepted\n"); return 0; }
    if (!strstr(err_msg(), want) || strncmp(err_msg(), "x.safetensors: ", 15) != 0 || strchr(err_msg(), '\n')) {
        printf("# message was: %s\n", err_msg());
        return 0;
    }
    return 1;
}

static int refused(const char *hdr, size_t ndata, const char *want) {
    return refused_raw(hdr, strlen(hdr), UINT64_MAX, ndata, want);
}

static int accepted(const char *hdr, size_t ndata, StFile *f, unsigned char **keep) {
    size_t len;
    *keep = mkfile(hdr, strlen(hdr), UINT64_MAX, ndata, &len);
    if (st_parse(*keep, len, NAME, f) == 0) return 1;
    printf("# refused: %s\n", err_msg());
    free(*keep);
    *keep = NULL;
    return 0;
}

/* A tensor header entry; the caller's buffer. */
#define T1(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void validation(void) {
    {
        StFile f;
        CHECK(st_parse("", 0, NAME, &f) == -1 && strstr(err_msg(), "x.safetensors: not a safetensors file: 0 bytes"),
              "empty file refused");
    }
    {
        size_t len = 5;
        unsigned char b[5] = {0};
        StFile f;
        CHECK(st_parse(b, len, NAME, &f) == -1 && strstr(err_msg(), "5 bytes"), "5-byte file refused");
    }
    CHECK(refused_raw("{}", 2, 3, 0, "runs past the end"), "header length one past the end");
    CHECK(refused_raw("{}", 2, (uint64_t)1 << 63, 0, "runs past the end"), "header length 2^63");
    CHECK(refused_raw("{}", 2, UINT64_MAX - 3, 0, "runs past the end"), "header length 2^64-4 (8+N overflows)");
    {
        size_t hl = ST_MAX_HEADER + 8, len;
        char *h = malloc(hl);
        memset(h, ' ', hl);
        h[0] = '{';
        h[1] = '}';
        unsigned char *b = mkfile(h, hl, UINT64_MAX, 0, &len);
        StFile f;
        int rc = st_parse(b, len, NAME, &f);
        CHECK(rc == -1 && strstr(err_msg(), "exceeds the limit"), "header longer than ST_MAX_HEADER refused: %s", err_msg());
        free(b);
        free(h);
    }
    CHECK(refused_raw("", 0, UINT64_MAX, 0, "must start with '{'"), "empty header");
    CHECK(refused("[]      ", 0, "must start with '{'"), "header is an array");
    CHECK(refused(" {}     ", 0, "must start with '{'"), "leading space");
    CHECK(refused("{}x     ", 0, "unexpected bytes after the JSON object"), "trailing garbage");
    CHECK(refused("{}     \n", 0, "unexpected bytes after the JSON object"), "trailing newline (only spaces pad)");
    CHECK(refused("{}      {}", 0, "unexpected bytes after"), "two objects");
    CHECK(refused("{\"\xff\":1}", 0, "not valid UTF-8 at header byte 2"), "invalid UTF-8 byte");
    CHECK(refused("{\"\xc0\xaf\":1}", 0, "not valid UTF-8"), "overlong UTF-8");
    CHECK(refused("{\"\xed\xa0\x80\":1}", 0, "not valid UTF-8"), "UTF-8 encoded surrogate");
    CHECK(refused("{\"\xf4\x90\x80\x80\":1}", 0, "not valid UTF-8"), "code point past U+10FFFF");
    CHECK(refused("{\"\xe2\x82\":1}", 0, "not valid UTF-8"), "truncated UTF-8 sequence");
    CHECK(refused("{\"a", 0, "unterminated string"), "unterminated string");
    CHECK(refused("{\"a\\", 0, "unterminated string"), "unterminated escape");
    CHECK(refused("{\"a\\x\":1}", 0, "bad escape '\\x'"), "unknown escape");
    CHECK(refused("{\"a\\u12G4\":1}", 0, "bad \\u escape"), "bad hex in \\u");
    CHECK(refused("{\"a\\u12\":1}", 0, "bad \\u escape"), "short \\u");
    CHECK(refused("{\"a\\udc00\":1}", 0, "unpaired surrogate"), "lone low surrogate");
    CHECK(refused("{\"a\\ud800x\":1}", 0, "unpaired surrogate"), "lone high surrogate");
    CHECK(refused("{\"a\\ud800\\u0041\":1}", 0, "unpaired surrogate"), "high surrogate + non-surrogate");
    CHECK(refused("{\"a\\u0000\":1}", 0, "\\u0000"), "\\u0000 refused");
    CHECK(refused("{\"a\x01\":1}", 0, "control character 0x01"), "raw control character in a string");
    CHECK(refused("{a:1}", 0, "expected a string, found 'a'"), "unquoted key");
    CHECK(refused("{\"a\" 1}", 0, "expected ':'"), "missing colon");
    CHECK(refused("{" T1("a", "U8", "[1]", 0, 1) ",}", 1, "expected a string"), "trailing comma");
    CHECK(refused("{" T1("a", "U8", "[1]", 0, 1) " " T1("b", "U8", "[1]", 1, 2) "}", 2, "expected ',' or '}'"),
          "missing comma");
    CHECK(refused("{" T1("a", "U8", "[1]", 0, 1), 1, "expected ',' or '}', found the end of the header"), "unclosed object");
    /* duplicates */
    CHECK(refused("{" T1("a", "U8", "[1]", 0, 1) "," T1("a", "U8", "[1]", 1, 2) "}", 2, "duplicate tensor name 'a'"),
          "duplicate tensor name");
    CHECK(refused("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__: duplicate key 'k'"), "duplicate metadata key");
    CHECK(refused("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key '__metadata__'"), "__metadata__ twice");
    CHECK(refused("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "duplicate key 'dtype'"),
          "duplicate key inside a tensor");
    /* metadata */
    CHECK(refused("{\"__metadata__\":{\"k\":1}}", 0, "the value of 'k' is not a string"), "metadata value an integer");
    CHECK(refused("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "not a string"), "metadata value an object");
    CHECK(refused("{\"__metadata__\":{\"k\":null}}", 0, "not a string"), "metadata value null");
    CHECK(refused("{\"__metadata__\":[\"k\"]}", 0, "__metadata__: expected an object"), "metadata an array");
    CHECK(refused("{\"__metadata__\":null}", 0, "__metadata__: expected an object"), "metadata null");
    /* tensor objects */
    CHECK(refused("{\"a\":1}", 0, "tensor 'a': expected an object"), "tensor value an integer");
    CHECK(refused("{\"a\":\"F32\"}", 0, "tensor 'a': expected an object"), "tensor value a string");
    CHECK(refused("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor 'a': missing key 'dtype'"), "missing dtype");
    CHECK(refused("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, "missing key 'shape'"), "missing shape");
    CHECK(refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "missing key 'data_offsets'"), "missing data_offsets");
    CHECK(refused("{\"a\":{}}", 0, "missing key 'dtype'"), "empty tensor object");
    CHECK(refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 1, "unexpected key 'x'"),
          "extra key in a tensor");
    CHECK(refused("{" T1("a", "F31", "[1]", 0, 4) "}", 4, "tensor 'a': unknown dtype 'F31'"), "unknown dtype");
    CHECK(refused("{" T1("a", "f32", "[1]", 0, 4) "}", 4, "unknown dtype 'f32'"), "lower-case dtype");
    CHECK(refused("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "expected a string"), "dtype a number");
    CHECK(refused("{" T1("a", "F32", "[-1]", 0, 4) "}", 4, "tensor 'a': negative number"), "negative dimension");
    CHECK(refused("{" T1("a", "F32", "[1.0]", 0, 4) "}", 4, "fraction or exponent"), "float dimension");
    CHECK(refused("{" T1("a", "F32", "[1e0]", 0, 4) "}", 4, "fraction or exponent"), "exponent dimension");
    CHECK(refused("{" T1("a", "F32", "[01]", 0, 4) "}", 4, "leading zero"), "leading zero");
    CHECK(refused("{" T1("a", "F32", "[true]", 0, 4) "}", 4, "expected a non-negative integer, found 't'"), "true as dimension");
    CHECK(refused("{" T1("a", "F32", "[null]", 0, 4) "}", 4, "expected a non-negative integer"), "null as dimension");
    CHECK(refused("{" T1("a", "F32", "[[1]]", 0, 4) "}", 4, "expected a non-negative integer, found '['"), "nested shape");
    CHECK(refused("{" T1("a", "F32", "1", 0, 4) "}", 4, "expected '['"), "shape not an array");
    CHECK(refused("{" T1("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "more than 8 dimensions"), "rank 9");
    CHECK(refused("{" T1("a", "F32", "[99999999999999999999]", 0, 4) "}", 4, "integer too large"), "dimension >= 2^63");
    CHECK(refused("{" T1("a", "F32", "[4294967296,4294967296,4294967296]", 0, 4) "}", 4, "element count overflows"),
          "element count overflow");
    CHECK(refused("{" T1("a", "F64", "[2305843009213693952]", 0, 4) "}", 4, "element count overflows"),
          "byte count overflow (2^61 F64)");
    CHECK(refused("{" T1("a", "F32", "[1,]", 0, 4) "}", 4, "expected a non-negative integer, found ']'"), "trailing comma in shape");
    CHECK(refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", 1, "two integers"), "one data offset");
    CHECK(refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1, "two integers"), "three data offsets");
    CHECK(refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[]}}", 0, "two integers"), "no data offsets");
    CHECK(refused("{" T1("a", "U8", "[0]", 4, 0) "}", 4, "end before they begin"), "begin > end");
    CHECK(refused("{" T1("a", "F32", "[4]", 0, 12) "}", 12, "span 12 bytes but F32 [4] needs 16"), "wrong byte count");
    CHECK(refused("{" T1("a", "F32", "[4]", 0, 18446744073709551615) "}", 12, "integer too large"), "offset 2^64-1");
    /* layout */
    CHECK(refused("{" T1("a", "F32", "[1]", 4, 8) "}", 8, "first tensor 'a' begins at byte 4"), "gap before the first tensor");
    CHECK(refused("{" T1("a", "F32", "[1]", 0, 4) "," T1("b", "F32", "[1]", 8, 12) "}", 12, "a gap of 4 bytes before tensor 'b'"),
          "gap between tensors");
    CHECK(refused("{" T1("a", "F32", "[2]", 0, 8) "," T1("b", "F32", "[1]", 4, 8) "}", 8, "overlaps tensor"), "overlapping tensors");
    CHECK(refused("{" T1("a", "F32", "[1]", 0, 4) "," T1("b", "F32", "[1]", 0, 4) "}", 4, "overlaps"), "two tensors on the same bytes");
    CHECK(refused("{" T1("a", "F32", "[2]", 0, 8) "," T1("z", "U8", "[0]", 4, 4) "}", 8, "overlaps"), "empty tensor inside another");
    CHECK(refused("{" T1("a", "F32", "[1]", 0, 4) "}", 5, "1 trailing bytes"), "trailing data bytes");
    CHECK(refused("{" T1("a", "F32", "[2]", 0, 8) "}", 7, "truncated"), "data shorter than the offsets");
    CHECK(refused("{}      ", 3, "3 trailing bytes"), "data with no tensors");
    /* deep nesting: refused at the first level the schema does not allow, without recursion */
    {
        size_t d = 100000;
        char *h = malloc(d + 32);
        strcpy(h, "{\"a\":");
        memset(h + 5, '[', d);
        h[5 + d] = 0;
        CHECK(refused(h, 0, "tensor 'a': expected an object"), "100000 nested arrays");
        strcpy(h, "{\"a\":{\"shape\":");
        memset(h + 14, '[', d);
        h[14 + d] = 0;
        CHECK(refused(h, 0, "expected a non-negative integer, found '['"), "nested arrays in a shape");
        strcpy(h, "{\"__metadata__\":");
        for (size_t k = 0; k < d; k += 5) memcpy(h + 16 + k, "{\"a\":", 5);
        h[16 + d] = 0;
        CHECK(refused(h, 0, "not a string"), "nested objects in __metadata__");
        free(h);
    }
    /* names in messages stay on one line */
    CHECK(refused("{\"a\\nb\":{\"dtype\":\"Q\",\"shape\":[],\"data_offsets\":[0,0]}}", 0, "tensor 'a?b': unknown dtype"),
          "newline in a name is shown as '?'");
}

static void good_files(void) {
    StFile f;
    unsigned char *b;
    CHECK(accepted("{}      ", 0, &f, &b) && f.n == 0 && f.nmeta == 0, "empty header with space padding");
    if (b) { st_close(&f); free(b); }
    CHECK(accepted("{ }", 0, &f, &b) && f.n == 0, "empty object, unpadded");
    if (b) { st_close(&f); free(b); }
    CHECK(accepted("{\"__metadata__\":{}}", 0, &f, &b) && f.nmeta == 0, "empty metadata");
    if (b) { st_close(&f); free(b); }
    /* JSON whitespace between tokens, escapes in names and values, keys in any order */
    const char *h = "{ \"__metadata__\" : { \"k\\u00e9\" : \"v\\\"\\\\\\/\\b\\f\\n\\r\\t\\ud83d\\ude00\" } ,\n"
                    "\t\"a\\u0041\" : { \"data_offsets\" : [ 0 , 4 ] , \"shape\" : [ ] , \"dtype\" : \"F32\" } ,\r\n"
                    "\"e\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[4,4]}, "
                    "\"\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[4,5]} }   ";
    int ok = accepted(h, 5, &f, &b);
    CHECK(ok, "whitespace, escapes and any key order accepted");
    if (ok) {
        CHECK(f.n == 3 && strcmp(f.e[0].name, "aA") == 0 && f.e[0].ndim == 0 && f.e[0].numel == 1 && f.e[0].dtype == ST_F32,
              "rank-0 tensor with an escaped name");
        CHECK(f.e[1].ndim == 2 && f.e[1].numel == 0 && f.e[1].shape[1] == 3, "zero-size tensor");
        CHECK(st_find(&f, "\xc3\xa9") == 2 && f.e[2].ndim == 8, "UTF-8 name, rank 8");
        CHECK(st_find(&f, "aA") == 0 && st_find(&f, "e") == 1 && st_find(&f, "zz") == -1 && st_find(&f, "") == -1, "st_find");
        const char *v = st_meta_get(&f, "k\xc3\xa9");
        CHECK(v && strcmp(v, "v\"\\/\b\f\n\r\t\xf0\x9f\x98\x80") == 0, "metadata escapes decoded");
        CHECK(!st_meta_get(&f, "nope"), "absent metadata key");
        Tensor t;
        CHECK(st_read_tensor(&f, 1, ST_WANT_NATURAL, &t) == 0 && t.ndim == 2 && t.dtype == DT_F32, "read a zero-size tensor");
        if (t.data) tensor_free(&t);
        CHECK(st_read_tensor(&f, 2, ST_WANT_NATURAL, &t) == 0 && t.ndim == 8 && t.dtype == DT_I64 && tensor_i64(&t)[0] == 4,
              "read U8 rank 8 as int64");
        if (t.data) tensor_free(&t);
        st_close(&f);
        free(b);
    }
}

static size_t put(unsigned char *d, size_t at, const void *v, size_t n) {
    memcpy(d + at, v, n);
    return at + n;
}

static void conversions(void) {
    /* all data little-endian; unaligned: the F32 tensor starts at byte 1 */
    const char *h = "{" T1("u8", "U8", "[1]", 0, 1) "," T1("f32", "F32", "[2]", 1, 9) "," T1("f16", "F16", "[5]", 9, 19) ","
        T1("bf16", "BF16", "[2]", 19, 23) "," T1("f64", "F64", "[2]", 23, 39) "," T1("i8", "I8", "[2]", 39, 41) ","
        T1("i16", "I16", "[1]", 41, 43) "," T1("i32", "I32", "[1]", 43, 47) "," T1("i64", "I64", "[]", 47, 55) ","
        T1("u64", "U64", "[2]", 55, 71) "," T1("bool", "BOOL", "[3]", 71, 74) "," T1("e4m3", "F8_E4M3", "[4]", 74, 78) ","
        T1("e5m2", "F8_E5M2", "[2]", 78, 80) "," T1("u16", "U16", "[1]", 80, 82) "," T1("u32", "U32", "[1]", 82, 86) "}";
    unsigned char d[86];
    size_t at = 0;
    at = put(d, at, "\xc8", 1);                                 /* 200 */
    at = put(d, at, "\x00\x00\xc0\x3f\x00\x00\x20\xc1", 8);     /* 1.5, -10 */
    at = put(d, at, "\x00\x3c\x00\xc0\x01\x00\x00\x7c\xff\x7b", 10); /* 1, -2, 2^-24, inf, 65504 */
    at = put(d, at, "\x80\x3f\x40\xc0", 4);                     /* 1, -3 */
    at = put(d, at, "\x00\x00\x00\x00\x00\x00\xd0\x3f\x00\x00\x00\x00\x00\x00\xf0\x47", 16); /* 0.25, 2^128 -> inf */
    at = put(d, at, "\xfb\x7f", 2);                             /* -5, 127 */
    at = put(d, at, "\x00\x80", 2);                             /* -32768 */
    at = put(d, at, "\xff\xff\xff\xff", 4);                     /* -1 */
    at = put(d, at, "\x01\x00\x00\x00\x00\x00\x00\x80", 8);     /* INT64_MIN + 1 */
    at = put(d, at, "\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80", 16); /* 7, 2^63 */
    at = put(d, at, "\x01\x00\x02", 3);                         /* true, false, invalid */
    at = put(d, at, "\x38\xb8\x01\x7f", 4);                     /* 1, -1, 2^-9, NaN */
    at = put(d, at, "\x3c\x7c", 2);                             /* 1, inf */
    at = put(d, at, "\xff\xff", 2);                             /* 65535 */
    at = put(d, at, "\xff\xff\xff\xff", 4);                     /* 4294967295 */
    size_t hl = strlen(h), len;
    unsigned char *b = mkfile(h, hl, UINT64_MAX, 0, &len);
    b = realloc(b, len + at);
    memcpy(b + len, d, at);
    len += at;
    StFile f;
    int ok = st_parse(b, len, NAME, &f) == 0;
    CHECK(ok && f.n == 15, "every dtype parses (%s)", ok ? "ok" : err_msg());
    if (!ok) { free(b); return; }
    float v[8];
    int64_t iv[8];
#define IX(n) st_find(&f, n)
    CHECK(st_read_f32(&f, IX("f32"), v, 2, 0) == 0 && v[0] == 1.5f && v[1] == -10.0f, "F32 (unaligned)");
    CHECK(st_read_f32(&f, IX("f16"), v, 5, 0) == 0 && v[0] == 1 && v[1] == -2 && v[2] == ldexpf(1, -24) && isinf(v[3]) &&
              v[4] == 65504, "F16 incl. subnormal, inf, max");
    CHECK(st_read_f32(&f, IX("bf16"), v, 2, 0) == 0 && v[0] == 1 && v[1] == -3, "BF16");
    CHECK(st_read_f32(&f, IX("f64"), v, 2, 0) == 0 && v[0] == 0.25f && isinf(v[1]), "F64 rounds to float32 (overflow -> inf)");
    CHECK(st_read_f32(&f, IX("e4m3"), v, 4, 0) == 0 && v[0] == 1 && v[1] == -1 && v[2] == ldexpf(1, -9) && isnan(v[3]),
          "F8_E4M3");
    CHECK(st_read_f32(&f, IX("e5m2"), v, 2, 0) == 0 && v[0] == 1 && isinf(v[1]), "F8_E5M2");
    CHECK(st_read_i64(&f, IX("u8"), iv, 1) == 0 && iv[0] == 200, "U8");
    CHECK(st_read_i64(&f, IX("i8"), iv, 2) == 0 && iv[0] == -5 && iv[1] == 127, "I8");
    CHECK(st_read_i64(&f, IX("i16"), iv, 1) == 0 && iv[0] == -32768, "I16");
    CHECK(st_read_i64(&f, IX("i32"), iv, 1) == 0 && iv[0] == -1, "I32");
    CHECK(st_read_i64(&f, IX("i64"), iv, 1) == 0 && iv[0] == INT64_MIN + 1, "I64 rank 0");
    CHECK(st_read_i64(&f, IX("u16"), iv, 1) == 0 && iv[0] == 65535, "U16");
    CHECK(st_read_i64(&f, IX("u32"), iv, 1) == 0 && iv[0] == 4294967295LL, "U32");
    CHECK(st_read_i64(&f, IX("u64"), iv, 2) == -1 && strstr(err_msg(), "tensor 'u64': element 1 (U64 9223372036854775808) does not fit"),
          "U64 >= 2^63 refused as int64");
    CHECK(st_read_i64(&f, IX("bool"), iv, 3) == -1 && strstr(err_msg(), "element 2 (BOOL 2) is not 0 or 1"), "BOOL byte 2 refused");
    CHECK(st_read_f32(&f, IX("i32"), v, 1, 0) == -1 && strstr(err_msg(), "x.safetensors: tensor 'i32' has dtype I32, expected a float"),
          "integer refused as float without ST_INT_OK");
    CHECK(st_read_f32(&f, IX("i32"), v, 1, ST_INT_OK) == 0 && v[0] == -1, "integer as float with ST_INT_OK");
    CHECK(st_read_f32(&f, IX("u64"), v, 2, ST_INT_OK) == -1, "U64 >= 2^63 refused as float too");
    CHECK(st_read_i64(&f, IX("f32"), iv, 2) == -1 && strstr(err_msg(), "expected an integer"), "float refused as int64");
    CHECK(st_read_f32(&f, IX("f32"), v, 3, 0) == -1 && strstr(err_msg(), "has 2 elements, the destination holds 3"),
          "element count mismatch refused");
    CHECK(st_read_f32(&f, 99, v, 1, 0) == -1 && st_read_f32(&f, -1, v, 1, 0) == -1, "bad index refused");
    Tensor t;
    CHECK(st_read_tensor(&f, IX("i16"), DT_F32, &t) == 0 && t.dtype == DT_F32 && tensor_f32(&t)[0] == -32768, "tensor I16 -> F32");
    tensor_free(&t);
    CHECK(st_read_tensor(&f, IX("f16"), DT_I64, &t) == -1 && !t.data, "tensor F16 -> I64 refused");
    CHECK(st_read_tensor(&f, IX("i64"), ST_WANT_NATURAL, &t) == 0 && t.dtype == DT_I64 && t.ndim == 0, "tensor I64 natural");
    tensor_free(&t);
    st_close(&f);
    free(b);
}

/* ---- ParamTable ------------------------------------------------------------------------------- */

static void make_table(ParamTable *t, int fc_out, int with_bias) {
    params_init(t);
    int64_t cw[4] = {2, 1, 3, 3}, two[1] = {2}, fw[2] = {fc_out, 2}, fb[1] = {fc_out};
    params_add(t, "conv.weight", PARAM_WEIGHT, 4, cw);
    params_add(t, "bn.weight", PARAM_WEIGHT, 1, two);
    params_add(t, "bn.running_mean", PARAM_BUFFER, 1, two);
    params_add(t, "bn.num_batches_tracked", PARAM_COUNT, 0, (int64_t[]){0});
    params_add(t, "fc.weight", PARAM_WEIGHT, 2, fw);
    if (with_bias) params_add(t, "fc.bias", PARAM_WEIGHT, 1, fb);
    params_alloc(t);
}

static void fill(ParamTable *t, float base) {
    for (int i = 0; i < t->n; i++)
        for (size_t k = 0; k < t->e[i].numel; k++)
            params_data(t, i)[k] = t->e[i].kind == PARAM_COUNT ? 12345 : base + (float)i + (float)k / 8;
}

static int same_values(const ParamTable *a, const ParamTable *b) {
    for (int i = 0; i < a->n; i++) {
        int j = params_find(b, a->e[i].name);
        if (j < 0 || memcmp(params_data(a, i), params_data(b, j), a->e[i].numel * 4) != 0) return 0;
    }
    return 1;
}

static int all_equal(const ParamTable *t, float v) {
    for (size_t k = 0; k < t->total; k++)
        if (t->data[k] != v && t->data[k] != 0) return 0;
    return 1;
}

static int contains(const StrList *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0) return 1;
    return 0;
}

static void tables(const char *dir) {
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    ParamTable a, b;
    make_table(&a, 3, 1);
    fill(&a, 0.5f);
    float m[6] = {1, 2, 3, 4, 5, 6};
    StItem extra[1] = {{"opt.m.fc.weight", ST_F32, 2, {3, 2}, m}};
    StMeta meta[2] = {{"step", "7"}, {"note", "a \"q\"\n\xc3\xa9"}};
    CHECK(st_save_params(path, &a, meta, 2, extra, 1) == 0, "save a table with metadata and an extra tensor");
    StFile f;
    int ok = st_open(path, &f) == 0;
    CHECK(ok, "reopen the checkpoint (%s)", ok ? "ok" : err_msg());
    if (ok) {
        CHECK(f.n == 7 && f.nmeta == 2 && strcmp(f.meta[0].key, "step") == 0 && strcmp(st_meta_get(&f, "note"), meta[1].value) == 0,
              "entries and metadata in order");
        int c = st_find(&f, "bn.num_batches_tracked");
        CHECK(c == 3 && f.e[c].dtype == ST_I64 && f.e[c].ndim == 0, "count saved as I64 rank 0");
        int64_t cv = 0;
        CHECK(st_read_i64(&f, c, &cv, 1) == 0 && cv == 12345, "count value");
        CHECK(f.e[0].dtype == ST_F32 && f.e[0].ndim == 4 && f.e[0].begin == 0 && f.e[1].begin == 72, "data contiguous in table order");
        float mv[6];
        CHECK(st_read_f32(&f, 6, mv, 6, 0) == 0 && memcmp(mv, m, sizeof m) == 0 && f.e[6].begin == f.e[5].end, "extra tensor after the table");
        /* strict: the extra tensor is unexpected; allowed or skipped it loads */
        make_table(&b, 3, 1);
        StrList probs = {0};
        CHECK(st_load_params(&f, &b, NULL, &probs) == -1 && strstr(err_msg(), "does not match the model: 1 unexpected (opt.m.fc.weight (F32 [3, 2]))") &&
                  probs.n == 1 && contains(&probs, "unexpected: opt.m.fc.weight (F32 [3, 2])") && all_equal(&b, 0),
              "strict load names the unexpected tensor, loads nothing");
        strlist_free(&probs);
        StLoadOpts allow = {NULL, 0, 1};
        CHECK(st_load_params(&f, &b, &allow, NULL) == 0 && same_values(&a, &b), "round trip with unexpected tensors allowed");
        ParamTable c2;
        make_table(&c2, 3, 1);
        const char *skip[] = {"opt."};
        StLoadOpts sk = {skip, 1, 0};
        CHECK(st_load_params(&f, &c2, &sk, NULL) == 0 && same_values(&a, &c2) && params_data(&c2, 3)[0] == 12345,
              "round trip skipping opt.");
        params_free(&c2);
        params_free(&b);
        st_close(&f);
    }

    /* missing / wrong shape / wrong dtype, all named at once, the table untouched */
    make_table(&b, 4, 1); /* fc is 4 x 2 here */
    fill(&b, 42);
    int64_t one[1] = {1};
    ParamTable w;
    params_init(&w);
    params_add(&w, "conv.weight", PARAM_WEIGHT, 4, (int64_t[]){2, 1, 3, 3});
    params_add(&w, "bn.num_batches_tracked", PARAM_WEIGHT, 0, (int64_t[]){0}); /* file has I64 */
    params_add(&w, "bn.weight", PARAM_COUNT, 1, (int64_t[]){2});      /* file has F32 */
    params_add(&w, "gone", PARAM_BUFFER, 1, one);
    params_add(&w, "fc.weight", PARAM_WEIGHT, 2, (int64_t[]){3, 3});
    params_alloc(&w);
    StrList probs = {0};
    const char *sk1[] = {"opt.", "bn.running"};
    StLoadOpts o1 = {sk1, 2, 0};
    int rc = st_load(path, &w, &o1, &probs);
    const char *msg = err_msg();
    CHECK(rc == -1 && strncmp(msg, path, strlen(path)) == 0, "mismatch refused, message names the file");
    CHECK(strstr(msg, "1 missing (gone (model [1]))"), "missing named: %s", msg);
    CHECK(strstr(msg, "2 unexpected (fc.bias (F32 [3]), bn.weight") == NULL && strstr(msg, "1 unexpected (fc.bias (F32 [3]))"),
          "unexpected named (skipped prefixes and mismatched names are not unexpected)");
    CHECK(strstr(msg, "1 wrong shape (fc.weight: file [3, 2], model [3, 3])"), "wrong shape named");
    CHECK(strstr(msg, "2 wrong dtype (bn.num_batches_tracked: file I64, model needs a float dtype (F32, F16, BF16, F64), "
                      "bn.weight: file F32, model needs I64)"), "wrong dtypes named");
    CHECK(probs.n == 5 && contains(&probs, "missing: gone (model [1])") &&
              contains(&probs, "wrong shape: fc.weight: file [3, 2], model [3, 3]"), "one problem per line in the list");
    strlist_free(&probs);
    params_free(&w);
    rc = st_load(path, &b, &(StLoadOpts){NULL, 0, 1}, NULL);
    CHECK(rc == -1 && strstr(err_msg(), "1 wrong shape (fc.weight: file [3, 2], model [4, 2]), ") == NULL &&
              strstr(err_msg(), "wrong shape (fc.weight: file [3, 2], model [4, 2], fc.bias: file [3], model [4])"),
          "fine-tuning shapes differ: %s", err_msg());
    ParamTable before;
    make_table(&before, 4, 1);
    fill(&before, 42);
    CHECK(same_values(&before, &b), "nothing loaded on a mismatch");
    const char *fc[] = {"fc."};
    CHECK(st_load(path, &b, &(StLoadOpts){fc, 1, 1}, NULL) == 0, "skip fc. loads the rest");
    int ok2 = 1;
    for (int i = 0; i < b.n; i++) {
        int fcent = strncmp(b.e[i].name, "fc.", 3) == 0;
        int ai = params_find(&a, b.e[i].name);
        if (fcent) ok2 &= memcmp(params_data(&b, i), params_data(&before, i), b.e[i].numel * 4) == 0;
        else ok2 &= memcmp(params_data(&b, i), params_data(&a, ai), b.e[i].numel * 4) == 0;
    }
    CHECK(ok2, "skipped entries keep their values, the others are loaded");
    params_free(&before);
    params_free(&b);

    /* many problems: the line stays short, the list holds all */
    ParamTable many;
    params_init(&many);
    for (int i = 0; i < 300; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "layer%03d.some.rather.long.parameter.name.weight", i);
        params_add(&many, nm, PARAM_WEIGHT, 1, one);
    }
    params_alloc(&many);
    probs = (StrList){0};
    rc = st_load(path, &many, &(StLoadOpts){NULL, 0, 1}, &probs);
    CHECK(rc == -1 && strlen(err_msg()) < 1000 && strstr(err_msg(), "300 missing (layer000") && strstr(err_msg(), " more)") &&
              probs.n == 300, "300 missing: short summary, full list (%zu)", probs.n);
    strlist_free(&probs);
    params_free(&many);

    /* a read error after the checks leaves the table as it was: truncate the file once it is open */
    ok = st_open(path, &f) == 0;
    if (ok) {
        make_table(&b, 3, 1);
        fill(&b, 9);
        make_table(&before, 3, 1);
        fill(&before, 9);
        CHECK(truncate(path, 100) == 0, "truncate the checkpoint under the open StFile");
        CHECK(st_load_params(&f, &b, &(StLoadOpts){NULL, 0, 1}, NULL) == -1 && strstr(err_msg(), "unexpected end of file") &&
                  same_values(&before, &b), "read error restores the table (%s)", err_msg());
        params_free(&b);
        params_free(&before);
        st_close(&f);
    }

    /* writer refusals, and nothing left behind */
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    float x[2] = {1, 2};
    StItem dup[2] = {{"w", ST_F32, 1, {2}, x}, {"w", ST_F32, 1, {2}, x}};
    struct stat stt;
    CHECK(st_save(bad, dup, 2, NULL, 0) == -1 && strstr(err_msg(), "duplicate tensor name 'w'") && stat(bad, &stt) != 0,
          "duplicate tensor names refused, no file");
    StItem md[1] = {{"__metadata__", ST_F32, 1, {2}, x}};
    CHECK(st_save(bad, md, 1, NULL, 0) == -1 && strstr(err_msg(), "__metadata__"), "tensor named __metadata__ refused");
    StItem u8[1] = {{"\xff", ST_F32, 1, {2}, x}};
    CHECK(st_save(bad, u8, 1, NULL, 0) == -1 && strstr(err_msg(), "not valid UTF-8"), "invalid UTF-8 name refused");
    StMeta dm[2] = {{"k", "1"}, {"k", "2"}};
    CHECK(st_save(bad, dup, 1, dm, 2) == -1 && strstr(err_msg(), "duplicate __metadata__ key 'k'"), "duplicate metadata keys refused");
    StItem neg[1] = {{"w", ST_F32, 1, {-2}, x}};
    CHECK(st_save(bad, neg, 1, NULL, 0) == -1 && strstr(err_msg(), "bad dtype or shape"), "negative dimension refused");
    StItem nodata[1] = {{"w", ST_F32, 1, {2}, NULL}};
    CHECK(st_save(bad, nodata, 1, NULL, 0) == -1 && strstr(err_msg(), "no data"), "missing data refused");
    CHECK(stat(bad, &stt) != 0, "no partial output after refusals");
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.safetensors", dir);
    CHECK(st_save(bad, dup, 1, NULL, 0) == -1 && strstr(err_msg(), bad), "unwritable path refused");
    CHECK(st_open(dir, &f) == -1 && strstr(err_msg(), "not a regular file"), "a directory is refused");
    CHECK(st_open(bad, &f) == -1 && strstr(err_msg(), "cannot open"), "a missing file is refused");
    params_free(&a);
    unlink(path);
}

static void header_bytes(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/h.safetensors", dir);
    ParamTable t;
    params_init(&t);
    params_add(&t, "w", PARAM_WEIGHT, 1, (int64_t[]){2});
    params_add(&t, "n", PARAM_COUNT, 0, (int64_t[]){0});
    params_alloc(&t);
    params_data(&t, 0)[0] = 1.0f;
    params_data(&t, 0)[1] = -2.0f;
    params_data(&t, 1)[0] = 3;
    StMeta meta[1] = {{"k", "v\n\x01"}};
    CHECK(st_save_params(path, &t, meta, 1, NULL, 0) == 0, "save a two-entry table");
    const char *want = "{\"__metadata__\":{\"k\":\"v\\n\\u0001\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
    size_t wl = strlen(want), padded = (wl + 7) / 8 * 8;
    unsigned char got[512];
    FILE *fp = fopen(path, "rb");
    size_t n = fp ? fread(got, 1, sizeof got, fp) : 0;
    if (fp) fclose(fp);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = hl << 8 | got[k];
    CHECK(n == 8 + padded + 16 && hl == padded && hl % 8 == 0, "length field: header padded to a multiple of 8 (%llu)",
          (unsigned long long)hl);
    int pad_ok = 1;
    for (size_t k = wl; k < padded && 8 + k < n; k++) pad_ok &= got[8 + k] == ' ';
    CHECK(n >= 8 + wl && memcmp(got + 8, want, wl) == 0 && pad_ok, "compact JSON, __metadata__ first, serde escapes, space padding");
    const unsigned char data[16] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 3, 0, 0, 0, 0, 0, 0, 0};
    CHECK(n == 8 + padded + 16 && memcmp(got + 8 + padded, data, 16) == 0, "data: F32 then I64, little-endian");
    /* without metadata there is no __metadata__ key */
    CHECK(st_save_params(path, &t, NULL, 0, NULL, 0) == 0, "save without metadata");
    fp = fopen(path, "rb");
    n = fp ? fread(got, 1, sizeof got, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n > 9 && memcmp(got + 8, "{\"w\":", 5) == 0, "no __metadata__ key without metadata");
    params_free(&t);
    unlink(path);
}

int main(void) {
    char dir[] = "/tmp/test_safetensors.XXXXXX";
    if (!mkdtemp(dir)) {
        printf("not ok mkdtemp\n");
        return 1;
    }
    validation();
    good_files();
    conversions();
    tables(dir);
    header_bytes(dir);
    rmdir(dir);
    return check_failures ? 1 : 0;
}
