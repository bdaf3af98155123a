#include "util/sha.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/codec.h"

struct tl_sha {
    EVP_MD_CTX *md;
    size_t len;
    int ok;
};

static const EVP_MD *md_of(tl_sha_alg alg) { return alg == TL_SHA384 ? EVP_sha384() : EVP_sha256(); }

size_t tl_sha_len(tl_sha_alg alg) { return alg == TL_SHA384 ? TL_SHA384_LEN : TL_SHA256_LEN; }

tl_sha *tl_sha_new(tl_sha_alg alg)
{
    tl_sha *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->md = EVP_MD_CTX_new();
    s->len = tl_sha_len(alg);
    s->ok = s->md && EVP_DigestInit_ex(s->md, md_of(alg), NULL) == 1;
    return s;
}

void tl_sha_add(tl_sha *s, const void *p, size_t n)
{
    if (s && s->ok && n)
        s->ok = EVP_DigestUpdate(s->md, p, n) == 1;
}

int tl_sha_end(tl_sha *s, uint8_t *out)
{
    if (!s)
        return -1;
    unsigned int n = 0;
    int ok = s->ok && EVP_DigestFinal_ex(s->md, out, &n) == 1 && n == s->len;
    if (!ok)
        memset(out, 0, s->len);
    tl_sha_free(s);
    return ok ? 0 : -1;
}

void tl_sha_free(tl_sha *s)
{
    if (s) {
        EVP_MD_CTX_free(s->md);
        free(s);
    }
}

int tl_sha_digest(tl_sha_alg alg, const void *data, size_t n, uint8_t *out)
{
    tl_sha *s = tl_sha_new(alg);
    if (!s) {
        memset(out, 0, tl_sha_len(alg));
        return -1;
    }
    tl_sha_add(s, data, n);
    return tl_sha_end(s, out);
}

int tl_sha256(const void *data, size_t n, uint8_t out[TL_SHA256_LEN]) { return tl_sha_digest(TL_SHA256, data, n, out); }

int tl_sha256_cat(const void *a, size_t na, const void *b, size_t nb, uint8_t out[TL_SHA256_LEN])
{
    tl_sha *s = tl_sha_new(TL_SHA256);
    if (!s) {
        memset(out, 0, TL_SHA256_LEN);
        return -1;
    }
    tl_sha_add(s, a, na);
    tl_sha_add(s, b, nb);
    return tl_sha_end(s, out);
}

int tl_sha_file(tl_sha_alg alg, const char *path, uint8_t *out, int *sys_errno)
{
    *sys_errno = 0;
    memset(out, 0, tl_sha_len(alg));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *sys_errno = errno;
        return TL_SHA_EOPEN;
    }
    enum { BUF = 1 << 16 };
    uint8_t *buf = malloc(BUF);
    tl_sha *s = buf ? tl_sha_new(alg) : NULL;
    int rc = s ? 0 : TL_SHA_EHASH;
    while (!rc) {
        ssize_t r = read(fd, buf, BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *sys_errno = errno;
            rc = TL_SHA_EREAD;
        } else if (r == 0)
            break;
        else
            tl_sha_add(s, buf, (size_t)r);
    }
    if (s && tl_sha_end(s, out) && !rc)
        rc = TL_SHA_EHASH;
    if (rc)
        memset(out, 0, tl_sha_len(alg));
    free(buf);
    close(fd);
    return rc;
}

void tl_sha256_tagged(const uint8_t h[TL_SHA256_LEN], char out[TL_SHA256_TAGGED_LEN])
{
    memcpy(out, "sha256:", 7);
    tl_hex(h, TL_SHA256_LEN, out + 7);
}
