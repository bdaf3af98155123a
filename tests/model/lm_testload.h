/* Test-only reader of a Hugging Face model directory for the tl_lm tests: config.json (+
 * generation_config.json) into a tl_config, the safetensors (single file or sharded index, GPT-2
 * with or without the "transformer." prefix) into owned buffers in their stored dtype, as a
 * tl_wref table in tl_params_list order. Not the product's loader (formats/hf_*.c is): it trusts
 * the files make_hf_model.py writes and checks only what it needs to not crash. */
#ifndef TEELM_TESTS_LM_TESTLOAD_H
#define TEELM_TESTS_LM_TESTLOAD_H

#include "model/config.h"
#include "model/weights.h"

typedef struct {
    tl_config cfg;
    tl_wref *w;
    int nw;
    void **bufs;
} lm_test_model;

/* 0 on success; ctx > 0 overrides context_length (<= max_pos). Prints what failed. */
int lm_test_load(const char *dir, int ctx, lm_test_model *m);
void lm_test_free(lm_test_model *m);

#endif
