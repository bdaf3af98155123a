/* The start of every command that holds secrets (serve, kbs, generate, seal, unseal, proxy). */
#ifndef TEELM_CLI_SECURE_START_H
#define TEELM_CLI_SECURE_START_H

/* tl_secure_process_start() (no core dumps, wiped frees), which must run before anything is
 * allocated; on failure prints "teelm CMD: why" and returns 1 (the command's exit code), else 0. */
int tl_cli_secure_start(const char *cmd);

#endif
