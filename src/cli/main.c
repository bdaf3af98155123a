/* teelm: one binary, many subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/enclave.h"

static const tl_command commands[] = {
    {"train", cmd_train, "train a model on a text corpus"},
    {"eval", cmd_eval, "report a model's loss on a text"},
    {"generate", cmd_generate, "generate text from a model"},
    {"tokenize", cmd_tokenize, "text to token ids"},
    {"detokenize", cmd_detokenize, "token ids to text"},
    {"tokenizer", cmd_tokenizer, "tokenizer tools (train a BPE vocabulary)"},
    {"import", cmd_import, "import PyTorch .pth checkpoints"},
    {"export", cmd_export, "write a checkpoint in the full or split layout"},
    {"quantize", cmd_quantize, "write a model as a quantized GGUF file (Q8_0, Q4_0)"},
    {"inspect", cmd_inspect, "list tensors, shapes, config and checksum of weight files"},
    {"seal", cmd_seal, "encrypt a model for a TEE"},
    {"unseal", cmd_unseal, "decrypt a sealed model (owner, with the key file)"},
    {"kbs", cmd_kbs, "key broker: release model keys to attested TEEs"},
    {"attest", cmd_attest, "produce and verify TEE evidence (SGX/TDX quotes)"},
    {"serve", cmd_serve, "confidential inference server (OpenAI-style HTTPS API)"},
    {"client", cmd_client, "attested client: verify the server, then send a prompt"},
    {"receipt", cmd_receipt, "verify a completion's signed receipt offline"},
    {"proxy", cmd_proxy, "attesting local proxy: plain HTTP on loopback for any OpenAI client"},
    {"occlum-config", cmd_occlum_config, "compute Occlum.json resource limits for a model"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "teelm %s — a small GPT engine that serves models from inside a TEE\n\n", TEELM_VERSION);
    fprintf(out, "usage: teelm COMMAND [ARGS]\n       teelm help COMMAND\n       teelm --version\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    /* before looking at the host's command: in enclave mode there is only one */
    const char *enclave = getenv(TL_ENCLAVE_ENV);
    if (enclave)
        return tl_enclave_main(enclave, argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("teelm %s\n", TEELM_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const tl_command *c = tl_command_find(commands, NCOMMANDS, argv[2]);
        if (!c) {
            fprintf(stderr, "teelm: unknown command '%s' (see 'teelm help')\n", argv[2]);
            return 2;
        }
        char help[] = "--help";
        char *hargv[] = {help, NULL};
        return c->run(1, hargv);
    }
    const tl_command *c = tl_command_find(commands, NCOMMANDS, cmd);
    if (!c) {
        fprintf(stderr, "teelm: unknown command '%s' (see 'teelm help')\n", cmd);
        return 2;
    }
    return c->run(argc - 2, argv + 2);
}
