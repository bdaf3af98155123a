/* teelm kbs [add-key | list | revoke]: the key broker service and its offline store admin
 * (kbs/broker.h, kbs/store.h, docs/kbs.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/secure_start.h"
#include "kbs/broker.h"
#include "kbs/store.h"
#include "util/io.h"
#include "util/log.h"

static int fail(const char *cmd, const tl_err *e)
{
    char esc[4 * sizeof e->msg + 1]; /* messages can quote a record's bytes */
    tl_log_escape(e->msg, strlen(e->msg), esc, sizeof esc);
    fprintf(stderr, "teelm %s: %s\n", cmd, esc);
    return 1;
}

/* The option row the store subcommands share (one wording of its help). */
#define STORE_FLAG(v) {"--store", TL_ARG_STR, &(v), "DIR", "the broker's store directory", 0, 0, .required = 1}

static int cmd_add_key(int argc, char **argv)
{
    const char *store = NULL, *key_id = NULL, *key_file = NULL, *policy = NULL, *key_out = NULL;
    int generate = 0;
    const tl_opt opts[] = {
        STORE_FLAG(store),
        {"--key-id", TL_ARG_STR, &key_id, "ID", "name of the key (must match the key file's id)", 0, 0, .required = 1},
        {"--key-file", TL_ARG_STR, &key_file, "FILE", "data key file (teelm seal --key-out)", 0, 0},
        {"--generate", TL_ARG_FLAG, &generate, NULL, "generate a fresh key in the store instead", 0, 0},
        {"--key-out", TL_ARG_STR, &key_out, "FILE", "with --generate: also write the key file (to seal with --key-file)", 0, 0},
        {"--policy", TL_ARG_STR, &policy, "FILE", "a policy for this key only (overrides the broker's --policy)", 0, 0},
        {0},
    };
    const tl_cmdspec spec = {"kbs add-key", "--store DIR --key-id ID (--key-file FILE | --generate [--key-out FILE]) [--policy FILE]",
                             "Adds a data key to the store, wrapped under the store's master key. Works offline and "
                             "while the broker runs (records are read per request).",
                             opts, 0, 0, .missing = "--store and --key-id are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (!!key_file == !!generate)
        return tl_usage_error(&spec, "give exactly one of --key-file FILE or --generate");
    if (key_out && !generate)
        return tl_usage_error(&spec, "--key-out goes with --generate");
    tl_err e = {0};
    tl_data_key key;
    uint8_t *pol = NULL;
    size_t pl = 0;
    int rc = 1;
    if (key_file ? tl_data_key_read(key_file, &key, &e) : tl_data_key_generate(&key, key_id, &e))
        goto out;
    if (strcmp(key.key_id, key_id) != 0) {
        tl_errf(&e, TL_EINVAL, "%s holds key id '%s', not '%s'", key_file, key.key_id, key_id);
        goto out;
    }
    if (policy && tl_read_file(policy, 1 << 20, &pol, &pl, &e))
        goto out;
    if (key_out && tl_data_key_write(key_out, &key, &e))
        goto out;
    if (tl_kbs_store_add(store, &key, (const char *)pol, &e))
        goto out;
    printf("added key %s to %s (%s policy)\n", key_id, store, pol ? "its own" : "the broker's default");
    rc = 0;
out:
    if (rc)
        fail("kbs add-key", &e);
    tl_data_key_clear(&key);
    free(pol);
    return rc;
}

static int cmd_list(int argc, char **argv)
{
    const char *store = NULL;
    const tl_opt opts[] = {STORE_FLAG(store), {0}};
    const tl_cmdspec spec = {"kbs list", "--store DIR", "Lists the keys in a store (ids, state, policy; never key material).",
                             opts, 0, 0, .missing = "--store is required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    tl_err e = {0};
    tl_kbs_record *recs;
    int n, bad = 0;
    uint64_t gen = 0;
    if (tl_kbs_store_list(store, &recs, &n, &gen, &e))
        return fail("kbs list", &e);
    printf("store generation %llu\n", (unsigned long long)gen);
    printf("%-40s %-8s %-21s %-7s %s\n", "KEY ID", "STATE", "CREATED", "POLICY", "GENERATION");
    for (int i = 0; i < n; i++) {
        const tl_kbs_record *r = &recs[i];
        printf("%-40s %-8s %-21s %-7s %llu\n", r->key_id, r->problem[0] ? "INVALID" : r->revoked ? "revoked" : "active",
               r->created, r->problem[0] ? "?" : r->policy_json ? "own" : "default", (unsigned long long)r->generation);
        if (r->problem[0]) {
            char esc[2100];
            tl_log_escape(r->problem, strlen(r->problem), esc, sizeof esc);
            fprintf(stderr, "teelm kbs list: %s: %s\n", r->key_id, esc);
            bad++;
        }
        tl_kbs_record_free(&recs[i]);
    }
    free(recs);
    if (bad)
        fprintf(stderr, "teelm kbs list: %d record(s) fail the integrity check; the broker refuses them\n", bad);
    return bad ? 1 : 0;
}

static int cmd_upgrade(int argc, char **argv)
{
    const char *store = NULL;
    int dry = 0;
    const tl_opt opts[] = {
        STORE_FLAG(store),
        {"--dry-run", TL_ARG_FLAG, &dry, NULL, "only check and list the records; write nothing", 0, 0},
        {0},
    };
    const tl_cmdspec spec = {"kbs upgrade", "--store DIR [--dry-run]",
                             "Upgrades a store of the previous version (key records without a manifest): checks every "
                             "record and writes manifest.json, which authenticates them AS THEY ARE now. Check the "
                             "listed states and policies first (--dry-run): an edit made before the upgrade is kept.",
                             opts, 0, 0, .missing = "--store is required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    tl_err e = {0};
    tl_kbs_record *recs;
    int n;
    if (tl_kbs_store_upgrade(store, dry, &recs, &n, &e))
        return fail("kbs upgrade", &e);
    for (int i = 0; i < n; i++) {
        printf("%-40s %-8s %-21s policy %s\n", recs[i].key_id, recs[i].revoked ? "revoked" : "active", recs[i].created,
               recs[i].policy_json ? recs[i].policy_json : "(the broker's default)");
        tl_kbs_record_free(&recs[i]);
    }
    free(recs);
    if (dry)
        printf("%d record(s) checked; nothing written (--dry-run)\n", n);
    else
        printf("upgraded %s: %d record(s) authenticated by manifest.json at generation 1\n", store, n);
    return 0;
}

static int cmd_revoke(int argc, char **argv)
{
    const char *store = NULL, *key_id = NULL;
    const tl_opt opts[] = {
        STORE_FLAG(store),
        {"--key-id", TL_ARG_STR, &key_id, "ID", "the key to revoke", 0, 0, .required = 1},
        {0},
    };
    const tl_cmdspec spec = {"kbs revoke", "--store DIR --key-id ID",
                             "Revokes a key: its wrapped material is deleted and it is never released again "
                             "(takes effect on a running broker at once).",
                             opts, 0, 0, .missing = "--store and --key-id are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    tl_err e = {0};
    if (tl_kbs_store_revoke(store, key_id, &e))
        return fail("kbs revoke", &e);
    printf("revoked key %s in %s\n", key_id, store);
    return 0;
}

int cmd_kbs(int argc, char **argv)
{
    if (tl_cli_secure_start("kbs"))
        return 1;
    static const tl_command subs[] = {
        {"add-key", cmd_add_key, "add a data key to the store"},
        {"list", cmd_list, "list the keys in a store"},
        {"revoke", cmd_revoke, "revoke a key"},
        {"upgrade", cmd_upgrade, "authenticate a store of the previous version"},
    };
    const tl_command *sub = argc > 0 ? tl_command_find(subs, sizeof subs / sizeof *subs, argv[0]) : NULL;
    if (sub)
        return sub->run(argc - 1, argv + 1);
    const char *listen = NULL, *store = NULL, *policy = NULL, *cert = NULL, *key = NULL, *collateral = NULL;
    const char *names = NULL, *gen_file = NULL;
    int ttl = 60, maxc = 65536, max_conns = 256, per_peer = 0, handshake = 5;
    const tl_opt opts[] = {
        {"--listen", TL_ARG_STR, &listen, "ADDR", "HOST:PORT to serve HTTPS on (port 0: any free port, printed)", 0, 0, .required = 1},
        {"--store", TL_ARG_STR, &store, "DIR", "key store (created on first start: master key, admin token, TLS cert)", 0, 0, .required = 1},
        {"--policy", TL_ARG_STR, &policy, "FILE", "default attestation policy (docs/policy.md)", 0, 0, .required = 1},
        {"--cert", TL_ARG_STR, &cert, "FILE", "TLS certificate chain (PEM); default: STORE/tls-cert.pem, self-signed", 0, 0},
        {"--key", TL_ARG_STR, &key, "FILE", "TLS private key (PEM)", 0, 0},
        {"--tls-names", TL_ARG_STR, &names, "LIST", "names for a generated certificate (default localhost,127.0.0.1,::1)", 0, 0},
        {"--collateral", TL_ARG_STR, &collateral, "FILE", "DCAP collateral for real SGX/TDX evidence", 0, 0},
        {"--nonce-ttl", TL_ARG_INT, &ttl, "SECONDS", "lifetime of a challenge nonce (default 60)", 1, 3600},
        {"--generation-file", TL_ARG_STR, &gen_file, "FILE",
         "keeps the highest store generation seen; refuses to start on an older store (put it off the store's disk)", 0, 0},
        {"--max-challenges", TL_ARG_INT, &maxc, "N", "redeemed nonces remembered against replay (default 65536)", 1, 1 << 20},
        {"--max-connections", TL_ARG_INT, &max_conns, "N", "concurrent connections (default 256)", 1, 65536},
        {"--max-connections-per-peer", TL_ARG_INT, &per_peer, "N", "concurrent connections per client address (default max(4, N/2))", 1, 65536},
        {"--handshake-timeout", TL_ARG_INT, &handshake, "S", "seconds to finish the TLS handshake (default 5)", 1, 3600},
        {0},
    };
    const tl_cmdspec spec = {"kbs",
                             "--listen ADDR --store DIR --policy FILE [--cert FILE --key FILE]\n"
                             "       teelm kbs add-key | list | revoke | upgrade ... (see 'teelm kbs add-key --help')",
                             "Key broker: releases a sealed model's data key only to a TEE whose evidence verifies and "
                             "satisfies the key's policy (docs/attestation-protocol.md).",
                             opts, 0, 0, .missing = "--listen, --store and --policy are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    tl_err e = {0};
    tl_kbs_broker_opts bo = {.listen = listen, .store = store, .policy_file = policy, .cert_file = cert, .key_file = key,
                             .tls_names = names, .collateral = collateral, .nonce_ttl_ms = ttl * 1000,
                             .max_challenges = maxc, .generation_file = gen_file, .max_conns = max_conns,
                             .max_conns_per_peer = per_peer, .handshake_timeout_s = handshake};
    tl_kbs_broker *b = tl_kbs_broker_new(&bo, &e);
    if (!b)
        return fail("kbs", &e);
    char host[256];
    const char *colon = strrchr(listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    printf("kbs: listening on https://%s:%d\n", host, tl_kbs_broker_port(b));
    printf("kbs: TLS certificate %s (SHA-256 %s); clients pin it with --kbs-ca\n", tl_kbs_broker_cert_path(b),
           tl_kbs_broker_fingerprint(b));
    printf("kbs: admin token in %s/admin.token\n", store);
    fflush(stdout);
    int left = tl_kbs_broker_run(b);
    tl_kbs_broker_free(b);
    printf("kbs: stopped\n");
    return left ? 1 : 0;
}
