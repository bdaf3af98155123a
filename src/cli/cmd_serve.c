/* teelm serve: the confidential inference server (docs/api.md, docs/ra-tls.md). */
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/secure_start.h"
#include "app/open.h"
#include "kbs/trustee_client.h"
#include "seal/seal.h"
#include "server/apikeys.h"
#include "server/config_doc.h"
#include "server/ratls.h"
#include "server/receipt.h"
#include "server/server.h"
#include "tee/tee.h"
#include "util/codec.h"
#include "util/io.h"
#include "util/secmem.h"
#include "cli/chat_setup.h"
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

/* The model that was opened is the one the document describes: its header was read unauthenticated
 * for the document, and could have been swapped before the model was opened. */
static int check_served_model(const char *doc, int sealed, const tl_seal_info *info, tl_err *err)
{
    json_t *o = json_loads(doc, 0, NULL), *m = json_object_get(o, "model");
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *kid = json_string_value(json_object_get(m, "key_id"));
    const char *mid = json_string_value(json_object_get(m, "model_id"));
    int ok = kind && (sealed ? !strcmp(kind, "sealed") && kid && mid && !strcmp(kid, info->key_id) &&
                                   !strcmp(mid, info->model_id)
                             : !strcmp(kind, "plaintext"));
    json_decref(o);
    return ok ? 0 : tl_errf(err, TL_ESTATE, "the model opened is not the one the configuration document names "
                                            "(it changed on disk while starting)");
}

