/* RTMR3 events and extension (rtmr.h). util/sha.h does the hashing; the executable is streamed
 * so a large binary costs no memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tee/rtmr.h"
#include "util/sha.h"

int tl_rtmr_extend(uint8_t rtmr[TL_RTMR_LEN], const uint8_t digest[TL_RTMR_LEN])
{
    uint8_t in[2 * TL_RTMR_LEN];
    memcpy(in, rtmr, TL_RTMR_LEN);
    memcpy(in + TL_RTMR_LEN, digest, TL_RTMR_LEN);
    return tl_sha_digest(TL_SHA384, in, sizeof in, rtmr);
}

static int sha384_file(const char *path, uint8_t out[TL_RTMR_LEN], tl_err *err)
{
    int e, rc = tl_sha_file(TL_SHA384, path, out, &e);
    if (rc == TL_SHA_EOPEN)
        return tl_errf(err, TL_EIO, "rtmr3: cannot open %s to measure it: %s", path, strerror(e));
    if (rc == TL_SHA_EREAD)
        return tl_errf(err, TL_EIO, "rtmr3: cannot read %s to measure it: %s", path, strerror(e));
    return rc ? tl_errf(err, TL_ECRYPTO, "rtmr3: cannot hash %s", path) : 0;
}

int tl_rtmr3_events(const char *exe, const uint8_t *config, size_t config_len, uint8_t e1[TL_RTMR_LEN],
                    uint8_t e2[TL_RTMR_LEN], tl_err *err)
{
    if (sha384_file(exe ? exe : "/proc/self/exe", e1, err))
        return err ? err->code : TL_EIO;
    if (tl_sha_digest(TL_SHA384, config, config ? config_len : 0, e2))
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
