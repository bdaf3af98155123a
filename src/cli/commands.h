/* Every `teelm` subcommand: int cmd_NAME(int argc, char **argv), argv[0] is the first argument
 * after the command name. Returns the process exit code (0 ok, 1 failure, 2 usage error).
 * Commands stay thin: parse flags (cli/args.h), call the library, print results and errors. */
#ifndef TEELM_CLI_COMMANDS_H
#define TEELM_CLI_COMMANDS_H

#include <stddef.h>

/* A row of a command table (main.c's commands, a command's subcommands): its name, its entry
 * point (as below) and a line for listings. */
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} tl_command;
/* The row of table[0..n) named name, or NULL. */
const tl_command *tl_command_find(const tl_command *table, size_t n, const char *name);

int cmd_train(int argc, char **argv);        /* cmd_train.c    — engine */
int cmd_eval(int argc, char **argv);         /* cmd_eval.c     — engine */
int cmd_generate(int argc, char **argv);     /* cmd_generate.c — engine */
int cmd_tokenize(int argc, char **argv);     /* cmd_tokenize.c — tokenizer */
int cmd_detokenize(int argc, char **argv);   /* cmd_tokenize.c — tokenizer */
int cmd_tokenizer(int argc, char **argv);    /* cmd_tokenize.c — tokenizer (train) */
int cmd_import(int argc, char **argv);       /* cmd_weights.c  — formats */
int cmd_export(int argc, char **argv);       /* cmd_weights.c  — formats */
int cmd_inspect(int argc, char **argv);      /* cmd_weights.c  — formats */
int cmd_quantize(int argc, char **argv);     /* cmd_gguf.c     — formats (GGUF out) */
int cmd_seal(int argc, char **argv);         /* cmd_seal.c     — seal */
int cmd_unseal(int argc, char **argv);       /* cmd_seal.c     — seal */
int cmd_kbs(int argc, char **argv);          /* cmd_kbs.c      — key broker */
int cmd_attest(int argc, char **argv);       /* cmd_attest.c   — attestation */
int cmd_serve(int argc, char **argv);        /* cmd_serve.c    — server */
int cmd_client(int argc, char **argv);       /* cmd_client.c   — client */
int cmd_receipt(int argc, char **argv);      /* cmd_receipt.c  — receipts */
int cmd_proxy(int argc, char **argv);        /* cmd_proxy.c    — attesting local proxy */
int cmd_occlum_config(int argc, char **argv);/* cmd_occlum.c   — deployment */

#endif
