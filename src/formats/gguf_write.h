/* Writing a model as a GGUF v3 file that llama.cpp (and teelm) run (docs/gguf.md "Writing"):
 * architectures llama, qwen2 and gpt2, llama.cpp's metadata keys and tensor names, llama's q/k rows
 * permuted as llama.cpp's converter does, GPT-2's Conv1D matrices stored [out, in], and the
 * tokenizer.json of a byte-level BPE (GPT-2, Llama 3 and Qwen2 pre-tokenizers) or of a
 * SentencePiece-style BPE (Llama 2, Mistral) as tokenizer.ggml.*. */
#ifndef TEELM_FORMATS_GGUF_WRITE_H
#define TEELM_FORMATS_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "model/checkpoint.h"
#include "util/err.h"

typedef struct {
    /* the type of the 2-D weight matrices: TL_DT_F32, F16, Q8_0 or Q4_0 (quantized from their
     * float32 values with ggml's reference quantizers); -1 keeps each weight's own type where GGUF
     * and teelm can hold it (F32/F16/BF16, and the block types of a GGUF source). 1-D weights
     * (norms, biases) are always F32. */
    int wtype;
    const uint8_t *tokenizer_json; /* NULL: no tokenizer metadata (prompts as ids only) */
    size_t tokenizer_len;
    const uint8_t *tokenizer_config; /* may be NULL: its chat_template becomes tokenizer.chat_template */
    size_t config_len;
    const char *name;                /* general.name (may be NULL) */
} tl_gguf_write_opts;

/* Writes ck (a Hugging Face family: llama, qwen2, gpt2) to path (atomically: a temporary file
 * renamed). Refuses, naming the reason, what a GGUF file could not say or teelm could not read
 * back: rope scaling other than linear, a tokenizer of another kind, quantized GPT-2 matrices. */
int tl_gguf_write(const tl_checkpoint *ck, const tl_gguf_write_opts *o, const char *path, tl_err *err);

#endif
