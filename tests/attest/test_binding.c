/* The report-data binding (docs/bindings.md) against an independent computation: the shell
 * assembles "teelm/<purpose>/v1" NUL ‖ be32(len) ‖ field ... and the openssl CLI hashes it. Also:
 * purposes separate (same fields, different purpose → different binding), field boundaries count
 * (("ab","c") ≠ ("a","bc")), the KBS binding is the "kbs-key" one, and malformed purposes are refused. */
#include <string.h>

#include "kbs/protocol.h"
#include "tee/binding.h"
#include "test.h"
#include "util/codec.h"

static char *slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* shell: the bytes to hash as printf arguments (octal escapes) */
static void expect_openssl(const char *dir, const char *printf_bytes, const uint8_t got[64], const char *what)
{
    char out[300], hex[129];
    snprintf(out, sizeof out, "%s/h.txt", dir);
    CHECK(test_sh("printf '%s' | openssl dgst -sha512 -r | cut -c1-128 > %s", printf_bytes, out) == 0);
    char *h = slurp(out);
    tl_hex(got, 64, hex);
    CHECKF(h && !strncmp(h, hex, 128), "%s: openssl %s, teelm %s", what, h ? h : "?", hex);
}

int main(void)
{
    const char *dir = test_tmpdir();
    tl_err err = {0};
    uint8_t a[64], b[64];

    /* no fields */
    CHECK(tl_binding_report_data("user-quote", NULL, 0, a, &err) == 0);
    expect_openssl(dir, "teelm/user-quote/v1\\000", a, "no fields");

    /* two fields, one empty */
    const tl_bind_field f2[] = {{"abc", 3}, {"", 0}};
    CHECK(tl_binding_report_data("ra-tls", f2, 2, a, &err) == 0);
    expect_openssl(dir, "teelm/ra-tls/v1\\000\\000\\000\\000\\003abc\\000\\000\\000\\000", a, "two fields");

    /* the KBS key request: nonce 32 × 0x11, public key 0x04 then 64 × 0x22, key id "demo" */
    uint8_t nonce[32], pub[65];
    memset(nonce, 0x11, sizeof nonce);
    memset(pub, 0x22, sizeof pub);
    pub[0] = 0x04;
    tl_kbs_report_data(nonce, pub, "demo", a);
    char bytes[2048];
    size_t o = (size_t)snprintf(bytes, sizeof bytes, "teelm/kbs-key/v1\\000\\000\\000\\000\\040");
    for (int i = 0; i < 32; i++)
        o += (size_t)snprintf(bytes + o, sizeof bytes - o, "\\021");
    o += (size_t)snprintf(bytes + o, sizeof bytes - o, "\\000\\000\\000\\101\\004");
    for (int i = 0; i < 64; i++)
        o += (size_t)snprintf(bytes + o, sizeof bytes - o, "\\042");
    snprintf(bytes + o, sizeof bytes - o, "\\000\\000\\000\\004demo");
    expect_openssl(dir, bytes, a, "kbs-key");
    const tl_bind_field fk[] = {{nonce, 32}, {pub, 65}, {"demo", 4}};
    CHECK(tl_binding_report_data(TL_BIND_KBS_KEY, fk, 3, b, &err) == 0 && !memcmp(a, b, 64));

    /* purposes and field boundaries separate */
    CHECK(tl_binding_report_data(TL_BIND_USER_QUOTE, fk, 3, b, &err) == 0 && memcmp(a, b, 64));
    const tl_bind_field x[] = {{"ab", 2}, {"c", 1}}, y[] = {{"a", 1}, {"bc", 2}};
    CHECK(tl_binding_report_data("ra-tls", x, 2, a, &err) == 0);
    CHECK(tl_binding_report_data("ra-tls", y, 2, b, &err) == 0 && memcmp(a, b, 64));

    /* malformed purposes and field lists */
    CHECK(tl_binding_report_data("", NULL, 0, a, &err) == TL_EINVAL && strstr(err.msg, "purpose"));
    CHECK(tl_binding_report_data("KBS/key", NULL, 0, a, &err) == TL_EINVAL);
    CHECK(tl_binding_report_data("a23456789012345678901234567890123", NULL, 0, a, &err) == TL_EINVAL);
    tl_bind_field many[TL_BIND_MAX_FIELDS + 1] = {{0}};
    CHECK(tl_binding_report_data("ra-tls", many, TL_BIND_MAX_FIELDS + 1, a, &err) == TL_EINVAL);
    test_sh("rm -rf %s", dir);
    return test_finish();
}
