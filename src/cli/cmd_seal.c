/* teelm seal / teelm unseal: thin wrappers over seal/seal.h (docs/sealed-format.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/gguf_out.h"
#include "cli/secure_start.h"
#include "formats/checkpoint.h"
#include "formats/hf_config.h"
#include "formats/hf_save.h"
#include "formats/safetensors.h"
#include "kbs/client.h"
#include "model/params.h"
#include "seal/crypto.h"
#include "seal/seal.h"
#include "util/codec.h"
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

/* The end of seal and unseal, either way: the failure named, the data key wiped, the model freed. */
static int finish(const char *cmd, int rc, const tl_err *err, tl_data_key *key, tl_checkpoint *ck)
{
    if (rc)
        fprintf(stderr, "teelm %s: %s\n", cmd, err->msg);
    tl_data_key_clear(key);
    tl_checkpoint_free(ck);
    return rc;
}

/* The files a Hugging Face model directory carries beside its weights, sealed with it
 * (docs/sealed-format.md "tokenizer_files"): config.json and generation_config.json, then the
 * tokenizer files teelm export copies (formats/hf_save.h), each that exists, in that order. */
#define N_HF_CARRIED 14 /* >= 2 + the tokenizer files; the writer's limit is 16 */

static int hf_carried(const char *names[N_HF_CARRIED])
{
    int n = 0;
    names[n++] = TL_HF_CONFIG;
    names[n++] = TL_HF_GENERATION;
    for (int i = 0; tl_hf_tokenizer_files[i] && n < N_HF_CARRIED; i++)
        names[n++] = tl_hf_tokenizer_files[i];
    return n;
}

typedef struct {
    tl_seal_carry f[N_HF_CARRIED + 1];
    uint8_t *data[N_HF_CARRIED + 1];
    int n;
} carried_set;

static void carried_free(carried_set *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->data[i]);
    c->n = 0;
}

/* Reads the carried files of a Hugging Face model from dir; `override` (--tokenizer) replaces the
 * file of its base name or is added. */
static int read_hf_carried(const char *dir, const char *override, carried_set *c, tl_err *err)
{
    memset(c, 0, sizeof *c);
    const char *names[N_HF_CARRIED];
    int nn = hf_carried(names);
    for (int i = 0; i < nn; i++) {
        char p[4096];
        if (override && strcmp(base_name(override), names[i]) == 0)
            continue;
        if (!dir[0] || tl_path_join(p, sizeof p, dir, names[i]) || !tl_is_file(p))
            continue;
        size_t len;
        if (tl_read_file(p, 64u << 20, &c->data[c->n], &len, err))
            return err->code;
        c->f[c->n] = (tl_seal_carry){names[i], c->data[c->n], len};
        c->n++;
    }
    if (override) {
        size_t len;
        if (tl_read_file(override, 64u << 20, &c->data[c->n], &len, err))
            return err->code;
        c->f[c->n] = (tl_seal_carry){base_name(override), c->data[c->n], len};
        c->n++;
    }
    return 0;
}

/* A model without a directory (a GGUF file) carries what its loader made of its metadata: the
 * tokenizer as tokenizer.json and the files it holds (tokenizer_config.json with the chat template). */
static int carry_loaded(const tl_checkpoint *ck, carried_set *c, tl_err *err)
{
    for (int i = -1; i < ck->nfiles && c->n < N_HF_CARRIED; i++) {
        const uint8_t *d = i < 0 ? ck->tokenizer_data : ck->files[i].data;
        size_t len = i < 0 ? ck->tokenizer_len : ck->files[i].len;
        if (!d)
            continue;
        if (!(c->data[c->n] = malloc(len ? len : 1)))
            return tl_errf(err, TL_ENOMEM, "out of memory");
        memcpy(c->data[c->n], d, len);
        c->f[c->n] = (tl_seal_carry){i < 0 ? "tokenizer.json" : ck->files[i].name, c->data[c->n], len};
        c->n++;
    }
    return 0;
}

