/* Writing a GGUF file from the command line (cmd_gguf.c), shared by quantize and export. */
#ifndef TEELM_CLI_GGUF_OUT_H
#define TEELM_CLI_GGUF_OUT_H

#include "model/checkpoint.h"

/* Loads model, writes out with matrices of type (F32/F16/Q8_0/Q4_0; NULL keeps theirs); prints the
 * result or the error as "teelm CMD: ...". Returns the exit code. */
int tl_cli_write_gguf(const char *cmd, const char *model, const char *out, const char *type);

/* Writes the loaded ck as the GGUF file out (wtype: a TL_DT_* for the matrices, -1 keeps theirs),
 * with its tokenizer (its directory's files, or the carried ones); name is general.name. */
int tl_cli_gguf_from(const tl_checkpoint *ck, const char *out, int wtype, const char *name, int *with_tok,
                     tl_err *err);

/* Loads a plaintext model for writing it out (export, quantize): a sealed one is refused with the
 * way to get its plaintext. Prints "teelm CMD: ..." on failure; 0 or the exit code (1). */
int tl_cli_load_plaintext(const char *cmd, const char *model, tl_checkpoint *ck);

#endif
