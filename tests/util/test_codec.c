/* util/codec: RFC 4648 test vectors (section 10), round trips of every length up to 200 bytes,
 * and every refusal of the strict decoders with the reason they report. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util/codec.h"

static int b64_into(const char *s, uint8_t *out, size_t cap, size_t *n)
{
    return tl_b64_decode_into(s, strlen(s), out, cap, n);
}

static void rfc4648(void)
{
    /* section 10: BASE64 and BASE16 of the prefixes of "foobar" */
    static const char *const b64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const b16[] = {"", "66", "666F", "666F6F", "666F6F62", "666F6F6261", "666F6F626172"};
    const uint8_t *foobar = (const uint8_t *)"foobar";
    for (size_t n = 0; n <= 6; n++) {
        char *e = tl_b64_encode(foobar, n);
        CHECKF(e && strcmp(e, b64[n]) == 0, "BASE64(\"%.*s\") = %s, want %s", (int)n, "foobar", e, b64[n]);
        free(e);
        uint8_t d[8];
        size_t dn = 99;
        if (n) { /* empty input is refused on purpose (util/codec.h) */
            CHECK(b64_into(b64[n], d, sizeof d, &dn) == 0 && dn == n && memcmp(d, foobar, n) == 0);
            uint8_t *m = NULL;
            size_t mn = 0;
            CHECK(tl_b64_decode(b64[n], &m, &mn, n, 0) == 0 && mn == n && memcmp(m, foobar, n) == 0);
            free(m);
        } else {
            CHECK(b64_into(b64[n], d, sizeof d, &dn) == TL_CODEC_ELEN && dn == 0);
        }
        char h[16];
        tl_hex(foobar, n, h);
        char lower[16];
        for (size_t i = 0; i <= 2 * n; i++)
            lower[i] = (char)(b16[n][i] >= 'A' && b16[n][i] <= 'F' ? b16[n][i] - 'A' + 'a' : b16[n][i]);
        CHECKF(strcmp(h, lower) == 0, "BASE16(\"%.*s\") = %s, want %s", (int)n, "foobar", h, lower);
        memset(d, 0, sizeof d);
        CHECK(tl_unhex(b16[n], 2 * n, d, n) == 0 && memcmp(d, foobar, n) == 0); /* upper case */
        CHECK(tl_unhex(h, 2 * n, d, n) == 0 && memcmp(d, foobar, n) == 0);      /* lower case */
    }
}

static void round_trips(void)
{
    uint8_t src[200], d[200];
    char h[401];
    srand(12345);
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(rand() >> 7);
    for (size_t n = 1; n <= sizeof src; n++) {
        char *e = tl_b64_encode(src, n), into[280];
        CHECK(e && strlen(e) == 4 * ((n + 2) / 3) && TL_B64_LEN(n) == strlen(e));
        memset(into, 'x', sizeof into);
        CHECK(e && tl_b64_encode_into(src, n, into) == strlen(e) && strcmp(into, e) == 0);
        size_t dn = 0;
        CHECKF(e && b64_into(e, d, n, &dn) == 0 && dn == n && memcmp(d, src, n) == 0, "base64 round trip of %zu", n);
        /* one byte too little room: refused before anything is written */
        memset(d, 0xA5, sizeof d);
        CHECK(e && b64_into(e, d, n - 1, &dn) == TL_CODEC_ESIZE && dn == 0 && d[0] == 0xA5);
        free(e);
        tl_hex(src, n, h);
        CHECK(strlen(h) == 2 * n);
        CHECKF(tl_unhex(h, 2 * n, d, n) == 0 && memcmp(d, src, n) == 0, "hex round trip of %zu", n);
    }
    /* every byte value in hex */
    uint8_t all[256];
    char hall[513];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    tl_hex(all, 256, hall);
    CHECK(memcmp(hall, "000102", 6) == 0 && memcmp(hall + 2 * 0xab, "abac", 4) == 0 && strcmp(hall + 508, "feff") == 0);
    uint8_t back[256];
    CHECK(tl_unhex(hall, 512, back, 256) == 0 && memcmp(back, all, 256) == 0);
}

