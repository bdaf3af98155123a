/* The safetensors reader refuses malformed and hostile files with a message naming the problem,
 * both from memory and from disk, and reads valid ones exactly (all dtypes it converts). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "formats/safetensors.h"
#include "test.h"

static const char *tmp;

/* Builds "u64 N | header | data" where N = strlen(header) unless n_override >= 0. */
static size_t build(uint8_t *buf, const char *header, long long n_override, const void *data, size_t dlen)
{
    uint64_t n = n_override >= 0 ? (uint64_t)n_override : strlen(header);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, header, strlen(header));
    memcpy(buf + 8 + strlen(header), data, dlen);
    return 8 + strlen(header) + dlen;
}

/* Expects both the memory and the file reader to refuse with a message containing needle. */
static int refuse(const char *what, const uint8_t *buf, size_t len, const char *needle)
{
    tl_st_file f;
    tl_err err = {0};
    int ok = 1;
    if (tl_st_open_mem(buf, len, "mem", &f, &err) == 0) {
        fprintf(stderr, "%s: accepted from memory\n", what);
        tl_st_close(&f);
        ok = 0;
    } else if (!strstr(err.msg, needle)) {
        fprintf(stderr, "%s: message '%s' lacks '%s'\n", what, err.msg, needle);
        ok = 0;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/h.safetensors", tmp);
    FILE *fp = fopen(path, "wb");
    fwrite(buf, 1, len, fp);
    fclose(fp);
    memset(&err, 0, sizeof err);
    if (tl_st_open(path, &f, &err) == 0) {
        fprintf(stderr, "%s: accepted from file\n", what);
        tl_st_close(&f);
        ok = 0;
    } else if (!strstr(err.msg, needle) || !strstr(err.msg, path)) {
        fprintf(stderr, "%s: file message '%s' lacks '%s' or the path\n", what, err.msg, needle);
        ok = 0;
    }
    return ok;
}

static uint8_t buf[1 << 16];
static const float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* A file of header, with its true length, and the first dlen bytes of data: refused with needle. */
static int refuse_header(const char *what, const char *header, size_t dlen, const char *needle)
{
    return refuse(what, buf, build(buf, header, -1, data, dlen), needle);
}

int main(void)
{
    tmp = test_tmpdir();
    size_t n;

    /* a valid file first, so the refusals below differ from it in one respect each */
    const char *good = "{\"__metadata__\":{\"config\":\"x\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]}}  ";
    n = build(buf, good, -1, data, sizeof data);
    tl_st_file f;
    tl_err err = {0};
    CHECKF(tl_st_open_mem(buf, n, "mem", &f, &err) == 0, "%s", err.msg);
    CHECK(f.n == 2 && !strcmp(tl_st_meta(&f, "config"), "x"));
    const tl_st_tensor *b = tl_st_find(&f, "b");
    float out[4];
    CHECK(b && b->ndim == 1 && b->shape[0] == 4 && tl_st_read_f32(&f, b, out, &err) == 0 && out[0] == 5 && out[3] == 8);
    CHECK(tl_st_find(&f, "c") == NULL);
    tl_st_close(&f);

    /* dtype conversion: F16 (normal, subnormal, inf), BF16, I64, F64, BOOL */
    uint16_t h[4] = {0x3e00 /*1.5*/, 0xc000 /*-2*/, 0x0001 /*2^-24*/, 0x7c00 /*inf*/};
    uint16_t bf[2] = {0x3f80 /*1*/, 0xc050 /*-3.25*/};
    int64_t l[2] = {7, -9};
    double d[1] = {0.1};
    uint8_t bo[2] = {0, 1};
    uint8_t data2[64];
    memcpy(data2, h, 8);
    memcpy(data2 + 8, bf, 4);
    memcpy(data2 + 12, l, 16);
    memcpy(data2 + 28, d, 8);
    memcpy(data2 + 36, bo, 2);
    n = build(buf, "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                   "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                   "\"l\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[12,28]},"
                   "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[28,36]},"
                   "\"z\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[36,38]},"
                   "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[38,38]}}", -1, data2, 38);
    CHECKF(tl_st_open_mem(buf, n, "mem", &f, &err) == 0, "%s", err.msg);
    if (f.n == 6) {
        float o[4];
        CHECK(!tl_st_read_f32(&f, tl_st_find(&f, "h"), o, &err) && o[0] == 1.5f && o[1] == -2.0f &&
              o[2] == 0x1p-24f && isinf(o[3]) && o[3] > 0);
        CHECK(!tl_st_read_f32(&f, tl_st_find(&f, "bf"), o, &err) && o[0] == 1.0f && o[1] == -3.25f);
        CHECK(!tl_st_read_f32(&f, tl_st_find(&f, "l"), o, &err) && o[0] == 7.0f && o[1] == -9.0f);
        CHECK(!tl_st_read_f32(&f, tl_st_find(&f, "d"), o, &err) && o[0] == 0.1f);
        CHECK(!tl_st_read_f32(&f, tl_st_find(&f, "z"), o, &err) && o[0] == 0.0f && o[1] == 1.0f);
        CHECK(tl_st_find(&f, "e")->numel == 0);
    }
    tl_st_close(&f);

    /* truncation */
    n = build(buf, good, -1, data, sizeof data);
    CHECK(refuse("truncated data", buf, n - 1, "outside the data section (31 bytes; file truncated?)"));
    CHECK(refuse("truncated header", buf, 40, "larger than the rest of the file"));
    CHECK(refuse("truncated length", buf, 5, "too short"));
    CHECK(refuse("empty", buf, 0, "too short"));
    /* extra bytes after the last tensor */
    n = build(buf, good, -1, data, sizeof data);
    buf[n] = 0;
    CHECK(refuse("trailing data", buf, n + 1, "file length does not match"));
    /* one bad header each */
    static const struct {
        const char *what, *header;
        size_t dlen;
        const char *needle;
    } bad_headers[] = {
        /* wrong lengths */
        {"span vs shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}",
         16, "data_offsets span 16 bytes but F32 shape needs 24"},
        {"reversed offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}",
         16, "is before begin"},
        {"offsets past the end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[32,48]}}",
         16, "outside the data section"},
        {"negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[-16,0]}}",
         16, "data_offsets must be two non-negative integers"},
        /* overlapping and gapped tensors */
        {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24, "overlaps"},
        {"gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", 24, "unused bytes before tensor 'b'"},
        {"aliasing", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, "overlaps"},
        /* huge shapes */
        {"numel overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,16]}}",
         16, "shape overflows 64 bits"},
        {"byte size overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,16]}}",
         16, "byte size overflows 64 bits"},
        {"huge tensor, small file", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776],\"data_offsets\":[0,4398046511104]}}",
         16, "outside the data section"},
        {"too many dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,4],\"data_offsets\":[0,16]}}",
         16, "at most 8"},
        {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}",
         16, "shape[0] is not a non-negative integer"},
        {"float dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]}}",
         16, "shape[0] is not a non-negative integer"},
        /* bad JSON */
        {"unterminated JSON", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}",
         16, "bad JSON header"},
        {"duplicate key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, "duplicate"},
        {"not an object", "[1,2]", 0, "does not start with '{'"},
        {"garbage after JSON", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}} x",
         16, "bad JSON header"},
        {"unknown field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],\"crc\":1}}",
         16, "unknown field 'crc'"},
        {"missing field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}",
         16, "lacks field 'data_offsets'"},
        {"unknown dtype", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[16],\"data_offsets\":[0,16]}}",
         16, "unsupported dtype F8_E4M3"},
        {"metadata value not a string", "{\"__metadata__\":{\"config\":{}}}",
         0, "__metadata__ value of 'config' is not a string"},
        {"empty name", "{\"\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
         16, "tensor name of length 0"},
        {"NUL in name", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
         16, "bad JSON header"},
    };
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++)
        CHECK(refuse_header(bad_headers[i].what, bad_headers[i].header, bad_headers[i].dlen, bad_headers[i].needle));
    /* header size too large */
    n = build(buf, good, 200ll << 20, data, sizeof data);
    CHECK(refuse("header over the cap", buf, n, "larger than the limit"));
    n = build(buf, good, (long long)(~0ull >> 1), data, sizeof data);
    CHECK(refuse("header size 2^63", buf, n, "larger than the limit"));

    /* writer rejects duplicate names and writes what the reader accepts */
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", tmp);
    tl_st_out o[2] = {{"x", TL_DT_F32, 1, {4}, data}, {"x", TL_DT_F32, 1, {4}, data}};
    CHECK(tl_st_write(path, o, 2, NULL, 0, 0600, &err) != 0 && strstr(err.msg, "duplicate"));
    o[1].name = "y";
    const char *meta[2] = {"k", "v"};
    CHECK(tl_st_write(path, o, 2, meta, 1, 0600, &err) == 0);
    CHECKF(tl_st_open(path, &f, &err) == 0, "%s", err.msg);
    CHECK(f.n == 2 && f.data_start % 8 == 0 && !strcmp(tl_st_meta(&f, "k"), "v"));
    tl_st_close(&f);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
