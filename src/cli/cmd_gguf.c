/* teelm quantize, and teelm export --format gguf: any Hugging Face family model teelm opens (a
 * directory, a GGUF file) written as a GGUF file llama.cpp runs (formats/gguf_write.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/gguf_out.h"
#include "formats/checkpoint.h"
#include "formats/gguf_write.h"
#include "seal/seal.h"
#include "tensor/dtype.h"
#include "util/io.h"

/* The model's own tokenizer file `name`: in its directory, else carried (a GGUF file's loader made
 * tokenizer.json from its metadata). *owned is what the caller frees. */
static const uint8_t *model_file(const tl_checkpoint *ck, const char *name, size_t *len, uint8_t **owned, tl_err *err)
{
    char p[4200];
    *owned = NULL;
    *len = 0;
    if (ck->hf_dir[0] && snprintf(p, sizeof p, "%s/%s", ck->hf_dir, name) < (int)sizeof p && tl_is_file(p))
        return tl_read_file(p, 64u << 20, owned, len, err) ? NULL : *owned;
    const struct tl_ck_file *f = tl_checkpoint_file(ck, name);
    if (f) {
        *len = f->len;
        return f->data;
    }
    if (!strcmp(name, "tokenizer.json") && ck->tokenizer_data) {
        *len = ck->tokenizer_len;
        return ck->tokenizer_data;
    }
    return NULL;
}

int tl_cli_load_plaintext(const char *cmd, const char *model, tl_checkpoint *ck)
{
    char index[4096];
    if (tl_sealed_detect(model, index, sizeof index)) {
        fprintf(stderr, "teelm %s: %s is a sealed model; the owner gets the plaintext back with "
                        "'teelm unseal --model %s --key-file KEY --out DIR'\n", cmd, model, model);
        return 1;
    }
    tl_err err = {0};
    if (tl_checkpoint_load(model, ck, &err)) {
        fprintf(stderr, "teelm %s: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}

int tl_cli_write_gguf(const char *cmd, const char *model, const char *out, const char *type)
{
    int wt = !type ? -1 : !strcmp(type, "F32") ? TL_DT_F32 : !strcmp(type, "F16") ? TL_DT_F16
           : !strcmp(type, "Q8_0") ? TL_DT_Q8_0 : !strcmp(type, "Q4_0") ? TL_DT_Q4_0 : -2;
    if (wt == -2) {
        fprintf(stderr, "teelm %s: the weight type must be F32, F16, Q8_0 or Q4_0, not '%s'\n", cmd, type);
        return 2;
    }
    tl_checkpoint ck;
    tl_err err = {0};
    if (tl_cli_load_plaintext(cmd, model, &ck))
        return 1;
    const char *base = strrchr(model, '/') && strrchr(model, '/')[1] ? strrchr(model, '/') + 1 : model;
    int with_tok = 0, rc = tl_cli_gguf_from(&ck, out, wt, base, &with_tok, &err);
    if (rc)
        fprintf(stderr, "teelm %s: %s\n", cmd, err.msg);
    else
        printf("wrote %s (GGUF v3, %s weights%s) from %s\n", out, type ? type : "their own",
               with_tok ? ", tokenizer" : "", model);
    tl_checkpoint_free(&ck);
    return rc ? 1 : 0;
}

int tl_cli_gguf_from(const tl_checkpoint *ck, const char *out, int wtype, const char *name, int *with_tok,
                     tl_err *err)
{
    uint8_t *tj_own = NULL, *tc_own = NULL;
    size_t tj_len = 0, tc_len = 0;
    const uint8_t *tj = model_file(ck, "tokenizer.json", &tj_len, &tj_own, err);
    const uint8_t *tc = !err->code ? model_file(ck, "tokenizer_config.json", &tc_len, &tc_own, err) : NULL;
    tl_gguf_write_opts o = {.wtype = wtype, .tokenizer_json = tj, .tokenizer_len = tj_len, .tokenizer_config = tc,
                            .config_len = tc_len, .name = name};
    int rc = err->code ? err->code : tl_gguf_write(ck, &o, out, err);
    *with_tok = tj != NULL;
    free(tj_own);
    free(tc_own);
    return rc;
}

int cmd_quantize(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *type = NULL;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "a Hugging Face model directory or a GGUF file (required)",
         .required = 1},
        {"--out", TL_ARG_STR, &out, "FILE", "the GGUF file to write (required)", .required = 1},
        {"--type", TL_ARG_STR, &type, "Q8_0|Q4_0|F16|F32", "the matrices' type (required); norms stay F32",
         .required = 1},
        {0},
    };
    const tl_cmdspec spec = {"quantize", "--model PATH --out FILE.gguf --type Q8_0|Q4_0|F16|F32",
        "Writes the model as a GGUF file with its weight matrices quantized as ggml's reference quantizers do "
        "(llama, qwen2, gpt2), with its byte-level BPE tokenizer and chat template, for teelm or "
        "llama.cpp (docs/gguf.md). The same as 'teelm export --format gguf --quantize TYPE'.",
        opts, 0, 0, .missing = "--model, --out and --type are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    return tl_cli_write_gguf("quantize", model, out, type);
}