int cmd_seal(int argc, char **argv)
{
    if (tl_cli_secure_start("seal"))
        return 1;
    const char *model = NULL, *out = NULL, *key_out = NULL, *kbs = NULL, *key_id = NULL, *kbs_ca = NULL;
    const char *admin_token = NULL, *tokenizer = NULL, *key_file = NULL, *policy = NULL;
    int split = 0, chunk = 0;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "plaintext model (teelm or Hugging Face directory, or .safetensors file)",
         0, 0, .required = 1},
        {"--out", TL_ARG_STR, &out, "PATH", "sealed file to write (a directory with --split)", 0, 0, .required = 1},
        {"--split", TL_ARG_FLAG, &split, NULL, "one sealed file per layer (model.sealed + part-NNN.sealed)", 0, 0},
        {"--key-out", TL_ARG_STR, &key_out, "FILE", "write the fresh data key here (mode 0600, never overwritten)", 0, 0},
        {"--key-file", TL_ARG_STR, &key_file, "FILE", "seal with this existing data key instead of a fresh one", 0, 0},
        {"--kbs", TL_ARG_STR, &kbs, "URL", "register the fresh data key with this key broker instead", 0, 0},
        {"--key-id", TL_ARG_STR, &key_id, "ID", "name of the data key (required with --kbs; default: random)", 0, 0},
        {"--kbs-ca", TL_ARG_STR, &kbs_ca, "FILE", "the broker's certificate (PEM) to pin", 0, 0},
        {"--admin-token", TL_ARG_STR, &admin_token, "FILE", "the broker's admin token file (STORE/admin.token)", 0, 0},
        {"--policy", TL_ARG_STR, &policy, "FILE", "with --kbs: a policy for this key only (docs/policy.md)", 0, 0},
        {"--tokenizer", TL_ARG_STR, &tokenizer, "FILE",
         "tokenizer to carry inside (default: the model's own; for a Hugging Face model it replaces the carried "
         "file of its name)", 0, 0},
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
                             opts, 0, 0, .missing = "--model and --out are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
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
    const int hf = tl_config_is_hf(&ck.cfg);
    const char *tok_path = hf ? NULL : tokenizer ? tokenizer : ck.tokenizer_path;
    carried_set carried = {0};
    if (!key_id) {
        uint8_t r[6];
        RAND_bytes(r, sizeof r);
        memcpy(gen_id, "model-", 6);
        tl_hex(r, sizeof r, gen_id + 6);
        key_id = gen_id;
    }
    int rc = 1;
    uint8_t *tokbuf = NULL, *polbuf = NULL;
    size_t toklen = 0, pollen = 0;
    if (read_tokenizer(tok_path, &tok, &tok_len, &err))
        goto out;
    /* a Hugging Face model: its tokenizer files and config come along (ck.hf_dir is where it was
     * loaded from; a model given as a directory is that directory) */
    if (hf && read_hf_carried(ck.hf_dir[0] ? ck.hf_dir : tl_is_dir(model) ? model : "", tokenizer, &carried, &err))
        goto out;
    if (hf && !carried.n && carry_loaded(&ck, &carried, &err)) /* a GGUF file */
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
                       .tokenizer_name = tok_len ? base_name(tok_path) : NULL, .carry = carried.f,
                       .ncarry = carried.n};
    if (tl_seal_write(&ck, &key, &so, out, &err))
        goto out;
    char what[512] = "";
    for (int i = 0; i < carried.n; i++)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s%s", i ? ", " : "", carried.f[i].name);
    printf("sealed %s -> %s (key id %s%s%s, %s%s)\n", model, out, key.key_id,
           key_out ? ", key file " : kbs ? ", registered with " : "", key_out ? key_out : kbs ? kbs : "",
           carried.n ? "carrying " : tok_len ? "tokenizer included" : "no tokenizer", what);
    rc = 0;
out:
    free(tok);
    carried_free(&carried);
    return finish("seal", rc, &err, &key, &ck);
}

/* Weights in ggml's block types have no safetensors form: the model was a GGUF file. */
static int has_block_types(const tl_checkpoint *ck)
{
    for (int i = 0; i < ck->nw; i++)
        if (tl_dtype_is_block(ck->w[i].dtype))
            return 1;
    return 0;
}

/* A Hugging Face model back to a directory its tools read: model.safetensors (every tensor in its
 * sealed dtype, the canonical names of docs/architectures.md) beside the carried files (written
 * by the caller); a config.json written from the config when none was carried. Not tl_hf_save:
 * unsealed plaintext is mode 0600 (docs/threat-model.md), its files are 0644. */
