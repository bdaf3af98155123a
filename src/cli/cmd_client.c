/* teelm client: verify the server's RA-TLS evidence against a policy, then send a prompt and print
 * the completion (as it streams, with --stream). */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/server_check.h"
#include "server/client.h"
#include "server/receipt_check.h"
#include "util/codec.h"
#include "util/grow.h"
#include "util/io.h"
#include "util/secmem.h"

typedef struct {
    char *buf; /* response bytes not yet consumed */
    size_t len, cap;
    char *raw; /* streams: every byte received, for the receipt check */
    size_t raw_len, raw_cap;
    int stream, done, printed_any;
    char finish[32];
    char error[600];
} out_state;

/* Makes room for need bytes in *buf (of *cap), doubling from 4 KiB: the response text and, for
 * streams, the raw bytes. */
static int grow(char **buf, size_t *cap, size_t need)
{
    if (need > (64u << 20))
        return -1; /* no completion is this large: a hostile server */
    return TL_GROW(*buf, cap, need, 4096);
}

static void error_text(json_t *o, char *out, size_t n)
{
    json_t *e = json_object_get(o, "error");
    const char *m = json_string_value(json_object_get(e, "message"));
    snprintf(out, n, "%s", m ? m : "error without a message");
}

/* One server-sent event's data. */
static void sse_data(out_state *s, const char *data, size_t n)
{
    if (n == 6 && !memcmp(data, "[DONE]", 6)) {
        s->done = 1;
        return;
    }
    json_t *o = json_loadb(data, n, 0, NULL);
    if (!o) {
        snprintf(s->error, sizeof s->error, "the server sent an event that is not JSON");
        return;
    }
    if (json_object_get(o, "error")) {
        error_text(o, s->error, sizeof s->error);
    } else {
        json_t *c = json_array_get(json_object_get(o, "choices"), 0);
        json_t *t = json_object_get(c, "text");
        if (json_is_string(t) && json_string_length(t)) {
            fwrite(json_string_value(t), 1, json_string_length(t), stdout);
            fflush(stdout);
            s->printed_any = 1;
        }
        const char *fr = json_string_value(json_object_get(c, "finish_reason"));
        if (fr)
            snprintf(s->finish, sizeof s->finish, "%s", fr);
    }
    json_decref(o);
}

static int sink(const char *data, size_t n, void *user)
{
    out_state *s = user;
    if (grow(&s->buf, &s->cap, s->len + n + 1))
        return 1;
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    if (!s->stream)
        return 0;
    if (grow(&s->raw, &s->raw_cap, s->raw_len + n + 1))
        return 1;
    memcpy(s->raw + s->raw_len, data, n);
    s->raw_len += n;
    /* events end with a blank line; lines of one event may be several "data:" lines */
    for (;;) {
        char *end = memmem(s->buf, s->len, "\n\n", 2);
        if (!end)
            break;
        size_t ev = (size_t)(end - s->buf);
        for (size_t i = 0; i < ev;) {
            char *nl = memchr(s->buf + i, '\n', ev - i);
            size_t ln = nl ? (size_t)(nl - (s->buf + i)) : ev - i;
            if (ln >= 6 && !memcmp(s->buf + i, "data: ", 6))
                sse_data(s, s->buf + i + 6, ln - 6);
            i += ln + 1;
        }
        memmove(s->buf, end + 2, s->len - ev - 2);
        s->len -= ev + 2;
    }
    return 0;
}

static char *read_key(const char *path, tl_err *err)
{
    uint8_t *data;
    size_t len;
    if (tl_read_file(path, 4096, &data, &len, err))
        return NULL;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        data[--len] = 0;
    for (size_t i = 0; i < len; i++)
        if (data[i] <= 0x20 || data[i] >= 0x7f) {
            tl_sec_free(data);
            tl_errf(err, TL_EINVAL, "%s: the API key must be one line of printable ASCII", path);
            return NULL;
        }
    if (!len) {
        free(data);
        tl_errf(err, TL_EINVAL, "%s: empty API key file", path);
        return NULL;
    }
    return (char *)data;
}

