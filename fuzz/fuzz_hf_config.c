/* libFuzzer target for the Hugging Face config parser (formats/hf_config.h): the input is
 * config.json, optionally followed by a NUL byte and generation_config.json. An accepted config
 * must satisfy the documented bounds, give a parameter table of the size it claims, and read back
 * identically from the config.json teelm writes for it (tl_hf_config_to_json). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/hf_config.h"
#include "model/params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t clen = nul ? (size_t)(nul - data) : size;
    const char *gen = nul ? (const char *)nul + 1 : NULL;
    size_t glen = nul ? size - clen - 1 : 0;
    tl_hf_config hc;
    tl_err err = {0};
    if (tl_hf_config_parse((const char *)data, clen, gen, glen, &hc, &err) != 0) {
        if (!err.msg[0])
            __builtin_trap(); /* every refusal says why */
        return 0;
    }
    const tl_config *c = &hc.cfg;
    if (c->d_model < 1 || c->d_model > TL_HF_MAX_DIM || c->n_layer < 1 || c->n_layer > TL_HF_MAX_LAYERS ||
        c->vocab_size < 1 || c->n_head < 1 || c->n_kv_head < 1 || c->n_head % c->n_kv_head || c->head_dim < 1 ||
        c->max_pos < 1 || c->context_length != c->max_pos || hc.n_params > TL_HF_MAX_PARAMS || c->n_eos > TL_MAX_EOS ||
        c->bos_id >= c->vocab_size || !tl_config_is_hf(c))
        __builtin_trap();
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] < 0 || c->eos_ids[i] >= c->vocab_size)
            __builtin_trap();
    if (tl_params_numel(c) != hc.n_params)
        __builtin_trap();
    char *js = tl_hf_config_to_json(c, hc.torch_dtype);
    tl_hf_config back;
    if (!js || tl_hf_config_parse(js, strlen(js), NULL, 0, &back, &err) != 0 || memcmp(&back.cfg, c, sizeof *c) ||
        back.torch_dtype != hc.torch_dtype)
        __builtin_trap();
    free(js);
    return 0;
}