int cmd_serve(int argc, char **argv)
{
    if (tl_cli_secure_start("serve"))
        return 1;
    tl_server_opts so;
    tl_server_defaults(&so);
    tl_open_opts oo = {0};
    const char *chat_arg = NULL;
    const char *model = NULL, *tokenizer = NULL, *tee_name = "auto", *keys_path = NULL, *name = NULL;
    int max_body_kib = so.max_body / 1024, cert_days = 365, quiet = 0, print_config = 0, no_receipts = 0;
    tl_strlist snp_certs = {0};
    const char *vcek_url = NULL, *vcek_cache = NULL, *tsm_root = NULL;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "model to serve: sealed (with --kbs or --key-file) or a plaintext directory/file", .required = 1},
        {"--kbs", TL_ARG_STR, &oo.kbs_url, "URL", "key broker releasing the sealed model's key to this TEE"},
        {"--kbs-resource", TL_ARG_STR, &oo.kbs_resource, "REPO/TYPE/TAG",
         "with --kbs trustee+https://HOST/: the Trustee resource holding the data key (docs/trustee.md)"},
        {"--snp-certs", TL_ARG_MULTI, &snp_certs, "FILE...",
         "tsm sev_guest: certificates to carry with the report (VCEK, ASK, ARK; PEM or DER)"},
        {"--snp-vcek-url", TL_ARG_STR, &vcek_url, "URL", "tsm sev_guest: fetch a missing VCEK from this AMD KDS (https://kdsintf.amd.com)"},
        {"--snp-vcek-cache", TL_ARG_STR, &vcek_cache, "DIR", "tsm sev_guest: VCEK cache directory"},
        {"--tsm-root", TL_ARG_STR, &tsm_root, "DIR", "tsm: configfs report dir (default /sys/kernel/config/tsm/report)"},
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
        {"--ctx", TL_ARG_INT, &so.ctx, "N",
         "Hugging Face models: key/value cache positions per sequence, the longest prompt + completion "
         "(default min(max_position_embeddings, 4096))", 1, 1 << 24},
        {"--max-n", TL_ARG_INT, &so.max_n, "N", "upper bound of a request's n (default 8)", 1, 64},
        {"--chat-template", TL_ARG_STR, &chat_arg, "NAME|FILE",
         "chat template: a built-in (plain, chatml) or a Jinja file (default: the model's tokenizer_config.json "
         "chat_template, else plain)"},
        {"--max-tokens", TL_ARG_INT, &so.max_tokens, "N", "upper bound of a request's max_tokens (default 1024)", 1, 1 << 24},
        {"--request-timeout", TL_ARG_DOUBLE, &so.request_timeout, "S", "seconds a completion may take (default 120)", 0.01, 86400},
        {"--io-timeout", TL_ARG_INT, &so.io_timeout, "S", "seconds a connection may stay idle (default 30)", 1, 3600},
        {"--recv-timeout", TL_ARG_INT, &so.recv_timeout, "S", "seconds to send a whole request, however slowly (default 20)", 1, 3600},
        {"--api-key-file", TL_ARG_STR, &keys_path, "FILE", "require one of these API keys (one per line) as a Bearer token"},
        {"--cert-days", TL_ARG_INT, &cert_days, "N", "validity of the RA-TLS certificate (default 365)", 1, 3650},
        {"--quiet", TL_ARG_FLAG, &quiet, NULL, "log warnings and errors only"},
        {"--no-receipts", TL_ARG_FLAG, &no_receipts, NULL,
         "do not sign receipts of completions (docs/receipts.md; recorded in the configuration document)"},
        {"--print-config", TL_ARG_FLAG, &print_config, NULL,
         "print the configuration document these flags make (what the evidence binds) and exit"},
        {0},
    };
    const tl_cmdspec spec = {"serve", "--model PATH --tee NAME [--kbs URL] [--listen ADDR] [flags]",
        "Serves a model over an OpenAI-style HTTPS API from inside a TEE. The TLS key is made at start\n"
        "and bound to TEE evidence in the certificate (RA-TLS), so clients can verify the server\n"
        "before sending a prompt. Prints 'listening on https://HOST:PORT' once ready.\n"
        "The configuration document (docs/bindings.md) of every setting but --listen and --threads is\n"
        "bound into the evidence; 'teelm attest measure --config FILE' gives its sim MRENCLAVE.",
        opts, 0, 0, .missing = "--model is required"};
    int xargc = 0;
    char **xargv = tl_args_expand_multi(argc, argv, "--snp-certs", &xargc);
    if (!xargv)
        return 1;
    int rc = tl_args_parse(&spec, xargc, xargv, NULL, NULL);
    free(xargv); /* the values point into argv */
    if (rc)
        return rc == 1 ? 0 : rc;
    if (oo.kbs_url && oo.key_file)
        return tl_usage_error(&spec, "give --kbs or --key-file, not both");
    tl_err uerr = {0};
    if (tl_trustee_url(oo.kbs_url) && (!oo.kbs_resource || tl_trustee_resource_check(oo.kbs_resource, &uerr)))
        return tl_usage_error(&spec, "%s", oo.kbs_resource ? uerr.msg
                                          : "--kbs trustee+https://... needs --kbs-resource REPO/TYPE/TAG (the data key)");
    if (oo.kbs_resource && !tl_trustee_url(oo.kbs_url))
        return tl_usage_error(&spec, "--kbs-resource needs --kbs trustee+https://HOST/ (a Trustee KBS)");
    if ((snp_certs.n || vcek_url || vcek_cache || tsm_root) && strcmp(tee_name, "tsm") && strcmp(tee_name, "auto"))
        return tl_usage_error(&spec, "--snp-certs, --snp-vcek-url, --snp-vcek-cache and --tsm-root are for --tee tsm (or auto) "
                                     "in an SEV-SNP guest, not --tee %s", tee_name);
    so.max_body = max_body_kib * 1024;
    char mname[256];
    if (name)
        snprintf(mname, sizeof mname, "%s", name);
    else
        model_name(model, mname, sizeof mname);
    so.model_id = mname;

    tl_err err = {0};
    /* Everything that changes what a client should trust, as one canonical document: the sim binds it
     * into its MRENCLAVE, RA-TLS binds its hash next to the TLS key (docs/bindings.md). */
    char *doc = NULL;
    size_t doc_len = 0;
    tl_config_in ci = {.tee = tee_name, .model = model, .model_name = mname, .tokenizer = tokenizer,
                       .kbs_url = oo.kbs_url, .kbs_ca = oo.kbs_ca, .kbs_resource = oo.kbs_resource, .key_file = oo.key_file, .api_keys = keys_path != NULL,
                       .chat_template = chat_arg, .receipts = !no_receipts,
                       .cert_days = cert_days, .log_level = quiet ? TL_LOG_WARN : TL_LOG_INFO, .so = &so};
    if (tl_config_doc_build(&ci, &doc, &doc_len, &err)) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        return 1;
    }
    if (print_config) {
        printf("%s\n", doc);
        free(doc);
        return 0;
    }
    if (quiet)
        tl_log_set_level(TL_LOG_WARN);
    tl_apikeys *keys = NULL;
    if (keys_path && !(keys = tl_apikeys_load(keys_path, &err))) {
        free(doc);
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
    tl_receipts *receipts = NULL;
    int exit_code = 1, have_ck = 0;
    tl_cli_chat chat;
    memset(&chat, 0, sizeof chat);
    /* The TEE is opened before the model so that the key broker and the clients see the same
     * identity: the broker exchange attests with this handle. The sim binds the document into its
     * MRENCLAVE; a real enclave's measurement fixes it (Occlum: the measured image and serve.json). */
    /* The SEV-SNP certificate sources only say where public certificates come from: a client verifies
     * them against AMD's pinned roots, so they are not in the document (docs/bindings.md). */
    tl_tee_opts to = {.config = (const uint8_t *)doc, .config_len = doc_len, .snp_cert_files = snp_certs.v,
                      .n_snp_cert_files = snp_certs.n, .snp_vcek_url = vcek_url, .snp_vcek_cache = vcek_cache,
                      .tsm_root = tsm_root};
    if (!(tee = tl_tee_open_opts(tee_name, &to, &err))) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    /* TDX: RTMR3 names this binary and configuration before any evidence is made (docs/attestation.md) */
    if (tl_tee_measure_runtime(tee, (const uint8_t *)doc, doc_len, &err)) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    oo.tee_handle = tee;
    tl_seal_info info;
    memset(&info, 0, sizeof info);
    oo.info = &info;
    if (tl_model_open(model, &oo, &ck, &err)) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    have_ck = 1;
    if (check_served_model(doc, oo.sealed, &info, &err)) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    if (!(tok = tl_model_tokenizer(&ck, tokenizer, NULL, &err))) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    if (tl_cli_chat_setup_model(chat_arg, &ck, tokenizer, &chat, &err)) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    so.chat_template = chat.src;
    so.chat_template_len = chat.len;
    so.chat_template_name = chat.name;
    so.bos_token = chat.bos;
    so.eos_token = chat.eos;
    so.chat_stop = chat.stop;
    if (tl_ratls_create(tee, doc, doc_len, cert_days, &ra, &err)) {
        fprintf(stderr, "teelm serve: %s\n", err.msg);
        goto done;
    }
    if (!no_receipts) {
        /* the weights as the engine holds them, hashed here in the TEE once (docs/receipts.md) */
        uint8_t wh[32];
        if (tl_receipt_weights_sha256(&ck, wh, &err) ||
            !(receipts = tl_receipts_new(&ra, mname, wh, time(NULL), &err))) {
            fprintf(stderr, "teelm serve: %s\n", err.msg);
            goto done;
        }
        so.receipts = receipts;
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
    tl_receipts_free(receipts);
    tl_ratls_free(&ra);
    tl_tee_close(tee);
    tl_tokenizer_free(tok);
    if (have_ck)
        tl_checkpoint_free(&ck);
    tl_apikeys_free(keys);
    tl_cli_chat_free(&chat);
    free(doc);
    return exit_code;
}