static void hex_refusals(void)
{
    uint8_t d[4];
    CHECK(tl_unhex("abc", 3, d, 1) == TL_CODEC_ELEN);  /* odd */
    CHECK(tl_unhex("abc", 3, d, 2) == TL_CODEC_ELEN);  /* odd, too short */
    CHECK(tl_unhex("abcd", 4, d, 1) == TL_CODEC_ELEN); /* too long */
    CHECK(tl_unhex("ab", 2, d, 2) == TL_CODEC_ELEN);   /* too short */
    CHECK(tl_unhex("", 0, d, 0) == 0);
    CHECK(tl_unhex("0g", 2, d, 1) == TL_CODEC_ECHAR);
    CHECK(tl_unhex("g0", 2, d, 1) == TL_CODEC_ECHAR);
    CHECK(tl_unhex(" 0", 2, d, 1) == TL_CODEC_ECHAR);
    CHECK(tl_unhex("0x", 2, d, 1) == TL_CODEC_ECHAR);
    CHECK(tl_unhex("a\0", 2, d, 1) == TL_CODEC_ECHAR);
    CHECK(tl_unhex("00ff\xc3", 5, d, 2) == TL_CODEC_ELEN);
    CHECK(tl_unhex("0\xc3", 2, d, 1) == TL_CODEC_ECHAR);
}

static void b64_refusals(void)
{
    static const struct {
        const char *s;
        int rc;
    } bad[] = {
        {"", TL_CODEC_ELEN},         {"Zg", TL_CODEC_ELEN},       {"Zg=", TL_CODEC_ELEN},
        {"Zm9vY", TL_CODEC_ELEN},    {" Zm9v", TL_CODEC_ELEN},    {"Zm9v\n", TL_CODEC_ELEN},
        {"Zm9 ", TL_CODEC_ECHAR},    {"Zm\n9", TL_CODEC_ECHAR},   {"Zm-_", TL_CODEC_ECHAR}, /* URL alphabet */
        {"Zm9\xff", TL_CODEC_ECHAR}, {"Z*9v", TL_CODEC_ECHAR},
        {"Z=9v", TL_CODEC_EPAD},     {"=m9v", TL_CODEC_EPAD},     {"Zg=A", TL_CODEC_EPAD},
        {"Z===", TL_CODEC_EPAD},     {"====", TL_CODEC_EPAD},     {"Zg==Zm9v", TL_CODEC_EPAD},
        {"Zm8=Zm9v", TL_CODEC_EPAD}, {"Zm9vZ===", TL_CODEC_EPAD},
        {"Zh==", TL_CODEC_EBITS},    {"Zm9=", TL_CODEC_EBITS},    {"Zm9vYh==", TL_CODEC_EBITS},
        {"Zm9vYmF=", TL_CODEC_EBITS}, {"//8=", 0}, {"//9=", TL_CODEC_EBITS},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t d[16];
        size_t n = 77;
        int rc = b64_into(bad[i].s, d, sizeof d, &n);
        CHECKF(rc == bad[i].rc, "'%s': rc %d (%s), want %d", bad[i].s, rc, tl_codec_strerror(rc), bad[i].rc);
        CHECK(rc == 0 || n == 0);
        uint8_t *m = (uint8_t *)1;
        size_t mn = 77;
        CHECK(tl_b64_decode(bad[i].s, &m, &mn, 0, 16) == bad[i].rc);
        if (bad[i].rc)
            CHECK(m == NULL && mn == 0);
        free(m);
    }
    /* sizes: exact `want`, or at most `max` */
    uint8_t *m = (uint8_t *)1;
    size_t mn = 77;
    CHECK(tl_b64_decode("Zm9vYmFy", &m, &mn, 5, 0) == TL_CODEC_ESIZE && !m && mn == 0);
    CHECK(tl_b64_decode("Zm9vYmFy", &m, &mn, 7, 0) == TL_CODEC_ESIZE && !m);
    CHECK(tl_b64_decode("Zm9vYmFy", &m, &mn, 0, 5) == TL_CODEC_ESIZE && !m);
    CHECK(tl_b64_decode("Zm9vYmE=", &m, &mn, 0, 5) == 0 && mn == 5 && memcmp(m, "fooba", 5) == 0);
    free(m);
    CHECK(tl_b64_decode("Zm9vYmFy", &m, &mn, 0, 6) == 0 && mn == 6 && memcmp(m, "foobar", 6) == 0);
    free(m);
    CHECK(tl_b64_decode(NULL, &m, &mn, 0, 6) == TL_CODEC_ELEN && !m);
    /* padding counts: "Zm9vYg==" is 4 bytes, so it fits a 4-byte buffer */
    uint8_t d4[4];
    size_t n4 = 0;
    CHECK(b64_into("Zm9vYg==", d4, 4, &n4) == 0 && n4 == 4 && memcmp(d4, "foob", 4) == 0);
    CHECK(b64_into("Zm9vYmE=", d4, 4, &n4) == TL_CODEC_ESIZE);
    /* messages exist for every result */
    for (int rc = TL_CODEC_ENOMEM; rc <= 0; rc++)
        CHECK(strlen(tl_codec_strerror(rc)) > 1);
}

int main(void)
{
    rfc4648();
    round_trips();
    hex_refusals();
    b64_refusals();
    return test_finish();
}
