/* teelm receipt verify: checks a completion's signed receipt offline (docs/receipts.md): the
 * evidence that binds the signing key passes the policy, the signature, the model and
 * configuration against that evidence, and the request and response against the receipt's hashes. */
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "server/ratls.h"
#include "server/receipt_check.h"
#include "tee/policy.h"
#include "tee/verify.h"
#include "util/codec.h"
#include "util/io.h"

#define MAX_FILE (64u << 20)

/* The certificate in an evidence file: GET /attestation's JSON ("certificate") or a PEM certificate. */
static X509 *load_cert(const char *path, tl_err *err)
{
    uint8_t *d = NULL;
    size_t n = 0;
    if (tl_read_file(path, MAX_FILE, &d, &n, err))
        return NULL;
    const char *pem = (const char *)d;
    size_t pl = n;
    json_t *o = NULL;
    if (n && d[0] == '{') {
        o = json_loadb((const char *)d, n, JSON_REJECT_DUPLICATES, NULL);
        pem = json_string_value(json_object_get(o, "certificate"));
        pl = pem ? strlen(pem) : 0;
    }
    X509 *c = NULL;
    BIO *b = pem ? BIO_new_mem_buf(pem, (int)pl) : NULL;
    if (b)
        c = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    json_decref(o);
    free(d);
    if (!c)
        tl_errf(err, TL_EINVAL, "%s: neither GET /attestation's JSON (with \"certificate\") nor a PEM certificate", path);
    return c;
}

/* Without --evidence: DIR/evidence-HEX.pem beside the receipt (what `teelm client --receipts DIR`
 * keeps), HEX the receipt's evidence_sha256. Only finds the file; the checks follow. */
static int default_evidence(const char *receipt_path, const char *text, size_t len, char *out, size_t n)
{
    static const char key[] = "\"evidence_sha256\":\"";
    const char *p = memmem(text, len, key, sizeof key - 1);
    if (!p || (size_t)(p - text) + sizeof key - 1 + 64 > len)
        return -1;
    p += sizeof key - 1;
    for (int i = 0; i < 64; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return -1;
    const char *slash = strrchr(receipt_path, '/');
    int dl = slash ? (int)(slash - receipt_path) : 1;
    snprintf(out, n, "%.*s/evidence-%.64s.pem", dl, slash ? receipt_path : ".", p);
    return 0;
}

static int verify(int argc, char **argv)
{
    const char *receipt = NULL, *policy_path = NULL, *request = NULL, *evidence = NULL, *collateral = NULL;
    int json = 0;
    const tl_opt opts[] = {
        {"--receipt", TL_ARG_STR, &receipt, "FILE", "a completion response body (JSON or event stream) or its teelm_receipt", .required = 1},
        {"--policy", TL_ARG_STR, &policy_path, "FILE", "attestation policy the server must have satisfied (docs/policy.md)", .required = 1},
        {"--request", TL_ARG_STR, &request, "FILE", "the exact request body that was sent (checked against request_sha256)"},
        {"--evidence", TL_ARG_STR, &evidence, "FILE",
         "the server's GET /attestation JSON or RA-TLS certificate (default: evidence-HASH.pem beside --receipt)"},
        {"--collateral", TL_ARG_STR, &collateral, "FILE", "DCAP collateral for real quotes (docs/attestation.md)"},
        {"--json", TL_ARG_FLAG, &json, NULL, "print the verified receipt as JSON"},
        {0},
    };
    const tl_cmdspec spec = {"receipt verify", "--receipt FILE --policy FILE [--request FILE] [--evidence FILE]",
        "Verifies a completion's receipt offline: the evidence binding its signing key passes the policy,\n"
        "the signature holds, the model and configuration are the evidence's, and the request (if given)\n"
        "and the response in FILE match the receipt's hashes. Exit 1 naming the first field that differs.",
        opts, 0, 0, .missing = "--receipt and --policy are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    tl_err err = {0};
    uint8_t *text = NULL, *req = NULL;
    size_t tl = 0, rl = 0;
    tl_policy *pol = NULL;
    tl_collateral *col = NULL;
    X509 *cert = NULL;
    tl_ratls_ext x = {0};
    char path[4200];
    uint8_t eh[32], ch[32];
    tl_identity id;
    tl_receipt_result res;
    memset(&res, 0, sizeof res);
    int code = 1;
    if (tl_read_file(receipt, MAX_FILE, &text, &tl, &err) || (request && tl_read_file(request, MAX_FILE, &req, &rl, &err)) ||
        !(pol = tl_policy_load(policy_path, &err)) || (collateral && !(col = tl_collateral_load(collateral, &err))))
        goto out;
    if (!evidence) {
        if (default_evidence(receipt, (const char *)text, tl, path, sizeof path)) {
            tl_errf(&err, TL_EINVAL, "%s: no evidence_sha256 to find the evidence by; give --evidence FILE", receipt);
            goto out;
        }
        evidence = path;
    }
    if (!(cert = load_cert(evidence, &err)))
        goto out;
    if (tl_ratls_verify_cert(cert, pol, col, time(NULL), &id, &err)) {
        tl_err_prefix(&err, "%s", evidence);
        goto out;
    }
    if (tl_ratls_extract(cert, &x, &err))
        goto out;
    SHA256(x.evidence, x.len, eh);
    SHA256((const unsigned char *)x.config, x.config_len, ch);
    tl_receipt_anchor a = {.receipt_key = x.receipt_pub, .evidence_sha256 = eh, .config_sha256 = ch, .config = x.config,
                           .request = req ? req : (const uint8_t *)"", .request_len = rl,
                           .model_sha256 = tl_policy_model_sha256(pol)};
    if (!request)
        a.request = NULL;
    if (tl_receipt_check((const char *)text, tl, &a, &res, &err)) {
        tl_err_prefix(&err, "%s", receipt);
        goto out;
    }
    if (json) {
        printf("%s\n", res.receipt_json);
    } else {
        printf("receipt verified: counter %llu, %s, time_ms %lld, server tee %s%s; request %s; response %s\n",
               (unsigned long long)res.counter, res.endpoint, (long long)res.time_ms, x.tee,
               id.simulated ? " (SIMULATION: proves nothing)" : "", res.request_checked ? "matches" : "not given",
               res.response_checked ? "matches" : "not in the file (receipt alone)");
    }
    code = 0;
out:
    if (code)
        fprintf(stderr, "teelm receipt verify: %s\n", err.msg);
    free(res.receipt_json);
    free(text);
    free(req);
    tl_ratls_ext_free(&x);
    X509_free(cert);
    tl_collateral_free(col);
    tl_policy_free(pol);
    return code;
}

int cmd_receipt(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "verify"))
        return verify(argc - 1, argv + 1);
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: teelm receipt verify --receipt FILE --policy FILE [--request FILE] [--evidence FILE]\n"
               "Verifies a signed receipt of a completion offline (docs/receipts.md).\n");
        return 0;
    }
    fprintf(stderr, "teelm receipt: give a subcommand: verify (teelm receipt verify --help)\n");
    return 2;
}
