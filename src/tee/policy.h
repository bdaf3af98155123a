/* Acceptance policy for verified evidence, shared by the key broker and the client
 * (JSON, docs/policy.md). */
#ifndef TEELM_TEE_POLICY_H
#define TEELM_TEE_POLICY_H

#include "tee/identity.h"
#include "util/err.h"

typedef struct tl_policy tl_policy;

tl_policy *tl_policy_load(const char *path, tl_err *err);
tl_policy *tl_policy_parse(const char *json, tl_err *err);
void tl_policy_free(tl_policy *p);
/* 0 when accepted; otherwise TL_EPOLICY with a message naming the field that differed,
 * e.g. "mrenclave 33d8... is not in the allowed list". */
int tl_policy_check(const tl_policy *p, const tl_identity *id, tl_err *err);

#endif
