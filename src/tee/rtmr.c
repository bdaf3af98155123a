/* RTMR3 events and extension (rtmr.h). OpenSSL does the hashing; the executable is streamed so
 * a large binary costs no memory. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tee/rtmr.h"

int tl_rtmr_extend(uint8_t rtmr[TL_RTMR_LEN], const uint8_t digest[TL_RTMR_LEN])
{
    uint8_t in[2 * TL_RTMR_LEN];
    memcpy(in, rtmr, TL_RTMR_LEN);
    memcpy(in + TL_RTMR_LEN, digest, TL_RTMR_LEN);
    unsigned int n = TL_RTMR_LEN;
    return EVP_Digest(in, sizeof in, rtmr, &n, EVP_sha384(), NULL) == 1 && n == TL_RTMR_LEN ? 0 : -1;
}

static int sha384_file(const char *path, uint8_t out[TL_RTMR_LEN], tl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tl_errf(err, TL_EIO, "rtmr3: cannot open %s to measure it: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t *buf = malloc(1 << 16);
    int rc = !md || !buf || EVP_DigestInit_ex(md, EVP_sha384(), NULL) != 1 ? TL_ENOMEM : 0;
    int rerr = 0;
    while (!rc) {
        ssize_t r = read(fd, buf, 1 << 16);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rerr = errno;
            rc = TL_EIO;
        } else if (r == 0)
            break;
        else if (EVP_DigestUpdate(md, buf, (size_t)r) != 1)
            rc = TL_ECRYPTO;
    }
    unsigned int n = TL_RTMR_LEN;
    if (!rc && EVP_DigestFinal_ex(md, out, &n) != 1)
        rc = TL_ECRYPTO;
    EVP_MD_CTX_free(md);
    free(buf);
    close(fd);
    if (rc == TL_EIO)
        return tl_errf(err, rc, "rtmr3: cannot read %s to measure it: %s", path, strerror(rerr));
    return rc ? tl_errf(err, rc, "rtmr3: cannot hash %s", path) : 0;
}

int tl_rtmr3_events(const char *exe, const uint8_t *config, size_t config_len, uint8_t e1[TL_RTMR_LEN],
                    uint8_t e2[TL_RTMR_LEN], tl_err *err)
{
    if (sha384_file(exe ? exe : "/proc/self/exe", e1, err))
        return err ? err->code : TL_EIO;
    static const uint8_t none = 0;
    unsigned int n = TL_RTMR_LEN;
    if (EVP_Digest(config ? config : &none, config ? config_len : 0, e2, &n, EVP_sha384(), NULL) != 1)
        return tl_errf(err, TL_ECRYPTO, "rtmr3: cannot hash the configuration");
    return 0;
}

int tl_rtmr3_expected(const char *exe, const uint8_t *config, size_t config_len, const uint8_t *initial,
                      uint8_t out[TL_RTMR_LEN], tl_err *err)
{
    uint8_t e1[TL_RTMR_LEN], e2[TL_RTMR_LEN];
    if (tl_rtmr3_events(exe, config, config_len, e1, e2, err))
        return err ? err->code : TL_EIO;
    if (initial)
        memcpy(out, initial, TL_RTMR_LEN);
    else
        memset(out, 0, TL_RTMR_LEN);
    if (tl_rtmr_extend(out, e1) || tl_rtmr_extend(out, e2))
        return tl_errf(err, TL_ECRYPTO, "rtmr3: SHA-384 failed");
    return 0;
}
