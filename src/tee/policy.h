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

/* The policy's "require" rules against a server's configuration document (docs/policy.md,
 * "require"): 0 when every named field has the required value (or there are none); otherwise
 * TL_EPOLICY naming the field and both values. model_sha256 is not a document field: receipts
 * carry it, and tl_policy_model_sha256 gives it (64 hex digits, or NULL) to their verifier. */
int tl_policy_check_config(const tl_policy *p, const char *config, size_t len, tl_err *err);
const char *tl_policy_model_sha256(const tl_policy *p);
/* 1 when the policy has "require" rules: the key broker refuses such policies (key requests carry
 * no configuration document; on sim and TDX the measurement covers it, docs/policy.md). */
int tl_policy_has_require(const tl_policy *p);

#endif
