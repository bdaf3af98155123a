/* What client and proxy load before they contact a server, from the flags both take (--policy,
 * --collateral, --expect-config): the checks its RA-TLS evidence must pass. */
#ifndef TEELM_CLI_SERVER_CHECK_H
#define TEELM_CLI_SERVER_CHECK_H

#include <stdint.h>

#include "tee/policy.h"
#include "tee/verify.h"

typedef struct {
    tl_policy *policy;
    tl_collateral *col;              /* NULL without --collateral */
    uint8_t config_sha256[32];
    const uint8_t *expect_config;    /* config_sha256, or NULL without --expect-config */
} tl_server_check;

/* Loads the policy, the collateral (collateral may be NULL) and the SHA-256 of the configuration
 * document in expect_cfg (may be NULL), without the line end --print-config wrote after it.
 * On failure prints "teelm CMD: why", frees what it loaded and returns 1; else 0. */
int tl_server_check_load(const char *cmd, const char *policy, const char *collateral, const char *expect_cfg,
                         tl_server_check *c);
void tl_server_check_free(tl_server_check *c);

#endif
