/* Opens any model a command is given: a plaintext directory or file (formats/checkpoint.h) or a
 * sealed model (seal/, docs/sealed-format.md), whose key comes from a key file or from the key
 * broker through attestation. Every command that loads a model goes through here. */
#ifndef TEELM_MODEL_OPEN_H
#define TEELM_MODEL_OPEN_H

#include "formats/checkpoint.h"
#include "util/err.h"

typedef struct {
    const char *key_file;  /* sealed: the owner's data-key file (teelm seal --key-out) */
    const char *kbs_url;   /* sealed: key broker URL (https://host:port) */
    const char *kbs_ca;    /* sealed: PEM file with the broker's TLS certificate/CA */
    const char *tee;       /* sealed via broker: sim|occlum|tsm|auto */
    int sealed;            /* out: 1 if the model was sealed */
} tl_open_opts;

int tl_model_open(const char *path, tl_open_opts *opts, tl_checkpoint *ck, tl_err *err);

#endif