static void print_peer(const tl_client_peer *p, FILE *f, int json)
{
    char h[65], mre[65], mrs[65], ch[65];
    tl_hex(p->pubkey_sha256, 32, h);
    tl_hex(p->config_sha256, 32, ch);
    tl_hex(p->id.mrenclave, 32, mre);
    tl_hex(p->id.mrsigner, 32, mrs);
    const char *kind = p->id.kind == TL_TEE_KIND_SGX ? "sgx" : p->id.kind == TL_TEE_KIND_TDX ? "tdx" : "sev-snp";
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:b,s:b,s:s,s:s,s:s,s:i,s:i,s:s}", "tee", p->tee, "kind", kind, "simulated",
                              p->id.simulated, "debug", p->id.debug, "pubkey_sha256", h, "mrenclave", mre, "mrsigner",
                              mrs, "isv_prod_id", p->id.isv_prod_id, "isv_svn", p->id.isv_svn, "tcb_status",
                              p->id.tcb_status);
        json_object_set_new(o, "config_sha256", json_string(ch));
        json_t *cfg = json_loads(p->config, 0, NULL);
        json_object_set_new(o, "configuration", cfg ? cfg : json_string(p->config));
        char *t = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fprintf(f, "%s\n", t);
        free(t);
        json_decref(o);
    } else {
        fprintf(f, "teelm client: server verified: %s (%s), tcb %s, key %.16s..., configuration %.16s...\n", p->tee,
                kind, p->id.tcb_status, h, ch);
    }
}

/* Runs inside the handshake, after the checks and before the request is sent: whoever reads the
 * warning has not yet given the server anything. */
static int on_verified(const tl_client_peer *p, void *user)
{
    int quiet = *(const int *)user;
    if (!quiet)
        print_peer(p, stderr, 0);
    if (p->id.simulated)
        fprintf(stderr, "teelm client: WARNING: the server runs in SIMULATION mode: its evidence proves nothing "
                        "(accepted because the policy sets allow_simulation)\n");
    return 0;
}

static int write_new(const char *dir, const char *name, const void *data, size_t n, tl_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return tl_write_file_atomic(path, data, n, 0600, err);
}

/* Every completion's receipt is checked against what the handshake verified (the receipt key and
 * configuration the evidence binds) and what was sent and received (docs/receipts.md); with
 * --receipts DIR it is kept with the request and the certificate, for `teelm receipt verify`. */
static int check_receipt(const tl_client_peer *peer, const tl_policy *pol, const char *resp, size_t rlen,
                         const char *req, size_t qlen, const char *dir, int quiet, tl_err *err)
{
    json_t *doc = json_loads(peer->config, 0, NULL);
    int on = json_is_true(json_object_get(doc, "receipts"));
    json_decref(doc);
    if (!on) {
        if (!quiet)
            fprintf(stderr, "teelm client: note: this server signs no receipts (its configuration says \"receipts\": false)\n");
        return 0;
    }
    tl_receipt_anchor a = {.receipt_key = peer->receipt_key, .evidence_sha256 = peer->evidence_sha256,
                           .config_sha256 = peer->config_sha256, .config = peer->config, .request = req,
                           .request_len = qlen, .model_sha256 = tl_policy_model_sha256(pol)};
    tl_receipt_result res;
    if (tl_receipt_check(resp, rlen, &a, &res, err))
        return tl_err_prefix(err, "the server's receipt is not valid");
    if (!quiet)
        fprintf(stderr, "teelm client: receipt verified (counter %llu, signed by the key the evidence binds)\n",
                (unsigned long long)res.counter);
    free(res.receipt_json);
    if (!dir)
        return 0;
    char eh[65], name[256];
    tl_hex(peer->evidence_sha256, 32, eh);
    snprintf(name, sizeof name, "%s/evidence-%s.pem", dir, eh);
    if (!tl_is_file(name)) {
        if (!peer->cert_pem[0])
            return tl_errf(err, TL_EINVAL, "--receipts: the server certificate is too large to keep");
        snprintf(name, sizeof name, "evidence-%s.pem", eh);
        if (write_new(dir, name, peer->cert_pem, strlen(peer->cert_pem), err))
            return err->code;
    }
    snprintf(name, sizeof name, "receipt-%.16s-%llu.response", eh, (unsigned long long)res.counter);
    if (write_new(dir, name, resp, rlen, err))
        return err->code;
    snprintf(name, sizeof name, "receipt-%.16s-%llu.request.json", eh, (unsigned long long)res.counter);
    return write_new(dir, name, req, qlen, err);
}

