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
