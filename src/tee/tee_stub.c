/* Placeholders until the TEE layers land; each owner deletes the functions it implements. */
#include <stddef.h>

#include "tee/policy.h"
#include "tee/tee.h"
#include "tee/verify.h"

tl_tee *tl_tee_open(const char *name, tl_err *err)
{
    tl_errf(err, TL_EUNSUPPORTED, "tee '%s': not available in this build yet", name);
    return NULL;
}
int tl_tee_evidence(tl_tee *t, const uint8_t rd[64], uint8_t **ev, size_t *len, tl_err *err)
{
    return t->evidence(t, rd, ev, len, err);
}
void tl_tee_close(tl_tee *t)
{
    if (t && t->close)
        t->close(t);
}
tl_tee *tl_tee_sim_open(tl_err *err)
{
    tl_errf(err, TL_EUNSUPPORTED, "tee sim: not available in this build yet");
    return NULL;
}
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
int tl_evidence_verify(const uint8_t *ev, size_t len, const tl_collateral *col, time_t now, tl_identity *id, tl_err *err)
{
    (void)ev; (void)len; (void)col; (void)now; (void)id;
    return tl_errf(err, TL_EUNSUPPORTED, "evidence verification not available in this build yet");
}
tl_policy *tl_policy_load(const char *path, tl_err *err)
{
    tl_errf(err, TL_EUNSUPPORTED, "%s: policies not available in this build yet", path);
    return NULL;
}
tl_policy *tl_policy_parse(const char *json, tl_err *err)
{
    (void)json;
    tl_errf(err, TL_EUNSUPPORTED, "policies not available in this build yet");
    return NULL;
}
void tl_policy_free(tl_policy *p) { (void)p; }
int tl_policy_check(const tl_policy *p, const tl_identity *id, tl_err *err)
{
    (void)p; (void)id;
    return tl_errf(err, TL_EUNSUPPORTED, "policies not available in this build yet");
}
