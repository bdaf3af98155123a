/* Opens any model a command is given: a plaintext directory or file (formats/checkpoint.h) or a
 * sealed model (seal/, docs/sealed-format.md), whose key comes from a key file or from the key
 * broker through attestation (kbs/, docs/attestation-protocol.md). Every command that loads a
 * model goes through here. Sealed models are decrypted chunk by chunk straight into the arena;
 * the data key is wiped as soon as the model is in memory. */
#ifndef TEELM_APP_OPEN_H
#define TEELM_APP_OPEN_H

#include "model/checkpoint.h"
#include "seal/seal.h"
#include "tee/tee.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"

typedef struct {
    const char *key_file;  /* sealed: the owner's data-key file (teelm seal --key-out) */
    const char *kbs_url;   /* sealed: key broker URL (https://host:port), or trustee+https://HOST/ for a
                            * Trustee KBS (kbs/trustee_client.h), which needs kbs_resource */
    const char *kbs_resource; /* sealed via Trustee: the key's resource path REPO/TYPE/TAG */
    const char *kbs_ca;    /* sealed: PEM file with the broker's TLS certificate/CA */
    const char *tee;       /* sealed via broker: sim|occlum|tsm|auto (NULL = auto) */
    tl_tee *tee_handle;    /* sealed via broker: an opened TEE to attest with instead (not closed) */
    int with_optimizer;    /* in: also load AdamW state (train --resume); weights only otherwise */
    int sealed;            /* out: 1 if the model was sealed */
    tl_seal_info *info;    /* out, optional: a sealed model's authenticated header (key id, model id) */
} tl_open_opts;

/* Plaintext: tl_checkpoint_load. Sealed: needs opts->key_file or opts->kbs_url; a sealed model's
 * tokenizer arrives in ck->tokenizer_data. opts may be NULL (plaintext only). */
int tl_model_open(const char *path, tl_open_opts *opts, tl_checkpoint *ck, tl_err *err);

/* The tokenizer for an opened model: override_path when given, else the one carried inside a
 * sealed model, else the file found beside the weights. pattern as in tl_tokenizer_load. */
tl_tokenizer *tl_model_tokenizer(const tl_checkpoint *ck, const char *override_path, const char *pattern, tl_err *err);

#endif
