/* teelm seal / teelm unseal: thin wrappers over seal/seal.h (docs/sealed-format.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "formats/checkpoint.h"
#include "kbs/client.h"
#include "seal/crypto.h"
#include "seal/seal.h"
#include "util/codec.h"
#include "util/harden.h"
#include "util/io.h"
#include "util/secmem.h"

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Loads the tokenizer file to carry inside the sealed model (if any). */
static int read_tokenizer(const char *path, uint8_t **data, size_t *len, tl_err *err)
{
    *data = NULL;
    *len = 0;
    if (!path || !path[0])
        return 0;
    return tl_read_file(path, 64u << 20, data, len, err);
}

int cmd_seal(int argc, char **argv)
{
    tl_err herr = {0}; /* no core dumps, wiped frees: before anything is allocated */
    if (tl_secure_process_start(&herr)) {
        fprintf(stderr, "teelm seal: %s\n", herr.msg);
        return 1;
    }
    const char *model = NULL, *out = NULL, *key_out = NULL, *kbs = NULL, *key_id = NULL, *kbs_ca = NULL;
    const char *admin_token = NULL, *tokenizer = NULL, *key_file = NULL, *policy = NULL;
    int split = 0, chunk = 0;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "plaintext model (directory or .safetensors file)", 0, 0},
        {"--out", TL_ARG_STR, &out, "PATH", "sealed file to write (a directory with --split)", 0, 0},
        {"--split", TL_ARG_FLAG, &split, NULL, "one sealed file per layer (model.sealed + part-NNN.sealed)", 0, 0},
        {"--key-out", TL_ARG_STR, &key_out, "FILE", "write the fresh data key here (mode 0600, never overwritten)", 0, 0},
        {"--key-file", TL_ARG_STR, &key_file, "FILE", "seal with this existing data key instead of a fresh one", 0, 0},
        {"--kbs", TL_ARG_STR, &kbs, "URL", "register the fresh data key with this key broker instead", 0, 0},
        {"--key-id", TL_ARG_STR, &key_id, "ID", "name of the data key (required with --kbs; default: random)", 0, 0},
        {"--kbs-ca", TL_ARG_STR, &kbs_ca, "FILE", "the broker's certificate (PEM) to pin", 0, 0},
        {"--admin-token", TL_ARG_STR, &admin_token, "FILE", "the broker's admin token file (STORE/admin.token)", 0, 0},
        {"--policy", TL_ARG_STR, &policy, "FILE", "with --kbs: a policy for this key only (docs/policy.md)", 0, 0},
        {"--tokenizer", TL_ARG_STR, &tokenizer, "FILE", "tokenizer to carry inside (default: the model's own)", 0, 0},
        {"--chunk-size", TL_ARG_INT, &chunk, "BYTES", "AES-GCM chunk size, a power of two (default 1048576)",
         TL_SEAL_CHUNK_MIN, TL_SEAL_CHUNK_MAX},
        {0},
    };
    const tl_cmdspec spec = {"seal",
                             "--model PATH --out PATH [--split] (--key-out FILE | --key-file FILE | --kbs URL --key-id ID "
                             "--admin-token FILE [--kbs-ca FILE])",
                             "Encrypts a model (config, tensor shapes, weights and tokenizer) with a fresh 256-bit data key "
                             "(AES-256-GCM in authenticated chunks). The key goes to a key file or to the key broker; the "
                             "sealed files name it by id only.",
                             opts, 0, 0};
    int rc = tl_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!model || !out)
        return tl_usage_error(&spec, "--model and --out are required");
    if (!!key_out + !!kbs + !!key_file != 1)
        return tl_usage_error(&spec, "give exactly one of --key-out FILE, --key-file FILE or --kbs URL");
    if (kbs && (!key_id || !admin_token))
        return tl_usage_error(&spec, "--kbs needs --key-id ID and --admin-token FILE");
    if (key_file && key_id)
        return tl_usage_error(&spec, "--key-file names its own key id; drop --key-id");
    if (policy && !kbs)
        return tl_usage_error(&spec, "--policy goes with --kbs (offline: teelm kbs add-key --policy)");
    if (chunk && (chunk & (chunk - 1)))
        return tl_usage_error(&spec, "--chunk-size must be a power of two");

    tl_err err = {0};
    tl_checkpoint ck;
    tl_data_key key = {0};
    uint8_t *tok = NULL;
    size_t tok_len = 0;
    char index[4096];
    char gen_id[32];
    if (tl_sealed_detect(model, index, sizeof index)) {
        fprintf(stderr, "teelm seal: %s: is already sealed\n", model);
        return 1;
    }
    if (tl_checkpoint_load(model, &ck, &err)) {
        fprintf(stderr, "teelm seal: %s\n", err.msg);
        return 1;
    }
    const char *tok_path = tokenizer ? tokenizer : ck.tokenizer_path;
    if (!key_id) {
        uint8_t r[6];
        RAND_bytes(r, sizeof r);
        memcpy(gen_id, "model-", 6);
        tl_hex(r, sizeof r, gen_id + 6);
        key_id = gen_id;
    }
    rc = 1;
    uint8_t *tokbuf = NULL, *polbuf = NULL;
    size_t toklen = 0, pollen = 0;
    if (read_tokenizer(tok_path, &tok, &tok_len, &err))
        goto out;
    if (key_file ? tl_data_key_read(key_file, &key, &err) : tl_data_key_generate(&key, key_id, &err))
        goto out;
    if (key_out && tl_data_key_write(key_out, &key, &err))
        goto out;
    if (kbs) {
        /* register first: a model is only sealed under a key the broker holds */
        if (tl_read_secret_file(admin_token, 4096, &tokbuf, &toklen, &err) || (policy && tl_read_file(policy, 1 << 20, &polbuf, &pollen, &err)))
            goto out;
        while (toklen && (tokbuf[toklen - 1] == '\n' || tokbuf[toklen - 1] == '\r'))
            tokbuf[--toklen] = 0;
        tl_kbs_client_opts ko = {.url = kbs, .ca_file = kbs_ca};
        int r2 = tl_kbs_admin_add_key(&ko, (const char *)tokbuf, &key, (const char *)polbuf, &err);
        tl_sec_free(tokbuf);
        free(polbuf);
        tokbuf = polbuf = NULL;
        if (r2)
            goto out;
    }
    tl_seal_opts so = {.split = split, .chunk_size = (uint32_t)chunk, .tokenizer = tok, .tokenizer_len = tok_len,
                       .tokenizer_name = tok_len ? base_name(tok_path) : NULL};
    if (tl_seal_write(&ck, &key, &so, out, &err))
        goto out;
    printf("sealed %s -> %s (key id %s%s%s, %s)\n", model, out, key.key_id,
           key_out ? ", key file " : kbs ? ", registered with " : "", key_out ? key_out : kbs ? kbs : "",
           tok_len ? "tokenizer included" : "no tokenizer");
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "teelm seal: %s\n", err.msg);
    tl_data_key_clear(&key);
    tl_checkpoint_free(&ck);
    free(tok);
    return rc;
}

