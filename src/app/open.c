/* Dispatch between plaintext and sealed models (see open.h). */
#include "app/open.h"

#include <string.h>

#include "formats/checkpoint.h"
#include "kbs/client.h"
#include "kbs/trustee_client.h"
#include "seal/seal.h"
#include "util/io.h"

static int sealed_key(const char *path, const tl_open_opts *o, tl_data_key *key, tl_err *err)
{
    char key_id[TL_KEY_ID_MAX + 1];
    if (tl_sealed_key_id(path, key_id, err))
        return err->code;
    if (o && o->key_file) {
        if (tl_data_key_read(o->key_file, key, err))
            return err->code;
        if (strcmp(key->key_id, key_id) != 0) {
            tl_data_key_clear(key);
            return tl_errf(err, TL_EINVAL, "%s: sealed under key id '%s', but %s holds key id '%s'", path, key_id,
                           o->key_file, key->key_id);
        }
        return 0;
    }
    if (o && o->kbs_url && tl_trustee_url(o->kbs_url)) {
        if (!o->tee_handle)
            return tl_errf(err, TL_EINVAL, "%s: a Trustee KBS needs an opened TEE", path);
        tl_trustee_opts to = {.url = o->kbs_url + strlen(TL_TRUSTEE_SCHEME), .resource = o->kbs_resource,
                              .ca_file = o->kbs_ca, .tee = o->tee_handle};
        if (tl_trustee_fetch_key(&to, key_id, key, err))
            return tl_err_prefix(err, "%s: key '%s'", path, key_id);
        return 0;
    }
    if (o && o->kbs_url) {
        tl_kbs_client_opts ko = {.url = o->kbs_url, .ca_file = o->kbs_ca, .tee = o->tee ? o->tee : "auto",
                                 .tee_handle = o->tee_handle};
        if (tl_kbs_fetch_key(&ko, key_id, key, err))
            return tl_err_prefix(err, "%s: key '%s'", path, key_id);
        return 0;
    }
    return tl_errf(err, TL_EINVAL, "%s: sealed model (key id '%s') needs --key-file FILE or --kbs URL", path, key_id);
}

int tl_model_open(const char *path, tl_open_opts *opts, tl_checkpoint *ck, tl_err *err)
{
    char index[4096];
    if (opts)
        opts->sealed = 0;
    if (!tl_sealed_detect(path, index, sizeof index))
        return tl_checkpoint_load_ex(path, opts && opts->with_optimizer ? TL_LOAD_OPTIMIZER : 0, ck, err);
    if (opts)
        opts->sealed = 1;
    memset(ck, 0, sizeof *ck);
    tl_data_key key;
    if (sealed_key(path, opts, &key, err))
        return err->code;
    int rc = tl_seal_read(path, &key, ck, opts ? opts->info : NULL, err);
    tl_data_key_clear(&key);
    return rc;
}

tl_tokenizer *tl_model_tokenizer(const tl_checkpoint *ck, const char *override_path, const char *pattern, tl_err *err)
{
    if (override_path)
        return tl_tokenizer_load(override_path, pattern, err);
    if (ck->tokenizer_data)
        return tl_tokenizer_load_mem(ck->tokenizer_data, ck->tokenizer_len, "sealed model tokenizer", pattern, err);
    /* a sealed Hugging Face model carries its tokenizer.json (and tokenizer_config.json) */
    const struct tl_ck_file *tj = tl_checkpoint_file(ck, "tokenizer.json");
    if (tj) {
        const struct tl_ck_file *tc = tl_checkpoint_file(ck, "tokenizer_config.json");
        return tl_tokenizer_load_hf_mem(tj->data, tj->len, tc ? tc->data : NULL, tc ? tc->len : 0,
                                        "sealed model tokenizer.json", err);
    }
    if (ck->tokenizer_path[0])
        return tl_tokenizer_load(ck->tokenizer_path, pattern, err);
    if (ck->hf_dir[0]) { /* a Hugging Face directory: its tokenizer.json (+ tokenizer_config.json beside it) */
        char p[4096];
        if (tl_path_join(p, sizeof p, ck->hf_dir, "tokenizer.json") == 0 && tl_is_file(p))
            return tl_tokenizer_load(p, pattern, err);
        tl_errf(err, TL_ENOTFOUND, "%s has no tokenizer.json (give a tokenizer with --tokenizer, or use --prompt-ids)",
                ck->hf_dir);
        return NULL;
    }
    tl_errf(err, TL_ENOTFOUND, "the model carries no tokenizer (give one with --tokenizer)");
    return NULL;
}
