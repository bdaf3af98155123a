/* Placeholders until the TEE layers land; each owner deletes the functions it implements. */
#include <stddef.h>

#include "tee/tee.h"
#include "tee/verify.h"

tl_tee *tl_tee_occlum_open(const char *device, tl_err *err)
{
    (void)device;
    tl_errf(err, TL_EUNSUPPORTED, "tee occlum: not available in this build yet");
    return NULL;
}
tl_tee *tl_tee_tsm_open(const char *root, tl_err *err)
{
    (void)root;
    tl_errf(err, TL_EUNSUPPORTED, "tee tsm: not available in this build yet");
    return NULL;
}
tl_collateral *tl_collateral_load(const char *path, tl_err *err)
{
    tl_errf(err, TL_EUNSUPPORTED, "%s: collateral not available in this build yet", path);
    return NULL;
}
void tl_collateral_free(tl_collateral *c) { (void)c; }
#include "tee/pccs.h"
tl_collateral *tl_pccs_collateral_for(const char *base_url, const char *cache_dir, const uint8_t *quote, size_t len,
                                      time_t now, tl_err *err)
{
    (void)cache_dir; (void)quote; (void)len; (void)now;
    tl_errf(err, TL_EUNSUPPORTED, "%s: PCCS fetching not available in this build yet", base_url);
    return NULL;
}
int tl_collateral_save(const tl_collateral *c, const char *path, tl_err *err)
{
    (void)c;
    return tl_errf(err, TL_EUNSUPPORTED, "%s: collateral saving not available in this build yet", path);
}
