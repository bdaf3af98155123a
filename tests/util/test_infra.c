/* util/bytes.h, util/sha.h, util/json_fields.h and tl_sec_strndup: byte layouts written out by hand, FIPS 180-2
 * test vectors and coreutils' sha256sum/sha384sum as the references for the digests, and every
 * status of the strict field check. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/json_fields.h"
#include "util/secmem.h"
#include "util/sha.h"
#include "util/strbuf.h"

static void bytes(void)
{
    uint8_t b[11] = {0};
    tl_store_le16(b + 1, 0x0102);
    CHECK(b[1] == 0x02 && b[2] == 0x01);
    tl_store_le32(b + 1, 0x01020304u);
    CHECK(b[1] == 0x04 && b[2] == 0x03 && b[3] == 0x02 && b[4] == 0x01);
    tl_store_be32(b + 1, 0x01020304u);
    CHECK(b[1] == 0x01 && b[2] == 0x02 && b[3] == 0x03 && b[4] == 0x04);
    static const uint8_t le[8] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
    memcpy(b + 3, le, 8); /* odd offset: no alignment assumed */
    CHECK(tl_load_le64(b + 3) == 0x0102030405060708ull);
    CHECK(tl_load_be64(b + 3) == 0x0807060504030201ull);
    CHECK(tl_load_le32(b + 3) == 0x05060708u && tl_load_be32(b + 3) == 0x08070605u && tl_load_le16(b + 3) == 0x0708);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 1000; i++, x = x * 6364136223846793005ull + 1442695040888963407ull) {
        tl_store_le64(b + 1, x);
        int ok = tl_load_le64(b + 1) == x;
        tl_store_be64(b + 2, x);
        ok = ok && tl_load_be64(b + 2) == x && b[2] == (uint8_t)(x >> 56) && b[9] == (uint8_t)x;
        tl_store_le32(b, (uint32_t)x);
        ok = ok && tl_load_le32(b) == (uint32_t)x && b[0] == (uint8_t)x;
        tl_store_le16(b, (uint16_t)x);
        ok = ok && tl_load_le16(b) == (uint16_t)x;
        CHECKF(ok, "round trip of %llx", (unsigned long long)x);
    }
}

static int hex_is(const uint8_t *h, size_t n, const char *want)
{
    char s[2 * 64 + 1];
    tl_hex(h, n, s);
    if (strcmp(s, want))
        fprintf(stderr, "got %s, want %s\n", s, want);
    return strcmp(s, want) == 0;
}

/* The digest coreutils computes for path (an independent implementation). */
static int coreutils(const char *tool, const char *path, char *out, size_t n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s '%s'", tool, path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fgets(out, (int)n, p) != NULL;
    pclose(p);
    char *sp = ok ? strchr(out, ' ') : NULL;
    if (!sp)
        return -1;
    *sp = 0;
    return 0;
}

