/* Canonical configuration document of `teelm serve` (config_doc.h). */
#include "server/config_doc.h"

#include "chat/chat_template.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "seal/seal.h"
#include "util/io.h"
#include "util/log.h"
#include "util/sha.h"

#define MAX_HASHED_FILE (64u << 20) /* a tokenizer or a certificate: far below this */

/* "sha256:HEX" of a whole (small) file. */
static int file_digest(const char *what, const char *path, char out[72], tl_err *err)
{
    uint8_t *data = NULL, h[32];
    size_t n = 0;
    if (tl_read_file(path, MAX_HASHED_FILE, &data, &n, err))
        return tl_err_prefix(err, "configuration: %s", what);
    int rc = tl_sha256(data, n, h);
    free(data);
    if (rc)
        return tl_errf(err, TL_ENOMEM, "configuration: %s: out of memory", what);
    tl_sha256_tagged(h, out);
    return 0;
}

/* SHA-256 of a file's contents, streamed (plaintext weights can be large). */
static int stream_digest(const char *path, uint8_t out[32], tl_err *err)
{
    int e, rc = tl_sha_file(TL_SHA256, path, out, &e);
    if (rc == TL_SHA_EOPEN)
        return tl_errf(err, TL_EIO, "configuration: %s: %s", path, strerror(e));
    return rc ? tl_errf(err, TL_EIO, "configuration: cannot read %s to hash it", path) : 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Plaintext model: a file → SHA-256 of it; a directory → SHA-256 over its regular files in byte
 * order of their names, each as name ‖ NUL ‖ SHA-256(contents). */
static int plaintext_digest(const char *path, char out[72], tl_err *err)
{
    uint8_t h[32];
    if (!tl_is_dir(path)) {
        if (stream_digest(path, h, err))
            return err->code;
    } else {
        DIR *d = opendir(path);
        if (!d)
            return tl_errf(err, TL_EIO, "configuration: %s: %s", path, strerror(errno));
        char *names[1024];
        int n = 0, rc = 0;
        struct dirent *e;
        while (!rc && (e = readdir(d))) {
            char full[4096];
            if (e->d_name[0] == '.' || tl_path_join(full, sizeof full, path, e->d_name) || !tl_is_file(full))
                continue;
            if (n == 1024 || !(names[n] = strdup(e->d_name)))
                rc = tl_errf(err, TL_EINVAL, "configuration: %s: more than 1024 files", path);
            else
                n++;
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof *names, cmp_names);
        tl_sha *c = tl_sha_new(TL_SHA256);
        rc = rc ? rc : !c ? tl_errf(err, TL_ENOMEM, "configuration: out of memory") : 0;
        for (int i = 0; i < n; i++) {
            char full[4096];
            uint8_t fh[32];
            if (!rc && !(rc = tl_path_join(full, sizeof full, path, names[i]) ? tl_errf(err, TL_EINVAL, "path too long")
                                                                               : stream_digest(full, fh, err))) {
                tl_sha_add(c, names[i], strlen(names[i]) + 1);
                tl_sha_add(c, fh, 32);
            }
            free(names[i]);
        }
        if (tl_sha_end(c, h) && !rc)
            rc = tl_errf(err, TL_ECRYPTO, "configuration: SHA-256 failed");
        if (rc)
            return rc;
    }
    tl_sha256_tagged(h, out);
    return 0;
}

/* Sealed: the key id and model id of file 0's header (authenticated later, when the key opens it:
 * cmd_serve compares them with what tl_seal_read verified). */
static json_t *model_identity(const char *path, tl_err *err)
{
    char index[4096];
    if (!tl_sealed_detect(path, index, sizeof index)) {
        char d[72];
        if (plaintext_digest(path, d, err))
            return NULL;
        return json_pack("{s:s,s:s}", "kind", "plaintext", "digest", d);
    }
    tl_seal_info info;
    if (tl_sealed_header_info(path, &info, err)) {
        tl_err_prefix(err, "configuration");
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s}", "kind", "sealed", "key_id", info.key_id, "model_id", info.model_id);
}

static const char *level_name(int l)
{
    return l <= TL_LOG_ERROR ? "error" : l == TL_LOG_WARN ? "warn" : l == TL_LOG_INFO ? "info" : "debug";
}

int tl_config_doc_build(const tl_config_in *in, char **doc, size_t *len, tl_err *err)
{
    *doc = NULL;
    *len = 0;
    const tl_server_opts *so = in->so;
    char ca[72] = "", tok[72] = "model";
    if (in->kbs_url && in->kbs_ca && file_digest("--kbs-ca", in->kbs_ca, ca, err))
        return err->code;
    if (in->tokenizer && file_digest("--tokenizer", in->tokenizer, tok, err))
        return err->code;
    char chat[72] = "model";
    if (in->chat_template) {
        if (tl_chat_template_builtin(in->chat_template))
            snprintf(chat, sizeof chat, "%s", in->chat_template);
        else if (file_digest("--chat-template", in->chat_template, chat, err))
            return err->code;
    }
    json_t *model = model_identity(in->model, err);
    if (!model)
        return err->code;
    json_t *ks = in->kbs_url ? json_pack("{s:s,s:s,s:s?}", "kind", "kbs", "url", in->kbs_url, "ca", ca[0] ? ca : NULL)
               : in->key_file ? json_pack("{s:s}", "kind", "key_file")
                              : json_pack("{s:s}", "kind", "none");
    /* integers only: a double's decimal form is not canonical across libraries */
    /* the per-address cap as the network layer applies it (0 means its default) */
    int per_peer = so->max_connections_per_peer ? so->max_connections_per_peer
                   : so->max_connections / 2 > 4 ? so->max_connections / 2 : 4;
    json_t *lim = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:i,s:i,s:i}", "ctx", so->ctx, "max_n", so->max_n, "max_batch", so->max_batch, "max_queue",
                            so->max_queue, "max_connections", so->max_connections, "max_connections_per_peer",
                            per_peer, "handshake_timeout_s", so->handshake_timeout ? so->handshake_timeout : 5,
                            "max_body", so->max_body,
                            "max_prompt_tokens", so->max_prompt_tokens, "max_tokens", so->max_tokens,
                            "default_max_tokens", so->default_max_tokens, "request_timeout_ms",
                            (json_int_t)(so->request_timeout * 1000.0 + 0.5), "io_timeout_s", so->io_timeout,
                            "recv_timeout_s", so->recv_timeout);
    json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:o,s:s,s:s,s:o,s:b,s:i,s:o,s:s}", "chat_template", chat, "teelm", "serve", "version", 1, "tee",
                          in->tee, "model", model, "model_name", in->model_name, "tokenizer", tok, "key_source", ks,
                          "api_keys", in->api_keys, "cert_days", in->cert_days, "limits", lim, "log_level",
                          level_name(in->log_level));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!s)
        return tl_errf(err, TL_EINVAL, "configuration: a setting is not valid UTF-8 text, or out of memory");
    *doc = s;
    *len = strlen(s);
    return 0;
}