int cmd_unseal(int argc, char **argv)
{
    tl_err herr = {0}; /* no core dumps, wiped frees: before anything is allocated */
    if (tl_secure_process_start(&herr)) {
        fprintf(stderr, "teelm unseal: %s\n", herr.msg);
        return 1;
    }
    const char *model = NULL, *key_file = NULL, *out = NULL;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "SEALED", "sealed model (file, or directory with model.sealed)", 0, 0},
        {"--key-file", TL_ARG_STR, &key_file, "FILE", "the data key file written by teelm seal --key-out", 0, 0},
        {"--out", TL_ARG_STR, &out, "DIR", "directory for the plaintext model (same layout as sealed)", 0, 0},
        {0},
    };
    const tl_cmdspec spec = {"unseal", "--model SEALED --key-file FILE --out DIR",
                             "For the model owner: verifies and decrypts a sealed model back to plaintext files "
                             "(weights in the layout it was sealed in, plus its tokenizer).",
                             opts, 0, 0};
    int rc = tl_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!model || !key_file || !out)
        return tl_usage_error(&spec, "--model, --key-file and --out are required");
    tl_err err = {0};
    tl_data_key key;
    tl_checkpoint ck;
    tl_seal_info info;
    memset(&ck, 0, sizeof ck);
    rc = 1;
    if (tl_data_key_read(key_file, &key, &err))
        goto out;
    if (tl_seal_read(model, &key, &ck, &info, &err))
        goto out;
    if (tl_mkdirs(out, 0700, &err) ||
        tl_checkpoint_save(out, &ck, info.file_count > 1 ? TL_LAYOUT_SPLIT : TL_LAYOUT_FULL, &err))
        goto out;
    if (ck.tokenizer_data) {
        char p[4096];
        if (tl_path_join(p, sizeof p, out, info.tokenizer_name)) {
            tl_errf(&err, TL_EINVAL, "%s: path too long", out);
            goto out;
        }
        if (tl_write_file_atomic(p, ck.tokenizer_data, ck.tokenizer_len, 0600, &err))
            goto out;
    }
    printf("unsealed %s -> %s (key id %s, %u file%s)\n", model, out, info.key_id, info.file_count,
           info.file_count == 1 ? "" : "s");
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "teelm unseal: %s\n", err.msg);
    tl_data_key_clear(&key);
    if (ck.params)
        tl_checkpoint_free(&ck);
    return rc;
}
