/* Pieces shared by `teelm train`, `eval` and `generate` (cmd_train.c, cmd_eval.c,
 * cmd_generate.c): model-opening flags, input data, thread count. */
#ifndef TEELM_CLI_ENGINE_CLI_H
#define TEELM_CLI_ENGINE_CLI_H

#include "cli/args.h"
#include "app/open.h"
#include "train/dataset.h"

/* The flags that fill tl_open_opts (sealed models), for a command's option table. */
#define TL_OPEN_FLAGS(o) \
    {"--key-file", TL_ARG_STR, &(o).key_file, "F", "sealed model: the owner's data-key file", 0, 0}, \
    {"--kbs", TL_ARG_STR, &(o).kbs_url, "URL", "sealed model: get the key from this key broker (attested)", 0, 0}, \
    {"--kbs-ca", TL_ARG_STR, &(o).kbs_ca, "F", "sealed model: the key broker's certificate (PEM)", 0, 0}, \
    {"--tee", TL_ARG_STR, &(o).tee, "sim|occlum|tsm|auto", "sealed model: TEE to attest with (default auto)", 0, 0}

/* The option-table rows these commands define alike (one wording of each flag's help). --model is
 * required wherever it is used: the spec's missing message is TL_MODEL_MISSING. */
#define TL_MODEL_FLAG(v) {"--model", TL_ARG_STR, &(v), "PATH", "model directory or file (plaintext or sealed)", 0, 0, .required = 1}
#define TL_MODEL_MISSING "--model PATH is required"
#define TL_TOKENIZER_FLAG(v) {"--tokenizer", TL_ARG_STR, &(v), "FILE", "tokenizer to use instead of the model's", 0, 0}
#define TL_THREADS_FLAG(v) \
    {"--threads", TL_ARG_INT, &(v), "N", "worker threads (default: all cores / OMP_NUM_THREADS)", 0, 1024}

/* Checks --tee; returns 2 after printing a usage error. */
int tl_cli_check_open_flags(const tl_cmdspec *spec, const tl_open_opts *o);
/* Applies --threads (0 = the engine's default: OMP_NUM_THREADS if set, else the online CPUs). */
void tl_cli_set_threads(int n);
/* Loads --tokens FILE, or tokenizes --data FILE with tok. */
int tl_cli_load_data(const char *data, const char *tokens, const tl_tokenizer *tok, tl_dataset *ds, tl_err *err);

#endif
