/* A GGUF model file (llama.cpp's conventions, docs/gguf.md) as a tl_checkpoint: architectures
 * llama (Llama, Mistral, TinyLlama), qwen2 and gpt2; metadata to tl_config, llama.cpp's tensor names
 * onto the entries of tl_params_list, the embedded tokenizer as an equivalent tokenizer.json in
 * ck->tokenizer_data, its chat template as a carried tokenizer_config.json (ck->files). Weights stay in the read-only mapping of the file except those that must be
 * rearranged for teelm's engine (llama's q/k rows back to Hugging Face's rotary layout, GPT-2's
 * matrices to Conv1D's [in, out]), which go to ck->wbuf. */
#ifndef TEELM_FORMATS_GGUF_MODEL_H
#define TEELM_FORMATS_GGUF_MODEL_H

#include "formats/gguf.h"
#include "model/checkpoint.h"
#include "util/err.h"

/* Loads path into ck (ck->params NULL; ck->w, ck->maps, ck->wbuf, ck->tokenizer_data). */
int tl_gguf_load(const char *path, tl_checkpoint *ck, tl_err *err);
/* The tl_config of an opened file (checks every key it reads). */
int tl_gguf_config(const tl_gguf *g, tl_config *cfg, tl_err *err);
/* tokenizer.json text equivalent to the file's tokenizer.ggml.* metadata (llama.cpp's behaviour,
 * docs/gguf.md "Tokenizer"); malloc'd, NUL-terminated; *json NULL when the file has no tokenizer. */
int tl_gguf_tokenizer_json(const tl_gguf *g, char **json, size_t *len, tl_err *err);
/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum { TL_GGUF_TT_NORMAL = 1, TL_GGUF_TT_UNKNOWN = 2, TL_GGUF_TT_CONTROL = 3, TL_GGUF_TT_USER = 4, TL_GGUF_TT_UNUSED = 5,
       TL_GGUF_TT_BYTE = 6 };
/* The pre-tokenizer regexes of tokenizer.ggml.pre gpt-2, llama-bpe and qwen2 (llama.cpp's
 * llama-vocab.cpp), spelled as those models' tokenizer.json files spell them. */
#define TL_GGUF_RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define TL_GGUF_RE_LLAMA3 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define TL_GGUF_RE_QWEN2 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* llama.cpp's name for entry hf of tl_params_list(c) (out, n bytes) and how its data is arranged
 * relative to teelm's: TL_GGUF_X_PERM, llama's q/k rows in llama.cpp's rotary order (*heads: the
 * projection's heads); TL_GGUF_X_TRANS, GPT-2's Conv1D [in, out] stored as [out, in]. 0, or -1 for
 * a name llama.cpp has no tensor for (1 when out is too small). */
enum { TL_GGUF_X_NONE, TL_GGUF_X_PERM, TL_GGUF_X_TRANS };
int tl_gguf_tensor_name(const tl_config *c, const char *hf, char *out, size_t n, int *x, int *heads);
/* A tokenizer_config.json text carrying the file's tokenizer.chat_template and the texts of its
 * bos/eos tokens (as Hugging Face's holds them); malloc'd; *json NULL when there is no template. */
int tl_gguf_tokenizer_config(const tl_gguf *g, char **json, size_t *len, tl_err *err);

#endif
