/* Enclave mode: "the enclave runs exactly one measured command". When the measured environment
 * sets TEELM_ENCLAVE_CONFIG (Occlum.json env.default, part of MRENCLAVE; env.untrusted is empty, so
 * the host cannot set or clear it), teelm ignores which command the host asked for and runs only
 * `teelm serve` with the arguments listed in that file — a file inside the measured image. The host
 * may add only the settings docs/deploy-occlum.md lists (--listen ADDR); anything else refuses to
 * start. File format: {"version": 1, "serve": ["--model", "/models/model", ...]}. */
#ifndef TEELM_CLI_ENCLAVE_H
#define TEELM_CLI_ENCLAVE_H

#define TL_ENCLAVE_ENV "TEELM_ENCLAVE_CONFIG"

/* argv as main received it. Returns the process exit code. */
int tl_enclave_main(const char *config_path, int argc, char **argv);

#endif
