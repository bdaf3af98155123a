#include "cli/secure_start.h"

#include <stdio.h>

#include "util/harden.h"

int tl_cli_secure_start(const char *cmd)
{
    tl_err err = {0};
    if (!tl_secure_process_start(&err))
        return 0;
    fprintf(stderr, "teelm %s: %s\n", cmd, err.msg);
    return 1;
}