static int unseal_hf(const tl_checkpoint *ck, const char *out, tl_err *err)
{
    int n = tl_params_count(&ck->cfg);
    tl_param *list = calloc((size_t)n, sizeof *list);
    tl_st_out *t = calloc((size_t)n, sizeof *t);
    int rc = 0;
    if (!list || !t || ck->nw != n) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto done;
    }
    tl_params_list(&ck->cfg, list);
    for (int i = 0; i < n; i++) {
        t[i] = (tl_st_out){.name = list[i].name, .dtype = ck->w[i].dtype, .ndim = list[i].ndim, .data = ck->w[i].data};
        memcpy(t[i].shape, list[i].shape, sizeof list[i].shape);
    }
    static const char *const meta[] = {"format", "pt"};
    char p[4096];
    if (tl_path_join(p, sizeof p, out, TL_FILE_FULL))
        rc = tl_errf(err, TL_EINVAL, "%s: path too long", out);
    else
        rc = tl_st_write(p, t, n, meta, 1, 0600, err);
    if (!rc && !tl_checkpoint_file(ck, TL_HF_CONFIG)) {
        int uniform = ck->w[0].dtype;
        for (int i = 1; i < n; i++)
            uniform = (int)ck->w[i].dtype == uniform ? uniform : -1;
        char *cj = tl_hf_config_to_json(&ck->cfg, uniform);
        if (!cj || tl_path_join(p, sizeof p, out, TL_HF_CONFIG))
            rc = tl_errf(err, TL_ENOMEM, "out of memory");
        else
            rc = tl_write_file_atomic(p, cj, strlen(cj), 0600, err);
        free(cj);
    }
done:
    free(list);
    free(t);
    return rc;
}

int cmd_unseal(int argc, char **argv)
{
    if (tl_cli_secure_start("unseal"))
        return 1;
    const char *model = NULL, *key_file = NULL, *out = NULL;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "SEALED", "sealed model (file, or directory with model.sealed)", 0, 0, .required = 1},
        {"--key-file", TL_ARG_STR, &key_file, "FILE", "the data key file written by teelm seal --key-out", 0, 0, .required = 1},
        {"--out", TL_ARG_STR, &out, "DIR", "directory for the plaintext model (same layout as sealed)", 0, 0, .required = 1},
        {0},
    };
    const tl_cmdspec spec = {"unseal", "--model SEALED --key-file FILE --out DIR",
                             "For the model owner: verifies and decrypts a sealed model back to plaintext files "
                             "(weights in the layout it was sealed in, plus its tokenizer; a Hugging Face model as "
                             "model.safetensors beside the config and tokenizer files sealed with it).",
                             opts, 0, 0, .missing = "--model, --key-file and --out are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    tl_err err = {0};
    tl_data_key key;
    tl_checkpoint ck;
    tl_seal_info info;
    memset(&ck, 0, sizeof ck);
    int rc = 1;
    if (tl_data_key_read(key_file, &key, &err))
        goto out;
    if (tl_seal_read(model, &key, &ck, &info, &err))
        goto out;
    if (tl_mkdirs(out, 0700, &err))
        goto out;
    if (has_block_types(&ck)) { /* a sealed GGUF file: back to a GGUF file, its types kept */
        char p[4096];
        int with_tok;
        mode_t old = umask(077); /* plaintext weights: 0600, as every file unseal writes */
        rc = tl_path_join(p, sizeof p, out, "model.gguf") ? tl_errf(&err, TL_EINVAL, "%s: path too long", out)
                                                          : tl_cli_gguf_from(&ck, p, -1, "model", &with_tok, &err);
        umask(old);
        if (!rc)
            printf("unsealed %s -> %s (key id %s, GGUF%s)\n", model, p, info.key_id, with_tok ? " with its tokenizer" : "");
        rc = rc ? 1 : 0;
        goto out;
    }
    if (tl_config_is_hf(&ck.cfg) ? unseal_hf(&ck, out, &err)
                                 : tl_checkpoint_save(out, &ck, info.file_count > 1 ? TL_LAYOUT_SPLIT : TL_LAYOUT_FULL, &err))
        goto out;
    for (int i = 0; i < ck.nfiles; i++) { /* names checked by the manifest parser: plain file names */
        char p[4096];
        if (tl_path_join(p, sizeof p, out, ck.files[i].name)) {
            tl_errf(&err, TL_EINVAL, "%s: path too long", out);
            goto out;
        }
        if (tl_write_file_atomic(p, ck.files[i].data, ck.files[i].len, 0600, &err))
            goto out;
    }
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
    return finish("unseal", rc, &err, &key, &ck);
}
