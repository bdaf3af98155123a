/* Hugging Face model configuration: config.json (+ generation_config.json for the EOS ids) to a
 * tl_config with arch set, exactly as docs/architectures.md "Configuration" describes: the four
 * supported classes, transformers' class defaults for absent fields, every bound checked (each
 * dimension in [1, 2^24], at most 4096 layers, at most 2^36 parameters, computed exactly) before
 * anything is sized from the numbers, and every unsupported option refused by name with the file
 * and field in the message (the wording of tests/reference/hf_models.py `check`).
 * Fields the forward pass does not read are accepted and ignored, as transformers does. */
#ifndef TEELM_FORMATS_HF_CONFIG_H
#define TEELM_FORMATS_HF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "util/err.h"

#define TL_HF_CONFIG "config.json"
#define TL_HF_GENERATION "generation_config.json"
#define TL_HF_MAX_DIM (1 << 24)
#define TL_HF_MAX_LAYERS 4096
#define TL_HF_MAX_PARAMS (1ull << 36)
#define TL_HF_JSON_MAX (16u << 20) /* config.json, generation_config.json, the shard index */

typedef struct {
    tl_config cfg;         /* arch, dimensions, rope, bos/eos; context_length = max_pos */
    const char *arch_name; /* "LlamaForCausalLM", ... (static) */
    int torch_dtype;       /* TL_DT_F32/F16/BF16 when config.json names one, else -1 */
    uint64_t n_params;     /* exactly the parameters the config implies (<= TL_HF_MAX_PARAMS) */
} tl_hf_config;

/* Parses config.json text (len bytes) and, when gen is non-NULL, generation_config.json text.
 * Refusals read "config.json: FIELD ..." / "generation_config.json: eos_token_id ...". */
int tl_hf_config_parse(const char *json, size_t len, const char *gen, size_t gen_len, tl_hf_config *hc,
                       tl_err *err);
/* Reads dir/config.json and dir/generation_config.json (optional) and parses them. */
int tl_hf_config_load(const char *dir, tl_hf_config *hc, tl_err *err);
/* 1 when dir/config.json is a JSON object with an "architectures" key, or is there but not JSON
 * (the Hugging Face loader then says why): a Hugging Face model directory. teelm's own model
 * directories have no config.json; one holding other JSON loads as before. */
int tl_hf_is_model_dir(const char *dir);
/* config.json for cfg (an HF family), as tl_hf_config_parse reads it back to the same tl_config:
 * the class, its model_type and every field the forward pass uses, floats in their shortest exact
 * decimal form, torch_dtype when given (>= 0). malloc'd, NULL when out of memory. */
char *tl_hf_config_to_json(const tl_config *cfg, int torch_dtype);
/* "LlamaForCausalLM", ... for an HF arch; NULL for the seed family. */
const char *tl_hf_class_name(tl_arch arch);
/* The supported classes, comma-separated, for messages. */
const char *tl_hf_supported(void);

#endif