static void sha(void)
{
    /* FIPS 180-2, appendix B (SHA-256) and D (SHA-384) */
    static const char abc448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    uint8_t h[48];
    CHECK(tl_sha256("abc", 3, h) == 0 &&
          hex_is(h, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(tl_sha256(NULL, 0, h) == 0 &&
          hex_is(h, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(tl_sha256(abc448, strlen(abc448), h) == 0 &&
          hex_is(h, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    CHECK(tl_sha_digest(TL_SHA384, "abc", 3, h) == 0 &&
          hex_is(h, 48, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"));
    CHECK(tl_sha_len(TL_SHA256) == 32 && tl_sha_len(TL_SHA384) == 48);
    /* a ‖ b and the incremental form give the digest of the concatenation, wherever it is cut */
    uint8_t whole[32], part[32];
    tl_sha256(abc448, strlen(abc448), whole);
    for (size_t cut = 0; cut <= strlen(abc448); cut += 7) {
        CHECK(tl_sha256_cat(abc448, cut, abc448 + cut, strlen(abc448) - cut, part) == 0 && !memcmp(part, whole, 32));
        tl_sha *s = tl_sha_new(TL_SHA256);
        tl_sha_add(s, abc448, cut);
        tl_sha_add(s, abc448 + cut, strlen(abc448) - cut);
        CHECK(tl_sha_end(s, part) == 0 && !memcmp(part, whole, 32));
    }
    CHECK(tl_sha_end(NULL, part) == -1);
    tl_sha_free(tl_sha_new(TL_SHA384));
    tl_sha_free(NULL);
    char tagged[TL_SHA256_TAGGED_LEN];
    tl_sha256_tagged(whole, tagged);
    CHECK(strcmp(tagged, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);

    /* files: larger than the 64 KiB read buffer, against coreutils */
    const char *dir = test_tmpdir();
    char path[512], want[256];
    snprintf(path, sizeof path, "%s/blob", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    for (int i = 0; f && i < 200000; i++)
        fputc((i * 131 + i / 977) & 0xff, f);
    if (f)
        fclose(f);
    int e = -1;
    CHECK(tl_sha_file(TL_SHA256, path, h, &e) == 0 && e == 0);
    CHECK(coreutils("sha256sum", path, want, sizeof want) == 0 && hex_is(h, 32, want));
    CHECK(tl_sha_file(TL_SHA384, path, h, &e) == 0);
    CHECK(coreutils("sha384sum", path, want, sizeof want) == 0 && hex_is(h, 48, want));
    snprintf(path, sizeof path, "%s/absent", dir);
    CHECK(tl_sha_file(TL_SHA256, path, h, &e) == TL_SHA_EOPEN && e == ENOENT);
    CHECK(tl_sha_file(TL_SHA256, dir, h, &e) == TL_SHA_EREAD && e == EISDIR); /* a directory opens, reads fail */
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0);
}

static json_t *obj(const char *text)
{
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    CHECKF(o != NULL, "%s", text);
    return o;
}

static void json_fields(void)
{
    static const tl_json_field f[] = {{"name", TL_JF_STRING, 1}, {"size", TL_JF_UINT, 1}, {"tags", TL_JF_ARRAY, 0},
                                      {"note"}, {NULL}};
    json_t *v[4];
    const char *k = "x";
    json_t *o = obj("{\"size\": 3, \"name\": \"a\", \"note\": [1]}");
    CHECK(tl_json_fields(o, f, v, &k) == TL_JF_OK && k == NULL);
    CHECK(v[0] == json_object_get(o, "name") && v[1] == json_object_get(o, "size") && v[2] == NULL && v[3] != NULL);
    json_decref(o);
    /* an unknown key is reported before a missing field, whatever the order in the text */
    o = obj("{\"name\": 5, \"szie\": 3}");
    CHECK(tl_json_fields(o, f, v, &k) == TL_JF_UNKNOWN && !strcmp(k, "szie") && v[0] == NULL);
    json_decref(o);
    o = obj("{\"name\": \"a\"}");
    CHECK(tl_json_fields(o, f, NULL, &k) == TL_JF_MISSING && !strcmp(k, "size"));
    json_decref(o);
    o = obj("{\"name\": \"a\", \"size\": -1}");
    CHECK(tl_json_fields(o, f, v, &k) == TL_JF_TYPE && !strcmp(k, "size"));
    json_decref(o);
    o = obj("{\"name\": \"a\", \"size\": 1, \"tags\": {}}");
    CHECK(tl_json_fields(o, f, v, NULL) == TL_JF_TYPE);
    json_decref(o);
    o = obj("[1]");
    CHECK(tl_json_fields(o, f, v, &k) == TL_JF_NOT_OBJECT && k == NULL && v[1] == NULL);
    CHECK(tl_json_fields(NULL, f, v, &k) == TL_JF_NOT_OBJECT);
    json_decref(o);
    static const tl_json_field none[] = {{NULL}};
    o = obj("{}");
    CHECK(tl_json_fields(o, none, NULL, NULL) == TL_JF_OK);
    json_decref(o);
    o = obj("{\"a\": 1}");
    CHECK(tl_json_fields(o, none, NULL, &k) == TL_JF_UNKNOWN && !strcmp(k, "a"));
    json_decref(o);

    /* loading: an object, duplicates refused, and JSON that is not an object told apart */
    json_error_t je;
    int no = -1;
    o = tl_json_load_object("{\"a\": 1}", 8, &je, &no);
    CHECK(json_is_object(o) && no == 0);
    json_decref(o);
    CHECK(tl_json_load_object("{\"a\": 1, \"a\": 2}", 16, &je, &no) == NULL && no == 0 && strstr(je.text, "duplicate"));
    CHECK(tl_json_load_object("[1, 2]", 6, &je, &no) == NULL && no == 1 && !strcmp(je.text, "not a JSON object"));
    CHECK(tl_json_load_object("{\"a\": 1} x", 10, &je, NULL) == NULL && je.line == 1);
    CHECK(tl_json_load_object("{\"a\"", 4, &je, &no) == NULL && no == 0);

    o = obj("{\"i\": -5, \"u\": 9007199254740993, \"r\": 1.0, \"s\": \"1\"}");
    long long x = 0;
    uint64_t u = 0;
    CHECK(tl_json_int(json_object_get(o, "i"), -5, 5, &x) == 0 && x == -5);
    CHECK(tl_json_int(json_object_get(o, "i"), -4, 5, &x) == -1);
    CHECK(tl_json_int(json_object_get(o, "r"), 0, 5, &x) == -1 && tl_json_int(NULL, 0, 5, &x) == -1);
    CHECK(tl_json_u64(json_object_get(o, "u"), &u) == 0 && u == 9007199254740993ull);
    CHECK(tl_json_u64(json_object_get(o, "i"), &u) == -1 && tl_json_u64(json_object_get(o, "s"), &u) == -1);
    json_decref(o);
}

static void strndup_sec(void)
{
    char *d = tl_sec_strndup("a\0b!", 3); /* exactly n bytes, NULs included, then a NUL */
    CHECK(d && d[0] == 'a' && d[1] == 0 && d[2] == 'b' && d[3] == 0);
    tl_sec_free(d);
    d = tl_sec_strndup("", 0);
    CHECK(d && d[0] == 0);
    tl_sec_free(d);
}

static void strbuf(void)
{
    tl_strbuf b;
    tl_strbuf_init(&b);
    CHECK(b.p == NULL && b.n == 0 && !b.oom);
    tl_strbuf_put(&b, "a\0b", 3); /* NUL bytes are data */
    tl_strbuf_putc(&b, '-');
    for (int i = 0; i < 100; i++) /* past the first allocation */
        tl_strbuf_printf(&b, "%d,", i);
    CHECK(!b.oom && b.n == 4 + 10 * 2 + 90 * 3 && b.p[b.n] == 0 && b.cap > b.n);
    CHECK(memcmp(b.p, "a\0b-0,1,", 8) == 0 && memcmp(b.p + b.n - 3, "99,", 3) == 0);
    tl_strbuf_free(&b);
    CHECK(b.p == NULL && b.n == 0 && b.cap == 0);
}

int main(void)
{
    strndup_sec();
    strbuf();
    bytes();
    sha();
    json_fields();
    return test_finish();
}
