/* teelm serve: the confidential inference server (docs/api.md, docs/ra-tls.md). */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/open.h"
#include "seal/seal.h"
#include "server/apikeys.h"
#include "server/ratls.h"
#include "server/secmem.h"
#include "server/server.h"
#include "tee/tee.h"
#include "util/codec.h"
#include "util/log.h"

/* The model's name for the API: --model-name, else the last path component without extension. */
static void model_name(const char *path, char *out, size_t n)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/')
        tmp[--l] = 0;
    snprintf(out, n, "%s", basename(tmp));
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = 0;
}

int cmd_serve(int argc, char **argv)
{
    /* before any jansson, libevent or OpenSSL allocation: freed request memory is wiped */
    tl_secmem_install();
    tl_server_opts so;
    tl_server_defaults(&so);
    tl_open_opts oo = {0};
    const char *model = NULL, *tokenizer = NULL, *tee_name = "auto", *keys_path = NULL, *name = NULL;
    int max_body_kib = so.max_body / 1024, cert_days = 365, quiet = 0;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "model to serve: sealed (with --kbs or --key-file) or a plaintext directory/file"},
        {"--kbs", TL_ARG_STR, &oo.kbs_url, "URL", "key broker releasing the sealed model's key to this TEE"},
        {"--kbs-ca", TL_ARG_STR, &oo.kbs_ca, "FILE", "the key broker's TLS certificate (PEM)"},
        {"--key-file", TL_ARG_STR, &oo.key_file, "FILE", "development: the sealed model's key file (the host sees it)"},
        {"--tee", TL_ARG_STR, &tee_name, "NAME", "sim|occlum|tsm|auto (default auto; sim protects nothing)"},
        {"--tokenizer", TL_ARG_STR, &tokenizer, "FILE", "tokenizer file (default: the model's own)"},
        {"--listen", TL_ARG_STR, &so.listen, "ADDR", "HOST:PORT to listen on (default 127.0.0.1:8443; port 0 picks one)"},
        {"--model-name", TL_ARG_STR, &name, "NAME", "model id in the API (default: from the model path)"},
        {"--threads", TL_ARG_INT, &so.threads, "N", "compute threads (default: all cores)", 1, 256},
        {"--max-batch", TL_ARG_INT, &so.max_batch, "B", "sequences decoded together (default 8)", 1, 1024},
        {"--max-queue", TL_ARG_INT, &so.max_queue, "N", "completions waiting for a full batch before 503 (default 256)", 0, 1 << 20},
        {"--max-connections", TL_ARG_INT, &so.max_connections, "N", "concurrent connections (default 64)", 1, 65536},
        {"--max-connections-per-peer", TL_ARG_INT, &so.max_connections_per_peer, "N", "concurrent connections per client address (default max(4, N/2))", 1, 65536},
        {"--handshake-timeout", TL_ARG_INT, &so.handshake_timeout, "S", "seconds to finish the TLS handshake (default 5)", 1, 3600},
        {"--max-body", TL_ARG_INT, &max_body_kib, "KIB", "request body limit in KiB (default 1024)", 1, 1 << 20},
        {"--max-prompt-tokens", TL_ARG_INT, &so.max_prompt_tokens, "N", "prompt length limit (default 4096)", 1, 1 << 24},
        {"--max-tokens", TL_ARG_INT, &so.max_tokens, "N", "upper bound of a request's max_tokens (default 1024)", 1, 1 << 24},
        {"--request-timeout", TL_ARG_DOUBLE, &so.request_timeout, "S", "seconds a completion may take (default 120)", 0.01, 86400},
        {"--io-timeout", TL_ARG_INT, &so.io_timeout, "S", "seconds a connection may stay idle (default 30)", 1, 3600},
        {"--recv-timeout", TL_ARG_INT, &so.recv_timeout, "S", "seconds to send a whole request, however slowly (default 20)", 1, 3600},
        {"--api-key-file", TL_ARG_STR, &keys_path, "FILE", "require one of these API keys (one per line) as a Bearer token"},
        {"--cert-days", TL_ARG_INT, &cert_days, "N", "validity of the RA-TLS certificate (default 365)", 1, 3650},
        {"--quiet", TL_ARG_FLAG, &quiet, NULL, "log warnings and errors only"},
        {0},
    };
    const tl_cmdspec spec = {"serve", "--model PATH --tee NAME [--kbs URL] [--listen ADDR] [flags]",
        "Serves a model over an OpenAI-style HTTPS API from inside a TEE. The TLS key is made at start\n"
        "and bound to TEE evidence in the certificate (RA-TLS), so clients can verify the server\n"
        "before sending a prompt. Prints 'listening on https://HOST:PORT' once ready.",
        opts, 0, 0};
    int rc = tl_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!model)
        return tl_usage_error(&spec, "--model is required");
    if (oo.kbs_url && oo.key_file)
        return tl_usage_error(&spec, "give --kbs or --key-file, not both");
    if (quiet)
        tl_log_set_level(TL_LOG_WARN);
    so.max_body = max_body_kib * 1024;

    tl_err err = {0};
    tl_apikeys *keys = NULL;
    if (keys_path && !(keys = tl_apikeys_load(keys_path, &err))) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        return 1;
    }
    so.keys = keys;
    oo.tee = tee_name;
    tl_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    tl_tokenizer *tok = NULL;
    tl_tee *tee = NULL;
    tl_ratls ra = {0};
    tl_server *srv = NULL;
    int exit_code = 1, have_ck = 0;
    /* What the sim backend binds into its MRENCLAVE (a real enclave measures its configuration
     * itself): the settings that change what happens to a prompt. docs/api.md lists them.
     * The TEE is opened before the model so that the key broker and the clients see the same
     * identity: the broker exchange attests with this handle. */
    char config[256], sealed_index[4096];
    int sealed = tl_sealed_detect(model, sealed_index, sizeof sealed_index);
    snprintf(config, sizeof config, "teelm serve v1 plaintext_model=%d host_key_file=%d api_keys=%d",
             !sealed, oo.key_file != NULL, keys != NULL);
    tl_tee_opts to = {.config = (const uint8_t *)config, .config_len = strlen(config)};
    if (!(tee = tl_tee_open_opts(tee_name, &to, &err))) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    oo.tee_handle = tee;
    if (tl_model_open(model, &oo, &ck, &err)) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    have_ck = 1;
    if (!(tok = tl_model_tokenizer(&ck, tokenizer, NULL, &err))) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    if (tl_ratls_create(tee, cert_days, &ra, &err)) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    char warning[256] = "";
    if (tee->simulated)
        snprintf(warning, sizeof warning, "simulated TEE (sim), no protection");
    if (!oo.sealed)
        snprintf(warning + strlen(warning), sizeof warning - strlen(warning), "%splaintext model, no protection",
                 warning[0] ? "; " : "");
    else if (oo.key_file)
        snprintf(warning + strlen(warning), sizeof warning - strlen(warning),
                 "%ssealed model opened with a key file on the host, no protection", warning[0] ? "; " : "");
    if (warning[0]) {
        so.warning = warning;
        fprintf(stderr, "teelm serve: WARNING: %s (sent as X-Teelm-Warning on every response)\n", warning);
    }
    char mname[256];
    if (name)
        snprintf(mname, sizeof mname, "%s", name);
    else
        model_name(model, mname, sizeof mname);
    so.model_id = mname;
    if (!(srv = tl_server_new(&so, &ck, tok, &ra, &err))) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    char hash[65];
    tl_hex(ra.pubkey_hash, 32, hash);
    const char *colon = strrchr(so.listen, ':');
    printf("teelm serve: listening on https://%.*s:%d (model %s, tee %s, key sha256 %s)\n",
           (int)(colon ? colon - so.listen : 0), so.listen, tl_server_port(srv), mname, tee->name, hash);
    fflush(stdout);
    int left = tl_server_run(srv);
    if (left)
        tl_log(TL_LOG_WARN, "serve", "%d requests were still open at shutdown", left);
    exit_code = 0;
done:
    tl_server_free(srv);
    tl_ratls_free(&ra);
    tl_tee_close(tee);
    tl_tokenizer_free(tok);
    if (have_ck)
        tl_checkpoint_free(&ck);
    tl_apikeys_free(keys);
    return exit_code;
}
