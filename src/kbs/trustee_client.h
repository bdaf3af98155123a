/* A Trustee KBS client (confidential-containers/trustee, KBS protocol 0.4.0, the RCAR handshake;
 * docs/trustee.md says exactly which subset): what tl_model_open calls for
 * `--kbs trustee+https://HOST/ --kbs-resource REPO/TYPE/TAG`.
 *   POST /kbs/v0/auth    Request {version "0.4.0", tee, extra-params ""} → Challenge {nonce, extra-params}
 *                        and the cookie kbs-session-id;
 *   POST /kbs/v0/attest  {runtime-data {nonce, tee-pubkey}, tee-evidence {primary_evidence,
 *                        additional_evidence ""}} with evidence whose report_data is
 *                        SHA-384(JCS {"additional-evidence":"","nonce":…,"tee-pubkey":…}) ‖ 16 zero bytes;
 *   GET  /kbs/v0/resource/REPO/TYPE/TAG → a JWE (ECDH-ES+A256KW, A256GCM) to the ephemeral
 *                        tee-pubkey, whose plaintext is the 32-byte data key. */
#ifndef TEELM_KBS_TRUSTEE_CLIENT_H
#define TEELM_KBS_TRUSTEE_CLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "seal/key.h"
#include "tee/tee.h"
#include "util/err.h"

#define TL_TRUSTEE_SCHEME "trustee+"
#define TL_TRUSTEE_VERSION "0.4.0"
#define TL_TRUSTEE_COOKIE "kbs-session-id"

typedef struct {
    const char *url;      /* https://HOST[:PORT][/PREFIX] (the part after "trustee+") */
    const char *resource; /* REPO/TYPE/TAG */
    const char *ca_file;  /* the KBS's certificate to pin (PEM); NULL = system trust store */
    tl_tee *tee;          /* an opened TEE to attest with; not closed here */
    long timeout_ms;      /* per HTTP request; 0 = 30 s */
} tl_trustee_opts;

/* 1 when url starts with "trustee+https://". */
int tl_trustee_url(const char *url);
/* 0 when r is REPO/TYPE/TAG: three non-empty segments of [A-Za-z0-9._-], none "." or "..". */
int tl_trustee_resource_check(const char *r, tl_err *err);

/* The Trustee tee name and primary_evidence object for teelm evidence from tee (docs/trustee.md):
 * an SGX quote (occlum, sim) → "sgx" {"quote": base64}; a TDX quote → "tdx" {"quote": base64};
 * an SEV-SNP report (+ certificate table) → "snp" {"teelm-evidence": base64}. */
const char *tl_trustee_tee_name(const tl_tee *tee);
json_t *tl_trustee_primary_evidence(const tl_tee *tee, const uint8_t *ev, size_t len);

/* The 64-byte report data binding nonce and the tee-pubkey JWK (see above). */
int tl_trustee_report_data(const char *nonce, const json_t *tee_pubkey, uint8_t out[64], tl_err *err);

/* The whole exchange; the resource must be exactly 32 bytes: it becomes out->key, named key_id
 * (the sealed model's key id). Errors name the step, the HTTP status and the KBS's
 * ErrorInformation {type, detail}. */
int tl_trustee_fetch_key(const tl_trustee_opts *o, const char *key_id, tl_data_key *out, tl_err *err);

#endif
