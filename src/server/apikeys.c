#include "server/apikeys.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/io.h"
#include "util/secmem.h"
#include "util/sha.h"

#define MAX_KEYS 1024
#define MAX_KEY_LEN 512

struct tl_apikeys {
    int n;
    uint8_t digest[][32];
};

tl_apikeys *tl_apikeys_load(const char *path, tl_err *err)
{
    uint8_t *data;
    size_t len;
    if (tl_read_secret_file(path, (size_t)MAX_KEYS * (MAX_KEY_LEN + 2), &data, &len, err))
        return NULL;
    tl_apikeys *k = calloc(1, sizeof *k + MAX_KEYS * 32);
    if (!k) {
        tl_sec_free(data);
        tl_errf(err, TL_ENOMEM, "out of memory");
        return NULL;
    }
    int line = 0, bad = 0;
    for (char *p = (char *)data, *end = (char *)data + len; p < end && !bad;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        size_t n = (size_t)(e - p);
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n && p[0] != '#') {
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
                    bad = 1;
            if (bad)
                tl_errf(err, TL_EINVAL, "%s: line %d: a key must be printable ASCII without spaces", path, line);
            else if (n > MAX_KEY_LEN)
                bad = tl_errf(err, TL_EINVAL, "%s: line %d: key longer than %d bytes", path, line, MAX_KEY_LEN);
            else if (k->n >= MAX_KEYS)
                bad = tl_errf(err, TL_EINVAL, "%s: more than %d keys", path, MAX_KEYS);
            else
                tl_sha256(p, n, k->digest[k->n++]);
        }
        p = e + 1;
    }
    tl_sec_free(data);
    if (!bad && k->n == 0)
        bad = tl_errf(err, TL_EINVAL, "%s: no API keys in the file", path);
    if (bad) {
        tl_apikeys_free(k);
        return NULL;
    }
    return k;
}

void tl_apikeys_free(tl_apikeys *k)
{
    if (!k)
        return;
    tl_sec_free(k);
}

int tl_apikeys_count(const tl_apikeys *k)
{
    return k ? k->n : 0;
}

int tl_apikeys_check(const tl_apikeys *k, const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    const char *key = auth + 7;
    size_t n = strlen(key);
    if (n == 0 || n > MAX_KEY_LEN)
        return 0;
    uint8_t d[32];
    tl_sha256(key, n, d);
    int ok = 0;
    for (int i = 0; i < k->n; i++) /* no early exit */
        ok |= CRYPTO_memcmp(d, k->digest[i], 32) == 0;
    OPENSSL_cleanse(d, sizeof d);
    return ok;
}
