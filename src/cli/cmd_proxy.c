/* teelm proxy: plain HTTP on loopback for unmodified OpenAI clients, forwarding to a teelm server
 * whose RA-TLS evidence is verified against a policy on every new connection (docs/proxy.md). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/secure_start.h"
#include "cli/server_check.h"
#include "server/proxy.h"
#include "util/log.h"

int cmd_proxy(int argc, char **argv)
{
    const char *server = NULL, *policy_path = NULL, *collateral = NULL, *expect_cfg = NULL,
               *listen = "127.0.0.1:8080";
    int allow_remote = 0, max_inflight = 64, max_body_kib = 1024, timeout = 600, connect_timeout = 30,
        io_timeout = 30, quiet = 0;
    const tl_opt opts[] = {
        {"--server", TL_ARG_STR, &server, "URL", "teelm server, https://HOST:PORT", .required = 1},
        {"--policy", TL_ARG_STR, &policy_path, "FILE", "attestation policy the server must satisfy (docs/policy.md)", .required = 1},
        {"--listen", TL_ARG_STR, &listen, "ADDR", "HOST:PORT for plain HTTP, a loopback address (default 127.0.0.1:8080; port 0 picks one)"},
        {"--allow-remote", TL_ARG_FLAG, &allow_remote, NULL,
         "allow a non-loopback --listen address (requests then cross that network in plaintext)"},
        {"--collateral", TL_ARG_STR, &collateral, "FILE", "DCAP collateral for real quotes (docs/attestation.md)"},
        {"--expect-config", TL_ARG_STR, &expect_cfg, "FILE", "require exactly this configuration document (teelm serve --print-config)"},
        {"--max-inflight", TL_ARG_INT, &max_inflight, "N", "requests forwarded at once, more get 503 (default 64)", 1, 4096},
        {"--max-body", TL_ARG_INT, &max_body_kib, "KIB", "request body limit in KiB (default 1024)", 1, 1 << 20},
        {"--timeout", TL_ARG_INT, &timeout, "S", "seconds one request may take upstream (default 600)", 1, 86400},
        {"--connect-timeout", TL_ARG_INT, &connect_timeout, "S", "seconds to connect, handshake and verify (default 30)", 1, 3600},
        {"--io-timeout", TL_ARG_INT, &io_timeout, "S", "seconds an application connection may stay idle (default 30)", 1, 3600},
        {"--quiet", TL_ARG_FLAG, &quiet, NULL, "log warnings and errors only"},
        {0},
    };
    const tl_cmdspec spec = {"proxy", "--server URL --policy FILE [--listen 127.0.0.1:8080] [flags]",
        "Serves the server's OpenAI-style API on plain HTTP on a loopback address, for applications\n"
        "that only take a base URL (http://127.0.0.1:8080/v1). Every new connection to the server is\n"
        "verified (RA-TLS evidence against the policy) before any request byte is sent; a server that\n"
        "fails gets nothing and the application receives a 502 naming the field that differed.",
        opts, 0, 0, .missing = "--server and --policy are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (!allow_remote && !tl_proxy_is_loopback(listen))
        return tl_usage_error(&spec, "--listen %s is not a loopback address (127.0.0.0/8, ::1, localhost): the proxy "
                                     "speaks plain HTTP; give --allow-remote to listen there anyway", listen);
    /* request bodies (prompts) and API keys pass through: wiped buffers, no core dumps */
    if (tl_cli_secure_start("proxy"))
        return 1;
    if (quiet)
        tl_log_set_level(TL_LOG_WARN);
    tl_server_check chk;
    if (tl_server_check_load("proxy", policy_path, collateral, expect_cfg, &chk))
        return 1;
    tl_err err = {0};
    int exit_code = 1;
    tl_proxy *p = NULL;
    tl_proxy_opts po = {.server = server, .policy = chk.policy, .col = chk.col,
                        .expect_config_sha256 = chk.expect_config, .listen = listen,
                        .allow_remote = allow_remote, .max_inflight = max_inflight,
                        .max_body = (size_t)max_body_kib * 1024, .timeout_s = timeout,
                        .connect_timeout_s = connect_timeout, .io_timeout_s = io_timeout};
    if (!(p = tl_proxy_new(&po, &err))) {
        fprintf(stderr, "teelm proxy: %s\n", err.msg);
        goto done;
    }
    const char *colon = strrchr(listen, ':');
    printf("teelm proxy: listening on http://%.*s:%d for %s (each new connection verified against %s)\n",
           (int)(colon - listen), listen, tl_proxy_port(p), server, policy_path);
    fflush(stdout);
    tl_proxy_run(p);
    exit_code = 0;
done:
    tl_proxy_free(p);
    tl_server_check_free(&chk);
    return exit_code;
}
