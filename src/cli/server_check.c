#include "cli/server_check.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/ratls.h"
#include "util/io.h"
#include "util/sha.h"

static int load_expected_config(const char *path, uint8_t sha[32], tl_err *err)
{
    uint8_t *d = NULL;
    size_t dl = 0;
    if (tl_read_file(path, TL_RATLS_MAX_CONFIG, &d, &dl, err))
        return -1;
    while (dl && (d[dl - 1] == '\n' || d[dl - 1] == '\r'))
        dl--; /* a file written from --print-config's output line */
    tl_sha256(d, dl, sha);
    free(d);
    return 0;
}

int tl_server_check_load(const char *cmd, const char *policy, const char *collateral, const char *expect_cfg,
                         tl_server_check *c)
{
    tl_err err = {0};
    *c = (tl_server_check){0};
    if (!(c->policy = tl_policy_load(policy, &err))) {
        fprintf(stderr, "teelm %s: %s\n", cmd, err.msg);
        return 1;
    }
    if (collateral && !(c->col = tl_collateral_load(collateral, &err))) {
        fprintf(stderr, "teelm %s: %s\n", cmd, err.msg);
        tl_server_check_free(c);
        return 1;
    }
    if (expect_cfg) {
        if (load_expected_config(expect_cfg, c->config_sha256, &err)) {
            fprintf(stderr, "teelm %s: --expect-config: %s\n", cmd, err.msg);
            tl_server_check_free(c);
            return 1;
        }
        c->expect_config = c->config_sha256;
    }
    return 0;
}

void tl_server_check_free(tl_server_check *c)
{
    tl_collateral_free(c->col);
    tl_policy_free(c->policy);
    *c = (tl_server_check){0};
}