int cmd_client(int argc, char **argv)
{
    const char *server = NULL, *policy_path = NULL, *prompt = NULL, *collateral = NULL, *key_file = NULL,
               *expect_cfg = NULL, *receipts_dir = NULL;
    int stream = 0, max_tokens = 16, json = 0, verify_only = 0, quiet = 0, timeout = 300;
    double temperature = 1.0, top_p = 1.0;
    int64_t seed = 0;
    const char *seed_s = NULL;
    tl_strlist stop = {0};
    const tl_opt opts[] = {
        {"--server", TL_ARG_STR, &server, "URL", "server, https://HOST:PORT", .required = 1},
        {"--policy", TL_ARG_STR, &policy_path, "FILE", "attestation policy the server must satisfy (docs/policy.md)", .required = 1},
        {"--prompt", TL_ARG_STR, &prompt, "TEXT", "prompt (default: read from stdin)"},
        {"--stream", TL_ARG_FLAG, &stream, NULL, "print the completion as it is generated"},
        {"--max-tokens", TL_ARG_INT, &max_tokens, "N", "tokens to generate (default 16)", 1, 1 << 20},
        {"--temperature", TL_ARG_DOUBLE, &temperature, "T", "sampling temperature, 0 = greedy (default 1)", 0, 2},
        {"--top-p", TL_ARG_DOUBLE, &top_p, "P", "nucleus sampling mass (default 1)", 0, 1},
        {"--seed", TL_ARG_STR, &seed_s, "S", "sampling seed, for reproducible output (default: server picks)"},
        {"--stop", TL_ARG_MULTI, &stop, "TEXT", "stop sequence (repeatable, up to 4)"},
        {"--collateral", TL_ARG_STR, &collateral, "FILE", "DCAP collateral for real quotes (docs/attestation.md)"},
        {"--api-key-file", TL_ARG_STR, &key_file, "FILE", "file holding the API key (sent as a Bearer token)"},
        {"--expect-config", TL_ARG_STR, &expect_cfg, "FILE", "require exactly this configuration document (teelm serve --print-config)"},
        {"--timeout", TL_ARG_INT, &timeout, "S", "give up after S seconds (default 300)", 1, 86400},
        {"--json", TL_ARG_FLAG, &json, NULL, "print the server's JSON response instead of the text (not with --stream)"},
        {"--verify-only", TL_ARG_FLAG, &verify_only, NULL, "verify the server and print what was verified (JSON); send nothing"},
        {"--quiet", TL_ARG_FLAG, &quiet, NULL, "do not print the verified identity to stderr"},
        {"--receipts", TL_ARG_STR, &receipts_dir, "DIR",
         "keep every verified receipt here (response, request, the server's certificate) for teelm receipt verify"},
        {0},
    };
    const tl_cmdspec spec = {"client", "--server URL --policy FILE [--prompt TEXT] [--stream] [flags]",
        "Checks the server's RA-TLS certificate (TEE evidence bound to its TLS key) against the policy\n"
        "during the TLS handshake, before anything is sent; then sends the prompt to /v1/completions\n"
        "and prints the completion. Any mismatch stops with the field that differed and exit code 1.",
        opts, 0, 0, .missing = "--server and --policy are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (stream && json)
        return tl_usage_error(&spec, "--json and --stream do not go together");
    if (stop.n > 4)
        return tl_usage_error(&spec, "at most 4 --stop sequences");
    if (seed_s) {
        char *end;
        seed = strtoll(seed_s, &end, 10);
        if (!*seed_s || *end)
            return tl_usage_error(&spec, "--seed: '%s' is not an integer", seed_s);
    }

    tl_server_check chk;
    if (tl_server_check_load("client", policy_path, collateral, expect_cfg, &chk))
        return 1;
    tl_err err = {0};
    char *api_key = NULL;
    if (key_file && !(api_key = read_key(key_file, &err))) {
        fprintf(stderr, "teelm client: %s\n", err.msg);
        tl_server_check_free(&chk);
        return 1;
    }
    int quiet_verified = quiet || verify_only;
    tl_client_opts co = {.server = server, .policy = chk.policy, .col = chk.col, .api_key = api_key,
                         .timeout_s = timeout, .expect_config_sha256 = chk.expect_config, .on_verified = on_verified,
                         .on_verified_user = &quiet_verified};
    tl_client_peer peer;
    out_state st = {.stream = stream};
    long status = 0;
    int exit_code = 1;
    char *body = NULL;
    uint8_t *stdin_prompt = NULL;
    size_t stdin_len = 0;

    if (verify_only) {
        /* a GET /health: the handshake does the checking; nothing about the user is sent */
        if (tl_client_request(&co, "GET", "/health", NULL, 0, sink, &st, &status, &peer, &err)) {
            fprintf(stderr, "teelm client: %s\n", err.msg);
            goto done;
        }
        print_peer(&peer, stdout, 1);
        exit_code = 0;
        goto done;
    }
    if (!prompt) {
        if (tl_read_file("-", 1 << 20, &stdin_prompt, &stdin_len, &err)) {
            fprintf(stderr, "teelm client: stdin: %s\n", err.msg);
            goto done;
        }
        prompt = (const char *)stdin_prompt;
    }
    json_t *req = json_pack("{s:s,s:i,s:f,s:f,s:b}", "prompt", prompt, "max_tokens", max_tokens, "temperature",
                            temperature, "top_p", top_p, "stream", stream);
    if (!req) {
        fprintf(stderr, "teelm client: the prompt is not valid UTF-8 text\n");
        goto done;
    }
    if (seed_s)
        json_object_set_new(req, "seed", json_integer(seed));
    if (stop.n) {
        json_t *a = json_array();
        for (int i = 0; i < stop.n; i++)
            json_array_append_new(a, json_string(stop.v[i]));
        json_object_set_new(req, "stop", a);
    }
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int rc = tl_client_request(&co, "POST", "/v1/completions", body, strlen(body), sink, &st, &status, &peer, &err);
    if (rc) {
        fprintf(stderr, "teelm client: %s\n", err.msg);
        goto done;
    }
    if (status != 200) {
        json_t *o = st.buf ? json_loadb(st.buf, st.len, 0, NULL) : NULL;
        char msg[600] = "no error message";
        if (o)
            error_text(o, msg, sizeof msg);
        json_decref(o);
        fprintf(stderr, "teelm client: the server answered %ld: %s\n", status, msg);
        goto done;
    }
    if (stream) {
        if (st.printed_any)
            fputc('\n', stdout);
        if (st.error[0]) {
            fprintf(stderr, "teelm client: the server stopped the stream: %s\n", st.error);
            goto done;
        }
        if (!st.done) {
            fprintf(stderr, "teelm client: the stream ended without [DONE]\n");
            goto done;
        }
    }
    if (check_receipt(&peer, chk.policy, stream ? st.raw : st.buf, stream ? st.raw_len : st.len, body, strlen(body),
                      receipts_dir, quiet, &err)) {
        fprintf(stderr, "teelm client: %s\n", err.msg);
        goto done;
    }
    if (stream) {
        ;
    } else if (json) {
        fwrite(st.buf, 1, st.len, stdout);
        fputc('\n', stdout);
    } else {
        json_t *o = st.buf ? json_loadb(st.buf, st.len, 0, NULL) : NULL;
        json_t *t = json_object_get(json_array_get(json_object_get(o, "choices"), 0), "text");
        if (!json_is_string(t)) {
            json_decref(o);
            fprintf(stderr, "teelm client: the server's response has no choices[0].text\n");
            goto done;
        }
        fwrite(json_string_value(t), 1, json_string_length(t), stdout);
        fputc('\n', stdout);
        json_decref(o);
    }
    exit_code = 0;
done:
    tl_sec_free(body);
    tl_sec_free(stdin_prompt);
    tl_sec_free(st.buf);
    tl_sec_free(api_key);
    tl_sec_free(st.raw);
    tl_server_check_free(&chk);
    return exit_code;
}
